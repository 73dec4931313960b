package greptimedb

import (
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/etcd"
	"tsdb-platform/components/kube"
)

// MetaType is the meta component's type token.
const MetaType = "tsdb:greptimedb:Meta"

// MetaArgs configures GreptimeDB's metasrv.
type MetaArgs struct {
	Common
	Spec MetaSpec
	// StoreAddrs are the etcd endpoints (host:port) meta keeps its state in.
	StoreAddrs []pulumi.StringInput
	// StoreKeyPrefix keeps this cluster's keys apart from others sharing the etcd.
	StoreKeyPrefix string
	// EtcdPods select the etcd members meta may reach when isolation is enabled;
	// nil (external etcd) allows the store ports to any destination.
	EtcdPods map[string]string
	// StorePorts are the TCP ports of the store endpoints, for egress rules.
	StorePorts []int
	// StoreHealthURLs are polled by the init container until etcd answers;
	// empty means http://<store addr>/health.
	StoreHealthURLs []pulumi.StringInput
	// StoreTLS is the deployed etcd's TLS: meta then connects with its client certificate.
	StoreTLS etcd.TLSSpec
	// WaitFor are the resources meta's Deployment starts after (the etcd cluster).
	WaitFor []pulumi.Resource
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

func newBackendTLSConfig(t etcd.TLSSpec) *backendTLSConfig {
	if !t.Enabled {
		return nil
	}
	dir := etcd.TLSClientDir
	return &backendTLSConfig{Mode: tlsModeRequire, CertPath: dir + "/tls.crt", KeyPath: dir + "/tls.key", CACertPath: dir + "/ca.crt"}
}

type metaWALConfig struct {
	Provider        string   `toml:"provider"`
	BrokerEndpoints []string `toml:"broker_endpoints"`
}

// Validate reports every problem of the arguments.
func (a *MetaArgs) Validate() field.ErrorList {
	if a == nil {
		return field.ErrorList{field.Required(nil, "args are required")}
	}
	errs := append(a.Common.validate(), a.Spec.Validate(field.NewPath("meta"))...)
	if len(a.StoreAddrs) == 0 {
		errs = append(errs, field.Required(field.NewPath("storeAddrs"), "at least one etcd endpoint"))
	}
	if a.StoreKeyPrefix == "" {
		errs = append(errs, field.Required(field.NewPath("storeKeyPrefix"), "keeps this cluster's keys apart in a shared etcd"))
	}
	if a.Spec.EnableRegionFailover && !a.WAL.Remote() {
		// v1.1.4 src/meta-srv/src/metasrv/builder.rs refuses to start: "Region failover
		// is not supported in the local WAL implementation!"
		errs = append(errs, field.Invalid(field.NewPath("meta", "enableRegionFailover"), true, "needs the kafka WAL"))
	}
	return errs
}

// MetaClient is what a component that talks to meta needs.
type MetaClient struct {
	// Address is meta's host:port (for --metasrv-addrs).
	Address pulumi.StringInput
	// HealthURL is polled by the init container until meta answers.
	HealthURL pulumi.StringInput
	// WaitFor are the resources the component's workload starts after.
	WaitFor []pulumi.Resource
}

// validate reports the problems of a meta client's arguments: the shared ones,
// the spec's (given), and the meta endpoints'.
func (m MetaClient) validate(common Common, spec field.ErrorList) field.ErrorList {
	errs := append(common.validate(), spec...)
	if m.Address == nil || m.HealthURL == nil {
		errs = append(errs, field.Required(field.NewPath("meta"), "meta's address and health URL are required"))
	}
	return errs
}

// MetaAddress is host:port of the meta Service of a cluster, built from names
// alone so the referrer does not wait for meta's pods.
func MetaAddress(cluster string, namespace pulumi.StringInput, domain string) pulumi.StringOutput {
	return pulumi.Sprintf("%s:%d", kube.ServiceFQDN(MetaName(cluster), namespace, domain), MetaRPCPort)
}

// MetaHealthURL is the health endpoint of the meta Service of a cluster.
func MetaHealthURL(cluster string, namespace pulumi.StringInput, domain string) pulumi.StringOutput {
	return pulumi.Sprintf("http://%s:%d%s", kube.ServiceFQDN(MetaName(cluster), namespace, domain), HTTPPort, HealthPath)
}

// NewMeta creates the metasrv of a cluster: a ConfigMap, a Service and a
// Deployment that starts after args.WaitFor.
func NewMeta(ctx *pulumi.Context, name string, args *MetaArgs, opts ...pulumi.ResourceOption) (*Meta, error) {
	m := &Meta{}
	return kube.NewComponent(ctx, "meta", MetaType, name, m, args.Validate, func(k kube.Component) (pulumi.Map, error) {
		b := &metaBuilder{part: newPart(k, args.Common, "meta", MetaName(args.Cluster)), args: args}
		// Under isolation Prometheus may not reach meta's HTTP port (see flows).
		b.unscraped = args.Isolation.Enabled
		return b.build(m)
	}, opts...)
}

// metaBuilder creates meta's children.
type metaBuilder struct {
	part
	args *MetaArgs
}

// build creates the children and returns the component's outputs.
func (b *metaBuilder) build(m *Meta) (pulumi.Map, error) {
	m.Config = renderConfig(func(addrs []string) any {
		return metaConfig{
			DataHome:             DataHome,
			Backend:              "etcd_store",
			StoreAddrs:           addrs,
			StoreKeyPrefix:       b.args.StoreKeyPrefix,
			EnableRegionFailover: b.args.Spec.EnableRegionFailover,
			Logging:              b.logging(),
			WAL:                  newMetaWALConfig(b.WAL),
			BackendTLS:           newBackendTLSConfig(b.args.StoreTLS),
		}
	}, b.args.StoreAddrs...)
	var err error
	if m.ConfigMap, err = b.newConfigMap(m.Config); err != nil {
		return nil, err
	}
	if m.Service, err = b.newService(nil, &corev1.ServiceSpecArgs{Type: pulumi.String("ClusterIP"), Ports: kube.ServicePorts(metaPorts...)}); err != nil {
		return nil, err
	}
	if m.Deployment, err = b.newDeployment(m); err != nil {
		return nil, err
	}
	if err := b.finish(b.args.Spec.Replicas, b.flows); err != nil {
		return nil, err
	}
	m.Address = MetaAddress(b.Cluster, b.Namespace, b.ClusterDomain)
	m.HealthURL = MetaHealthURL(b.Cluster, b.Namespace, b.ClusterDomain)
	return pulumi.Map{"address": m.Address, "healthUrl": m.HealthURL}, nil
}

// metaPorts are meta's gRPC and HTTP ports.
var metaPorts = []kube.Port{{Name: "rpc", Number: MetaRPCPort}, {Name: "http", Number: HTTPPort}}

// MetaArgsLine is metasrv's command line after the image's entrypoint.
func MetaArgsLine() []string {
	return []string{
		"metasrv", "start",
		"--rpc-bind-addr", fmt.Sprintf("0.0.0.0:%d", MetaRPCPort),
		"--rpc-server-addr", fmt.Sprintf("$(POD_IP):%d", MetaRPCPort),
		"--http-addr", fmt.Sprintf("0.0.0.0:%d", HTTPPort),
		"--config-file", ConfigFile,
	}
}

func (b *metaBuilder) newDeployment(m *Meta) (*appsv1.Deployment, error) {
	etcdHealth := b.args.StoreHealthURLs
	if len(etcdHealth) == 0 {
		for _, addr := range b.args.StoreAddrs {
			etcdHealth = append(etcdHealth, pulumi.Sprintf("http://%s/health", addr))
		}
	}
	mounts := []corev1.VolumeMountInput{dataMount("data")}
	if b.args.StoreTLS.Enabled {
		mounts = append(mounts, etcd.ClientCertMount())
	}
	main := b.container(metaPorts, b.args.Spec.Resources, mounts...)
	main.Args = pulumi.ToStringArray(MetaArgsLine())
	volumes := corev1.VolumeArray{
		configVolume(m.ConfigMap.Metadata.Name().Elem()),
		kube.EmptyDir("tmp", "1Gi"),
		kube.EmptyDir("data", "1Gi"),
	}
	volumes = append(volumes, etcd.ClientCertVolumes(b.args.StoreTLS)...)
	opts := append([]pulumi.ResourceOption{b.Parent}, kube.DependsOn(b.args.WaitFor)...)
	dep, err := appsv1.NewDeployment(b.Ctx, b.objName, &appsv1.DeploymentArgs{
		Metadata: b.id.ObjectMeta(b.objName, b.Namespace),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(b.args.Spec.Replicas),
			Selector: b.id.LabelSelector(),
			Template: b.podTemplate(podAnnotations(m.Config),
				waitContainer("wait-etcd", b.WaitImage, "etcd", etcdHealth...), main, volumes),
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("deployment: %w", err)
	}
	return dep, nil
}

// flows: datanodes, frontends and the other meta replicas (which forward to the
// leader) reach meta; meta reaches etcd, the datanodes and the Kafka brokers.
//
// Prometheus is not admitted, although meta serves /metrics on its HTTP port:
// metasrv v1.1.4 serves its admin API on that same port without authentication
// (src/meta-srv/src/bootstrap.rs adds admin_axum_router to the HTTP server that
// also has the metrics handler; src/meta-srv/src/service/admin.rs: maintenance,
// procedure-manager, recovery, sequencer set-next-id), and has no separate
// metrics port nor a way to push its metrics. Under isolation meta's metrics are
// therefore not scraped (the part is unscraped: no annotations, PodMonitor or flow).
func (b *metaBuilder) flows() (ingress, egress []kube.Flow, err error) {
	self := b.id.Peer()
	ingress = []kube.Flow{
		kube.Allow([]int{MetaRPCPort, HTTPPort}, b.peer("datanode"), b.peer("frontend")),
		kube.Allow([]int{MetaRPCPort}, self),
		kube.Allow([]int{HTTPPort}, b.peer(MaintenanceComponent)),
	}
	store := kube.Flow{Ports: b.args.StorePorts}
	if len(store.Ports) == 0 {
		store.Ports = []int{2379}
	}
	if b.args.EtcdPods != nil {
		store = kube.Allow(store.Ports, kube.PodsPeer(b.args.EtcdPods))
	}
	egress = []kube.Flow{
		store,
		kube.Allow([]int{MetaRPCPort}, self),
		kube.Allow([]int{GRPCPort}, b.peer("datanode")),
	}
	// With the Kafka WAL, metasrv creates and manages the WAL's topics.
	kafka, err := b.WAL.brokerEgress()
	if err != nil {
		return nil, nil, err
	}
	return ingress, append(egress, kafka...), nil
}

func newMetaWALConfig(w WAL) *metaWALConfig {
	if !w.Remote() {
		return nil
	}
	return &metaWALConfig{Provider: string(WALKafka), BrokerEndpoints: w.BrokerEndpoints}
}
