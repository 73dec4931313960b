package tests

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
	"tsdb-platform/tests/objects"
)

// TestStatefulSetsKeepTheirData: in every stack, every StatefulSet with volumes keeps
// them when it is deleted or scaled down, and ignores drift in its volume claim
// templates (a template change would otherwise replace the StatefulSet; volumes are
// expanded through their PVCs, see README "Expanding a volume"). In prod every such
// StatefulSet is also protected and kept in the cluster if Pulumi deletes it; in dev
// neither. A StatefulSet without volumes (the flownodes, numbered by ordinal but
// keeping no state on disk) holds no data, and is protected no more than a Deployment.
func TestStatefulSetsKeepTheirData(t *testing.T) {
	for _, s := range auditedStacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			res, _, err := mockrun.RunStackFile(s.Path, s.Name, false)
			require.NoError(t, err)
			sets := res.OfType(objects.StatefulSetType)
			require.NotEmpty(t, sets)
			var withData []*mockrun.Resource
			for _, sts := range sets {
				set := objects.Decode[appsv1.StatefulSet](t, sts)
				if len(set.Spec.VolumeClaimTemplates) == 0 {
					assert.False(t, sts.Protect, "%s holds no data; protecting it would only block rollouts", sts.Name)
					assert.False(t, sts.RetainOnDelete, "%s holds no data; retaining it would leave its pods running", sts.Name)
					continue
				}
				withData = append(withData, sts)
				assert.Equal(t, objects.RetainClaims(), set.Spec.PersistentVolumeClaimRetentionPolicy, sts.Name)
				assert.Contains(t, sts.IgnoreChanges, "spec.volumeClaimTemplates", sts.Name)
				switch s.Name {
				case "prod", "full":
					assert.True(t, sts.Protect, "%s must be protected", sts.Name)
					assert.True(t, sts.RetainOnDelete, "%s must be retained on delete", sts.Name)
				case "dev":
					assert.False(t, sts.Protect, sts.Name)
					assert.False(t, sts.RetainOnDelete, sts.Name)
				}
			}
			for _, d := range res.OfType(objects.DeploymentType) {
				assert.False(t, d.Protect, "%s holds no data; protecting it would only block rollouts", d.Name)
			}
			// Deleting a namespace deletes every claim in it: the namespace the stack
			// owns is protected and kept exactly like its StatefulSets.
			require.NotEmpty(t, withData)
			for _, ns := range res.OfType(objects.NamespaceType) {
				assert.Equal(t, withData[0].Protect, ns.Protect, "namespace %s protected like the StatefulSets", ns.Name)
				assert.Equal(t, withData[0].RetainOnDelete, ns.RetainOnDelete, "namespace %s kept like the StatefulSets", ns.Name)
			}
		})
	}
}

// TestNetworkIsolation: where isolation is on (prod, staging and the all-features stack),
// every database pod is selected by a deny-by-default policy for both ingress and
// egress; where it is off (dev), no policy is created.
func TestNetworkIsolation(t *testing.T) {
	for _, s := range auditedStacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			res, _, err := mockrun.RunStackFile(s.Path, s.Name, false)
			require.NoError(t, err)
			policies := res.OfType(objects.NetworkPolicyType)
			if s.Name == "dev" {
				assert.Empty(t, policies)
				return
			}
			require.NotEmpty(t, policies)
			selected := map[string]bool{}
			for _, p := range policies {
				np := objects.Decode[networkingv1.NetworkPolicy](t, p)
				assert.ElementsMatch(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, np.Spec.PolicyTypes, p.Name)
				selected[labelKey(np.Spec.PodSelector.MatchLabels)] = true
			}
			workloads := append(res.OfType(objects.StatefulSetType), res.OfType(objects.DeploymentType)...)
			for _, w := range workloads {
				sel := labelKey(objects.MatchLabels(t, objects.Workload(t, w).Selector))
				assert.True(t, selected[sel], "no NetworkPolicy isolates the pods of %s", w.Name)
			}
		})
	}
}

// TestNoServiceAccountToken: no pod of any stack mounts a Kubernetes API token.
// None of them calls the API server; workload identity brings its own projected
// token (EKS) or uses the metadata server (GKE), not the automounted one.
func TestNoServiceAccountToken(t *testing.T) {
	for _, s := range auditedStacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			res, _, err := mockrun.RunStackFile(s.Path, s.Name, false)
			require.NoError(t, err)
			var pods int
			for _, typ := range []string{objects.StatefulSetType, objects.DeploymentType, objects.JobType} {
				for _, w := range res.OfType(typ) {
					pods++
					spec := objects.PodTemplate(t, w).Spec
					if assert.NotNil(t, spec.AutomountServiceAccountToken, "%s %s", w.Kind(), w.Name) {
						assert.False(t, *spec.AutomountServiceAccountToken, "%s %s", w.Kind(), w.Name)
					}
				}
			}
			assert.NotZero(t, pods)
		})
	}
}

// labelKey identifies a component's pods by their name/instance/component labels.
func labelKey(m map[string]string) string {
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
		if b.Type != objects.StatefulSetType {
			assert.Equal(t, objects.Inputs(b), objects.Inputs(a), "%s must not change with a volume size", key)
			continue
		}
		bset, aset := objects.Decode[appsv1.StatefulSet](t, b), objects.Decode[appsv1.StatefulSet](t, a)
		assert.NotEqual(t, bset.Spec.VolumeClaimTemplates, aset.Spec.VolumeClaimTemplates, key)
		assert.Contains(t, a.IgnoreChanges, "spec.volumeClaimTemplates", key)
		bset.Spec.VolumeClaimTemplates, aset.Spec.VolumeClaimTemplates = nil, nil
		assert.Equal(t, bset, aset, "%s: only the ignored claim templates may differ", key)
		changed++
	}
	assert.Equal(t, 3, changed, "etcd, datanode and QuasarDB StatefulSets")
}
