// Package e2e_test runs the real engine path (`pulumi preview`, `pulumi up`,
// `pulumi destroy`) through the Automation API for every committed stack, in render
// mode so that no cluster is needed. It needs the Pulumi CLI (and downloads the
// kubernetes and random provider plugins on first use); without the CLI on PATH
// every test here skips and says so.
package e2e_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tsdb-platform/stacks"
	"tsdb-platform/tests/harness"
)

const passphrase = "tsdb-platform-e2e"

func requireCLI(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("pulumi"); err != nil {
		t.Skip("skipping the Automation API end-to-end tests: the pulumi CLI is not on PATH " +
			"(install it from https://www.pulumi.com/docs/install/ to run preview, up, idempotence and destroy)")
	}
}

// TestStacksEndToEnd: for each committed stack, with a local file backend and a
// passphrase secrets provider: preview and up succeed, the rendered directory holds
// one manifest per Kubernetes object the mocks predict, the outputs hold every
// endpoint, a second preview changes nothing, and destroy succeeds.
func TestStacksEndToEnd(t *testing.T) {
	requireCLI(t)
	stackNames, err := harness.CommittedStacks()
	require.NoError(t, err)
	for _, name := range stackNames {
		t.Run(name, func(t *testing.T) { runStack(t, name) })
	}
}

func runStack(t *testing.T, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	path, err := harness.StackFile(name)
	require.NoError(t, err)
	sc, err := harness.LoadStackFile(path)
	require.NoError(t, err)

	renderDir := filepath.Join(t.TempDir(), "rendered")
	config := renderConfig(sc, renderDir)

	// What the mocks predict for the same configuration.
	predicted, err := harness.Run(stacks.Program, harness.Options{Stack: name, Config: config.values, SecretKeys: config.secretKeys})
	require.NoError(t, err)

	workDir := copyProgram(t)
	backend := t.TempDir()
	stack, err := auto.UpsertStackLocalSource(ctx, "organization/"+stacks.Project+"/e2e-"+name, workDir,
		auto.SecretsProvider("passphrase"),
		auto.EnvVars(map[string]string{
			"PULUMI_CONFIG_PASSPHRASE": passphrase,
			"PULUMI_BACKEND_URL":       "file://" + backend,
			"PULUMI_SKIP_UPDATE_CHECK": "true",
		}))
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = stack.Workspace().RemoveStack(context.Background(), stack.Name())
	})

	cm := auto.ConfigMap{}
	for key, value := range config.values {
		cm[stacks.Project+":"+key] = auto.ConfigValue{Value: value, Secret: contains(config.secretKeys, key)}
	}
	require.NoError(t, stack.SetAllConfig(ctx, cm))

	_, err = stack.Preview(ctx, optpreview.Message("e2e preview"))
	require.NoError(t, err, "preview")

	up, err := stack.Up(ctx, optup.Message("e2e up"))
	require.NoError(t, err, "up")

	assert.Equal(t, len(predicted.Kubernetes()), countManifests(t, renderDir),
		"one rendered manifest per Kubernetes object the mocks predict")

	got := flattenOutputs(up.Outputs)
	for path, want := range predicted.Exports {
		value, ok := got[path]
		if assert.True(t, ok, "output %s is missing", path) && want.Known {
			assert.Equal(t, fmt.Sprint(want.Value), fmt.Sprint(value.Value), "output %s", path)
			if want.Secret {
				// The CLI reports secretness per top-level output, so only a leaf
				// the mocks call secret can be checked: it must be secret here too.
				assert.True(t, value.Secret, "output %s must be secret", path)
			}
		}
	}

	again, err := stack.Preview(ctx, optpreview.ExpectNoChanges())
	require.NoError(t, err, "second preview")
	for op, n := range again.ChangeSummary {
		if op != apitype.OpSame {
			assert.Zero(t, n, "second preview wants %d %s operations; the program is not idempotent", n, op)
		}
	}

	_, err = stack.Destroy(ctx, optdestroy.Message("e2e destroy"))
	require.NoError(t, err, "destroy")
}

type stackConfig struct {
	values     map[string]string
	secretKeys []string
}

// renderConfig is the stack file's config switched to render mode: no kube context,
// manifests into dir, and no protection (so that destroy can finish).
func renderConfig(sc *harness.StackConfig, dir string) stackConfig {
	values := map[string]string{}
	for k, v := range sc.Config {
		values[k] = v
	}
	delete(values, stacks.KeyKubeContext)
	delete(values, stacks.KeyKubeconfig)
	values[stacks.KeyRenderDir] = dir
	values[stacks.KeyDataSafety] = `{"protect": false}`
	return stackConfig{values: values, secretKeys: sc.SecretKeys}
}

// copyProgram copies the Go program (module files, main.go, Pulumi.yaml, packages)
// into a temporary directory, so the stack files the Automation API writes never
// land in the repository.
func copyProgram(t *testing.T) string {
	t.Helper()
	root, err := harness.RepoRoot()
	require.NoError(t, err)
	dst := t.TempDir()
	for _, f := range []string{"go.mod", "go.sum", "main.go", "Pulumi.yaml"} {
		copyFile(t, filepath.Join(root, f), filepath.Join(dst, f))
	}
	for _, dir := range []string{"components", "stacks"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			copyFile(t, path, filepath.Join(dst, rel))
			return nil
		})
		require.NoError(t, err)
	}
	return dst
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
	require.NoError(t, os.WriteFile(dst, b, 0o644))
}

func countManifests(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".yaml") {
			n++
		}
		return err
	})
	require.NoError(t, err)
	return n
}

// flattenOutputs turns nested stack outputs into the harness's dotted paths.
func flattenOutputs(outputs auto.OutputMap) map[string]harness.Export {
	out := map[string]harness.Export{}
	var walk func(path string, v any, secret bool)
	walk = func(path string, v any, secret bool) {
		switch t := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(path+"."+k, t[k], secret)
			}
		case []any:
			for i, e := range t {
				walk(fmt.Sprintf("%s[%d]", path, i), e, secret)
			}
		default:
			out[path] = harness.Export{Value: v, Known: true, Secret: secret}
		}
	}
	for k, v := range outputs {
		walk(k, v.Value, v.Secret)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
