package tests

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
)

func committedStacks(t *testing.T) []string {
	t.Helper()
	names, err := mockrun.CommittedStacks()
	require.NoError(t, err)
	require.Equal(t, []string{"dev", "prod", "staging"}, names, "the committed stack files")
	return names
}

// TestProjectFileDeclaresEveryKey: `pulumi config` users discover every key the
// program reads, each with a type, a description and a default.
func TestProjectFileDeclaresEveryKey(t *testing.T) {
	root, err := mockrun.RepoRoot()
	require.NoError(t, err)
	proj, err := workspace.LoadProject(filepath.Join(root, "Pulumi.yaml"))
	require.NoError(t, err, "Pulumi.yaml must pass the CLI's own schema validation")
	assert.Equal(t, stacks.Project, proj.Name.String())
	assert.Equal(t, "go", proj.Runtime.Name())
	// The language host builds the program to one path before every run, relinking
	// only what changed; a prebuilt "binary" would run whatever was built last.
	assert.Equal(t, "bin/tsdb-platform", proj.Runtime.Options()["buildTarget"], "runtime.options.buildTarget")
	assert.NotContains(t, proj.Runtime.Options(), "binary", "a prebuilt binary can be stale")

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
				res, sc, err := mockrun.RunStack(stack, dryRun)
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
		path, err := mockrun.StackFile(stack)
		require.NoError(t, err)
		sc, err := mockrun.LoadStackFile(path)
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

// TestStackFilesCommitNoSecret: no committed stack file holds a secret, not even an
// encrypted placeholder (the CLI refuses to decrypt one with a bare "bad value" before
// the program can speak). Until the operator sets them, the program itself names each
// missing secret, and the command that sets it, in one error.
func TestStackFilesCommitNoSecret(t *testing.T) {
	for _, stack := range committedStacks(t) {
		t.Run(stack, func(t *testing.T) {
			path, err := mockrun.StackFile(stack)
			require.NoError(t, err)
			raw, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.NotContains(t, string(raw), "secure:", "secrets are set per deployment, never committed")

			sc, err := mockrun.LoadStackFile(path)
			require.NoError(t, err)
			for key := range sc.Secrets {
				assert.True(t, slices.ContainsFunc(sc.Operator, func(s mockrun.Setting) bool { return s.Key == key }),
					"secret %s comes from the operator", key)
			}
			if len(sc.Operator) == 0 {
				return
			}
			// The stack as committed, before the operator sets anything.
			committed := maps.Clone(sc.Config)
			for _, key := range []string{stacks.KeyGreptimeDB, stacks.KeyQuasarDB} {
				if v, ok := rawConfig(t, raw)[key]; ok {
					committed[key] = v
				}
			}
			_, err = stacks.Load(stacks.MapLookup(committed))
			var cfgErr *stacks.ConfigError
			require.ErrorAs(t, err, &cfgErr)
			for _, set := range sc.Operator {
				command := "pulumi config set --path '" + set.Key + "'"
				if set.Secret {
					command = "pulumi config set --secret --path '" + set.Key + "'"
				}
				assert.Contains(t, err.Error(), command, "the error tells how to set %s", set.Key)
				assert.Contains(t, string(raw), command, "the stack file's header lists how to set %s", set.Key)
			}
			for _, p := range cfgErr.Problems {
				assert.True(t, p.Unset, "only values the operator sets are missing, not %s", p)
			}
		})
	}
}

// rawConfig is a stack file's project config as the CLI hands it to the program.
func rawConfig(t *testing.T, raw []byte) map[string]string {
	t.Helper()
	var file struct {
		Config map[string]any `json:"config"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &file))
	out := map[string]string{}
	for k, v := range file.Config {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		out[strings.TrimPrefix(k, stacks.Project+":")] = string(b)
	}
	return out
}

func keyOf(kind string, i int, field string) string {
	return fmt.Sprintf("%s[%d].%s", kind, i, field)
}
