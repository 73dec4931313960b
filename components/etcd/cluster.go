// Package etcd deploys a statically bootstrapped etcd cluster on Kubernetes: a
// StatefulSet with one PVC per member, a headless peer Service that publishes
// not-ready addresses (members must find each other before any is ready) and a
// client Service.
package etcd

import (
	"fmt"
	"slices"
	"strings"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/kube"
)

// typeToken is the component's type token.
const typeToken = "tsdb:etcd:Cluster"

// Ports and paths of every member.
const (
	ClientPort  = 2379
	PeerPort    = 2380
	MetricsPort = 8080
	// dataMount is where the member's PVC is mounted. The data directory is a
	// subdirectory etcd creates itself with the 0700 mode it insists on.
	dataMount = "/var/run/etcd"
	dataDir   = dataMount + "/default.etcd"
	// dataVolume names the volume claim template.
	dataVolume = "data"
)

// UID is the user the etcd container runs as: the distroless base image's
// "nonroot" user. The image needs no particular user; the PVC is group-owned
// through fsGroup.
const UID = 65532

// Tuning flags GreptimeDB recommends for the etcd behind its metasrv.
var greptimeTuning = []string{
	"--auto-compaction-mode=periodic",
	"--auto-compaction-retention=1h",
	"--quota-backend-bytes=8589934592",
	"--election-timeout=2000",
	"--snapshot-count=10000",
}

// Spec is an etcd cluster's configuration: plain data, decoded from stack config.
type Spec struct {
	// Replicas is the member count: 1, 3, 5 or 7.
	Replicas int `json:"replicas"`
	// Image is a pinned etcd image (>= v3.5.12 for /readyz and /livez).
	Image     string         `json:"image"`
	Resources kube.Resources `json:"resources"`
	Storage   kube.Storage   `json:"storage"`
	// TLS secures the client and peer ports with certificates from Secrets.
	TLS TLSSpec `json:"tls"`
	// Scheduling places the members (and the snapshot Jobs), over the stack's.
	Scheduling kube.Scheduling `json:"scheduling"`
}

// Validate reports every problem of the spec, at p.
func (s Spec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !validMemberCount(s.Replicas) {
		errs = append(errs, field.Invalid(p.Child("replicas"), s.Replicas, "etcd needs an odd member count (1, 3, 5, 7)"))
	}
	errs = append(errs, kube.ValidateImage(s.Image, p.Child("image"))...)
	errs = append(errs, s.Resources.Validate(p.Child("resources"))...)
	errs = append(errs, s.TLS.Validate(p.Child("tls"))...)
	errs = append(errs, s.Scheduling.Validate(p.Child("scheduling"))...)
	return append(errs, s.Storage.Validate(p.Child("storage"))...)
}

// ClusterArgs configures an etcd cluster.
type ClusterArgs struct {
	Spec Spec
	kube.Env
	// Instance is the app.kubernetes.io/instance label: the application cluster
	// this etcd serves, so two clusters in a namespace select distinct pods.
	Instance string
	// AntiAffinity spreads the members over nodes.
	AntiAffinity kube.AntiAffinityMode
	// ClientPods select the pods allowed to reach the client port when
	// isolation is enabled (GreptimeDB's meta pods).
	ClientPods []map[string]string
	// Token is the initial cluster token; empty derives one unique to the
	// project, stack and cluster name.
	Token string
	// Backup saves snapshots on a schedule when enabled.
	Backup BackupSpec
	// ShellImage is a small image with a shell (busybox) that names and rotates
	// the snapshots; required with Backup.
	ShellImage string
}

// Cluster is a deployed etcd cluster.
type Cluster struct {
	pulumi.ResourceState

	// StatefulSet runs the members.
	StatefulSet *appsv1.StatefulSet
	// PeerService is the headless Service giving members stable DNS names.
	PeerService *corev1.Service
	// ClientService load-balances clients over the members.
	ClientService *corev1.Service
	// ClientEndpoint is host:port of the client Service.
	ClientEndpoint pulumi.StringOutput
}

// Identity is the labels of the etcd members serving the application cluster instance.
func Identity(instance string) kube.Identity {
	return kube.Identity{App: "etcd", Instance: instance, Component: "etcd"}
}

// peerServiceName is the headless Service of the cluster named name.
func peerServiceName(name string) string { return name + "-peer" }

// clientServiceName is the client Service of the cluster named name.
func clientServiceName(name string) string { return name + "-client" }

// ClientAddress is host:port of the client Service of the cluster named name,
// built from names alone: a reference to the Service's outputs would make the
// referrer wait until the members are ready.
func ClientAddress(name string, namespace pulumi.StringInput, domain string) pulumi.StringOutput {
	return pulumi.Sprintf("%s:%d", kube.ServiceFQDN(clientServiceName(name), namespace, domain), ClientPort)
}

// Validate reports every problem of the arguments.
func (a *ClusterArgs) Validate() field.ErrorList {
	if a == nil {
		return field.ErrorList{field.Required(nil, "args are required")}
	}
	errs := append(a.Env.Validate(), a.Spec.Validate(nil)...)
	errs = append(errs, a.Backup.Validate(field.NewPath("backup"))...)
	if a.Backup.Enabled {
		errs = append(errs, kube.ValidateImage(a.ShellImage, field.NewPath("shellImage"))...)
	}
	if a.Instance == "" {
		errs = append(errs, field.Required(field.NewPath("instance"), "the application cluster this etcd serves"))
	}
	return append(errs, a.AntiAffinity.Validate(field.NewPath("antiAffinity"))...)
}

// bootstrapFlags are the static bootstrap flags of a member of the cluster named
// name with replicas members, with the client and peer URLs' scheme. The
// member's own name and namespace come from the POD_NAME and POD_NAMESPACE
// environment variables, which Kubernetes expands in container arguments.
func bootstrapFlags(name string, replicas int, domain, token, scheme string) []string {
	peerHost := func(member string) string {
		return fmt.Sprintf("%s.%s.$(POD_NAMESPACE).svc.%s", member, peerServiceName(name), domain)
	}
	members := make([]string, replicas)
	for i := range members {
		member := fmt.Sprintf("%s-%d", name, i)
		members[i] = fmt.Sprintf("%s=%s://%s:%d", member, scheme, peerHost(member), PeerPort)
	}
	return []string{
		"--name=$(POD_NAME)",
		"--data-dir=" + dataDir,
		fmt.Sprintf("--listen-peer-urls=%s://0.0.0.0:%d", scheme, PeerPort),
		fmt.Sprintf("--listen-client-urls=%s://0.0.0.0:%d", scheme, ClientPort),
		fmt.Sprintf("--listen-metrics-urls=http://0.0.0.0:%d", MetricsPort),
		fmt.Sprintf("--advertise-client-urls=%s://%s:%d", scheme, peerHost("$(POD_NAME)"), ClientPort),
		fmt.Sprintf("--initial-advertise-peer-urls=%s://%s:%d", scheme, peerHost("$(POD_NAME)"), PeerPort),
		"--initial-cluster=" + strings.Join(members, ","),
		"--initial-cluster-state=new",
		"--initial-cluster-token=" + token,
	}
}

// Args are the etcd command-line arguments without TLS: bootstrap flags, then
// GreptimeDB's tuning.
func Args(name string, replicas int, domain, token string) []string {
	return append(bootstrapFlags(name, replicas, domain, token, "http"), greptimeTuning...)
}

// memberArgs are the members' arguments: bootstrap flags (https with TLS), the
// certificate flags, then GreptimeDB's tuning.
func (b *builder) memberArgs() []string {
	t := b.args.Spec.TLS
	args := bootstrapFlags(b.Name, b.args.Spec.Replicas, b.ClusterDomain, b.token, t.Scheme())
	args = append(args, tlsFlags(t)...)
	return append(args, greptimeTuning...)
}

// NewCluster creates an etcd cluster named name. The StatefulSet, the Services
// and every other object are named after name.
func NewCluster(ctx *pulumi.Context, name string, args *ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	c := &Cluster{}
	return kube.NewComponent(ctx, "etcd", typeToken, name, c, args.Validate, func(k kube.Component) (pulumi.Map, error) {
		b := &builder{
			Workload: kube.Workload{Component: k, Env: args.Env, ID: Identity(args.Instance), Scrape: &metricsScrape},
			args:     args,
			token:    args.Token,
		}
		if b.token == "" {
			b.token = fmt.Sprintf("%s-%s-%s", ctx.Project(), ctx.Stack(), name)
		}
		return b.build(c)
	}, opts...)
}

// builder creates the cluster's children.
type builder struct {
	kube.Workload
	args  *ClusterArgs
	token string
}

// build creates the children and returns the component's outputs.
func (b *builder) build(c *Cluster) (pulumi.Map, error) {
	var err error
	if c.PeerService, err = b.newPeerService(); err != nil {
		return nil, err
	}
	if c.ClientService, err = b.newClientService(); err != nil {
		return nil, err
	}
	if c.StatefulSet, err = b.newStatefulSet(c.PeerService); err != nil {
		return nil, err
	}
	ingress, egress := b.flows()
	if err := b.Finish(b.Name, b.args.Spec.Replicas, ingress, egress); err != nil {
		return nil, err
	}
	if b.args.Backup.Enabled {
		if err := b.newBackup(); err != nil {
			return nil, err
		}
		if err := b.newBackupPolicy(); err != nil {
			return nil, err
		}
	}
	c.ClientEndpoint = ClientAddress(b.Name, b.Namespace, b.ClusterDomain)
	return pulumi.Map{"clientEndpoint": c.ClientEndpoint, "statefulSet": c.StatefulSet.Metadata.Name()}, nil
}

// memberCounts are the etcd cluster sizes the component deploys: odd, so a majority
// survives the loss of a minority, and at most 7, beyond which writes only get slower.
var memberCounts = []int{1, 3, 5, 7}

// validMemberCount reports whether n is one of memberCounts.
func validMemberCount(n int) bool { return slices.Contains(memberCounts, n) }

// metricsScrape is where every member serves its metrics.
var metricsScrape = kube.Scrape{PortName: "metrics", Port: MetricsPort, Path: "/metrics"}

// servicePorts are the client port, then the peer port (the client Service has
// only the first).
func servicePorts() corev1.ServicePortArray {
	return corev1.ServicePortArray{
		corev1.ServicePortArgs{Name: pulumi.String("client"), Port: pulumi.Int(ClientPort), TargetPort: pulumi.String("client")},
		corev1.ServicePortArgs{Name: pulumi.String("peer"), Port: pulumi.Int(PeerPort), TargetPort: pulumi.String("peer")},
	}
}

// newPeerService creates the headless Service. It publishes not-ready addresses:
// a member becomes ready only once it has reached its peers by these names.
func (b *builder) newPeerService() (*corev1.Service, error) {
	return b.NewService(peerServiceName(b.Name), kube.Metadata{}, &corev1.ServiceSpecArgs{
		ClusterIP:                pulumi.String("None"),
		PublishNotReadyAddresses: pulumi.Bool(true),
		Ports:                    servicePorts(),
	})
}

// newClientService creates the Service clients connect to.
func (b *builder) newClientService() (*corev1.Service, error) {
	ports := servicePorts()[:1]
	if b.args.Spec.TLS.Enabled {
		// The plain health endpoint, for the clients' waits.
		ports = append(ports, corev1.ServicePortArgs{Name: pulumi.String("metrics"), Port: pulumi.Int(MetricsPort), TargetPort: pulumi.String("metrics")})
	}
	return b.NewService(clientServiceName(b.Name), kube.Metadata{}, &corev1.ServiceSpecArgs{
		Type:  pulumi.String("ClusterIP"),
		Ports: ports,
	})
}

func httpProbe(path string, period, failures int) *corev1.ProbeArgs {
	return &corev1.ProbeArgs{
		HttpGet:          &corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.String("metrics")},
		PeriodSeconds:    pulumi.Int(period),
		TimeoutSeconds:   pulumi.Int(3),
		FailureThreshold: pulumi.Int(failures),
	}
}

func (b *builder) container() corev1.ContainerArgs {
	return corev1.ContainerArgs{
		Name:    pulumi.String("etcd"),
		Image:   pulumi.String(b.Registry.Image(b.args.Spec.Image)),
		Command: pulumi.StringArray{pulumi.String("/usr/local/bin/etcd")},
		Args:    pulumi.ToStringArray(b.memberArgs()),
		Env: corev1.EnvVarArray{
			kube.EnvFromField("POD_NAME", "metadata.name"),
			kube.EnvFromField("POD_NAMESPACE", "metadata.namespace"),
		},
		Ports: corev1.ContainerPortArray{
			corev1.ContainerPortArgs{Name: pulumi.String("client"), ContainerPort: pulumi.Int(ClientPort), Protocol: pulumi.String("TCP")},
			corev1.ContainerPortArgs{Name: pulumi.String("peer"), ContainerPort: pulumi.Int(PeerPort), Protocol: pulumi.String("TCP")},
			corev1.ContainerPortArgs{Name: pulumi.String("metrics"), ContainerPort: pulumi.Int(MetricsPort), Protocol: pulumi.String("TCP")},
		},
		// /livez answers as soon as the member runs; /readyz once it has a leader.
		StartupProbe:    httpProbe("/livez", 5, 60),
		ReadinessProbe:  httpProbe("/readyz", 5, 3),
		LivenessProbe:   httpProbe("/livez", 10, 6),
		Resources:       b.args.Spec.Resources.Args(),
		SecurityContext: kube.ContainerSecurityContext(),
		VolumeMounts:    b.memberMounts(),
	}
}

func (b *builder) newStatefulSet(peer *corev1.Service) (*appsv1.StatefulSet, error) {
	id := b.ID
	sts, err := appsv1.NewStatefulSet(b.Ctx, b.Name, &appsv1.StatefulSetArgs{
		Metadata: id.ObjectMeta(b.Name, b.Namespace),
		Spec: &appsv1.StatefulSetSpecArgs{
			Replicas:    pulumi.Int(b.args.Spec.Replicas),
			ServiceName: peer.Metadata.Name().Elem(),
			// Members must all run before any can become ready.
			PodManagementPolicy:                  pulumi.String("Parallel"),
			Selector:                             id.LabelSelector(),
			PersistentVolumeClaimRetentionPolicy: kube.RetainClaims(),
			Template: b.PodTemplate(kube.Pod{
				UID:                           UID,
				AntiAffinity:                  b.args.AntiAffinity,
				Scheduling:                    b.args.Spec.Scheduling,
				Containers:                    []corev1.ContainerArgs{b.container()},
				Volumes:                       b.memberVolumes(),
				TerminationGracePeriodSeconds: 30,
			}),
			VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{b.args.Spec.Storage.VolumeClaimTemplate(dataVolume, id)},
		},
	}, b.StatefulSetOptions()...)
	if err != nil {
		return nil, fmt.Errorf("statefulset: %w", err)
	}
	return sts, nil
}

// flows let the configured clients reach the client port and the members
// reach each other's peer port; nothing else (but the scrape, which Finish adds).
func (b *builder) flows() (ingress, egress []kube.Flow) {
	members := b.ID.Peer()
	var clients []kube.Flow
	clientPods := b.args.ClientPods
	if b.args.Backup.Enabled {
		clientPods = append(clientPods, b.backupIdentity().SelectorLabels())
	}
	clientPorts := []int{ClientPort}
	if b.args.Spec.TLS.Enabled {
		clientPorts = append(clientPorts, MetricsPort)
	}
	for _, sel := range clientPods {
		clients = append(clients, kube.Allow(clientPorts, kube.PodsPeer(sel)))
	}
	ingress = append([]kube.Flow{kube.Allow([]int{PeerPort}, members)}, clients...)
	egress = []kube.Flow{kube.Allow([]int{PeerPort}, members)}
	return ingress, egress
}
