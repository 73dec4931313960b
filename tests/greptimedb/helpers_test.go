// Package greptimedb_test asserts the GreptimeDB components under Pulumi's mocks:
// the objects, their command lines and config, the startup-order graph, secrets,
// rollouts, outputs and configuration errors.
package greptimedb_test

import (
	"encoding/json"
	"testing"

	"github.com/pelletier/go-toml/v2"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
	"tsdb-platform/tests/objects"
)

const namespace = objects.TestNamespace

// fqdn is a Service's in-cluster name in the test namespace.
func fqdn(svc string) string { return svc + "." + namespace + ".svc.cluster.local" }

// config is a stack configuration with the given GreptimeDB clusters (JSON
// objects) and extra keys.
func config(t *testing.T, clusters []map[string]any, extra map[string]string) map[string]string {
	t.Helper()
	return objects.StackConfig(t, stacks.KeyGreptimeDB, clusters, extra)
}

// runCluster runs one cluster named metrics with the overrides on top of the dev profile.
func runCluster(t *testing.T, overrides map[string]any) *mockrun.Result {
	t.Helper()
	c := map[string]any{"name": "metrics"}
	for k, v := range overrides {
		c[k] = v
	}
	return objects.Run(t, config(t, []map[string]any{c}, nil))
}

// podSpec is a workload's pod spec.
func podSpec(t *testing.T, w *mockrun.Resource) corev1.PodSpec {
	t.Helper()
	return objects.PodTemplate(t, w).Spec
}

// container returns the named container of a workload.
func container(t *testing.T, w *mockrun.Resource, name string) corev1.Container {
	t.Helper()
	return objects.Container(t, podSpec(t, w), name)
}

// initContainer returns the named init container of a workload.
func initContainer(t *testing.T, w *mockrun.Resource, name string) corev1.Container {
	t.Helper()
	return objects.InitContainer(t, podSpec(t, w), name)
}

// tomlConfig parses the config.toml of a ConfigMap.
func tomlConfig(t *testing.T, cm corev1.ConfigMap) map[string]any {
	t.Helper()
	raw, ok := cm.Data["config.toml"]
	require.True(t, ok, "%s has no config.toml", cm.Name)
	var out map[string]any
	require.NoError(t, toml.Unmarshal([]byte(raw), &out), raw)
	return out
}

// annotation reads a pod-template annotation of a workload ("" if it has none).
func annotation(t *testing.T, w *mockrun.Resource, key string) string {
	t.Helper()
	return objects.PodTemplate(t, w).Annotations[key]
}

func hasKind(res *mockrun.Result, urns []string, types ...string) []string {
	var out []string
	for _, u := range urns {
		r := res.ByURN(u)
		for _, typ := range types {
			if r != nil && r.Type == typ {
				out = append(out, r.Type+" "+r.Name)
			}
		}
	}
	return out
}

// rejected loads a stack with one GreptimeDB cluster, "metrics" with overrides,
// and requires its configuration to be rejected.
func rejected(t *testing.T, overrides map[string]any) *stacks.ConfigError {
	t.Helper()
	return objects.ConfigError(t, oneClusterConfig(t, overrides))
}

// oneClusterConfig is a stack config with one GreptimeDB cluster, "metrics" with overrides.
func oneClusterConfig(t *testing.T, overrides map[string]any) map[string]string {
	t.Helper()
	c := map[string]any{"name": "metrics"}
	for k, v := range overrides {
		c[k] = v
	}
	raw, err := json.Marshal([]any{c})
	require.NoError(t, err)
	return map[string]string{stacks.KeyKubeContext: "test", stacks.KeyGreptimeDB: string(raw)}
}

// accepted requires a cluster config (overrides on a cluster named metrics) to
// load without a problem.
func accepted(t *testing.T, overrides map[string]any) {
	t.Helper()
	_, err := stacks.Load(stacks.MapLookup(oneClusterConfig(t, overrides)))
	require.NoError(t, err)
}
