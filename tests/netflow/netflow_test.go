package netflow_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"

	"tsdb-platform/components/kube"
	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
	"tsdb-platform/tests/manifests"
	"tsdb-platform/tests/netflow"
)

// render runs a stack under mocks and reads its pods and policies.
func render(t *testing.T, s mockrun.StackRef) *netflow.Stack {
	t.Helper()
	res, _, err := mockrun.RunStackFile(s.Path, s.Name, false)
	require.NoError(t, err)
	objs, err := manifests.Objects(res)
	require.NoError(t, err)
	stack, err := netflow.NewStack(objs)
	require.NoError(t, err)
	require.NotEmpty(t, stack.Pods)
	return stack
}

// flowsSpec reads tests/testdata/flows/<stack>.yaml and, with isolation, adds
// the calls between the components of each GreptimeDB cluster of the stack
// file at path, as the components table declares them. The file lists the
// rest: DNS, clients, Prometheus, etcd's members, QuasarDB, and everything
// outside the cluster.
func flowsSpec(t *testing.T, stack, path string) *netflow.Spec {
	t.Helper()
	root, err := mockrun.RepoRoot()
	require.NoError(t, err)
	spec, err := netflow.ReadSpec(filepath.Join(root, "tests", "testdata", "flows", stack+".yaml"))
	require.NoError(t, err, "every stack needs its flows file")
	if !spec.Isolation {
		return spec
	}
	sc, err := mockrun.LoadStackFile(path)
	require.NoError(t, err)
	loaded, err := stacks.Load(stacks.MapLookup(sc.Config))
	require.NoError(t, err)
	peer := func(id kube.Identity) string { return id.App + "/" + id.Instance + "/" + id.Component }
	for _, c := range loaded.GreptimeDB {
		for _, l := range c.ClusterSpec.Links(c.Name) {
			spec.Flows = append(spec.Flows, netflow.Rule{From: peer(l.From), To: peer(l.To), Ports: l.Ports})
		}
	}
	return spec
}

// report is a check's problems, at most a screenful, for a failure message.
func report(res netflow.Result) string {
	lines := res.Problems()
	const max = 60
	if len(lines) > max {
		lines = append(lines[:max], fmt.Sprintf("... and %d more", len(lines)-max))
	}
	return strings.Join(lines, "\n")
}

func allStacks(t *testing.T) []mockrun.StackRef {
	t.Helper()
	all, err := mockrun.AllStacks()
	require.NoError(t, err)
	require.NotEmpty(t, all)
	return all
}

// TestStackFlows: in every stack with isolation, the rendered NetworkPolicies
// allow every flow of the stack's flows file and deny every other flow between
// the modelled peers, as a policy engine evaluates them. A stack without
// isolation renders no policy at all, so every flow is allowed: there the check
// is that no policy is rendered (a stray one would cut flows nobody listed).
func TestStackFlows(t *testing.T) {
	for _, s := range allStacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			stack := render(t, s)
			spec := flowsSpec(t, s.Name, s.Path)
			if !spec.Isolation {
				assert.Empty(t, stack.Policies, "the flows file says the stack has no isolation")
				assert.Empty(t, spec.Flows, "without isolation every flow is allowed: list none")
				return
			}
			require.NotEmpty(t, stack.Policies, "the flows file says the stack isolates its pods")
			res, err := netflow.Check(spec, stack, netflow.ExternalPeers(stack.Namespace))
			require.NoError(t, err)
			if problems := res.Problems(); len(problems) > 0 {
				t.Errorf("%d of %d flows are wrong:\n%s", len(problems), res.Checked, report(res))
			}
		})
	}
}

// fullStack is the all-features stack, with its flows file.
func fullStack(t *testing.T) (*netflow.Stack, *netflow.Spec) {
	t.Helper()
	for _, s := range allStacks(t) {
		if s.Name == "full" {
			return render(t, s), flowsSpec(t, "full", s.Path)
		}
	}
	require.FailNow(t, "no full stack")
	return nil, nil
}

// policy is the rendered policy of a name.
func policy(t *testing.T, stack *netflow.Stack, name string) *networkingv1.NetworkPolicy {
	t.Helper()
	for _, np := range stack.Policies {
		if np.Name == name {
			return np
		}
	}
	require.FailNow(t, "no policy "+name)
	return nil
}

// TestCheckCatchesBrokenPolicies plants faults in a copy of the rendered policies
// and requires the check to name the flows they break, so that it keeps proving
// it can fail.
func TestCheckCatchesBrokenPolicies(t *testing.T) {
	cases := []struct {
		name    string
		break_  func(t *testing.T, stack *netflow.Stack)
		missing []string
		extra   []string
	}{
		{
			name: "a rule removed",
			break_: func(t *testing.T, stack *netflow.Stack) {
				np := policy(t, stack, "metrics-meta")
				np.Spec.Ingress = np.Spec.Ingress[:len(np.Spec.Ingress)-1]
			},
			missing: []string{"greptimedb/metrics/maintenance -> greptimedb/metrics/meta:4000/TCP"},
		},
		{
			name: "an allow-all ingress rule added",
			break_: func(t *testing.T, stack *netflow.Stack) {
				np := policy(t, stack, "ticks")
				np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{})
			},
			extra: []string{
				"cidr-client -> quasardb/ticks/database:2836/TCP",
				"other-namespace-pod -> quasardb/ticks/database:2837/TCP",
				"same-namespace-pod -> quasardb/ticks/database:22/TCP",
			},
		},
		{
			name: "an allow-all egress rule added",
			break_: func(t *testing.T, stack *netflow.Stack) {
				np := policy(t, stack, "metrics-datanode")
				np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{})
			},
			extra: []string{
				"greptimedb/metrics/datanode -> internet:22/TCP",
				"greptimedb/metrics/datanode -> gke-metadata:8443/TCP",
			},
		},
		{
			name: "a policy dropped",
			break_: func(t *testing.T, stack *netflow.Stack) {
				var kept []*networkingv1.NetworkPolicy
				for _, np := range stack.Policies {
					if np.Name != "metrics-maintenance" {
						kept = append(kept, np)
					}
				}
				stack.Policies = kept
			},
			extra: []string{
				"greptimedb/metrics/maintenance -> internet:443/TCP",
				"same-namespace-pod -> greptimedb/metrics/maintenance:22/TCP",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stack, spec := fullStack(t)
			tc.break_(t, stack)
			res, err := netflow.Check(spec, stack, netflow.ExternalPeers(stack.Namespace))
			require.NoError(t, err)
			got := map[string][]string{}
			for _, f := range res.Missing {
				got["missing"] = append(got["missing"], f.String())
			}
			for _, f := range res.Extra {
				got["extra"] = append(got["extra"], f.String())
			}
			for _, f := range tc.missing {
				assert.Contains(t, got["missing"], f)
			}
			for _, f := range tc.extra {
				assert.Contains(t, got["extra"], f)
			}
			if len(tc.missing) == 0 {
				assert.Empty(t, got["missing"])
			}
			if len(tc.extra) == 0 {
				assert.Empty(t, got["extra"])
			}
		})
	}
}

// TestFlowsFilesNameRealPeers: a flows file that names no such peer, or leaves a
// pod of the stack out, is an error rather than a silently weaker check.
func TestFlowsFilesNameRealPeers(t *testing.T) {
	stack, spec := fullStack(t)
	peers := netflow.ExternalPeers(stack.Namespace)

	typo := *spec
	typo.Flows = append(append([]netflow.Rule(nil), spec.Flows...), netflow.Rule{From: "greptimedb/metrics/metaa", To: "dns", Ports: []int{53}})
	_, err := netflow.Check(&typo, stack, peers)
	assert.ErrorContains(t, err, `"greptimedb/metrics/metaa": no such peer`)

	var left netflow.Spec
	left.Isolation = true
	for _, r := range spec.Flows {
		if r.From != "quasardb/scratch/database" && r.To != "quasardb/scratch/database" {
			left.Flows = append(left.Flows, r)
		}
	}
	_, err = netflow.Check(&left, stack, peers)
	assert.ErrorContains(t, err, "quasardb/scratch/database are in no flow")
}
