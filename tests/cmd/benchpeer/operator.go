package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"tsdb-platform/tests/kubeapi"
)

const (
	// operatorVersion is the release scripts/sim-tools.sh builds (OPERATOR_VERSION)
	// and tools/greptimedb-operator/go.mod pins.
	operatorVersion = "v0.6.0"
	operatorModule  = "github.com/GreptimeTeam/greptimedb-operator"
	// clusterTimeout bounds one apply → Running wait.
	clusterTimeout = 5 * time.Minute
)

var greptimeClusterGVR = schema.GroupVersionResource{Group: "greptime.io", Version: "v1alpha1", Resource: "greptimedbclusters"}

// peerManifests are the operator's equivalent of the dev stack's GreptimeDB cluster
// (stacks/profiles/dev.yaml, Pulumi.dev.yaml: cluster "metrics", one metasrv,
// datanode and frontend with the dev resources, GreptimeDB v1.1.4, raft-engine WAL
// and File storage on a 5Gi volume of the default class, text logs at info) and
// the one-member etcd v3.5.21 beside it that metasrv needs. NAMESPACE is replaced.
// Not carried over: the frontend's static user file (the v0.6.0 CRD has no field
// for it), the maintenance Jobs and the waits (the operator does both itself).
const peerManifests = `
apiVersion: v1
kind: Service
metadata: {name: metrics-etcd, namespace: NAMESPACE}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {app.kubernetes.io/name: etcd, app.kubernetes.io/instance: metrics}
  ports:
  - {name: client, port: 2379}
  - {name: peer, port: 2380}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: metrics-etcd, namespace: NAMESPACE}
spec:
  serviceName: metrics-etcd
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: etcd, app.kubernetes.io/instance: metrics}
  template:
    metadata:
      labels: {app.kubernetes.io/name: etcd, app.kubernetes.io/instance: metrics}
    spec:
      containers:
      - name: etcd
        image: quay.io/coreos/etcd:v3.5.21
        command: [etcd]
        args:
        - --name=metrics-etcd-0
        - --data-dir=/var/lib/etcd
        - --listen-client-urls=http://0.0.0.0:2379
        - --advertise-client-urls=http://metrics-etcd-0.metrics-etcd.NAMESPACE.svc.cluster.local:2379
        - --listen-peer-urls=http://0.0.0.0:2380
        - --initial-advertise-peer-urls=http://metrics-etcd-0.metrics-etcd.NAMESPACE.svc.cluster.local:2380
        - --initial-cluster=metrics-etcd-0=http://metrics-etcd-0.metrics-etcd.NAMESPACE.svc.cluster.local:2380
        ports:
        - {name: client, containerPort: 2379}
        - {name: peer, containerPort: 2380}
        resources:
          requests: {cpu: 100m, memory: 128Mi}
          limits: {cpu: 500m, memory: 512Mi}
        volumeMounts:
        - {name: data, mountPath: /var/lib/etcd}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
---
apiVersion: greptime.io/v1alpha1
kind: GreptimeDBCluster
metadata: {name: metrics, namespace: NAMESPACE}
spec:
  base:
    main:
      image: greptime/greptimedb:v1.1.4
  logging: {level: info, format: text}
  meta:
    replicas: 1
    backendStorage:
      etcd:
        endpoints: [metrics-etcd.NAMESPACE.svc.cluster.local:2379]
    template:
      main:
        resources:
          requests: {cpu: 100m, memory: 128Mi}
          limits: {cpu: 500m, memory: 512Mi}
  datanode:
    replicas: 1
    storage:
      fs: {storageSize: 5Gi}
    template:
      main:
        resources:
          requests: {cpu: 250m, memory: 512Mi}
          limits: {cpu: "1", memory: 1Gi}
  frontend:
    replicas: 1
    template:
      main:
        resources:
          requests: {cpu: 100m, memory: 256Mi}
          limits: {cpu: 500m, memory: 512Mi}
`

// tools are the cached binaries and the operator's module source.
type tools struct {
	operator string // the operator binary
	crdDir   string // the module's config/crd/resources
}

// buildTools builds (or finds, cached) the simulated cluster's binaries and the
// operator with scripts/sim-tools.sh, and locates the operator module's CRDs.
func buildTools(ctx context.Context, root string) (tools, error) {
	names := []string{"kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler", "kwok", "greptimedb-operator"}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "sim-tools.sh"))
	cmd.Args = append(cmd.Args, names...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return tools{}, fmt.Errorf("scripts/sim-tools.sh: %w", err)
	}
	paths := strings.Fields(string(out))
	if len(paths) != len(names) {
		return tools{}, fmt.Errorf("scripts/sim-tools.sh printed %d paths, want %d: %q", len(paths), len(names), paths)
	}
	op := paths[len(paths)-1]
	if !strings.HasSuffix(op, "-"+operatorVersion) {
		return tools{}, fmt.Errorf("scripts/sim-tools.sh built %s, want the operator %s", op, operatorVersion)
	}

	list := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", operatorModule)
	list.Dir = filepath.Join(root, "tools", "greptimedb-operator")
	list.Env = append(os.Environ(), "GONOSUMDB=github.com/GreptimeTeam")
	list.Stderr = os.Stderr
	dirOut, err := list.Output()
	if err != nil {
		return tools{}, fmt.Errorf("locating %s: %w", operatorModule, err)
	}
	crdDir := filepath.Join(strings.TrimSpace(string(dirOut)), "config", "crd", "resources")
	if _, err := os.Stat(crdDir); err != nil {
		return tools{}, fmt.Errorf("the operator's CRDs: %w", err)
	}
	return tools{operator: op, crdDir: crdDir}, nil
}

// stubMetasrv answers 200 to every request. The operator reaches it through
// HTTP_PROXY: its maintenance-mode calls (controllers/common.SetMaintenanceMode,
// http.Post, so Go's default transport and its ProxyFromEnvironment) go to
// metasrv's Service URL, which nothing serves on kwok's nodes.
type stubMetasrv struct {
	url string
	srv *http.Server

	mu       sync.Mutex
	requests []string
}

func startStubMetasrv() (*stubMetasrv, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &stubMetasrv{url: "http://" + ln.Addr().String()}
	s.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := r.Method + " " + r.URL.String() // absolute-form: the proxied URL
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
		logf("stub metasrv (HTTP_PROXY %s): %s → 200", s.url, req)
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *stubMetasrv) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// summary counts the requests by method and path.
func (s *stubMetasrv) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	counts := map[string]int{}
	for _, r := range s.requests {
		method, u, _ := strings.Cut(r, " ")
		if i := strings.Index(u, "://"); i >= 0 {
			if j := strings.Index(u[i+3:], "/"); j >= 0 {
				u = u[i+3+j:]
			}
		}
		counts[method+" "+u]++
	}
	var parts []string
	for k, n := range counts {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, n))
	}
	slices.Sort(parts)
	return fmt.Sprintf("%d requests through HTTP_PROXY=%s, each 200 (%s)", len(s.requests), s.url, strings.Join(parts, ", "))
}

// operator is the running operator binary and its stub metasrv.
type operator struct {
	cluster *kubeapi.Cluster
	tools   tools
	proxy   *stubMetasrv
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

// startOperator applies the operator's CRDs to cluster and starts the operator
// against it, with HTTP_PROXY pointing at a stub metasrv.
func startOperator(ctx context.Context, cluster *kubeapi.Cluster, t tools, dir string) (*operator, error) {
	if err := applyCRDs(ctx, cluster, t.crdDir); err != nil {
		return nil, err
	}
	proxy, err := startStubMetasrv()
	if err != nil {
		return nil, err
	}
	op := &operator{cluster: cluster, tools: t, proxy: proxy, logPath: filepath.Join(dir, "operator.log"), done: make(chan struct{})}
	logFile, err := os.Create(op.logPath)
	if err != nil {
		return nil, err
	}
	// Metrics and health probes off: nothing scrapes them, and their default
	// ports (:8080, :9494) may be taken.
	op.cmd = exec.Command(t.operator, "--metrics-bind-address=0", "--health-probe-bind-address=0")
	env := withoutEnv(os.Environ(), "KUBECONFIG", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy")
	// The API server is on 127.0.0.1, which Go never proxies; NO_PROXY says so anyway.
	op.cmd.Env = append(env, "KUBECONFIG="+cluster.Kubeconfig(), "HTTP_PROXY="+proxy.url, "NO_PROXY=127.0.0.1,localhost")
	op.cmd.Stdout = logFile
	op.cmd.Stderr = logFile
	if err := op.cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", t.operator, err)
	}
	go func() {
		_ = op.cmd.Wait()
		_ = logFile.Close()
		close(op.done)
	}()
	logf("operator %s started (log %s), HTTP_PROXY=%s (stub metasrv: 200 to everything)", t.operator, op.logPath, proxy.url)
	return op, nil
}

func (op *operator) stop() {
	if op.cmd.Process != nil {
		_ = op.cmd.Process.Signal(os.Interrupt)
		select {
		case <-op.done:
		case <-time.After(10 * time.Second):
			_ = op.cmd.Process.Kill()
			<-op.done
		}
	}
	_ = op.proxy.srv.Close()
}

func (op *operator) logTail() string {
	data, err := os.ReadFile(op.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-40):], "\n")
}

// bench deploys the peer cluster runs times, each into a namespace of its own,
// and returns each apply → Running-and-Ready time. It deletes the namespaces
// afterwards and waits until they are gone.
func (op *operator) bench(ctx context.Context, runs int) ([]time.Duration, error) {
	var times []time.Duration
	var namespaces []string
	for i := 1; i <= runs; i++ {
		ns := fmt.Sprintf("bench-operator-%d", i)
		namespaces = append(namespaces, ns)
		if err := op.cluster.EnsureNamespace(ctx, ns, nil); err != nil {
			return nil, err
		}
		objs, err := parseManifests(strings.ReplaceAll(peerManifests, "NAMESPACE", ns))
		if err != nil {
			return nil, err
		}
		before := op.proxy.count()
		start := time.Now()
		for _, obj := range objs {
			if _, err := op.cluster.Apply(ctx, obj); err != nil {
				return nil, err
			}
		}
		d, err := op.waitRunning(ctx, ns, "metrics", start)
		if err != nil {
			return nil, fmt.Errorf("operator run %d: %w", i, err)
		}
		times = append(times, d)
		logf("operator run %d: apply → Running, all pods Ready in %.2f s (%d stub metasrv requests)", i, d.Seconds(), op.proxy.count()-before)
	}
	for _, ns := range namespaces {
		err := op.cluster.Clientset().CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	// Gone before the engine runs, so it does not share the cluster with them.
	deadline := time.Now().Add(3 * time.Minute)
	for _, ns := range namespaces {
		for {
			_, err := op.cluster.Clientset().CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			if time.Now().After(deadline) {
				logf("namespace %s still terminating after 3 minutes; going on", ns)
				break
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return times, nil
}

// waitRunning polls (every 50 ms) until the GreptimeDBCluster's status phase is
// Running and every pod in ns is Ready (at least the etcd member, metasrv,
// datanode and frontend), and returns the time since start.
func (op *operator) waitRunning(ctx context.Context, ns, name string, start time.Time) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	const wantPods = 4
	var last string
	for {
		phase, podsReady, pods, err := op.state(ctx, ns, name)
		if err == nil && phase == "Running" && podsReady && pods >= wantPods {
			return time.Since(start), nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("phase %q, %d pods, all Ready: %v", phase, pods, podsReady)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("GreptimeDBCluster %s/%s not Running with its pods Ready in %s (last: %s): %w", ns, name, clusterTimeout, last, ctx.Err())
		case <-op.done:
			return 0, errors.New("the operator exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (op *operator) state(ctx context.Context, ns, name string) (phase string, podsReady bool, pods int, err error) {
	c, err := op.cluster.Dynamic().Resource(greptimeClusterGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", false, 0, err
	}
	phase, _, _ = unstructured.NestedString(c.Object, "status", "clusterPhase")
	list, err := op.cluster.Clientset().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", false, 0, err
	}
	podsReady = true
	for _, p := range list.Items {
		podsReady = podsReady && p.DeletionTimestamp == nil && podReady(&p)
	}
	return phase, podsReady, len(list.Items), nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// applyCRDs server-side applies every CRD under dir and waits until each is
// established.
func applyCRDs(ctx context.Context, cluster *kubeapi.Cluster, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRDs in %s (%v)", dir, err)
	}
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		objs, err := parseManifests(string(data))
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for _, obj := range objs {
			if _, err := cluster.Apply(ctx, obj); err != nil {
				return err
			}
			for established := false; !established; {
				crd, err := cluster.Dynamic().Resource(crdGVR).Get(ctx, obj.GetName(), metav1.GetOptions{})
				if err != nil {
					return err
				}
				conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
				for _, c := range conditions {
					if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
						established = true
					}
				}
				if !established {
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(100 * time.Millisecond):
					}
				}
			}
			logf("applied CRD %s", obj.GetName())
		}
	}
	return nil
}

// parseManifests splits a multi-document YAML stream into objects.
func parseManifests(stream string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	sc := bufio.NewScanner(strings.NewReader(stream))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	var doc strings.Builder
	flush := func() error {
		if strings.TrimSpace(doc.String()) == "" {
			doc.Reset()
			return nil
		}
		js, err := yaml.YAMLToJSON([]byte(doc.String()))
		doc.Reset()
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(js)) == "null" { // comments only
			return nil
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(js); err != nil {
			return err
		}
		objs = append(objs, obj)
		return nil
	}
	for sc.Scan() {
		if strings.TrimRight(sc.Text(), " ") == "---" {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		doc.WriteString(sc.Text())
		doc.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return objs, flush()
}

func withoutEnv(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, name) {
			out = append(out, kv)
		}
	}
	return out
}
