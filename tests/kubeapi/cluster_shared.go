package kubeapi

import (
	"context"
	"testing"
)

// SharedCluster lazily starts one Cluster for all the tests of a test binary
// that ask for it, like Shared does for a Server. The zero value is ready to
// use; set Options before the first Get (Dir is ignored: a temporary directory
// is used) and close it from TestMain:
//
//	var cluster kubeapi.SharedCluster
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		if err := cluster.Close(); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//		}
//		os.Exit(code)
//	}
type SharedCluster struct {
	Options ClusterOptions

	lazy lazy[*Cluster]
}

// Get returns the shared Cluster, starting it on first use. It skips t when a
// binary is missing (fails it when CI is set), and fails t when the cluster
// could not be started; later calls report the same. When t fails, the
// components' log tails are logged at the end of t.
func (s *SharedCluster) Get(t testing.TB) *Cluster {
	t.Helper()
	c := s.lazy.get(t, "simulated cluster", "tsdb-sim-", func(dir string) (*Cluster, error) {
		opts := s.Options
		if opts.Binaries == (ClusterBinaries{}) {
			bins, err := FindClusterBinaries()
			if err != nil {
				return nil, err
			}
			opts.Binaries = bins
		}
		opts.Dir = dir
		// LaunchCluster bounds its own wait by ClusterOptions.StartTimeout.
		return LaunchCluster(context.Background(), opts)
	})
	if c != nil {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("simulated cluster logs:\n%s", c.LogTails())
			}
		})
	}
	return c
}

// Close stops the shared Cluster, if it was started, and removes its files.
// Later Gets fail.
func (s *SharedCluster) Close() error { return s.lazy.close("simulated cluster") }
