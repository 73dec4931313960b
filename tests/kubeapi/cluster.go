package kubeapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"embed"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KwokVersion is the kwok release that scripts/sim-tools.sh builds.
const KwokVersion = "v0.8.0"

// Environment variables that override the paths of the simulated cluster's
// binaries (default: the cache scripts/sim-tools.sh builds into).
const (
	EnvKubeControllerManager = "TSDB_KUBE_CONTROLLER_MANAGER"
	EnvKubeScheduler         = "TSDB_KUBE_SCHEDULER"
	EnvKwok                  = "TSDB_KWOK"
)

// ContextName names the cluster, user and context of a Cluster's kubeconfig.
const ContextName = "tsdb-sim"

// Fake nodes: kwok manages the nodes annotated NodeAnnotation=NodeAnnotationValue.
const (
	NodeAnnotation      = "kwok.x-k8s.io/node"
	NodeAnnotationValue = "fake"
)

// Storage of the simulated cluster: every class in StorageClasses (DefaultStorageClass
// is the default) names Provisioner, which the Cluster itself plays.
const (
	Provisioner         = "sim.tsdb-platform.test/hostpath"
	DefaultStorageClass = "standard"
)

// StorageClasses are the classes a Cluster creates: the default one and the classes
// the committed stack files name.
var StorageClasses = []string{DefaultStorageClass, "fast-ssd"}

// DefaultZones are the topology.kubernetes.io/zone values given to nodes, round robin.
var DefaultZones = []string{"zone-a", "zone-b", "zone-c"}

// DefaultClusterStartTimeout bounds LaunchCluster's wait for every component.
const DefaultClusterStartTimeout = 3 * time.Minute

// NeverReadyCPU is a CPU request that marks a pod the simulated kubelets never
// make Ready (stages/pod-ready.yaml): a rollout to it fails.
const NeverReadyCPU = "999m"

// stageFiles are kwok's stages (copied from upstream, see each file's header):
// nodes become Ready at once and keep a lease; pods become Ready with an IP at once
// (init containers completed), pods of Jobs then succeed, deleted pods go away.
//
//go:embed stages/*.yaml
var stageFiles embed.FS

// ClusterBinaries are the executables a Cluster runs.
type ClusterBinaries struct {
	Binaries
	KubeControllerManager string
	KubeScheduler         string
	Kwok                  string
}

// FindClusterBinaries locates everything FindBinaries does plus
// kube-controller-manager, kube-scheduler and kwok (each $TSDB_<NAME>, else the
// cache path scripts/sim-tools.sh builds into). The error, if any, is a
// *MissingBinaryError.
func FindClusterBinaries() (ClusterBinaries, error) {
	var bins ClusterBinaries
	var problems []string
	base, err := FindBinaries()
	if err != nil {
		var missing *MissingBinaryError
		if !errors.As(err, &missing) {
			return ClusterBinaries{}, err
		}
		problems = append(problems, missing.Problems...)
	}
	bins.Binaries = base
	find := func(dst *string, name, version, env string) {
		p, err := cachedBinary(name, version, env)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s (%v; run `bash scripts/sim-tools.sh`)", name, err))
			return
		}
		if fi, statErr := os.Stat(p); statErr != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			problems = append(problems, fmt.Sprintf(
				"%s %s at %s (no executable there; run `bash scripts/sim-tools.sh` or set %s)", name, version, p, env))
			return
		}
		*dst = p
	}
	find(&bins.KubeControllerManager, "kube-controller-manager", Version, EnvKubeControllerManager)
	find(&bins.KubeScheduler, "kube-scheduler", Version, EnvKubeScheduler)
	find(&bins.Kwok, "kwok", KwokVersion, EnvKwok)
	if len(problems) > 0 {
		return ClusterBinaries{}, &MissingBinaryError{Problems: problems}
	}
	return bins, nil
}

// ClusterOptions configure LaunchCluster. Zero values take the defaults.
type ClusterOptions struct {
	// Binaries default to FindClusterBinaries.
	Binaries ClusterBinaries
	// Dir is an existing directory for credentials, data, the kubeconfig and
	// logs. LaunchCluster does not remove it. StartCluster uses t.TempDir().
	Dir string
	// Nodes is the number of fake nodes (default 3).
	Nodes int
	// Zones are the nodes' topology.kubernetes.io/zone values, round robin
	// (default DefaultZones).
	Zones []string
	// NodeCPU, NodeMemory and NodePods are each node's capacity (default 64
	// CPUs, 512Gi, 250 pods: a prod stack fits on three).
	NodeCPU, NodeMemory string
	NodePods            int
	// StartTimeout bounds the start (default DefaultClusterStartTimeout).
	StartTimeout time.Duration
}

func (o *ClusterOptions) defaults() error {
	if o.Binaries == (ClusterBinaries{}) {
		bins, err := FindClusterBinaries()
		if err != nil {
			return err
		}
		o.Binaries = bins
	}
	if o.Dir == "" {
		return errors.New("launch cluster: a directory is required")
	}
	if o.Nodes <= 0 {
		o.Nodes = 3
	}
	if len(o.Zones) == 0 {
		o.Zones = DefaultZones
	}
	if o.NodeCPU == "" {
		o.NodeCPU = "64"
	}
	if o.NodeMemory == "" {
		o.NodeMemory = "512Gi"
	}
	if o.NodePods <= 0 {
		o.NodePods = 250
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultClusterStartTimeout
	}
	return nil
}

// Cluster is a simulated Kubernetes cluster on loopback: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, and kwok playing the kubelets of fake
// nodes, plus an in-process volume provisioner. Workloads really get scheduled,
// their pods become Ready with IPs (no container runs), Services get endpoints,
// claims get bound volumes and Jobs complete.
//
// The embedded Server's methods (Apply, EnsureNamespace, Get, Dynamic, ...) work on it.
type Cluster struct {
	*Server

	kubeconfig string
	clientset  *kubernetes.Clientset
	nodes      []string

	controllerManager *process
	scheduler         *process
	kwok              *process

	stopProvisioner context.CancelFunc
	provisionerDone chan struct{}

	stopOnce sync.Once
	stopErr  error
}

// StartCluster launches a Cluster for t in t.TempDir() and stops it when t's
// cleanups run; when t failed, the components' log tails are logged first. It
// skips t when a binary is missing, or fails it when CI is set.
func StartCluster(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	if opts.Binaries == (ClusterBinaries{}) {
		bins, err := FindClusterBinaries()
		if err != nil {
			skipOrFatal(t, err)
			return nil
		}
		opts.Binaries = bins
	}
	opts.Dir = t.TempDir()
	c, err := LaunchCluster(context.Background(), opts)
	if err != nil {
		t.Fatalf("starting the simulated cluster: %v", err)
		return nil
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("simulated cluster logs:\n%s", c.LogTails())
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the simulated cluster: %v", err)
		}
	})
	return c
}

// LaunchCluster starts a Cluster under opts.Dir and waits until its nodes are
// Ready and its controllers and scheduler are healthy. The caller must call Stop.
func LaunchCluster(ctx context.Context, opts ClusterOptions) (_ *Cluster, retErr error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(opts.StartTimeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	srv, err := Launch(ctx, Options{
		Binaries:     opts.Binaries.Binaries,
		Dir:          opts.Dir,
		StartTimeout: opts.StartTimeout,
		// The apiserver advertises 127.0.0.1, which the "kubernetes" Service's
		// endpoints may not hold; nothing here needs them.
		ExtraAPIServerArgs: []string{"--endpoint-reconciler-type=none"},
	})
	if err != nil {
		return nil, err
	}
	c := &Cluster{Server: srv}
	defer func() {
		if retErr != nil {
			if err := c.Stop(); err != nil {
				retErr = errors.Join(retErr, err)
			}
		}
	}()
	dir := srv.dir

	c.kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(c.kubeconfig, srv.cfg.Host, srv.creds.caPEM, srv.creds.adminToken); err != nil {
		return nil, err
	}
	c.clientset, err = kubernetes.NewForConfig(srv.Config())
	if err != nil {
		return nil, fmt.Errorf("creating clientset: %w", err)
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.creds.caPEM)
	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer httpClient.CloseIdleConnections()

	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	common := []string{
		"--kubeconfig=" + c.kubeconfig,
		"--authentication-kubeconfig=" + c.kubeconfig,
		"--authorization-kubeconfig=" + c.kubeconfig,
		"--bind-address=127.0.0.1",
		"--tls-cert-file=" + srv.creds.servingCert,
		"--tls-private-key-file=" + srv.creds.servingKey,
		"--leader-elect=false",
		"--profiling=false",
	}
	c.controllerManager, err = startProcess("kube-controller-manager", opts.Binaries.KubeControllerManager,
		filepath.Join(dir, "kube-controller-manager.log"), nil, append(common,
			"--secure-port="+strconv.Itoa(ports[0]),
			"--cluster-name="+ContextName,
			"--service-account-private-key-file="+srv.creds.saPrivateKey,
			"--root-ca-file="+filepath.Join(dir, "ca.crt"),
			"--use-service-account-credentials=false",
			"--controllers=*",
		)...)
	if err != nil {
		return nil, err
	}
	c.scheduler, err = startProcess("kube-scheduler", opts.Binaries.KubeScheduler,
		filepath.Join(dir, "kube-scheduler.log"), nil, append(common,
			"--secure-port="+strconv.Itoa(ports[1]),
		)...)
	if err != nil {
		return nil, err
	}

	stageArgs, err := writeStages(filepath.Join(dir, "stages"))
	if err != nil {
		return nil, err
	}
	kwokDir := filepath.Join(dir, "kwok")
	if err := os.MkdirAll(kwokDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", kwokDir, err)
	}
	// KWOK_WORKDIR keeps kwok from reading the user's ~/.kwok/kwok.yaml.
	c.kwok, err = startProcess("kwok", opts.Binaries.Kwok, filepath.Join(dir, "kwok.log"),
		[]string{"KWOK_WORKDIR=" + kwokDir}, append(stageArgs,
			"--kubeconfig="+c.kubeconfig,
			"--manage-nodes-with-annotation-selector="+NodeAnnotation+"="+NodeAnnotationValue,
			"--cidr=10.244.0.0/16",
			"--node-ip=10.240.0.1",
			"--node-lease-duration-seconds=40",
		)...)
	if err != nil {
		return nil, err
	}

	for _, w := range []struct {
		p    *process
		port int
	}{{c.controllerManager, ports[0]}, {c.scheduler, ports[1]}} {
		url := "https://127.0.0.1:" + strconv.Itoa(w.port) + "/healthz"
		if err := waitReady(ctx, w.p, httpClient, url, "", func(body []byte) bool {
			return strings.TrimSpace(string(body)) == "ok"
		}); err != nil {
			return nil, err
		}
	}

	if err := c.createStorageClasses(ctx); err != nil {
		return nil, err
	}
	provCtx, stopProv := context.WithCancel(context.Background())
	c.stopProvisioner = stopProv
	c.provisionerDone = make(chan struct{})
	go func() {
		defer close(c.provisionerDone)
		runProvisioner(provCtx, c.clientset, filepath.Join(dir, "volumes"))
	}()

	if err := c.createNodes(ctx, opts); err != nil {
		return nil, err
	}
	if err := c.waitUsable(ctx); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, c.LogTails())
	}
	return c, nil
}

// Kubeconfig is the path of a kubeconfig file for the cluster (admin), whose
// current context is ContextName.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// Context is the name of the kubeconfig's context, ContextName.
func (c *Cluster) Context() string { return ContextName }

// Clientset is a typed admin client.
func (c *Cluster) Clientset() kubernetes.Interface { return c.clientset }

// Nodes are the names of the fake nodes.
func (c *Cluster) Nodes() []string { return append([]string(nil), c.nodes...) }

// Dir is the directory holding the cluster's credentials, data and logs.
func (c *Cluster) Dir() string { return c.dir }

// Stop stops the provisioner and every process (with its process group), and
// waits for them to exit. It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		var errs []error
		if c.stopProvisioner != nil {
			c.stopProvisioner()
			<-c.provisionerDone
		}
		for _, p := range []*process{c.kwok, c.scheduler, c.controllerManager} {
			if p != nil {
				if err := p.stop(); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if err := c.Server.Stop(); err != nil {
			errs = append(errs, err)
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// LogTails returns the end of every component's log, for failure reports.
func (c *Cluster) LogTails() string {
	var b strings.Builder
	for _, p := range []*process{c.etcd, c.apiserver, c.controllerManager, c.scheduler, c.kwok} {
		if p == nil {
			continue
		}
		state := "running"
		if p.exited() {
			state = fmt.Sprintf("exited: %v", p.waitErr)
		}
		fmt.Fprintf(&b, "--- %s (%s), %s:\n%s\n", p.name, state, p.logPath, p.logTail())
	}
	return b.String()
}

// writeStages writes the embedded kwok stages under dir and returns kwok's
// --config flags for them.
func writeStages(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	entries, err := stageFiles.ReadDir("stages")
	if err != nil {
		return nil, fmt.Errorf("reading embedded kwok stages: %w", err)
	}
	var args []string
	for _, e := range entries {
		data, err := stageFiles.ReadFile(path.Join("stages", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading embedded kwok stage %s: %w", e.Name(), err)
		}
		p := filepath.Join(dir, e.Name())
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return nil, fmt.Errorf("writing %s: %w", p, err)
		}
		args = append(args, "--config="+p)
	}
	return args, nil
}

// writeKubeconfig writes an admin kubeconfig whose cluster, user and context are
// all named ContextName.
func writeKubeconfig(path, server string, caPEM []byte, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[ContextName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[ContextName] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[ContextName] = &clientcmdapi.Context{Cluster: ContextName, AuthInfo: ContextName, Namespace: "default"}
	cfg.CurrentContext = ContextName
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

// WriteKubeconfig writes a copy of the cluster's kubeconfig to path (creating
// its directory), readable only by the owner.
func (c *Cluster) WriteKubeconfig(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	return writeKubeconfig(path, c.cfg.Host, c.creds.caPEM, c.creds.adminToken)
}

func (c *Cluster) createStorageClasses(ctx context.Context) error {
	immediate := storagev1.VolumeBindingImmediate
	reclaim := corev1.PersistentVolumeReclaimDelete
	for _, name := range StorageClasses {
		sc := &storagev1.StorageClass{
			ObjectMeta:        metav1.ObjectMeta{Name: name},
			Provisioner:       Provisioner,
			ReclaimPolicy:     &reclaim,
			VolumeBindingMode: &immediate,
		}
		if name == DefaultStorageClass {
			sc.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
		}
		_, err := c.clientset.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{FieldManager: FieldManager})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating storage class %s: %w", name, err)
		}
	}
	return nil
}

func (c *Cluster) createNodes(ctx context.Context, opts ClusterOptions) error {
	capacity := corev1.ResourceList{}
	for name, q := range map[corev1.ResourceName]string{
		corev1.ResourceCPU:              opts.NodeCPU,
		corev1.ResourceMemory:           opts.NodeMemory,
		corev1.ResourcePods:             strconv.Itoa(opts.NodePods),
		corev1.ResourceEphemeralStorage: "1Ti",
	} {
		v, err := resource.ParseQuantity(q)
		if err != nil {
			return fmt.Errorf("node capacity %s=%q: %w", name, q, err)
		}
		capacity[name] = v
	}
	for i := range opts.Nodes {
		name := fmt.Sprintf("sim-node-%d", i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{NodeAnnotation: NodeAnnotationValue},
				Labels: map[string]string{
					"kubernetes.io/hostname":      name,
					"kubernetes.io/os":            "linux",
					"kubernetes.io/arch":          "amd64",
					"topology.kubernetes.io/zone": opts.Zones[i%len(opts.Zones)],
					"type":                        "kwok",
				},
			},
			Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
		}
		_, err := c.clientset.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{FieldManager: FieldManager})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating node %s: %w", name, err)
		}
		c.nodes = append(c.nodes, name)
	}
	return nil
}

// waitUsable waits until every node is Ready and untainted (kwok and the node
// controller agree) and the controller manager has given the default namespace
// its ServiceAccount and root CA ConfigMap.
func (c *Cluster) waitUsable(ctx context.Context) error {
	last := "nothing checked yet"
	for {
		ok, why, err := c.usable(ctx)
		if err != nil {
			last = err.Error()
		} else if ok {
			return nil
		} else {
			last = why
		}
		for _, p := range []*process{c.controllerManager, c.scheduler, c.kwok} {
			if p.exited() {
				return fmt.Errorf("%s exited (%v) before the cluster was usable", p.name, p.waitErr)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("simulated cluster not usable (%w): %s", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Cluster) usable(ctx context.Context) (bool, string, error) {
	nodes, err := c.clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, "", err
	}
	ready := map[string]bool{}
	for _, n := range nodes.Items {
		if len(n.Spec.Taints) > 0 {
			return false, fmt.Sprintf("node %s has taints %v", n.Name, n.Spec.Taints), nil
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				ready[n.Name] = true
			}
		}
	}
	var notReady []string
	for _, n := range c.nodes {
		if !ready[n] {
			notReady = append(notReady, n)
		}
	}
	if len(notReady) > 0 {
		sort.Strings(notReady)
		return false, "nodes not Ready: " + strings.Join(notReady, ", "), nil
	}
	if _, err := c.clientset.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		return false, "no default ServiceAccount yet: " + err.Error(), nil
	}
	if _, err := c.clientset.CoreV1().ConfigMaps("default").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); err != nil {
		return false, "no kube-root-ca.crt ConfigMap yet: " + err.Error(), nil
	}
	return true, "", nil
}
