package e2e_test

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/tests/kubeapi"
)

// cleanClone clones the repository's committed HEAD, as a new user gets it.
func cleanClone(t *testing.T) string {
	t.Helper()
	root, err := mockrun.RepoRoot()
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "tsdb-platform")
	out, err := exec.Command("git", "clone", "-q", root, dir).CombinedOutput()
	require.NoError(t, err, "git clone: %s", out)
	return dir
}

// makeIn runs make in dir with a passphrase and the engine's quiet settings, and
// returns its combined output.
func makeIn(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", args...)
	cmd.Dir = dir
	cmd.Env = append(withoutEnv(os.Environ(), "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE"),
		"PULUMI_CONFIG_PASSPHRASE="+passphrase,
		"PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true",
	)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("make %s: %s", strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond))
	return string(out), err
}

func withoutEnv(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		keep := true
		for _, n := range names {
			keep = keep && !strings.HasPrefix(kv, n+"=")
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// TestMakeRenderFromCleanClone: the README's no-cluster main command works from a
// fresh clone, twice in a row, and writes one manifest per object the mocks predict.
// A stack whose secrets are not set yet fails with the program's own message naming
// each one and the command that sets it.
func TestMakeRenderFromCleanClone(t *testing.T) {
	requireEngine(t)
	dir := cleanClone(t)
	predicted, _, err := mockrun.RunStack("dev", false)
	require.NoError(t, err)
	for run := 1; run <= 2; run++ {
		out, err := makeIn(t, dir, "render", "STACK=dev")
		require.NoError(t, err, "make render, run %d:\n%s", run, out)
		assert.Equal(t, len(predicted.Kubernetes()), countManifests(t, filepath.Join(dir, "rendered", "dev")),
			"run %d: one manifest per Kubernetes object the mocks predict", run)
	}

	out, err := makeIn(t, dir, "render", "STACK=staging")
	require.Error(t, err, "staging's S3 keys are not set")
	for _, field := range []string{"accessKeyId", "secretAccessKey"} {
		assert.Contains(t, out, "pulumi config set --secret --path 'greptimedb[0].datanode.objectStorage."+field+"'", out)
	}
	assert.NotContains(t, out, "bad value")
}

// TestMakeSimUp: `make sim-up` deploys the dev stack from a fresh clone to the
// simulated cluster, a second run keeps what the first deployed, and `make
// sim-destroy` removes it.
func TestMakeSimUp(t *testing.T) {
	requireEngine(t)
	cluster := kubeapi.StartCluster(t, kubeapi.ClusterOptions{})
	dir := cleanClone(t)
	out, err := makeIn(t, dir, "sim-up", "STACK=dev", "SIM_KUBECONFIG="+cluster.Kubeconfig())
	require.NoError(t, err, "make sim-up:\n%s", out)
	// Again: the copy keeps its state, so the second run changes nothing.
	out, err = makeIn(t, dir, "sim-up", "STACK=dev", "SIM_KUBECONFIG="+cluster.Kubeconfig())
	require.NoError(t, err, "make sim-up, again:\n%s", out)
	assert.Contains(t, out, "unchanged", out)
	assert.NotContains(t, out, " created", "the second make sim-up creates nothing:\n%s", out)

	ctx := context.Background()
	sts, err := cluster.Clientset().AppsV1().StatefulSets("tsdb-dev").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, sts.Items)
	for _, s := range sts.Items {
		assert.Equal(t, *s.Spec.Replicas, s.Status.ReadyReplicas, "StatefulSet %s Ready", s.Name)
	}

	out, err = makeIn(t, dir, "sim-destroy", "STACK=dev")
	require.NoError(t, err, "make sim-destroy:\n%s", out)
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
