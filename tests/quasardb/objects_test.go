package quasardb_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	wantPorts := []any{
		map[string]any{"name": "client", "port": 2836.0, "targetPort": "client", "protocol": "TCP"},
		map[string]any{"name": "control", "port": 2837.0, "targetPort": "control", "protocol": "TCP"},
	}
	for _, tc := range replicaCases {
		t.Run(fmt.Sprintf("replicas=%d", tc.replicas), func(t *testing.T) {
			res := run(t, stackConfig(t, replicaCluster(tc.replicas, tc.licensed)), false)
			comp := find(t, res, typeCluster, "ticks")

			hs := find(t, res, typeService, "ticks-hs")
			in := inputs(hs)
			assert.Equal(t, comp.URN, hs.Parent)
			assert.Equal(t, "ticks-hs", get(in, "metadata.name"))
			assert.Equal(t, testNamespace, get(in, "metadata.namespace"))
			assert.Equal(t, "None", get(in, "spec.clusterIP"))
			assert.Equal(t, true, get(in, "spec.publishNotReadyAddresses"),
				"peers resolve each other's names before they are Ready")
			assert.Equal(t, selector("ticks"), get(in, "spec.selector"))
			assert.Equal(t, wantPorts, get(in, "spec.ports"))

			cs := find(t, res, typeService, "ticks-cs")
			in = inputs(cs)
			assert.Equal(t, comp.URN, cs.Parent)
			assert.Equal(t, "ticks-cs", get(in, "metadata.name"))
			assert.Equal(t, "ClusterIP", get(in, "spec.type"))
			assert.Nil(t, get(in, "spec.clusterIP"), "the client Service has a cluster IP")
			assert.Nil(t, get(in, "spec.publishNotReadyAddresses"), "clients only reach Ready nodes")
			assert.Equal(t, selector("ticks"), get(in, "spec.selector"))
			assert.Equal(t, wantPorts, get(in, "spec.ports"))
		})
	}
}

// TestStatefulSet: the ordered StatefulSet for 1, 2 and 3 replicas, with
// K8S_REPLICA_COUNT always equal to the replica count.
func TestStatefulSet(t *testing.T) {
	for _, tc := range replicaCases {
		t.Run(fmt.Sprintf("replicas=%d", tc.replicas), func(t *testing.T) {
			res := run(t, stackConfig(t, replicaCluster(tc.replicas, tc.licensed)), false)
			ss := find(t, res, typeStatefulSet, "ticks")
			in := inputs(ss)
			assert.Equal(t, find(t, res, typeCluster, "ticks").URN, ss.Parent)

			assert.Equal(t, "ticks", get(in, "metadata.name"))
			assert.Equal(t, testNamespace, get(in, "metadata.namespace"))
			hs := find(t, res, typeService, "ticks-hs")
			assert.Equal(t, get(state(hs), "metadata.name"), get(in, "spec.serviceName"))
			assert.Contains(t, ss.Dependencies, hs.URN, "serviceName comes from the headless Service's output")
			assert.Equal(t, "OrderedReady", get(in, "spec.podManagementPolicy"))
			assert.Equal(t, float64(tc.replicas), get(in, "spec.replicas"))
			assert.Equal(t, selector("ticks"), get(in, "spec.selector.matchLabels"))
			podLabels := get(in, "spec.template.metadata.labels").(map[string]any)
			for k, v := range selector("ticks") {
				assert.Equal(t, v, podLabels[k], "pod label %s", k)
			}
			assert.Equal(t, "tsdb-platform", podLabels["app.kubernetes.io/part-of"])
			assert.Equal(t, map[string]any{"whenDeleted": "Retain", "whenScaled": "Retain"},
				get(in, "spec.persistentVolumeClaimRetentionPolicy"))
			assert.Contains(t, ss.IgnoreChanges, "spec.volumeClaimTemplates")

			c := container(t, ss)
			assert.Equal(t, "qdbd", c["name"])
			assert.Equal(t, "bureau14/qdb:3.14.1", c["image"], "the profile's pinned image")
			assert.Equal(t, []any{
				map[string]any{"name": "client", "containerPort": 2836.0, "protocol": "TCP"},
				map[string]any{"name": "control", "containerPort": 2837.0, "protocol": "TCP"},
			}, c["ports"])

			env := envOf(t, c)
			assert.Equal(t, strconv.Itoa(tc.replicas), env["K8S_REPLICA_COUNT"], "K8S_REPLICA_COUNT equals replicas")
			assert.Equal(t, get(in, "spec.replicas"), mustFloat(t, env["K8S_REPLICA_COUNT"]))
			assert.Equal(t, "1", env["QDB_REPLICATION"])
			assert.Equal(t, map[string]any{"fieldRef": map[string]any{"fieldPath": "status.podIP"}}, env["QDB_BIND_ADDRESS"])
			if tc.licensed {
				assert.Equal(t, "/etc/qdb/license/quasardb.key", env["QDB_LICENSE_FILE"])
			} else {
				assert.NotContains(t, env, "QDB_LICENSE_FILE", "no license: the community edition")
				assert.Nil(t, res.Find(typeSecret, "ticks-license"))
			}
			assert.NotContains(t, env, "QDB_ENABLE_SECURITY", "security is off in dev")
			assert.NotContains(t, env, "QDB_LICENSE", "the license never goes into an env value")

			pdb := res.Find(typePDB, "ticks")
			if tc.replicas > 1 {
				require.NotNil(t, pdb, "a PodDisruptionBudget for more than one replica")
				assert.Equal(t, 1.0, get(inputs(pdb), "spec.maxUnavailable"))
				assert.Equal(t, selector("ticks"), get(inputs(pdb), "spec.selector.matchLabels"))
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
	ss := find(t, res, typeStatefulSet, "ticks")
	in := inputs(ss)
	c := container(t, ss)

	assert.Equal(t, map[string]any{
		"requests": map[string]any{"cpu": "500m", "memory": "1Gi"},
		"limits":   map[string]any{"cpu": "2", "memory": "2Gi"},
	}, c["resources"])

	env := envOf(t, c)
	const limit = int64(2) << 30
	soft, hard := mustInt(t, env["QDB_MEMORY_LIMIT_SOFT"]), mustInt(t, env["QDB_MEMORY_LIMIT_HARD"])
	assert.Equal(t, int64(1717986918), soft, "80%% of 2Gi")
	assert.Equal(t, int64(1932735283), hard, "90%% of 2Gi")
	assert.Less(t, soft, hard)
	assert.Less(t, hard, limit, "the limiter stays below the container limit")
	assert.Equal(t, "2", env["QDB_REPLICATION"])

	assert.Equal(t, map[string]any{
		"tcpSocket":           map[string]any{"port": 2836.0},
		"initialDelaySeconds": 7.0, "periodSeconds": 11.0, "timeoutSeconds": 2.0, "failureThreshold": 4.0,
	}, c["readinessProbe"], "readiness from config")
	assert.Equal(t, map[string]any{
		"tcpSocket":           map[string]any{"port": 2836.0},
		"initialDelaySeconds": 15.0, "periodSeconds": 20.0, "timeoutSeconds": 1.0, "failureThreshold": 3.0,
	}, c["livenessProbe"], "liveness keeps the article's timings")

	// Persistent data: the claim template mounted where the entrypoint puts the depot.
	templates := get(in, "spec.volumeClaimTemplates").([]any)
	require.Len(t, templates, 1)
	pvc := templates[0].(map[string]any)
	assert.Equal(t, "data", get(pvc, "metadata.name"))
	assert.Equal(t, []any{"ReadWriteOnce"}, get(pvc, "spec.accessModes"))
	assert.Equal(t, "42Gi", get(pvc, "spec.resources.requests.storage"))
	assert.Equal(t, "fast-ssd", get(pvc, "spec.storageClassName"))
	mounts := mountsByPath(c)
	require.Contains(t, mounts, "/opt/qdb/depot")
	assert.Equal(t, "data", mounts["/opt/qdb/depot"]["name"])
	assert.Equal(t, false, mounts["/opt/qdb/depot"]["readOnly"])
	assert.Equal(t, "/opt/qdb/depot", env["QDB_DEPOT_PATH"], "the depot is where the claim is mounted")

	// Read-only root filesystem: the paths the entrypoint and daemon write are emptyDirs.
	volumes := byName(t, get(in, "spec.template.spec.volumes"))
	for path, volume := range map[string]string{"/tmp": "tmp", "/opt/qdb/log": "log"} {
		require.Contains(t, mounts, path)
		assert.Equal(t, volume, mounts[path]["name"])
		assert.Equal(t, false, mounts[path]["readOnly"])
		require.Contains(t, volumes, volume)
		assert.NotNil(t, volumes[volume]["emptyDir"], "%s is scratch space", path)
	}
	assert.Equal(t, "/opt/qdb/log", env["QDB_LOG_PATH"])

	pod := get(in, "spec.template.spec").(map[string]any)
	assert.Equal(t, map[string]any{
		"runAsNonRoot": true, "runAsUser": 1000.0, "runAsGroup": 1000.0, "fsGroup": 1000.0,
		"fsGroupChangePolicy": "OnRootMismatch", "seccompProfile": map[string]any{"type": "RuntimeDefault"},
	}, pod["securityContext"])
	assert.Equal(t, false, pod["automountServiceAccountToken"])
	assert.Equal(t, map[string]any{
		"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true,
		"capabilities":   map[string]any{"drop": []any{"ALL"}},
		"seccompProfile": map[string]any{"type": "RuntimeDefault"},
	}, c["securityContext"])

	terms := get(pod, "affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution").([]any)
	require.Len(t, terms, 1)
	assert.Equal(t, "kubernetes.io/hostname", get(terms[0].(map[string]any), "topologyKey"))
	assert.Equal(t, selector("ticks"), get(terms[0].(map[string]any), "labelSelector.matchLabels"))
}

// TestDataSafety: the profile's data-safety options protect the StatefulSet, which
// owns the volumes, and nothing else needs them.
func TestDataSafety(t *testing.T) {
	cfg := stackConfig(t, cluster{"name": "ticks"})
	cfg["dataSafety"] = `{"protect": true, "retainOnDelete": true}`
	res := run(t, cfg, false)
	ss := find(t, res, typeStatefulSet, "ticks")
	assert.True(t, ss.Protect)
	assert.True(t, ss.RetainOnDelete)
	for _, name := range []string{"ticks-hs", "ticks-cs"} {
		assert.False(t, find(t, res, typeService, name).Protect, name)
	}

	res = run(t, stackConfig(t, cluster{"name": "ticks"}), false)
	ss = find(t, res, typeStatefulSet, "ticks")
	assert.False(t, ss.Protect, "dev stacks are disposable")
	assert.False(t, ss.RetainOnDelete)
}

// TestImageOverride: the configured image wins over the profile's.
func TestImageOverride(t *testing.T) {
	res := run(t, stackConfig(t, cluster{"name": "ticks", "image": "registry.example/qdb:3.14.2"}), false)
	assert.Equal(t, "registry.example/qdb:3.14.2", container(t, find(t, res, typeStatefulSet, "ticks"))["image"])
}

func mustInt(t *testing.T, v any) int64 {
	t.Helper()
	s, ok := v.(string)
	require.True(t, ok, "%v is not a string", v)
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return n
}

func mustFloat(t *testing.T, v any) float64 {
	t.Helper()
	return float64(mustInt(t, v))
}
