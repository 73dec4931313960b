package quasardb_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

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
// licensed, secured, isolated 3-node cluster to a real kube-apiserver, and creates
// (dry run) its first pod as the StatefulSet controller would, in a namespace that
// enforces Pod Security "restricted". Any rejection or warning fails. Skipped when
// the kube-apiserver or etcd binaries are missing (failed under CI).
func TestAPIServerAcceptsTheCluster(t *testing.T) {
	srv := apiserver.Get(t)
	cfg := stackConfig(t, cluster{"name": "ticks", "replicas": 3, "replication": 2, "antiAffinity": "required"}.withLicense().withSecurity())
	cfg[stacks.KeyNetworkPolicy] = `{"enabled": true, "clientNamespaces": ["apps"]}`
	objs, err := manifests.Objects(run(t, cfg, false))
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kinds := map[string]int{}
	for _, o := range objs {
		obj := o.Body
		kinds[obj.GetKind()]++
		if obj.GetKind() == "Namespace" {
			require.Equal(t, "restricted", obj.GetLabels()["pod-security.kubernetes.io/enforce"])
			srv.CreateNamespace(t, obj.GetName(), obj.GetLabels())
			continue
		}
		warnings, err := srv.DryRunApply(ctx, obj)
		require.NoError(t, err, "%s %s rejected", obj.GetKind(), obj.GetName())
		assert.Empty(t, warnings, "%s %s", obj.GetKind(), obj.GetName())
		if obj.GetKind() != "StatefulSet" {
			continue
		}
		pod := firstPodTemplate(t, obj)
		warnings, err = srv.DryRunPodFromTemplate(ctx, obj.GetNamespace(), pod, obj.GetName()+"-0")
		require.NoError(t, err, "pod of %s rejected", obj.GetName())
		assert.Empty(t, warnings, "pod of %s", obj.GetName())
	}
	assert.Equal(t, map[string]int{
		"Namespace": 1, "Service": 2, "Secret": 2, "StatefulSet": 1, "PodDisruptionBudget": 1, "NetworkPolicy": 1,
	}, kinds)
}

// firstPodTemplate returns the StatefulSet's pod template with the volumes the
// controller adds for pod 0: one persistentVolumeClaim volume per claim template.
func firstPodTemplate(t *testing.T, ss *unstructured.Unstructured) map[string]any {
	t.Helper()
	tmpl, found, err := unstructured.NestedMap(ss.Object, "spec", "template")
	require.NoError(t, err)
	require.True(t, found)
	claims, _, err := unstructured.NestedSlice(ss.Object, "spec", "volumeClaimTemplates")
	require.NoError(t, err)
	volumes, _, err := unstructured.NestedSlice(tmpl, "spec", "volumes")
	require.NoError(t, err)
	for _, c := range claims {
		name, _, _ := unstructured.NestedString(c.(map[string]any), "metadata", "name")
		volumes = append(volumes, map[string]any{
			"name":                  name,
			"persistentVolumeClaim": map[string]any{"claimName": fmt.Sprintf("%s-%s-0", name, ss.GetName())},
		})
	}
	require.NoError(t, unstructured.SetNestedSlice(tmpl, volumes, "spec", "volumes"))
	return tmpl
}
