package stacks

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
)

// OutputTopology is the stack output that records the member and replica counts the
// stack deployed. The next run reads it back to refuse unsafe changes.
const OutputTopology = "topology"

// SelfReferenceName is the logical name of the stack reference through which the
// program reads its own previous outputs.
const SelfReferenceName = "previous-deployment"

// Topology is what a deployment's safety depends on: what cannot simply be changed
// on a running cluster without losing data or availability.
type Topology struct {
	// Namespace is where the stack deployed ("" in outputs from before it was recorded).
	Namespace  string                        `json:"namespace,omitempty"`
	GreptimeDB map[string]GreptimeDBTopology `json:"greptimedb,omitempty"`
	QuasarDB   map[string]QuasarDBTopology   `json:"quasardb,omitempty"`
}

// GreptimeDBTopology records what a GreptimeDB cluster's data depends on. A zero
// value means "not recorded" (outputs of an older deployment) and is not checked.
type GreptimeDBTopology struct {
	// EtcdMembers is 0 when the cluster uses external etcd.
	EtcdMembers int `json:"etcdMembers"`
	// Datanodes is the datanode replica count.
	Datanodes int `json:"datanodes,omitempty"`
	// WALProvider is where the write-ahead log lives.
	WALProvider string `json:"walProvider,omitempty"`
	// StorageLocation is where region data lives (greptimedb.ObjectStorage.Location).
	StorageLocation string `json:"storageLocation,omitempty"`
}

// QuasarDBTopology records a QuasarDB cluster's deployed node count.
type QuasarDBTopology struct {
	Replicas int `json:"replicas"`
}

// TopologyOf returns the topology a spec deploys.
func TopologyOf(spec *Spec) Topology {
	t := Topology{Namespace: spec.Target.Namespace, GreptimeDB: map[string]GreptimeDBTopology{}, QuasarDB: map[string]QuasarDBTopology{}}
	for _, c := range spec.GreptimeDB {
		members := 0
		if c.Etcd.Deployed() {
			members = c.Etcd.Replicas
		}
		t.GreptimeDB[c.Name] = GreptimeDBTopology{
			EtcdMembers:     members,
			Datanodes:       c.Datanode.Replicas,
			WALProvider:     string(c.WAL.Provider),
			StorageLocation: c.Datanode.ObjectStorage.Location(),
		}
	}
	for _, c := range spec.QuasarDB {
		t.QuasarDB[c.Name] = QuasarDBTopology{Replicas: c.Replicas}
	}
	return t
}

// Output is the topology as a stack output value.
func (t Topology) Output() pulumi.Map {
	g := pulumi.Map{}
	for name, c := range t.GreptimeDB {
		g[name] = pulumi.Map{
			"etcdMembers":     pulumi.Int(c.EtcdMembers),
			"datanodes":       pulumi.Int(c.Datanodes),
			"walProvider":     pulumi.String(c.WALProvider),
			"storageLocation": pulumi.String(c.StorageLocation),
		}
	}
	q := pulumi.Map{}
	for name, c := range t.QuasarDB {
		q[name] = pulumi.Map{"replicas": pulumi.Int(c.Replicas)}
	}
	return pulumi.Map{"namespace": pulumi.String(t.Namespace), "greptimedb": g, "quasardb": q}
}

// CheckTopologyChange refuses changes that lose data or availability on a running
// cluster unless the stack opts in for that deployment, each by its own key:
//   - an etcd member count (members must be added or removed with etcdctl first);
//   - fewer datanodes (the removed ordinals' regions and local WAL go offline);
//   - another WAL provider (the old WAL is not replayed);
//   - another object storage type, bucket, container or root (an empty store);
//   - a QuasarDB node count (it shifts every node id);
//   - with retained or protected data: a cluster removed or renamed, or another
//     namespace (the old StatefulSets and claims stay behind, an empty cluster starts).
//
// A cluster that was not deployed before is new and may have any shape.
func CheckTopologyChange(previous Topology, spec *Spec) error {
	var ps problems
	for i, c := range spec.GreptimeDB {
		prev, ok := previous.GreptimeDB[c.Name]
		if !ok {
			continue
		}
		checkGreptimeDBChange(&ps, fmt.Sprintf("%s[%d]", KeyGreptimeDB, i), prev, c)
	}
	for i, c := range spec.QuasarDB {
		prev, ok := previous.QuasarDB[c.Name]
		if !ok || prev.Replicas == 0 || prev.Replicas == c.Replicas || c.AllowReplicaChange {
			continue
		}
		key := fmt.Sprintf("%s[%d]", KeyQuasarDB, i)
		ps.add(key+".replicas", c.Replicas, "the running cluster has %d nodes; changing the count shifts every node id "+
			"(K8S_REPLICA_COUNT) and reshapes the ring (README: \"Changing QuasarDB nodes\"); set "+
			"%s.allowReplicaChange to true to do it on purpose", prev.Replicas, key)
	}
	checkOrphaning(&ps, previous, spec)
	return ps.err()
}

// checkGreptimeDBChange reports the unsafe changes of one running GreptimeDB cluster at key.
func checkGreptimeDBChange(ps *problems, key string, prev GreptimeDBTopology, c GreptimeDBCluster) {
	if c.Etcd.Deployed() && prev.EtcdMembers != 0 && prev.EtcdMembers != c.Etcd.Replicas && !c.Etcd.AllowMemberCountChange {
		ps.add(key+".etcd.replicas", c.Etcd.Replicas, "the running etcd cluster has %d members; changing the member count "+
			"needs `etcdctl member add`/`member remove` first (README: \"Changing etcd members\"), then set "+
			"%s.etcd.allowMemberCountChange to true for that deployment", prev.EtcdMembers, key)
	}
	if prev.Datanodes != 0 && c.Datanode.Replicas < prev.Datanodes && !c.Datanode.AllowScaleDown {
		ps.add(key+".datanode.replicas", c.Datanode.Replicas, "%d datanodes are running; the regions on the removed "+
			"ones go offline (and their local WAL with them) unless they were migrated first (README: \"Removing datanodes\"); "+
			"then set %s.datanode.allowScaleDown to true for that deployment", prev.Datanodes, key)
	}
	if prev.WALProvider != "" && string(c.WAL.Provider) != prev.WALProvider && !c.WAL.AllowProviderChange {
		ps.add(key+".wal.provider", c.WAL.Provider, "the running cluster writes its WAL to %s; the datanodes do not "+
			"replay it from another provider, so writes not yet flushed are lost; flush every table first "+
			"(ADMIN flush_table), then set %s.wal.allowProviderChange to true for that deployment", prev.WALProvider, key)
	}
	if loc := c.Datanode.ObjectStorage.Location(); prev.StorageLocation != "" && loc != prev.StorageLocation && !c.Datanode.ObjectStorage.AllowLocationChange {
		ps.add(key+".datanode.objectStorage", loc, "the running datanodes keep their data at %s; pointed elsewhere "+
			"(type, bucket, container or root) they open an empty store; copy the data there first, then set "+
			"%s.datanode.objectStorage.allowLocationChange to true for that deployment", prev.StorageLocation, key)
	}
}

// checkOrphaning refuses, when the stack retains or protects its data, a deployment
// that would leave a cluster's data behind: a cluster removed or renamed, or the
// namespace changed. Without retention the data goes with the cluster, on purpose.
func checkOrphaning(ps *problems, previous Topology, spec *Spec) {
	safety := spec.DataSafety
	if !safety.RetainOnDelete && !safety.Protect || safety.AllowOrphaning {
		return
	}
	fix := fmt.Sprintf("keep it, or set %s.allowOrphaning to true for that deployment "+
		"(README: \"Data safety\")", KeyDataSafety)
	if previous.Namespace != "" && previous.Namespace != spec.Target.Namespace {
		ps.add(KeyNamespace, spec.Target.Namespace, "the stack's clusters run in namespace %q; in another namespace empty "+
			"clusters start and the retained StatefulSets and volume claims stay behind in %q; %s", previous.Namespace, previous.Namespace, fix)
	}
	for _, kind := range []struct {
		key     string
		running []string
		wanted  map[string]bool
	}{
		{KeyGreptimeDB, slices.Sorted(maps.Keys(previous.GreptimeDB)), namesOf(spec.GreptimeDB, func(c GreptimeDBCluster) string { return c.Name })},
		{KeyQuasarDB, slices.Sorted(maps.Keys(previous.QuasarDB)), namesOf(spec.QuasarDB, func(c QuasarDBCluster) string { return c.Name })},
	} {
		for _, name := range kind.running {
			if kind.wanted[name] {
				continue
			}
			ps.add(kind.key, name, "cluster %q is running and is not in the configuration any more: removed or renamed, "+
				"its retained StatefulSets and volume claims stay behind and a renamed cluster starts empty; %s", name, fix)
		}
	}
}

func namesOf[T any](clusters []T, name func(T) string) map[string]bool {
	out := map[string]bool{}
	for _, c := range clusters {
		out[name(c)] = true
	}
	return out
}

// readPreviousTopology reads the topology this stack exported on its last deployment,
// through a stack reference to the stack itself. A first deployment has none.
func readPreviousTopology(ctx *pulumi.Context) (Topology, error) {
	org := ctx.Organization()
	if org == "" {
		org = "organization"
	}
	ref, err := pulumi.NewStackReference(ctx, SelfReferenceName, &pulumi.StackReferenceArgs{
		Name: pulumi.String(fmt.Sprintf("%s/%s/%s", org, ctx.Project(), ctx.Stack())),
	})
	if err != nil {
		return Topology{}, fmt.Errorf("reading the previous deployment: %w", err)
	}
	res, err := internals.UnsafeAwaitOutput(context.Background(), ref.GetOutput(pulumi.String(OutputTopology)))
	if err != nil {
		return Topology{}, fmt.Errorf("reading the previous deployment's %s output: %w", OutputTopology, err)
	}
	var t Topology
	if !res.Known || res.Value == nil {
		return t, nil
	}
	raw, err := json.Marshal(res.Value)
	if err != nil {
		return t, fmt.Errorf("previous %s output: %w", OutputTopology, err)
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return t, fmt.Errorf("previous %s output: %w", OutputTopology, err)
	}
	return t, nil
}
