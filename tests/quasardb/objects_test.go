package quasardb_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"tsdb-platform/tests/objects"
)

// replicaCases are the cluster sizes the issue asks for: 1 and 2 nodes run as the
// community edition, 3 need a license.
var replicaCases = []struct {
	replicas int
	licensed bool
}{
	{1, false},
	{2, false},
	{3, true},
}

func replicaCluster(replicas int, licensed bool) cluster {
	c := cluster{"name": "ticks", "replicas": replicas, "replication": 1}
	if licensed {
		c = c.withLicense()
	}
	return c
}

// TestServices: a headless Service that names the pods and a client Service, both
// with the client and control ports, selecting exactly the cluster's pods.
func TestServices(t *testing.T) {
	wantPorts := []corev1.ServicePort{
		{Name: "client", Port: 2836, TargetPort: intstr.FromString("client"), Protocol: corev1.ProtocolTCP},
		{Name: "control", Port: 2837, TargetPort: intstr.FromString("control"), Protocol: corev1.ProtocolTCP},
	}
	for _, tc := range replicaCases {
		t.Run(fmt.Sprintf("replicas=%d", tc.replicas), func(t *testing.T) {
			res := run(t, stackConfig(t, replicaCluster(tc.replicas, tc.licensed)), false)
			comp := objects.Find(t, res, objects.QuasarDBClusterType, "ticks")

			hs := objects.Find(t, res, objects.ServiceType, "ticks-hs")
			svc := objects.Decode[corev1.Service](t, hs)
			assert.Equal(t, comp.URN, hs.Parent)
			assert.Equal(t, "ticks-hs", svc.Name)
			assert.Equal(t, testNamespace, svc.Namespace)
			assert.Equal(t, "None", svc.Spec.ClusterIP)
			assert.Equal(t, true, svc.Spec.PublishNotReadyAddresses,
				"peers resolve each other's names before they are Ready")
			assert.Equal(t, selector("ticks"), svc.Spec.Selector)
			assert.Equal(t, wantPorts, svc.Spec.Ports)

			cs := objects.Find(t, res, objects.ServiceType, "ticks-cs")
			svc = objects.Decode[corev1.Service](t, cs)
			assert.Equal(t, comp.URN, cs.Parent)
			assert.Equal(t, "ticks-cs", svc.Name)
			assert.Equal(t, corev1.ServiceTypeClusterIP, svc.Spec.Type)
			assert.Empty(t, svc.Spec.ClusterIP, "the client Service has a cluster IP")
			assert.False(t, svc.Spec.PublishNotReadyAddresses, "clients only reach Ready nodes")
			assert.Equal(t, selector("ticks"), svc.Spec.Selector)
			assert.Equal(t, wantPorts, svc.Spec.Ports)
		})
	}
}

// TestStatefulSet: the ordered StatefulSet for 1, 2 and 3 replicas, with
// K8S_REPLICA_COUNT always equal to the replica count.
func TestStatefulSet(t *testing.T) {
	for _, tc := range replicaCases {
		t.Run(fmt.Sprintf("replicas=%d", tc.replicas), func(t *testing.T) {
			res := run(t, stackConfig(t, replicaCluster(tc.replicas, tc.licensed)), false)
			ss := objects.Find(t, res, objects.StatefulSetType, "ticks")
			set := objects.Decode[appsv1.StatefulSet](t, ss)
			assert.Equal(t, objects.Find(t, res, objects.QuasarDBClusterType, "ticks").URN, ss.Parent)

			assert.Equal(t, "ticks", set.Name)
			assert.Equal(t, testNamespace, set.Namespace)
			hs := objects.Find(t, res, objects.ServiceType, "ticks-hs")
			assert.Equal(t, objects.StateMeta(t, hs).Name, set.Spec.ServiceName)
			assert.Contains(t, ss.Dependencies, hs.URN, "serviceName comes from the headless Service's output")
			assert.Equal(t, appsv1.OrderedReadyPodManagement, set.Spec.PodManagementPolicy)
			assert.Equal(t, objects.Ptr(int32(tc.replicas)), set.Spec.Replicas)
			assert.Equal(t, selector("ticks"), objects.MatchLabels(t, set.Spec.Selector))
			podLabels := set.Spec.Template.Labels
			for k, v := range selector("ticks") {
				assert.Equal(t, v, podLabels[k], "pod label %s", k)
			}
			assert.Equal(t, "tsdb-platform", podLabels["app.kubernetes.io/part-of"])
			assert.Equal(t, objects.RetainClaims(), set.Spec.PersistentVolumeClaimRetentionPolicy)
			assert.Contains(t, ss.IgnoreChanges, "spec.volumeClaimTemplates")

			c := container(t, set)
			assert.Equal(t, "qdbd", c.Name)
			assert.Equal(t, "bureau14/qdb:3.14.1", c.Image, "the profile's pinned image")
			assert.Equal(t, []corev1.ContainerPort{
				{Name: "client", ContainerPort: 2836, Protocol: corev1.ProtocolTCP},
				{Name: "control", ContainerPort: 2837, Protocol: corev1.ProtocolTCP},
			}, c.Ports)

			env := objects.Env(t, c)
			assert.Equal(t, strconv.Itoa(tc.replicas), env["K8S_REPLICA_COUNT"].Value, "K8S_REPLICA_COUNT equals replicas")
			assert.Equal(t, set.Spec.Replicas, objects.Ptr(mustInt32(t, env["K8S_REPLICA_COUNT"].Value)))
			assert.Equal(t, "1", env["QDB_REPLICATION"].Value)
			assert.Empty(t, env["QDB_BIND_ADDRESS"].Value)
			assert.Equal(t, &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}, env["QDB_BIND_ADDRESS"].ValueFrom)
			if tc.licensed {
				assert.Equal(t, "/etc/qdb/license/quasardb.key", env["QDB_LICENSE_FILE"].Value)
			} else {
				assert.NotContains(t, env, "QDB_LICENSE_FILE", "no license: the community edition")
				assert.Nil(t, res.Find(objects.SecretType, "ticks-license"))
			}
			assert.NotContains(t, env, "QDB_ENABLE_SECURITY", "security is off in dev")
			assert.NotContains(t, env, "QDB_LICENSE", "the license never goes into an env value")

			pdb := res.Find(objects.PodDisruptionBudgetType, "ticks")
			if tc.replicas > 1 {
				require.NotNil(t, pdb, "a PodDisruptionBudget for more than one replica")
				budget := objects.Decode[policyv1.PodDisruptionBudget](t, pdb)
				assert.Equal(t, objects.Ptr(intstr.FromInt32(1)), budget.Spec.MaxUnavailable)
				assert.Equal(t, selector("ticks"), objects.MatchLabels(t, budget.Spec.Selector))
			} else {
				assert.Nil(t, pdb, "no PodDisruptionBudget for a single pod: it would block every drain")
			}
		})
	}
}

// TestContainerShape: resources, memory limiter, probes, storage and the Pod
// Security "restricted" contexts matching the image's user.
func TestContainerShape(t *testing.T) {
	res := run(t, stackConfig(t, cluster{
		"name":         "ticks",
		"replicas":     2,
		"replication":  2,
		"resources":    map[string]any{"requests": map[string]any{"cpu": "500m", "memory": "1Gi"}, "limits": map[string]any{"cpu": "2", "memory": "2Gi"}},
		"storage":      map[string]any{"size": "42Gi", "storageClass": "fast-ssd"},
		"antiAffinity": "required",
		"probes": map[string]any{
			"readiness": map[string]any{"initialDelaySeconds": 7, "periodSeconds": 11, "timeoutSeconds": 2, "failureThreshold": 4},
		},
	}), false)
	ss := objects.StatefulSet(t, res, "ticks")
	c := container(t, ss)

	assert.Equal(t, map[string]string{"cpu": "500m", "memory": "1Gi"}, objects.Quantities(c.Resources.Requests))
	assert.Equal(t, map[string]string{"cpu": "2", "memory": "2Gi"}, objects.Quantities(c.Resources.Limits))
	assert.Empty(t, c.Resources.Claims)

	env := objects.Env(t, c)
	const limit = int64(2) << 30
	soft, hard := mustInt(t, env["QDB_MEMORY_LIMIT_SOFT"].Value), mustInt(t, env["QDB_MEMORY_LIMIT_HARD"].Value)
	assert.Equal(t, int64(1717986918), soft, "80%% of 2Gi")
	assert.Equal(t, int64(1932735283), hard, "90%% of 2Gi")
	assert.Less(t, soft, hard)
	assert.Less(t, hard, limit, "the limiter stays below the container limit")
	assert.Equal(t, "2", env["QDB_REPLICATION"].Value)

	tcp := corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(2836)}}
	assert.Equal(t, &corev1.Probe{
		ProbeHandler:        tcp,
		InitialDelaySeconds: 7, PeriodSeconds: 11, TimeoutSeconds: 2, FailureThreshold: 4,
	}, c.ReadinessProbe, "readiness from config")
	assert.Equal(t, &corev1.Probe{
		ProbeHandler:        tcp,
		InitialDelaySeconds: 15, PeriodSeconds: 20, TimeoutSeconds: 1, FailureThreshold: 3,
	}, c.LivenessProbe, "liveness keeps the article's timings")

	// Persistent data: the claim template mounted where the entrypoint puts the depot.
	templates := ss.Spec.VolumeClaimTemplates
	require.Len(t, templates, 1)
	pvc := templates[0]
	assert.Equal(t, "data", pvc.Name)
	assert.Equal(t, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, pvc.Spec.AccessModes)
	assert.Equal(t, "42Gi", objects.Quantities(pvc.Spec.Resources.Requests)["storage"])
	assert.Equal(t, objects.Ptr("fast-ssd"), pvc.Spec.StorageClassName)
	mounts := objects.MountsByPath(c)
	require.Contains(t, mounts, "/opt/qdb/depot")
	assert.Equal(t, "data", mounts["/opt/qdb/depot"].Name)
	assert.Equal(t, false, mounts["/opt/qdb/depot"].ReadOnly)
	assert.Equal(t, "/opt/qdb/depot", env["QDB_DEPOT_PATH"].Value, "the depot is where the claim is mounted")

	// Read-only root filesystem: the paths the entrypoint and daemon write are emptyDirs.
	pod := ss.Spec.Template.Spec
	volumes := objects.Volumes(t, pod)
	for path, volume := range map[string]string{"/tmp": "tmp", "/opt/qdb/log": "log"} {
		require.Contains(t, mounts, path)
		assert.Equal(t, volume, mounts[path].Name)
		assert.Equal(t, false, mounts[path].ReadOnly)
		require.Contains(t, volumes, volume)
		assert.NotNil(t, volumes[volume].EmptyDir, "%s is scratch space", path)
	}
	assert.Equal(t, "/opt/qdb/log", env["QDB_LOG_PATH"].Value)

	runtimeDefault := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	assert.Equal(t, &corev1.PodSecurityContext{
		RunAsNonRoot: objects.Ptr(true), RunAsUser: objects.Ptr(int64(1000)), RunAsGroup: objects.Ptr(int64(1000)), FSGroup: objects.Ptr(int64(1000)),
		FSGroupChangePolicy: objects.Ptr(corev1.FSGroupChangeOnRootMismatch), SeccompProfile: runtimeDefault,
	}, pod.SecurityContext)
	assert.Equal(t, objects.Ptr(false), pod.AutomountServiceAccountToken)
	assert.Equal(t, &corev1.SecurityContext{
		AllowPrivilegeEscalation: objects.Ptr(false), ReadOnlyRootFilesystem: objects.Ptr(true), RunAsNonRoot: objects.Ptr(true),
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: runtimeDefault,
	}, c.SecurityContext)

	require.NotNil(t, pod.Affinity)
	require.NotNil(t, pod.Affinity.PodAntiAffinity)
	terms := pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	require.Len(t, terms, 1)
	assert.Equal(t, "kubernetes.io/hostname", terms[0].TopologyKey)
	assert.Equal(t, selector("ticks"), objects.MatchLabels(t, terms[0].LabelSelector))
}

// TestDataSafety: the profile's data-safety options protect the StatefulSet, which
// owns the volumes, and nothing else needs them.
func TestDataSafety(t *testing.T) {
	cfg := stackConfig(t, cluster{"name": "ticks"})
	cfg["dataSafety"] = `{"protect": true, "retainOnDelete": true}`
	res := run(t, cfg, false)
	ss := objects.Find(t, res, objects.StatefulSetType, "ticks")
	assert.True(t, ss.Protect)
	assert.True(t, ss.RetainOnDelete)
	for _, name := range []string{"ticks-hs", "ticks-cs"} {
		assert.False(t, objects.Find(t, res, objects.ServiceType, name).Protect, name)
	}

	res = run(t, stackConfig(t, cluster{"name": "ticks"}), false)
	ss = objects.Find(t, res, objects.StatefulSetType, "ticks")
	assert.False(t, ss.Protect, "dev stacks are disposable")
	assert.False(t, ss.RetainOnDelete)
}

// TestImageOverride: the configured image wins over the profile's.
func TestImageOverride(t *testing.T) {
	res := run(t, stackConfig(t, cluster{"name": "ticks", "image": "registry.example/qdb:3.14.2"}), false)
	assert.Equal(t, "registry.example/qdb:3.14.2", container(t, objects.StatefulSet(t, res, "ticks")).Image)
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return n
}

func mustInt32(t *testing.T, s string) int32 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 32)
	require.NoError(t, err)
	return int32(n)
}
