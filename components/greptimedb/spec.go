package greptimedb

import (
	"fmt"
	"slices"
	"strings"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/etcd"
	"tsdb-platform/components/kube"
)

// The spec types below are a GreptimeDB cluster's whole configuration: plain
// data with the JSON names of the stack config keys. The stack decodes its
// config straight into them (the environment profiles supply every default;
// the components have none), and Validate is the one place each rule lives:
// the stack loader and the constructors both call it.

// ClusterSpec is one GreptimeDB cluster: etcd, meta, datanodes and frontends.
type ClusterSpec struct {
	Shared
	Etcd     EtcdSpec     `json:"etcd"`
	Meta     MetaSpec     `json:"meta"`
	Datanode DatanodeSpec `json:"datanode"`
	Frontend FrontendSpec `json:"frontend"`
	// Backup is the cluster's scheduled backups: etcd snapshots and database exports.
	Backup BackupSpec `json:"backup"`
	// NetworkPolicy is who may reach the frontends' client ports under isolation.
	NetworkPolicy kube.ClientAccess `json:"networkPolicy"`
}

// Shared is the configuration every component of one cluster uses.
type Shared struct {
	// Image is the GreptimeDB image of meta, datanodes and frontends.
	Image string `json:"image"`
	// WaitImage is the small image (a shell and wget) of the init containers that
	// wait until a component's dependency answers.
	WaitImage string `json:"waitImage"`
	// AntiAffinity spreads each component's pods over nodes.
	AntiAffinity kube.AntiAffinityMode `json:"antiAffinity"`
	// Logging is the log level and format of meta, datanodes and frontends.
	Logging Logging `json:"logging"`
	// WAL is where datanodes write ahead; meta must know it too.
	WAL WAL `json:"wal"`
}

// Logging is GreptimeDB's [logging] level and log_format.
type Logging struct {
	// Level is one of LogLevels.
	Level string `json:"level"`
	// Format is one of LogFormats.
	Format string `json:"format"`
}

// LogLevels and LogFormats list the values GreptimeDB v1.1.4 accepts in [logging].
var (
	LogLevels  = []string{"error", "warn", "info", "debug", "trace"}
	LogFormats = []string{"text", "json"}
)

// WALProvider is where the write-ahead log lives, as GreptimeDB v1.1.4 spells it
// (config/datanode.example.toml [wal]).
type WALProvider string

// WAL providers.
const (
	// WALRaftEngine keeps the WAL on each datanode's volume.
	WALRaftEngine WALProvider = "raft_engine"
	// WALKafka keeps the WAL in Kafka topics, so another datanode can replay a
	// region's WAL: metasrv's region failover needs it.
	WALKafka WALProvider = "kafka"
)

// WAL is the write-ahead log's provider and, for Kafka, its brokers.
type WAL struct {
	Provider WALProvider `json:"provider"`
	// BrokerEndpoints are the Kafka brokers ("host:port"), required with kafka.
	BrokerEndpoints []string `json:"brokerEndpoints"`
	// AllowProviderChange lets the stack change the provider of a running
	// cluster: the datanodes do not replay the old WAL, so unflushed writes are
	// lost. The stack's topology guard reads it; the component does not.
	AllowProviderChange bool `json:"allowProviderChange"`
}

// Remote reports whether the WAL lives outside the datanodes (Kafka).
func (w WAL) Remote() bool { return w.Provider == WALKafka }

// EtcdSpec is the etcd cluster that stores the cluster's metadata: deployed by
// the cluster, or external.
type EtcdSpec struct {
	// Endpoints of an existing etcd ("host:2379"); when set, no etcd is deployed
	// and the rest of the spec is not used.
	Endpoints []string `json:"endpoints"`
	etcd.Spec
	// AllowMemberCountChange lets the stack change the member count of a running
	// cluster, after the operator has added or removed the members with etcdctl.
	// The stack's topology guard reads it; the component does not.
	AllowMemberCountChange bool `json:"allowMemberCountChange"`
}

// Deployed reports whether the cluster deploys its own etcd (no endpoints given).
func (e EtcdSpec) Deployed() bool { return len(e.Endpoints) == 0 }

// MetaSpec is GreptimeDB's metasrv.
type MetaSpec struct {
	Replicas  int            `json:"replicas"`
	Resources kube.Resources `json:"resources"`
	// EnableRegionFailover turns on metasrv's region failover; it needs the kafka
	// WAL and object storage that every datanode reads.
	EnableRegionFailover bool `json:"enableRegionFailover"`
}

// DatanodeSpec is GreptimeDB's datanodes.
type DatanodeSpec struct {
	Replicas  int            `json:"replicas"`
	Resources kube.Resources `json:"resources"`
	// Storage is the per-pod volume for the WAL and (with File storage) the data.
	Storage kube.Storage `json:"storage"`
	// ObjectStorage is where region data lives.
	ObjectStorage ObjectStorage `json:"objectStorage"`
	// ServiceAccount, when it has annotations, gives the datanodes their own
	// ServiceAccount: workload identity (EKS IRSA's eks.amazonaws.com/role-arn,
	// GKE's iam.gke.io/gcp-service-account) then supplies the object store's
	// credentials, and the static keys are not needed.
	ServiceAccount ServiceAccountSpec `json:"serviceAccount"`
	// RolloutTimeoutSeconds bounds how long `pulumi up` waits for the datanodes
	// to be Ready after a change (pulumi.com/timeoutSeconds on the StatefulSet;
	// the provider's own default is 600, pulumi-kubernetes v4.32.0
	// provider/pkg/await/statefulset.go). A datanode replaying a long WAL may
	// need more; when it runs out, the deploy fails and metasrv stays in
	// maintenance until the next successful one.
	RolloutTimeoutSeconds int `json:"rolloutTimeoutSeconds"`
	// AllowScaleDown lets the stack lower the replica count of running
	// datanodes, after their regions were migrated off the removed ordinals
	// (their regions and local WAL go offline otherwise). The stack's topology
	// guard reads it; the component does not.
	AllowScaleDown bool `json:"allowScaleDown"`
}

// ServiceAccountSpec is a workload's own ServiceAccount.
type ServiceAccountSpec struct {
	// Annotations of the ServiceAccount; none means the namespace's default account.
	Annotations map[string]string `json:"annotations"`
}

// Enabled reports whether the workload gets its own ServiceAccount.
func (s ServiceAccountSpec) Enabled() bool { return len(s.Annotations) > 0 }

// ServiceType is the type of the frontends' Service.
type ServiceType string

// Service types.
const (
	ServiceClusterIP    ServiceType = "ClusterIP"
	ServiceNodePort     ServiceType = "NodePort"
	ServiceLoadBalancer ServiceType = "LoadBalancer"
)

// FrontendSpec is GreptimeDB's frontends, the client entry point.
type FrontendSpec struct {
	Replicas    int            `json:"replicas"`
	Resources   kube.Resources `json:"resources"`
	ServiceType ServiceType    `json:"serviceType"`
	// LoadBalancer says whether `pulumi up` waits for a LoadBalancer Service's address.
	LoadBalancer LoadBalancerSpec `json:"loadBalancer"`
	Auth         AuthSpec         `json:"auth"`
	// TLS secures the MySQL, PostgreSQL and gRPC servers.
	TLS FrontendTLSSpec `json:"tls"`
}

// LoadBalancerSpec says how `pulumi up` treats a LoadBalancer frontend Service.
type LoadBalancerSpec struct {
	// WaitForAddress makes the deploy wait until the cluster's load-balancer
	// controller gives the Service an address, and fail after TimeoutSeconds.
	// When false the Service is reported created at once (pulumi.com/skipAwait),
	// as clusters without a load-balancer controller (kind, bare metal) never
	// give it one; the frontends' readiness is awaited through their Deployment.
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
	// UsersSecretRef names an existing Secret key holding the user file
	// ("user=password" lines) instead: no password is generated, and the
	// frontends watch the mounted file, so edits to the Secret apply without a
	// restart (watch_file_user_provider, v1.1.4 src/auth/src/common.rs).
	UsersSecretRef kube.SecretRef `json:"usersSecretRef"`
}

// Validate reports every problem of the cluster's spec, each at its key under p.
func (s ClusterSpec) Validate(p *field.Path) field.ErrorList {
	errs := kube.ValidateImage(s.Image, p.Child("image"))
	errs = append(errs, kube.ValidateImage(s.WaitImage, p.Child("waitImage"))...)
	errs = append(errs, s.AntiAffinity.Validate(p.Child("antiAffinity"))...)
	errs = append(errs, s.Etcd.Validate(p.Child("etcd"))...)
	errs = append(errs, s.Meta.Validate(p.Child("meta"))...)
	errs = append(errs, s.validateWAL(p)...)
	errs = append(errs, s.Datanode.Validate(p.Child("datanode"))...)
	errs = append(errs, s.Frontend.Validate(p.Child("frontend"))...)
	errs = append(errs, s.Logging.Validate(p.Child("logging"))...)
	errs = append(errs, s.NetworkPolicy.Validate(p.Child("networkPolicy"))...)
	return append(errs, s.validateBackup(p)...)
}

// Validate checks every component's shared configuration.
func (s Shared) Validate(p *field.Path) field.ErrorList {
	errs := kube.ValidateImage(s.Image, p.Child("image"))
	errs = append(errs, kube.ValidateImage(s.WaitImage, p.Child("waitImage"))...)
	errs = append(errs, s.AntiAffinity.Validate(p.Child("antiAffinity"))...)
	errs = append(errs, s.WAL.Validate(p.Child("wal"))...)
	return append(errs, s.Logging.Validate(p.Child("logging"))...)
}

// Validate checks the log level and format.
func (l Logging) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !slices.Contains(LogLevels, l.Level) {
		errs = append(errs, field.Invalid(p.Child("level"), l.Level, "allowed: "+strings.Join(LogLevels, ", ")))
	}
	if !slices.Contains(LogFormats, l.Format) {
		errs = append(errs, field.Invalid(p.Child("format"), l.Format, "allowed: "+strings.Join(LogFormats, ", ")))
	}
	return errs
}

// Validate checks the WAL provider and, for Kafka, its brokers.
func (w WAL) Validate(p *field.Path) field.ErrorList {
	switch w.Provider {
	case WALRaftEngine:
		return nil
	case WALKafka:
	default:
		return field.ErrorList{field.Invalid(p.Child("provider"), string(w.Provider),
			fmt.Sprintf("allowed: %s (on each datanode's volume), %s (remote)", WALRaftEngine, WALKafka))}
	}
	var errs field.ErrorList
	if len(w.BrokerEndpoints) == 0 {
		errs = append(errs, field.Invalid(p.Child("brokerEndpoints"), nil, fmt.Sprintf("required with the kafka WAL: "+
			"`pulumi config set --path '%s' kafka-0.kafka:9092`", p.Child("brokerEndpoints").Index(0))))
	}
	for i, ep := range w.BrokerEndpoints {
		errs = append(errs, kube.ValidateHostPort(ep, "kafka-0.kafka.example.svc:9092", p.Child("brokerEndpoints").Index(i))...)
	}
	return errs
}

// validateWAL checks the write-ahead log and what depends on it: metasrv's region
// failover replays a failed datanode's regions elsewhere, so it needs a WAL that
// outlives the datanode (kafka) and data that every datanode can read (object
// storage). GreptimeDB v1.1.4's metasrv refuses to start otherwise
// (src/meta-srv/src/metasrv/builder.rs; config/metasrv.example.toml).
func (s ClusterSpec) validateWAL(p *field.Path) field.ErrorList {
	errs := s.WAL.Validate(p.Child("wal"))
	if len(errs) > 0 && s.WAL.Provider != WALKafka && s.WAL.Provider != WALRaftEngine {
		return errs
	}
	if !s.Meta.EnableRegionFailover {
		return errs
	}
	failover := p.Child("meta", "enableRegionFailover")
	if s.WAL.Provider != WALKafka {
		errs = append(errs, field.Invalid(failover, true, fmt.Sprintf("region failover needs a remote WAL, or metasrv refuses to start; "+
			"set %s to %s (with %s), or enableRegionFailover to false",
			p.Child("wal", "provider"), WALKafka, p.Child("wal", "brokerEndpoints"))))
	} else if s.Datanode.ObjectStorage.Type == StorageFile {
		errs = append(errs, field.Invalid(failover, true, fmt.Sprintf("region failover needs shared storage that every datanode reads; "+
			"set %s to %s, or enableRegionFailover to false", p.Child("datanode", "objectStorage", "type"), StorageS3)))
	}
	return errs
}

// Validate checks the deployed etcd's spec, or the external endpoints.
func (e EtcdSpec) Validate(p *field.Path) field.ErrorList {
	if e.Deployed() {
		return e.Spec.Validate(p)
	}
	var errs field.ErrorList
	for i, ep := range e.Endpoints {
		errs = append(errs, kube.ValidateHostPort(ep, "etcd.example.svc:2379", p.Child("endpoints").Index(i))...)
	}
	if e.TLS.Enabled {
		errs = append(errs, field.Invalid(p.Child("tls", "enabled"), true, fmt.Sprintf(
			"TLS applies to the etcd the cluster deploys, not to %s; set enabled to false", p.Child("endpoints"))))
	}
	return errs
}

// Validate checks meta's size.
func (m MetaSpec) Validate(p *field.Path) field.ErrorList {
	errs := kube.ValidateReplicas(m.Replicas, p.Child("replicas"))
	return append(errs, m.Resources.Validate(p.Child("resources"))...)
}

// Validate checks the datanodes' size, volume and object storage.
func (d DatanodeSpec) Validate(p *field.Path) field.ErrorList {
	errs := kube.ValidateReplicas(d.Replicas, p.Child("replicas"))
	errs = append(errs, d.Resources.Validate(p.Child("resources"))...)
	errs = append(errs, d.Storage.Validate(p.Child("storage"))...)
	if d.RolloutTimeoutSeconds < 1 || d.RolloutTimeoutSeconds > 86400 {
		errs = append(errs, field.Invalid(p.Child("rolloutTimeoutSeconds"), d.RolloutTimeoutSeconds, "must be between 1 and 86400 seconds"))
	}
	errs = append(errs, apivalidation.ValidateAnnotations(d.ServiceAccount.Annotations, p.Child("serviceAccount", "annotations"))...)
	return append(errs, d.ObjectStorage.validate(p.Child("objectStorage"), d.ServiceAccount)...)
}

// Validate checks the frontends' size, Service and authentication.
func (f FrontendSpec) Validate(p *field.Path) field.ErrorList {
	errs := kube.ValidateReplicas(f.Replicas, p.Child("replicas"))
	errs = append(errs, f.Resources.Validate(p.Child("resources"))...)
	switch f.ServiceType {
	case ServiceClusterIP, ServiceNodePort, ServiceLoadBalancer:
	default:
		errs = append(errs, field.Invalid(p.Child("serviceType"), string(f.ServiceType), fmt.Sprintf("allowed: %s, %s, %s",
			ServiceClusterIP, ServiceNodePort, ServiceLoadBalancer)))
	}
	lb := f.LoadBalancer
	if lb.TimeoutSeconds < 1 || lb.TimeoutSeconds > 3600 {
		errs = append(errs, field.Invalid(p.Child("loadBalancer", "timeoutSeconds"), lb.TimeoutSeconds, "must be between 1 and 3600 seconds"))
	}
	if lb.WaitForAddress && f.ServiceType != ServiceLoadBalancer {
		errs = append(errs, field.Invalid(p.Child("loadBalancer", "waitForAddress"), lb.WaitForAddress, fmt.Sprintf(
			"only a LoadBalancer Service gets an address; set %s to %s or waitForAddress to false",
			p.Child("serviceType"), ServiceLoadBalancer)))
	}
	errs = append(errs, f.TLS.Validate(p.Child("tls"))...)
	errs = append(errs, f.Auth.UsersSecretRef.Validate(p.Child("auth", "usersSecretRef"))...)
	if f.Auth.UsersSecretRef.IsSet() && !f.Auth.Enabled {
		errs = append(errs, field.Invalid(p.Child("auth", "usersSecretRef"), nil, fmt.Sprintf(
			"authentication is off; set %s to true, or unset usersSecretRef", p.Child("auth", "enabled"))))
	}
	if f.Auth.Enabled && !f.Auth.UsersSecretRef.IsSet() && !ValidUsername(f.Auth.Username) {
		errs = append(errs, field.Invalid(p.Child("auth", "username"), f.Auth.Username,
			"required when auth is enabled; letters, digits, '-' and '_' only (no '=', ':' or spaces)"))
	}
	return errs
}

// ValidUsername reports whether u can own a line of the static user provider's file
// ("user=password"): letters, digits, '-' and '_', at least one.
func ValidUsername(u string) bool {
	if u == "" {
		return false
	}
	for _, r := range u {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
