// Package quasardb deploys a QuasarDB cluster onto Kubernetes as the
// tsdb:quasardb:Cluster component: an ordered StatefulSet bound to a headless
// Service, a client Service, and the license and security keys as Secrets.
package quasardb

import (
	"fmt"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/kube"
)

// communityMaxNodes is the largest cluster the unlicensed community edition runs.
const communityMaxNodes = 2

// ClusterSpec is one QuasarDB cluster's configuration: plain data with the JSON
// names of the stack config keys. The environment profiles supply every default;
// the component has none. Validate is the one place each rule lives.
type ClusterSpec struct {
	// Image is the server image with a pinned tag.
	Image string `json:"image"`
	// Replicas is the node count. K8S_REPLICA_COUNT is always derived from it.
	Replicas int `json:"replicas"`
	// Resources are the container's requests and limits. A memory limit is required:
	// QuasarDB's memory limiter is set below it.
	Resources kube.Resources `json:"resources"`
	// Storage is each node's data volume.
	Storage kube.Storage `json:"storage"`
	// AntiAffinity spreads the pods over nodes.
	AntiAffinity kube.AntiAffinityMode `json:"antiAffinity"`
	// Scheduling places the pods, over the stack's scheduling.
	Scheduling kube.Scheduling `json:"scheduling"`
	// Replication is QuasarDB's replication factor, 1 to Replicas.
	Replication int `json:"replication"`
	// License is the license key, a secret. Empty runs the community edition
	// (at most 2 nodes).
	License string `json:"license" secret:"true"`
	// RequireLicense rejects a cluster without a license (the prod profile sets it).
	RequireLicense bool `json:"requireLicense"`
	// Security turns on QuasarDB's encrypted, authenticated cluster mode.
	Security SecuritySpec `json:"security"`
	// Probes are the TCP readiness and liveness probe timings on the client port.
	Probes Probes `json:"probes"`
	// Exporter runs the Prometheus exporter beside each node when enabled.
	Exporter ExporterSpec `json:"exporter"`
	// SecretRefs name existing Secrets that hold the license, the security keys
	// or the tiered storage's keys instead of config ("license",
	// "clusterPrivateKey", "userList", "accessKeyId", "secretAccessKey": {name, key}).
	SecretRefs map[string]kube.SecretRef `json:"secretRefs"`
	// NetworkPolicy is who may reach the client port under isolation.
	NetworkPolicy kube.ClientAccess `json:"networkPolicy"`
	// LogLevel is qdbd's log verbosity.
	LogLevel LogLevel `json:"logLevel"`
	// Tuning are the daemon's threads, sessions and RocksDB memory budget.
	Tuning Tuning `json:"tuning"`
	// TieredStorage keeps the nodes' RocksDB files in an S3 bucket.
	TieredStorage TieredStorage `json:"tieredStorage"`
	// ServiceAccount, when it has annotations, gives the nodes their own
	// ServiceAccount: workload identity (EKS IRSA's eks.amazonaws.com/role-arn)
	// then supplies the tiered storage's credentials.
	ServiceAccount kube.ServiceAccountSpec `json:"serviceAccount"`
}

// Keys of the secrets that may be referenced in SecretRefs.
const (
	refLicense           = "license"
	refClusterPrivateKey = "clusterPrivateKey"
	refUserList          = "userList"
)

// SecuritySpec is QuasarDB's encrypted, authenticated cluster mode.
type SecuritySpec struct {
	Enabled bool `json:"enabled"`
	// ClusterPrivateKey (the private key file's contents) and UserList (the user
	// list file, JSON) are secrets.
	ClusterPrivateKey string `json:"clusterPrivateKey" secret:"true"`
	UserList          string `json:"userList" secret:"true"`
	// ClusterPublicKey is handed to clients; it is not a secret and is exported.
	ClusterPublicKey string `json:"clusterPublicKey"`
}

// Probes are the readiness and liveness probe timings.
type Probes struct {
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

// licensed reports whether the cluster runs with a license key.
func (s ClusterSpec) licensed() bool { return s.License != "" || s.SecretRefs[refLicense].IsSet() }

// Validate reports every problem of the spec, each at its key under p.
func (s ClusterSpec) Validate(p *field.Path) field.ErrorList {
	errs := kube.ValidateImage(s.Image, p.Child("image"))
	errs = append(errs, s.AntiAffinity.Validate(p.Child("antiAffinity"))...)
	errs = append(errs, s.Scheduling.Validate(p.Child("scheduling"))...)
	errs = append(errs, kube.ValidateReplicas(s.Replicas, p.Child("replicas"))...)
	errs = append(errs, s.Resources.Validate(p.Child("resources"))...)
	memoryLimit := p.Child("resources", "limits", "memory")
	limiter, err := MemoryLimiterFor(string(s.Resources.Limits.Memory))
	if s.Resources.Limits.Memory == "" {
		errs = append(errs, field.Invalid(memoryLimit, nil,
			"required: QuasarDB's memory limiter is set below the container's memory limit"))
	} else if err != nil {
		errs = append(errs, field.Invalid(memoryLimit, s.Resources.Limits.Memory, err.Error()))
	}
	errs = append(errs, s.LogLevel.Validate(p.Child("logLevel"))...)
	errs = append(errs, s.Tuning.validate(p.Child("tuning"), limiter, err == nil, memoryLimit)...)
	errs = append(errs, s.ServiceAccount.Validate(p.Child("serviceAccount"))...)
	errs = append(errs, s.TieredStorage.validate(p.Child("tieredStorage"), s.SecretRefs, p.Child("secretRefs"),
		s.ServiceAccount, p.Child("serviceAccount"))...)
	errs = append(errs, s.Storage.Validate(p.Child("storage"))...)
	errs = append(errs, s.NetworkPolicy.Validate(p.Child("networkPolicy"))...)
	errs = append(errs, s.validateSecretRefs(p)...)
	errs = append(errs, kube.ValidateSecretInput(s.License, s.SecretRefs[refLicense], s.RequireLicense,
		p.Child("license"), p.Child("secretRefs", refLicense), fmt.Sprintf("required by this profile: set it as a secret with "+
			"`pulumi config set --secret --path '%s' <key>` or give licenseFile", p.Child("license")))...)
	if !s.RequireLicense && !s.licensed() && s.Replicas > communityMaxNodes {
		errs = append(errs, field.Invalid(p.Child("replicas"), s.Replicas, fmt.Sprintf(
			"without a license QuasarDB runs as the community edition, limited to %d nodes; "+
				"set %s (secret) or %s, or use at most %d replicas",
			communityMaxNodes, p.Child("license"), p.Child("licenseFile"), communityMaxNodes)))
	}
	if s.Replication < 1 || (s.Replicas >= 1 && s.Replication > s.Replicas) {
		errs = append(errs, field.Invalid(p.Child("replication"), s.Replication, fmt.Sprintf(
			"replication factor must be between 1 and the replica count (%d)", s.Replicas)))
	}
	errs = append(errs, s.Security.validate(p.Child("security"), s.SecretRefs, p.Child("secretRefs"))...)
	errs = append(errs, s.Exporter.validate(p.Child("exporter"), s.Security.Enabled)...)
	errs = append(errs, s.Probes.Readiness.validate(p.Child("probes", "readiness"))...)
	return append(errs, s.Probes.Liveness.validate(p.Child("probes", "liveness"))...)
}

// validateSecretRefs rejects references to secrets the cluster does not have.
func (s ClusterSpec) validateSecretRefs(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(s.SecretRefs)) {
		switch k {
		case refLicense, refClusterPrivateKey, refUserList, refAccessKeyID, refSecretAccessKey:
		default:
			errs = append(errs, field.Invalid(p.Child("secretRefs", k), nil, fmt.Sprintf(
				"no such secret; allowed: %s, %s, %s, %s, %s", refLicense, refClusterPrivateKey, refUserList, refAccessKeyID, refSecretAccessKey)))
		}
	}
	return errs
}

// validate requires the keys when security is on, by value or by reference.
func (s SecuritySpec) validate(p *field.Path, refs map[string]kube.SecretRef, refsPath *field.Path) field.ErrorList {
	if !s.Enabled {
		return nil
	}
	errs := kube.ValidateSecretInput(s.ClusterPrivateKey, refs[refClusterPrivateKey], true, p.Child("clusterPrivateKey"),
		refsPath.Child(refClusterPrivateKey), fmt.Sprintf("required when security is enabled; set it as a secret: "+
			"`pulumi config set --secret --path '%s' \"$(cat cluster_private.key)\"`", p.Child("clusterPrivateKey")))
	errs = append(errs, kube.ValidateSecretInput(s.UserList, refs[refUserList], true, p.Child("userList"),
		refsPath.Child(refUserList), fmt.Sprintf("required when security is enabled; set it as a secret: "+
			"`pulumi config set --secret --path '%s' \"$(cat users.cfg)\"`", p.Child("userList")))...)
	if s.ClusterPublicKey == "" {
		errs = append(errs, field.Required(p.Child("clusterPublicKey"), fmt.Sprintf("required when security is enabled: clients need it to connect; "+
			"set it with `pulumi config set --path '%s' \"$(cat cluster_public.key)\"`", p.Child("clusterPublicKey"))))
	}
	return errs
}

// validate checks one probe's timing.
func (t ProbeTiming) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.InitialDelaySeconds < 0 {
		errs = append(errs, field.Invalid(p.Child("initialDelaySeconds"), t.InitialDelaySeconds, "must be 0 or more"))
	}
	positive := []struct {
		name  string
		value int
	}{{"periodSeconds", t.PeriodSeconds}, {"timeoutSeconds", t.TimeoutSeconds}, {"failureThreshold", t.FailureThreshold}}
	for _, f := range positive {
		if f.value < 1 {
			errs = append(errs, field.Invalid(p.Child(f.name), f.value, "must be 1 or more"))
		}
	}
	return errs
}

// ClusterArgs describe one QuasarDB cluster: its spec, and where it deploys.
type ClusterArgs struct {
	Spec ClusterSpec
	kube.Env
}

// Validate reports every problem of the arguments for a cluster named name.
func (a *ClusterArgs) Validate(name string) field.ErrorList {
	if a == nil {
		return field.ErrorList{field.Required(nil, "args are required")}
	}
	return a.Env.ValidateComponent(name, a.Spec.Validate(nil))
}
