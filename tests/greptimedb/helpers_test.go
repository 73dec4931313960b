// Package greptimedb_test asserts the GreptimeDB components under Pulumi's mocks:
// the objects, their command lines and config, the startup-order graph, secrets,
// rollouts, outputs and configuration errors.
package greptimedb_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
	"github.com/stretchr/testify/require"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
)

// Type tokens.
const (
	tStatefulSet = "kubernetes:apps/v1:StatefulSet"
	tDeployment  = "kubernetes:apps/v1:Deployment"
	tService     = "kubernetes:core/v1:Service"
	tConfigMap   = "kubernetes:core/v1:ConfigMap"
	tSecret      = "kubernetes:core/v1:Secret"
	tPDB         = "kubernetes:policy/v1:PodDisruptionBudget"
	tNetPol      = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	tPassword    = "random:index/randomPassword:RandomPassword"
	tEtcd        = "tsdb:etcd:Cluster"
	tCluster     = "tsdb:greptimedb:Cluster"
	tMeta        = "tsdb:greptimedb:Meta"
	tDatanode    = "tsdb:greptimedb:Datanode"
	tFrontend    = "tsdb:greptimedb:Frontend"
)

const namespace = "tsdb-test"

// fqdn is a Service's in-cluster name in the test namespace.
func fqdn(svc string) string { return svc + "." + namespace + ".svc.cluster.local" }

// config is a stack configuration with the given GreptimeDB clusters (JSON
// objects) and extra keys.
func config(t *testing.T, clusters []map[string]any, extra map[string]string) map[string]string {
	t.Helper()
	raw, err := json.Marshal(clusters)
	require.NoError(t, err)
	c := map[string]string{
		stacks.KeyKubeContext: "test",
		stacks.KeyNamespace:   namespace,
		stacks.KeyGreptimeDB:  string(raw),
	}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

// run runs the program with the config and requires success.
func run(t *testing.T, cfg map[string]string, opts ...func(*mockrun.Options)) *mockrun.Result {
	t.Helper()
	o := mockrun.Options{Config: cfg}
	for _, f := range opts {
		f(&o)
	}
	res, err := mockrun.Run(stacks.Program, o)
	require.NoError(t, err)
	return res
}

// runCluster runs one cluster named metrics with the overrides on top of the dev profile.
func runCluster(t *testing.T, overrides map[string]any) *mockrun.Result {
	t.Helper()
	c := map[string]any{"name": "metrics"}
	for k, v := range overrides {
		c[k] = v
	}
	return run(t, config(t, []map[string]any{c}, nil))
}

// find requires a resource of a type and logical name.
func find(t *testing.T, res *mockrun.Result, typ, name string) *mockrun.Resource {
	t.Helper()
	r := res.Find(typ, name)
	require.NotNil(t, r, "no %s %q", typ, name)
	return r
}

// inputs are a resource's recorded inputs as plain values.
func inputs(r *mockrun.Resource) map[string]any { return mockrun.Plain(r.Inputs) }

// get reads a path of a resource's inputs.
func get(r *mockrun.Resource, path string) any { return mockrun.Get(inputs(r), path) }

// podSpec is a workload's pod spec.
func podSpec(t *testing.T, r *mockrun.Resource) map[string]any {
	t.Helper()
	spec, ok := get(r, "spec.template.spec").(map[string]any)
	require.True(t, ok, "%s has no pod spec", r.Name)
	return spec
}

// container returns the named container (or init container) of a workload.
func container(t *testing.T, r *mockrun.Resource, list, name string) map[string]any {
	t.Helper()
	cs, _ := podSpec(t, r)[list].([]any)
	for _, c := range cs {
		if m := c.(map[string]any); m["name"] == name {
			return m
		}
	}
	require.Failf(t, "no container", "%s has no %s %q", r.Name, list, name)
	return nil
}

func strs(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, len(arr))
	for i, e := range arr {
		out[i], _ = e.(string)
	}
	return out
}

// namedPorts maps port names to numbers of a container's or Service's ports.
func namedPorts(v any, numberKey string) map[string]float64 {
	out := map[string]float64{}
	arr, _ := v.([]any)
	for _, p := range arr {
		m := p.(map[string]any)
		out[m["name"].(string)] = m[numberKey].(float64)
	}
	return out
}

// mounts maps volume names to mount paths.
func mounts(c map[string]any) map[string]string {
	out := map[string]string{}
	arr, _ := c["volumeMounts"].([]any)
	for _, m := range arr {
		mm := m.(map[string]any)
		out[mm["name"].(string)] = mm["mountPath"].(string)
	}
	return out
}

// envByName maps env names to their entries.
func envByName(c map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	arr, _ := c["env"].([]any)
	for _, e := range arr {
		m := e.(map[string]any)
		out[m["name"].(string)] = m
	}
	return out
}

// tomlConfig parses the config.toml of a ConfigMap.
func tomlConfig(t *testing.T, cm *mockrun.Resource) map[string]any {
	t.Helper()
	data, _ := get(cm, "data").(map[string]any)
	raw, ok := data["config.toml"].(string)
	require.True(t, ok, "%s has no config.toml", cm.Name)
	var out map[string]any
	require.NoError(t, toml.Unmarshal([]byte(raw), &out), raw)
	return out
}

// annotation reads a pod-template annotation of a workload.
func annotation(r *mockrun.Resource, key string) any {
	ann, _ := get(r, "spec.template.metadata.annotations").(map[string]any)
	return ann[key]
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

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
