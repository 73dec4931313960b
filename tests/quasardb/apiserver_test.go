package quasardb_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tsdb-platform/stacks"
	"tsdb-platform/tests/kubeapi"
	"tsdb-platform/tests/manifests"
)

// apiserver is started by the first test that needs it and stopped by TestMain.
var apiserver kubeapi.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := apiserver.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "kubeapi:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// TestAPIServerAcceptsTheCluster server-side applies (dry run) every object of a
// licensed, secured, isolated 3-node cluster with every knob and tiered storage through IRSA to a real kube-apiserver, and creates
// (dry run) its first pod as the StatefulSet controller would, in a namespace that
// enforces Pod Security "restricted". Any rejection or warning fails. Skipped when
// the kube-apiserver or etcd binaries are missing (failed under CI).
func TestAPIServerAcceptsTheCluster(t *testing.T) {
	srv := apiserver.Get(t)
	cfg := stackConfig(t, cluster{"name": "ticks", "replicas": 3, "replication": 2, "antiAffinity": "required",
		"networkPolicy": map[string]any{"clientNamespaces": []string{"apps"}},
		"logLevel":      "warning", "tuning": map[string]any{"parallelism": 2, "sessions": 1024, "rocksdbThreads": 2, "rocksdbHiThreads": 1, "tableMemoryBudget": "512Mi"},
		"tieredStorage":  map[string]any{"enabled": true, "bucket": "ticks-cold", "region": "eu-west-1", "pathPrefix": "quasardb"},
		"serviceAccount": map[string]any{"annotations": map[string]any{"eks.amazonaws.com/role-arn": testRoleARN}},
	}.withLicense().withSecurity())
	cfg[stacks.KeyNetworkPolicy] = `{"enabled": true}`
	objs, err := manifests.Objects(run(t, cfg, false))
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	problems, err := manifests.Check(ctx, srv, objs)
	require.NoError(t, err)
	assert.Empty(t, problems, "the API server refused objects of the cluster")

	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.Body.GetKind()]++
	}
	assert.Equal(t, map[string]int{
		"Namespace": 1, "Service": 2, "Secret": 2, "StatefulSet": 1, "PodDisruptionBudget": 1, "NetworkPolicy": 1, "ServiceAccount": 1,
	}, kinds)
}
