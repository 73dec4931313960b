package greptimedb_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"tsdb-platform/components/etcd"
	"tsdb-platform/components/greptimedb"
	"tsdb-platform/components/kube"
	"tsdb-platform/internal/mockrun"
	"tsdb-platform/tests/objects"
)

// TestClusterResourcesAndParents: one cluster registers every expected object,
// each of the right kind, under the right component, through the stack's provider.
func TestClusterResourcesAndParents(t *testing.T) {
	res := runCluster(t, nil)
	cluster := objects.Find(t, res, objects.GreptimeDBClusterType, "metrics")

	components := map[string]string{
		"metrics-etcd":     objects.EtcdClusterType,
		"metrics-meta":     objects.GreptimeDBMetaType,
		"metrics-datanode": objects.GreptimeDBDatanodeType,
		"metrics-frontend": objects.GreptimeDBFrontendType,
	}
	for name, typ := range components {
		assert.Equal(t, cluster.URN, objects.Find(t, res, typ, name).Parent, "%s parent", name)
	}
	children := []struct{ typ, name, parent, parentType string }{
		{objects.StatefulSetType, "metrics-etcd", "metrics-etcd", objects.EtcdClusterType},
		{objects.ServiceType, "metrics-etcd-peer", "metrics-etcd", objects.EtcdClusterType},
		{objects.ServiceType, "metrics-etcd-client", "metrics-etcd", objects.EtcdClusterType},
		{objects.ConfigMapType, "metrics-meta-config", "metrics-meta", objects.GreptimeDBMetaType},
		{objects.ServiceType, "metrics-meta", "metrics-meta", objects.GreptimeDBMetaType},
		{objects.DeploymentType, "metrics-meta", "metrics-meta", objects.GreptimeDBMetaType},
		{objects.ConfigMapType, "metrics-datanode-config", "metrics-datanode", objects.GreptimeDBDatanodeType},
		{objects.ServiceType, "metrics-datanode", "metrics-datanode", objects.GreptimeDBDatanodeType},
		{objects.StatefulSetType, "metrics-datanode", "metrics-datanode", objects.GreptimeDBDatanodeType},
		{objects.ConfigMapType, "metrics-frontend-config", "metrics-frontend", objects.GreptimeDBFrontendType},
		{objects.RandomPasswordType, "metrics-frontend-password", "metrics-frontend", objects.GreptimeDBFrontendType},
		{objects.SecretType, "metrics-frontend-auth", "metrics-frontend", objects.GreptimeDBFrontendType},
		{objects.ServiceType, "metrics-frontend", "metrics-frontend", objects.GreptimeDBFrontendType},
		{objects.DeploymentType, "metrics-frontend", "metrics-frontend", objects.GreptimeDBFrontendType},
	}
	for _, c := range children {
		r := objects.Find(t, res, c.typ, c.name)
		assert.Equal(t, objects.Find(t, res, c.parentType, c.parent).URN, r.Parent, "%s %s parent", c.typ, c.name)
		if r.IsKubernetes() {
			assert.NotEmpty(t, r.Provider, "%s %s uses the stack's explicit provider", c.typ, c.name)
			assert.Equal(t, namespace, objects.Meta(t, r).Namespace, "%s %s namespace", c.typ, c.name)
		}
	}
	// The datanodes' rollout is framed by the two maintenance Jobs.
	jobs := res.OfType(objects.JobType)
	require.Len(t, jobs, 2)
	for _, j := range jobs {
		assert.Equal(t, objects.Find(t, res, objects.GreptimeDBDatanodeType, "metrics-datanode").URN, j.Parent, "Job %s parent", j.Name)
	}
	// A dev cluster has one of everything: no PDBs, no network policies.
	assert.Empty(t, res.OfType(objects.PodDisruptionBudgetType))
	assert.Empty(t, res.OfType(objects.NetworkPolicyType))
	assert.Len(t, res.Descendants(cluster.URN), len(components)+len(children)+len(jobs))
}

// TestEtcdManifest: the etcd StatefulSet, its Services and its pod, exactly.
func TestEtcdManifest(t *testing.T) {
	res := runCluster(t, nil)
	stsRes := objects.Find(t, res, objects.StatefulSetType, "metrics-etcd")
	sts := objects.Decode[appsv1.StatefulSet](t, stsRes)

	assert.Equal(t, "metrics-etcd", sts.Name)
	assert.Equal(t, appsv1.ParallelPodManagement, sts.Spec.PodManagementPolicy)
	assert.Equal(t, "metrics-etcd-peer", sts.Spec.ServiceName)
	assert.Equal(t, objects.Ptr(int32(1)), sts.Spec.Replicas)
	assert.Equal(t, objects.RetainClaims(), sts.Spec.PersistentVolumeClaimRetentionPolicy)
	assert.Equal(t, []string{"spec.volumeClaimTemplates"}, stsRes.IgnoreChanges)
	require.NotEmpty(t, sts.Spec.VolumeClaimTemplates)
	claim := sts.Spec.VolumeClaimTemplates[0]
	assert.Equal(t, "data", claim.Name)
	assert.Equal(t, "1Gi", objects.Quantities(claim.Spec.Resources.Requests)["storage"])
	assert.Equal(t, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, claim.Spec.AccessModes)

	c := objects.Container(t, sts.Spec.Template.Spec, "etcd")
	assert.Equal(t, "quay.io/coreos/etcd:v3.5.21", c.Image)
	assert.Equal(t, []string{"/usr/local/bin/etcd"}, c.Command)
	domain := "$(POD_NAMESPACE).svc.cluster.local"
	assert.Equal(t, []string{
		"--name=$(POD_NAME)",
		"--data-dir=/var/run/etcd/default.etcd",
		"--listen-peer-urls=http://0.0.0.0:2380",
		"--listen-client-urls=http://0.0.0.0:2379",
		"--listen-metrics-urls=http://0.0.0.0:8080",
		"--advertise-client-urls=http://$(POD_NAME).metrics-etcd-peer." + domain + ":2379",
		"--initial-advertise-peer-urls=http://$(POD_NAME).metrics-etcd-peer." + domain + ":2380",
		"--initial-cluster=metrics-etcd-0=http://metrics-etcd-0.metrics-etcd-peer." + domain + ":2380",
		"--initial-cluster-state=new",
		"--initial-cluster-token=tsdb-platform-test-metrics-etcd",
		"--auto-compaction-mode=periodic",
		"--auto-compaction-retention=1h",
		"--quota-backend-bytes=8589934592",
		"--election-timeout=2000",
		"--snapshot-count=10000",
	}, c.Args)
	assert.Equal(t, map[string]int32{"client": 2379, "peer": 2380, "metrics": 8080}, objects.ContainerPorts(c))
	env := objects.Env(t, c)
	assert.Equal(t, "metadata.name", objects.FieldPath(t, env["POD_NAME"]))
	assert.Equal(t, "metadata.namespace", objects.FieldPath(t, env["POD_NAMESPACE"]))
	assert.Equal(t, map[string]string{"data": "/var/run/etcd"}, objects.MountPaths(c))
	for probe, path := range map[string]string{"startupProbe": "/livez", "readinessProbe": "/readyz", "livenessProbe": "/livez"} {
		action := httpGet(t, c, probe)
		assert.Equal(t, path, action.Path, probe)
		assert.Equal(t, intstr.FromString("metrics"), action.Port, probe)
	}
	assert.Equal(t, map[string]string{"cpu": "100m", "memory": "128Mi"}, objects.Quantities(c.Resources.Requests))
	assert.Equal(t, map[string]string{"cpu": "500m", "memory": "512Mi"}, objects.Quantities(c.Resources.Limits))
	assertRestricted(t, stsRes, etcd.UID)

	peer := objects.Service(t, res, "metrics-etcd-peer")
	assert.Equal(t, "None", peer.Spec.ClusterIP)
	assert.Equal(t, true, peer.Spec.PublishNotReadyAddresses)
	assert.Equal(t, map[string]int32{"client": 2379, "peer": 2380}, objects.ServicePorts(peer))
	client := objects.Service(t, res, "metrics-etcd-client")
	assert.Equal(t, corev1.ServiceTypeClusterIP, client.Spec.Type)
	assert.Equal(t, map[string]int32{"client": 2379}, objects.ServicePorts(client))
	for _, svc := range []corev1.Service{peer, client} {
		assert.Equal(t, objects.MatchLabels(t, sts.Spec.Selector), svc.Spec.Selector, svc.Name)
	}
}

// TestEtcdBootstrapFlags: the static bootstrap flags list every member for 1, 3
// and 5 members; more than one member gets a PDB that keeps quorum.
func TestEtcdBootstrapFlags(t *testing.T) {
	peer := func(i int) string {
		return fmt.Sprintf("metrics-etcd-%d=http://metrics-etcd-%d.metrics-etcd-peer.$(POD_NAMESPACE).svc.cluster.local:2380", i, i)
	}
	for _, n := range []int{1, 3, 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			res := runCluster(t, map[string]any{"etcd": map[string]any{"replicas": n}})
			sts := objects.StatefulSet(t, res, "metrics-etcd")
			assert.Equal(t, objects.Ptr(int32(n)), sts.Spec.Replicas)
			var members []string
			for i := 0; i < n; i++ {
				members = append(members, peer(i))
			}
			args := objects.Container(t, sts.Spec.Template.Spec, "etcd").Args
			assert.Contains(t, args, "--initial-cluster="+strings.Join(members, ","))
			assert.Contains(t, args, "--initial-cluster-state=new")
			assert.Equal(t, args, etcd.Args("metrics-etcd", n, "cluster.local", "tsdb-platform-test-metrics-etcd"))

			pdb := res.Find(objects.PodDisruptionBudgetType, "metrics-etcd")
			if n == 1 {
				assert.Nil(t, pdb, "a single member needs no PDB")
				return
			}
			require.NotNil(t, pdb)
			budget := objects.Decode[policyv1.PodDisruptionBudget](t, pdb)
			assert.Equal(t, objects.Ptr(intstr.FromInt32(1)), budget.Spec.MaxUnavailable)
			assert.Equal(t, objects.MatchLabels(t, sts.Spec.Selector), objects.MatchLabels(t, budget.Spec.Selector))
		})
	}
}

// TestMetaManifest: meta's config, command line, ports, probes and init container.
func TestMetaManifest(t *testing.T) {
	res := runCluster(t, nil)
	cfg := tomlConfig(t, objects.ConfigMap(t, res, "metrics-meta-config"))
	assert.Equal(t, "etcd_store", cfg["backend"])
	assert.Equal(t, []any{fqdn("metrics-etcd-client") + ":2379"}, cfg["store_addrs"])
	assert.Equal(t, "metrics", cfg["store_key_prefix"])
	assert.Equal(t, false, cfg["enable_region_failover"])
	assert.Equal(t, "/data/greptimedb", cfg["data_home"])

	dep := objects.Find(t, res, objects.DeploymentType, "metrics-meta")
	deployment := objects.Decode[appsv1.Deployment](t, dep)
	assert.Equal(t, "metrics-meta", deployment.Name)
	assert.Equal(t, objects.Ptr(int32(1)), deployment.Spec.Replicas)
	c := container(t, dep, "meta")
	assert.Equal(t, "greptime/greptimedb:v1.1.4", c.Image)
	assert.Nil(t, c.Command, "the image's entrypoint runs greptime")
	assert.Equal(t, []string{
		"metasrv", "start",
		"--rpc-bind-addr", "0.0.0.0:3002",
		"--rpc-server-addr", "$(POD_IP):3002",
		"--http-addr", "0.0.0.0:4000",
		"--config-file", "/etc/greptimedb/config/config.toml",
	}, c.Args)
	assert.Equal(t, map[string]int32{"rpc": 3002, "http": 4000}, objects.ContainerPorts(c))
	assert.Equal(t, "status.podIP", objects.FieldPath(t, objects.Env(t, c)["POD_IP"]))
	assertHealthProbes(t, c)
	assert.Equal(t, map[string]string{"config": "/etc/greptimedb/config", "tmp": "/tmp", "data": "/data/greptimedb"}, objects.MountPaths(c))
	assertConfigVolume(t, res, dep, "metrics-meta-config")

	wait := initContainer(t, dep, "wait-etcd")
	assert.Equal(t, "busybox:1.37.0", wait.Image)
	assert.Equal(t, []string{"/bin/sh", "-c", greptimedb.WaitScript}, wait.Command)
	assert.Equal(t, "http://"+fqdn("metrics-etcd-client")+":2379/health", objects.Env(t, wait)[greptimedb.EnvWaitURLs].Value)
	assert.Equal(t, "etcd", objects.Env(t, wait)[greptimedb.EnvWaitFor].Value)
	assertRestricted(t, dep, greptimedb.UID)

	svc := objects.Service(t, res, "metrics-meta")
	assert.Equal(t, corev1.ServiceTypeClusterIP, svc.Spec.Type)
	assert.Equal(t, map[string]int32{"rpc": 3002, "http": 4000}, objects.ServicePorts(svc))
	assert.Equal(t, objects.MatchLabels(t, deployment.Spec.Selector), svc.Spec.Selector)
}

// TestMetaWithExternalEtcd: external endpoints deploy no etcd; meta stores in
// them and its init container waits for any of them.
func TestMetaWithExternalEtcd(t *testing.T) {
	eps := []any{"etcd-0.etcd.platform.svc:2379", "etcd-1.etcd.platform.svc:2379"}
	res := runCluster(t, map[string]any{"etcd": map[string]any{"endpoints": eps}})
	assert.Nil(t, res.Find(objects.EtcdClusterType, "metrics-etcd"))
	assert.Nil(t, res.Find(objects.StatefulSetType, "metrics-etcd"))
	cfg := tomlConfig(t, objects.ConfigMap(t, res, "metrics-meta-config"))
	assert.Equal(t, eps, cfg["store_addrs"])

	dep := objects.Find(t, res, objects.DeploymentType, "metrics-meta")
	wait := initContainer(t, dep, "wait-etcd")
	assert.Equal(t, []string{"/bin/sh", "-c", greptimedb.WaitScript}, wait.Command, "the endpoints are in the environment, not the script")
	assert.Equal(t, "http://etcd-0.etcd.platform.svc:2379/health http://etcd-1.etcd.platform.svc:2379/health",
		objects.Env(t, wait)[greptimedb.EnvWaitURLs].Value)
	assert.Empty(t, hasKind(res, res.DependsOn(dep), objects.StatefulSetType, objects.DeploymentType), "meta waits for no workload")
}

// TestDatanodeManifest: the datanode StatefulSet, headless Service, PVC, node id
// from the ordinal, meta address and File storage config.
func TestDatanodeManifest(t *testing.T) {
	res := runCluster(t, map[string]any{"datanode": map[string]any{"replicas": 2, "rolloutTimeoutSeconds": 1800}})
	svc := objects.Service(t, res, "metrics-datanode")
	assert.Equal(t, "None", svc.Spec.ClusterIP)
	assert.Equal(t, map[string]int32{"rpc": 4001, "http": 4000}, objects.ServicePorts(svc))

	sts := objects.Find(t, res, objects.StatefulSetType, "metrics-datanode")
	set := objects.Decode[appsv1.StatefulSet](t, sts)
	assert.Equal(t, "metrics-datanode", set.Spec.ServiceName)
	assert.Equal(t, objects.Ptr(int32(2)), set.Spec.Replicas)
	assert.Equal(t, "1800", set.Annotations["pulumi.com/timeoutSeconds"], "up waits as long as configured for the datanodes")
	assert.Equal(t, objects.RetainClaims(), set.Spec.PersistentVolumeClaimRetentionPolicy)
	assert.Equal(t, []string{"spec.volumeClaimTemplates"}, sts.IgnoreChanges)
	require.NotEmpty(t, set.Spec.VolumeClaimTemplates)
	assert.Equal(t, "data", set.Spec.VolumeClaimTemplates[0].Name)
	assert.Equal(t, "5Gi", objects.Quantities(set.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests)["storage"])

	c := container(t, sts, "datanode")
	assert.Equal(t, []string{"/bin/sh", "-c",
		`exec greptime datanode start --node-id "${POD_NAME##*-}"` +
			` --metasrv-addrs "$METASRV_ADDRS"` +
			` --rpc-bind-addr 0.0.0.0:4001 --rpc-server-addr "${POD_IP}:4001"` +
			" --http-addr 0.0.0.0:4000 --config-file /etc/greptimedb/config/config.toml",
	}, c.Command)
	assert.Equal(t, fqdn("metrics-meta")+":3002", objects.Env(t, c)[greptimedb.EnvMetasrvAddrs].Value)
	assert.Equal(t, map[string]int32{"rpc": 4001, "http": 4000}, objects.ContainerPorts(c))
	assert.Equal(t, []string{greptimedb.EnvMetasrvAddrs, "POD_IP", "POD_NAME", "POD_NAMESPACE"}, sortedKeys(objects.Env(t, c)), "no credentials with File storage")
	assertHealthProbes(t, c)
	assert.Equal(t, map[string]string{"config": "/etc/greptimedb/config", "tmp": "/tmp", "data": "/data/greptimedb"}, objects.MountPaths(c))
	assertConfigVolume(t, res, sts, "metrics-datanode-config")
	assertWaitsForMeta(t, sts)
	assertRestricted(t, sts, greptimedb.UID)
	assert.NotContains(t, set.Spec.Template.Annotations, greptimedb.SecretChecksumAnnotation)

	cfg := tomlConfig(t, objects.ConfigMap(t, res, "metrics-datanode-config"))
	assert.Equal(t, map[string]any{"type": "File", "data_home": "/data/greptimedb"}, cfg["storage"])
	assert.Equal(t, map[string]any{"provider": "raft_engine", "dir": "/data/greptimedb/wal"}, cfg["wal"])

	pdb := objects.PodDisruptionBudget(t, res, "metrics-datanode")
	assert.Equal(t, objects.Ptr(intstr.FromInt32(1)), pdb.Spec.MaxUnavailable)
}

// TestLogging: one level and format for every GreptimeDB component, and a change rolls
// each component's pods through its config checksum.
func TestLogging(t *testing.T) {
	def := runCluster(t, nil)
	debug := runCluster(t, map[string]any{"logging": map[string]any{"level": "debug", "format": "json"}})
	for _, c := range []struct{ configMap, workload, kind string }{
		{"metrics-meta-config", "metrics-meta", objects.DeploymentType},
		{"metrics-datanode-config", "metrics-datanode", objects.StatefulSetType},
		{"metrics-frontend-config", "metrics-frontend", objects.DeploymentType},
	} {
		assert.Equal(t, map[string]any{"dir": "/data/greptimedb/logs", "level": "info", "log_format": "text"},
			tomlConfig(t, objects.ConfigMap(t, def, c.configMap))["logging"], "%s default", c.configMap)
		assert.Equal(t, map[string]any{"dir": "/data/greptimedb/logs", "level": "debug", "log_format": "json"},
			tomlConfig(t, objects.ConfigMap(t, debug, c.configMap))["logging"], c.configMap)
		assert.NotEqual(t, annotation(t, objects.Find(t, def, c.kind, c.workload), kube.ChecksumAnnotation),
			annotation(t, objects.Find(t, debug, c.kind, c.workload), kube.ChecksumAnnotation), "%s pods roll", c.workload)
	}
}

// TestKafkaWAL: with the kafka WAL, datanodes write ahead to the brokers instead of
// their volume, and metasrv knows the brokers too (it must, in v1.1.4).
func TestKafkaWAL(t *testing.T) {
	brokers := []any{"kafka-0.kafka:9092", "kafka-1.kafka:9092"}
	res := runCluster(t, map[string]any{"wal": map[string]any{"provider": "kafka", "brokerEndpoints": brokers}})
	assert.Equal(t, map[string]any{"provider": "kafka", "broker_endpoints": brokers},
		tomlConfig(t, objects.ConfigMap(t, res, "metrics-datanode-config"))["wal"])
	assert.Equal(t, map[string]any{"provider": "kafka", "broker_endpoints": brokers},
		tomlConfig(t, objects.ConfigMap(t, res, "metrics-meta-config"))["wal"])

	local := runCluster(t, nil)
	assert.NotContains(t, tomlConfig(t, objects.ConfigMap(t, local, "metrics-meta-config")), "wal",
		"metasrv has no [wal] with the local WAL")
}

// TestDatanodeS3: S3 storage is configured in TOML without credentials; the
// credentials reach the pod only as env from a Secret.
func TestDatanodeS3(t *testing.T) {
	res := runCluster(t, map[string]any{"datanode": map[string]any{"objectStorage": map[string]any{
		"type": "S3", "bucket": "tsdb", "root": "gt/metrics", "region": "eu-west-1",
		"endpoint": "https://s3.eu-west-1.amazonaws.com", "accessKeyId": "AKIDTEST", "secretAccessKey": "SECRETTEST",
	}}})
	cfg := tomlConfig(t, objects.ConfigMap(t, res, "metrics-datanode-config"))
	assert.Equal(t, map[string]any{
		"type": "S3", "data_home": "/data/greptimedb", "bucket": "tsdb", "root": "gt/metrics",
		"region": "eu-west-1", "endpoint": "https://s3.eu-west-1.amazonaws.com",
	}, cfg["storage"])

	secret := objects.Find(t, res, objects.SecretType, "metrics-datanode-object-storage")
	assert.Equal(t, map[string]string{"access-key-id": "AKIDTEST", "secret-access-key": "SECRETTEST"}, objects.Decode[corev1.Secret](t, secret).StringData)
	assert.True(t, mockrun.IsSecretAt(secret.Inputs, "stringData"))
	// The name given, or else the provider's auto-name.
	secretName := objects.StateMeta(t, secret).Name

	sts := objects.Find(t, res, objects.StatefulSetType, "metrics-datanode")
	env := objects.Env(t, container(t, sts, "datanode"))
	for name, key := range map[string]string{
		"GREPTIMEDB_DATANODE__STORAGE__ACCESS_KEY_ID":     "access-key-id",
		"GREPTIMEDB_DATANODE__STORAGE__SECRET_ACCESS_KEY": "secret-access-key",
	} {
		require.Contains(t, env, name)
		assert.Empty(t, env[name].Value, "%s has no literal value", name)
		ref := objects.SecretKeyRef(t, env[name])
		assert.Equal(t, key, ref.Key)
		assert.Equal(t, secretName, ref.Name)
	}
	assert.Contains(t, objects.PodTemplate(t, sts).Annotations, greptimedb.SecretChecksumAnnotation)
	assert.True(t, mockrun.IsSecretAt(sts.Inputs, "spec.template.metadata.annotations.checksum/secret"))
}

// TestObjectStores: Gcs, Azblob and Oss beside S3, with GreptimeDB v1.1.4's
// [storage] keys. No secret goes into the TOML; each reaches the pod as an
// environment variable (GREPTIMEDB_DATANODE__STORAGE__<KEY>) from the generated
// Secret, or from an existing Secret named in secretRefs, in which case the
// program never sees the value and writes no Secret for it.
func TestObjectStores(t *testing.T) {
	ref := func(name, key string) map[string]any { return map[string]any{"name": name, "key": key} }
	cases := []struct {
		name    string
		store   map[string]any
		toml    map[string]any
		secret  map[string]string // generated Secret's data; nil means no Secret
		fromRef map[string]string // env var -> existing Secret name
		port    int32
	}{
		{
			name:  "Gcs",
			store: map[string]any{"type": "Gcs", "bucket": "tsdb", "root": "gt", "scope": "https://www.googleapis.com/auth/devstorage.read_write", "credential": "Z2NzLWtleQ=="},
			toml: map[string]any{"type": "Gcs", "data_home": "/data/greptimedb", "bucket": "tsdb", "root": "gt",
				"scope": "https://www.googleapis.com/auth/devstorage.read_write"},
			secret: map[string]string{"credential": "Z2NzLWtleQ=="},
			port:   443,
		},
		{
			name: "Azblob with a SAS token from an existing Secret",
			store: map[string]any{"type": "Azblob", "container": "tsdb", "accountName": "tsdbacct", "endpoint": "https://tsdbacct.blob.core.windows.net",
				"secretRefs": map[string]any{"sasToken": ref("azure-sas", "token")}},
			toml: map[string]any{"type": "Azblob", "data_home": "/data/greptimedb", "container": "tsdb", "account_name": "tsdbacct",
				"endpoint": "https://tsdbacct.blob.core.windows.net"},
			fromRef: map[string]string{"GREPTIMEDB_DATANODE__STORAGE__SAS_TOKEN": "azure-sas"},
			port:    443,
		},
		{
			name: "Oss with one key by value and one by reference",
			store: map[string]any{"type": "Oss", "bucket": "tsdb", "endpoint": "http://oss.internal:8080", "accessKeyId": "LTAIKEY",
				"secretRefs": map[string]any{"accessKeySecret": ref("oss-keys", "secret")}},
			toml:    map[string]any{"type": "Oss", "data_home": "/data/greptimedb", "bucket": "tsdb", "endpoint": "http://oss.internal:8080"},
			secret:  map[string]string{"access-key-id": "LTAIKEY"},
			fromRef: map[string]string{"GREPTIMEDB_DATANODE__STORAGE__ACCESS_KEY_SECRET": "oss-keys"},
			port:    8080,
		},
		{
			name: "S3 with both keys from an existing Secret",
			store: map[string]any{"type": "S3", "bucket": "tsdb", "region": "us-east-1", "secretRefs": map[string]any{
				"accessKeyId": ref("s3-keys", "id"), "secretAccessKey": ref("s3-keys", "secret")}},
			toml: map[string]any{"type": "S3", "data_home": "/data/greptimedb", "bucket": "tsdb", "region": "us-east-1"},
			fromRef: map[string]string{
				"GREPTIMEDB_DATANODE__STORAGE__ACCESS_KEY_ID": "s3-keys", "GREPTIMEDB_DATANODE__STORAGE__SECRET_ACCESS_KEY": "s3-keys"},
			port: 443,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := objects.Run(t, config(t, []map[string]any{{"name": "metrics", "datanode": map[string]any{"objectStorage": tc.store}}},
				map[string]string{"networkPolicy": `{"enabled": true}`}))
			assert.Equal(t, tc.toml, tomlConfig(t, objects.ConfigMap(t, res, "metrics-datanode-config"))["storage"])

			sts := objects.Find(t, res, objects.StatefulSetType, "metrics-datanode")
			env := objects.Env(t, container(t, sts, "datanode"))
			secret := res.Find(objects.SecretType, "metrics-datanode-object-storage")
			if tc.secret == nil {
				assert.Nil(t, secret, "no Secret when every secret is referenced")
				assert.NotContains(t, objects.PodTemplate(t, sts).Annotations, greptimedb.SecretChecksumAnnotation)
			} else {
				require.NotNil(t, secret)
				assert.Equal(t, tc.secret, objects.Decode[corev1.Secret](t, secret).StringData)
				assert.True(t, mockrun.IsSecretAt(secret.Inputs, "stringData"))
				for key := range tc.secret {
					var found bool
					for _, e := range env {
						if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Key == key {
							found = e.ValueFrom.SecretKeyRef.Name == objects.StateMeta(t, secret).Name
						}
					}
					assert.True(t, found, "env from the generated Secret's %s", key)
				}
			}
			for name, secretName := range tc.fromRef {
				require.Contains(t, env, name)
				assert.Empty(t, env[name].Value)
				assert.Equal(t, secretName, objects.SecretKeyRef(t, env[name]).Name)
			}
			np := objects.NetworkPolicy(t, res, "metrics-datanode")
			assert.Contains(t, egressRules(t, np), rule{ports: []int32{tc.port}}, "egress to the object store's port")
		})
	}
}

// TestDatanodeWorkloadIdentity: with ServiceAccount annotations (EKS IRSA) the
// datanodes run as their own annotated account and S3 needs no static keys: no
// credentials Secret, no credential env. Giving one key without the other, or an
// annotation key Kubernetes refuses, is rejected by its config key.
func TestDatanodeWorkloadIdentity(t *testing.T) {
	const roleARN = "arn:aws:iam::123456789012:role/greptimedb-datanode"
	res := runCluster(t, map[string]any{"datanode": map[string]any{
		"objectStorage":  map[string]any{"type": "S3", "bucket": "tsdb", "region": "eu-west-1"},
		"serviceAccount": map[string]any{"annotations": map[string]any{"eks.amazonaws.com/role-arn": roleARN}},
	}})
	sa := objects.Get[corev1.ServiceAccount](t, res, objects.ServiceAccountType, "metrics-datanode")
	assert.Equal(t, "metrics-datanode", sa.Name)
	assert.Equal(t, map[string]string{"eks.amazonaws.com/role-arn": roleARN}, sa.Annotations)
	sts := objects.Find(t, res, objects.StatefulSetType, "metrics-datanode")
	assert.Equal(t, "metrics-datanode", objects.PodTemplate(t, sts).Spec.ServiceAccountName)
	for _, s := range res.OfType(objects.SecretType) {
		assert.NotEqual(t, "metrics-datanode-object-storage", s.Name, "no credentials Secret")
	}
	env := objects.Env(t, container(t, sts, "datanode"))
	assert.NotContains(t, env, greptimedb.EnvAccessKeyID)
	assert.NotContains(t, env, greptimedb.EnvSecretAccessKey)

	for name, tc := range map[string]struct {
		datanode map[string]any
		key      string
	}{
		"one key only": {map[string]any{
			"objectStorage":  map[string]any{"type": "S3", "bucket": "tsdb", "accessKeyId": "AKID"},
			"serviceAccount": map[string]any{"annotations": map[string]any{"eks.amazonaws.com/role-arn": roleARN}},
		}, "greptimedb[0].datanode.objectStorage.secretAccessKey"},
		"bad annotation key": {map[string]any{
			"serviceAccount": map[string]any{"annotations": map[string]any{"not a key": "x"}},
		}, "greptimedb[0].datanode.serviceAccount.annotations"},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, []string{tc.key}, rejected(t, map[string]any{"datanode": tc.datanode}).Keys())
		})
	}
}

// TestFrontendManifest: command line, Service ports and type, authentication.
func TestFrontendManifest(t *testing.T) {
	res := runCluster(t, nil)
	dep := objects.Find(t, res, objects.DeploymentType, "metrics-frontend")
	c := container(t, dep, "frontend")
	assert.Equal(t, []string{
		"frontend", "start",
		"--rpc-bind-addr", "0.0.0.0:4001",
		"--rpc-server-addr", "$(POD_IP):4001",
		"--metasrv-addrs", fqdn("metrics-meta") + ":3002",
		"--http-addr", "0.0.0.0:4000",
		"--mysql-addr", "0.0.0.0:4002",
		"--postgres-addr", "0.0.0.0:4003",
		"--config-file", "/etc/greptimedb/config/config.toml",
		"--user-provider=static_user_provider:file:/etc/greptimedb/auth/passwd",
	}, c.Args)
	ports := map[string]int32{"http": 4000, "grpc": 4001, "mysql": 4002, "postgres": 4003}
	assert.Equal(t, ports, objects.ContainerPorts(c))
	assertHealthProbes(t, c)
	assert.Equal(t, map[string]string{
		"config": "/etc/greptimedb/config", "tmp": "/tmp", "data": "/data/greptimedb", "auth": "/etc/greptimedb/auth",
	}, objects.MountPaths(c))
	for _, m := range c.VolumeMounts {
		if m.Name == "auth" || m.Name == "config" {
			assert.Equal(t, true, m.ReadOnly, "%s mounted read-only", m.Name)
		}
	}
	authSecret := objects.Find(t, res, objects.SecretType, "metrics-frontend-auth")
	auth := objects.Volume(t, podSpec(t, dep), "auth")
	require.NotNil(t, auth.Secret, "the auth volume is a Secret")
	assert.Equal(t, objects.StateMeta(t, authSecret).Name, auth.Secret.SecretName)
	assertWaitsForMeta(t, dep)
	assertRestricted(t, dep, greptimedb.UID)

	svc := objects.Service(t, res, "metrics-frontend")
	assert.Equal(t, corev1.ServiceTypeClusterIP, svc.Spec.Type)
	assert.Equal(t, ports, objects.ServicePorts(svc))

	t.Run("service type on request", func(t *testing.T) {
		for _, typ := range []corev1.ServiceType{corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort} {
			res := runCluster(t, map[string]any{"frontend": map[string]any{"serviceType": typ}})
			assert.Equal(t, typ, objects.Service(t, res, "metrics-frontend").Spec.Type)
		}
	})
	t.Run("load balancer: not awaited by default, its address exported", func(t *testing.T) {
		res := runCluster(t, map[string]any{"frontend": map[string]any{"serviceType": "LoadBalancer"}})
		svc := objects.Service(t, res, "metrics-frontend")
		assert.Equal(t, map[string]string{"pulumi.com/skipAwait": "true"}, svc.Annotations,
			"a cluster without a load-balancer controller must not hold the deploy")
		e, ok := res.Export("greptimedb.metrics.externalAddress")
		require.True(t, ok, "a LoadBalancer frontend exports its external address")
		assert.Equal(t, "", e.Value, "no address until the controller assigns one")
	})
	t.Run("load balancer: bounded wait for the address", func(t *testing.T) {
		res := runCluster(t, map[string]any{"frontend": map[string]any{
			"serviceType": "LoadBalancer", "loadBalancer": map[string]any{"waitForAddress": true, "timeoutSeconds": 120},
		}})
		svc := objects.Service(t, res, "metrics-frontend")
		assert.Equal(t, map[string]string{"pulumi.com/timeoutSeconds": "120"}, svc.Annotations)
	})
	t.Run("ClusterIP: not awaited, no external address", func(t *testing.T) {
		// The provider's Service await only holds the deploy 10 s after the
		// endpoints last changed, without looking at them.
		assert.Equal(t, map[string]string{"pulumi.com/skipAwait": "true"}, svc.Annotations)
		_, ok := res.Export("greptimedb.metrics.externalAddress")
		assert.False(t, ok)
	})
	t.Run("auth off", func(t *testing.T) {
		res := runCluster(t, map[string]any{"frontend": map[string]any{"auth": map[string]any{"enabled": false}}})
		assert.Empty(t, res.OfType(objects.SecretType))
		assert.Empty(t, res.OfType(objects.RandomPasswordType))
		args := container(t, objects.Find(t, res, objects.DeploymentType, "metrics-frontend"), "frontend").Args
		for _, a := range args {
			assert.NotContains(t, a, "--user-provider")
		}
	})
	t.Run("username configurable", func(t *testing.T) {
		res := runCluster(t, map[string]any{"frontend": map[string]any{"auth": map[string]any{"username": "grafana"}}})
		pw := mockrun.TestSecret("metrics-frontend-password", greptimedb.PasswordLength)
		assert.Equal(t, "grafana="+pw+"\n", objects.Secret(t, res, "metrics-frontend-auth").StringData["passwd"])
		e, _ := res.Export("greptimedb.metrics.username")
		assert.Equal(t, "grafana", e.Value)
	})
}

// TestFrontendServiceAndIngress: the frontend Service carries the configured
// labels, annotations and load-balancer settings beside the program's own; the
// Ingress routes each host to the Service's HTTP port by name, with TLS from
// the configured Secret; the frontends' policy admits the load balancer's
// source ranges on every client port.
func TestFrontendServiceAndIngress(t *testing.T) {
	res := objects.Run(t, config(t, []map[string]any{{"name": "metrics", "frontend": map[string]any{
		"serviceType": "LoadBalancer",
		"service": map[string]any{
			"annotations":              map[string]any{"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
			"labels":                   map[string]any{"example.com/team": "observability"},
			"loadBalancerClass":        "service.k8s.aws/nlb",
			"loadBalancerSourceRanges": []string{"198.51.100.0/24"},
			"externalTrafficPolicy":    "Local",
		},
		"ingress": map[string]any{"enabled": true, "ingressClassName": "nginx",
			"hosts": []string{"metrics.example.com", "*.metrics.example.com"}, "tlsSecretName": "metrics-http-tls"},
	}}}, map[string]string{"networkPolicy": `{"enabled": true}`}))

	svc := objects.Service(t, res, "metrics-frontend")
	assert.Equal(t, map[string]string{
		"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
		"pulumi.com/skipAwait":                                "true",
	}, svc.Annotations)
	assert.Equal(t, "observability", svc.Labels["example.com/team"])
	assert.Equal(t, "metrics", svc.Labels["app.kubernetes.io/instance"], "the program's labels stay")
	require.NotNil(t, svc.Spec.LoadBalancerClass)
	assert.Equal(t, "service.k8s.aws/nlb", *svc.Spec.LoadBalancerClass)
	assert.Equal(t, []string{"198.51.100.0/24"}, svc.Spec.LoadBalancerSourceRanges)
	assert.Equal(t, corev1.ServiceExternalTrafficPolicyLocal, svc.Spec.ExternalTrafficPolicy)

	ing := objects.Get[networkingv1.Ingress](t, res, objects.IngressType, "metrics-frontend")
	require.NotNil(t, ing.Spec.IngressClassName)
	assert.Equal(t, "nginx", *ing.Spec.IngressClassName)
	assert.Equal(t, "true", ing.Annotations["pulumi.com/skipAwait"], "no ingress controller may hold the deploy")
	var httpPort corev1.ServicePort
	for _, p := range svc.Spec.Ports {
		if p.Port == greptimedb.HTTPPort {
			httpPort = p
		}
	}
	require.NotEmpty(t, httpPort.Name)
	var hosts []string
	for _, r := range ing.Spec.Rules {
		hosts = append(hosts, r.Host)
		require.NotNil(t, r.HTTP)
		require.Len(t, r.HTTP.Paths, 1)
		p := r.HTTP.Paths[0]
		assert.Equal(t, "/", p.Path)
		require.NotNil(t, p.Backend.Service)
		assert.Equal(t, svc.Name, p.Backend.Service.Name, "routes to the frontend Service")
		assert.Equal(t, httpPort.Name, p.Backend.Service.Port.Name, "by the name of its HTTP port")
	}
	assert.Equal(t, []string{"metrics.example.com", "*.metrics.example.com"}, hosts)
	assert.Equal(t, []networkingv1.IngressTLS{{Hosts: hosts, SecretName: "metrics-http-tls"}}, ing.Spec.TLS)

	var admitted []string
	for _, r := range objects.NetworkPolicy(t, res, "metrics-frontend").Spec.Ingress {
		for _, from := range r.From {
			if from.IPBlock != nil {
				admitted = append(admitted, from.IPBlock.CIDR)
				assert.Len(t, r.Ports, len(frontendClientPorts), "on every client port")
			}
		}
	}
	assert.Equal(t, []string{"198.51.100.0/24"}, admitted)

	t.Run("no Ingress unless enabled", func(t *testing.T) {
		assert.Nil(t, runCluster(t, nil).Find(objects.IngressType, "metrics-frontend"))
	})
}

// frontendClientPorts are the frontends' HTTP, gRPC, MySQL and PostgreSQL ports.
var frontendClientPorts = []int{greptimedb.HTTPPort, greptimedb.GRPCPort, greptimedb.MySQLPort, greptimedb.PostgresPort}

// TestExports: the stack exports each cluster's in-cluster endpoints and credentials.
func TestExports(t *testing.T) {
	res := runCluster(t, nil)
	host := fqdn("metrics-frontend")
	want := map[string]string{
		"greptimedb.metrics.http":     "http://" + host + ":4000",
		"greptimedb.metrics.grpc":     host + ":4001",
		"greptimedb.metrics.mysql":    host + ":4002",
		"greptimedb.metrics.postgres": host + ":4003",
		"greptimedb.metrics.username": "admin",
		"greptimedb.metrics.password": mockrun.TestSecret("metrics-frontend-password", greptimedb.PasswordLength),
	}
	assert.Equal(t, sortedKeys(want), res.ExportPaths("greptimedb."))
	for path, value := range want {
		e, ok := res.Export(path)
		require.True(t, ok, path)
		assert.Equal(t, value, e.Value, path)
		assert.Equal(t, path == "greptimedb.metrics.password", e.Secret, "%s secret", path)
	}
}

// TestProductionShape: labels, resources from config, PDBs, anti-affinity and
// the restricted security context for every component of a prod-profile cluster.
func TestProductionShape(t *testing.T) {
	res := objects.Run(t, config(t, []map[string]any{{"name": "metrics",
		"meta": map[string]any{"resources": map[string]any{"requests": map[string]any{"cpu": "300m", "memory": "300Mi"}}},
		// The prod profile exports databases to S3.
		"datanode": map[string]any{"objectStorage": map[string]any{"type": "S3", "bucket": "bkt", "region": "us-east-1", "accessKeyId": "AKID", "secretAccessKey": "SECRET"}}}},
		map[string]string{"profile": "prod"}))
	workloads := map[string]string{
		"metrics-etcd": objects.StatefulSetType, "metrics-meta": objects.DeploymentType,
		"metrics-datanode": objects.StatefulSetType, "metrics-frontend": objects.DeploymentType,
	}
	for name, typ := range workloads {
		r := objects.Find(t, res, typ, name)
		w := objects.Workload(t, r)
		component := strings.TrimPrefix(name, "metrics-")
		app := "greptimedb"
		if component == "etcd" {
			app = "etcd"
		}
		labels := map[string]string{
			"app.kubernetes.io/name": app, "app.kubernetes.io/instance": "metrics", "app.kubernetes.io/component": component,
			"app.kubernetes.io/part-of": "tsdb-platform", "app.kubernetes.io/managed-by": "pulumi",
		}
		assert.Equal(t, labels, w.Labels, name)
		assert.Equal(t, labels, w.Template.Labels, name)
		assert.Equal(t, objects.Ptr(int32(3)), w.Replicas, name)
		required := antiAffinity(t, w.Template.Spec, name).RequiredDuringSchedulingIgnoredDuringExecution
		require.NotEmpty(t, required, "%s requires anti-affinity", name)
		assert.Equal(t, "kubernetes.io/hostname", required[0].TopologyKey, name)
		assert.Equal(t, objects.MatchLabels(t, w.Selector), objects.MatchLabels(t, required[0].LabelSelector), name)
		pdb := objects.PodDisruptionBudget(t, res, name)
		assert.Equal(t, objects.Ptr(intstr.FromInt32(1)), pdb.Spec.MaxUnavailable, name)
		if typ == objects.StatefulSetType {
			assert.True(t, r.Protect, "%s protected in prod", name)
			assert.True(t, r.RetainOnDelete, "%s retained in prod", name)
		}
		require.NotEmpty(t, w.Template.Spec.Containers, name)
		assert.Regexp(t, `:v\d+\.\d+\.\d+$`, w.Template.Spec.Containers[0].Image, "%s pins its image", name)
	}
	meta := container(t, objects.Find(t, res, objects.DeploymentType, "metrics-meta"), "meta")
	assert.Equal(t, map[string]string{"cpu": "300m", "memory": "300Mi"}, objects.Quantities(meta.Resources.Requests))
	assert.Equal(t, map[string]string{"cpu": "1", "memory": "1Gi"}, objects.Quantities(meta.Resources.Limits))

	dev := runCluster(t, nil)
	preferred := antiAffinity(t, objects.Deployment(t, dev, "metrics-meta").Spec.Template.Spec, "metrics-meta").PreferredDuringSchedulingIgnoredDuringExecution
	require.NotEmpty(t, preferred, "preferred by default")
	assert.Equal(t, int32(100), preferred[0].Weight, "preferred by default")
}

// antiAffinity requires a pod spec's pod anti-affinity.
func antiAffinity(t *testing.T, pod corev1.PodSpec, name string) corev1.PodAntiAffinity {
	t.Helper()
	require.NotNil(t, pod.Affinity, "%s has no affinity", name)
	require.NotNil(t, pod.Affinity.PodAntiAffinity, "%s has no pod anti-affinity", name)
	return *pod.Affinity.PodAntiAffinity
}

// httpGet requires a container's probe to be an HTTP GET and returns its action.
func httpGet(t *testing.T, c corev1.Container, probe string) corev1.HTTPGetAction {
	t.Helper()
	p := objects.Probes(c)[probe]
	require.NotNil(t, p, "%s has no %s", c.Name, probe)
	require.NotNil(t, p.HTTPGet, "%s's %s is not an HTTP GET", c.Name, probe)
	return *p.HTTPGet
}

// assertConfigVolume: the config volume mounts the component's auto-named ConfigMap.
func assertConfigVolume(t *testing.T, res *mockrun.Result, w *mockrun.Resource, configMap string) {
	t.Helper()
	cm := objects.Find(t, res, objects.ConfigMapType, configMap)
	assert.Empty(t, objects.Meta(t, cm).Name, "%s is auto-named", configMap)
	config := objects.Volume(t, podSpec(t, w), "config")
	require.NotNil(t, config.ConfigMap, "%s's config volume is a ConfigMap", w.Name)
	assert.Equal(t, objects.StateMeta(t, cm).Name, config.ConfigMap.Name)
	assert.Contains(t, w.PropertyDependencies["spec"], cm.URN, "%s references the ConfigMap through its output", w.Name)
}

func assertHealthProbes(t *testing.T, c corev1.Container) {
	t.Helper()
	for probe, failures := range map[string]int32{"startupProbe": 60, "readinessProbe": 10, "livenessProbe": 10} {
		action := httpGet(t, c, probe)
		assert.Equal(t, "/health", action.Path, probe)
		assert.Equal(t, intstr.FromString("http"), action.Port, probe)
		p := objects.Probes(c)[probe]
		assert.Equal(t, int32(5), p.PeriodSeconds, probe)
		assert.Equal(t, failures, p.FailureThreshold, probe)
	}
}

func assertWaitsForMeta(t *testing.T, w *mockrun.Resource) {
	t.Helper()
	wait := initContainer(t, w, "wait-meta")
	assert.Equal(t, []string{"/bin/sh", "-c", greptimedb.WaitScript}, wait.Command)
	assert.Equal(t, "http://"+fqdn("metrics-meta")+":4000/health", objects.Env(t, wait)[greptimedb.EnvWaitURLs].Value)
}

// assertRestricted: the pod and every container pass Pod Security "restricted".
func assertRestricted(t *testing.T, w *mockrun.Resource, uid int64) {
	t.Helper()
	pod := podSpec(t, w)
	sc := pod.SecurityContext
	require.NotNil(t, sc, "%s has no pod security context", w.Name)
	assert.Equal(t, objects.Ptr(true), sc.RunAsNonRoot, w.Name)
	assert.Equal(t, objects.Ptr(uid), sc.RunAsUser, w.Name)
	assert.Equal(t, objects.Ptr(uid), sc.FSGroup, w.Name)
	require.NotNil(t, sc.SeccompProfile, "%s has no seccomp profile", w.Name)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type, w.Name)
	for _, c := range append(append([]corev1.Container(nil), pod.InitContainers...), pod.Containers...) {
		csc := c.SecurityContext
		require.NotNil(t, csc, "%s has no security context", c.Name)
		assert.Equal(t, objects.Ptr(false), csc.AllowPrivilegeEscalation, c.Name)
		assert.Equal(t, objects.Ptr(true), csc.ReadOnlyRootFilesystem, c.Name)
		require.NotNil(t, csc.Capabilities, "%s drops no capabilities", c.Name)
		assert.Equal(t, []corev1.Capability{"ALL"}, csc.Capabilities.Drop, c.Name)
		assert.NotEmpty(t, c.Resources.Limits, "%s has limits", c.Name)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestBackups: with backups on (as in the prod profile), an hourly CronJob saves
// etcd snapshots with etcdctl to a volume of its own (kept like the data: protected
// and retained) and rotates them, and a nightly CronJob exports each database to the
// S3 bucket with COPY DATABASE through the frontends, authenticated with the user
// file. The S3 keys go to the frontends' environment from the datanodes' Secret:
// never into the export's script, environment or SQL. The etcd members admit the
// snapshot pods; the frontends may reach the object store.
func TestBackups(t *testing.T) {
	res := objects.Run(t, config(t, []map[string]any{{"name": "metrics",
		"datanode": map[string]any{"objectStorage": map[string]any{"type": "S3", "bucket": "tsdb", "region": "eu-west-1",
			"accessKeyId": "AKIDBACKUP", "secretAccessKey": "SECRETBACKUP"}},
		"backup": map[string]any{
			"etcd":     map[string]any{"enabled": true, "schedule": "0 * * * *", "keep": 48},
			"database": map[string]any{"enabled": true, "schedule": "30 2 * * *", "databases": []any{"public", "metrics_db"}, "prefix": "backups/metrics"},
		},
	}}, map[string]string{"networkPolicy": `{"enabled": true}`, "dataSafety": `{"protect": true, "retainOnDelete": true}`}))

	etcdBackup := objects.Get[batchv1.CronJob](t, res, objects.CronJobType, "metrics-etcd-backup")
	assert.Equal(t, "0 * * * *", etcdBackup.Spec.Schedule)
	assert.Equal(t, batchv1.ForbidConcurrent, etcdBackup.Spec.ConcurrencyPolicy)
	pod := etcdBackup.Spec.JobTemplate.Spec.Template.Spec
	snapshot := objects.InitContainer(t, pod, "snapshot")
	assert.Equal(t, "quay.io/coreos/etcd:v3.5.21", snapshot.Image)
	assert.Equal(t, []string{"/usr/local/bin/etcdctl", "--endpoints=http://" + fqdn("metrics-etcd-client") + ":2379",
		"snapshot", "save", "/backup/.incoming.db"}, snapshot.Command)
	rotate := objects.Container(t, pod, "rotate")
	assert.Equal(t, []string{"/bin/sh", "-c", etcd.RotateScript}, rotate.Command)
	assert.Equal(t, "48", objects.Env(t, rotate)[etcd.EnvKeep].Value, "keeps 48 snapshots")
	claim := objects.Find(t, res, objects.PVCType, "metrics-etcd-backup")
	assert.True(t, claim.Protect, "the snapshots are protected like the data")
	assert.True(t, claim.RetainOnDelete)
	assert.Equal(t, "true", objects.Meta(t, claim).Annotations["pulumi.com/skipAwait"], "binds when the first backup runs")
	assert.Equal(t, "metrics-etcd-backup", objects.Volume(t, pod, "backup").PersistentVolumeClaim.ClaimName)

	export := objects.Get[batchv1.CronJob](t, res, objects.CronJobType, "metrics-backup")
	assert.Equal(t, "30 2 * * *", export.Spec.Schedule)
	pod = export.Spec.JobTemplate.Spec.Template.Spec
	c := objects.Container(t, pod, "export")
	assert.Equal(t, []string{"/bin/sh", "-c", greptimedb.DatabaseBackupScript}, c.Command, "no config value in the script")
	env := objects.Env(t, c)
	for name, want := range map[string]string{
		greptimedb.EnvBackupDatabases: "public metrics_db",
		greptimedb.EnvBackupBucket:    "tsdb",
		greptimedb.EnvBackupPrefix:    "backups/metrics",
		greptimedb.EnvBackupRegion:    "eu-west-1",
		greptimedb.EnvFrontendHost:    fqdn("metrics-frontend"),
		greptimedb.EnvFrontendPort:    "4000",
		greptimedb.EnvUsersFile:       greptimedb.AuthFile,
	} {
		assert.Equal(t, want, env[name].Value, name)
	}
	for _, e := range env {
		assert.Nil(t, e.ValueFrom, "the export holds no secret in its environment: %s", e.Name)
	}
	frontend := objects.Container(t, objects.PodTemplate(t, objects.Find(t, res, objects.DeploymentType, "metrics-frontend")).Spec, "frontend")
	fenv := objects.Env(t, frontend)
	assert.Equal(t, "access-key-id", objects.SecretKeyRef(t, fenv[greptimedb.EnvAWSAccessKeyID]).Key, "COPY reads the keys from the frontends' environment")
	assert.Equal(t, "secret-access-key", objects.SecretKeyRef(t, fenv[greptimedb.EnvAWSSecretAccessKey]).Key)
	assert.Equal(t, greptimedb.AuthDir, objects.MountsByPath(c)[greptimedb.AuthDir].MountPath)
	assert.NotNil(t, objects.Volume(t, pod, "auth").Secret, "the frontends' user file")

	etcdPolicy := objects.NetworkPolicy(t, res, "metrics-etcd")
	assert.Contains(t, ingressRules(t, etcdPolicy), rule{pods: []map[string]string{selector("etcd", "backup"), selector("greptimedb", "meta")}, ports: []int32{2379}})
	frontendPolicy := objects.NetworkPolicy(t, res, "metrics-frontend")
	assert.Contains(t, egressRules(t, frontendPolicy), rule{ports: []int32{443}}, "COPY DATABASE writes to S3 from the frontends")

	for name, tc := range map[string]struct {
		cluster map[string]any
		key     string
	}{
		"etcd snapshots of an external etcd": {map[string]any{
			"etcd":   map[string]any{"endpoints": []any{"etcd.example.svc:2379"}},
			"backup": map[string]any{"etcd": map[string]any{"enabled": true}}}, "greptimedb[0].backup.etcd.enabled"},
		"database exports without S3": {map[string]any{
			"backup": map[string]any{"database": map[string]any{"enabled": true}}}, "greptimedb[0].backup.database.enabled"},
		"a schedule that is not cron": {map[string]any{
			"backup": map[string]any{"etcd": map[string]any{"enabled": true, "schedule": "hourly"}}}, "greptimedb[0].backup.etcd.schedule"},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, []string{tc.key}, rejected(t, tc.cluster).Keys())
		})
	}
}
