package greptimedb_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"tsdb-platform/internal/mockrun"
)

// rule is one ingress or egress rule: its peers' pod selectors (nil entries for
// namespace or CIDR peers) and its TCP ports.
type rule struct {
	pods  []map[string]any
	other int
	ports []float64
}

func rules(t *testing.T, np *mockrun.Resource, direction, peerKey string) []rule {
	t.Helper()
	arr, _ := get(np, "spec."+direction).([]any)
	var out []rule
	for _, r := range arr {
		m := r.(map[string]any)
		var rl rule
		peers, _ := m[peerKey].([]any)
		for _, p := range peers {
			if sel, ok := mockrun.Get(p.(map[string]any), "podSelector.matchLabels").(map[string]any); ok && p.(map[string]any)["namespaceSelector"] == nil {
				rl.pods = append(rl.pods, sel)
			} else {
				rl.other++
			}
		}
		ports, _ := m["ports"].([]any)
		for _, p := range ports {
			pm := p.(map[string]any)
			if pm["protocol"] == "TCP" {
				rl.ports = append(rl.ports, pm["port"].(float64))
			}
		}
		out = append(out, rl)
	}
	return out
}

func selector(app, component string) map[string]any {
	return map[string]any{"app.kubernetes.io/name": app, "app.kubernetes.io/instance": "metrics", "app.kubernetes.io/component": component}
}

// TestNetworkPolicies: with isolation on, each component admits only its callers
// on its ports and reaches only what it calls (plus DNS).
func TestNetworkPolicies(t *testing.T) {
	res := run(t, config(t, []map[string]any{{"name": "metrics", "datanode": map[string]any{"objectStorage": map[string]any{
		"type": "S3", "bucket": "b", "endpoint": "http://minio.storage.svc:9000", "accessKeyId": "id", "secretAccessKey": "key"}}}},
		map[string]string{"networkPolicy": `{"enabled": true, "clientNamespaces": ["apps"], "clientCidrs": ["10.0.0.0/8"]}`}))
	etcdSel, meta, datanode, frontend := selector("etcd", "etcd"), selector("greptimedb", "meta"), selector("greptimedb", "datanode"), selector("greptimedb", "frontend")

	cases := []struct {
		name    string
		pods    map[string]any
		parent  string
		ingress []rule
		egress  []rule // after the DNS rule
	}{
		{"metrics-etcd", etcdSel, tEtcd,
			[]rule{{pods: []map[string]any{etcdSel}, ports: []float64{2380}}, {pods: []map[string]any{meta}, ports: []float64{2379}}},
			[]rule{{pods: []map[string]any{etcdSel}, ports: []float64{2380}}}},
		{"metrics-meta", meta, tMeta,
			[]rule{{pods: []map[string]any{datanode, frontend, meta}, ports: []float64{3002, 4000}}},
			[]rule{
				{pods: []map[string]any{etcdSel}, ports: []float64{2379}},
				{pods: []map[string]any{meta}, ports: []float64{3002}},
				{pods: []map[string]any{datanode}, ports: []float64{4001}},
			}},
		{"metrics-datanode", datanode, tDatanode,
			[]rule{{pods: []map[string]any{frontend, meta}, ports: []float64{4001, 4000}}},
			[]rule{{pods: []map[string]any{meta}, ports: []float64{3002, 4000}}, {ports: []float64{9000}}}},
		{"metrics-frontend", frontend, tFrontend,
			[]rule{{pods: []map[string]any{{"app.kubernetes.io/name": "greptimedb", "app.kubernetes.io/instance": "metrics"}}, other: 2,
				ports: []float64{4000, 4001, 4002, 4003}}},
			[]rule{{pods: []map[string]any{meta}, ports: []float64{3002, 4000}}, {pods: []map[string]any{datanode}, ports: []float64{4001}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			np := find(t, res, tNetPol, tc.name)
			assert.Equal(t, find(t, res, tc.parent, tc.name).URN, np.Parent)
			assert.Equal(t, tc.pods, get(np, "spec.podSelector.matchLabels"))
			assert.Equal(t, []any{"Ingress", "Egress"}, get(np, "spec.policyTypes"))
			assert.Equal(t, tc.ingress, rules(t, np, "ingress", "from"))
			egress := rules(t, np, "egress", "to")
			if assert.NotEmpty(t, egress) {
				assert.Equal(t, []float64{53}, egress[0].ports, "DNS first")
				assert.Equal(t, tc.egress, egress[1:])
			}
		})
	}
	// The frontend admits the configured client namespace and CIDR.
	from := get(find(t, res, tNetPol, "metrics-frontend"), "spec.ingress[0].from")
	assert.Contains(t, from, map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "apps"}}})
	assert.Contains(t, from, map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/8"}})

	// Without isolation there are no policies.
	assert.Empty(t, runCluster(t, nil).OfType(tNetPol))
}
