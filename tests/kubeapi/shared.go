package kubeapi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
)

// Shared lazily starts one Server for all the tests of a test binary that
// ask for it. The zero value is ready to use; declare one in the test package
// and close it from TestMain:
//
//	var apiserver kubeapi.Shared
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		if err := apiserver.Close(); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//		}
//		os.Exit(code)
//	}
//
//	func TestSomething(t *testing.T) {
//		srv := apiserver.Get(t)
//		...
//	}
type Shared struct {
	mu      sync.Mutex
	started bool
	dir     string
	srv     *Server
	err     error
}

// Get returns the shared Server, starting it on first use. Like Start it
// skips t when a binary is missing (fails it when CI is set), and fails t
// when the server could not be started; later calls report the same.
func (s *Shared) Get(t testing.TB) *Server {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started = true
		s.srv, s.err = s.start()
	}
	if s.err != nil {
		var missing *MissingBinaryError
		if errors.As(s.err, &missing) {
			skipOrFatal(t, s.err)
			return nil
		}
		t.Fatalf("starting the shared kube-apiserver: %v", s.err)
		return nil
	}
	return s.srv
}

func (s *Shared) start() (*Server, error) {
	bins, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tsdb-kubeapi-")
	if err != nil {
		return nil, fmt.Errorf("creating a directory for the shared kube-apiserver: %w", err)
	}
	s.dir = dir
	// Launch bounds its own wait by Options.StartTimeout.
	return Launch(context.Background(), Options{Binaries: bins, Dir: dir})
}

// Close stops the shared Server, if it was started, and removes its files.
// Later Gets fail.
func (s *Shared) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = true
	if s.err == nil {
		s.err = errors.New("the shared kube-apiserver was closed")
	}
	var errs []error
	if s.srv != nil {
		if err := s.srv.Stop(); err != nil {
			errs = append(errs, err)
		}
		s.srv = nil
	}
	if s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", s.dir, err))
		}
		s.dir = ""
	}
	return errors.Join(errs...)
}
