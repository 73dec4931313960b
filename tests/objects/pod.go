package objects

import (
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"tsdb-platform/internal/mockrun"
)

// PodTemplate is the pod template of a workload (StatefulSet, Deployment or Job).
func PodTemplate(t testing.TB, r *mockrun.Resource) corev1.PodTemplateSpec {
	t.Helper()
	switch r.Type {
	case StatefulSetType:
		return Decode[appsv1.StatefulSet](t, r).Spec.Template
	case DeploymentType:
		return Decode[appsv1.Deployment](t, r).Spec.Template
	case JobType:
		return Decode[batchv1.Job](t, r).Spec.Template
	}
	require.Failf(t, "not a workload", "%s %s has no pod template", r.Type, r.Name)
	return corev1.PodTemplateSpec{}
}

// Container requires the container of a name in a pod spec.
func Container(t testing.TB, pod corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	return named(t, pod.Containers, name, "container")
}

// InitContainer requires the init container of a name in a pod spec.
func InitContainer(t testing.TB, pod corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	return named(t, pod.InitContainers, name, "init container")
}

// OnlyContainer requires a pod spec to have exactly one container and returns it.
func OnlyContainer(t testing.TB, pod corev1.PodSpec) corev1.Container {
	t.Helper()
	require.Len(t, pod.Containers, 1, "containers")
	return pod.Containers[0]
}

func named(t testing.TB, cs []corev1.Container, name, what string) corev1.Container {
	t.Helper()
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	require.Failf(t, "no "+what, "no %s %q among %v", what, name, names)
	return corev1.Container{}
}

// Volume requires the volume of a name in a pod spec.
func Volume(t testing.TB, pod corev1.PodSpec, name string) corev1.Volume {
	t.Helper()
	v, ok := Volumes(t, pod)[name]
	require.True(t, ok, "no volume %q", name)
	return v
}

// Volumes indexes a pod spec's volumes by name, requiring each name once.
func Volumes(t testing.TB, pod corev1.PodSpec) map[string]corev1.Volume {
	t.Helper()
	out := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		require.NotContains(t, out, v.Name, "volume %s listed twice", v.Name)
		out[v.Name] = v
	}
	return out
}

// Env indexes a container's environment by variable name, requiring each name once.
func Env(t testing.TB, c corev1.Container) map[string]corev1.EnvVar {
	t.Helper()
	out := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		require.NotContains(t, out, e.Name, "env %s set twice in %s", e.Name, c.Name)
		out[e.Name] = e
	}
	return out
}

// MountPaths maps a container's mounted volume names to their mount paths.
func MountPaths(c corev1.Container) map[string]string {
	out := map[string]string{}
	for _, m := range c.VolumeMounts {
		out[m.Name] = m.MountPath
	}
	return out
}

// MountsByPath indexes a container's volume mounts by mount path.
func MountsByPath(c corev1.Container) map[string]corev1.VolumeMount {
	out := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		out[m.MountPath] = m
	}
	return out
}

// ContainerPorts maps a container's port names to numbers.
func ContainerPorts(c corev1.Container) map[string]int32 {
	out := map[string]int32{}
	for _, p := range c.Ports {
		out[p.Name] = p.ContainerPort
	}
	return out
}

// ServicePorts maps a Service's port names to numbers.
func ServicePorts(svc corev1.Service) map[string]int32 {
	out := map[string]int32{}
	for _, p := range svc.Spec.Ports {
		out[p.Name] = p.Port
	}
	return out
}

// Quantities renders a resource list as written in config ("cpu": "100m"), or nil.
func Quantities(l corev1.ResourceList) map[string]string {
	if l == nil {
		return nil
	}
	out := make(map[string]string, len(l))
	for name, q := range l {
		out[string(name)] = q.String()
	}
	return out
}

// Probes are a container's startup, readiness and liveness probes by field name
// ("startupProbe"); a probe the container lacks is nil.
func Probes(c corev1.Container) map[string]*corev1.Probe {
	return map[string]*corev1.Probe{
		"startupProbe":   c.StartupProbe,
		"readinessProbe": c.ReadinessProbe,
		"livenessProbe":  c.LivenessProbe,
	}
}

// Ptr is a pointer to v, for comparing optional fields.
func Ptr[T any](v T) *T { return &v }

// WorkloadSpec is what StatefulSets and Deployments have in common.
type WorkloadSpec struct {
	metav1.ObjectMeta
	Replicas *int32
	Selector *metav1.LabelSelector
	Template corev1.PodTemplateSpec
}

// Workload decodes a StatefulSet or a Deployment into what they have in common.
func Workload(t testing.TB, r *mockrun.Resource) WorkloadSpec {
	t.Helper()
	switch r.Type {
	case StatefulSetType:
		s := Decode[appsv1.StatefulSet](t, r)
		return WorkloadSpec{ObjectMeta: s.ObjectMeta, Replicas: s.Spec.Replicas, Selector: s.Spec.Selector, Template: s.Spec.Template}
	case DeploymentType:
		d := Decode[appsv1.Deployment](t, r)
		return WorkloadSpec{ObjectMeta: d.ObjectMeta, Replicas: d.Spec.Replicas, Selector: d.Spec.Selector, Template: d.Spec.Template}
	}
	require.Failf(t, "not a workload", "%s %s is neither a StatefulSet nor a Deployment", r.Type, r.Name)
	return WorkloadSpec{}
}

// FieldPath requires an env var to come from a field of the pod and returns the field.
func FieldPath(t testing.TB, e corev1.EnvVar) string {
	t.Helper()
	require.NotNil(t, e.ValueFrom, "env %s has no valueFrom", e.Name)
	require.NotNil(t, e.ValueFrom.FieldRef, "env %s is not from a field", e.Name)
	return e.ValueFrom.FieldRef.FieldPath
}

// SecretKeyRef requires an env var to come from a Secret's key and returns the reference.
func SecretKeyRef(t testing.TB, e corev1.EnvVar) corev1.SecretKeySelector {
	t.Helper()
	require.NotNil(t, e.ValueFrom, "env %s has no valueFrom", e.Name)
	require.NotNil(t, e.ValueFrom.SecretKeyRef, "env %s is not from a Secret", e.Name)
	return *e.ValueFrom.SecretKeyRef
}

// RetainClaims is the claim retention policy that keeps a StatefulSet's volumes
// when it is deleted or scaled down.
func RetainClaims() *appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy {
	return &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
	}
}
