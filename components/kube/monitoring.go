package kube

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
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
	// Labels go on each PodMonitor, for the Prometheus resource's podMonitorSelector
	// (e.g. release: kube-prometheus-stack).
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
	meta := id.ObjectMeta(name, namespace)
	labels := id.Labels()
	for k, v := range m.Labels {
		labels[k] = pulumi.String(v)
	}
	meta.Labels = labels
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
