// Package kube holds the Kubernetes building blocks every tsdb-platform component
// shares: recommended labels, the Pod Security "restricted" security contexts,
// resource requirements, anti-affinity, PodDisruptionBudgets, data-safety options
// and config checksums. One place, so every component has the same production shape.
package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Label values shared by every object the program creates.
const (
	PartOf    = "tsdb-platform"
	ManagedBy = "pulumi"
)

// Recommended label keys (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/).
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelVersion   = "app.kubernetes.io/version"
)

// ChecksumAnnotation is the pod-template annotation whose change rolls the pods
// when a component's rendered config (or secret) changes.
const ChecksumAnnotation = "checksum/config"

// Annotations the Pulumi Kubernetes provider reads to decide how long it waits for an
// object to become ready before it reports it created or updated.
const (
	// AnnotationSkipAwait ("true") reports the object created without waiting.
	AnnotationSkipAwait = "pulumi.com/skipAwait"
	// AnnotationTimeoutSeconds bounds the wait, in seconds.
	AnnotationTimeoutSeconds = "pulumi.com/timeoutSeconds"
)

// Identity names one component of one cluster: app.kubernetes.io/name is the
// application (greptimedb, etcd, quasardb), instance the cluster, component the part.
type Identity struct {
	App       string
	Instance  string
	Component string
}

// Selector returns the labels that select the component's pods. They never change
// over the life of a workload (a selector is immutable).
func (id Identity) Selector() pulumi.StringMap {
	return pulumi.ToStringMap(id.SelectorLabels())
}

// SelectorLabels are the Selector as plain data.
func (id Identity) SelectorLabels() map[string]string {
	return map[string]string{LabelName: id.App, LabelInstance: id.Instance, LabelComponent: id.Component}
}

// Peer is the component's pods as one side of a network flow.
func (id Identity) Peer() Peer { return PodsPeer(id.SelectorLabels()) }

// Labels returns the recommended labels for the component's objects and pods.
func (id Identity) Labels() pulumi.StringMap {
	l := id.Selector()
	l[LabelPartOf] = pulumi.String(PartOf)
	l[LabelManagedBy] = pulumi.String(ManagedBy)
	return l
}

// OwnLabel reports whether key is one of the labels Labels sets, which a
// configured label must not replace.
func OwnLabel(key string) bool {
	switch key {
	case LabelName, LabelInstance, LabelComponent, LabelPartOf, LabelManagedBy:
		return true
	}
	return false
}

// LabelSelector selects the component's pods (a workload's selector).
func (id Identity) LabelSelector() *metav1.LabelSelectorArgs {
	return &metav1.LabelSelectorArgs{MatchLabels: id.Selector()}
}

// PodMeta is a pod template's metadata: the labels and the given annotations.
func (id Identity) PodMeta(annotations pulumi.StringMap) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{Labels: id.Labels(), Annotations: annotations}
}

// ObjectMeta returns metadata with an explicit name, the namespace and the labels.
func (id Identity) ObjectMeta(name string, namespace pulumi.StringInput) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: namespace, Labels: id.Labels()}
}

// AutoNamedMeta returns metadata without a name: the provider appends a random
// suffix to the logical name, so a changed ConfigMap or Secret is created anew
// before the old one is deleted, and workloads referencing it roll.
func (id Identity) AutoNamedMeta(namespace pulumi.StringInput) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{Namespace: namespace, Labels: id.Labels()}
}

// Resources are a container's CPU and memory requests and limits, as Kubernetes
// quantities ("500m", "1Gi"); an empty string leaves that amount unset.
type Resources struct {
	Requests Amounts `json:"requests"`
	Limits   Amounts `json:"limits"`
}

// Amounts is a CPU and memory pair of Kubernetes quantities.
type Amounts struct {
	CPU    Quantity `json:"cpu"`
	Memory Quantity `json:"memory"`
}

// Quantity is a Kubernetes quantity as config gives it: a string ("500m",
// "1Gi") or, as in a manifest, a bare number (`cpu: 2`, which
// `pulumi config set --path ... 2` stores as a number).
type Quantity string

// UnmarshalJSON accepts a JSON string or number.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*q = Quantity(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return &json.UnmarshalTypeError{Value: "non-quantity " + string(b), Type: reflect.TypeFor[string]()}
	}
	*q = Quantity(n.String())
	return nil
}

// Args returns the container's resource requirements.
func (r Resources) Args() corev1.ResourceRequirementsArgs {
	return corev1.ResourceRequirementsArgs{Requests: r.Requests.stringMap(), Limits: r.Limits.stringMap()}
}

func (a Amounts) stringMap() pulumi.StringMap {
	m := pulumi.StringMap{}
	if a.CPU != "" {
		m["cpu"] = pulumi.String(string(a.CPU))
	}
	if a.Memory != "" {
		m["memory"] = pulumi.String(string(a.Memory))
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// Storage is a persistent volume claim's size and storage class.
type Storage struct {
	// Size is a Kubernetes quantity ("10Gi").
	Size string `json:"size"`
	// StorageClass names the storage class; empty means the cluster's default class.
	StorageClass string `json:"storageClass"`
}

// VolumeClaimTemplate returns a ReadWriteOnce claim template named name.
func (s Storage) VolumeClaimTemplate(name string, id Identity) corev1.PersistentVolumeClaimTypeArgs {
	spec := &corev1.PersistentVolumeClaimSpecArgs{
		AccessModes: pulumi.StringArray{pulumi.String("ReadWriteOnce")},
		VolumeMode:  pulumi.String("Filesystem"),
		Resources: &corev1.VolumeResourceRequirementsArgs{
			Requests: pulumi.StringMap{"storage": pulumi.String(s.Size)},
		},
	}
	if s.StorageClass != "" {
		spec.StorageClassName = pulumi.String(s.StorageClass)
	}
	return corev1.PersistentVolumeClaimTypeArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(name), Labels: id.Labels()},
		Spec:     spec,
	}
}

// PodSecurityContext returns a pod security context that passes Pod Security
// "restricted": non-root with the image's uid/gid, volumes group-owned by gid,
// and the runtime's default seccomp profile.
func PodSecurityContext(uid int) *corev1.PodSecurityContextArgs {
	return &corev1.PodSecurityContextArgs{
		RunAsNonRoot:        pulumi.Bool(true),
		RunAsUser:           pulumi.Int(uid),
		RunAsGroup:          pulumi.Int(uid),
		FsGroup:             pulumi.Int(uid),
		FsGroupChangePolicy: pulumi.String("OnRootMismatch"),
		SeccompProfile:      &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

// ContainerSecurityContext returns a container security context that passes Pod
// Security "restricted": no privilege escalation, every capability dropped, and a
// read-only root filesystem (writable paths come from volumes).
func ContainerSecurityContext() *corev1.SecurityContextArgs {
	return &corev1.SecurityContextArgs{
		AllowPrivilegeEscalation: pulumi.Bool(false),
		ReadOnlyRootFilesystem:   pulumi.Bool(true),
		RunAsNonRoot:             pulumi.Bool(true),
		Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
		SeccompProfile:           &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

// AntiAffinityMode says how a component's pods spread over nodes.
type AntiAffinityMode string

// Anti-affinity modes.
const (
	AntiAffinityNone      AntiAffinityMode = "none"
	AntiAffinityPreferred AntiAffinityMode = "preferred"
	AntiAffinityRequired  AntiAffinityMode = "required"
)

// HostnameTopologyKey spreads pods over nodes.
const HostnameTopologyKey = "kubernetes.io/hostname"

// NewPodDisruptionBudget keeps a component with more than one replica available
// through voluntary disruptions (node drains, upgrades): at most one of its pods
// may be evicted at a time, which also keeps an odd etcd cluster's quorum. A
// single-replica component gets none (nil, nil): a budget that allows no eviction
// would block every node drain.
func NewPodDisruptionBudget(ctx *pulumi.Context, name string, id Identity, namespace pulumi.StringInput,
	replicas int, opts ...pulumi.ResourceOption,
) (*policyv1.PodDisruptionBudget, error) {
	if replicas <= 1 {
		return nil, nil
	}
	pdb, err := policyv1.NewPodDisruptionBudget(ctx, name, &policyv1.PodDisruptionBudgetArgs{
		Metadata: id.ObjectMeta(name, namespace),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable: pulumi.Int(1),
			Selector:       &metav1.LabelSelectorArgs{MatchLabels: id.Selector()},
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("pod disruption budget %q: %w", name, err)
	}
	return pdb, nil
}

// Checksum is the hex SHA-256 of the given parts, for pod-template annotations.
func Checksum(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		// Length-prefix each part so ("ab","c") and ("a","bc") differ.
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ChecksumOutput hashes outputs inside ApplyT, so a checksum of secret data stays
// secret and a checksum of unknown data (in preview) stays unknown.
func ChecksumOutput(parts ...pulumi.StringInput) pulumi.StringOutput {
	ins := make([]any, len(parts))
	for i, p := range parts {
		ins[i] = p
	}
	return pulumi.All(ins...).ApplyT(func(vs []any) string {
		ss := make([]string, len(vs))
		for i, v := range vs {
			ss[i], _ = v.(string)
		}
		return Checksum(ss...)
	}).(pulumi.StringOutput)
}

// EnvFromField returns an environment variable read from the pod's own fields
// through the downward API ("status.podIP", "metadata.name", "metadata.namespace").
func EnvFromField(name, fieldPath string) corev1.EnvVarArgs {
	return corev1.EnvVarArgs{
		Name: pulumi.String(name),
		ValueFrom: &corev1.EnvVarSourceArgs{
			FieldRef: &corev1.ObjectFieldSelectorArgs{FieldPath: pulumi.String(fieldPath)},
		},
	}
}

// EnvFromSecret returns an environment variable read from a key of a Secret.
func EnvFromSecret(name string, secretName pulumi.StringInput, key string) corev1.EnvVarArgs {
	return corev1.EnvVarArgs{
		Name: pulumi.String(name),
		ValueFrom: &corev1.EnvVarSourceArgs{
			SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: secretName, Key: pulumi.String(key)},
		},
	}
}

// EmptyDir returns a memory-backed or disk-backed scratch volume.
func EmptyDir(name, sizeLimit string) corev1.VolumeArgs {
	ed := &corev1.EmptyDirVolumeSourceArgs{}
	if sizeLimit != "" {
		ed.SizeLimit = pulumi.String(sizeLimit)
	}
	return corev1.VolumeArgs{Name: pulumi.String(name), EmptyDir: ed}
}

// MemoryDir returns a memory-backed scratch volume, never written to the
// node's disk: for secrets a pod assembles.
func MemoryDir(name, sizeLimit string) corev1.VolumeArgs {
	v := EmptyDir(name, sizeLimit)
	v.EmptyDir.(*corev1.EmptyDirVolumeSourceArgs).Medium = pulumi.String("Memory")
	return v
}

// ServiceFQDN is a Service's in-cluster DNS name: <svc>.<ns>.svc.<domain>.
func ServiceFQDN(service string, namespace pulumi.StringInput, domain string) pulumi.StringOutput {
	return pulumi.Sprintf("%s.%s.svc.%s", service, namespace, domain)
}

// Port is a named TCP port a container listens on and a Service exposes.
type Port struct {
	Name   string
	Number int
}

// ContainerPorts are the container's ports.
func ContainerPorts(ports ...Port) corev1.ContainerPortArray {
	out := make(corev1.ContainerPortArray, len(ports))
	for i, p := range ports {
		out[i] = ContainerPort(p.Name, p.Number)
	}
	return out
}

// ServicePorts are a Service's ports, each targeting the container port of the same name.
func ServicePorts(ports ...Port) corev1.ServicePortArray {
	out := make(corev1.ServicePortArray, len(ports))
	for i, p := range ports {
		out[i] = ServicePort(p.Name, p.Number)
	}
	return out
}

// ContainerPort is a named TCP container port.
func ContainerPort(name string, port int) corev1.ContainerPortArgs {
	return corev1.ContainerPortArgs{Name: pulumi.String(name), ContainerPort: pulumi.Int(port), Protocol: pulumi.String("TCP")}
}

// ServicePort is a TCP Service port that targets the container port of the same name.
func ServicePort(name string, port int) corev1.ServicePortArgs {
	return corev1.ServicePortArgs{Name: pulumi.String(name), Port: pulumi.Int(port), TargetPort: pulumi.String(name), Protocol: pulumi.String("TCP")}
}

// Secret marks a value secret, whether or not the caller already did: a license, a key
// or a credential is a Pulumi secret from its first input on.
func Secret(in pulumi.StringInput) pulumi.StringOutput {
	return pulumi.ToSecret(in.ToStringOutput()).(pulumi.StringOutput)
}
