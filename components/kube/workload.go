package kube

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Workload builds the objects of one component's workload: its ConfigMaps,
// Secrets, Services and pod template, and what every workload ends with (a
// PodDisruptionBudget, a PodMonitor, a NetworkPolicy). etcd, GreptimeDB's
// components and QuasarDB all build through it, so each has the same shape.
type Workload struct {
	Component
	Env
	// ID labels every object of the workload and selects its pods.
	ID Identity
	// Scrape is where the pods serve their metrics; nil when Prometheus must
	// not scrape them (no annotations, PodMonitor or scrape flow).
	Scrape *Scrape
}

// Monitoring is the stack's monitoring, off for an unscraped workload.
func (w Workload) Monitoring() Monitoring {
	m := w.Env.Monitoring
	if w.Scrape == nil {
		m.Enabled = false
	}
	return m
}

// NewConfigMap creates an auto-named ConfigMap holding data: a changed one is
// created anew, and the workload that mounts it rolls onto it.
func (w Workload) NewConfigMap(name string, data pulumi.StringMap) (*corev1.ConfigMap, error) {
	cm, err := corev1.NewConfigMap(w.Ctx, name, &corev1.ConfigMapArgs{
		Metadata: w.ID.AutoNamedMeta(w.Namespace),
		Data:     data,
	}, w.Parent)
	if err != nil {
		return nil, fmt.Errorf("config map %q: %w", name, err)
	}
	return cm, nil
}

// NewSecret creates an auto-named Opaque Secret holding data (Pulumi secrets).
func (w Workload) NewSecret(name string, data pulumi.StringMap) (*corev1.Secret, error) {
	s, err := corev1.NewSecret(w.Ctx, name, &corev1.SecretArgs{
		Metadata:   w.ID.AutoNamedMeta(w.Namespace),
		Type:       pulumi.String("Opaque"),
		StringData: data,
	}, w.Parent)
	if err != nil {
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	return s, nil
}

// Metadata is what an object carries besides the workload's labels: more
// labels (never one of the workload's own, see OwnLabel) and annotations.
type Metadata struct {
	Labels      map[string]string
	Annotations map[string]string
}

// objectMeta is the metadata of the workload's object named name, with md.
func (w Workload) objectMeta(name string, md Metadata) *metav1.ObjectMetaArgs {
	labels := w.ID.Labels()
	for k, v := range md.Labels {
		if !OwnLabel(k) {
			labels[k] = pulumi.String(v)
		}
	}
	meta := &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: w.Namespace, Labels: labels}
	if len(md.Annotations) > 0 {
		meta.Annotations = pulumi.ToStringMap(md.Annotations)
	}
	return meta
}

// NewService creates the Service named name that selects the workload's pods,
// with md's labels and annotations. It is reported created at once
// (pulumi.com/skipAwait) unless md asks for an await (pulumi.com/timeoutSeconds,
// a load balancer's address): the provider's await of a Service proves nothing
// about its selector (pulumi-kubernetes v4.32.0 provider/pkg/await/service.go
// succeeds once its endpoints stopped changing for 10 s, with no address in them
// too; a Service selecting no pod is "created" after 10 s), and those 10 s ended
// every deploy. The workloads' awaits prove their pods Ready; the waits of the
// components after them go through these Services.
func (w Workload) NewService(name string, md Metadata, spec *corev1.ServiceSpecArgs) (*corev1.Service, error) {
	if _, await := md.Annotations[AnnotationTimeoutSeconds]; !await {
		annotations := map[string]string{AnnotationSkipAwait: "true"}
		for k, v := range md.Annotations {
			annotations[k] = v
		}
		md.Annotations = annotations
	}
	spec.Selector = w.ID.Selector()
	svc, err := corev1.NewService(w.Ctx, name, &corev1.ServiceArgs{Metadata: w.objectMeta(name, md), Spec: spec}, w.Parent)
	if err != nil {
		return nil, fmt.Errorf("service %q: %w", name, err)
	}
	return svc, nil
}

// NewIngress creates the Ingress named name, with md's labels and annotations.
// It is reported created at once (pulumi.com/skipAwait): an ingress controller
// may never publish an address (none installed, or one that does not report
// status), and the backends' readiness is awaited through their workload.
func (w Workload) NewIngress(name string, md Metadata, spec *networkingv1.IngressSpecArgs) (*networkingv1.Ingress, error) {
	meta := w.objectMeta(name, md)
	annotations := pulumi.StringMap{AnnotationSkipAwait: pulumi.String("true")}
	for k, v := range md.Annotations {
		annotations[k] = pulumi.String(v)
	}
	meta.Annotations = annotations
	in, err := networkingv1.NewIngress(w.Ctx, name, &networkingv1.IngressArgs{Metadata: meta, Spec: spec}, w.Parent)
	if err != nil {
		return nil, fmt.Errorf("ingress %q: %w", name, err)
	}
	return in, nil
}

// Pod is what differs between the workloads' pod templates.
type Pod struct {
	// UID is the user (and group) the containers run as.
	UID int
	// AntiAffinity spreads the pods over nodes.
	AntiAffinity AntiAffinityMode
	// Scheduling is the component's own, over the stack's (Env.Scheduling).
	Scheduling Scheduling
	// Annotations of the pod template (rollout checksums); the scrape
	// annotations are added.
	Annotations    pulumi.StringMap
	InitContainers []corev1.ContainerArgs
	Containers     []corev1.ContainerArgs
	Volumes        corev1.VolumeArray
	// ServiceAccountName is the pods' own account; nil is the namespace's default.
	ServiceAccountName pulumi.StringInput
	// TerminationGracePeriodSeconds, when not 0, bounds a pod's shutdown.
	TerminationGracePeriodSeconds int
}

// PodTemplate is the workload's pod template: its labels, the annotations, the
// Pod Security "restricted" security context, the scheduling (the pod's over
// the stack's) with anti-affinity over the workload's own pods, the image pull
// Secrets, and no service account token.
func (w Workload) PodTemplate(p Pod) *corev1.PodTemplateSpecArgs {
	spec := &corev1.PodSpecArgs{
		// No database component calls the Kubernetes API. Workload identity does
		// not use this token either: EKS IRSA and Pod Identity inject a projected
		// token volume of their own (aws/amazon-eks-pod-identity-webhook,
		// pkg/handler), GKE answers on the metadata server.
		AutomountServiceAccountToken: pulumi.Bool(false),
		SecurityContext:              PodSecurityContext(p.UID),
		Containers:                   containerArray(p.Containers),
	}
	w.Registry.setPullSecrets(spec)
	p.Scheduling.Over(w.Scheduling).apply(spec, p.AntiAffinity, w.ID.Selector())
	if len(p.InitContainers) > 0 {
		spec.InitContainers = containerArray(p.InitContainers)
	}
	if p.Volumes != nil {
		spec.Volumes = p.Volumes
	}
	if p.ServiceAccountName != nil {
		spec.ServiceAccountName = p.ServiceAccountName
	}
	if p.TerminationGracePeriodSeconds != 0 {
		spec.TerminationGracePeriodSeconds = pulumi.Int(p.TerminationGracePeriodSeconds)
	}
	annotations := p.Annotations
	if w.Scrape != nil {
		for k, v := range w.Monitoring().PodAnnotations(*w.Scrape) {
			if annotations == nil {
				annotations = pulumi.StringMap{}
			}
			annotations[k] = v
		}
	}
	return &corev1.PodTemplateSpecArgs{Metadata: w.ID.PodMeta(annotations), Spec: spec}
}

func containerArray(cs []corev1.ContainerArgs) corev1.ContainerArray {
	out := make(corev1.ContainerArray, len(cs))
	for i, c := range cs {
		out[i] = c
	}
	return out
}

// StatefulSetOptions are the options of a StatefulSet that holds data: a child
// of the component, protected and retained as the data safety says.
func (w Workload) StatefulSetOptions(more ...pulumi.ResourceOption) []pulumi.ResourceOption {
	return append(w.DataSafety.StatefulSetOptions(w.Parent), more...)
}

// Finish creates what every workload ends with, all named name: a disruption
// budget that keeps at most one pod evicted at a time (none for a single
// replica), the PodMonitor (with PodMonitors chosen) and, with isolation on,
// the NetworkPolicy that allows only the given flows and the scrape.
func (w Workload) Finish(name string, replicas int, ingress, egress []Flow) error {
	if _, err := NewPodDisruptionBudget(w.Ctx, name, w.ID, w.Namespace, replicas, w.Parent); err != nil {
		return err
	}
	if w.Scrape != nil {
		if err := w.Monitoring().NewPodMonitor(w.Ctx, name, w.ID, w.Namespace, *w.Scrape, w.Parent); err != nil {
			return err
		}
	}
	if !w.Isolation.Enabled {
		return nil
	}
	if w.Scrape != nil {
		ingress = append(ingress, w.Monitoring().ScrapeFlows(*w.Scrape)...)
	}
	_, err := NewNetworkPolicy(w.Ctx, name, w.ID, w.Namespace, ingress, egress, w.Parent)
	return err
}

// NewJobPolicy is NewJobNetworkPolicy for one of the workload's Jobs or
// CronJobs, labelled id; nothing is created with isolation off.
func (w Workload) NewJobPolicy(name string, id Identity, egress []Flow) error {
	if !w.Isolation.Enabled {
		return nil
	}
	return NewJobNetworkPolicy(w.Ctx, name, id, w.Namespace, egress, w.Parent)
}
