package kube

import (
	"encoding/json"
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// DashboardLabel is the label the Grafana sidecar (grafana/helm-charts'
// sidecar.dashboards.label default) loads dashboards from.
const DashboardLabel = "grafana_dashboard"

// Panel is one time series of a dashboard: its title, unit and PromQL, which
// may use $namespace and $__rate_interval.
type Panel struct {
	Title, Unit, Expr string
}

// DashboardJSON is a Grafana dashboard of panels, two per row, for the pods of
// namespace (the constant $namespace variable).
func DashboardJSON(uid, title, namespace string, tags []string, panels []Panel) (string, error) {
	var out []map[string]any
	for i, p := range panels {
		out = append(out, map[string]any{
			"id":         i + 1,
			"type":       "timeseries",
			"title":      p.Title,
			"datasource": map[string]any{"type": "prometheus", "uid": "${datasource}"},
			"gridPos":    map[string]any{"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i / 2) * 8},
			"fieldConfig": map[string]any{
				"defaults":  map[string]any{"unit": p.Unit},
				"overrides": []any{},
			},
			"targets": []any{map[string]any{"refId": "A", "expr": p.Expr, "legendFormat": "{{pod}}"}},
		})
	}
	d := map[string]any{
		"uid":           uid,
		"title":         title,
		"tags":          tags,
		"schemaVersion": 39,
		"time":          map[string]any{"from": "now-6h", "to": "now"},
		"templating": map[string]any{"list": []any{
			map[string]any{"name": "datasource", "type": "datasource", "query": "prometheus"},
			map[string]any{"name": "namespace", "type": "constant", "query": namespace, "hide": 2},
		}},
		"panels": out,
	}
	raw, err := json.MarshalIndent(d, "", "  ")
	return string(raw), err
}

// NewDashboard creates a dashboard ConfigMap labelled for the Grafana sidecar,
// holding render(namespace) under key.
func NewDashboard(ctx *pulumi.Context, name string, id Identity, namespace pulumi.StringInput, key string,
	render func(namespace string) (string, error), opts ...pulumi.ResourceOption,
) error {
	meta := id.ObjectMeta(name, namespace)
	labels := id.Labels()
	labels[DashboardLabel] = pulumi.String("1")
	meta.Labels = labels
	data := namespace.ToStringOutput().ApplyT(render).(pulumi.StringOutput)
	if _, err := corev1.NewConfigMap(ctx, name, &corev1.ConfigMapArgs{
		Metadata: meta,
		Data:     pulumi.StringMap{key: data},
	}, opts...); err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}
