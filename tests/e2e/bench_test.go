package e2e_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/stretchr/testify/require"

	"tsdb-platform/stacks"
	"tsdb-platform/tests/kubeapi"
)

// BenchmarkEnginePreview is the real engine's `pulumi preview` of a new dev stack with
// N GreptimeDB and N QuasarDB clusters against the simulated cluster: the program's
// cost plus the engine's, the language host's and the kubernetes provider's
// (server-side dry runs included). Run it with
//
//	go test ./tests/e2e/ -run '^$' -bench EnginePreview -benchtime 1x
func BenchmarkEnginePreview(b *testing.B) {
	requireEngine(b)
	cluster := kubeapi.StartCluster(b, kubeapi.ClusterOptions{})
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("clusters=%d", n), func(b *testing.B) {
			ctx := context.Background()
			stack := benchStack(ctx, b, cluster, n)
			// One untimed preview builds the program (Pulumi.yaml's buildTarget), as
			// a user's first preview does; the timed ones find it built, as every
			// later preview and update does.
			_, err := stack.Preview(ctx, optpreview.Message("build"))
			require.NoError(b, err)
			var resources int
			b.ResetTimer()
			for range b.N {
				res, err := stack.Preview(ctx, optpreview.Message("bench"))
				require.NoError(b, err)
				resources = res.ChangeSummary["create"]
			}
			b.ReportMetric(float64(resources), "resources")
		})
	}
}

func benchStack(ctx context.Context, b *testing.B, cluster *kubeapi.Cluster, n int) auto.Stack {
	b.Helper()
	var greptime, quasar []any
	for i := range n {
		greptime = append(greptime, map[string]any{"name": fmt.Sprintf("g%d", i)})
		quasar = append(quasar, map[string]any{"name": fmt.Sprintf("q%d", i)})
	}
	workDir := copyProgram(b)
	name := fmt.Sprintf("bench-%d", n)
	stack, err := auto.UpsertStackLocalSource(ctx, "organization/"+stacks.Project+"/"+name, workDir,
		auto.SecretsProvider("passphrase"), auto.EnvVars(engineEnv(b.TempDir())))
	require.NoError(b, err)
	writeConfig(b, workDir, name, map[string]any{
		stacks.KeyNamespace:  name,
		stacks.KeyKubeconfig: cluster.Kubeconfig(),
		stacks.KeyGreptimeDB: greptime,
		stacks.KeyQuasarDB:   quasar,
	})
	return stack
}
