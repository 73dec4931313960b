// Package plan computes a stack's startup plan from the resource graph the program
// registers: which objects the Kubernetes provider waits for before it reports them
// created ("awaited"), and, for each, how many awaited objects must become ready one
// after another before it can start. The number of those sequential waits on the
// longest chain (the critical path) is how long a `pulumi up` takes to get a stack
// serving, give or take the time each step takes.
//
// Compute is a pure function over a mockrun.Result, so it can be tested on synthetic
// graphs; Run and RunConfig evaluate the real program under mocks first.
package plan

import (
	"fmt"
	"sort"
	"strings"

	"tsdb-platform/components/greptimedb"
	"tsdb-platform/components/kube"
	"tsdb-platform/components/quasardb"
	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
)

// Type tokens of the objects whose creation the Kubernetes provider awaits.
const (
	TypeStatefulSet = "kubernetes:apps/v1:StatefulSet"
	TypeDeployment  = "kubernetes:apps/v1:Deployment"
	TypeService     = "kubernetes:core/v1:Service"
	TypePVC         = "kubernetes:core/v1:PersistentVolumeClaim"
	// TypeJob is awaited until it succeeds (pulumi-kubernetes provider/pkg/await/job.go).
	TypeJob = "kubernetes:batch/v1:Job"
)

// Type tokens of the top-level cluster components a plan groups resources by: the
// components' own.
const (
	TypeGreptimeDBCluster = greptimedb.ClusterType
	TypeQuasarDBCluster   = quasardb.TypeToken
)

// Label keys read from each object's metadata.labels: the ones the components set.
const (
	LabelName      = kube.LabelName
	LabelComponent = kube.LabelComponent
	LabelInstance  = kube.LabelInstance
)

// SkipAwaitAnnotation makes the provider report an object created without waiting.
const SkipAwaitAnnotation = kube.AnnotationSkipAwait

// Node is one awaited object.
type Node struct {
	URN  string
	Type string
	// Kind is the Kubernetes kind ("StatefulSet").
	Kind string
	// Name is the Pulumi logical name.
	Name string
	// Cluster is the name of the cluster the object belongs to, "" for stack-level objects.
	Cluster string
	// ClusterType is the cluster component's type token, "" for stack-level objects.
	ClusterType string
	// Component is the part of the cluster it belongs to, as displayed: the
	// app.kubernetes.io/component label (etcd, meta, datanode, frontend), except in a
	// QuasarDB cluster, whose one part is shown as its app.kubernetes.io/name
	// (quasardb). Unlabelled objects are named after their nearest component parent.
	Component string
	// Stage is 1 + the largest stage among the awaited objects it transitively waits
	// for. A Service is awaited until its endpoints are ready, that is until the pods
	// it selects are Ready, so its stage is at least that of the awaited workloads it
	// selects.
	Stage int
	// After lists the URNs of the awaited objects it waits for directly: the transitive
	// reduction of its awaited dependencies (sorted). These are the diagram's edges.
	After []string
	// Selects lists, for a Service, the URNs of the awaited workloads whose pod
	// template labels match its selector (sorted): it is ready when they are.
	Selects []string

	selector  map[string]any // Service spec.selector
	podLabels map[string]any // workload spec.template.metadata.labels
	namespace string
}

// Label is the node's short display form, "component(cluster)".
func (n *Node) Label() string {
	if n.Cluster == "" {
		return n.Component
	}
	return n.Component + "(" + n.Cluster + ")"
}

// Cluster is one top-level cluster component and its awaited objects.
type Cluster struct {
	URN  string
	Type string
	Name string
	// Nodes are the cluster's awaited objects, ordered by stage, component, kind, name.
	Nodes []*Node
	// Stages is the number of distinct stages the cluster's awaited objects occupy.
	Stages int
	// CriticalPath is the largest stage of the cluster's objects.
	CriticalPath int
}

// StageComponents returns the cluster's distinct components at each stage, index 0 = stage 1.
func (c *Cluster) StageComponents() [][]string {
	out := make([][]string, c.CriticalPath)
	for _, n := range c.Nodes {
		out[n.Stage-1] = appendUnique(out[n.Stage-1], n.Component)
	}
	return out
}

// Plan is a stack's startup plan.
type Plan struct {
	// Nodes are every awaited object, ordered by stage, cluster, component, kind, name.
	Nodes []*Node
	// Clusters are the cluster components, ordered by type then name. Awaited objects
	// outside any cluster component appear only in Nodes.
	Clusters []*Cluster
	// CriticalPath is the number of sequential awaited stages on the longest chain.
	CriticalPath int
	// NotAwaited lists the Kubernetes objects the provider does not wait for, by URN,
	// with the reason; they never add a stage.
	NotAwaited map[string]string
	// Problems are inconsistencies found in the graph (a dependency cycle); empty for
	// any graph a real program run records.
	Problems []string

	byURN map[string]*Node
}

// Node returns the awaited object with that URN, or nil.
func (p *Plan) Node(urn string) *Node { return p.byURN[urn] }

// Cluster returns the cluster of a type token with that name, or nil.
func (p *Plan) Cluster(typ, name string) *Cluster {
	for _, c := range p.Clusters {
		if c.Type == typ && c.Name == name {
			return c
		}
	}
	return nil
}

// Stages returns the distinct node labels at each stage, index 0 = stage 1, sorted.
func (p *Plan) Stages() [][]string {
	out := make([][]string, p.CriticalPath)
	for _, n := range p.Nodes {
		out[n.Stage-1] = appendUnique(out[n.Stage-1], n.Label())
	}
	for _, s := range out {
		sort.Strings(s)
	}
	return out
}

// Awaited reports whether the Kubernetes provider waits for r to become ready before
// it reports r created, and if not, why.
func Awaited(r *mockrun.Resource) (bool, string) {
	if !r.IsKubernetes() {
		return false, "not a Kubernetes object"
	}
	switch r.Type {
	case TypeStatefulSet, TypeDeployment, TypePVC, TypeService, TypeJob:
	default:
		return false, r.Kind() + " is not awaited"
	}
	in := mockrun.Plain(r.Inputs)
	if v, _ := mockrun.Get(in, "metadata.annotations").(map[string]any); v != nil {
		if s, ok := v[SkipAwaitAnnotation].(string); ok && strings.EqualFold(s, "true") {
			return false, SkipAwaitAnnotation + " is true"
		}
	}
	if r.Type != TypeService {
		return true, ""
	}
	if t, _ := mockrun.Get(in, "spec.type").(string); t == "ExternalName" {
		return false, "ExternalName Service"
	}
	if ip, _ := mockrun.Get(in, "spec.clusterIP").(string); ip == "None" {
		return false, "headless Service (clusterIP: None)"
	}
	if sel, _ := mockrun.Get(in, "spec.selector").(map[string]any); len(sel) == 0 {
		return false, "Service without a selector"
	}
	return true, ""
}

// Compute derives the startup plan from a recorded graph. It uses res.DependsOn, which
// follows dependencies transitively and through parent chains (a child registers only
// after its parent, and a component only after its own dependencies).
func Compute(res *mockrun.Result) *Plan {
	p := &Plan{NotAwaited: map[string]string{}, byURN: map[string]*Node{}}
	clusters := map[string]*Cluster{}
	deps := map[string][]string{} // awaited URN -> awaited URNs in its transitive DependsOn

	for _, r := range res.Resources {
		if isClusterType(r.Type) && clusterOf(res, r) == nil { // nested cluster components belong to the outer one
			clusters[r.URN] = &Cluster{URN: r.URN, Type: r.Type, Name: r.Name}
		}
	}
	for _, r := range res.Resources {
		if !r.IsKubernetes() {
			continue
		}
		ok, why := Awaited(r)
		if !ok {
			p.NotAwaited[r.URN] = why
			continue
		}
		n := &Node{URN: r.URN, Type: r.Type, Kind: r.Kind(), Name: r.Name}
		in := mockrun.Plain(r.Inputs)
		labels, _ := mockrun.Get(in, "metadata.labels").(map[string]any)
		n.namespace, _ = mockrun.Get(in, "metadata.namespace").(string)
		switch r.Type {
		case TypeService:
			n.selector, _ = mockrun.Get(in, "spec.selector").(map[string]any)
		case TypeStatefulSet, TypeDeployment:
			n.podLabels, _ = mockrun.Get(in, "spec.template.metadata.labels").(map[string]any)
		}
		n.Component = labelValue(labels, LabelComponent)
		n.Cluster = labelValue(labels, LabelInstance)
		if top := clusterOf(res, r); top != nil {
			n.ClusterType = top.Type
			if n.Cluster == "" {
				n.Cluster = top.Name
			}
			if c := clusters[top.URN]; c != nil {
				c.Nodes = append(c.Nodes, n)
			}
		}
		if n.ClusterType == TypeQuasarDBCluster {
			if app := labelValue(labels, LabelName); app != "" {
				n.Component = app
			}
		}
		if n.Component == "" {
			n.Component = componentFromParents(res, r)
		}
		p.Nodes = append(p.Nodes, n)
		p.byURN[n.URN] = n
	}
	for _, n := range p.Nodes {
		for _, urn := range res.DependsOn(res.ByURN(n.URN)) {
			if p.byURN[urn] != nil && urn != n.URN {
				deps[n.URN] = append(deps[n.URN], urn)
			}
		}
	}

	for _, n := range p.Nodes {
		if n.selector == nil {
			continue
		}
		for _, w := range p.Nodes {
			if w.podLabels != nil && selects(n, w) {
				n.Selects = append(n.Selects, w.URN)
			}
		}
		sort.Strings(n.Selects)
	}

	// Stage = 1 + max stage of the awaited objects waited for, and for a Service at
	// least the stage of the workloads it selects; memoised depth-first.
	const visiting = -1
	var stage func(n *Node, path []string) int
	stage = func(n *Node, path []string) int {
		if n.Stage == visiting {
			p.Problems = append(p.Problems, "waits in a cycle (the provider would time out): "+
				strings.Join(append(path, n.URN), " -> "))
			return 0
		}
		if n.Stage > 0 {
			return n.Stage
		}
		n.Stage = visiting
		s := 0
		for _, d := range deps[n.URN] {
			s = max(s, stage(p.byURN[d], append(path[:len(path):len(path)], n.URN)))
		}
		s++
		for _, w := range n.Selects {
			s = max(s, stage(p.byURN[w], append(path[:len(path):len(path)], n.URN)))
		}
		n.Stage = s
		return n.Stage
	}
	for _, n := range p.Nodes {
		p.CriticalPath = max(p.CriticalPath, stage(n, nil))
	}

	// Direct edges: drop a dependency reached through another awaited dependency.
	for _, n := range p.Nodes {
		ds := deps[n.URN]
		implied := map[string]bool{}
		for _, d := range ds {
			for _, dd := range deps[d] {
				implied[dd] = true
			}
		}
		for _, d := range ds {
			if !implied[d] {
				n.After = append(n.After, d)
			}
		}
		sort.Strings(n.After)
	}

	sortNodes(p.Nodes)
	for _, c := range clusters {
		sortNodes(c.Nodes)
		if len(c.Nodes) > 0 && c.Nodes[0].Cluster != "" {
			c.Name = c.Nodes[0].Cluster // the instance label names the cluster as the config does
		}
		seen := map[int]bool{}
		for _, n := range c.Nodes {
			seen[n.Stage] = true
			c.CriticalPath = max(c.CriticalPath, n.Stage)
		}
		c.Stages = len(seen)
		p.Clusters = append(p.Clusters, c)
	}
	sort.Slice(p.Clusters, func(i, j int) bool {
		a, b := p.Clusters[i], p.Clusters[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.URN < b.URN
	})
	sort.Strings(p.Problems)
	return p
}

// selects reports whether Service svc selects the pods of workload w: every selector
// label is on w's pod template, and both are in the same namespace (when known).
func selects(svc, w *Node) bool {
	if svc.namespace != "" && w.namespace != "" && svc.namespace != mockrun.Unknown &&
		w.namespace != mockrun.Unknown && svc.namespace != w.namespace {
		return false
	}
	for k, v := range svc.selector {
		s, ok := v.(string)
		if !ok || s == mockrun.Unknown || w.podLabels[k] != s {
			return false
		}
	}
	return len(svc.selector) > 0
}

// clusterOf returns the outermost cluster component above r (excluding r), or nil.
func clusterOf(res *mockrun.Result, r *mockrun.Resource) *mockrun.Resource {
	var top *mockrun.Resource
	for _, urn := range res.ParentChain(r) {
		if a := res.ByURN(urn); a != nil && isClusterType(a.Type) {
			top = a
		}
	}
	return top
}

// isClusterType reports whether a type token is a database's cluster component
// (tsdb:<database>:Cluster): what a plan groups objects by.
func isClusterType(t string) bool {
	parts := strings.Split(t, ":")
	return len(parts) == 3 && parts[0] == "tsdb" && parts[2] == "Cluster"
}

// componentFromParents names an unlabelled object's component after its nearest
// component parent's type ("tsdb:greptimedb:Meta" -> "meta"; a cluster by its
// database, "tsdb:quasardb:Cluster" -> "quasardb"), else its kind.
func componentFromParents(res *mockrun.Result, r *mockrun.Resource) string {
	for _, urn := range res.ParentChain(r) {
		a := res.ByURN(urn)
		if a == nil || a.Custom || !strings.HasPrefix(a.Type, "tsdb:") {
			continue
		}
		if isClusterType(a.Type) {
			return strings.Split(a.Type, ":")[1]
		}
		return strings.ToLower(a.Type[strings.LastIndex(a.Type, ":")+1:])
	}
	return strings.ToLower(r.Kind())
}

func labelValue(labels map[string]any, key string) string {
	if s, ok := labels[key].(string); ok && s != mockrun.Unknown {
		return s
	}
	return ""
}

func sortNodes(ns []*Node) {
	sort.Slice(ns, func(i, j int) bool {
		a, b := ns[i], ns[j]
		switch {
		case a.Stage != b.Stage:
			return a.Stage < b.Stage
		case a.Cluster != b.Cluster:
			return a.Cluster < b.Cluster
		case a.Component != b.Component:
			return a.Component < b.Component
		case a.Kind != b.Kind:
			return a.Kind < b.Kind
		}
		return a.URN < b.URN
	})
}

func appendUnique(s []string, v string) []string {
	for _, e := range s {
		if e == v {
			return s
		}
	}
	return append(s, v)
}

// Run evaluates a committed stack (Pulumi.<stack>.yaml at the repository root) under
// mocks and computes its plan.
func Run(stack string) (*Plan, error) {
	known, err := mockrun.CommittedStacks()
	if err != nil {
		return nil, err
	}
	found := false
	for _, s := range known {
		found = found || s == stack
	}
	if !found {
		return nil, fmt.Errorf("unknown stack %q: no Pulumi.%s.yaml at the repository root; committed stacks: %s",
			stack, stack, strings.Join(known, ", "))
	}
	res, _, err := mockrun.RunStack(stack, false)
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", stack, err)
	}
	return Compute(res), nil
}

// RunConfig evaluates the program under mocks with the given options and computes its plan.
func RunConfig(opts mockrun.Options) (*Plan, error) {
	res, err := mockrun.Run(stacks.Program, opts)
	if err != nil {
		return nil, err
	}
	return Compute(res), nil
}
