package greptimedb_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"tsdb-platform/tests/objects"
)

// rule is one ingress or egress rule: its peers' pod selectors (nil entries for
// namespace or CIDR peers) and its TCP ports.
type rule struct {
	pods  []map[string]string
	other int
	ports []int32
}

func ingressRules(t *testing.T, np networkingv1.NetworkPolicy) []rule {
	t.Helper()
	var out []rule
	for _, r := range np.Spec.Ingress {
		out = append(out, toRule(t, r.From, r.Ports))
	}
	return out
}

func egressRules(t *testing.T, np networkingv1.NetworkPolicy) []rule {
	t.Helper()
	var out []rule
	for _, r := range np.Spec.Egress {
		out = append(out, toRule(t, r.To, r.Ports))
	}
	return out
}

func toRule(t *testing.T, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) rule {
	t.Helper()
	var rl rule
	for _, p := range peers {
		if p.PodSelector != nil && p.PodSelector.MatchLabels != nil && p.NamespaceSelector == nil {
			rl.pods = append(rl.pods, p.PodSelector.MatchLabels)
		} else {
			rl.other++
		}
	}
	for _, p := range ports {
		if p.Protocol != nil && *p.Protocol == corev1.ProtocolTCP {
			require.NotNil(t, p.Port, "a TCP rule without a port")
			require.Equal(t, intstr.Int, p.Port.Type, "port %s is not a number", p.Port)
			rl.ports = append(rl.ports, p.Port.IntVal)
		}
	}
	return rl
}

func selector(app, component string) map[string]string {
	return map[string]string{"app.kubernetes.io/name": app, "app.kubernetes.io/instance": "metrics", "app.kubernetes.io/component": component}
}

// TestNetworkPolicies: with isolation on, each component admits only its callers
// on its ports and reaches only what it calls (plus DNS).
func TestNetworkPolicies(t *testing.T) {
	res := objects.Run(t, config(t, []map[string]any{{"name": "metrics", "datanode": map[string]any{"objectStorage": map[string]any{
		"type": "S3", "bucket": "bkt", "region": "us-east-1", "endpoint": "http://minio.storage.svc:9000", "accessKeyId": "id", "secretAccessKey": "key"}},
		"networkPolicy": map[string]any{"clientNamespaces": []string{"apps"}, "clientCidrs": []string{"10.0.0.0/8"}}}},
		map[string]string{"networkPolicy": `{"enabled": true}`}))
	etcdSel, meta, datanode, frontend := selector("etcd", "etcd"), selector("greptimedb", "meta"), selector("greptimedb", "datanode"), selector("greptimedb", "frontend")

	cases := []struct {
		name    string
		pods    map[string]string
		parent  string
		ingress []rule
		egress  []rule // after the DNS rule
	}{
		{"metrics-etcd", etcdSel, objects.EtcdClusterType,
			[]rule{{pods: []map[string]string{meta}, ports: []int32{2379}}, {pods: []map[string]string{etcdSel}, ports: []int32{2380}}},
			[]rule{{pods: []map[string]string{etcdSel}, ports: []int32{2380}}}},
		{"metrics-meta", meta, objects.GreptimeDBMetaType,
			[]rule{
				{pods: []map[string]string{meta}, ports: []int32{3002}},
				{pods: []map[string]string{datanode, frontend}, ports: []int32{3002, 4000}},
				// The maintenance Jobs call metasrv's admin API on the HTTP port only.
				{pods: []map[string]string{selector("greptimedb", "maintenance")}, ports: []int32{4000}},
			},
			[]rule{
				{pods: []map[string]string{etcdSel}, ports: []int32{2379}},
				{pods: []map[string]string{meta}, ports: []int32{3002}},
				{pods: []map[string]string{datanode}, ports: []int32{4001}},
			}},
		{"metrics-datanode", datanode, objects.GreptimeDBDatanodeType,
			[]rule{{pods: []map[string]string{frontend, meta}, ports: []int32{4001}}},
			[]rule{{pods: []map[string]string{meta}, ports: []int32{3002, 4000}}, {ports: []int32{9000}}}},
		{"metrics-frontend", frontend, objects.GreptimeDBFrontendType,
			[]rule{{pods: []map[string]string{{"app.kubernetes.io/name": "greptimedb", "app.kubernetes.io/instance": "metrics"}}, other: 2,
				ports: []int32{4000, 4001, 4002, 4003}}},
			[]rule{{pods: []map[string]string{meta}, ports: []int32{3002, 4000}}, {pods: []map[string]string{datanode}, ports: []int32{4001}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := objects.Find(t, res, objects.NetworkPolicyType, tc.name)
			assert.Equal(t, objects.Find(t, res, tc.parent, tc.name).URN, r.Parent)
			np := objects.Decode[networkingv1.NetworkPolicy](t, r)
			assert.Equal(t, tc.pods, np.Spec.PodSelector.MatchLabels)
			assert.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, np.Spec.PolicyTypes)
			assert.ElementsMatch(t, tc.ingress, ingressRules(t, np))
			egress := egressRules(t, np)
			if assert.NotEmpty(t, egress) {
				assert.Equal(t, []int32{53}, egress[0].ports, "DNS first")
				assert.ElementsMatch(t, tc.egress, egress[1:])
			}
		})
	}
	// The frontend admits the configured client namespace and CIDR.
	ingress := objects.NetworkPolicy(t, res, "metrics-frontend").Spec.Ingress
	require.NotEmpty(t, ingress)
	from := ingress[0].From
	assert.Contains(t, from, networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "apps"}}})
	assert.Contains(t, from, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}})

	// Without isolation there are no policies.
	assert.Empty(t, runCluster(t, nil).OfType(objects.NetworkPolicyType))
}

// egressTo is the egress rules' TCP ports by destination: "*" for any
// destination, the CIDR for an address block, "pods" for pod selectors.
func egressTo(np networkingv1.NetworkPolicy) map[string][]int32 {
	out := map[string][]int32{}
	for _, r := range np.Spec.Egress {
		var ports []int32
		for _, p := range r.Ports {
			if p.Protocol != nil && *p.Protocol == corev1.ProtocolTCP {
				ports = append(ports, p.Port.IntVal)
			}
		}
		if len(r.To) == 0 {
			out["*"] = append(out["*"], ports...)
		}
		for _, to := range r.To {
			switch {
			case to.IPBlock != nil:
				out[to.IPBlock.CIDR] = append(out[to.IPBlock.CIDR], ports...)
			default:
				out["pods"] = append(out["pods"], ports...)
			}
		}
	}
	return out
}

// TestNetworkPoliciesKafkaAndWorkloadIdentity: with the Kafka WAL, meta (which
// manages the topics) and the datanodes (which write the WAL) reach every
// broker port; with a workload identity, the datanodes reach the metadata
// servers on port 80 and the token service over HTTPS. Without either, none of
// these is open.
func TestNetworkPoliciesKafkaAndWorkloadIdentity(t *testing.T) {
	isolated := map[string]string{"networkPolicy": `{"enabled": true}`}
	res := objects.Run(t, config(t, []map[string]any{{
		"name": "metrics",
		"wal":  map[string]any{"provider": "kafka", "brokerEndpoints": []string{"kafka-0.kafka:9092", "kafka-1.kafka:9093", "kafka-2.kafka:9092"}},
		"datanode": map[string]any{
			"objectStorage":  map[string]any{"type": "Gcs", "bucket": "bkt"},
			"serviceAccount": map[string]any{"annotations": map[string]string{"iam.gke.io/gcp-service-account": "db@p.iam.gserviceaccount.com"}},
		},
	}}, isolated))
	meta := egressTo(objects.NetworkPolicy(t, res, "metrics-meta"))
	assert.Equal(t, []int32{9092, 9093}, meta["*"], "meta reaches the brokers")
	datanode := egressTo(objects.NetworkPolicy(t, res, "metrics-datanode"))
	assert.ElementsMatch(t, []int32{9092, 9093, 443, 443}, datanode["*"], "the brokers, the object store, the token service")
	assert.Equal(t, []int32{80}, datanode["169.254.169.254/32"], "GKE's metadata server")
	assert.Equal(t, []int32{80}, datanode["169.254.170.23/32"], "EKS Pod Identity")

	plain := objects.Run(t, config(t, []map[string]any{{"name": "metrics"}}, isolated))
	for _, name := range []string{"metrics-meta", "metrics-datanode"} {
		to := egressTo(objects.NetworkPolicy(t, plain, name))
		assert.Empty(t, to["*"], name)
		assert.Empty(t, to["169.254.169.254/32"], name)
	}
}
