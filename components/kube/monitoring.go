package kube

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Monitoring says how Prometheus finds the databases' metrics.
type Monitoring struct {
	// Enabled makes every component's metrics endpoint scrapable.
	Enabled bool `json:"enabled"`
	// PodMonitors creates a Prometheus Operator PodMonitor per component (the
	// monitoring.coreos.com CRDs must be installed); false marks the pods with
	// the prometheus.io/scrape annotations instead.
	PodMonitors bool `json:"podMonitors"`
	// PrometheusRules creates a Prometheus Operator PrometheusRule per cluster
	// with its alerts (the CRD must be installed, and kube-state-metrics scraped:
	// most alerts read its series). The alerts also read the series the
	// PodMonitors scrape, by their namespace and pod labels, so it needs
	// PodMonitors.
	PrometheusRules bool `json:"prometheusRules"`
	// Labels go on each PodMonitor and PrometheusRule, for the Prometheus
	// resource's podMonitorSelector and ruleSelector (e.g. release:
	// kube-prometheus-stack).
	Labels map[string]string `json:"labels"`
	// Interval is the scrape interval, a Prometheus duration ("30s").
	Interval string `json:"interval"`
	// Dashboards creates a Grafana dashboard ConfigMap per cluster, labelled for
	// the Grafana sidecar (grafana_dashboard: "1").
	Dashboards bool `json:"dashboards"`
	// Namespaces are where Prometheus runs: with network isolation on, their pods
	// may reach the metrics ports.
	Namespaces []string `json:"namespaces"`
}

var promDuration = regexp.MustCompile(`^([0-9]+(ms|s|m|h))+$`)

// Validate checks the labels and the interval.
func (m Monitoring) Validate(p *field.Path) field.ErrorList {
	errs := metav1validation.ValidateLabels(m.Labels, p.Child("labels"))
	for i, ns := range m.Namespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("namespaces").Index(i), ns, "not a valid namespace name: "+strings.Join(msgs, "; ")))
		}
	}
	if !promDuration.MatchString(m.Interval) {
		errs = append(errs, field.Invalid(p.Child("interval"), m.Interval, "not a Prometheus duration; want e.g. 30s or 1m"))
	}
	if m.PrometheusRules && !m.PodMonitors {
		errs = append(errs, field.Invalid(p.Child("prometheusRules"), m.PrometheusRules, fmt.Sprintf(
			"the alerts read the series the PodMonitors scrape: set %s to true as well, or this to false", p.Child("podMonitors"))))
	}
	return errs
}

// Scrape is one metrics endpoint of a component's pods.
type Scrape struct {
	// PortName and Port are the container port serving the metrics.
	PortName string
	Port     int
	// Path is the metrics path ("/metrics").
	Path string
}

// PodAnnotations are the prometheus.io annotations that make the pods
// scrapable without the Prometheus Operator; nil with monitoring off or with
// PodMonitors.
func (m Monitoring) PodAnnotations(s Scrape) pulumi.StringMap {
	if !m.Enabled || m.PodMonitors {
		return nil
	}
	return pulumi.StringMap{
		"prometheus.io/scrape": pulumi.String("true"),
		"prometheus.io/port":   pulumi.String(strconv.Itoa(s.Port)),
		"prometheus.io/path":   pulumi.String(s.Path),
	}
}

// objectMeta is the metadata of a Prometheus Operator object of the identified
// pods: their labels and the ones Prometheus selects its objects by.
func (m Monitoring) objectMeta(name string, id Identity, namespace pulumi.StringInput) *metav1.ObjectMetaArgs {
	meta := id.ObjectMeta(name, namespace)
	labels := id.Labels()
	for k, v := range m.Labels {
		labels[k] = pulumi.String(v)
	}
	meta.Labels = labels
	return meta
}

// PodMonitorType is the type token of a Prometheus Operator PodMonitor.
const PodMonitorType = "kubernetes:monitoring.coreos.com/v1:PodMonitor"

// NewPodMonitor creates the PodMonitor that scrapes the identified pods (only
// with monitoring on and PodMonitors chosen).
func (m Monitoring) NewPodMonitor(ctx *pulumi.Context, name string, id Identity, namespace pulumi.StringInput, s Scrape,
	opts ...pulumi.ResourceOption,
) error {
	if !m.Enabled || !m.PodMonitors {
		return nil
	}
	meta := m.objectMeta(name, id, namespace)
	_, err := apiextensions.NewCustomResource(ctx, name, &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("monitoring.coreos.com/v1"),
		Kind:       pulumi.String("PodMonitor"),
		Metadata:   meta,
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{
			"selector": pulumi.Map{"matchLabels": id.Selector()},
			"podMetricsEndpoints": pulumi.Array{pulumi.Map{
				"port":     pulumi.String(s.PortName),
				"path":     pulumi.String(s.Path),
				"interval": pulumi.String(m.Interval),
			}},
		}},
	}, opts...)
	if err != nil {
		return fmt.Errorf("pod monitor: %w", err)
	}
	return nil
}

// Alert is one Prometheus alerting rule of a PrometheusRule.
type Alert struct {
	// Name is the alert's name (alertname), in UpperCamelCase.
	Name string
	// Expr is the PromQL expression; the alert fires for each series it returns.
	Expr string
	// For is how long Expr must hold before the alert fires, a Prometheus
	// duration; "" fires at once.
	For string
	// Severity is the alert's severity label: critical or warning.
	Severity string
	// Summary and Description are its annotations.
	Summary, Description string
}

// Alert severities, the values of the severity label that Alertmanager routes on.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
)

// PrometheusRuleType is the type token of a Prometheus Operator PrometheusRule.
const PrometheusRuleType = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"

// NewPrometheusRule creates the PrometheusRule holding one group, named name, of
// the alerts alerts(namespace) returns (only with monitoring on and
// PrometheusRules chosen). The alerts take the namespace as a plain string to
// scope their selectors to it.
func (m Monitoring) NewPrometheusRule(ctx *pulumi.Context, name string, id Identity, namespace pulumi.StringInput,
	alerts func(namespace string) []Alert, opts ...pulumi.ResourceOption,
) error {
	if !m.Enabled || !m.PrometheusRules {
		return nil
	}
	meta := m.objectMeta(name, id, namespace)
	spec := namespace.ToStringOutput().ApplyT(func(ns string) map[string]any {
		var rules []any
		for _, a := range alerts(ns) {
			rule := map[string]any{
				"alert":       a.Name,
				"expr":        a.Expr,
				"labels":      map[string]any{"severity": a.Severity},
				"annotations": map[string]any{"summary": a.Summary, "description": a.Description},
			}
			if a.For != "" {
				rule["for"] = a.For
			}
			rules = append(rules, rule)
		}
		return map[string]any{"groups": []any{map[string]any{"name": name, "rules": rules}}}
	})
	_, err := apiextensions.NewCustomResource(ctx, name, &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String("monitoring.coreos.com/v1"),
		Kind:        pulumi.String("PrometheusRule"),
		Metadata:    meta,
		OtherFields: kubernetes.UntypedArgs{"spec": spec},
	}, opts...)
	if err != nil {
		return fmt.Errorf("prometheus rule: %w", err)
	}
	return nil
}

// The kube-state-metrics series the alerts read, scoped by the object's
// namespace and name (kube-state-metrics gives them as labels; the objects'
// own labels only with its --metric-labels-allowlist, so the alerts never rely
// on those).

// ReplicasMissingExpr returns the StatefulSet (deployment: Deployment) named
// name in namespace while fewer of its replicas are ready (a Deployment's:
// available) than it wants.
func ReplicasMissingExpr(deployment bool, namespace, name string) string {
	if deployment {
		sel := fmt.Sprintf(`{namespace=%q, deployment=%q}`, namespace, name)
		return "kube_deployment_status_replicas_available" + sel + " < on (namespace, deployment) kube_deployment_spec_replicas" + sel
	}
	sel := fmt.Sprintf(`{namespace=%q, statefulset=%q}`, namespace, name)
	return "kube_statefulset_status_replicas_ready" + sel + " < on (namespace, statefulset) kube_statefulset_replicas" + sel
}

// JobFailedExpr returns each Job in namespace whose name matches the regular
// expression jobs and that failed (its Failed condition: kube_job_status_failed
// would count failed pods, also those of a Job that succeeded on a retry). A
// failed Job stays until it is deleted, by hand or by its CronJob's history
// limit, and so does the alert.
func JobFailedExpr(namespace, jobs string) string {
	return fmt.Sprintf(`kube_job_failed{namespace=%q, job_name=~%q, condition="true"} > 0`, namespace, jobs)
}

// CronJobRuns is the regular expression of the names of the Jobs a CronJob
// named name creates (name-<minutes since the epoch>).
func CronJobRuns(name string) string { return regexp.QuoteMeta(name) + "-[0-9]+" }
