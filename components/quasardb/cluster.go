package quasardb

import (
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/kube"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "tsdb:quasardb:Cluster"

// Ports QuasarDB listens on.
const (
	// clientPort carries the client protocol and most of the traffic between nodes.
	clientPort = 2836
	// controlPort carries the low-volume cluster control messages between nodes.
	controlPort = 2837
)

// Port names, shared by the container and both Services (at most 15 characters).
const (
	clientPortName  = "client"
	controlPortName = "control"
)

// Identity of the cluster's pods: app.kubernetes.io/name and component.
const (
	appName       = "quasardb"
	componentName = "database"
)

// Cluster is a deployed QuasarDB cluster.
type Cluster struct {
	pulumi.ResourceState

	// HeadlessService (<name>-hs) gives the StatefulSet's pods their DNS identities.
	HeadlessService *corev1.Service
	// ClientService (<name>-cs) is where clients connect first.
	ClientService *corev1.Service
	// StatefulSet (<name>) runs the nodes.
	StatefulSet *appsv1.StatefulSet
	// ServiceAccount (<name>) is the nodes' own account, for workload identity
	// (nil when serviceAccount has no annotations).
	ServiceAccount *corev1.ServiceAccount

	// URI is the client entry point, qdb://<name>-cs.<ns>.svc.<domain>:2836.
	URI pulumi.StringOutput
	// PodAddresses are every node's address through the headless Service, by ordinal:
	// qdb://<name>-<i>.<name>-hs.<ns>.svc.<domain>:2836.
	PodAddresses pulumi.StringArray
	// ClusterPublicKey is the key clients need to connect to a secured cluster;
	// empty when security is off.
	ClusterPublicKey pulumi.StringOutput
}

// NewCluster creates a QuasarDB cluster named name (a DNS-1123 label; the
// StatefulSet is named after it and the Services <name>-hs and <name>-cs).
func NewCluster(ctx *pulumi.Context, name string, args *ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	c := &Cluster{}
	validate := func() field.ErrorList { return args.Validate(name) }
	return kube.NewComponent(ctx, "quasardb", TypeToken, name, c, validate, func(k kube.Component) (pulumi.Map, error) {
		limiter, err := MemoryLimiterFor(string(args.Spec.Resources.Limits.Memory))
		if err != nil {
			return nil, err
		}
		tuningEnv, err := args.Spec.Tuning.env()
		if err != nil {
			return nil, err
		}
		// Prometheus scrapes the exporter sidecar; without it, nothing.
		var scrape *kube.Scrape
		if args.Spec.Exporter.Enabled {
			scrape = &exporterScrape
		}
		b := &builder{
			Workload: kube.Workload{
				Component: k,
				Env:       args.Env,
				ID:        kube.Identity{App: appName, Instance: name, Component: componentName},
				Scrape:    scrape,
			},
			spec:      args.Spec,
			limiter:   limiter,
			tuningEnv: tuningEnv,
		}
		return b.build(c)
	}, opts...)
}

// builder creates the component's children.
type builder struct {
	kube.Workload
	spec    ClusterSpec
	limiter MemoryLimiter
	// tuningEnv are the wrapper's variables of the tuning that is set.
	tuningEnv corev1.EnvVarArray
}

func (b *builder) headlessName() string { return b.Name + "-hs" }
func (b *builder) clientName() string   { return b.Name + "-cs" }

// build creates the children and returns the component's outputs.
func (b *builder) build(c *Cluster) (pulumi.Map, error) {
	var err error
	if c.HeadlessService, err = b.newService(b.headlessName(), true); err != nil {
		return nil, err
	}
	if c.ClientService, err = b.newService(b.clientName(), false); err != nil {
		return nil, err
	}
	keys, err := b.newKeySecrets()
	if err != nil {
		return nil, err
	}
	if err := b.newTieredStorageSecret(&keys); err != nil {
		return nil, err
	}
	if b.spec.ServiceAccount.Enabled() {
		if c.ServiceAccount, err = b.NewServiceAccount(b.Name, b.spec.ServiceAccount); err != nil {
			return nil, err
		}
		keys.serviceAccount = c.ServiceAccount.Metadata.Name().Elem()
	}
	if b.spec.Exporter.Enabled && b.spec.Security.Enabled {
		if keys.publicKey, err = b.newPublicKeyConfigMap(); err != nil {
			return nil, err
		}
	}
	// The dashboard shows the exporter's series: none without it.
	if m := b.Monitoring(); m.Enabled && m.Dashboards {
		if err := b.newDashboard(); err != nil {
			return nil, err
		}
	}
	// The alerts read kube-state-metrics: they need no exporter.
	if err := b.Env.Monitoring.NewPrometheusRule(b.Ctx, b.Name+"-alerts", b.alertsIdentity(), b.Namespace, b.alerts, b.Parent); err != nil {
		return nil, err
	}
	if c.StatefulSet, err = b.newStatefulSet(c.HeadlessService, keys); err != nil {
		return nil, err
	}
	ingress, egress := b.flows()
	// One node at a time: with replication the data stays available, and a
	// restarted node rejoins the ring before the next may go.
	if err := b.Finish(b.Name, b.spec.Replicas, ingress, egress); err != nil {
		return nil, err
	}
	b.setEndpoints(c)
	outputs := pulumi.Map{"uri": c.URI, "podAddresses": c.PodAddresses}
	if b.spec.Security.Enabled {
		outputs["clusterPublicKey"] = c.ClusterPublicKey
	}
	return outputs, nil
}

// newService creates the headless Service that names the pods, or the client
// Service. The headless one publishes not-ready addresses: the image's entrypoint
// resolves every lower-ordinal peer's DNS name before the daemon starts, and that
// must work while a peer restarts (not Ready) too, or a node restarting next to a
// restarting peer crash-loops on "unable to resolve host name of peer".
func (b *builder) newService(name string, headless bool) (*corev1.Service, error) {
	spec := &corev1.ServiceSpecArgs{
		Ports: corev1.ServicePortArray{
			kube.ServicePort(clientPortName, clientPort),
			kube.ServicePort(controlPortName, controlPort),
		},
	}
	if headless {
		spec.ClusterIP = pulumi.String("None")
		spec.PublishNotReadyAddresses = pulumi.Bool(true)
	} else {
		spec.Type = pulumi.String("ClusterIP")
	}
	return b.NewService(name, kube.Metadata{}, spec)
}

// setEndpoints fills the cluster's endpoint outputs.
func (b *builder) setEndpoints(c *Cluster) {
	ns, domain := b.Namespace, b.ClusterDomain
	c.URI = pulumi.Sprintf("qdb://%s:%d", kube.ServiceFQDN(b.clientName(), ns, domain), clientPort)
	headless := kube.ServiceFQDN(b.headlessName(), ns, domain)
	c.PodAddresses = make(pulumi.StringArray, b.spec.Replicas)
	for i := range b.spec.Replicas {
		c.PodAddresses[i] = pulumi.Sprintf("qdb://%s-%d.%s:%d", b.Name, i, headless, clientPort)
	}
	publicKey := ""
	if s := b.spec.Security; s.Enabled {
		publicKey = s.ClusterPublicKey
	}
	c.ClusterPublicKey = pulumi.String(publicKey).ToStringOutput()
}

// flows isolate the pods: nodes talk to each other on both ports; clients
// reach only the client port (Finish adds the exporter's scrape). Clients never
// need the control port: it carries node-to-node cluster control messages, and
// clients are redirected to the nodes' client ports. With tiered storage the
// nodes reach S3 over HTTPS, at addresses the program cannot know (the wrapper
// has no endpoint variable), and with a workload identity its endpoints.
func (b *builder) flows() (ingress, egress []kube.Flow) {
	peers := kube.Allow([]int{clientPort, controlPort}, b.ID.Peer())
	ingress = []kube.Flow{peers}
	if clients := b.spec.NetworkPolicy.Peers(); len(clients) > 0 {
		// An empty peer list would mean "anyone": add the client rule only with peers.
		ingress = append(ingress, kube.Allow([]int{clientPort}, clients...))
	}
	egress = []kube.Flow{peers}
	switch {
	case b.spec.ServiceAccount.Enabled():
		// HTTPS anywhere is among them: S3 too.
		egress = append(egress, kube.WorkloadIdentityEgress()...)
	case b.spec.TieredStorage.Enabled:
		egress = append(egress, kube.Allow([]int{s3Port}))
	}
	return ingress, egress
}

// s3Port is HTTPS, where the AWS SDK reaches S3.
const s3Port = 443

// checksumAnnotations returns the pod-template annotations that roll the pods when
// a key changes: a checksum of the Secrets' contents, computed inside ApplyT so it
// stays secret. Nil when the cluster has no Secret.
func checksumAnnotations(keys keySecrets) pulumi.StringMap {
	if len(keys.contents) == 0 {
		return nil
	}
	return pulumi.StringMap{kube.ChecksumAnnotation: kube.ChecksumOutput(keys.contents...)}
}
