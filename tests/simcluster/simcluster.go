// Package simcluster deploys a stack's Kubernetes objects, as a program run under
// mocks records them, for real onto a simulated cluster (kubeapi.Cluster: a real
// control plane whose nodes are played by kwok) and checks that they come up: every
// workload gets Ready, every claim Bound, every Service endpoints, replicas that must
// not share a node do not, every pod is scheduled and every Job completes.
//
// Nothing runs in the pods: this checks how the objects fit together (selectors,
// storage classes, scheduling constraints, startup order), not the software.
package simcluster

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/plan"
	"tsdb-platform/tests/kubeapi"
	"tsdb-platform/tests/manifests"
)

// HostnameTopologyKey is the node label that anti-affinity spreads replicas over.
const HostnameTopologyKey = "kubernetes.io/hostname"

// Batch is a set of objects applied together: the awaited objects of one startup
// stage, with the objects the provider does not await that become creatable once
// the previous stage is ready.
type Batch struct {
	// Stage is the startup stage of the batch's awaited objects (1-based); 0 for a
	// batch of only namespaces.
	Stage   int
	Objects []manifests.Object
	// Awaited are the objects of the batch the provider waits for.
	Awaited []manifests.Object
}

// Order splits objs into batches in the startup plan's order: namespaces first,
// then for each stage its awaited objects together with the not-awaited objects
// whose awaited dependencies all belong to earlier stages. res is the run objs
// come from (their Resource fields point into it).
func Order(res *mockrun.Result, objs []manifests.Object) []Batch {
	p := plan.Compute(res)
	ns := Batch{}
	byStage := map[int]*Batch{}
	maxStage := 0
	get := func(stage int) *Batch {
		b := byStage[stage]
		if b == nil {
			b = &Batch{Stage: stage}
			byStage[stage] = b
		}
		if stage > maxStage {
			maxStage = stage
		}
		return b
	}
	for _, o := range objs {
		if o.Body.GetKind() == "Namespace" {
			ns.Objects = append(ns.Objects, o)
			continue
		}
		if n := p.Node(o.Resource.URN); n != nil {
			b := get(n.Stage)
			b.Objects = append(b.Objects, o)
			b.Awaited = append(b.Awaited, o)
			continue
		}
		// Not awaited: created as soon as what it depends on is ready, i.e. with
		// the stage after the last awaited object it depends on.
		after := 0
		for _, urn := range res.DependsOn(o.Resource) {
			if n := p.Node(urn); n != nil && n.Stage > after {
				after = n.Stage
			}
		}
		b := get(after + 1)
		b.Objects = append(b.Objects, o)
	}
	var out []Batch
	if len(ns.Objects) > 0 {
		out = append(out, ns)
	}
	for s := 1; s <= maxStage; s++ {
		if b := byStage[s]; b != nil {
			out = append(out, *b)
		}
	}
	return out
}

// DeployOptions configure Deploy.
type DeployOptions struct {
	// StageTimeout bounds the wait for each stage's awaited objects (default 1m).
	// A stage that is not ready in time is reported, and the next one applied.
	StageTimeout time.Duration
}

// Deploy server-side applies objs (for real) to c batch by batch, in Order, and
// after each batch waits for its awaited objects to be ready, as `pulumi up` would.
// Namespaces also get their "default" ServiceAccount at once. It returns the stages
// that were not ready in time; the error is for objects the server refused.
func Deploy(ctx context.Context, c *kubeapi.Cluster, res *mockrun.Result, objs []manifests.Object, opts DeployOptions) ([]string, error) {
	if opts.StageTimeout <= 0 {
		opts.StageTimeout = time.Minute
	}
	var late []string
	for _, b := range Order(res, objs) {
		for _, o := range b.Objects {
			obj := o.Body
			if obj.GetKind() == "Namespace" {
				// Before the full apply, which then owns every field.
				if err := c.EnsureNamespace(ctx, obj.GetName(), obj.GetLabels()); err != nil {
					return late, err
				}
			}
			for _, pc := range manifests.PriorityClasses(obj) {
				if err := c.EnsurePriorityClass(ctx, pc); err != nil {
					return late, err
				}
			}
			if obj.GetKind() == "Job" {
				// A Job's pod template is immutable: the provider replaces the
				// Job, deleting it first as its name stays.
				if err := deleteChangedJob(ctx, c, obj); err != nil {
					return late, err
				}
			}
			if _, err := c.Apply(ctx, obj); err != nil {
				return late, err
			}
		}
		if len(b.Awaited) == 0 {
			continue
		}
		stageCtx, cancel := context.WithTimeout(ctx, opts.StageTimeout)
		problems := waitFor(stageCtx, func(ctx context.Context) []string {
			var problems []string
			for _, o := range b.Awaited {
				problems = append(problems, objectProblems(ctx, c, o.Body)...)
			}
			return problems
		})
		cancel()
		for _, p := range problems {
			late = append(late, fmt.Sprintf("stage %d not ready after %s: %s", b.Stage, opts.StageTimeout, p))
		}
	}
	return late, nil
}

// deleteChangedJob deletes the live Job named like obj when its pod template
// differs from obj's, and waits until it is gone, as the provider's
// delete-before-replace does.
func deleteChangedJob(ctx context.Context, c *kubeapi.Cluster, obj *unstructured.Unstructured) error {
	jobs := c.Clientset().BatchV1().Jobs(obj.GetNamespace())
	live, err := jobs.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading Job %s: %w", obj.GetName(), err)
	}
	want, _, _ := unstructured.NestedStringMap(obj.Object, "spec", "template", "metadata", "annotations")
	if maps.Equal(want, live.Spec.Template.Annotations) {
		return nil
	}
	background := metav1.DeletePropagationBackground
	if err := jobs.Delete(ctx, obj.GetName(), metav1.DeleteOptions{PropagationPolicy: &background}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("replacing Job %s: %w", obj.GetName(), err)
	}
	problems := waitFor(ctx, func(ctx context.Context) []string {
		if _, err := jobs.Get(ctx, obj.GetName(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return []string{"Job " + obj.GetName() + " is still being deleted"}
		}
		return nil
	})
	if len(problems) > 0 {
		return fmt.Errorf("replacing Job %s: %s", obj.GetName(), problems[0])
	}
	return nil
}

// Verify checks namespace on c until everything is up or ctx ends, and returns the
// problems still found then (nil when everything is up), each naming its object:
//
//   - every object of objs in namespace exists;
//   - every StatefulSet and Deployment has all its replicas Ready and updated (for a
//     StatefulSet: currentRevision == updateRevision);
//   - every PersistentVolumeClaim is Bound;
//   - every Service with a selector has ready endpoints (EndpointSlices);
//   - every pod is scheduled, and the replicas of a workload whose pods must not
//     share a node (required anti-affinity on kubernetes.io/hostname) do not;
//   - every Job completes.
func Verify(ctx context.Context, c *kubeapi.Cluster, namespace string, objs []manifests.Object) []string {
	return waitFor(ctx, func(ctx context.Context) []string {
		return namespaceProblems(ctx, c, namespace, objs)
	})
}

// waitFor polls check until it reports nothing or ctx ends, and returns its last
// report. Each check runs with its own bounded context, so that the last one is
// not cut short by ctx's end.
func waitFor(ctx context.Context, check func(context.Context) []string) []string {
	for {
		checkCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkTimeout)
		problems := check(checkCtx)
		cancel()
		if len(problems) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return problems
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// checkTimeout bounds one round of checks.
const checkTimeout = 30 * time.Second

func name(kind, namespace, n string) string { return kind + " " + namespace + "/" + n }

// namespaceProblems lists what is not (yet) up in namespace.
func namespaceProblems(ctx context.Context, c *kubeapi.Cluster, namespace string, objs []manifests.Object) []string {
	cs := c.Clientset()
	var problems []string
	fail := func(what string, err error) []string {
		return append(problems, fmt.Sprintf("listing %s in %s: %v", what, namespace, err))
	}

	for _, o := range objs {
		if o.Body.GetNamespace() != namespace {
			continue
		}
		if _, err := c.Get(ctx, o.Body); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name(o.Body.GetKind(), namespace, o.Body.GetName()), err))
		}
	}

	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fail("pods", err)
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.Spec.NodeName == "" && pod.DeletionTimestamp == nil {
			problems = append(problems, fmt.Sprintf("%s is not scheduled: %s", name("Pod", namespace, pod.Name), podScheduledMessage(pod)))
		}
	}

	sts, err := cs.AppsV1().StatefulSets(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fail("statefulsets", err)
	}
	for i := range sts.Items {
		s := &sts.Items[i]
		problems = append(problems, statefulSetProblems(s)...)
		problems = append(problems, spreadProblems("StatefulSet", s.Namespace, s.Name, s.Spec.Selector, &s.Spec.Template, pods.Items)...)
	}
	deps, err := cs.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fail("deployments", err)
	}
	for i := range deps.Items {
		d := &deps.Items[i]
		problems = append(problems, deploymentProblems(d)...)
		problems = append(problems, spreadProblems("Deployment", d.Namespace, d.Name, d.Spec.Selector, &d.Spec.Template, pods.Items)...)
	}

	pvcs, err := cs.CoreV1().PersistentVolumeClaims(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fail("persistentvolumeclaims", err)
	}
	for i := range pvcs.Items {
		problems = append(problems, claimProblems(&pvcs.Items[i])...)
	}

	svcs, err := cs.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fail("services", err)
	}
	for i := range svcs.Items {
		problems = append(problems, serviceProblems(ctx, c, &svcs.Items[i], pods.Items)...)
	}

	jobs, err := cs.BatchV1().Jobs(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fail("jobs", err)
	}
	for i := range jobs.Items {
		problems = append(problems, jobProblems(&jobs.Items[i])...)
	}
	sort.Strings(problems)
	return problems
}

// objectProblems checks one awaited object (a workload, Service or claim) the way
// the provider's await does.
func objectProblems(ctx context.Context, c *kubeapi.Cluster, obj *unstructured.Unstructured) []string {
	cs := c.Clientset()
	ns, n := obj.GetNamespace(), obj.GetName()
	desc := name(obj.GetKind(), ns, n)
	switch obj.GetKind() {
	case "StatefulSet":
		s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			return []string{fmt.Sprintf("%s: %v", desc, err)}
		}
		return statefulSetProblems(s)
	case "Deployment":
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			return []string{fmt.Sprintf("%s: %v", desc, err)}
		}
		return deploymentProblems(d)
	case "PersistentVolumeClaim":
		pvc, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			return []string{fmt.Sprintf("%s: %v", desc, err)}
		}
		return claimProblems(pvc)
	case "Service":
		svc, err := cs.CoreV1().Services(ns).Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			return []string{fmt.Sprintf("%s: %v", desc, err)}
		}
		return serviceProblems(ctx, c, svc, nil)
	case "Job":
		j, err := cs.BatchV1().Jobs(ns).Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			return []string{fmt.Sprintf("%s: %v", desc, err)}
		}
		return jobProblems(j)
	}
	return nil
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func statefulSetProblems(s *appsv1.StatefulSet) []string {
	desc := name("StatefulSet", s.Namespace, s.Name)
	want := replicas(s.Spec.Replicas)
	st := s.Status
	switch {
	case st.ObservedGeneration < s.Generation:
		return []string{fmt.Sprintf("%s: generation %d not observed yet (at %d)", desc, s.Generation, st.ObservedGeneration)}
	case st.ReadyReplicas != want || st.Replicas != want:
		return []string{fmt.Sprintf("%s: %d of %d replicas ready (%d exist)", desc, st.ReadyReplicas, want, st.Replicas)}
	case st.UpdatedReplicas != want:
		return []string{fmt.Sprintf("%s: %d of %d replicas updated", desc, st.UpdatedReplicas, want)}
	case st.CurrentRevision != st.UpdateRevision:
		return []string{fmt.Sprintf("%s: rollout unfinished (currentRevision %s, updateRevision %s)", desc, st.CurrentRevision, st.UpdateRevision)}
	}
	return nil
}

func deploymentProblems(d *appsv1.Deployment) []string {
	desc := name("Deployment", d.Namespace, d.Name)
	want := replicas(d.Spec.Replicas)
	st := d.Status
	switch {
	case st.ObservedGeneration < d.Generation:
		return []string{fmt.Sprintf("%s: generation %d not observed yet (at %d)", desc, d.Generation, st.ObservedGeneration)}
	case st.ReadyReplicas != want || st.Replicas != want:
		return []string{fmt.Sprintf("%s: %d of %d replicas ready (%d exist)", desc, st.ReadyReplicas, want, st.Replicas)}
	case st.UpdatedReplicas != want || st.AvailableReplicas != want:
		return []string{fmt.Sprintf("%s: %d of %d replicas updated, %d available", desc, st.UpdatedReplicas, want, st.AvailableReplicas)}
	}
	return nil
}

func claimProblems(pvc *corev1.PersistentVolumeClaim) []string {
	if pvc.Status.Phase == corev1.ClaimBound {
		return nil
	}
	class := "<none>"
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	return []string{fmt.Sprintf("%s is %s, not Bound (storage class %q)", name("PersistentVolumeClaim", pvc.Namespace, pvc.Name), pvc.Status.Phase, class)}
}

// serviceProblems reports a Service with a selector but no ready endpoint. pods, if
// given, are the namespace's pods, to say how many the selector matches.
func serviceProblems(ctx context.Context, c *kubeapi.Cluster, svc *corev1.Service, pods []corev1.Pod) []string {
	if len(svc.Spec.Selector) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil // endpoints are managed by hand, or there are none
	}
	desc := name("Service", svc.Namespace, svc.Name)
	slices, err := c.Clientset().DiscoveryV1().EndpointSlices(svc.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + svc.Name,
	})
	if err != nil {
		return []string{fmt.Sprintf("%s: listing its EndpointSlices: %v", desc, err)}
	}
	ready := 0
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			// A nil ready condition means ready.
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				ready += len(ep.Addresses)
			}
		}
	}
	if ready > 0 {
		return nil
	}
	msg := fmt.Sprintf("%s has no ready endpoints (selector %s", desc, labels.Set(svc.Spec.Selector))
	if pods != nil {
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		matched := 0
		for i := range pods {
			if sel.Matches(labels.Set(pods[i].Labels)) {
				matched++
			}
		}
		msg += fmt.Sprintf(" matches %d pods", matched)
	}
	return []string{msg + ")"}
}

// spreadProblems checks a workload whose pods must be on distinct nodes (a required
// anti-affinity term on kubernetes.io/hostname selecting its own pods): no two of
// its pods share a node, and none is left unscheduled.
func spreadProblems(kind, namespace, n string, selector *metav1.LabelSelector, tmpl *corev1.PodTemplateSpec, pods []corev1.Pod) []string {
	if hasRequiredHostnameTerm(tmpl) && !requiresOnePodPerNode(tmpl) {
		// The scheduler honours such a rule without ever separating the replicas.
		return []string{fmt.Sprintf("%s: its required anti-affinity on %s selects none of its own pods (labels %v), so replicas may share a node",
			name(kind, namespace, n), HostnameTopologyKey, tmpl.Labels)}
	}
	if !requiresOnePodPerNode(tmpl) || selector == nil {
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return []string{fmt.Sprintf("%s: invalid selector: %v", name(kind, namespace, n), err)}
	}
	var problems []string
	byNode := map[string][]string{}
	for i := range pods {
		p := &pods[i]
		if !sel.Matches(labels.Set(p.Labels)) || p.DeletionTimestamp != nil {
			continue
		}
		if p.Spec.NodeName == "" {
			problems = append(problems, fmt.Sprintf("%s needs one node per replica (required anti-affinity on %s) but pod %s is unscheduled: %s",
				name(kind, namespace, n), HostnameTopologyKey, p.Name, podScheduledMessage(p)))
			continue
		}
		byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p.Name)
	}
	for node, names := range byNode {
		if len(names) > 1 {
			sort.Strings(names)
			problems = append(problems, fmt.Sprintf("%s: pods %s share node %s despite a required anti-affinity on %s",
				name(kind, namespace, n), strings.Join(names, ", "), node, HostnameTopologyKey))
		}
	}
	return problems
}

// hasRequiredHostnameTerm reports whether a pod template has any required
// anti-affinity term on kubernetes.io/hostname.
func hasRequiredHostnameTerm(tmpl *corev1.PodTemplateSpec) bool {
	aff := tmpl.Spec.Affinity
	if aff == nil || aff.PodAntiAffinity == nil {
		return false
	}
	for _, term := range aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		if term.TopologyKey == HostnameTopologyKey {
			return true
		}
	}
	return false
}

// requiresOnePodPerNode reports whether a pod template has a required anti-affinity
// term on kubernetes.io/hostname that selects the template's own pods.
func requiresOnePodPerNode(tmpl *corev1.PodTemplateSpec) bool {
	aff := tmpl.Spec.Affinity
	if aff == nil || aff.PodAntiAffinity == nil {
		return false
	}
	for _, term := range aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		if term.TopologyKey != HostnameTopologyKey || term.LabelSelector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if err == nil && sel.Matches(labels.Set(tmpl.Labels)) {
			return true
		}
	}
	return false
}

func podScheduledMessage(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status != corev1.ConditionTrue {
			return fmt.Sprintf("%s: %s", c.Reason, c.Message)
		}
	}
	return "not yet considered by the scheduler"
}

func jobProblems(j *batchv1.Job) []string {
	desc := name("Job", j.Namespace, j.Name)
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return nil
		case batchv1.JobFailed:
			return []string{fmt.Sprintf("%s failed: %s: %s", desc, c.Reason, c.Message)}
		}
	}
	return []string{fmt.Sprintf("%s has not completed (%d succeeded, %d active)", desc, j.Status.Succeeded, j.Status.Active)}
}

// Renamespace returns copies of objs moved to namespace: the Namespace object is
// renamed and every namespaced object's metadata.namespace set. References inside
// the objects (DNS names in configuration) are left alone: nothing resolves them on
// a simulated cluster.
func Renamespace(objs []manifests.Object, namespace string) []manifests.Object {
	out := make([]manifests.Object, len(objs))
	for i, o := range objs {
		body := o.Body.DeepCopy()
		switch {
		case body.GetKind() == "Namespace":
			body.SetName(namespace)
			if l := body.GetLabels(); l != nil {
				if _, ok := l["kubernetes.io/metadata.name"]; ok {
					l["kubernetes.io/metadata.name"] = namespace
					body.SetLabels(l)
				}
			}
		case body.GetNamespace() != "":
			body.SetNamespace(namespace)
		}
		out[i] = manifests.Object{Resource: o.Resource, Body: body}
	}
	return out
}

// Namespace returns the name of the (first) Namespace among objs, or "".
func Namespace(objs []manifests.Object) string {
	for _, o := range objs {
		if o.Body.GetKind() == "Namespace" {
			return o.Body.GetName()
		}
	}
	return ""
}
