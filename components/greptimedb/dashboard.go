package greptimedb

import (
	"fmt"

	"tsdb-platform/components/kube"
)

// DashboardLabel is the label the Grafana sidecar loads dashboards from.
const DashboardLabel = kube.DashboardLabel

// DashboardKey is the dashboard's key in its ConfigMap.
const DashboardKey = "greptimedb.json"

// dashboardPanels are each deployed component's key series (from the
// components table, the entry point first), with the metric names of
// GreptimeDB v1.1.4's own cluster dashboard (grafana/dashboards/metrics/cluster)
// and etcd's, for the pods of one cluster in the dashboard's namespace; then
// every pod's memory and CPU.
func dashboardPanels(w wiring) []kube.Panel {
	var panels []kube.Panel
	for i := len(w.rows) - 1; i >= 0; i-- {
		if r := w.rows[i]; r.panels != nil {
			panels = append(panels, r.panels(fmt.Sprintf(`namespace="$namespace", pod=~"%s-.*"`, w.objectName(r.kind)))...)
		}
	}
	return append(panels,
		kube.Panel{Title: "Memory by pod", Unit: "bytes", Expr: fmt.Sprintf(`sum by (pod) (process_resident_memory_bytes{namespace="$namespace", pod=~"%s-.*"})`, w.cluster)},
		kube.Panel{Title: "CPU by pod", Unit: "short", Expr: fmt.Sprintf(`sum by (pod) (rate(process_cpu_seconds_total{namespace="$namespace", pod=~"%s-.*"}[$__rate_interval]))`, w.cluster)},
	)
}

// dashboardJSON is the Grafana dashboard of one cluster in namespace.
func dashboardJSON(w wiring, namespace string) (string, error) {
	return kube.DashboardJSON("tsdb-greptimedb-"+namespace+"-"+w.cluster, fmt.Sprintf("GreptimeDB %s (%s)", w.cluster, namespace),
		namespace, []string{"greptimedb", "tsdb-platform"}, dashboardPanels(w))
}

// newDashboard creates the cluster's Grafana dashboard ConfigMap.
func (b *clusterBuilder) newDashboard() error {
	id := kube.Identity{App: App, Instance: b.cluster, Component: "dashboard"}
	return kube.NewDashboard(b.Ctx, b.Name+"-dashboard", id, b.env.Namespace, DashboardKey,
		func(ns string) (string, error) { return dashboardJSON(b.wiring, ns) }, b.Parent)
}
