// Package stacks turns a Pulumi stack's configuration into one typed, validated
// specification of what the stack deploys, and deploys it.
package stacks

import (
	"tsdb-platform/components/greptimedb"
	"tsdb-platform/components/kube"
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
	// GreptimeDB lists the GreptimeDB clusters of the stack, each named.
	GreptimeDB []GreptimeDBCluster `json:"greptimedb"`
	// QuasarDB lists the QuasarDB clusters of the stack, each named.
	QuasarDB []QuasarDBCluster `json:"quasardb"`
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

// DataSafety holds the options that keep stateful data from being lost by a deploy.
type DataSafety = kube.DataSafety

// NetworkPolicy restricts which pods may talk to the databases.
type NetworkPolicy = kube.Isolation

// Resources are a container's CPU and memory requests and limits.
type Resources = kube.Resources

// ResourceAmounts is a CPU and memory pair of Kubernetes quantities ("500m", "1Gi").
type ResourceAmounts = kube.Amounts

// Storage is a persistent volume claim's size and storage class.
type Storage = kube.Storage

// Anti-affinity modes for spreading a component's pods over nodes.
const (
	AntiAffinityNone      = kube.AntiAffinityNone
	AntiAffinityPreferred = kube.AntiAffinityPreferred
	AntiAffinityRequired  = kube.AntiAffinityRequired
)

// GreptimeDBCluster is one GreptimeDB cluster: etcd, meta, datanodes and frontends.
type GreptimeDBCluster struct {
	// Name of the cluster, a DNS-1123 label; every object's name derives from it.
	Name string `json:"name"`
	// Image is the GreptimeDB image used by meta, datanode and frontend.
	Image string `json:"image"`
	// WaitImage is the small image (a shell and wget) of the init containers that
	// wait until a component's dependency answers.
	WaitImage string `json:"waitImage"`
	// AntiAffinity spreads each component's pods over nodes: none, preferred or required.
	AntiAffinity string `json:"antiAffinity"`
	// Logging is the log level and format of meta, datanodes and frontends.
	Logging LoggingSpec `json:"logging"`
	// WAL is where datanodes write ahead: their volume (raft_engine) or Kafka.
	WAL      WALSpec      `json:"wal"`
	Etcd     EtcdSpec     `json:"etcd"`
	Meta     MetaSpec     `json:"meta"`
	Datanode DatanodeSpec `json:"datanode"`
	Frontend FrontendSpec `json:"frontend"`
}

// LoggingSpec is GreptimeDB's log level (error, warn, info, debug, trace) and format (text, json).
type LoggingSpec struct {
	Level  string `json:"level"`
	Format string `json:"format"`
}

// WALSpec is GreptimeDB's write-ahead log: raft_engine (on each datanode's volume) or
// kafka (remote, which region failover needs).
type WALSpec struct {
	Provider string `json:"provider"`
	// BrokerEndpoints are the Kafka brokers, "host:port" (kafka only).
	BrokerEndpoints []string `json:"brokerEndpoints"`
}

// EtcdSpec is the etcd cluster that stores GreptimeDB's metadata.
type EtcdSpec struct {
	// Endpoints of an existing etcd ("host:2379"); when set, no etcd is deployed.
	Endpoints []string `json:"endpoints"`
	// Replicas is the member count: 1, 3, 5 or 7.
	Replicas  int       `json:"replicas"`
	Image     string    `json:"image"`
	Resources Resources `json:"resources"`
	Storage   Storage   `json:"storage"`
	// AllowMemberCountChange lets the program change the member count of a running cluster,
	// after the operator has added or removed the members with etcdctl.
	AllowMemberCountChange bool `json:"allowMemberCountChange"`
}

// Deployed reports whether the stack deploys etcd itself (no external endpoints given).
func (e EtcdSpec) Deployed() bool { return len(e.Endpoints) == 0 }

// MetaSpec is GreptimeDB's metasrv.
type MetaSpec struct {
	Replicas  int       `json:"replicas"`
	Resources Resources `json:"resources"`
	// EnableRegionFailover turns on metasrv's region failover; it needs the kafka WAL
	// and shared object storage.
	EnableRegionFailover bool `json:"enableRegionFailover"`
}

// Datanode storage types.
const (
	StorageTypeFile = greptimedb.StorageFile
	StorageTypeS3   = greptimedb.StorageS3
)

// DatanodeSpec is GreptimeDB's datanodes.
type DatanodeSpec struct {
	Replicas  int       `json:"replicas"`
	Resources Resources `json:"resources"`
	// Storage is the per-pod volume for the WAL and (with File storage) the data.
	Storage Storage `json:"storage"`
	// ObjectStorage selects where region data lives: File (the pod's volume) or S3.
	ObjectStorage ObjectStorage `json:"objectStorage"`
}

// ObjectStorage is where GreptimeDB datanodes keep region data.
type ObjectStorage struct {
	// Type is File or S3.
	Type     string `json:"type"`
	Bucket   string `json:"bucket"`
	Root     string `json:"root"`
	Region   string `json:"region"`
	Endpoint string `json:"endpoint"`
	// AccessKeyID and SecretAccessKey are secrets: set them with `pulumi config set --secret --path`.
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
}

// Frontend Service types.
const (
	ServiceTypeClusterIP    = greptimedb.ServiceClusterIP
	ServiceTypeNodePort     = greptimedb.ServiceNodePort
	ServiceTypeLoadBalancer = greptimedb.ServiceLoadBalancer
)

// FrontendSpec is GreptimeDB's frontends, the client entry point.
type FrontendSpec struct {
	Replicas  int       `json:"replicas"`
	Resources Resources `json:"resources"`
	// ServiceType is ClusterIP, NodePort or LoadBalancer.
	ServiceType string `json:"serviceType"`
	// LoadBalancer says whether `pulumi up` waits for a LoadBalancer Service's address.
	LoadBalancer LoadBalancerSpec `json:"loadBalancer"`
	Auth         AuthSpec         `json:"auth"`
}

// LoadBalancerSpec says how `pulumi up` treats a LoadBalancer frontend Service.
type LoadBalancerSpec struct {
	// WaitForAddress makes the deploy wait until the cluster's load-balancer controller
	// gives the Service an address, and fail after TimeoutSeconds. When false the
	// Service is reported created at once (pulumi.com/skipAwait), as clusters without
	// a load-balancer controller (kind, bare metal) never give it one.
	WaitForAddress bool `json:"waitForAddress"`
	// TimeoutSeconds bounds the wait for the address (1 to 3600).
	TimeoutSeconds int `json:"timeoutSeconds"`
}

// AuthSpec is the frontends' static user authentication.
type AuthSpec struct {
	// Enabled turns on authentication with a generated password.
	Enabled bool `json:"enabled"`
	// Username is the user the generated password belongs to.
	Username string `json:"username"`
}

// QuasarDBCluster is one QuasarDB cluster: an ordered StatefulSet with a license.
type QuasarDBCluster struct {
	// Name of the cluster, a DNS-1123 label; every object's name derives from it.
	Name      string    `json:"name"`
	Image     string    `json:"image"`
	Replicas  int       `json:"replicas"`
	Resources Resources `json:"resources"`
	Storage   Storage   `json:"storage"`
	// AntiAffinity spreads the pods over nodes: none, preferred or required.
	AntiAffinity string `json:"antiAffinity"`
	// Replication is QuasarDB's replication factor (1 to replicas).
	Replication int `json:"replication"`
	// License is the license key, a secret (`pulumi config set --secret --path`).
	License string `json:"license"`
	// LicenseFile is a path to the license key file, read when the program runs.
	LicenseFile string `json:"licenseFile"`
	// RequireLicense rejects a cluster without a license (the prod profile sets it).
	RequireLicense bool           `json:"requireLicense"`
	Security       SecuritySpec   `json:"security"`
	Probes         QuasarDBProbes `json:"probes"`
	// AllowReplicaChange lets the program change the replica count of a running cluster,
	// which shifts every node id.
	AllowReplicaChange bool `json:"allowReplicaChange"`
}

// SecuritySpec is QuasarDB's encrypted, authenticated cluster mode.
type SecuritySpec struct {
	Enabled bool `json:"enabled"`
	// ClusterPrivateKey and UserList are secrets: set them with `pulumi config set --secret --path`.
	ClusterPrivateKey string `json:"clusterPrivateKey"`
	UserList          string `json:"userList"`
	// ClusterPublicKey is handed to clients; it is exported.
	ClusterPublicKey string `json:"clusterPublicKey"`
}

// QuasarDBProbes are the TCP readiness and liveness probe timings on the client port.
type QuasarDBProbes struct {
	Readiness ProbeTiming `json:"readiness"`
	Liveness  ProbeTiming `json:"liveness"`
}

// ProbeTiming is one probe's timing, in seconds and attempts.
type ProbeTiming struct {
	InitialDelaySeconds int `json:"initialDelaySeconds"`
	PeriodSeconds       int `json:"periodSeconds"`
	TimeoutSeconds      int `json:"timeoutSeconds"`
	FailureThreshold    int `json:"failureThreshold"`
}
