package quasardb_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"tsdb-platform/components/kube"
	"tsdb-platform/components/quasardb"
	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
	"tsdb-platform/tests/objects"
)

// configError loads cfg and returns its *stacks.ConfigError, failing if there is none.
func configError(t *testing.T, cfg map[string]string) *stacks.ConfigError {
	t.Helper()
	_, err := stacks.Load(stacks.MapLookup(cfg))
	require.Error(t, err)
	var ce *stacks.ConfigError
	require.ErrorAs(t, err, &ce)
	return ce
}

func problemAt(t *testing.T, ce *stacks.ConfigError, key string) stacks.Problem {
	t.Helper()
	for _, p := range ce.Problems {
		if p.Key == key {
			return p
		}
	}
	t.Fatalf("no problem at %s; problems: %v", key, ce.Keys())
	return stacks.Problem{}
}

// TestUnlicensedThreeNodesFail: the community edition runs at most 2 nodes, so 3
// replicas without a license is an error naming the key and the limit, and the
// program registers nothing.
func TestUnlicensedThreeNodesFail(t *testing.T) {
	cfg := stackConfig(t, cluster{"name": "ticks", "replicas": 3})
	ce := configError(t, cfg)
	assert.Equal(t, []string{"quasardb[0].replicas"}, ce.Keys())
	p := problemAt(t, ce, "quasardb[0].replicas")
	assert.Equal(t, "3", p.Value)
	for _, want := range []string{"community edition", "2 nodes", "quasardb[0].license", "quasardb[0].licenseFile"} {
		assert.Contains(t, p.Message, want)
	}
	assert.Contains(t, ce.Error(), "quasardb[0].replicas: 3 — without a license")

	res, err := mockrun.Run(stacks.Program, mockrun.Options{Config: cfg})
	require.Error(t, err)
	assert.Empty(t, res.OfType(objects.QuasarDBClusterType), "nothing is registered for an invalid stack")
	assert.Empty(t, res.OfType(objects.StatefulSetType))

	// The same cluster with a license, or with 2 nodes, is valid.
	_, err = stacks.Load(stacks.MapLookup(stackConfig(t, cluster{"name": "ticks", "replicas": 3}.withLicense())))
	assert.NoError(t, err)
	_, err = stacks.Load(stacks.MapLookup(stackConfig(t, cluster{"name": "ticks", "replicas": 2})))
	assert.NoError(t, err)
}

// TestProdRequiresLicense: the prod profile rejects a cluster without a license,
// even one small enough for the community edition.
func TestProdRequiresLicense(t *testing.T) {
	for _, replicas := range []int{1, 3} {
		t.Run(fmt.Sprintf("replicas=%d", replicas), func(t *testing.T) {
			cfg := stackConfig(t, cluster{"name": "ticks", "replicas": replicas, "replication": 1}.withSecurity())
			cfg[stacks.KeyProfile] = stacks.ProfileProd
			ce := configError(t, cfg)
			assert.Equal(t, []string{"quasardb[0].license"}, ce.Keys())
			p := problemAt(t, ce, "quasardb[0].license")
			assert.Contains(t, p.Message, "required by this profile")
			assert.Contains(t, p.Message, "--secret")
		})
	}

	// Licensed through a file, the same prod stack is valid and deploys.
	path := filepath.Join(t.TempDir(), "quasardb.key")
	require.NoError(t, os.WriteFile(path, []byte(testLicense), 0o600))
	cfg := stackConfig(t, cluster{"name": "ticks", "licenseFile": path}.withSecurity())
	cfg[stacks.KeyProfile] = stacks.ProfileProd
	res := run(t, cfg, false)
	ss := objects.Find(t, res, objects.StatefulSetType, "ticks")
	set := objects.Decode[appsv1.StatefulSet](t, ss)
	assert.Equal(t, objects.Ptr(int32(3)), set.Spec.Replicas, "prod's 3 nodes")
	assert.Equal(t, "3", objects.Env(t, container(t, set))["K8S_REPLICA_COUNT"].Value)
	assert.True(t, ss.Protect)
}

// TestComponentRejectsBadArgs: the component checks its own invariants for any
// caller, with an error naming the cluster, never a panic.
func TestComponentRejectsBadArgs(t *testing.T) {
	dev, err := stacks.QuasarDBDefaults(stacks.ProfileDev)
	require.NoError(t, err)
	valid := func() *quasardb.ClusterArgs {
		spec := dev.ClusterSpec
		spec.Replicas, spec.Replication = 1, 1
		spec.Resources = kube.Resources{Limits: kube.Amounts{Memory: "2Gi"}}
		spec.Storage = kube.Storage{Size: "1Gi"}
		return &quasardb.ClusterArgs{Spec: spec, Env: kube.Env{Namespace: pulumi.String("ns"), ClusterDomain: "cluster.local"}}
	}
	tests := map[string]struct {
		mutate func(*quasardb.ClusterArgs)
		want   string
	}{
		"three unlicensed nodes": {func(a *quasardb.ClusterArgs) { a.Spec.Replicas, a.Spec.Replication = 3, 1 }, "community edition, limited to 2 nodes"},
		"no memory limit":        {func(a *quasardb.ClusterArgs) { a.Spec.Resources.Limits.Memory = "" }, "resources.limits.memory"},
		"replication too high":   {func(a *quasardb.ClusterArgs) { a.Spec.Replication = 2 }, "replication: Invalid value: 2"},
		"no namespace":           {func(a *quasardb.ClusterArgs) { a.Namespace = nil }, "namespace: Required value"},
		"security without keys": {func(a *quasardb.ClusterArgs) {
			a.Spec.Security = quasardb.SecuritySpec{Enabled: true, ClusterPublicKey: "pub"}
		}, "security.clusterPrivateKey: Required value"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			args := valid()
			tc.mutate(args)
			res, err := mockrun.Run(func(ctx *pulumi.Context) error {
				_, err := quasardb.NewCluster(ctx, "ticks", args)
				return err
			}, mockrun.Options{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), `quasardb "ticks"`)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, res.OfType(objects.QuasarDBClusterType))
		})
	}
	t.Run("valid", func(t *testing.T) {
		_, err := mockrun.Run(func(ctx *pulumi.Context) error {
			_, err := quasardb.NewCluster(ctx, "ticks", valid())
			return err
		}, mockrun.Options{})
		assert.NoError(t, err)
	})
	t.Run("nil args", func(t *testing.T) {
		_, err := mockrun.Run(func(ctx *pulumi.Context) error {
			_, err := quasardb.NewCluster(ctx, "ticks", nil)
			return err
		}, mockrun.Options{})
		assert.ErrorContains(t, err, "args are required")
	})
}

// TestNoEdgesToOtherClusters: in a stack with GreptimeDB and two QuasarDB clusters,
// a QuasarDB cluster waits only for its own resources, the namespace and the
// provider, and nothing outside it waits for it: the clusters deploy in parallel.
// (This holds whatever GreptimeDB registers.)
func TestNoEdgesToOtherClusters(t *testing.T) {
	cfg := stackConfig(t, cluster{"name": "ticks", "replicas": 2}, cluster{"name": "quotes"}.withSecurity())
	cfg[stacks.KeyGreptimeDB] = `[{"name": "metrics"}]`
	res := run(t, cfg, false)

	ns := objects.Find(t, res, objects.NamespaceType, "namespace")
	provider := objects.Find(t, res, objects.ProviderType, stacks.ProviderName)
	clusters := res.OfType(objects.QuasarDBClusterType)
	require.Len(t, clusters, 2)

	inCluster := map[string]string{} // URN -> cluster name
	for _, comp := range clusters {
		inCluster[comp.URN] = comp.Name
		for _, d := range res.Descendants(comp.URN) {
			inCluster[d.URN] = comp.Name
		}
	}
	for _, r := range res.Resources {
		owner, isQuasarDB := inCluster[r.URN]
		for _, dep := range res.DependsOn(r) {
			depOwner, depIsQuasarDB := inCluster[dep]
			switch {
			case isQuasarDB:
				allowed := dep == ns.URN || dep == provider.URN || depOwner == owner
				assert.True(t, allowed, "quasardb %s: %s %s waits for %s", owner, r.Type, r.Name, dep)
			case depIsQuasarDB:
				t.Errorf("%s %s (outside QuasarDB) waits for quasardb %s's %s", r.Type, r.Name, depOwner, dep)
			}
		}
	}

	// The graph is there: the workloads do wait for the namespace and their own Services.
	for _, name := range []string{"ticks", "quotes"} {
		ss := objects.Find(t, res, objects.StatefulSetType, name)
		assert.True(t, res.WaitsFor(ss, ns), "%s waits for the namespace", name)
		assert.True(t, res.WaitsFor(ss, objects.Find(t, res, objects.ServiceType, name+"-hs")), "%s waits for its headless Service", name)
		assert.Equal(t, provider.URN+"::"+provider.Name+"-id", ss.Provider, "%s uses the stack's provider", name)
	}
}

// TestEndpointsExported: each cluster exports its client URI and every node's
// address through the headless Service, under quasardb.<name>.
func TestEndpointsExported(t *testing.T) {
	cfg := stackConfig(t, cluster{"name": "ticks", "replicas": 3}.withLicense(), cluster{"name": "quotes"})
	cfg[stacks.KeyClusterDomain] = "k8s.example"
	res := run(t, cfg, false)

	assert.Equal(t, []string{
		"quasardb.ticks.pods[0]", "quasardb.ticks.pods[1]", "quasardb.ticks.pods[2]", "quasardb.ticks.uri",
	}, res.ExportPaths("quasardb.ticks."))
	assertExport(t, res, "quasardb.ticks.uri", "qdb://ticks-cs.tsdb-test.svc.k8s.example:2836")
	for i := range 3 {
		assertExport(t, res, fmt.Sprintf("quasardb.ticks.pods[%d]", i),
			fmt.Sprintf("qdb://ticks-%d.ticks-hs.tsdb-test.svc.k8s.example:2836", i))
	}
	assert.Equal(t, []string{"quasardb.quotes.pods[0]", "quasardb.quotes.uri"}, res.ExportPaths("quasardb.quotes."))
	assertExport(t, res, "quasardb.quotes.uri", "qdb://quotes-cs.tsdb-test.svc.k8s.example:2836")
	assertExport(t, res, "quasardb.quotes.pods[0]", "qdb://quotes-0.quotes-hs.tsdb-test.svc.k8s.example:2836")
}

func assertExport(t *testing.T, res *mockrun.Result, path, want string) {
	t.Helper()
	e, ok := res.Export(path)
	require.True(t, ok, "export %s", path)
	assert.True(t, e.Known, "%s is known", path)
	assert.False(t, e.Secret, "%s is not secret", path)
	assert.Equal(t, want, e.Value, path)
}

// TestPreview: in preview mode, where computed values stay unknown, the program
// succeeds and registers the same objects.
func TestPreview(t *testing.T) {
	cfg := stackConfig(t, cluster{"name": "ticks", "replicas": 3, "replication": 2}.withLicense().withSecurity())
	up := run(t, cfg, false)
	preview := run(t, cfg, true)
	names := func(res *mockrun.Result) []string {
		var out []string
		for _, r := range res.Resources {
			out = append(out, r.Type+" "+r.Name)
		}
		return out
	}
	assert.Equal(t, names(up), names(preview))
	for _, path := range []string{"quasardb.ticks.uri", "quasardb.ticks.pods[2]", "quasardb.ticks.clusterPublicKey"} {
		_, ok := preview.Export(path)
		assert.True(t, ok, "export %s in preview", path)
	}
}

// TestNetworkPolicy: with isolation on, nodes reach each other on both ports and
// configured clients reach only the client port.
func TestNetworkPolicy(t *testing.T) {
	cfg := stackConfig(t, cluster{"name": "ticks", "replicas": 2,
		"networkPolicy": map[string]any{"clientNamespaces": []string{"apps"}, "clientCidrs": []string{"10.1.0.0/16"}}})
	cfg[stacks.KeyNetworkPolicy] = `{"enabled": true}`
	res := run(t, cfg, false)
	np := objects.NetworkPolicy(t, res, "ticks")
	assert.Equal(t, selector("ticks"), np.Spec.PodSelector.MatchLabels)
	assert.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, np.Spec.PolicyTypes)

	peers := []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: selector("ticks")}}}
	tcp := func(ports ...int32) []networkingv1.NetworkPolicyPort {
		var out []networkingv1.NetworkPolicyPort
		for _, p := range ports {
			out = append(out, networkingv1.NetworkPolicyPort{Port: objects.Ptr(intstr.FromInt32(p)), Protocol: objects.Ptr(corev1.ProtocolTCP)})
		}
		return out
	}
	assert.ElementsMatch(t, []networkingv1.NetworkPolicyIngressRule{
		{From: peers, Ports: tcp(2836, 2837)},
		{
			From: []networkingv1.NetworkPolicyPeer{
				{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "apps"}}},
				{IPBlock: &networkingv1.IPBlock{CIDR: "10.1.0.0/16"}},
			},
			Ports: tcp(2836),
		},
	}, np.Spec.Ingress)
	egress := np.Spec.Egress
	require.Len(t, egress, 2, "DNS and the peers")
	assert.Equal(t, networkingv1.NetworkPolicyEgressRule{To: peers, Ports: tcp(2836, 2837)}, egress[1])

	// Without client peers there is no client rule (an empty "from" would admit anyone).
	cfg = stackConfig(t, cluster{"name": "ticks", "replicas": 2})
	cfg[stacks.KeyNetworkPolicy] = `{"enabled": true}`
	res = run(t, cfg, false)
	ingress := objects.NetworkPolicy(t, res, "ticks").Spec.Ingress
	require.Len(t, ingress, 1)
	assert.Equal(t, peers, ingress[0].From)

	res = run(t, stackConfig(t, cluster{"name": "ticks"}), false)
	assert.Empty(t, res.OfType(objects.NetworkPolicyType), "no policy when isolation is off")
}

// TestTwoClustersCoexist: every object name derives from the cluster's name.
func TestTwoClustersCoexist(t *testing.T) {
	res := run(t, stackConfig(t, cluster{"name": "ticks", "replicas": 2}.withLicense(), cluster{"name": "quotes", "replicas": 2}.withLicense()), false)
	for _, name := range []string{"ticks", "quotes"} {
		comp := objects.Find(t, res, objects.QuasarDBClusterType, name)
		var kinds []string
		for _, c := range res.Children(comp.URN) {
			assert.True(t, strings.HasPrefix(c.Name, name), "%s %s is named after its cluster", c.Type, c.Name)
			kinds = append(kinds, c.Kind()+" "+c.Name)
		}
		assert.ElementsMatch(t, []string{
			"Service " + name + "-hs", "Service " + name + "-cs", "Secret " + name + "-license",
			"StatefulSet " + name, "PodDisruptionBudget " + name,
		}, kinds)
	}
}

// TestCommittedProdStack: the committed prod stack's QuasarDB is licensed, secured
// and three nodes; its placeholders stay secret.
func TestCommittedProdStack(t *testing.T) {
	res, sc, err := mockrun.RunStack("prod", false)
	require.NoError(t, err)
	env := objects.Env(t, container(t, objects.StatefulSet(t, res, "ticks")))
	assert.Equal(t, "3", env["K8S_REPLICA_COUNT"].Value)
	assert.Equal(t, "true", env["QDB_ENABLE_SECURITY"].Value)
	assert.Contains(t, env, "QDB_LICENSE_FILE")
	secrets := map[string]string{}
	for path, v := range sc.Secrets {
		if strings.HasPrefix(path, stacks.KeyQuasarDB) {
			secrets[path] = v
		}
	}
	require.NotEmpty(t, secrets)
	assertSecretsOnlyInSecrets(t, res, secrets)
}
