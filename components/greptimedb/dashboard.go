package greptimedb

import (
	"encoding/json"
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// DashboardLabel is the label the Grafana sidecar (grafana/helm-charts'
// sidecar.dashboards.label default) loads dashboards from.
const DashboardLabel = "grafana_dashboard"

// DashboardKey is the dashboard's key in its ConfigMap.
const DashboardKey = "greptimedb.json"

// dashboardPanel is one time series: a title and its PromQL.
type dashboardPanel struct {
	title, unit, expr string
}

// dashboardPanels are each component's key series, with the metric names of
// GreptimeDB v1.1.4's own cluster dashboard (grafana/dashboards/metrics/cluster)
// and etcd's, for the pods of one cluster in the dashboard's namespace.
func dashboardPanels(cluster string) []dashboardPanel {
	pods := func(component string) string {
		return fmt.Sprintf(`namespace="$namespace", pod=~"%s-%s-.*"`, cluster, component)
	}
	return []dashboardPanel{
		{"Frontend: ingested rows/s", "short", fmt.Sprintf(`sum(rate(greptime_table_operator_ingest_rows{%s}[$__rate_interval]))`, pods("frontend"))},
		{"Frontend: HTTP p99 latency", "s", fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(greptime_servers_http_requests_elapsed_bucket{%s}[$__rate_interval])))`, pods("frontend"))},
		{"Frontend: errors/s", "short", fmt.Sprintf(`sum(rate(greptime_servers_error{%s}[$__rate_interval]))`, pods("frontend"))},
		{"Datanode: write buffer", "bytes", fmt.Sprintf(`sum by (pod) (greptime_mito_write_buffer_bytes{%s})`, pods("datanode"))},
		{"Datanode: write stalls", "short", fmt.Sprintf(`sum by (pod) (greptime_mito_write_stalling_count{%s})`, pods("datanode"))},
		{"Datanode: flush failures/s", "short", fmt.Sprintf(`sum(rate(greptime_mito_flush_failure_total{%s}[$__rate_interval]))`, pods("datanode"))},
		{"Meta: KV requests/s", "short", fmt.Sprintf(`sum(rate(greptime_meta_kv_request_elapsed_count{%s}[$__rate_interval]))`, pods("meta"))},
		{"etcd: has leader", "short", fmt.Sprintf(`min(etcd_server_has_leader{%s})`, pods("etcd"))},
		{"etcd: database size", "bytes", fmt.Sprintf(`max by (pod) (etcd_mvcc_db_total_size_in_bytes{%s})`, pods("etcd"))},
		{"Memory by pod", "bytes", fmt.Sprintf(`sum by (pod) (process_resident_memory_bytes{namespace="$namespace", pod=~"%s-.*"})`, cluster)},
		{"CPU by pod", "short", fmt.Sprintf(`sum by (pod) (rate(process_cpu_seconds_total{namespace="$namespace", pod=~"%s-.*"}[$__rate_interval]))`, cluster)},
	}
}

// DashboardJSON is the Grafana dashboard of one cluster in namespace.
func DashboardJSON(cluster, namespace string) (string, error) {
	var panels []map[string]any
	for i, p := range dashboardPanels(cluster) {
		panels = append(panels, map[string]any{
			"id":         i + 1,
			"type":       "timeseries",
			"title":      p.title,
			"datasource": map[string]any{"type": "prometheus", "uid": "${datasource}"},
			"gridPos":    map[string]any{"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i / 2) * 8},
			"fieldConfig": map[string]any{
				"defaults":  map[string]any{"unit": p.unit},
				"overrides": []any{},
			},
			"targets": []any{map[string]any{"refId": "A", "expr": p.expr, "legendFormat": "{{pod}}"}},
		})
	}
	d := map[string]any{
		"uid":           "tsdb-greptimedb-" + namespace + "-" + cluster,
		"title":         fmt.Sprintf("GreptimeDB %s (%s)", cluster, namespace),
		"tags":          []string{"greptimedb", "tsdb-platform"},
		"schemaVersion": 39,
		"time":          map[string]any{"from": "now-6h", "to": "now"},
		"templating": map[string]any{"list": []any{
			map[string]any{"name": "datasource", "type": "datasource", "query": "prometheus"},
			map[string]any{"name": "namespace", "type": "constant", "query": namespace, "hide": 2},
		}},
		"panels": panels,
	}
	raw, err := json.MarshalIndent(d, "", "  ")
	return string(raw), err
}

// newDashboard creates the cluster's Grafana dashboard ConfigMap.
func (b *clusterBuilder) newDashboard() error {
	id := b.common.identity("dashboard")
	meta := id.ObjectMeta(b.Name+"-dashboard", b.common.Namespace)
	labels := id.Labels()
	labels[DashboardLabel] = pulumi.String("1")
	meta.Labels = labels
	data := b.common.Namespace.ToStringOutput().ApplyT(func(ns string) (string, error) {
		return DashboardJSON(b.Name, ns)
	}).(pulumi.StringOutput)
	if _, err := corev1.NewConfigMap(b.Ctx, b.Name+"-dashboard", &corev1.ConfigMapArgs{
		Metadata: meta,
		Data:     pulumi.StringMap{DashboardKey: data},
	}, b.Parent); err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}
