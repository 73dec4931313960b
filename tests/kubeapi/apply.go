package kubeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// FieldManager is the server-side apply field manager used by this package.
const FieldManager = "tsdb-platform"

// Pod Security Standards labels set by CreateRestrictedNamespace.
var restrictedLabels = map[string]string{
	"pod-security.kubernetes.io/enforce":         "restricted",
	"pod-security.kubernetes.io/enforce-version": "latest",
	"pod-security.kubernetes.io/warn":            "restricted",
	"pod-security.kubernetes.io/warn-version":    "latest",
	"pod-security.kubernetes.io/audit":           "restricted",
	"pod-security.kubernetes.io/audit-version":   "latest",
}

var (
	namespaceGVR      = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	serviceAccountGVR = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	podGVR            = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	priorityClassGVR  = schema.GroupVersionResource{Group: "scheduling.k8s.io", Version: "v1", Resource: "priorityclasses"}
)

// EnsurePriorityClass creates (for real) the PriorityClass name, as the
// cluster's platform team would have before a stack names it: the API server
// refuses a pod whose priority class does not exist. The built-in
// system-cluster-critical and system-node-critical are left alone.
func (s *Server) EnsurePriorityClass(ctx context.Context, name string) error {
	if strings.HasPrefix(name, "system-") {
		return nil
	}
	pc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion":  "scheduling.k8s.io/v1",
		"kind":        "PriorityClass",
		"metadata":    map[string]any{"name": name},
		"value":       int64(1000),
		"description": "created by the tsdb-platform tests for the pods that name it",
	}}
	if err := s.patchApply(ctx, s.dynamic.Resource(priorityClassGVR), pc, false); err != nil {
		return fmt.Errorf("applying priority class %q: %w", name, err)
	}
	return nil
}

// CreateRestrictedNamespace creates (for real) namespace name enforcing,
// warning about and auditing the "restricted" Pod Security Standard at its
// latest version. It is idempotent.
func (s *Server) CreateRestrictedNamespace(t testing.TB, name string) {
	t.Helper()
	s.CreateNamespace(t, name, restrictedLabels)
}

// EnsureRestrictedNamespace is CreateRestrictedNamespace returning an error
// instead of failing a test.
func (s *Server) EnsureRestrictedNamespace(ctx context.Context, name string) error {
	return s.EnsureNamespace(ctx, name, restrictedLabels)
}

// CreateNamespace creates (for real) namespace name with labels, or adds the
// labels to it when it exists, together with its "default" ServiceAccount
// (which kube-controller-manager, not running here, would otherwise create).
// It fails t on error.
func (s *Server) CreateNamespace(t testing.TB, name string, labels map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.EnsureNamespace(ctx, name, labels); err != nil {
		t.Fatalf("creating namespace %q: %v", name, err)
	}
}

// EnsureNamespace is CreateNamespace returning an error instead of failing a
// test.
func (s *Server) EnsureNamespace(ctx context.Context, name string, labels map[string]string) error {
	md := map[string]any{"name": name}
	if len(labels) > 0 {
		l := make(map[string]any, len(labels))
		for k, v := range labels {
			l[k] = v
		}
		md["labels"] = l
	}
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Namespace",
		"metadata":   md,
	}}
	if err := s.patchApply(ctx, s.dynamic.Resource(namespaceGVR), ns, false); err != nil {
		return fmt.Errorf("applying namespace %q: %w", name, err)
	}
	if err := s.ensureServiceAccount(ctx, name, "default"); err != nil {
		return err
	}
	return nil
}

// DryRunApply server-side applies obj with dryRun=All (field manager
// "tsdb-platform", forcing conflicts, strict field validation) and returns the
// warnings the server sent for that request. Nothing is persisted. A
// namespaced obj must name its namespace, which must exist.
func (s *Server) DryRunApply(ctx context.Context, obj *unstructured.Unstructured) (warnings []string, err error) {
	return s.apply(ctx, obj, true)
}

// Apply is DryRunApply without the dry run: obj is persisted. Use it for
// prerequisites such as CustomResourceDefinitions.
func (s *Server) Apply(ctx context.Context, obj *unstructured.Unstructured) (warnings []string, err error) {
	return s.apply(ctx, obj, false)
}

func (s *Server) apply(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) ([]string, error) {
	if obj == nil {
		return nil, errors.New("apply: nil object")
	}
	gvk := obj.GroupVersionKind()
	desc := describe(obj)
	if gvk.Kind == "" || gvk.Version == "" {
		return nil, fmt.Errorf("apply %s: apiVersion and kind are required", desc)
	}
	if obj.GetName() == "" {
		return nil, fmt.Errorf("apply %s: metadata.name is required", desc)
	}
	mapping, err := s.restMapping(gvk)
	if err != nil {
		return nil, fmt.Errorf("apply %s: %w", desc, err)
	}
	var ri dynamic.ResourceInterface = s.dynamic.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			return nil, fmt.Errorf("apply %s: namespaced kind without metadata.namespace", desc)
		}
		ri = s.dynamic.Resource(mapping.Resource).Namespace(obj.GetNamespace())
	}

	ctx, warnings := withWarningCollector(ctx)
	err = s.patchApply(ctx, ri, obj, dryRun)
	if err != nil {
		return warnings.list(), fmt.Errorf("apply %s: %w", desc, err)
	}
	return warnings.list(), nil
}

// Get reads the live version of obj (by apiVersion, kind, namespace and name).
func (s *Server) Get(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ri, err := s.resourceFor(obj)
	if err != nil {
		return nil, err
	}
	live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", describe(obj), err)
	}
	return live, nil
}

// Dynamic returns the server's dynamic admin client.
func (s *Server) Dynamic() dynamic.Interface { return s.dynamic }

// RESTMapping maps gvk to its resource through (cached) discovery.
func (s *Server) RESTMapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	return s.restMapping(gvk)
}

// resourceFor returns the client for obj's resource (in its namespace, if
// namespaced).
func (s *Server) resourceFor(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	desc := describe(obj)
	mapping, err := s.restMapping(obj.GroupVersionKind())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", desc, err)
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			return nil, fmt.Errorf("%s: namespaced kind without metadata.namespace", desc)
		}
		return s.dynamic.Resource(mapping.Resource).Namespace(obj.GetNamespace()), nil
	}
	return s.dynamic.Resource(mapping.Resource), nil
}

// patchApply sends obj as a server-side apply patch.
func (s *Server) patchApply(ctx context.Context, ri dynamic.ResourceInterface, obj *unstructured.Unstructured, dryRun bool) error {
	data, err := obj.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	opts := metav1.PatchOptions{
		FieldManager:    FieldManager,
		Force:           ptr(true),
		FieldValidation: metav1.FieldValidationStrict,
	}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts); err != nil {
		return err
	}
	return nil
}

// DryRunPodFromTemplate dry-run creates a Pod named name in namespace from
// podTemplateSpec (a Deployment's or StatefulSet's spec.template: metadata and
// spec) and returns the server's warnings. Unlike for workloads, for which
// PodSecurity only warns, a Pod that violates the namespace's enforced level
// is rejected, with an error that says "violates PodSecurity".
//
// The Pod's ServiceAccount (spec.serviceAccountName, else "default") is
// created for real when missing, as ServiceAccount admission requires it.
func (s *Server) DryRunPodFromTemplate(ctx context.Context, namespace string, podTemplateSpec map[string]any, name string) (warnings []string, err error) {
	if namespace == "" || name == "" {
		return nil, fmt.Errorf("dry-run pod %q in namespace %q: namespace and name are required", name, namespace)
	}
	desc := fmt.Sprintf("pod %s/%s", namespace, name)

	// Round-trip through JSON: the result is an independent copy holding only
	// JSON types, whatever the caller's map holds (ints, typed maps, ...).
	raw, err := json.Marshal(podTemplateSpec)
	if err != nil {
		return nil, fmt.Errorf("dry-run %s: encoding template: %w", desc, err)
	}
	var tmpl struct {
		Metadata map[string]any `json:"metadata"`
		Spec     map[string]any `json:"spec"`
	}
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		return nil, fmt.Errorf("dry-run %s: decoding template: %w", desc, err)
	}
	if tmpl.Spec == nil {
		return nil, fmt.Errorf("dry-run %s: template has no spec", desc)
	}
	podMeta := map[string]any{}
	for _, k := range []string{"labels", "annotations"} {
		if v, ok := tmpl.Metadata[k]; ok {
			podMeta[k] = v
		}
	}
	podMeta["name"] = name
	podMeta["namespace"] = namespace
	pod := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Pod",
		"metadata":   podMeta,
		"spec":       tmpl.Spec,
	}}

	sa, _ := tmpl.Spec["serviceAccountName"].(string)
	if sa == "" {
		sa, _ = tmpl.Spec["serviceAccount"].(string)
	}
	if sa == "" {
		sa = "default"
	}
	if err := s.ensureServiceAccount(ctx, namespace, sa); err != nil {
		return nil, fmt.Errorf("dry-run %s: %w", desc, err)
	}

	ctx, collector := withWarningCollector(ctx)
	_, err = s.dynamic.Resource(podGVR).Namespace(namespace).Create(ctx, pod, metav1.CreateOptions{
		DryRun:          []string{metav1.DryRunAll},
		FieldManager:    FieldManager,
		FieldValidation: metav1.FieldValidationStrict,
	})
	if err != nil {
		return collector.list(), fmt.Errorf("dry-run %s: %w", desc, err)
	}
	return collector.list(), nil
}

// ensureServiceAccount creates ServiceAccount namespace/name unless it exists.
func (s *Server) ensureServiceAccount(ctx context.Context, namespace, name string) error {
	ri := s.dynamic.Resource(serviceAccountGVR).Namespace(namespace)
	_, err := ri.Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("getting service account %s/%s: %w", namespace, name, err)
	}
	sa := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "ServiceAccount",
		"metadata":   map[string]any{"name": name, "namespace": namespace},
	}}
	if _, err := ri.Create(ctx, sa, metav1.CreateOptions{FieldManager: FieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating service account %s/%s: %w", namespace, name, err)
	}
	return nil
}

// restMapping maps gvk to a resource through discovery. Discovery results
// are cached per Server; on a miss the cache is refreshed once, so kinds of
// CustomResourceDefinitions applied meanwhile resolve too.
func (s *Server) restMapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	mapping, err := s.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil && meta.IsNoMatchError(err) {
		s.mapper.Reset()
		mapping, err = s.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", gvk, err)
	}
	return mapping, nil
}

func describe(obj *unstructured.Unstructured) string {
	name := obj.GetName()
	if ns := obj.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	kind := obj.GetKind()
	if kind == "" {
		kind = "object"
	}
	return fmt.Sprintf("%s %q (%s)", kind, name, obj.GetAPIVersion())
}

func ptr[T any](v T) *T { return &v }

// Warnings travel from the shared client's warning handler to the call that
// made the request through the request's context.

type warningCollectorKey struct{}

type warningCollector struct {
	mu       sync.Mutex
	warnings []string
}

func withWarningCollector(ctx context.Context) (context.Context, *warningCollector) {
	c := &warningCollector{}
	return context.WithValue(ctx, warningCollectorKey{}, c), c
}

func (c *warningCollector) add(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.warnings = append(c.warnings, text)
}

func (c *warningCollector) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.warnings) == 0 {
		return nil
	}
	return append([]string(nil), c.warnings...)
}

// contextWarningHandler hands each warning to the collector in the request's
// context and drops warnings of requests that have none.
type contextWarningHandler struct{}

func (contextWarningHandler) HandleWarningHeaderWithContext(ctx context.Context, code int, _ string, text string) {
	if code != 299 || text == "" {
		return
	}
	if c, ok := ctx.Value(warningCollectorKey{}).(*warningCollector); ok {
		c.add(text)
	}
}
