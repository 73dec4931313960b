package plan_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tsdb-platform/components/greptimedb"
	"tsdb-platform/internal/mockrun"
	"tsdb-platform/plan"
	"tsdb-platform/stacks"
)

// devSpec is the GreptimeDB spec of a cluster that sets nothing: the dev profile's.
func devSpec(t *testing.T) greptimedb.ClusterSpec {
	t.Helper()
	dev, err := stacks.GreptimeDBDefaults(stacks.ProfileDev)
	require.NoError(t, err)
	return dev.ClusterSpec
}

// stackSpec is the GreptimeDB spec of a committed stack's first cluster.
func stackSpec(t *testing.T, stack string) greptimedb.ClusterSpec {
	t.Helper()
	path, err := mockrun.StackFile(stack)
	require.NoError(t, err)
	sc, err := mockrun.LoadStackFile(path)
	require.NoError(t, err)
	spec, err := stacks.Load(stacks.MapLookup(sc.Config))
	require.NoError(t, err)
	require.NotEmpty(t, spec.GreptimeDB)
	return spec.GreptimeDB[0].ClusterSpec
}

// Config returns a stack's config with n GreptimeDB and n QuasarDB clusters, every
// other value from the dev profile.
func clusterConfig(t testing.TB, n int) map[string]string {
	t.Helper()
	var g, q []map[string]string
	for i := range n {
		g = append(g, map[string]string{"name": fmt.Sprintf("g%03d", i)})
		q = append(q, map[string]string{"name": fmt.Sprintf("q%03d", i)})
	}
	gj, err := json.Marshal(g)
	require.NoError(t, err)
	qj, err := json.Marshal(q)
	require.NoError(t, err)
	return map[string]string{"kubeContext": "test", "greptimedb": string(gj), "quasardb": string(qj)}
}

// requireComponents skips while the cluster components have not landed: until then
// the program registers no cluster component and there is no startup order to check.
func requireComponents(t *testing.T, p *plan.Plan) {
	t.Helper()
	var g, q bool
	for _, c := range p.Clusters {
		g = g || c.Type == plan.TypeGreptimeDBCluster
		q = q || c.Type == plan.TypeQuasarDBCluster
	}
	if !g || !q {
		t.Skipf("the program registers no %s and %s components yet (GreptimeDB: %v, QuasarDB: %v)",
			plan.TypeGreptimeDBCluster, plan.TypeQuasarDBCluster, g, q)
	}
}

// checkStartupOrder asserts the startup order every stack must have: each GreptimeDB
// cluster in the stages its components table gives for spec (etcd, meta,
// maintenance on, datanode, then frontend beside maintenance off, then the
// flownodes when enabled), each QuasarDB cluster in 1, clusters in parallel (the
// stack's critical path is the GreptimeDB cluster's however many clusters), and no
// ConfigMap, Secret or headless Service in any stage.
func checkStartupOrder(t *testing.T, p *plan.Plan, spec greptimedb.ClusterSpec, greptimes, quasars int) {
	t.Helper()
	require.Empty(t, p.Problems)
	var want [][]string
	for _, kinds := range spec.StartupStages() {
		var names []string
		for _, k := range kinds {
			names = append(names, string(k))
		}
		want = append(want, names)
	}
	assert.Equal(t, len(want), p.CriticalPath, "critical path\n%s", p.Text())

	var g, q int
	inCluster := map[string]bool{}
	for _, c := range p.Clusters {
		for _, n := range c.Nodes {
			inCluster[n.URN] = true
		}
		switch c.Type {
		case plan.TypeGreptimeDBCluster:
			g++
			assert.Equal(t, len(want), c.Stages, "GreptimeDB %s", c.Name)
			assert.Equal(t, want, c.StageComponents(), "GreptimeDB %s", c.Name)
		case plan.TypeQuasarDBCluster:
			q++
			assert.Equal(t, 1, c.Stages, "QuasarDB %s", c.Name)
			assert.Equal(t, [][]string{{"quasardb"}}, c.StageComponents(), "QuasarDB %s", c.Name)
		}
	}
	assert.Equal(t, greptimes, g, "GreptimeDB clusters")
	assert.Equal(t, quasars, q, "QuasarDB clusters")
	for _, n := range p.Nodes {
		assert.True(t, inCluster[n.URN], "awaited %s outside any cluster", n.URN)
		// A Service is reported created at once: its await ended every deploy 10 s
		// after its endpoints last changed, without checking them.
		assert.NotContains(t, []string{"ConfigMap", "Secret", "Service"}, n.Kind, n.URN)
	}
	// The graph does hold config objects and Services: they are just never awaited.
	reasons := map[string]int{}
	for urn, why := range p.NotAwaited {
		assert.Nil(t, p.Node(urn))
		reasons[why]++
	}
	assert.Positive(t, reasons["ConfigMap is not awaited"], "ConfigMaps in the graph: %v", reasons)
	assert.Positive(t, reasons["Secret is not awaited"], "Secrets in the graph: %v", reasons)
	assert.Positive(t, reasons["pulumi.com/skipAwait is true"], "Services in the graph: %v", reasons)
}

func TestProgramStartupOrder(t *testing.T) {
	for _, n := range []int{1, 10, 100} {
		t.Run(fmt.Sprintf("clusters=%d", n), func(t *testing.T) {
			p, err := plan.RunConfig(mockrun.Options{Config: clusterConfig(t, n)})
			require.NoError(t, err)
			requireComponents(t, p)
			checkStartupOrder(t, p, devSpec(t), n, n)
			assert.Len(t, p.Stages()[0], 2*n, "every etcd and every QuasarDB starts at once")
		})
	}
	t.Run("preview", func(t *testing.T) {
		p, err := plan.RunConfig(mockrun.Options{Config: clusterConfig(t, 2), DryRun: true})
		require.NoError(t, err)
		requireComponents(t, p)
		checkStartupOrder(t, p, devSpec(t), 2, 2)
	})
}

func TestCommittedStacks(t *testing.T) {
	stacks, err := mockrun.CommittedStacks()
	require.NoError(t, err)
	require.NotEmpty(t, stacks)
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			p, err := plan.Run(stack)
			require.NoError(t, err)
			requireComponents(t, p)
			checkStartupOrder(t, p, stackSpec(t, stack), 1, 1)
		})
	}
}

// TestStartupOrderIsStable runs the same stack several times: the recorded graph, and
// so the startup order, must not depend on goroutine scheduling. It does when a
// component is given pulumi.DependsOn on another *component*: the Go SDK expands that
// to the children whose registration has started at that moment (pulumi/pulumi#7737,
// #7791), which races with the children's own registration goroutines. Depending on
// the component's workloads (custom resources) is deterministic.
func TestStartupOrderIsStable(t *testing.T) {
	cfg := clusterConfig(t, 3)
	first, err := plan.RunConfig(mockrun.Options{Config: cfg})
	require.NoError(t, err)
	for i := range 8 {
		again, err := plan.RunConfig(mockrun.Options{Config: cfg})
		require.NoError(t, err)
		if again.Text() != first.Text() {
			t.Fatalf("run %d gave another startup order (a DependsOn on a component resource races "+
				"with its children's registration; depend on the workloads instead):\n%s\nversus\n%s",
				i+2, first.Text(), again.Text())
		}
	}
}

func TestUnknownStack(t *testing.T) {
	_, err := plan.Run("no-such-stack")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown stack "no-such-stack"`)
	assert.Contains(t, err.Error(), "dev")
}

func TestInvalidConfig(t *testing.T) {
	_, err := plan.RunConfig(mockrun.Options{Config: map[string]string{"kubeContext": "test", "greptimedb": `[{"name": "Not_A_Label"}]`}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "greptimedb[0].name")
}
