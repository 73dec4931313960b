package kubeapi

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// standInCRD is a namespaced v1 CustomResourceDefinition for an operator's kind,
// with its spec left unvalidated: the same group, version, kind and scope as the
// real one, so that stacks using it can be applied to the test server as to a
// cluster running the operator.
func standInCRD(group, kind, plural string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": plural + "." + group},
		"spec": map[string]any{
			"group": group,
			"scope": "Namespaced",
			"names": map[string]any{"kind": kind, "listKind": kind + "List", "plural": plural, "singular": strings.ToLower(kind)},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object", "x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}}
}

// installCRDs creates the stand-in CRDs and waits until they are established.
func (s *Server) installCRDs(ctx context.Context) error {
	for _, crd := range []*unstructured.Unstructured{
		standInCRD("monitoring.coreos.com", "PodMonitor", "podmonitors"),         // Prometheus Operator
		standInCRD("monitoring.coreos.com", "PrometheusRule", "prometheusrules"), // Prometheus Operator
		standInCRD("cert-manager.io", "Certificate", "certificates"),             // cert-manager
	} {
		if err := s.installCRD(ctx, crd); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) installCRD(ctx context.Context, obj *unstructured.Unstructured) error {
	if _, err := s.Apply(ctx, obj); err != nil {
		return fmt.Errorf("CRD %s: %w", obj.GetName(), err)
	}
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for {
		crd, err := s.dynamic.Resource(gvr).Get(ctx, obj.GetName(), metav1.GetOptions{})
		if err == nil {
			conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conditions {
				if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s not established: %w", obj.GetName(), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
