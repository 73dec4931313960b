package tests

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tsdb-platform/stacks"
	"tsdb-platform/tests/harness"
)

func committedStacks(t *testing.T) []string {
	t.Helper()
	names, err := harness.CommittedStacks()
	require.NoError(t, err)
	require.Equal(t, []string{"dev", "prod", "staging"}, names, "the committed stack files")
	return names
}

// TestProjectFileDeclaresEveryKey: `pulumi config` users discover every key the
// program reads, each with a type, a description and a default.
func TestProjectFileDeclaresEveryKey(t *testing.T) {
	root, err := harness.RepoRoot()
	require.NoError(t, err)
	proj, err := workspace.LoadProject(filepath.Join(root, "Pulumi.yaml"))
	require.NoError(t, err, "Pulumi.yaml must pass the CLI's own schema validation")
	assert.Equal(t, stacks.Project, proj.Name.String())
	assert.Equal(t, "go", proj.Runtime.Name())

	var declared []string
	for key, decl := range proj.Config {
		declared = append(declared, key)
		assert.NotEmpty(t, decl.Type, "%s: type", key)
		assert.NotEmpty(t, decl.Description, "%s: description", key)
		assert.NotNil(t, decl.Default, "%s: default", key)
	}
	sort.Strings(declared)
	want := stacks.Keys()
	sort.Strings(want)
	assert.Equal(t, want, declared)
}

// TestCommittedStacksRun: every committed stack file loads, validates and runs under
// mocks, in `pulumi up` mode and in preview mode, where unknown values never resolve.
func TestCommittedStacksRun(t *testing.T) {
	for _, stack := range committedStacks(t) {
		for _, dryRun := range []bool{false, true} {
			name := stack
			if dryRun {
				name += "/preview"
			}
			t.Run(name, func(t *testing.T) {
				res, sc, err := harness.RunStack(stack, dryRun)
				require.NoError(t, err)
				spec, err := stacks.Load(stacks.MapLookup(sc.Config))
				require.NoError(t, err)
				assert.Equal(t, stack, spec.Profile, "each stack file uses its environment's profile")

				ns, ok := res.Export(stacks.OutputNamespace)
				require.True(t, ok)
				assert.Equal(t, spec.Target.Namespace, ns.Value)
				for _, c := range spec.GreptimeDB {
					assert.NotEmpty(t, res.ExportPaths(stacks.OutputGreptimeDB+"."+c.Name+"."), "endpoints of greptimedb %s", c.Name)
				}
				for _, c := range spec.QuasarDB {
					assert.NotEmpty(t, res.ExportPaths(stacks.OutputQuasarDB+"."+c.Name+"."), "endpoints of quasardb %s", c.Name)
				}
			})
		}
	}
}

// TestStackFilesKeepSecretsEncrypted: every secret a stack needs is a `secure:` entry,
// so none is committed in plaintext, and the harness marks those keys secret.
func TestStackFilesKeepSecretsEncrypted(t *testing.T) {
	for _, stack := range committedStacks(t) {
		path, err := harness.StackFile(stack)
		require.NoError(t, err)
		sc, err := harness.LoadStackFile(path)
		require.NoError(t, err)
		spec, err := stacks.Load(stacks.MapLookup(sc.Config))
		require.NoError(t, err, stack)
		for i, q := range spec.QuasarDB {
			if q.License != "" {
				assert.Contains(t, sc.Secrets, keyOf("quasardb", i, "license"), "%s: license must be secure", stack)
			}
			if q.Security.Enabled {
				assert.Contains(t, sc.Secrets, keyOf("quasardb", i, "security.clusterPrivateKey"), stack)
				assert.Contains(t, sc.Secrets, keyOf("quasardb", i, "security.userList"), stack)
			}
		}
		for i, g := range spec.GreptimeDB {
			if g.Datanode.ObjectStorage.AccessKeyID != "" {
				assert.Contains(t, sc.Secrets, keyOf("greptimedb", i, "datanode.objectStorage.accessKeyId"), stack)
				assert.Contains(t, sc.Secrets, keyOf("greptimedb", i, "datanode.objectStorage.secretAccessKey"), stack)
			}
		}
		for key := range sc.Secrets {
			top := key
			if i := strings.IndexAny(key, ".["); i > 0 {
				top = key[:i]
			}
			assert.Contains(t, sc.SecretKeys, top, "%s: %s is secret, so its whole key is", stack, key)
		}
	}
}

func keyOf(kind string, i int, field string) string {
	return fmt.Sprintf("%s[%d].%s", kind, i, field)
}
