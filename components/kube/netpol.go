package kube

import (
	"fmt"

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
	Peers []networkingv1.NetworkPolicyPeerArgs
	// Ports are TCP ports; empty means every port.
	Ports []int
}

// Allow is the flow to or from the given peers (anyone when none) on ports.
func Allow(ports []int, peers ...networkingv1.NetworkPolicyPeerArgs) Flow {
	return Flow{Peers: peers, Ports: ports}
}

// PodsPeer selects pods in the policy's namespace by labels.
func PodsPeer(selector pulumi.StringMap) networkingv1.NetworkPolicyPeerArgs {
	return networkingv1.NetworkPolicyPeerArgs{PodSelector: &metav1.LabelSelectorArgs{MatchLabels: selector}}
}

// Peers are the client namespaces and CIDR blocks.
func (c ClientAccess) Peers() []networkingv1.NetworkPolicyPeerArgs {
	return append(namespacePeers(c.ClientNamespaces), CIDRPeers(c.ClientCIDRs...)...)
}

// CIDRPeers select the given CIDR blocks (addresses outside the cluster).
func CIDRPeers(cidrs ...string) []networkingv1.NetworkPolicyPeerArgs {
	var peers []networkingv1.NetworkPolicyPeerArgs
	for _, cidr := range cidrs {
		peers = append(peers, networkingv1.NetworkPolicyPeerArgs{IpBlock: &networkingv1.IPBlockArgs{Cidr: pulumi.String(cidr)}})
	}
	return peers
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
func namespacePeers(namespaces []string) []networkingv1.NetworkPolicyPeerArgs {
	var peers []networkingv1.NetworkPolicyPeerArgs
	for _, ns := range namespaces {
		peers = append(peers, networkingv1.NetworkPolicyPeerArgs{
			NamespaceSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{
				"kubernetes.io/metadata.name": pulumi.String(ns),
			}},
		})
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
	return Flow{
		Peers: []networkingv1.NetworkPolicyPeerArgs{{
			NamespaceSelector: &metav1.LabelSelectorArgs{},
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{
				"k8s-app": pulumi.String("kube-dns"),
			}},
		}},
		Ports: []int{53},
	}
}

// NewNetworkPolicy creates a policy that isolates the identity's pods for both
// ingress and egress and allows only the given flows. DNS egress is always allowed
// (on TCP and UDP port 53).
func NewNetworkPolicy(ctx *pulumi.Context, name string, id Identity, namespace pulumi.StringInput,
	ingress, egress []Flow, opts ...pulumi.ResourceOption,
) (*networkingv1.NetworkPolicy, error) {
	var in networkingv1.NetworkPolicyIngressRuleArray
	for _, f := range ingress {
		in = append(in, networkingv1.NetworkPolicyIngressRuleArgs{From: peerArray(f.Peers), Ports: portArray(f.Ports, "TCP")})
	}
	dns := DNSEgress()
	out := networkingv1.NetworkPolicyEgressRuleArray{
		networkingv1.NetworkPolicyEgressRuleArgs{
			To:    peerArray(dns.Peers),
			Ports: append(portArray(dns.Ports, "UDP"), portArray(dns.Ports, "TCP")...),
		},
	}
	for _, f := range egress {
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

func peerArray(peers []networkingv1.NetworkPolicyPeerArgs) networkingv1.NetworkPolicyPeerArray {
	if len(peers) == 0 {
		return nil
	}
	out := make(networkingv1.NetworkPolicyPeerArray, len(peers))
	for i, p := range peers {
		out[i] = p
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
