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
	lazy lazy[*Server]
}

// Get returns the shared Server, starting it on first use. Like Start it
// skips t when a binary is missing (fails it when CI is set), and fails t
// when the server could not be started; later calls report the same.
func (s *Shared) Get(t testing.TB) *Server {
	t.Helper()
	return s.lazy.get(t, "kube-apiserver", "tsdb-kubeapi-", func(dir string) (*Server, error) {
		bins, err := FindBinaries()
		if err != nil {
			return nil, err
		}
		// Launch bounds its own wait by Options.StartTimeout.
		return Launch(context.Background(), Options{Binaries: bins, Dir: dir})
	})
}

// Close stops the shared Server, if it was started, and removes its files.
// Later Gets fail.
func (s *Shared) Close() error { return s.lazy.close("kube-apiserver") }

// stopper is what a lazy value must do when it is closed.
type stopper interface{ Stop() error }

// lazy starts one T in its own temporary directory on first use, hands the same
// one (or the same error) to every later caller, and stops it and removes the
// directory on close.
type lazy[T stopper] struct {
	mu      sync.Mutex
	started bool
	dir     string
	value   T
	running bool
	err     error
}

func (l *lazy[T]) get(t testing.TB, what, dirPattern string, start func(dir string) (T, error)) T {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.started {
		l.started = true
		l.dir, l.err = os.MkdirTemp("", dirPattern)
		if l.err != nil {
			l.err = fmt.Errorf("creating a directory for the shared %s: %w", what, l.err)
		} else {
			l.value, l.err = start(l.dir)
			l.running = l.err == nil
		}
	}
	var zero T
	if l.err != nil {
		var missing *MissingBinaryError
		if errors.As(l.err, &missing) {
			skipOrFatal(t, l.err)
			return zero
		}
		t.Fatalf("starting the shared %s: %v", what, l.err)
		return zero
	}
	return l.value
}

func (l *lazy[T]) close(what string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.started = true
	if l.err == nil {
		l.err = fmt.Errorf("the shared %s was closed", what)
	}
	var errs []error
	if l.running {
		if err := l.value.Stop(); err != nil {
			errs = append(errs, err)
		}
		l.running = false
	}
	if l.dir != "" {
		if err := os.RemoveAll(l.dir); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", l.dir, err))
		}
		l.dir = ""
	}
	return errors.Join(errs...)
}
