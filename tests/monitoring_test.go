package tests

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tsdb-platform/components/greptimedb"
	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
	"tsdb-platform/tests/objects"
)

// monitoringRun runs a GreptimeDB and a QuasarDB cluster (with its exporter)
// under the given monitoring config, with network isolation on.
func monitoringRun(t *testing.T, monitoring string) *mockrun.Result {
	t.Helper()
	cfg := objects.StackConfig(t, stacks.KeyGreptimeDB, []map[string]any{{"name": "metrics"}}, map[string]string{
		stacks.KeyMonitoring:    monitoring,
		stacks.KeyNetworkPolicy: `{"enabled": true}`,
	})
	cfg[stacks.KeyQuasarDB] = `[{"name": "ticks", "exporter": {"enabled": true, "image": "registry.example.com/qdb-prometheus-exporter:3.14.2"}}]`
	return objects.Run(t, cfg)
}

// TestMonitoringAnnotations: without the Prometheus Operator, every component's
// pods carry the prometheus.io annotations for its metrics port (GreptimeDB's
// HTTP port, etcd's metrics port, the QuasarDB exporter's), Prometheus' namespace
// may reach those ports through the isolation policies, and each GreptimeDB
// cluster gets a Grafana dashboard ConfigMap for the Grafana sidecar. Meta is
// the exception under isolation (TestMetaUnscrapedUnderIsolation).
func TestMonitoringAnnotations(t *testing.T) {
	res := monitoringRun(t, `{"enabled": true, "namespaces": ["monitoring"]}`)
	assert.Empty(t, res.OfType("kubernetes:monitoring.coreos.com/v1:PodMonitor"))
	ports := map[string]string{"metrics-etcd": "8080", "metrics-datanode": "4000", "metrics-frontend": "4000", "ticks": "9000"}
	for name, port := range ports {
		var r *mockrun.Resource
		for _, typ := range []string{objects.StatefulSetType, objects.DeploymentType} {
			if r == nil {
				r = res.Find(typ, name)
			}
		}
		require.NotNil(t, r, name)
		a := objects.PodTemplate(t, r).Annotations
		assert.Equal(t, "true", a["prometheus.io/scrape"], name)
		assert.Equal(t, port, a["prometheus.io/port"], name)
		assert.Equal(t, "/metrics", a["prometheus.io/path"], name)

		np := objects.NetworkPolicy(t, res, name)
		var admitted bool
		for _, rule := range np.Spec.Ingress {
			for _, from := range rule.From {
				if from.NamespaceSelector != nil && from.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "monitoring" &&
					len(rule.Ports) == 1 && rule.Ports[0].Port.String() == port {
					admitted = true
				}
			}
		}
		assert.True(t, admitted, "%s admits Prometheus on %s", name, port)
	}

	dashboard := objects.ConfigMap(t, res, "metrics-dashboard")
	assert.Equal(t, "1", dashboard.Labels[greptimedb.DashboardLabel])
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal([]byte(dashboard.Data[greptimedb.DashboardKey]), &d))
	titles := map[string]bool{}
	for _, p := range d.Panels {
		titles[p.Title] = true
		require.NotEmpty(t, p.Targets)
		assert.Contains(t, p.Targets[0].Expr, `namespace="$namespace"`)
	}
	for _, want := range []string{"Frontend: ingested rows/s", "Datanode: write buffer", "Meta: KV requests/s", "etcd: has leader"} {
		assert.True(t, titles[want], "panel %q", want)
	}
	// The QuasarDB exporter's series get a dashboard of their own.
	qdb := objects.ConfigMap(t, res, "ticks-dashboard")
	assert.Equal(t, "1", qdb.Labels[greptimedb.DashboardLabel])
	assert.Contains(t, qdb.Data["quasardb.json"], `check_online_none{namespace=\"$namespace\", pod=~\"ticks-[0-9]+\"`)
}

// TestMonitoringPodMonitors: with the Prometheus Operator, a PodMonitor per
// component selects exactly its pods, carries the configured labels (for the
// Prometheus' podMonitorSelector) and interval, and the pods get no annotations.
func TestMonitoringPodMonitors(t *testing.T) {
	res := monitoringRun(t, `{"enabled": true, "podMonitors": true, "labels": {"release": "kps"}, "interval": "15s"}`)
	monitors := res.OfType("kubernetes:monitoring.coreos.com/v1:PodMonitor")
	names := map[string]bool{}
	for _, m := range monitors {
		names[m.Name] = true
		in := objects.Inputs(m)
		assert.Equal(t, "kps", mockrun.Get(in, "metadata.labels.release"), m.Name)
		assert.Equal(t, "15s", mockrun.Get(in, "spec.podMetricsEndpoints.0.interval"), m.Name)
	}
	// Not meta's: under isolation Prometheus may not reach it.
	assert.Equal(t, map[string]bool{"metrics-etcd": true, "metrics-datanode": true, "metrics-frontend": true, "ticks": true}, names)
	assert.Equal(t, "metrics", mockrun.Get(objects.Inputs(res.Find("kubernetes:monitoring.coreos.com/v1:PodMonitor", "ticks")), "spec.podMetricsEndpoints.0.port"))
	assert.NotContains(t, objects.PodTemplate(t, objects.Find(t, res, objects.DeploymentType, "metrics-frontend")).Annotations, "prometheus.io/scrape")

	exporter := objects.Container(t, objects.StatefulSet(t, res, "ticks").Spec.Template.Spec, "exporter")
	assert.Equal(t, []string{"qdb-prometheus-exporter", "--cluster", "qdb://127.0.0.1:2836",
		"--listen-address", "0.0.0.0", "--exporter-port", "9000"}, exporter.Command)
	require.NotNil(t, exporter.ReadinessProbe)
	require.NotNil(t, exporter.ReadinessProbe.HTTPGet)
	assert.Equal(t, "/health", exporter.ReadinessProbe.HTTPGet.Path)
}

// TestMonitoringConfigErrors: bad monitoring and exporter settings are rejected by key.
func TestMonitoringConfigErrors(t *testing.T) {
	cases := map[string]struct {
		cfg  map[string]string
		keys []string
	}{
		"interval": {map[string]string{stacks.KeyMonitoring: `{"interval": "soon"}`}, []string{"monitoring.interval"}},
		"label":    {map[string]string{stacks.KeyMonitoring: `{"labels": {"bad key!": "x"}}`}, []string{"monitoring.labels"}},
		"exporter without image": {map[string]string{stacks.KeyQuasarDB: `[{"name": "ticks", "exporter": {"enabled": true}}]`},
			[]string{"quasardb[0].exporter.image"}},
		"exporter on a secured cluster without a user key": {map[string]string{stacks.KeyQuasarDB: `[{"name": "ticks",
			"security": {"enabled": true, "clusterPrivateKey": "k", "userList": "u", "clusterPublicKey": "p"},
			"exporter": {"enabled": true, "image": "r/e:1"}}]`}, []string{"quasardb[0].exporter.userSecuritySecretRef"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := map[string]string{stacks.KeyKubeContext: "test", stacks.KeyGreptimeDB: `[{"name": "metrics"}]`}
			for k, v := range tc.cfg {
				cfg[k] = v
			}
			assert.Equal(t, tc.keys, objects.ConfigError(t, cfg).Keys())
		})
	}
}

// TestMetaUnscrapedUnderIsolation: metasrv serves its unauthenticated admin API
// on the port of its metrics, so under network isolation the monitoring
// namespaces are not admitted to meta, and meta gets neither scrape annotations
// nor a PodMonitor (which would only report a target that is always down).
// Without isolation meta is scraped like every other component.
func TestMetaUnscrapedUnderIsolation(t *testing.T) {
	run := func(isolation, monitoring string) *mockrun.Result {
		return objects.Run(t, objects.StackConfig(t, stacks.KeyGreptimeDB, []map[string]any{{"name": "metrics"}}, map[string]string{
			stacks.KeyMonitoring: monitoring, stacks.KeyNetworkPolicy: isolation,
		}))
	}
	annotations := `{"enabled": true, "namespaces": ["monitoring"]}`
	isolated := run(`{"enabled": true}`, annotations)
	assert.NotContains(t, objects.PodTemplate(t, objects.Find(t, isolated, objects.DeploymentType, "metrics-meta")).Annotations, "prometheus.io/scrape")
	for _, rule := range objects.NetworkPolicy(t, isolated, "metrics-meta").Spec.Ingress {
		for _, from := range rule.From {
			assert.Nil(t, from.NamespaceSelector, "meta admits no namespace: %v", rule)
		}
	}
	monitors := run(`{"enabled": true}`, `{"enabled": true, "podMonitors": true, "namespaces": ["monitoring"]}`)
	assert.Nil(t, monitors.Find("kubernetes:monitoring.coreos.com/v1:PodMonitor", "metrics-meta"))

	open := run(`{"enabled": false}`, annotations)
	assert.Equal(t, "true", objects.PodTemplate(t, objects.Find(t, open, objects.DeploymentType, "metrics-meta")).Annotations["prometheus.io/scrape"])
}
