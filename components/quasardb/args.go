// Package quasardb deploys a QuasarDB cluster onto Kubernetes as the
// tsdb:quasardb:Cluster component: an ordered StatefulSet bound to a headless
// Service, a client Service, and the license and security keys as Secrets.
package quasardb

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation"

	"tsdb-platform/components/kube"
)

// DefaultImage is the pinned QuasarDB server image used when ClusterArgs.Image is empty.
const DefaultImage = "bureau14/qdb:3.14.1"

// CommunityMaxNodes is the largest cluster the unlicensed community edition runs.
const CommunityMaxNodes = 2

// ClusterArgs describe one QuasarDB cluster.
type ClusterArgs struct {
	// Namespace the cluster's objects live in: an output of the Namespace resource
	// when the stack owns it, so every object depends on it.
	Namespace pulumi.StringInput
	// ClusterDomain is the Kubernetes cluster's DNS domain ("cluster.local").
	ClusterDomain string
	// Image is the server image with a pinned tag; empty means DefaultImage.
	Image string
	// Replicas is the node count. K8S_REPLICA_COUNT is always derived from it.
	Replicas int
	// Resources are the container's requests and limits. A memory limit is required:
	// QuasarDB's memory limiter is set below it.
	Resources kube.Resources
	// Storage is each node's data volume.
	Storage kube.Storage
	// AntiAffinity is none, preferred or required.
	AntiAffinity string
	// Replication is QuasarDB's replication factor, 1 to Replicas.
	Replication int
	// License is the license key, a secret. Nil runs the community edition
	// (at most CommunityMaxNodes nodes).
	License pulumi.StringInput
	// Security, when set, turns on QuasarDB's encrypted, authenticated cluster mode.
	Security *Security
	// Probes are the TCP probes' timings; zero fields take the defaults.
	Probes Probes
	// DataSafety is applied to the StatefulSet, which owns the data volumes.
	DataSafety kube.DataSafety
	// Isolation creates a NetworkPolicy for the cluster's pods when enabled.
	Isolation kube.Isolation
}

// Security holds the keys of QuasarDB's secured cluster mode.
type Security struct {
	// ClusterPrivateKey is the cluster's private key file contents, a secret.
	ClusterPrivateKey pulumi.StringInput
	// UserList is the user list file contents (JSON), a secret.
	UserList pulumi.StringInput
	// ClusterPublicKey is handed to clients; it is not a secret and is exported.
	ClusterPublicKey string
}

// Probes are the readiness and liveness probe timings.
type Probes struct {
	Readiness ProbeTiming
	Liveness  ProbeTiming
}

// ProbeTiming is one probe's timing, in seconds and attempts.
type ProbeTiming struct {
	InitialDelaySeconds int
	PeriodSeconds       int
	TimeoutSeconds      int
	FailureThreshold    int
}

// Default probe timings: the published QuasarDB-on-Kubernetes guide's values, plus
// the Kubernetes defaults for the fields it leaves out.
var (
	defaultReadiness = ProbeTiming{InitialDelaySeconds: 5, PeriodSeconds: 10, TimeoutSeconds: 1, FailureThreshold: 3}
	defaultLiveness  = ProbeTiming{InitialDelaySeconds: 15, PeriodSeconds: 20, TimeoutSeconds: 1, FailureThreshold: 3}
)

// withDefaults fills zero fields from def.
func (p ProbeTiming) withDefaults(def ProbeTiming) ProbeTiming {
	if p.InitialDelaySeconds == 0 {
		p.InitialDelaySeconds = def.InitialDelaySeconds
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = def.PeriodSeconds
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = def.TimeoutSeconds
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = def.FailureThreshold
	}
	return p
}

// image returns the configured image or the default.
func (a *ClusterArgs) image() string {
	if a.Image == "" {
		return DefaultImage
	}
	return a.Image
}

// licensed reports whether the cluster runs with a license key.
func (a *ClusterArgs) licensed() bool { return a.License != nil }

// validate checks what the component needs to build a working cluster. The stack
// validates the user's configuration first with friendlier, per-key messages; this
// guards the component's own invariants for any caller.
func (a *ClusterArgs) validate(name string) error {
	var errs []error
	if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("name: not a DNS-1123 label: %s", strings.Join(msgs, "; ")))
	}
	if a.Namespace == nil {
		errs = append(errs, errors.New("namespace is required"))
	}
	if a.ClusterDomain == "" {
		errs = append(errs, errors.New("cluster domain is required"))
	}
	if a.Replicas < 1 {
		errs = append(errs, fmt.Errorf("replicas must be at least 1, got %d", a.Replicas))
	}
	if !a.licensed() && a.Replicas > CommunityMaxNodes {
		errs = append(errs, fmt.Errorf("replicas %d needs a license: without one QuasarDB runs as the community edition, limited to %d nodes",
			a.Replicas, CommunityMaxNodes))
	}
	if a.Replication < 1 || a.Replication > a.Replicas {
		errs = append(errs, fmt.Errorf("replication factor %d must be between 1 and the replica count (%d)", a.Replication, a.Replicas))
	}
	if _, err := MemoryLimiterFor(a.Resources.Limits.Memory); err != nil {
		errs = append(errs, fmt.Errorf("resources.limits.memory: %w", err))
	}
	if a.Storage.Size == "" {
		errs = append(errs, errors.New("storage size is required"))
	}
	if s := a.Security; s != nil {
		if s.ClusterPrivateKey == nil || s.UserList == nil {
			errs = append(errs, errors.New("security needs both the cluster private key and the user list"))
		}
		if s.ClusterPublicKey == "" {
			errs = append(errs, errors.New("security needs the cluster public key, which clients use to connect"))
		}
	}
	return errors.Join(errs...)
}
