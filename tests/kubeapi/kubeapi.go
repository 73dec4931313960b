// Package kubeapi runs a real, throwaway kube-apiserver (backed by a throwaway
// etcd) for tests, so that generated manifests can be validated by the same
// code a cluster runs: schema validation, defaulting, admission (including
// PodSecurity) and server-side apply, all as dry runs.
//
// The binaries come from scripts/kube-apiserver.sh (kube-apiserver) and
// scripts/sim-tools.sh (etcd), both built once into a cache. When either is
// missing, Start skips the test, or fails it when the CI environment variable is
// set.
//
// StartCluster (cluster.go) runs a whole simulated cluster: the same apiserver
// plus kube-controller-manager, kube-scheduler and kwok's fake nodes.
package kubeapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Version is the Kubernetes release that scripts/kube-apiserver.sh builds (and
// scripts/sim-tools.sh, for kube-controller-manager and kube-scheduler).
const Version = "v1.34.2"

// EtcdVersion is the etcd release that scripts/sim-tools.sh builds.
const EtcdVersion = "v3.6.16"

// Environment variables read by this package.
const (
	// EnvKubeAPIServer overrides the path of the kube-apiserver binary.
	EnvKubeAPIServer = "TSDB_KUBE_APISERVER"
	// EnvEtcd overrides the path of the etcd binary.
	EnvEtcd = "TSDB_ETCD"
	// EnvCacheDir overrides the cache that scripts/kube-apiserver.sh and
	// scripts/sim-tools.sh build into.
	EnvCacheDir = "TSDB_CACHE_DIR"
	// EnvCI, when non-empty, turns a missing binary into a test failure.
	EnvCI = "CI"
)

// DefaultStartTimeout bounds how long Start waits for /readyz.
const DefaultStartTimeout = 2 * time.Minute

// Binaries are the executables a Server runs.
type Binaries struct {
	KubeAPIServer string
	Etcd          string
}

// MissingBinaryError reports executables that could not be found, and how to
// get them.
type MissingBinaryError struct {
	Problems []string
}

func (e *MissingBinaryError) Error() string {
	return "kube-apiserver tests need: " + strings.Join(e.Problems, "; ")
}

// FindBinaries locates kube-apiserver ($TSDB_KUBE_APISERVER, else the cache
// path scripts/kube-apiserver.sh builds into) and etcd ($TSDB_ETCD, else the
// cache path scripts/sim-tools.sh builds into). The error, if any, is a
// *MissingBinaryError.
func FindBinaries() (Binaries, error) {
	var bins Binaries
	var problems []string
	find := func(dst *string, name, version, env, script string) {
		path, err := cachedBinary(name, version, env)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s (%v; run `%s`)", name, err, script))
			return
		}
		if fi, statErr := os.Stat(path); statErr != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			problems = append(problems, fmt.Sprintf(
				"%s %s at %s (no executable there; run `%s` or set %s)", name, version, path, script, env))
			return
		}
		*dst = path
	}
	find(&bins.KubeAPIServer, "kube-apiserver", Version, EnvKubeAPIServer, "bash scripts/kube-apiserver.sh")
	find(&bins.Etcd, "etcd", EtcdVersion, EnvEtcd, "bash scripts/sim-tools.sh etcd")
	if len(problems) > 0 {
		return Binaries{}, &MissingBinaryError{Problems: problems}
	}
	return bins, nil
}

// cachedBinary is $env when set, else <cache>/<name>-<version>, where the
// cache is $TSDB_CACHE_DIR or ~/.cache/tsdb-platform.
func cachedBinary(name, version, env string) (string, error) {
	if p := os.Getenv(env); p != "" {
		return p, nil
	}
	dir := os.Getenv(EnvCacheDir)
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no %s and no home directory: %w", EnvCacheDir, err)
		}
		dir = filepath.Join(home, ".cache", "tsdb-platform")
	}
	return filepath.Join(dir, name+"-"+version), nil
}

// skipOrFatal skips t because of a missing binary, or fails it under CI.
func skipOrFatal(t testing.TB, err error) {
	t.Helper()
	if os.Getenv(EnvCI) != "" {
		t.Fatalf("%v (required because %s is set)", err, EnvCI)
	}
	t.Skipf("skipping: %v", err)
}

// Options configure Launch.
type Options struct {
	Binaries Binaries
	// Dir is an existing directory for credentials, etcd data and logs.
	// Launch does not remove it.
	Dir string
	// StartTimeout bounds the wait for /readyz; DefaultStartTimeout if zero.
	StartTimeout time.Duration
	// ExtraAPIServerArgs are appended to kube-apiserver's command line.
	ExtraAPIServerArgs []string
}

// Server is a running kube-apiserver and its etcd.
type Server struct {
	cfg     *rest.Config // admin config; never handed out, only copies
	dynamic dynamic.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper

	etcd      *process
	apiserver *process

	dir   string       // where credentials, data and logs live
	creds *credentials // the throwaway CA, keys and admin token

	stopOnce sync.Once
	stopErr  error
}

// Start launches a kube-apiserver for t in t.TempDir() and stops it (and its
// etcd) when t's cleanups run. It skips t when a binary is missing, or fails
// it when the CI environment variable is set.
func Start(t testing.TB) *Server {
	t.Helper()
	bins, err := FindBinaries()
	if err != nil {
		skipOrFatal(t, err)
		return nil
	}
	dir := t.TempDir()
	// Launch bounds its own wait by Options.StartTimeout.
	s, err := Launch(context.Background(), Options{Binaries: bins, Dir: dir})
	if err != nil {
		t.Fatalf("starting kube-apiserver: %v", err)
		return nil
	}
	// Registered after t.TempDir, so it runs before the directory is removed.
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping kube-apiserver: %v", err)
		}
	})
	return s
}

// Launch starts etcd and kube-apiserver on free loopback ports under
// opts.Dir and waits until the apiserver is ready. The caller must call Stop.
// Launch retries a few times when a port picked as free was taken meanwhile.
func Launch(ctx context.Context, opts Options) (*Server, error) {
	if opts.Binaries.KubeAPIServer == "" || opts.Binaries.Etcd == "" {
		return nil, errors.New("launch: both the kube-apiserver and the etcd binary are required")
	}
	if opts.Dir == "" {
		return nil, errors.New("launch: a directory is required")
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	const attempts = 3
	var err error
	for i := 1; i <= attempts; i++ {
		var s *Server
		s, err = launchOnce(ctx, opts, filepath.Join(opts.Dir, "attempt-"+strconv.Itoa(i)))
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, errPortTaken) || ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

var errPortTaken = errors.New("a port was taken by another process")

func launchOnce(ctx context.Context, opts Options, dir string) (_ *Server, retErr error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	creds, err := newCredentials(dir)
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdClient := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	etcdPeer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	securePort := ports[2]

	s := &Server{dir: dir, creds: creds}
	defer func() {
		if retErr != nil {
			if err := s.Stop(); err != nil {
				retErr = errors.Join(retErr, err)
			}
		}
	}()

	deadline := time.Now().Add(opts.StartTimeout)
	waitCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	var etcdEnv []string
	if runtime.GOARCH != "amd64" {
		// etcd refuses to start on architectures it does not test unless told to.
		etcdEnv = append(etcdEnv, "ETCD_UNSUPPORTED_ARCH="+runtime.GOARCH)
	}
	s.etcd, err = startProcess("etcd", opts.Binaries.Etcd, filepath.Join(dir, "etcd.log"), etcdEnv,
		"--name=tsdb",
		"--data-dir="+filepath.Join(dir, "etcd-data"),
		"--listen-client-urls="+etcdClient,
		"--advertise-client-urls="+etcdClient,
		"--listen-peer-urls="+etcdPeer,
		"--initial-advertise-peer-urls="+etcdPeer,
		"--initial-cluster=tsdb="+etcdPeer,
		"--initial-cluster-state=new",
		"--logger=zap",
		"--log-outputs=stderr",
		"--log-level=warn",
		// Throwaway data: skip the fsyncs that dominate etcd's latency on small machines.
		"--unsafe-no-fsync=true",
	)
	if err != nil {
		return nil, err
	}
	if err := waitReady(waitCtx, s.etcd, http.DefaultClient, etcdClient+"/health", "", func(body []byte) bool {
		return bytes.Contains(body, []byte(`"health":"true"`))
	}); err != nil {
		return nil, err
	}

	args := []string{
		"--etcd-servers=" + etcdClient,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(securePort),
		"--tls-cert-file=" + creds.servingCert,
		"--tls-private-key-file=" + creds.servingKey,
		"--cert-dir=" + filepath.Join(dir, "certs"),
		"--token-auth-file=" + creds.tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + creds.saPublicKey,
		"--service-account-signing-key-file=" + creds.saPrivateKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		// Real clusters allow privileged containers; leave policing them to
		// PodSecurity rather than to this cluster-wide switch.
		"--allow-privileged=true",
		// On by default; named so that PodSecurity can never silently be off.
		"--enable-admission-plugins=PodSecurity",
		"--profiling=false",
	}
	args = append(args, opts.ExtraAPIServerArgs...)
	s.apiserver, err = startProcess("kube-apiserver", opts.Binaries.KubeAPIServer,
		filepath.Join(dir, "kube-apiserver.log"), nil, args...)
	if err != nil {
		return nil, err
	}

	host := "https://127.0.0.1:" + strconv.Itoa(securePort)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(creds.caPEM) {
		return nil, errors.New("adding the generated CA to a certificate pool")
	}
	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer httpClient.CloseIdleConnections()
	if err := waitReady(waitCtx, s.apiserver, httpClient, host+"/readyz", creds.adminToken, func(body []byte) bool {
		return bytes.Equal(bytes.TrimSpace(body), []byte("ok"))
	}); err != nil {
		return nil, err
	}

	s.cfg = &rest.Config{
		Host:            host,
		BearerToken:     creds.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: creds.caPEM},
		UserAgent:       "tsdb-platform-tests",
		QPS:             -1, // a private server: no client-side throttling
		Timeout:         30 * time.Second,
	}
	if err := s.initClients(); err != nil {
		return nil, err
	}
	if err := s.installCRDs(waitCtx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) initClients() error {
	cfg := rest.CopyConfig(s.cfg)
	cfg.WarningHandlerWithContext = contextWarningHandler{}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("creating dynamic client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(rest.CopyConfig(s.cfg))
	if err != nil {
		return fmt.Errorf("creating discovery client: %w", err)
	}
	s.dynamic = dyn
	s.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return nil
}

// Config returns a copy of an admin (system:masters) client config.
func (s *Server) Config() *rest.Config {
	return rest.CopyConfig(s.cfg)
}

// Stop kills kube-apiserver and etcd (with their process groups) and waits
// for them to exit. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		for _, p := range []*process{s.apiserver, s.etcd} {
			if p != nil {
				if err := p.stop(); err != nil {
					errs = append(errs, err)
				}
			}
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// process is a started child whose output goes to a log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid once done is closed
}

func startProcess(name, bin, logPath string, env []string, args ...string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = append(os.Environ(), env...)
	isolate(cmd)
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, logFile: logFile, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) stop() error {
	defer func() { _ = p.logFile.Close() }()
	if p.exited() {
		return nil
	}
	if err := killGroup(p.cmd); err != nil {
		return fmt.Errorf("stopping %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("stopping %s: pid %d did not exit 30s after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// logTail returns the end of the process's log.
func (p *process) logTail() string {
	const maxTail = 8 << 10
	f, err := os.Open(p.logPath)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", p.logPath, err)
	}
	defer func() { _ = f.Close() }()
	if fi, err := f.Stat(); err == nil && fi.Size() > maxTail {
		if _, err := f.Seek(-maxTail, io.SeekEnd); err != nil {
			return fmt.Sprintf("(seeking in %s: %v)", p.logPath, err)
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", p.logPath, err)
	}
	return string(b)
}

// waitReady polls url until ok accepts a 200 response's body, the process
// exits, or ctx ends. Failures carry the tail of the process's log.
func waitReady(ctx context.Context, p *process, client *http.Client, url, token string, ok func([]byte) bool) error {
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	last := "no response yet"
	for {
		status, body, err := get(ctx, client, url, token)
		switch {
		case err != nil:
			last = err.Error()
		case status == http.StatusOK && ok(body):
			return nil
		default:
			last = fmt.Sprintf("HTTP %d: %s", status, truncate(string(body), 2000))
		}
		select {
		case <-p.done:
			tail := p.logTail()
			err := fmt.Errorf("%s exited before it was ready (%v); log tail:\n%s", p.name, p.waitErr, tail)
			if strings.Contains(tail, "address already in use") {
				err = fmt.Errorf("%w: %w", errPortTaken, err)
			}
			return err
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s (%w); last answer: %s; log tail:\n%s",
				p.name, url, ctx.Err(), last, p.logTail())
		case <-ticker.C:
		}
	}
}

func get(ctx context.Context, client *http.Client, url, token string) (int, []byte, error) {
	reqCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("building request: %w", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, nil, fmt.Errorf("reading response: %w", err)
	}
	return resp.StatusCode, body, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free loopback port: %w", err)
		}
		listeners = append(listeners, l)
		addr, ok := l.Addr().(*net.TCPAddr)
		if !ok {
			return nil, fmt.Errorf("unexpected listener address %v", l.Addr())
		}
		ports = append(ports, addr.Port)
	}
	return ports, nil
}
