package kube

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Isolation says whether a component's pods are isolated by NetworkPolicies.
type Isolation struct {
	// Enabled creates deny-by-default policies that allow only the needed flows.
	Enabled bool `json:"enabled"`
}

// ClientAccess is who may reach a cluster's client ports under isolation. It is
// set per cluster, so that a client admitted to one database (a load balancer's
// CIDR to a frontend) is not admitted to every other one.
type ClientAccess struct {
	// ClientNamespaces may reach client ports (by the namespace's name label).
	ClientNamespaces []string `json:"clientNamespaces"`
	// ClientCIDRs may reach client ports, as CIDR blocks.
	ClientCIDRs []string `json:"clientCidrs"`
}

// Flow allows traffic to (ingress) or from (egress) the policy's pods on ports.
type Flow struct {
	// Peers are the other side; empty means anyone.
	Peers []Peer
	// Ports are TCP ports; empty means every port.
	Ports []int
}

// Peer is one side of a flow, as plain data so that flows can be compared,
// ordered and listed: pods by labels (in the policy's namespace, in the named
// namespace, or in any namespace), every pod of a namespace, or a CIDR block.
type Peer struct {
	// Pods are the labels of the selected pods; nil with Namespace selects the
	// whole namespace.
	Pods map[string]string `json:"pods,omitempty"`
	// Namespace is the name of the namespace the pods are in; "" is the
	// policy's own namespace, AnyNamespace every namespace.
	Namespace string `json:"namespace,omitempty"`
	// CIDR is an address block outside the cluster (then nothing else is set).
	CIDR string `json:"cidr,omitempty"`
}

// AnyNamespace as a Peer's Namespace selects pods in every namespace.
const AnyNamespace = "*"

// Allow is the flow to or from the given peers (anyone when none) on ports.
func Allow(ports []int, peers ...Peer) Flow {
	return Flow{Peers: peers, Ports: ports}
}

// PodsPeer selects pods in the policy's namespace by labels.
func PodsPeer(labels map[string]string) Peer {
	return Peer{Pods: labels}
}

// Peers are the client namespaces and CIDR blocks.
func (c ClientAccess) Peers() []Peer {
	return append(namespacePeers(c.ClientNamespaces), CIDRPeers(c.ClientCIDRs...)...)
}

// CIDRPeers select the given CIDR blocks (addresses outside the cluster).
func CIDRPeers(cidrs ...string) []Peer {
	var peers []Peer
	for _, cidr := range cidrs {
		peers = append(peers, Peer{CIDR: cidr})
	}
	return peers
}

// key orders peers: pods and namespaces, then CIDR blocks, each by value.
func (p Peer) key() string {
	if p.CIDR != "" {
		return "2 " + p.CIDR
	}
	labels := make([]string, 0, len(p.Pods))
	for k, v := range p.Pods {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	return fmt.Sprintf("1 %s %s", p.Namespace, strings.Join(labels, ","))
}

// args is the peer as the NetworkPolicy spells it.
func (p Peer) args() networkingv1.NetworkPolicyPeerArgs {
	if p.CIDR != "" {
		return networkingv1.NetworkPolicyPeerArgs{IpBlock: &networkingv1.IPBlockArgs{Cidr: pulumi.String(p.CIDR)}}
	}
	var out networkingv1.NetworkPolicyPeerArgs
	switch p.Namespace {
	case "":
	case AnyNamespace:
		out.NamespaceSelector = &metav1.LabelSelectorArgs{}
	default:
		out.NamespaceSelector = &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{
			"kubernetes.io/metadata.name": pulumi.String(p.Namespace),
		}}
	}
	if p.Pods != nil {
		out.PodSelector = &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(p.Pods)}
	}
	return out
}

// Canonical is the flows in one order whatever order they were built in: the
// flows to named peers on the same ports become one (their peers joined, each
// once), and flows are ordered by their ports, then by their peers; a flow to
// anyone is kept apart, as joining it would widen the others. The policy a
// component renders then depends on which flows it allows, not on the order in
// which its code lists them.
func Canonical(flows []Flow) []Flow {
	var out []Flow
	byPorts := map[string]int{}
	for _, f := range flows {
		ports := slices.Clone(f.Ports)
		slices.Sort(ports)
		ports = slices.Compact(ports)
		pk := fmt.Sprint(ports)
		if len(f.Peers) == 0 {
			out = append(out, Flow{Ports: ports})
			continue
		}
		i, ok := byPorts[pk]
		if !ok {
			i = len(out)
			byPorts[pk] = i
			out = append(out, Flow{Ports: ports})
		}
		for _, p := range f.Peers {
			if !slices.ContainsFunc(out[i].Peers, func(q Peer) bool { return q.key() == p.key() }) {
				out[i].Peers = append(out[i].Peers, p)
			}
		}
	}
	for _, f := range out {
		sort.Slice(f.Peers, func(a, b int) bool { return f.Peers[a].key() < f.Peers[b].key() })
	}
	sort.SliceStable(out, func(a, b int) bool {
		if c := slices.Compare(out[a].Ports, out[b].Ports); c != 0 {
			return c < 0
		}
		return firstKey(out[a]) < firstKey(out[b])
	})
	return out
}

func firstKey(f Flow) string {
	if len(f.Peers) == 0 {
		return ""
	}
	return f.Peers[0].key()
}

// Workload identity endpoints on the node's link-local addresses, which pods
// with a cloud identity call over plain HTTP.
const (
	// GKEMetadataCIDR is GKE's metadata server (Workload Identity Federation for GKE).
	GKEMetadataCIDR = "169.254.169.254/32"
	// EKSPodIdentityCIDR is the EKS Pod Identity agent.
	EKSPodIdentityCIDR = "169.254.170.23/32"
	// WorkloadIdentityPort is the port both serve on.
	WorkloadIdentityPort = 80
)

// WorkloadIdentityEgress lets pods with a cloud identity reach the metadata
// server (GKE) or the Pod Identity agent (EKS), and the cloud's token services
// over HTTPS (STS for EKS IRSA, Microsoft Entra ID for Azure workload identity),
// whose addresses the program cannot know.
func WorkloadIdentityEgress() []Flow {
	return []Flow{
		Allow([]int{WorkloadIdentityPort}, CIDRPeers(GKEMetadataCIDR, EKSPodIdentityCIDR)...),
		Allow([]int{443}),
	}
}

// namespacePeers select every pod of the named namespaces.
func namespacePeers(namespaces []string) []Peer {
	var peers []Peer
	for _, ns := range namespaces {
		peers = append(peers, Peer{Namespace: ns})
	}
	return peers
}

// ScrapeFlows let Prometheus, in the monitoring namespaces, reach the metrics
// port; none with monitoring off or no namespace named.
func (m Monitoring) ScrapeFlows(s Scrape) []Flow {
	if !m.Enabled || len(m.Namespaces) == 0 {
		return nil
	}
	return []Flow{Allow([]int{s.Port}, namespacePeers(m.Namespaces)...)}
}

// DNSEgress allows DNS lookups to the cluster's DNS service in any namespace.
func DNSEgress() Flow {
	return Flow{Peers: []Peer{{Namespace: AnyNamespace, Pods: map[string]string{"k8s-app": "kube-dns"}}}, Ports: []int{53}}
}

// NewNetworkPolicy creates a policy that isolates the identity's pods for both
// ingress and egress and allows only the given flows. DNS egress is always allowed
// (on TCP and UDP port 53). The rules are in their canonical order (Canonical).
func NewNetworkPolicy(ctx *pulumi.Context, name string, id Identity, namespace pulumi.StringInput,
	ingress, egress []Flow, opts ...pulumi.ResourceOption,
) (*networkingv1.NetworkPolicy, error) {
	var in networkingv1.NetworkPolicyIngressRuleArray
	for _, f := range Canonical(ingress) {
		in = append(in, networkingv1.NetworkPolicyIngressRuleArgs{From: peerArray(f.Peers), Ports: portArray(f.Ports, "TCP")})
	}
	dns := DNSEgress()
	out := networkingv1.NetworkPolicyEgressRuleArray{
		networkingv1.NetworkPolicyEgressRuleArgs{
			To:    peerArray(dns.Peers),
			Ports: append(portArray(dns.Ports, "UDP"), portArray(dns.Ports, "TCP")...),
		},
	}
	for _, f := range Canonical(egress) {
		out = append(out, networkingv1.NetworkPolicyEgressRuleArgs{To: peerArray(f.Peers), Ports: portArray(f.Ports, "TCP")})
	}
	np, err := networkingv1.NewNetworkPolicy(ctx, name, &networkingv1.NetworkPolicyArgs{
		Metadata: id.ObjectMeta(name, namespace),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: id.Selector()},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
			Ingress:     in,
			Egress:      out,
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("network policy %q: %w", name, err)
	}
	return np, nil
}

// NewJobNetworkPolicy isolates the pods of a Job or CronJob: no ingress at all
// (nothing calls them), egress to DNS and the given flows only. They hold
// credentials, so they reach nothing they do not call.
func NewJobNetworkPolicy(ctx *pulumi.Context, name string, id Identity, namespace pulumi.StringInput,
	egress []Flow, opts ...pulumi.ResourceOption,
) error {
	_, err := NewNetworkPolicy(ctx, name, id, namespace, nil, egress, opts...)
	return err
}

func peerArray(peers []Peer) networkingv1.NetworkPolicyPeerArray {
	if len(peers) == 0 {
		return nil
	}
	out := make(networkingv1.NetworkPolicyPeerArray, len(peers))
	for i, p := range peers {
		out[i] = p.args()
	}
	return out
}

func portArray(ports []int, protocol string) networkingv1.NetworkPolicyPortArray {
	if len(ports) == 0 {
		return nil
	}
	out := make(networkingv1.NetworkPolicyPortArray, len(ports))
	for i, p := range ports {
		out[i] = networkingv1.NetworkPolicyPortArgs{Port: pulumi.Int(p), Protocol: pulumi.String(protocol)}
	}
	return out
}
