package kubeapi

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podMonitorCRD stands in for the Prometheus Operator's PodMonitor CRD: the same
// group, version, kind and scope, with its spec left unvalidated, so that stacks
// with monitoring.podMonitors can be applied to the test server as to a cluster
// running the operator.
const podMonitorCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: podmonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: PodMonitor, listKind: PodMonitorList, plural: podmonitors, singular: podmonitor}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`

// installCRDs creates the stand-in CRDs and waits until they are established.
func (s *Server) installCRDs(ctx context.Context) error {
	var obj unstructured.Unstructured
	if err := yaml.Unmarshal([]byte(podMonitorCRD), &obj.Object); err != nil {
		return fmt.Errorf("PodMonitor CRD: %w", err)
	}
	if _, err := s.Apply(ctx, &obj); err != nil {
		return fmt.Errorf("PodMonitor CRD: %w", err)
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
			return fmt.Errorf("PodMonitor CRD not established: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
