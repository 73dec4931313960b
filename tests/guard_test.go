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

// assertRefused: err is a configuration error about exactly keys, and says msgs.
func assertRefused(t *testing.T, err error, keys []string, msgs ...string) {
	t.Helper()
	var cfgErr *stacks.ConfigError
	require.ErrorAs(t, err, &cfgErr)
	assert.Equal(t, keys, cfgErr.Keys())
	for _, m := range msgs {
		assert.Contains(t, err.Error(), m)
	}
}

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
			assertRefused(t, err, []string{tt.wantKey}, tt.wantMsg...)
			assert.Empty(t, res.Kubernetes(), "a refused change registers no Kubernetes object")
		})
	}
}

// TestTopologyGuardDataLoss: changes that would lose a running GreptimeDB
// cluster's data or availability are refused, each at its key with the override
// that allows it; with the override, or on a new cluster, they pass.
func TestTopologyGuardDataLoss(t *testing.T) {
	const base = `"name":"metrics","datanode":{"replicas":3}`
	first, err := run(t, with(map[string]string{"greptimedb": `[{` + base + `}]`}), nil)
	require.NoError(t, err)
	previous := previousOutputs(t, first)

	s3 := func(bucket, root string, extra string) string {
		return `"objectStorage":{"type":"S3","bucket":"` + bucket + `","root":"` + root + `","region":"eu-west-1",` +
			`"accessKeyId":"AKIAEXAMPLE","secretAccessKey":"example-secret"` + extra + `}`
	}
	tests := []struct {
		name       string
		greptimedb string
		wantKey    string
		wantMsg    []string
	}{
		{name: "unchanged", greptimedb: base},
		{name: "more datanodes", greptimedb: `"name":"metrics","datanode":{"replicas":4}`},
		{name: "fewer datanodes", greptimedb: `"name":"metrics","datanode":{"replicas":2}`,
			wantKey: "greptimedb[0].datanode.replicas", wantMsg: []string{"3 datanodes are running", "greptimedb[0].datanode.allowScaleDown"}},
		{name: "fewer datanodes on purpose", greptimedb: `"name":"metrics","datanode":{"replicas":2,"allowScaleDown":true}`},
		{name: "another WAL provider", greptimedb: base + `,"wal":{"provider":"kafka","brokerEndpoints":["kafka:9092"]}`,
			wantKey: "greptimedb[0].wal.provider", wantMsg: []string{"raft_engine", "greptimedb[0].wal.allowProviderChange"}},
		{name: "another WAL provider on purpose", greptimedb: base + `,"wal":{"provider":"kafka","brokerEndpoints":["kafka:9092"],"allowProviderChange":true}`},
		{name: "object storage instead of the volume", greptimedb: `"name":"metrics","datanode":{"replicas":3,` + s3("data", "metrics", "") + `}`,
			wantKey: "greptimedb[0].datanode.objectStorage", wantMsg: []string{"keep their data at File", "s3://data/metrics", "allowLocationChange"}},
		{name: "object storage on purpose", greptimedb: `"name":"metrics","datanode":{"replicas":3,` + s3("data", "metrics", `,"allowLocationChange":true`) + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := run(t, with(map[string]string{"greptimedb": `[{` + tt.greptimedb + `}]`}), previous)
			if tt.wantKey == "" {
				require.NoError(t, err)
				return
			}
			assertRefused(t, err, []string{tt.wantKey}, tt.wantMsg...)
			assert.Empty(t, res.Kubernetes(), "a refused change registers no Kubernetes object")
		})
	}

	t.Run("another bucket or root", func(t *testing.T) {
		onS3 := `[{"name":"metrics","datanode":{"replicas":3,` + s3("data", "metrics", "") + `}}]`
		first, err := run(t, with(map[string]string{"greptimedb": onS3}), nil)
		require.NoError(t, err)
		previous := previousOutputs(t, first)
		for _, moved := range []string{s3("other", "metrics", ""), s3("data", "metrics2", "")} {
			_, err := run(t, with(map[string]string{"greptimedb": `[{"name":"metrics","datanode":{"replicas":3,` + moved + `}}]`}), previous)
			assertRefused(t, err, []string{"greptimedb[0].datanode.objectStorage"}, "allowLocationChange")
		}
		_, err = run(t, with(map[string]string{"greptimedb": onS3}), previous)
		require.NoError(t, err, "the same location")
	})
}

// TestTopologyGuardOrphans: with retained (or protected) data, a deployment that
// drops a running cluster from the config (removed or renamed) or moves the stack
// to another namespace would orphan the retained StatefulSets and claims while an
// empty cluster starts: refused unless dataSafety.allowOrphaning. Without
// retention (dev) the data goes with the cluster, as asked.
func TestTopologyGuardOrphans(t *testing.T) {
	const retained = `{"protect":false,"retainOnDelete":true}`
	start := map[string]string{
		"dataSafety": retained,
		"greptimedb": `[{"name":"metrics"}]`,
		"quasardb":   `[{"name":"ticks"}]`,
	}
	first, err := run(t, with(start), nil)
	require.NoError(t, err)
	previous := previousOutputs(t, first)

	tests := []struct {
		name      string
		overrides map[string]string
		wantKeys  []string
		wantMsg   []string
	}{
		{name: "unchanged", overrides: map[string]string{}},
		{name: "a new cluster beside", overrides: map[string]string{"greptimedb": `[{"name":"metrics"},{"name":"logs"}]`}},
		{name: "GreptimeDB cluster renamed", overrides: map[string]string{"greptimedb": `[{"name":"metrics2"}]`},
			wantKeys: []string{"greptimedb"}, wantMsg: []string{`cluster "metrics" is running`, "dataSafety.allowOrphaning"}},
		{name: "QuasarDB cluster removed", overrides: map[string]string{"quasardb": "<unset>"},
			wantKeys: []string{"quasardb"}, wantMsg: []string{`cluster "ticks" is running`}},
		{name: "another namespace", overrides: map[string]string{"namespace": "tsdb-moved"},
			wantKeys: []string{"namespace"}, wantMsg: []string{"tsdb-moved", "stay behind in", "dataSafety.allowOrphaning"}},
		{name: "renamed on purpose", overrides: map[string]string{"greptimedb": `[{"name":"metrics2"}]`,
			"dataSafety": `{"protect":false,"retainOnDelete":true,"allowOrphaning":true}`}},
		{name: "renamed without retention", overrides: map[string]string{"greptimedb": `[{"name":"metrics2"}]`,
			"dataSafety": `{"protect":false,"retainOnDelete":false}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := map[string]string{}
			for k, v := range start {
				cfg[k] = v
			}
			for k, v := range tt.overrides {
				cfg[k] = v
			}
			_, err := run(t, with(cfg), previous)
			if len(tt.wantKeys) == 0 {
				require.NoError(t, err)
				return
			}
			assertRefused(t, err, tt.wantKeys, tt.wantMsg...)
		})
	}
}
