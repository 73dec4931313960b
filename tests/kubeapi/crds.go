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

// certificateCRD stands in for cert-manager's Certificate CRD, likewise.
const certificateCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: certificates.cert-manager.io
spec:
  group: cert-manager.io
  scope: Namespaced
  names: {kind: Certificate, listKind: CertificateList, plural: certificates, singular: certificate}
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
	for _, crd := range []string{podMonitorCRD, certificateCRD} {
		if err := s.installCRD(ctx, crd); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) installCRD(ctx context.Context, manifest string) error {
	var obj unstructured.Unstructured
	if err := yaml.Unmarshal([]byte(manifest), &obj.Object); err != nil {
		return fmt.Errorf("CRD: %w", err)
	}
	if _, err := s.Apply(ctx, &obj); err != nil {
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
