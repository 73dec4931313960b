package stacks

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
)

// OutputTopology is the stack output that records the member and replica counts the
// stack deployed. The next run reads it back to refuse unsafe changes.
const OutputTopology = "topology"

// SelfReferenceName is the logical name of the stack reference through which the
// program reads its own previous outputs.
const SelfReferenceName = "previous-deployment"

// Topology is what a deployment's safety depends on: counts that cannot simply be
// changed on a running cluster.
type Topology struct {
	GreptimeDB map[string]GreptimeDBTopology `json:"greptimedb,omitempty"`
	QuasarDB   map[string]QuasarDBTopology   `json:"quasardb,omitempty"`
}

// GreptimeDBTopology records a GreptimeDB cluster's deployed etcd member count.
type GreptimeDBTopology struct {
	// EtcdMembers is 0 when the cluster uses external etcd.
	EtcdMembers int `json:"etcdMembers"`
}

// QuasarDBTopology records a QuasarDB cluster's deployed node count.
type QuasarDBTopology struct {
	Replicas int `json:"replicas"`
}

// TopologyOf returns the topology a spec deploys.
func TopologyOf(spec *Spec) Topology {
	t := Topology{GreptimeDB: map[string]GreptimeDBTopology{}, QuasarDB: map[string]QuasarDBTopology{}}
	for _, c := range spec.GreptimeDB {
		members := 0
		if c.Etcd.Deployed() {
			members = c.Etcd.Replicas
		}
		t.GreptimeDB[c.Name] = GreptimeDBTopology{EtcdMembers: members}
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
		g[name] = pulumi.Map{"etcdMembers": pulumi.Int(c.EtcdMembers)}
	}
	q := pulumi.Map{}
	for name, c := range t.QuasarDB {
		q[name] = pulumi.Map{"replicas": pulumi.Int(c.Replicas)}
	}
	return pulumi.Map{"greptimedb": g, "quasardb": q}
}

// CheckTopologyChange refuses changes that are unsafe on a running cluster unless the
// stack opts in: an etcd member count (members must be added or removed with
// etcdctl first) and a QuasarDB node count (it shifts every node id). A cluster
// that was not deployed before is new and may have any size.
func CheckTopologyChange(previous Topology, spec *Spec) error {
	var ps problems
	for i, c := range spec.GreptimeDB {
		prev, ok := previous.GreptimeDB[c.Name]
		if !ok || !c.Etcd.Deployed() || prev.EtcdMembers == 0 || prev.EtcdMembers == c.Etcd.Replicas || c.Etcd.AllowMemberCountChange {
			continue
		}
		key := fmt.Sprintf("%s[%d].etcd", KeyGreptimeDB, i)
		ps.add(key+".replicas", c.Etcd.Replicas, "the running etcd cluster has %d members; changing the member count "+
			"needs `etcdctl member add`/`member remove` first (README: \"Changing etcd members\"), then set "+
			"%s.allowMemberCountChange to true for that deployment", prev.EtcdMembers, key)
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
	return ps.err()
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
