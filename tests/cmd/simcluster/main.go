// Command simcluster runs the test suite's simulated Kubernetes cluster
// (tests/kubeapi.Cluster: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok's fake nodes, all on loopback) in the foreground, for
// trying the program against it by hand:
//
//	make sim-cluster                      # or: go run ./tests/cmd/simcluster
//	export KUBECONFIG=$PWD/.sim/kubeconfig  # context tsdb-sim
//	kubectl get nodes
//
// It runs until interrupted (SIGINT or SIGTERM), then stops every process and
// removes its files. The binaries come from `make tools`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/tests/kubeapi"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "simcluster:", err)
		os.Exit(1)
	}
}

func run() error {
	defaultKubeconfig := filepath.Join(".sim", "kubeconfig")
	if root, err := mockrun.RepoRoot(); err == nil {
		defaultKubeconfig = filepath.Join(root, defaultKubeconfig)
	}
	kubeconfig := flag.String("kubeconfig", defaultKubeconfig, "where to write the cluster's kubeconfig (context "+kubeapi.ContextName+")")
	nodes := flag.Int("nodes", 3, "number of fake nodes")
	keep := flag.Bool("keep", false, "keep the cluster's directory (logs, data) on exit")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	bins, err := kubeapi.FindClusterBinaries()
	if err != nil {
		return fmt.Errorf("%w (run `make tools`)", err)
	}
	dir, err := os.MkdirTemp("", "tsdb-sim-")
	if err != nil {
		return err
	}
	if !*keep {
		defer func() { _ = os.RemoveAll(dir) }()
	}

	start := time.Now()
	fmt.Fprintf(os.Stderr, "simcluster: starting in %s\n", dir)
	c, err := kubeapi.LaunchCluster(ctx, kubeapi.ClusterOptions{Binaries: bins, Dir: dir, Nodes: *nodes})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(os.Stderr, "simcluster: stopping")
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "simcluster:", err)
		}
		_ = os.Remove(*kubeconfig)
	}()
	if err := c.WriteKubeconfig(*kubeconfig); err != nil {
		return err
	}
	cfg, err := os.ReadFile(*kubeconfig)
	if err != nil {
		return err
	}
	fmt.Printf("%s", cfg)
	fmt.Fprintf(os.Stderr, "simcluster: ready in %s with nodes %v; logs in %s\n", time.Since(start).Round(time.Millisecond), c.Nodes(), dir)
	fmt.Fprintf(os.Stderr, "simcluster: export KUBECONFIG=%s  (context %s); Ctrl-C stops the cluster\n", *kubeconfig, c.Context())
	<-ctx.Done()
	return nil
}
