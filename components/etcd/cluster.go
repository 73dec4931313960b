// Package etcd deploys a statically bootstrapped etcd cluster on Kubernetes: a
// StatefulSet with one PVC per member, a headless peer Service that publishes
// not-ready addresses (members must find each other before any is ready) and a
// client Service.
package etcd

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"tsdb-platform/components/kube"
)

// Type is the component's type token.
const Type = "tsdb:etcd:Cluster"

// Ports and paths of every member.
const (
	ClientPort  = 2379
	PeerPort    = 2380
	MetricsPort = 8080
	// DataMount is where the member's PVC is mounted. The data directory is a
	// subdirectory etcd creates itself with the 0700 mode it insists on.
	DataMount = "/var/run/etcd"
	DataDir   = DataMount + "/default.etcd"
	// DataVolume names the volume claim template.
	DataVolume = "data"
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

// ClusterArgs configures an etcd cluster.
type ClusterArgs struct {
	// Namespace the cluster lives in (an output of the Namespace resource).
	Namespace pulumi.StringInput
	// ClusterDomain is the Kubernetes cluster's DNS domain ("cluster.local").
	ClusterDomain string
	// Instance is the app.kubernetes.io/instance label: the application cluster
	// this etcd serves, so two clusters in a namespace select distinct pods.
	Instance string
	// Replicas is the member count; it must be odd (1, 3, 5, 7).
	Replicas int
	// Image is a pinned etcd image (>= v3.5.12 for /readyz and /livez).
	Image     string
	Resources kube.Resources
	Storage   kube.Storage
	// AntiAffinity is none, preferred or required.
	AntiAffinity string
	DataSafety   kube.DataSafety
	Isolation    kube.Isolation
	// ClientPods select the pods allowed to reach the client port when
	// isolation is enabled (GreptimeDB's meta pods).
	ClientPods []pulumi.StringMap
	// Token is the initial cluster token; empty derives one unique to the
	// project, stack and cluster name.
	Token string
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

// PeerServiceName is the headless Service of the cluster named name.
func PeerServiceName(name string) string { return name + "-peer" }

// ClientServiceName is the client Service of the cluster named name.
func ClientServiceName(name string) string { return name + "-client" }

// ClientAddress is host:port of the client Service of the cluster named name,
// built from names alone: a reference to the Service's outputs would make the
// referrer wait until the members are ready.
func ClientAddress(name string, namespace pulumi.StringInput, domain string) pulumi.StringOutput {
	return pulumi.Sprintf("%s:%d", kube.ServiceFQDN(ClientServiceName(name), namespace, domain), ClientPort)
}

// Validate reports what is wrong with the arguments.
func (a *ClusterArgs) Validate() error {
	if a == nil {
		return errors.New("args are required")
	}
	var errs []error
	if a.Namespace == nil {
		errs = append(errs, errors.New("namespace is required"))
	}
	if a.ClusterDomain == "" {
		errs = append(errs, errors.New("clusterDomain is required"))
	}
	if a.Instance == "" {
		errs = append(errs, errors.New("instance is required"))
	}
	if !ValidMemberCount(a.Replicas) {
		errs = append(errs, fmt.Errorf("replicas: %d is not an odd member count (1, 3, 5, 7)", a.Replicas))
	}
	if a.Image == "" {
		errs = append(errs, errors.New("image is required"))
	}
	if a.Storage.Size == "" {
		errs = append(errs, errors.New("storage.size is required"))
	}
	return errors.Join(errs...)
}

// BootstrapFlags are the static bootstrap flags of a member of the cluster named
// name with replicas members. The member's own name and namespace come from the
// POD_NAME and POD_NAMESPACE environment variables, which Kubernetes expands in
// container arguments.
func BootstrapFlags(name string, replicas int, domain, token string) []string {
	peerHost := func(member string) string {
		return fmt.Sprintf("%s.%s.$(POD_NAMESPACE).svc.%s", member, PeerServiceName(name), domain)
	}
	members := make([]string, replicas)
	for i := range members {
		member := fmt.Sprintf("%s-%d", name, i)
		members[i] = fmt.Sprintf("%s=http://%s:%d", member, peerHost(member), PeerPort)
	}
	return []string{
		"--name=$(POD_NAME)",
		"--data-dir=" + DataDir,
		fmt.Sprintf("--listen-peer-urls=http://0.0.0.0:%d", PeerPort),
		fmt.Sprintf("--listen-client-urls=http://0.0.0.0:%d", ClientPort),
		fmt.Sprintf("--listen-metrics-urls=http://0.0.0.0:%d", MetricsPort),
		fmt.Sprintf("--advertise-client-urls=http://%s:%d", peerHost("$(POD_NAME)"), ClientPort),
		fmt.Sprintf("--initial-advertise-peer-urls=http://%s:%d", peerHost("$(POD_NAME)"), PeerPort),
		"--initial-cluster=" + strings.Join(members, ","),
		"--initial-cluster-state=new",
		"--initial-cluster-token=" + token,
	}
}

// Args are the etcd command-line arguments: bootstrap flags, then GreptimeDB's tuning.
func Args(name string, replicas int, domain, token string) []string {
	return append(BootstrapFlags(name, replicas, domain, token), greptimeTuning...)
}

// NewCluster creates an etcd cluster named name. The StatefulSet, the Services
// and every other object are named after name.
func NewCluster(ctx *pulumi.Context, name string, args *ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("etcd %q: %w", name, err)
	}
	c := &Cluster{}
	if err := ctx.RegisterComponentResource(Type, name, c, opts...); err != nil {
		return nil, fmt.Errorf("etcd %q: %w", name, err)
	}
	id := Identity(args.Instance)
	parent := pulumi.Parent(c)

	var err error
	if c.PeerService, err = newPeerService(ctx, name, id, args, parent); err != nil {
		return nil, err
	}
	if c.ClientService, err = newClientService(ctx, name, id, args, parent); err != nil {
		return nil, err
	}
	token := args.Token
	if token == "" {
		token = fmt.Sprintf("%s-%s-%s", ctx.Project(), ctx.Stack(), name)
	}
	if c.StatefulSet, err = newStatefulSet(ctx, name, id, args, token, c.PeerService, parent); err != nil {
		return nil, err
	}
	if _, err := kube.NewPodDisruptionBudget(ctx, name, id, args.Namespace, args.Replicas, parent); err != nil {
		return nil, fmt.Errorf("etcd %q: %w", name, err)
	}
	if args.Isolation.Enabled {
		if err := newNetworkPolicy(ctx, name, id, args, parent); err != nil {
			return nil, err
		}
	}
	c.ClientEndpoint = ClientAddress(name, args.Namespace, args.ClusterDomain)
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"clientEndpoint": c.ClientEndpoint,
		"statefulSet":    c.StatefulSet.Metadata.Name(),
	}); err != nil {
		return nil, fmt.Errorf("etcd %q: %w", name, err)
	}
	return c, nil
}

// MemberCounts are the etcd cluster sizes the component deploys: odd, so a majority
// survives the loss of a minority, and at most 7, beyond which writes only get slower.
var MemberCounts = []int{1, 3, 5, 7}

// ValidMemberCount reports whether n is one of MemberCounts.
func ValidMemberCount(n int) bool { return slices.Contains(MemberCounts, n) }

func servicePorts() corev1.ServicePortArray {
	return corev1.ServicePortArray{
		corev1.ServicePortArgs{Name: pulumi.String("client"), Port: pulumi.Int(ClientPort), TargetPort: pulumi.String("client")},
		corev1.ServicePortArgs{Name: pulumi.String("peer"), Port: pulumi.Int(PeerPort), TargetPort: pulumi.String("peer")},
	}
}

// newPeerService creates the headless Service. It publishes not-ready addresses:
// a member becomes ready only once it has reached its peers by these names.
func newPeerService(ctx *pulumi.Context, name string, id kube.Identity, args *ClusterArgs, parent pulumi.ResourceOption) (*corev1.Service, error) {
	svcName := PeerServiceName(name)
	svc, err := corev1.NewService(ctx, svcName, &corev1.ServiceArgs{
		Metadata: id.ObjectMeta(svcName, args.Namespace),
		Spec: &corev1.ServiceSpecArgs{
			ClusterIP:                pulumi.String("None"),
			PublishNotReadyAddresses: pulumi.Bool(true),
			Selector:                 id.Selector(),
			Ports:                    servicePorts(),
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("etcd %q: peer service: %w", name, err)
	}
	return svc, nil
}

func newClientService(ctx *pulumi.Context, name string, id kube.Identity, args *ClusterArgs, parent pulumi.ResourceOption) (*corev1.Service, error) {
	svcName := ClientServiceName(name)
	svc, err := corev1.NewService(ctx, svcName, &corev1.ServiceArgs{
		Metadata: id.ObjectMeta(svcName, args.Namespace),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: id.Selector(),
			Ports: corev1.ServicePortArray{
				corev1.ServicePortArgs{Name: pulumi.String("client"), Port: pulumi.Int(ClientPort), TargetPort: pulumi.String("client")},
			},
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("etcd %q: client service: %w", name, err)
	}
	return svc, nil
}

func httpProbe(path string, period, failures int) *corev1.ProbeArgs {
	return &corev1.ProbeArgs{
		HttpGet:          &corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.String("metrics")},
		PeriodSeconds:    pulumi.Int(period),
		TimeoutSeconds:   pulumi.Int(3),
		FailureThreshold: pulumi.Int(failures),
	}
}

func container(name string, args *ClusterArgs, token string) corev1.ContainerArgs {
	return corev1.ContainerArgs{
		Name:    pulumi.String("etcd"),
		Image:   pulumi.String(args.Image),
		Command: pulumi.StringArray{pulumi.String("/usr/local/bin/etcd")},
		Args:    pulumi.ToStringArray(Args(name, args.Replicas, args.ClusterDomain, token)),
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
		Resources:       args.Resources.Args(),
		SecurityContext: kube.ContainerSecurityContext(),
		VolumeMounts: corev1.VolumeMountArray{
			corev1.VolumeMountArgs{Name: pulumi.String(DataVolume), MountPath: pulumi.String(DataMount)},
		},
	}
}

func newStatefulSet(ctx *pulumi.Context, name string, id kube.Identity, args *ClusterArgs, token string,
	peer *corev1.Service, parent pulumi.ResourceOption,
) (*appsv1.StatefulSet, error) {
	opts := args.DataSafety.StatefulSetOptions(parent)
	sts, err := appsv1.NewStatefulSet(ctx, name, &appsv1.StatefulSetArgs{
		Metadata: id.ObjectMeta(name, args.Namespace),
		Spec: &appsv1.StatefulSetSpecArgs{
			Replicas:    pulumi.Int(args.Replicas),
			ServiceName: peer.Metadata.Name().Elem(),
			// Members must all run before any can become ready.
			PodManagementPolicy:                  pulumi.String("Parallel"),
			Selector:                             &metav1.LabelSelectorArgs{MatchLabels: id.Selector()},
			PersistentVolumeClaimRetentionPolicy: kube.RetainClaims(),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: id.Labels()},
				Spec: &corev1.PodSpecArgs{
					SecurityContext:               kube.PodSecurityContext(UID),
					Affinity:                      kube.AntiAffinity(args.AntiAffinity, id.Selector()),
					TerminationGracePeriodSeconds: pulumi.Int(30),
					Containers:                    corev1.ContainerArray{container(name, args, token)},
				},
			},
			VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{args.Storage.VolumeClaimTemplate(DataVolume, id)},
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("etcd %q: statefulset: %w", name, err)
	}
	return sts, nil
}

// newNetworkPolicy lets the configured clients reach the client port and the
// members reach each other's peer port; nothing else.
func newNetworkPolicy(ctx *pulumi.Context, name string, id kube.Identity, args *ClusterArgs, parent pulumi.ResourceOption) error {
	members := kube.PodsPeer(id.Selector())
	var clients []kube.Flow
	for _, sel := range args.ClientPods {
		clients = append(clients, kube.Flow{Peers: []networkingv1.NetworkPolicyPeerArgs{kube.PodsPeer(sel)}, Ports: []int{ClientPort}})
	}
	ingress := append([]kube.Flow{{Peers: []networkingv1.NetworkPolicyPeerArgs{members}, Ports: []int{PeerPort}}}, clients...)
	egress := []kube.Flow{{Peers: []networkingv1.NetworkPolicyPeerArgs{members}, Ports: []int{PeerPort}}}
	if _, err := kube.NewNetworkPolicy(ctx, name, id, args.Namespace, ingress, egress, parent); err != nil {
		return fmt.Errorf("etcd %q: %w", name, err)
	}
	return nil
}
