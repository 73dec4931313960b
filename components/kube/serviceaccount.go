package kube

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// AnnotationIRSARole is the ServiceAccount annotation of IAM roles for service
// accounts on EKS. Its admission webhook (amazon-eks-pod-identity-webhook) sets
// AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, AWS_REGION and AWS_DEFAULT_REGION in
// the pods, which the AWS SDKs' default credential chains read.
const AnnotationIRSARole = "eks.amazonaws.com/role-arn"

// ServiceAccountSpec is a workload's own ServiceAccount, for workload identity
// (EKS IRSA's eks.amazonaws.com/role-arn, GKE's iam.gke.io/gcp-service-account).
type ServiceAccountSpec struct {
	// Annotations of the ServiceAccount; none means the namespace's default account.
	Annotations map[string]string `json:"annotations"`
}

// Enabled reports whether the workload gets its own ServiceAccount.
func (s ServiceAccountSpec) Enabled() bool { return len(s.Annotations) > 0 }

// Validate checks the annotations (p is the serviceAccount key).
func (s ServiceAccountSpec) Validate(p *field.Path) field.ErrorList {
	return apivalidation.ValidateAnnotations(s.Annotations, p.Child("annotations"))
}

// NewServiceAccount creates the workload's own account named name, with the
// spec's annotations, which the cloud's workload identity maps to an IAM role.
func (w Workload) NewServiceAccount(name string, s ServiceAccountSpec) (*corev1.ServiceAccount, error) {
	meta := w.ID.ObjectMeta(name, w.Namespace)
	meta.Annotations = pulumi.ToStringMap(s.Annotations)
	sa, err := corev1.NewServiceAccount(w.Ctx, name, &corev1.ServiceAccountArgs{Metadata: meta}, w.Parent)
	if err != nil {
		return nil, fmt.Errorf("service account %q: %w", name, err)
	}
	return sa, nil
}
