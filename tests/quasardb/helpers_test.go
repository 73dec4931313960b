// Package quasardb_test checks the QuasarDB cluster component through the whole
// program, under the recording mocks: the objects it creates, where its secrets go,
// its validation errors, its dependency edges and its stack outputs.
package quasardb_test

import (
	"encoding/json"
	"maps"
	"testing"

	"github.com/stretchr/testify/require"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
)

// Resource types the component creates.
const (
	typeCluster     = "tsdb:quasardb:Cluster"
	typeStatefulSet = "kubernetes:apps/v1:StatefulSet"
	typeService     = "kubernetes:core/v1:Service"
	typeSecret      = "kubernetes:core/v1:Secret"
	typePDB         = "kubernetes:policy/v1:PodDisruptionBudget"
	typeNetpol      = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	typeNamespace   = "kubernetes:core/v1:Namespace"
)

// Distinctive secret values: any occurrence of them in a recorded input, state or
// output is one of them leaking.
const (
	testLicense    = "QDB-LICENSE-7f3a9c-only-in-a-secret"
	testPrivateKey = "QDB-PRIVATE-KEY-51e2d0-only-in-a-secret"
	testUserList   = `{"qdb-user-list-8b4e61":"only-in-a-secret"}`
	testPublicKey  = "PQDB-PUBLIC-KEY-for-clients"
)

const testNamespace = "tsdb-test"

// cluster is one entry of the quasardb config list; fields not given come from the profile.
type cluster map[string]any

// withLicense returns a copy of c with the test license.
func (c cluster) withLicense() cluster {
	out := maps.Clone(c)
	out["license"] = testLicense
	return out
}

// withSecurity returns a copy of c with security on and the test keys.
func (c cluster) withSecurity() cluster {
	out := maps.Clone(c)
	out["security"] = map[string]any{
		"enabled":           true,
		"clusterPrivateKey": testPrivateKey,
		"userList":          testUserList,
		"clusterPublicKey":  testPublicKey,
	}
	return out
}

// stackConfig is a dev stack deploying the given QuasarDB clusters.
func stackConfig(t *testing.T, clusters ...cluster) map[string]string {
	t.Helper()
	raw, err := json.Marshal(clusters)
	require.NoError(t, err)
	return map[string]string{
		stacks.KeyKubeContext: "test",
		stacks.KeyNamespace:   testNamespace,
		stacks.KeyQuasarDB:    string(raw),
	}
}

// run runs the program with cfg. The quasardb key is secret, as the CLI marks a key
// when any part of it was set with --secret.
func run(t *testing.T, cfg map[string]string, dryRun bool) *mockrun.Result {
	t.Helper()
	res, err := mockrun.Run(stacks.Program, mockrun.Options{
		Config:     cfg,
		SecretKeys: []string{stacks.KeyQuasarDB, stacks.KeyGreptimeDB},
		DryRun:     dryRun,
	})
	require.NoError(t, err)
	return res
}

// find returns the resource of a type and logical name, failing the test if absent.
func find(t *testing.T, res *mockrun.Result, typ, name string) *mockrun.Resource {
	t.Helper()
	r := res.Find(typ, name)
	require.NotNil(t, r, "%s %q not registered", typ, name)
	return r
}

// inputs are a resource's recorded inputs as plain values.
func inputs(r *mockrun.Resource) map[string]any { return mockrun.Plain(r.Inputs) }

// state is what the resource resolved to (inputs plus computed values such as auto-names).
func state(r *mockrun.Resource) map[string]any { return mockrun.Plain(r.State) }

// get reads a plain value by a dotted path ("spec.template.spec"), or nil.
func get(m map[string]any, path string) any { return mockrun.Get(m, path) }

// container is the StatefulSet's only container.
func container(t *testing.T, ss *mockrun.Resource) map[string]any {
	t.Helper()
	containers, ok := mockrun.Get(inputs(ss), "spec.template.spec.containers").([]any)
	require.True(t, ok, "containers")
	require.Len(t, containers, 1)
	return containers[0].(map[string]any)
}

// envOf maps each environment variable to its value, or to its valueFrom object.
func envOf(t *testing.T, c map[string]any) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, e := range c["env"].([]any) {
		m := e.(map[string]any)
		name := m["name"].(string)
		require.NotContains(t, out, name, "env %s set twice", name)
		if v, ok := m["value"]; ok {
			out[name] = v
		} else {
			out[name] = m["valueFrom"]
		}
	}
	return out
}

// byName indexes a list of named objects (volumes, mounts, ports) by name.
func byName(t *testing.T, list any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	items, _ := list.([]any)
	for _, it := range items {
		m := it.(map[string]any)
		name := m["name"].(string)
		require.NotContains(t, out, name, "%s listed twice", name)
		out[name] = m
	}
	return out
}

// mountsByPath indexes a container's volume mounts by mount path.
func mountsByPath(c map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	items, _ := c["volumeMounts"].([]any)
	for _, it := range items {
		m := it.(map[string]any)
		out[m["mountPath"].(string)] = m
	}
	return out
}

// selector is the label selector of cluster name's pods.
func selector(name string) map[string]any {
	return map[string]any{
		"app.kubernetes.io/name":      "quasardb",
		"app.kubernetes.io/instance":  name,
		"app.kubernetes.io/component": "database",
	}
}
