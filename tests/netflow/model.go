// Package netflow checks a stack's NetworkPolicies with a real policy engine
// (cyclonus's matcher, which implements the NetworkPolicy semantics that
// Kubernetes network plugins enforce): every flow the stack needs, written as
// data under tests/testdata/flows, must be allowed, and every other flow between
// the modelled peers denied.
//
// The peers are one pod per workload the stack renders (Deployments,
// StatefulSets, Jobs and CronJobs, by their pod template's namespace and labels)
// and a fixed set of peers outside the stack: the cluster DNS, Prometheus, client
// pods and addresses, Kafka, the object store, the cloud metadata servers, and
// strangers that must be kept out.
package netflow

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"tsdb-platform/tests/manifests"
)

// Label keys of the pods the program renders.
const (
	labelName      = "app.kubernetes.io/name"
	labelInstance  = "app.kubernetes.io/instance"
	labelComponent = "app.kubernetes.io/component"
	labelNamespace = "kubernetes.io/metadata.name"
)

// Groups a flow may name instead of one peer.
const (
	// GroupStack is every pod of the stack.
	GroupStack = "stack"
	// GroupElsewhere is every peer that is not a pod of the stack: what a rule
	// that allows a port to any destination reaches (the object store, Kafka and
	// cloud endpoints have addresses the program cannot know).
	GroupElsewhere = "elsewhere"
)

// Peer is one end of a flow: a pod (a namespace and labels) or an address
// outside the cluster (no namespace).
type Peer struct {
	Name      string
	Namespace string
	Labels    map[string]string
	IP        string
	// Ports names the pod's container ports, for policies that name a port.
	Ports map[int]string
	// Stack is true for the stack's own pods.
	Stack bool
}

func (p Peer) traffic() *matcher.TrafficPeer {
	tp := &matcher.TrafficPeer{IP: p.IP}
	if p.Namespace != "" {
		tp.Internal = &matcher.InternalPeer{
			Namespace:       p.Namespace,
			NamespaceLabels: map[string]string{labelNamespace: p.Namespace},
			PodLabels:       p.Labels,
		}
	}
	return tp
}

// ExternalPeers are the peers outside the stack, for a stack in namespace ns.
// Their names are what the flows files use.
func ExternalPeers(ns string) []Peer {
	pod := func(name, namespace, ip string, labels map[string]string) Peer {
		return Peer{Name: name, Namespace: namespace, Labels: labels, IP: ip}
	}
	address := func(name, ip string) Peer { return Peer{Name: name, IP: ip} }
	return []Peer{
		pod("dns", "kube-system", "10.96.0.10", map[string]string{"k8s-app": "kube-dns"}),
		pod("prometheus", "monitoring", "10.96.1.10", map[string]string{labelName: "prometheus"}),
		pod("apps-client", "apps", "10.96.2.10", map[string]string{"app": "shop"}),
		pod("kafka", "platform", "10.96.3.10", map[string]string{labelName: "kafka"}),
		// Pods that must be kept out: one in an unrelated namespace, and one in the
		// stack's own namespace that is none of its workloads (a debug pod).
		pod("other-namespace-pod", "default", "10.96.4.10", map[string]string{"app": "other"}),
		pod("same-namespace-pod", ns, "10.96.5.10", map[string]string{"app": "debug"}),
		address("cidr-client", "10.20.1.1"),
		address("lb-client", "198.51.100.10"),
		address("object-store", "52.218.0.10"),
		address("external-etcd", "10.40.0.5"),
		address("gke-metadata", "169.254.169.254"),
		address("eks-pod-identity", "169.254.170.23"),
		address("internet", "203.0.113.7"),
	}
}

// Stack is a rendered stack: its namespace, its own pods and its policies.
type Stack struct {
	Namespace string
	Pods      []Peer
	Policies  []*networkingv1.NetworkPolicy
}

// NewStack reads the pods and policies out of a stack's rendered objects. Every
// workload is one peer named <app>/<instance>/<component> (its pods all carry
// the same labels; the maintenance on and off Jobs of a cluster are one peer).
func NewStack(objs []manifests.Object) (*Stack, error) {
	s := &Stack{}
	seen := map[string]bool{}
	for _, o := range objs {
		kind := o.Body.GetKind()
		if kind == "Namespace" {
			s.Namespace = o.Body.GetName()
			continue
		}
		if kind == "NetworkPolicy" {
			np := &networkingv1.NetworkPolicy{}
			if err := fromUnstructured(o, np); err != nil {
				return nil, err
			}
			s.Policies = append(s.Policies, np)
			continue
		}
		tmpl, ok, err := podTemplate(o)
		if err != nil || !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		l := tmpl.Labels
		name := l[labelName] + "/" + l[labelInstance] + "/" + l[labelComponent]
		if seen[name] {
			continue
		}
		seen[name] = true
		ns := o.Body.GetNamespace()
		if tmpl.Namespace != "" {
			ns = tmpl.Namespace
		}
		s.Pods = append(s.Pods, Peer{Name: name, Namespace: ns, Labels: l, Ports: containerPorts(tmpl.Spec), Stack: true})
	}
	sort.Slice(s.Pods, func(i, j int) bool { return s.Pods[i].Name < s.Pods[j].Name })
	for i := range s.Pods {
		s.Pods[i].IP = fmt.Sprintf("10.244.%d.%d", i/200, 10+i%200)
	}
	if s.Namespace == "" && len(s.Pods) > 0 {
		s.Namespace = s.Pods[0].Namespace
	}
	return s, nil
}

func fromUnstructured(o manifests.Object, into any) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Body.Object, into); err != nil {
		return fmt.Errorf("%s %s: %w", o.Body.GetKind(), o.Body.GetName(), err)
	}
	return nil
}

// podTemplate is the pod template of a workload; ok is false for other kinds.
func podTemplate(o manifests.Object) (corev1.PodTemplateSpec, bool, error) {
	switch o.Body.GetKind() {
	case "Deployment":
		var d appsv1.Deployment
		err := fromUnstructured(o, &d)
		return d.Spec.Template, true, err
	case "StatefulSet":
		var s appsv1.StatefulSet
		err := fromUnstructured(o, &s)
		return s.Spec.Template, true, err
	case "Job":
		var j batchv1.Job
		err := fromUnstructured(o, &j)
		return j.Spec.Template, true, err
	case "CronJob":
		var c batchv1.CronJob
		err := fromUnstructured(o, &c)
		return c.Spec.JobTemplate.Spec.Template, true, err
	}
	return corev1.PodTemplateSpec{}, false, nil
}

func containerPorts(pod corev1.PodSpec) map[int]string {
	out := map[int]string{}
	for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		for _, p := range c.Ports {
			out[int(p.ContainerPort)] = p.Name
		}
	}
	return out
}

// Rule is one entry of a flows file: from may reach to on each port, over each
// protocol (TCP when none is given).
type Rule struct {
	From      string            `json:"from"`
	To        string            `json:"to"`
	Ports     []int             `json:"ports"`
	Protocols []corev1.Protocol `json:"protocols"`
}

// Spec is a stack's flows file.
type Spec struct {
	// Isolation says whether the stack isolates its pods; without it, it renders
	// no NetworkPolicy and every flow is allowed.
	Isolation bool   `json:"isolation"`
	Flows     []Rule `json:"flows"`
}

// ReadSpec reads a flows file.
func ReadSpec(path string) (*Spec, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Spec
	if err := yaml.UnmarshalStrict(raw, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

// Flow is one connection: from a peer to a peer's port over a protocol.
type Flow struct {
	From, To string
	Port     int
	Protocol corev1.Protocol
}

func (f Flow) String() string {
	return fmt.Sprintf("%s -> %s:%d/%s", f.From, f.To, f.Port, f.Protocol)
}

// Engine answers whether the policies allow a flow.
type Engine struct {
	policy *matcher.Policy
}

// NewEngine builds cyclonus's model of the policies.
func NewEngine(policies []*networkingv1.NetworkPolicy) *Engine {
	return &Engine{policy: matcher.BuildNetworkPolicies(false, policies)}
}

// Allows reports whether the policies let from open a connection to to's port:
// the source's egress and the destination's ingress must both allow it.
func (e *Engine) Allows(from, to Peer, port int, protocol corev1.Protocol) bool {
	return e.policy.IsTrafficAllowed(&matcher.Traffic{
		Source:           from.traffic(),
		Destination:      to.traffic(),
		ResolvedPort:     port,
		ResolvedPortName: to.Ports[port],
		Protocol:         protocol,
	}).IsAllowed()
}

// Result is what a check found: needed flows the policies deny, and flows they
// allow that nothing needs.
type Result struct {
	Missing []Flow
	Extra   []Flow
	// Checked counts the flows evaluated.
	Checked int
}

// Problems lists the result's flows, one line each.
func (r Result) Problems() []string {
	var out []string
	for _, f := range r.Missing {
		out = append(out, "needed but denied: "+f.String())
	}
	for _, f := range r.Extra {
		out = append(out, "allowed but not needed: "+f.String())
	}
	return out
}

// Check evaluates every flow between every pair of peers (the stack's pods and
// the external peers) on every relevant port: the ports the spec, the policies
// and the pods name, plus a few common ones. A flow must be allowed exactly when
// the spec needs it.
func Check(spec *Spec, stack *Stack, external []Peer) (Result, error) {
	peers := append(slices.Clone(stack.Pods), external...)
	needed, err := spec.expand(peers)
	if err != nil {
		return Result{}, err
	}
	engine := NewEngine(stack.Policies)
	var res Result
	for _, port := range relevantPorts(spec, stack) {
		for _, protocol := range protocolsFor(port, spec) {
			for _, from := range peers {
				for _, to := range peers {
					if !from.Stack && !to.Stack {
						continue // neither end is the stack's: not its policies' business
					}
					f := Flow{From: from.Name, To: to.Name, Port: port, Protocol: protocol}
					res.Checked++
					allowed := engine.Allows(from, to, port, protocol)
					switch {
					case needed[f] && !allowed:
						res.Missing = append(res.Missing, f)
					case allowed && !needed[f]:
						res.Extra = append(res.Extra, f)
					}
				}
			}
		}
	}
	sortFlows(res.Missing)
	sortFlows(res.Extra)
	return res, nil
}

// expand resolves the spec's rules (peer names and groups) into single flows.
// Every name must be a modelled peer or a group, and every pod of the stack must
// be named by at least one rule, so that a new workload cannot go unchecked.
func (s *Spec) expand(peers []Peer) (map[Flow]bool, error) {
	byName := map[string]Peer{}
	for _, p := range peers {
		byName[p.Name] = p
	}
	named := map[string]bool{}
	resolve := func(name string) ([]Peer, error) {
		var out []Peer
		switch name {
		case GroupStack, GroupElsewhere:
			for _, p := range peers {
				if p.Stack == (name == GroupStack) {
					out = append(out, p)
				}
			}
		default:
			p, ok := byName[name]
			if !ok {
				return nil, fmt.Errorf("flows name %q: no such peer (the stack's pods are <app>/<instance>/<component>; groups: %s, %s)",
					name, GroupStack, GroupElsewhere)
			}
			named[name] = true
			out = []Peer{p}
		}
		return out, nil
	}
	needed := map[Flow]bool{}
	for _, r := range s.Flows {
		froms, err := resolve(r.From)
		if err != nil {
			return nil, err
		}
		tos, err := resolve(r.To)
		if err != nil {
			return nil, err
		}
		if len(r.Ports) == 0 {
			return nil, fmt.Errorf("flow %s -> %s: no ports", r.From, r.To)
		}
		protocols := r.Protocols
		if len(protocols) == 0 {
			protocols = []corev1.Protocol{corev1.ProtocolTCP}
		}
		for _, from := range froms {
			for _, to := range tos {
				for _, port := range r.Ports {
					for _, protocol := range protocols {
						needed[Flow{From: from.Name, To: to.Name, Port: port, Protocol: protocol}] = true
					}
				}
			}
		}
	}
	var unnamed []string
	for _, p := range peers {
		if p.Stack && !named[p.Name] {
			unnamed = append(unnamed, p.Name)
		}
	}
	if len(unnamed) > 0 {
		return nil, fmt.Errorf("the stack's pods %s are in no flow: write the flows they need", strings.Join(unnamed, ", "))
	}
	return needed, nil
}

// probePorts are checked in every stack besides the ones named anywhere: SSH,
// HTTP, HTTPS and an alternative HTTPS port, where an allow-all would show.
var probePorts = []int{22, 53, 80, 443, 8443}

func relevantPorts(spec *Spec, stack *Stack) []int {
	set := map[int]bool{}
	for _, p := range probePorts {
		set[p] = true
	}
	for _, r := range spec.Flows {
		for _, p := range r.Ports {
			set[p] = true
		}
	}
	for _, pod := range stack.Pods {
		for p := range pod.Ports {
			set[p] = true
		}
	}
	for _, np := range stack.Policies {
		for _, in := range np.Spec.Ingress {
			addPolicyPorts(set, in.Ports)
		}
		for _, out := range np.Spec.Egress {
			addPolicyPorts(set, out.Ports)
		}
	}
	ports := make([]int, 0, len(set))
	for p := range set {
		ports = append(ports, p)
	}
	sort.Ints(ports)
	return ports
}

func addPolicyPorts(set map[int]bool, ports []networkingv1.NetworkPolicyPort) {
	for _, p := range ports {
		if p.Port != nil && p.Port.IntValue() > 0 {
			set[p.Port.IntValue()] = true
		}
	}
}

// protocolsFor is TCP for every port, and UDP too for DNS and any port a flow
// names with UDP.
func protocolsFor(port int, spec *Spec) []corev1.Protocol {
	out := []corev1.Protocol{corev1.ProtocolTCP}
	udp := port == 53
	for _, r := range spec.Flows {
		if slices.Contains(r.Ports, port) && slices.Contains(r.Protocols, corev1.ProtocolUDP) {
			udp = true
		}
	}
	if udp {
		out = append(out, corev1.ProtocolUDP)
	}
	return out
}

func sortFlows(fs []Flow) {
	sort.Slice(fs, func(i, j int) bool { return fs[i].String() < fs[j].String() })
}
