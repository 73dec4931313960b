package kube

import (
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// DataSafety says how the engine treats resources that hold data.
type DataSafety struct {
	// Protect makes `pulumi destroy` (and any replacement) refuse to delete them.
	Protect bool `json:"protect"`
	// RetainOnDelete leaves them in the cluster when Pulumi deletes them.
	RetainOnDelete bool `json:"retainOnDelete"`
}

// StatefulOptions are the resource options for a resource that owns persistent
// volume claims (a StatefulSet with volumeClaimTemplates).
func (d DataSafety) StatefulOptions() []pulumi.ResourceOption {
	var opts []pulumi.ResourceOption
	if d.Protect {
		opts = append(opts, pulumi.Protect(true))
	}
	if d.RetainOnDelete {
		opts = append(opts, pulumi.RetainOnDelete(true))
	}
	return opts
}

// StatefulSetOptions are StatefulOptions plus what every StatefulSet with volume claim
// templates needs: a claim template cannot change on a live StatefulSet, so changes to
// it are ignored and volumes are resized through their claims, never by replacing the
// StatefulSet and its volumes.
func (d DataSafety) StatefulSetOptions(opts ...pulumi.ResourceOption) []pulumi.ResourceOption {
	out := append([]pulumi.ResourceOption{pulumi.IgnoreChanges([]string{"spec.volumeClaimTemplates"})}, d.StatefulOptions()...)
	return append(out, opts...)
}

// RetainClaims keeps a StatefulSet's claims when it is deleted or scaled down.
func RetainClaims() *appsv1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs {
	return &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs{
		WhenDeleted: pulumi.String("Retain"),
		WhenScaled:  pulumi.String("Retain"),
	}
}
