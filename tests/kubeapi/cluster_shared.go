package kubeapi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
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

	mu      sync.Mutex
	started bool
	dir     string
	cluster *Cluster
	err     error
}

// Get returns the shared Cluster, starting it on first use. It skips t when a
// binary is missing (fails it when CI is set), and fails t when the cluster
// could not be started; later calls report the same. When t fails, the
// components' log tails are logged at the end of t.
func (s *SharedCluster) Get(t testing.TB) *Cluster {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started = true
		s.cluster, s.err = s.start()
	}
	if s.err != nil {
		var missing *MissingBinaryError
		if errors.As(s.err, &missing) {
			skipOrFatal(t, s.err)
			return nil
		}
		t.Fatalf("starting the shared simulated cluster: %v", s.err)
		return nil
	}
	c := s.cluster
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("simulated cluster logs:\n%s", c.LogTails())
		}
	})
	return c
}

func (s *SharedCluster) start() (*Cluster, error) {
	opts := s.Options
	if opts.Binaries == (ClusterBinaries{}) {
		bins, err := FindClusterBinaries()
		if err != nil {
			return nil, err
		}
		opts.Binaries = bins
	}
	dir, err := os.MkdirTemp("", "tsdb-sim-")
	if err != nil {
		return nil, fmt.Errorf("creating a directory for the shared simulated cluster: %w", err)
	}
	s.dir = dir
	opts.Dir = dir
	// LaunchCluster bounds its own wait by ClusterOptions.StartTimeout.
	return LaunchCluster(context.Background(), opts)
}

// Close stops the shared Cluster, if it was started, and removes its files.
// Later Gets fail.
func (s *SharedCluster) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = true
	if s.err == nil {
		s.err = errors.New("the shared simulated cluster was closed")
	}
	var errs []error
	if s.cluster != nil {
		if err := s.cluster.Stop(); err != nil {
			errs = append(errs, err)
		}
		s.cluster = nil
	}
	if s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", s.dir, err))
		}
		s.dir = ""
	}
	return errors.Join(errs...)
}
