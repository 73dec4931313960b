package kube

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

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
