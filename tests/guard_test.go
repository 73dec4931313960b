package tests

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
)

// previousOutputs turns a run's exported topology back into the nested stack outputs
// that a stack reference to the same stack reads on the next deployment.
func previousOutputs(t *testing.T, res *mockrun.Result) map[string]any {
	t.Helper()
	prefix := stacks.OutputTopology + "."
	paths := res.ExportPaths(prefix)
	require.NotEmpty(t, paths, "the stack exports its topology")
	flat := map[string]any{}
	for _, path := range paths {
		e, _ := res.Export(path)
		flat[strings.TrimPrefix(path, prefix)] = e.Value
	}
	return map[string]any{stacks.OutputTopology: nest(flat)}
}

// nest turns values by dotted path ("metrics.etcd.replicas") into nested maps.
func nest(flat map[string]any) map[string]any {
	out := map[string]any{}
	children := map[string]map[string]any{}
	for path, v := range flat {
		head, rest, ok := strings.Cut(path, ".")
		if !ok {
			out[head] = v
			continue
		}
		if children[head] == nil {
			children[head] = map[string]any{}
		}
		children[head][rest] = v
	}
	for head, c := range children {
		out[head] = nest(c)
	}
	return out
}

func run(t *testing.T, cfg map[string]string, previous map[string]any) (*mockrun.Result, error) {
	t.Helper()
	return mockrun.Run(stacks.Program, mockrun.Options{Config: cfg, PreviousOutputs: previous})
}

const licensed = `"license":"a-license-key"`

// TestTopologyGuard: a running etcd's member count and a running QuasarDB's node
// count change only on purpose. The previous counts come from the stack's own last
// outputs; a first deployment has none and may have any size.
func TestTopologyGuard(t *testing.T) {
	first, err := run(t, with(map[string]string{
		"greptimedb": `[{"name":"metrics","etcd":{"replicas":3}}]`,
		"quasardb":   `[{"name":"ticks","replicas":2}]`,
	}), nil)
	require.NoError(t, err, "a first deployment has no previous topology")
	previous := previousOutputs(t, first)

	tests := []struct {
		name       string
		greptimedb string
		quasardb   string
		wantKey    string
		wantMsg    []string
	}{
		{name: "same sizes", greptimedb: `[{"name":"metrics","etcd":{"replicas":3}}]`, quasardb: `[{"name":"ticks","replicas":2}]`},
		{name: "etcd grows", greptimedb: `[{"name":"metrics","etcd":{"replicas":5}}]`, quasardb: `[{"name":"ticks","replicas":2}]`,
			wantKey: "greptimedb[0].etcd.replicas", wantMsg: []string{"has 3 members", "etcdctl member add", "allowMemberCountChange"}},
		{name: "etcd grows on purpose", greptimedb: `[{"name":"metrics","etcd":{"replicas":5,"allowMemberCountChange":true}}]`, quasardb: `[{"name":"ticks","replicas":2}]`},
		{name: "etcd shrinks", greptimedb: `[{"name":"metrics","etcd":{"replicas":1}}]`, quasardb: `[{"name":"ticks","replicas":2}]`,
			wantKey: "greptimedb[0].etcd.replicas", wantMsg: []string{"has 3 members"}},
		{name: "switch to external etcd", greptimedb: `[{"name":"metrics","etcd":{"endpoints":["etcd.ext:2379"]}}]`, quasardb: `[{"name":"ticks","replicas":2}]`},
		{name: "QuasarDB grows", greptimedb: `[{"name":"metrics","etcd":{"replicas":3}}]`, quasardb: `[{"name":"ticks","replicas":3,` + licensed + `}]`,
			wantKey: "quasardb[0].replicas", wantMsg: []string{"has 2 nodes", "node id", "allowReplicaChange"}},
		{name: "QuasarDB grows on purpose", greptimedb: `[{"name":"metrics","etcd":{"replicas":3}}]`, quasardb: `[{"name":"ticks","replicas":3,"allowReplicaChange":true,` + licensed + `}]`},
		{name: "a new cluster may have any size", greptimedb: `[{"name":"metrics","etcd":{"replicas":3}},{"name":"logs","etcd":{"replicas":5}}]`, quasardb: `[{"name":"ticks","replicas":2}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := run(t, with(map[string]string{"greptimedb": tt.greptimedb, "quasardb": tt.quasardb}), previous)
			if tt.wantKey == "" {
				require.NoError(t, err)
				return
			}
			var cfgErr *stacks.ConfigError
			require.ErrorAs(t, err, &cfgErr)
			assert.Equal(t, []string{tt.wantKey}, cfgErr.Keys())
			for _, m := range tt.wantMsg {
				assert.Contains(t, err.Error(), m)
			}
			assert.Empty(t, res.Kubernetes(), "a refused change registers no Kubernetes object")
		})
	}
}
