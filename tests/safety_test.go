package tests

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
)

const (
	statefulSetType   = "kubernetes:apps/v1:StatefulSet"
	deploymentType    = "kubernetes:apps/v1:Deployment"
	networkPolicyType = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
)

// TestStatefulSetsKeepTheirData: in every stack, every StatefulSet keeps its volumes
// when it is deleted or scaled down, and ignores drift in its volume claim templates
// (a template change would otherwise replace the StatefulSet; volumes are expanded
// through their PVCs, see README "Expanding a volume"). In prod every StatefulSet is
// also protected and kept in the cluster if Pulumi deletes it; in dev neither.
func TestStatefulSetsKeepTheirData(t *testing.T) {
	for _, s := range auditedStacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			res, _, err := mockrun.RunStackFile(s.Path, s.Name, false)
			require.NoError(t, err)
			sets := res.OfType(statefulSetType)
			require.NotEmpty(t, sets)
			for _, sts := range sets {
				in := mockrun.Plain(sts.Inputs)
				assert.Equal(t, map[string]any{"whenDeleted": "Retain", "whenScaled": "Retain"},
					mockrun.Get(in, "spec.persistentVolumeClaimRetentionPolicy"), sts.Name)
				assert.Contains(t, sts.IgnoreChanges, "spec.volumeClaimTemplates", sts.Name)
				assert.NotEmpty(t, mockrun.Get(in, "spec.volumeClaimTemplates"), "%s owns its volumes", sts.Name)
				switch s.Name {
				case "prod", "full":
					assert.True(t, sts.Protect, "%s must be protected", sts.Name)
					assert.True(t, sts.RetainOnDelete, "%s must be retained on delete", sts.Name)
				case "dev":
					assert.False(t, sts.Protect, sts.Name)
					assert.False(t, sts.RetainOnDelete, sts.Name)
				}
			}
			for _, d := range res.OfType(deploymentType) {
				assert.False(t, d.Protect, "%s holds no data; protecting it would only block rollouts", d.Name)
			}
			// Deleting a namespace deletes every claim in it: the namespace the stack
			// owns is protected and kept exactly like its StatefulSets.
			for _, ns := range res.OfType(namespaceType) {
				assert.Equal(t, sets[0].Protect, ns.Protect, "namespace %s protected like the StatefulSets", ns.Name)
				assert.Equal(t, sets[0].RetainOnDelete, ns.RetainOnDelete, "namespace %s kept like the StatefulSets", ns.Name)
			}
		})
	}
}

// TestNetworkIsolation: where isolation is on (prod, and the all-features stack),
// every database pod is selected by a deny-by-default policy for both ingress and
// egress; where it is off (dev), no policy is created.
func TestNetworkIsolation(t *testing.T) {
	for _, s := range auditedStacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			res, _, err := mockrun.RunStackFile(s.Path, s.Name, false)
			require.NoError(t, err)
			policies := res.OfType(networkPolicyType)
			if s.Name == "dev" || s.Name == "staging" {
				assert.Empty(t, policies)
				return
			}
			require.NotEmpty(t, policies)
			selected := map[string]bool{}
			for _, p := range policies {
				in := mockrun.Plain(p.Inputs)
				assert.ElementsMatch(t, []any{"Ingress", "Egress"}, mockrun.Get(in, "spec.policyTypes"), p.Name)
				selected[labelKey(mockrun.Get(in, "spec.podSelector.matchLabels"))] = true
			}
			workloads := append(res.OfType(statefulSetType), res.OfType(deploymentType)...)
			for _, w := range workloads {
				sel := labelKey(mockrun.Get(mockrun.Plain(w.Inputs), "spec.selector.matchLabels"))
				assert.True(t, selected[sel], "no NetworkPolicy isolates the pods of %s", w.Name)
			}
		})
	}
}

// labelKey identifies a component's pods by their name/instance/component labels.
func labelKey(v any) string {
	m, _ := v.(map[string]any)
	return fmt.Sprintf("%v/%v/%v", m["app.kubernetes.io/name"], m["app.kubernetes.io/instance"], m["app.kubernetes.io/component"])
}

// TestVolumeResizeReplacesNothing is the resize path of README "Expanding a volume":
// a larger storage size changes a StatefulSet's inputs only under
// spec.volumeClaimTemplates, which the StatefulSet ignores, so `pulumi up` neither
// updates nor replaces it (the claims are expanded in place, then the object is
// recreated with --cascade=orphan).
func TestVolumeResizeReplacesNothing(t *testing.T) {
	sized := func(size string) map[string]*mockrun.Resource {
		res, err := mockrun.Run(stacks.Program, mockrun.Options{Config: with(map[string]string{
			"greptimedb": `[{"name":"metrics","etcd":{"storage":{"size":"` + size + `"}},"datanode":{"storage":{"size":"` + size + `"}}}]`,
			"quasardb":   `[{"name":"ticks","storage":{"size":"` + size + `"}}]`,
		})})
		require.NoError(t, err)
		out := map[string]*mockrun.Resource{}
		for _, r := range res.Kubernetes() {
			out[r.Type+" "+r.Name] = r
		}
		return out
	}
	before, after := sized("10Gi"), sized("200Gi")
	require.Equal(t, len(before), len(after))
	changed := 0
	for key, b := range before {
		a := after[key]
		require.NotNil(t, a, key)
		bin, ain := mockrun.Plain(b.Inputs), mockrun.Plain(a.Inputs)
		if b.Type != statefulSetType {
			assert.Equal(t, bin, ain, "%s must not change with a volume size", key)
			continue
		}
		assert.NotEqual(t, mockrun.Get(bin, "spec.volumeClaimTemplates"), mockrun.Get(ain, "spec.volumeClaimTemplates"), key)
		assert.Contains(t, a.IgnoreChanges, "spec.volumeClaimTemplates", key)
		delete(bin["spec"].(map[string]any), "volumeClaimTemplates")
		delete(ain["spec"].(map[string]any), "volumeClaimTemplates")
		assert.Equal(t, bin, ain, "%s: only the ignored claim templates may differ", key)
		changed++
	}
	assert.Equal(t, 3, changed, "etcd, datanode and QuasarDB StatefulSets")
}
