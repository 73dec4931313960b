package greptimedb

import (
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"tsdb-platform/components/etcd"
	"tsdb-platform/components/kube"
)

// MetaType is the meta component's type token.
const MetaType = "tsdb:greptimedb:Meta"

// MetaSpec is GreptimeDB's metasrv.
type MetaSpec struct {
	kube.Size
	Passthrough
	// EnableRegionFailover turns on metasrv's region failover; it needs the kafka
	// WAL and object storage that every datanode reads.
	EnableRegionFailover bool `json:"enableRegionFailover"`
	// Scheduling places the pods, over the stack's scheduling.
	Scheduling kube.Scheduling `json:"scheduling"`
}

// Meta is a deployed metasrv.
type Meta struct {
	pulumi.ResourceState

	ConfigMap  *corev1.ConfigMap
	Service    *corev1.Service
	Deployment *appsv1.Deployment
	// Config is the rendered TOML config.
	Config pulumi.StringOutput
	// Address is host:port of meta's gRPC Service, for --metasrv-addrs.
	Address pulumi.StringOutput
	// HealthURL is meta's health endpoint, for the waiting init containers.
	HealthURL pulumi.StringOutput
}

// metaPorts are meta's gRPC and HTTP ports.
var metaPorts = []kube.Port{{Name: "rpc", Number: MetaRPCPort}, {Name: "http", Number: HTTPPort}}

// metaConfig is metasrv's TOML config.
type metaConfig struct {
	DataHome             string        `toml:"data_home"`
	Backend              string        `toml:"backend"`
	StoreAddrs           []string      `toml:"store_addrs"`
	StoreKeyPrefix       string        `toml:"store_key_prefix"`
	EnableRegionFailover bool          `toml:"enable_region_failover"`
	Logging              loggingConfig `toml:"logging"`
	// WAL is set only for a remote WAL: metasrv must know the Kafka brokers the
	// datanodes write to (config/metasrv.example.toml [wal], v1.1.4).
	WAL *metaWALConfig `toml:"wal,omitempty"`
	// BackendTLS is set only with etcd TLS (config/metasrv.example.toml
	// [backend_tls]; any mode but disable loads the CA and the client identity,
	// src/common/meta/src/kv_backend/etcd.rs create_etcd_tls_options).
	BackendTLS *backendTLSConfig `toml:"backend_tls,omitempty"`
}

type backendTLSConfig struct {
	Mode       string `toml:"mode"`
	CertPath   string `toml:"cert_path"`
	KeyPath    string `toml:"key_path"`
	CACertPath string `toml:"ca_cert_path"`
}

func newBackendTLSConfig(e EtcdSpec) *backendTLSConfig {
	if !e.Deployed() || !e.TLS.Enabled {
		return nil
	}
	dir := etcd.TLSClientDir
	return &backendTLSConfig{Mode: tlsModeRequire, CertPath: dir + "/tls.crt", KeyPath: dir + "/tls.key", CACertPath: dir + "/ca.crt"}
}

type metaWALConfig struct {
	Provider        string         `toml:"provider"`
	BrokerEndpoints []string       `toml:"broker_endpoints"`
	SASL            *walSASLConfig `toml:"sasl,omitempty"`
	TLS             *walTLSConfig  `toml:"tls,omitempty"`
}

func newMetaWALConfig(w WAL) *metaWALConfig {
	if !w.Remote() {
		return nil
	}
	return &metaWALConfig{Provider: string(WALKafka), BrokerEndpoints: w.BrokerEndpoints, SASL: w.saslConfig(), TLS: w.tlsConfig()}
}

// metaArgsLine is metasrv's command line after the image's entrypoint.
func metaArgsLine() []string {
	return []string{
		"metasrv", "start",
		"--rpc-bind-addr", fmt.Sprintf("0.0.0.0:%d", MetaRPCPort),
		"--rpc-server-addr", fmt.Sprintf("$(POD_IP):%d", MetaRPCPort),
		"--http-addr", fmt.Sprintf("0.0.0.0:%d", HTTPPort),
		"--config-file", ConfigFile,
	}
}

// metaCalls: meta replicas forward to the leader; meta calls the datanodes
// and keeps its state in the cluster's own etcd (an external one is outside
// the table).
func metaCalls(s ClusterSpec) []call {
	calls := []call{{to: KindMeta, ports: []int{MetaRPCPort}}, callDatanodes()}
	if s.Etcd.Deployed() {
		calls = append(calls, call{to: KindEtcd, ports: storePorts(s.Etcd)})
	}
	return calls
}

// buildMeta creates the cluster's metasrv: a ConfigMap, a Service and a
// Deployment that starts after etcd.
func buildMeta(c *clusterBuilder, cl *Cluster) (pulumi.Resource, error) {
	m := &Meta{}
	cl.Meta = m
	_, err := newComponent(c, KindMeta, MetaType, m, func(p part) (pulumi.Map, error) {
		b := &metaBuilder{p}
		if b.Isolation.Enabled {
			// Under isolation Prometheus may not reach meta's HTTP port (see build).
			b.Scrape = nil
		}
		return b.build(m)
	})
	return m.Deployment, err
}

// metaBuilder creates meta's children.
type metaBuilder struct{ part }

// build creates the children and returns the component's outputs.
//
// Prometheus is not admitted under isolation, although meta serves /metrics on
// its HTTP port: metasrv v1.1.4 serves its admin API on that same port without
// authentication (src/meta-srv/src/bootstrap.rs adds admin_axum_router to the
// HTTP server that also has the metrics handler; src/meta-srv/src/service/admin.rs:
// maintenance, procedure-manager, recovery, sequencer set-next-id), and has no
// separate metrics port nor a way to push its metrics. Under isolation meta's
// metrics are therefore not scraped (no annotations, PodMonitor or flow).
func (b *metaBuilder) build(m *Meta) (pulumi.Map, error) {
	store := b.spec.Etcd
	m.Config = b.renderConfig(func(addrs []string) any {
		return metaConfig{
			DataHome:             DataHome,
			Backend:              "etcd_store",
			StoreAddrs:           addrs,
			StoreKeyPrefix:       b.cluster,
			EnableRegionFailover: b.spec.Meta.EnableRegionFailover,
			Logging:              b.logging(),
			WAL:                  newMetaWALConfig(b.spec.WAL),
			BackendTLS:           newBackendTLSConfig(store),
		}
	}, storeAddrs(store, b.cluster, b.Namespace, b.ClusterDomain)...)
	var err error
	if m.ConfigMap, err = b.newConfigMap(m.Config); err != nil {
		return nil, err
	}
	if m.Service, err = b.newService(kube.Metadata{}, &corev1.ServiceSpecArgs{Type: pulumi.String("ClusterIP")}); err != nil {
		return nil, err
	}
	if m.Deployment, err = b.newDeployment(m); err != nil {
		return nil, err
	}
	var egress []kube.Flow
	if !store.Deployed() {
		// An external etcd is at addresses the program cannot know.
		egress = append(egress, kube.Allow(storePorts(store)))
	}
	// With the Kafka WAL, metasrv creates and manages the WAL's topics.
	if err := b.finish(b.spec.Meta.Replicas, nil, append(egress, b.spec.WAL.brokerEgress()...)); err != nil {
		return nil, err
	}
	m.Address = b.metaAddress()
	m.HealthURL = b.healthURLs(KindMeta)[0].ToStringOutput()
	return pulumi.Map{"address": m.Address, "healthUrl": m.HealthURL}, nil
}

func (b *metaBuilder) newDeployment(m *Meta) (*appsv1.Deployment, error) {
	tls := b.spec.Etcd.Deployed() && b.spec.Etcd.TLS.Enabled
	mounts := []corev1.VolumeMountInput{dataMount("data")}
	if tls {
		mounts = append(mounts, etcd.ClientCertMount())
	}
	main := b.container(b.spec.Meta.Resources, mounts...)
	main.Args = pulumi.ToStringArray(metaArgsLine())
	vols := volumes(m.ConfigMap.Metadata.Name().Elem(), append(corev1.VolumeArray{kube.EmptyDir("data", "1Gi")},
		b.spec.WAL.withKafkaAuth(KindMeta, &main)...)...)
	if tls {
		vols = append(vols, etcd.ClientCertVolumes(b.spec.Etcd.TLS)...)
	}
	dep, err := appsv1.NewDeployment(b.Ctx, b.objName, &appsv1.DeploymentArgs{
		Metadata: b.ID.ObjectMeta(b.objName, b.Namespace),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(b.spec.Meta.Replicas),
			Selector: b.ID.LabelSelector(),
			Template: b.podTemplate(podAnnotations(m.Config), main, vols, nil),
		},
	}, append([]pulumi.ResourceOption{b.Parent}, kube.DependsOn(b.after)...)...)
	if err != nil {
		return nil, fmt.Errorf("deployment: %w", err)
	}
	return dep, nil
}

// brokerEgress lets the pods reach the Kafka brokers' ports (none with the
// local WAL). The brokers are named by host:port, at addresses the program
// cannot know, so the ports are open to any destination.
func (w WAL) brokerEgress() []kube.Flow {
	if !w.Remote() {
		return nil
	}
	var ports []int
	for _, ep := range w.BrokerEndpoints {
		if port, err := kube.HostPort(ep); err == nil {
			ports = append(ports, port)
		}
	}
	return []kube.Flow{kube.Allow(ports)}
}

// metaPanels are meta's dashboard series.
func metaPanels(pods string) []kube.Panel {
	return []kube.Panel{
		{Title: "Meta: KV requests/s", Unit: "short", Expr: fmt.Sprintf(`sum(rate(greptime_meta_kv_request_elapsed_count{%s}[$__rate_interval]))`, pods)},
	}
}
