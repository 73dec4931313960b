// Package stacks turns a Pulumi stack's configuration into one typed, validated
// specification of what the stack deploys, and deploys it.
package stacks

import (
	"tsdb-platform/components/greptimedb"
	"tsdb-platform/components/kube"
	"tsdb-platform/components/quasardb"
)

// Spec is everything one stack deploys, after the environment profile's defaults
// have been merged under the stack file's overrides and the result validated.
type Spec struct {
	// Profile names the environment profile that supplied the defaults (dev, staging, prod).
	Profile string `json:"profile"`
	// Target says where the stack deploys.
	Target Target `json:"-"`
	// DataSafety holds the options that keep stateful data from being lost by a deploy.
	DataSafety DataSafety `json:"dataSafety"`
	// NetworkPolicy restricts which pods may talk to the databases.
	NetworkPolicy NetworkPolicy `json:"networkPolicy"`
	// Monitoring makes the databases' metrics scrapable.
	Monitoring kube.Monitoring `json:"monitoring"`
	// Scheduling is where every pod runs, unless its component's scheduling
	// sets a key of its own.
	Scheduling kube.Scheduling `json:"scheduling"`
	// ImageRegistry, when set, replaces the registry of every image.
	ImageRegistry string `json:"imageRegistry"`
	// ImagePullSecrets name the Secrets every pod pulls its images with.
	ImagePullSecrets []string `json:"imagePullSecrets"`
	// GreptimeDB lists the GreptimeDB clusters of the stack, each named.
	GreptimeDB []GreptimeDBCluster `json:"greptimedb"`
	// QuasarDB lists the QuasarDB clusters of the stack, each named.
	QuasarDB []QuasarDBCluster `json:"quasardb"`
}

// Registry is where every image is pulled from.
func (s *Spec) Registry() kube.Registry {
	return kube.Registry{Prefix: s.ImageRegistry, PullSecrets: s.ImagePullSecrets}
}

// Target says which Kubernetes cluster and namespace a stack deploys into.
type Target struct {
	// Namespace every object of the stack lives in.
	Namespace string `json:"namespace"`
	// CreateNamespace makes the stack create (and own) the namespace.
	CreateNamespace bool `json:"createNamespace"`
	// ClusterDomain is the cluster's DNS domain, used for in-cluster endpoints.
	ClusterDomain string `json:"clusterDomain"`
	// Kubeconfig is a kubeconfig path or its contents; empty means the default loading rules.
	Kubeconfig string `json:"kubeconfig"`
	// KubeContext names the kubeconfig context to deploy to; empty means the kubeconfig's current one.
	KubeContext string `json:"kubeContext"`
	// RenderDir, when set, makes the provider write manifests there instead of applying them.
	RenderDir string `json:"renderDir"`
}

// DataSafety holds the options that keep stateful data from being lost by a deploy:
// the components' options, and what only the topology guard reads.
type DataSafety struct {
	kube.DataSafety
	// AllowOrphaning lets one deployment leave retained data behind: a cluster that
	// was removed or renamed, or a changed namespace, leaves its StatefulSets and
	// volume claims in the cluster (retainOnDelete) while an empty one starts.
	AllowOrphaning bool `json:"allowOrphaning"`
}

// NetworkPolicy turns on network isolation for every cluster of the stack; who
// may reach each cluster is its own networkPolicy's (clientNamespaces, clientCidrs).
type NetworkPolicy = kube.Isolation

// GreptimeDBCluster is one GreptimeDB cluster: its name and the component's spec.
type GreptimeDBCluster struct {
	// Name of the cluster, a DNS-1123 label; every object's name derives from it.
	Name string `json:"name"`
	greptimedb.ClusterSpec
}

// QuasarDBCluster is one QuasarDB cluster: its name, the component's spec, and
// what only the stack reads.
type QuasarDBCluster struct {
	// Name of the cluster, a DNS-1123 label; every object's name derives from it.
	Name string `json:"name"`
	quasardb.ClusterSpec
	// LicenseFile is a path to the license key file, read into License when the
	// program runs.
	LicenseFile string `json:"licenseFile"`
	// AllowReplicaChange lets the program change the replica count of a running
	// cluster, which shifts every node id (the topology guard reads it).
	AllowReplicaChange bool `json:"allowReplicaChange"`
}
