package greptimedb

import (
	"errors"
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"tsdb-platform/components/kube"
)

// MetaType is the meta component's type token.
const MetaType = "tsdb:greptimedb:Meta"

// MetaArgs configures GreptimeDB's metasrv.
type MetaArgs struct {
	Common
	Replicas  int
	Resources kube.Resources
	// StoreAddrs are the etcd endpoints (host:port) meta keeps its state in.
	StoreAddrs []pulumi.StringInput
	// StoreKeyPrefix keeps this cluster's keys apart from others sharing the etcd.
	StoreKeyPrefix       string
	EnableRegionFailover bool
	// EtcdPods select the etcd members meta may reach when isolation is enabled;
	// nil (external etcd) allows the store ports to any destination.
	EtcdPods pulumi.StringMap
	// StorePorts are the TCP ports of the store endpoints, for egress rules.
	StorePorts []int
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
}

type metaWALConfig struct {
	Provider        string   `toml:"provider"`
	BrokerEndpoints []string `toml:"broker_endpoints"`
}

// Validate reports what is wrong with the arguments.
func (a *MetaArgs) Validate() error {
	if a == nil {
		return errors.New("args are required")
	}
	errs := []error{a.Common.validate(), validateReplicas(a.Replicas)}
	if len(a.StoreAddrs) == 0 {
		errs = append(errs, errors.New("storeAddrs: at least one etcd endpoint is required"))
	}
	if a.StoreKeyPrefix == "" {
		errs = append(errs, errors.New("storeKeyPrefix is required"))
	}
	if a.EnableRegionFailover && !a.WAL.Remote() {
		// v1.1.4 src/meta-srv/src/metasrv/builder.rs refuses to start: "Region failover
		// is not supported in the local WAL implementation!"
		errs = append(errs, errors.New("enableRegionFailover: needs the kafka WAL"))
	}
	return errors.Join(errs...)
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
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("meta %q: %w", name, err)
	}
	m := &Meta{}
	if err := ctx.RegisterComponentResource(MetaType, name, m, opts...); err != nil {
		return nil, fmt.Errorf("meta %q: %w", name, err)
	}
	id := args.identity("meta")
	parent := pulumi.Parent(m)
	objName := MetaName(args.Cluster)

	m.Config = renderConfig(func(addrs []string) any {
		return metaConfig{
			DataHome:             DataHome,
			Backend:              "etcd_store",
			StoreAddrs:           addrs,
			StoreKeyPrefix:       args.StoreKeyPrefix,
			EnableRegionFailover: args.EnableRegionFailover,
			Logging:              args.logging(),
			WAL:                  newMetaWALConfig(args.WAL),
		}
	}, args.StoreAddrs...)

	var err error
	if m.ConfigMap, err = newConfigMap(ctx, name, id, args.Namespace, m.Config, parent); err != nil {
		return nil, fmt.Errorf("meta %q: %w", name, err)
	}
	m.Service, err = corev1.NewService(ctx, objName, &corev1.ServiceArgs{
		Metadata: id.ObjectMeta(objName, args.Namespace),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: id.Selector(),
			Ports:    corev1.ServicePortArray{kube.ServicePort("rpc", MetaRPCPort), kube.ServicePort("http", HTTPPort)},
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("meta %q: service: %w", name, err)
	}
	m.Deployment, err = newMetaDeployment(ctx, objName, id, args, m, parent)
	if err != nil {
		return nil, fmt.Errorf("meta %q: %w", name, err)
	}
	if _, err := kube.NewPodDisruptionBudget(ctx, objName, id, args.Namespace, args.Replicas, parent); err != nil {
		return nil, fmt.Errorf("meta %q: %w", name, err)
	}
	if args.Isolation.Enabled {
		if err := newMetaNetworkPolicy(ctx, objName, id, args, parent); err != nil {
			return nil, fmt.Errorf("meta %q: %w", name, err)
		}
	}
	m.Address = MetaAddress(args.Cluster, args.Namespace, args.ClusterDomain)
	m.HealthURL = MetaHealthURL(args.Cluster, args.Namespace, args.ClusterDomain)
	if err := ctx.RegisterResourceOutputs(m, pulumi.Map{
		"address":   m.Address,
		"healthUrl": m.HealthURL,
	}); err != nil {
		return nil, fmt.Errorf("meta %q: %w", name, err)
	}
	return m, nil
}

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

func newMetaDeployment(ctx *pulumi.Context, objName string, id kube.Identity, args *MetaArgs, m *Meta,
	parent pulumi.ResourceOption,
) (*appsv1.Deployment, error) {
	etcdHealth := make([]pulumi.StringInput, len(args.StoreAddrs))
	for i, addr := range args.StoreAddrs {
		etcdHealth[i] = pulumi.Sprintf("http://%s/health", addr)
	}
	main := corev1.ContainerArgs{
		Name:  pulumi.String("meta"),
		Image: pulumi.String(args.Image),
		Args:  pulumi.ToStringArray(MetaArgsLine()),
		Env:   podEnv(),
		Ports: corev1.ContainerPortArray{kube.ContainerPort("rpc", MetaRPCPort), kube.ContainerPort("http", HTTPPort)},
		VolumeMounts: append(baseMounts(),
			corev1.VolumeMountArgs{Name: pulumi.String("data"), MountPath: pulumi.String(DataHome)}),
		Resources:       args.Resources.Args(),
		SecurityContext: kube.ContainerSecurityContext(),
	}
	healthProbes(&main)
	opts := append([]pulumi.ResourceOption{parent}, dependsOn(args.WaitFor)...)
	dep, err := appsv1.NewDeployment(ctx, objName, &appsv1.DeploymentArgs{
		Metadata: id.ObjectMeta(objName, args.Namespace),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(args.Replicas),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: id.Selector()},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: id.Labels(), Annotations: podAnnotations(m.Config)},
				Spec: &corev1.PodSpecArgs{
					SecurityContext: kube.PodSecurityContext(UID),
					Affinity:        kube.AntiAffinity(args.AntiAffinity, id.Selector()),
					InitContainers:  corev1.ContainerArray{waitContainer("wait-etcd", args.waitImage(), "etcd", etcdHealth...)},
					Containers:      corev1.ContainerArray{main},
					Volumes: corev1.VolumeArray{
						configVolume(m.ConfigMap.Metadata.Name().Elem()),
						kube.EmptyDir("tmp", "1Gi"),
						kube.EmptyDir("data", "1Gi"),
					},
				},
			},
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("deployment: %w", err)
	}
	return dep, nil
}

// newMetaNetworkPolicy: datanodes, frontends and the other meta replicas (which
// forward to the leader) reach meta; meta reaches etcd and the datanodes.
func newMetaNetworkPolicy(ctx *pulumi.Context, objName string, id kube.Identity, args *MetaArgs, parent pulumi.ResourceOption) error {
	callers := []networkingv1.NetworkPolicyPeerArgs{
		kube.PodsPeer(args.identity("datanode").Selector()),
		kube.PodsPeer(args.identity("frontend").Selector()),
		kube.PodsPeer(id.Selector()),
	}
	ingress := []kube.Flow{{Peers: callers, Ports: []int{MetaRPCPort, HTTPPort}}}
	store := kube.Flow{Ports: args.StorePorts}
	if len(store.Ports) == 0 {
		store.Ports = []int{2379}
	}
	if args.EtcdPods != nil {
		store.Peers = []networkingv1.NetworkPolicyPeerArgs{kube.PodsPeer(args.EtcdPods)}
	}
	egress := []kube.Flow{
		store,
		{Peers: []networkingv1.NetworkPolicyPeerArgs{kube.PodsPeer(id.Selector())}, Ports: []int{MetaRPCPort}},
		{Peers: []networkingv1.NetworkPolicyPeerArgs{kube.PodsPeer(args.identity("datanode").Selector())}, Ports: []int{GRPCPort}},
	}
	_, err := kube.NewNetworkPolicy(ctx, objName, id, args.Namespace, ingress, egress, parent)
	return err
}

func newMetaWALConfig(w WAL) *metaWALConfig {
	if !w.Remote() {
		return nil
	}
	return &metaWALConfig{Provider: WALKafka, BrokerEndpoints: w.BrokerEndpoints}
}
