package greptimedb

import (
	"fmt"

	"tsdb-platform/components/kube"
)

// DashboardLabel is the label the Grafana sidecar loads dashboards from.
const DashboardLabel = kube.DashboardLabel

// DashboardKey is the dashboard's key in its ConfigMap.
const DashboardKey = "greptimedb.json"

// dashboardPanels are each component's key series, with the metric names of
// GreptimeDB v1.1.4's own cluster dashboard (grafana/dashboards/metrics/cluster)
// and etcd's, for the pods of one cluster in the dashboard's namespace.
func dashboardPanels(cluster string) []kube.Panel {
	pods := func(component string) string {
		return fmt.Sprintf(`namespace="$namespace", pod=~"%s-%s-.*"`, cluster, component)
	}
	return []kube.Panel{
		{Title: "Frontend: ingested rows/s", Unit: "short", Expr: fmt.Sprintf(`sum(rate(greptime_table_operator_ingest_rows{%s}[$__rate_interval]))`, pods("frontend"))},
		{Title: "Frontend: HTTP p99 latency", Unit: "s", Expr: fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(greptime_servers_http_requests_elapsed_bucket{%s}[$__rate_interval])))`, pods("frontend"))},
		{Title: "Frontend: errors/s", Unit: "short", Expr: fmt.Sprintf(`sum(rate(greptime_servers_error{%s}[$__rate_interval]))`, pods("frontend"))},
		{Title: "Datanode: write buffer", Unit: "bytes", Expr: fmt.Sprintf(`sum by (pod) (greptime_mito_write_buffer_bytes{%s})`, pods("datanode"))},
		{Title: "Datanode: write stalls", Unit: "short", Expr: fmt.Sprintf(`sum by (pod) (greptime_mito_write_stalling_count{%s})`, pods("datanode"))},
		{Title: "Datanode: flush failures/s", Unit: "short", Expr: fmt.Sprintf(`sum(rate(greptime_mito_flush_failure_total{%s}[$__rate_interval]))`, pods("datanode"))},
		{Title: "Meta: KV requests/s", Unit: "short", Expr: fmt.Sprintf(`sum(rate(greptime_meta_kv_request_elapsed_count{%s}[$__rate_interval]))`, pods("meta"))},
		{Title: "etcd: has leader", Unit: "short", Expr: fmt.Sprintf(`min(etcd_server_has_leader{%s})`, pods("etcd"))},
		{Title: "etcd: database size", Unit: "bytes", Expr: fmt.Sprintf(`max by (pod) (etcd_mvcc_db_total_size_in_bytes{%s})`, pods("etcd"))},
		{Title: "Memory by pod", Unit: "bytes", Expr: fmt.Sprintf(`sum by (pod) (process_resident_memory_bytes{namespace="$namespace", pod=~"%s-.*"})`, cluster)},
		{Title: "CPU by pod", Unit: "short", Expr: fmt.Sprintf(`sum by (pod) (rate(process_cpu_seconds_total{namespace="$namespace", pod=~"%s-.*"}[$__rate_interval]))`, cluster)},
	}
}

// DashboardJSON is the Grafana dashboard of one cluster in namespace.
func DashboardJSON(cluster, namespace string) (string, error) {
	return kube.DashboardJSON("tsdb-greptimedb-"+namespace+"-"+cluster, fmt.Sprintf("GreptimeDB %s (%s)", cluster, namespace),
		namespace, []string{"greptimedb", "tsdb-platform"}, dashboardPanels(cluster))
}

// newDashboard creates the cluster's Grafana dashboard ConfigMap.
func (b *clusterBuilder) newDashboard() error {
	return kube.NewDashboard(b.Ctx, b.Name+"-dashboard", b.common.identity("dashboard"), b.common.Namespace, DashboardKey,
		func(ns string) (string, error) { return DashboardJSON(b.Name, ns) }, b.Parent)
}
