package manifests

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"tsdb-platform/tests/kubeapi"
)

// Check applies objs to a real API server as the provider would and returns every
// problem: rejections, warnings (PodSecurity warns on workloads), pod templates that
// a "restricted" namespace refuses, and a program namespace that does not enforce
// "restricted". Namespaces are created for real, since dry-run objects need them;
// everything else is a dry run. The error is for failures of the check itself.
func Check(ctx context.Context, srv *kubeapi.Server, objs []Object) ([]string, error) {
	var problems []string
	report := func(obj *unstructured.Unstructured, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s %s/%s: %s", obj.GetKind(), obj.GetNamespace(), obj.GetName(), fmt.Sprintf(format, args...)))
	}
	for _, o := range objs {
		obj := o.Body
		if obj.GetKind() == "Namespace" {
			labels := obj.GetLabels()
			if labels["pod-security.kubernetes.io/enforce"] != "restricted" {
				report(obj, "does not enforce Pod Security restricted: %v", labels)
			}
			if err := srv.EnsureNamespace(ctx, obj.GetName(), labels); err != nil {
				return problems, err
			}
			continue
		}
		if ns := obj.GetNamespace(); ns != "" {
			// Idempotent; for stacks that deploy into an existing namespace.
			if err := srv.EnsureRestrictedNamespace(ctx, ns); err != nil {
				return problems, err
			}
		}
		for _, pc := range PriorityClasses(obj) {
			if err := srv.EnsurePriorityClass(ctx, pc); err != nil {
				return problems, err
			}
		}
		warnings, err := srv.DryRunApply(ctx, obj)
		if err != nil {
			report(obj, "rejected: %v", err)
			continue
		}
		for _, w := range warnings {
			report(obj, "warning: %s", w)
		}
		tmpl, ok := FirstPodTemplate(obj)
		if !ok {
			continue
		}
		warnings, err = srv.DryRunPodFromTemplate(ctx, obj.GetNamespace(), tmpl, obj.GetName()+"-0")
		if err != nil {
			report(obj, "pod from template rejected: %v", err)
			continue
		}
		for _, w := range warnings {
			report(obj, "pod warning: %s", w)
		}
	}
	return problems, nil
}

// PriorityClasses are the priority classes the pod template of a workload,
// Job or CronJob names: the cluster must have them before its pods start.
func PriorityClasses(obj *unstructured.Unstructured) []string {
	var out []string
	for _, path := range [][]string{
		{"spec", "template", "spec", "priorityClassName"},
		{"spec", "jobTemplate", "spec", "template", "spec", "priorityClassName"},
	} {
		if name, _, _ := unstructured.NestedString(obj.Object, path...); name != "" {
			out = append(out, name)
		}
	}
	return out
}

// FirstPodTemplate returns a workload's pod template as its controller would make
// its first pod: for a StatefulSet, with one volume per volumeClaimTemplate bound to
// pod 0's claim. ok is false for objects without a pod template.
func FirstPodTemplate(obj *unstructured.Unstructured) (tmpl map[string]any, ok bool) {
	tmpl, found, err := unstructured.NestedMap(obj.Object, "spec", "template")
	if err != nil || !found {
		return nil, false
	}
	claims, _, _ := unstructured.NestedSlice(obj.Object, "spec", "volumeClaimTemplates")
	if len(claims) == 0 {
		return tmpl, true
	}
	volumes, _, _ := unstructured.NestedSlice(tmpl, "spec", "volumes")
	for _, c := range claims {
		claim, _ := c.(map[string]any)
		name, _, _ := unstructured.NestedString(claim, "metadata", "name")
		volumes = append(volumes, map[string]any{
			"name":                  name,
			"persistentVolumeClaim": map[string]any{"claimName": name + "-" + obj.GetName() + "-0"},
		})
	}
	if err := unstructured.SetNestedSlice(tmpl, volumes, "spec", "volumes"); err != nil {
		return nil, false
	}
	return tmpl, true
}
