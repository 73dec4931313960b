package tests

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
	"tsdb-platform/tests/objects"
)

// clusterScoped are the kinds that live outside any namespace.
var clusterScoped = map[string]bool{"Namespace": true, "StorageClass": true, "ClusterRole": true, "ClusterRoleBinding": true}

// TestExplicitProviderEverywhere: one provider per stack, built from the stack's
// config, and every Kubernetes object uses it: none falls back to the default
// provider (whatever kubeconfig context happens to be current).
func TestExplicitProviderEverywhere(t *testing.T) {
	for _, stack := range committedStacks(t) {
		t.Run(stack, func(t *testing.T) {
			res, sc, err := mockrun.RunStack(stack, false)
			require.NoError(t, err)
			providers := res.OfType(objects.ProviderType)
			require.Len(t, providers, 1, "exactly one Kubernetes provider")
			p := providers[0]
			assert.Equal(t, stacks.ProviderName, p.Name)
			in := objects.Inputs(p)
			assert.Equal(t, sc.Config["kubeContext"], in["context"], "the provider targets the stack's context")
			assert.NotContains(t, in, "renderYamlToDirectory")

			objs := res.Kubernetes()
			require.NotEmpty(t, objs)
			for _, obj := range objs {
				assert.True(t, strings.HasPrefix(obj.Provider, p.URN+"::"),
					"%s %s uses provider %q, want the stack's explicit provider", obj.Type, obj.Name, obj.Provider)
			}
		})
	}
}

// TestRenderMode: renderDir makes the provider write manifests instead of applying
// them, and no kube context is used.
func TestRenderMode(t *testing.T) {
	cfg := with(map[string]string{"kubeContext": "<unset>", "renderDir": "/tmp/rendered"})
	res, err := mockrun.Run(stacks.Program, mockrun.Options{Config: cfg})
	require.NoError(t, err)
	p := res.Find(objects.ProviderType, stacks.ProviderName)
	require.NotNil(t, p)
	in := objects.Inputs(p)
	assert.Equal(t, "/tmp/rendered", in["renderYamlToDirectory"])
	assert.NotContains(t, in, "context")
	assert.NotContains(t, in, "kubeconfig")
}

// TestNamespaceIsCreatedAndAwaited: the stack creates its namespace enforcing Pod
// Security "restricted", and every namespaced object depends on it.
func TestNamespaceIsCreatedAndAwaited(t *testing.T) {
	res, err := mockrun.Run(stacks.Program, mockrun.Options{Config: with(map[string]string{"namespace": "tsdb-test"})})
	require.NoError(t, err)
	ns := objects.Find(t, res, objects.NamespaceType, "namespace")
	namespace := objects.Decode[corev1.Namespace](t, ns)
	assert.Equal(t, "tsdb-test", namespace.Name)
	assert.Equal(t, "restricted", namespace.Labels["pod-security.kubernetes.io/enforce"])

	for _, obj := range res.Kubernetes() {
		if clusterScoped[obj.Kind()] {
			continue
		}
		assert.Equal(t, "tsdb-test", objects.StateMeta(t, obj).Namespace, "%s %s", obj.Type, obj.Name)
		assert.True(t, res.WaitsFor(obj, ns), "%s %s must depend on the namespace", obj.Type, obj.Name)
	}
}

// TestExistingNamespace: createNamespace=false deploys into a namespace the stack
// does not own.
func TestExistingNamespace(t *testing.T) {
	res, err := mockrun.Run(stacks.Program, mockrun.Options{Config: with(map[string]string{
		"namespace": "shared", "createNamespace": "false",
	})})
	require.NoError(t, err)
	assert.Empty(t, res.OfType(objects.NamespaceType))
	for _, obj := range res.Kubernetes() {
		assert.Equal(t, "shared", objects.StateMeta(t, obj).Namespace, "%s %s", obj.Type, obj.Name)
	}
}
