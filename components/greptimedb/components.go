package greptimedb

import (
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"tsdb-platform/components/etcd"
	"tsdb-platform/components/kube"
)

// Kind is one component of a GreptimeDB cluster: its
// app.kubernetes.io/component label and the suffix of its objects' names.
type Kind string

// The cluster's components, and the Jobs that run beside them.
const (
	KindEtcd     Kind = "etcd"
	KindMeta     Kind = "meta"
	KindDatanode Kind = "datanode"
	KindFrontend Kind = "frontend"
	KindFlownode Kind = "flownode"
	// KindMaintenance is the Jobs that turn metasrv's maintenance mode on and
	// off around a datanode rollout.
	KindMaintenance Kind = "maintenance"
	// KindBackup is the CronJob that exports databases.
	KindBackup Kind = "backup"
)

// component is one row of the cluster's wiring: everything another component,
// a NetworkPolicy, a wait, the startup order, the dashboard or the plan needs
// to know about a component. Nothing else names a component.
type component struct {
	kind Kind
	// ports are what its pods listen on (by name: the Service's and the
	// container's port names).
	ports []kube.Port
	// deployed reports whether the cluster runs it.
	deployed func(s ClusterSpec) bool
	// calls are the components it calls, on which of their ports.
	calls func(s ClusterSpec) []call
	// calledBy are the components that call it, on which of its ports: a new
	// component declares here who calls it, so the callers' rows stay as
	// they are.
	calledBy []call
	// clientPorts, when set, may be reached by every pod of the cluster (the
	// frontends, the cluster's entry point): its callers in the cluster need a
	// rule only for its other ports.
	clientPorts []int
	// waitsFor is the component whose health its init container polls before
	// it starts ("" for none).
	waitsFor Kind
	// after is the component whose workload is ready before its own is created
	// (DependsOn), so that `pulumi up` starts the cluster in order.
	after Kind
	// around, for Jobs, is the component whose rollout they run before and
	// after (the maintenance Jobs around the datanodes').
	around Kind
	// scheduling is where its pods run, over the stack's scheduling (a Job's,
	// the component's it belongs to: only its node placement applies).
	scheduling func(s ClusterSpec) kube.Scheduling
	// panels are its dashboard series, for the PromQL selector of its pods.
	panels func(pods string) []kube.Panel
	// deployment says its workload is a Deployment (else a StatefulSet), for
	// the kube-state-metrics series of its alert.
	deployment bool
	// build creates the component in the cluster and returns its workload,
	// which the components after it start after.
	build func(b *clusterBuilder, c *Cluster) (pulumi.Resource, error)
}

// call is one component calling another (to; in calledBy, the caller) on ports.
type call struct {
	to    Kind
	ports []int
}

// link is one component (from) calling another (to) on ports.
type link struct {
	from, to Kind
	ports    []int
}

// components are the cluster's components in startup order: etcd, meta, the
// datanodes, the frontends, then the flownodes; then the Jobs. A row without
// deployed is always deployed.
func components() []component {
	return []component{
		{kind: KindEtcd, ports: etcdPorts(), deployed: ownEtcd, scheduling: etcdScheduling, panels: etcdPanels, build: buildEtcd},
		{kind: KindMeta, ports: metaPorts, calls: metaCalls, waitsFor: KindEtcd, after: KindEtcd, scheduling: metaScheduling,
			panels: metaPanels, deployment: true, build: buildMeta},
		{kind: KindDatanode, ports: datanodePorts, calls: calling(callMeta()), waitsFor: KindMeta, after: KindMeta, scheduling: datanodeScheduling,
			panels: datanodePanels, build: buildDatanode},
		{kind: KindFrontend, ports: frontendPorts, calls: calling(callMeta(), callDatanodes()), clientPorts: frontendClientPorts(),
			waitsFor: KindMeta, after: KindDatanode, scheduling: frontendScheduling, panels: frontendPanels, deployment: true, build: buildFrontend},
		{kind: KindFlownode, ports: flownodePorts, deployed: flownodesEnabled, calls: flownodeCalls, calledBy: flownodeCallers(),
			waitsFor: KindFrontend, after: KindFrontend, scheduling: flownodeScheduling, panels: flownodePanels, build: buildFlownode},
		{kind: KindMaintenance, around: KindDatanode, calls: calling(call{to: KindMeta, ports: []int{HTTPPort}}), scheduling: datanodeScheduling},
		{kind: KindBackup, deployed: databaseBackups, calls: calling(call{to: KindFrontend, ports: []int{HTTPPort}}), scheduling: frontendScheduling},
	}
}

// The components' scheduling, for the table's scheduling column.
func etcdScheduling(s ClusterSpec) kube.Scheduling     { return s.Etcd.Scheduling }
func metaScheduling(s ClusterSpec) kube.Scheduling     { return s.Meta.Scheduling }
func datanodeScheduling(s ClusterSpec) kube.Scheduling { return s.Datanode.Scheduling }
func frontendScheduling(s ClusterSpec) kube.Scheduling { return s.Frontend.Scheduling }
func flownodeScheduling(s ClusterSpec) kube.Scheduling { return s.Flownode.Scheduling }

// scheduling is component k's own scheduling (none for a kind without).
func (w wiring) scheduling(k Kind) kube.Scheduling {
	if f := w.row(k).scheduling; f != nil {
		return f(w.spec)
	}
	return kube.Scheduling{}
}

// calling is the calls of a component that makes the same ones whatever the spec.
func calling(calls ...call) func(ClusterSpec) []call {
	return func(ClusterSpec) []call { return calls }
}

// callMeta: meta's gRPC (its clients) and HTTP (its health, for the waits).
func callMeta() call { return call{to: KindMeta, ports: []int{MetaRPCPort, HTTPPort}} }

// callDatanodes: the datanodes' gRPC.
func callDatanodes() call { return call{to: KindDatanode, ports: []int{GRPCPort}} }

// wiring is the components table applied to one cluster: its name and spec,
// the rows it deploys and every call between them, worked out once.
type wiring struct {
	cluster  string
	spec     ClusterSpec
	table    []component
	rows     []component
	deployed map[Kind]bool
	links    []link
}

func newWiring(cluster string, spec ClusterSpec) wiring {
	w := wiring{cluster: cluster, spec: spec, table: components(), deployed: map[Kind]bool{}}
	for _, c := range w.table {
		if c.deployed == nil || c.deployed(spec) {
			w.rows = append(w.rows, c)
			w.deployed[c.kind] = true
		}
	}
	w.links = w.findLinks()
	return w
}

// row is the component of kind k (the zero component, which calls nothing,
// for a kind the table lacks).
func (w wiring) row(k Kind) component {
	for _, c := range w.table {
		if c.kind == k {
			return c
		}
	}
	return component{kind: k}
}

// objectName names the component's workload and Service (and the Jobs' objects).
func (w wiring) objectName(k Kind) string { return objectName(w.cluster, k) }

func objectName(cluster string, k Kind) string { return cluster + "-" + string(k) }

// identity is the labels of the component's pods.
func (w wiring) identity(k Kind) kube.Identity {
	if k == KindEtcd {
		return etcd.Identity(w.cluster)
	}
	return kube.Identity{App: App, Instance: w.cluster, Component: string(k)}
}

// findLinks are every call between the cluster's deployed components, from
// both sides of the table: the callers' calls and the callees' calledBy.
func (w wiring) findLinks() []link {
	var out []link
	for _, r := range w.rows {
		if r.calls != nil {
			for _, c := range r.calls(w.spec) {
				if w.deployed[c.to] {
					out = append(out, link{from: r.kind, to: c.to, ports: c.ports})
				}
			}
		}
		for _, c := range r.calledBy {
			if w.deployed[c.to] {
				out = append(out, link{from: c.to, to: r.kind, ports: c.ports})
			}
		}
	}
	return out
}

// ingress are the flows into k's pods from the components that call it (on
// ports that are not its clientPorts, which every pod of the cluster reaches).
func (w wiring) ingress(k Kind) []kube.Flow {
	client := w.row(k).clientPorts
	var flows []kube.Flow
	for _, l := range w.links {
		if l.to != k {
			continue
		}
		ports := slices.DeleteFunc(slices.Clone(l.ports), func(p int) bool { return slices.Contains(client, p) })
		if len(ports) > 0 {
			flows = append(flows, kube.Allow(ports, w.identity(l.from).Peer()))
		}
	}
	return flows
}

// egress are the flows from k's pods to the components it calls.
func (w wiring) egress(k Kind) []kube.Flow {
	var flows []kube.Flow
	for _, l := range w.links {
		if l.from == k {
			flows = append(flows, kube.Allow(l.ports, w.identity(l.to).Peer()))
		}
	}
	return flows
}

// callers are the labels of the pods that call k.
func (w wiring) callers(k Kind) []map[string]string {
	var out []map[string]string
	for _, l := range w.links {
		if l.to == k {
			out = append(out, w.identity(l.from).SelectorLabels())
		}
	}
	return out
}

// callersOn are the deployed components that call k on port.
func (w wiring) callersOn(k Kind, port int) []Kind {
	var out []Kind
	for _, l := range w.links {
		if l.to == k && slices.Contains(l.ports, port) {
			out = append(out, l.from)
		}
	}
	return out
}

// StartupStages are the components that become ready at each stage of a first
// `pulumi up`, as the table orders them: a component is one stage after the one
// it starts after, and one more after a Job that runs before its rollout (the
// Job itself is at the stages before and after that rollout).
func (s ClusterSpec) StartupStages() [][]Kind {
	w := newWiring("", s)
	stage := map[Kind]int{}
	before := map[Kind]Kind{}
	for _, r := range w.rows {
		if r.around != "" {
			before[r.around] = r.kind
		}
	}
	var out [][]Kind
	at := func(n int, k Kind) {
		for len(out) < n {
			out = append(out, nil)
		}
		if !slices.Contains(out[n-1], k) {
			out[n-1] = append(out[n-1], k)
		}
	}
	for _, r := range w.rows {
		if r.build == nil {
			continue
		}
		n := stage[r.after] + 1
		if job, ok := before[r.kind]; ok {
			at(n, job)
			n++
			at(n+1, job)
		}
		stage[r.kind] = n
		at(n, r.kind)
	}
	for _, ks := range out {
		slices.Sort(ks)
	}
	return out
}

// Link is one component of a cluster calling another on ports, as the
// components table declares it: the NetworkPolicies allow exactly these calls
// between the cluster's pods, and the network-flow check requires them.
type Link struct {
	From, To kube.Identity
	Ports    []int
}

// Links are the calls between the components of the cluster named cluster.
func (s ClusterSpec) Links(cluster string) []Link {
	w := newWiring(cluster, s)
	var out []Link
	for _, l := range w.links {
		out = append(out, Link{From: w.identity(l.from), To: w.identity(l.to), Ports: l.ports})
	}
	return out
}
