// Command benchpeer compares a deploy of the dev stack's GreptimeDB cluster by
// this program (`make sim-up`, the real Pulumi engine) with the same cluster
// deployed by its peer, the GreptimeDB operator v0.6.0, on the same simulated
// cluster (tests/kubeapi: real kube-apiserver, controller manager, scheduler and
// etcd; kwok's fake nodes, so no container runs and every pod is Ready at once).
//
//	make bench-peer        # or: go run ./tests/cmd/benchpeer [-runs 3]
//
// It measures, RUNS times each:
//
//   - operator: applying an etcd (StatefulSet and Service) and a GreptimeDBCluster
//     equal to the dev stack's to status phase Running with every pod Ready;
//   - `make sim-up STACK=dev` deploying the stack anew (after an untimed warm-up
//     deploy and destroy, so the program's build is cached), again with no change,
//     and after greptimedb[0].logging.level changes (a rollout of every pod);
//
// and prints min, median and max of each with its ratio to the operator's median.
//
// Without the Pulumi engine on PATH it says so and exits 0 before building
// anything. The operator is built once into the tools cache by
// scripts/sim-tools.sh greptimedb-operator.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"tsdb-platform/internal/mockrun"
	pulumiengine "tsdb-platform/tests/engine"
	"tsdb-platform/tests/kubeapi"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchpeer:", err)
		os.Exit(1)
	}
}

func run() error {
	runs := flag.Int("runs", 3, "runs of each measurement")
	keep := flag.Bool("keep", false, "keep the working directory (cluster, operator and make logs) on exit")
	flag.Parse()
	if *runs < 1 {
		return fmt.Errorf("-runs %d: at least 1", *runs)
	}

	if missing := pulumiengine.Missing(); len(missing) > 0 {
		fmt.Printf("bench-peer: SKIPPED: the real Pulumi engine is missing (%s not on PATH). "+
			"It compares `make sim-up` with the GreptimeDB operator; put a Pulumi CLI v3 with the Go language "+
			"host and the kubernetes and random provider plugins on PATH (README \"Real engine\").\n",
			strings.Join(missing, ", "))
		return nil
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()

	root, err := mockrun.RepoRoot()
	if err != nil {
		return err
	}
	tools, err := buildTools(ctx, root)
	if err != nil {
		return err
	}
	logf("tools ready in %s", since(start))

	dir, err := os.MkdirTemp("", "tsdb-bench-peer-")
	if err != nil {
		return err
	}
	if *keep {
		logf("keeping %s", dir)
	} else {
		defer func() { _ = os.RemoveAll(dir) }()
	}

	bins, err := kubeapi.FindClusterBinaries()
	if err != nil {
		return err
	}
	clusterDir := filepath.Join(dir, "cluster")
	if err := os.Mkdir(clusterDir, 0o755); err != nil {
		return err
	}
	t0 := time.Now()
	cluster, err := kubeapi.LaunchCluster(ctx, kubeapi.ClusterOptions{Binaries: bins, Dir: clusterDir})
	if err != nil {
		return err
	}
	defer func() {
		if err := cluster.Stop(); err != nil {
			logf("stopping the simulated cluster: %v", err)
		}
	}()
	logf("simulated cluster up in %s (nodes %v)", since(t0), cluster.Nodes())

	op, err := startOperator(ctx, cluster, tools, dir)
	if err != nil {
		return err
	}
	defer op.stop()
	operatorTimes, err := op.bench(ctx, *runs)
	if err != nil {
		return fmt.Errorf("%w\noperator log tail:\n%s", err, op.logTail())
	}
	// The operator stays up while the engine runs: an idle controller, as on a
	// cluster that has both.

	eng, err := newEngine(ctx, root, dir, cluster.Kubeconfig())
	if err != nil {
		return err
	}
	engineRows, err := eng.bench(ctx, *runs)
	if err != nil {
		return err
	}

	rows := append([]row{{
		what:  "operator v0.6.0: apply etcd + GreptimeDBCluster → phase Running, every pod Ready",
		times: operatorTimes,
	}}, engineRows...)
	fmt.Printf("\nbench-peer: %d runs each on the simulated cluster, %s in all; the stub metasrv answered %s\n\n",
		*runs, since(start), op.proxy.summary())
	fmt.Print(table(rows))
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-peer: "+format+"\n", args...)
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }
