package greptimedb_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tsdb-platform/components/etcd"
	"tsdb-platform/components/greptimedb"
	"tsdb-platform/components/kube"
	"tsdb-platform/internal/mockrun"
)

// TestClusterResourcesAndParents: one cluster registers every expected object,
// each of the right kind, under the right component, through the stack's provider.
func TestClusterResourcesAndParents(t *testing.T) {
	res := runCluster(t, nil)
	cluster := find(t, res, tCluster, "metrics")

	components := map[string]string{
		"metrics-etcd":     tEtcd,
		"metrics-meta":     tMeta,
		"metrics-datanode": tDatanode,
		"metrics-frontend": tFrontend,
	}
	for name, typ := range components {
		assert.Equal(t, cluster.URN, find(t, res, typ, name).Parent, "%s parent", name)
	}
	children := []struct{ typ, name, parent, parentType string }{
		{tStatefulSet, "metrics-etcd", "metrics-etcd", tEtcd},
		{tService, "metrics-etcd-peer", "metrics-etcd", tEtcd},
		{tService, "metrics-etcd-client", "metrics-etcd", tEtcd},
		{tConfigMap, "metrics-meta-config", "metrics-meta", tMeta},
		{tService, "metrics-meta", "metrics-meta", tMeta},
		{tDeployment, "metrics-meta", "metrics-meta", tMeta},
		{tConfigMap, "metrics-datanode-config", "metrics-datanode", tDatanode},
		{tService, "metrics-datanode", "metrics-datanode", tDatanode},
		{tStatefulSet, "metrics-datanode", "metrics-datanode", tDatanode},
		{tConfigMap, "metrics-frontend-config", "metrics-frontend", tFrontend},
		{tPassword, "metrics-frontend-password", "metrics-frontend", tFrontend},
		{tSecret, "metrics-frontend-auth", "metrics-frontend", tFrontend},
		{tService, "metrics-frontend", "metrics-frontend", tFrontend},
		{tDeployment, "metrics-frontend", "metrics-frontend", tFrontend},
	}
	for _, c := range children {
		r := find(t, res, c.typ, c.name)
		assert.Equal(t, find(t, res, c.parentType, c.parent).URN, r.Parent, "%s %s parent", c.typ, c.name)
		if r.IsKubernetes() {
			assert.NotEmpty(t, r.Provider, "%s %s uses the stack's explicit provider", c.typ, c.name)
			assert.Equal(t, namespace, get(r, "metadata.namespace"), "%s %s namespace", c.typ, c.name)
		}
	}
	// A dev cluster has one of everything: no PDBs, no network policies.
	assert.Empty(t, res.OfType(tPDB))
	assert.Empty(t, res.OfType(tNetPol))
	assert.Len(t, res.Descendants(cluster.URN), len(components)+len(children))
}

// TestEtcdManifest: the etcd StatefulSet, its Services and its pod, exactly.
func TestEtcdManifest(t *testing.T) {
	res := runCluster(t, nil)
	sts := find(t, res, tStatefulSet, "metrics-etcd")

	assert.Equal(t, "metrics-etcd", get(sts, "metadata.name"))
	assert.Equal(t, "Parallel", get(sts, "spec.podManagementPolicy"))
	assert.Equal(t, "metrics-etcd-peer", get(sts, "spec.serviceName"))
	assert.Equal(t, float64(1), get(sts, "spec.replicas"))
	assert.Equal(t, map[string]any{"whenDeleted": "Retain", "whenScaled": "Retain"}, get(sts, "spec.persistentVolumeClaimRetentionPolicy"))
	assert.Equal(t, []string{"spec.volumeClaimTemplates"}, sts.IgnoreChanges)
	assert.Equal(t, "data", get(sts, "spec.volumeClaimTemplates[0].metadata.name"))
	assert.Equal(t, "1Gi", get(sts, "spec.volumeClaimTemplates[0].spec.resources.requests.storage"))
	assert.Equal(t, []any{"ReadWriteOnce"}, get(sts, "spec.volumeClaimTemplates[0].spec.accessModes"))

	c := container(t, sts, "containers", "etcd")
	assert.Equal(t, "quay.io/coreos/etcd:v3.5.21", c["image"])
	assert.Equal(t, []string{"/usr/local/bin/etcd"}, strs(c["command"]))
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
	}, strs(c["args"]))
	assert.Equal(t, map[string]float64{"client": 2379, "peer": 2380, "metrics": 8080}, namedPorts(c["ports"], "containerPort"))
	env := envByName(c)
	assert.Equal(t, "metadata.name", mockrun.Get(env["POD_NAME"], "valueFrom.fieldRef.fieldPath"))
	assert.Equal(t, "metadata.namespace", mockrun.Get(env["POD_NAMESPACE"], "valueFrom.fieldRef.fieldPath"))
	assert.Equal(t, map[string]string{"data": "/var/run/etcd"}, mounts(c))
	for probe, path := range map[string]string{"startupProbe": "/livez", "readinessProbe": "/readyz", "livenessProbe": "/livez"} {
		assert.Equal(t, path, mockrun.Get(c, probe+".httpGet.path"), probe)
		assert.Equal(t, "metrics", mockrun.Get(c, probe+".httpGet.port"), probe)
	}
	assert.Equal(t, map[string]any{"cpu": "100m", "memory": "128Mi"}, mockrun.Get(c, "resources.requests"))
	assert.Equal(t, map[string]any{"cpu": "500m", "memory": "512Mi"}, mockrun.Get(c, "resources.limits"))
	assertRestricted(t, sts, float64(etcd.UID))

	peer := find(t, res, tService, "metrics-etcd-peer")
	assert.Equal(t, "None", get(peer, "spec.clusterIP"))
	assert.Equal(t, true, get(peer, "spec.publishNotReadyAddresses"))
	assert.Equal(t, map[string]float64{"client": 2379, "peer": 2380}, namedPorts(get(peer, "spec.ports"), "port"))
	client := find(t, res, tService, "metrics-etcd-client")
	assert.Equal(t, "ClusterIP", get(client, "spec.type"))
	assert.Equal(t, map[string]float64{"client": 2379}, namedPorts(get(client, "spec.ports"), "port"))
	for _, svc := range []*mockrun.Resource{peer, client} {
		assert.Equal(t, get(sts, "spec.selector.matchLabels"), get(svc, "spec.selector"), svc.Name)
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
			sts := find(t, res, tStatefulSet, "metrics-etcd")
			assert.Equal(t, float64(n), get(sts, "spec.replicas"))
			var members []string
			for i := 0; i < n; i++ {
				members = append(members, peer(i))
			}
			args := strs(container(t, sts, "containers", "etcd")["args"])
			assert.Contains(t, args, "--initial-cluster="+strings.Join(members, ","))
			assert.Contains(t, args, "--initial-cluster-state=new")
			assert.Equal(t, args, etcd.Args("metrics-etcd", n, "cluster.local", "tsdb-platform-test-metrics-etcd"))

			pdb := res.Find(tPDB, "metrics-etcd")
			if n == 1 {
				assert.Nil(t, pdb, "a single member needs no PDB")
				return
			}
			require.NotNil(t, pdb)
			assert.Equal(t, float64(1), get(pdb, "spec.maxUnavailable"))
			assert.Equal(t, get(sts, "spec.selector.matchLabels"), get(pdb, "spec.selector.matchLabels"))
		})
	}
}

// TestMetaManifest: meta's config, command line, ports, probes and init container.
func TestMetaManifest(t *testing.T) {
	res := runCluster(t, nil)
	cfg := tomlConfig(t, find(t, res, tConfigMap, "metrics-meta-config"))
	assert.Equal(t, "etcd_store", cfg["backend"])
	assert.Equal(t, []any{fqdn("metrics-etcd-client") + ":2379"}, cfg["store_addrs"])
	assert.Equal(t, "metrics", cfg["store_key_prefix"])
	assert.Equal(t, false, cfg["enable_region_failover"])
	assert.Equal(t, "/data/greptimedb", cfg["data_home"])

	dep := find(t, res, tDeployment, "metrics-meta")
	assert.Equal(t, "metrics-meta", get(dep, "metadata.name"))
	assert.Equal(t, float64(1), get(dep, "spec.replicas"))
	c := container(t, dep, "containers", "meta")
	assert.Equal(t, "greptime/greptimedb:v1.1.4", c["image"])
	assert.Nil(t, c["command"], "the image's entrypoint runs greptime")
	assert.Equal(t, []string{
		"metasrv", "start",
		"--rpc-bind-addr", "0.0.0.0:3002",
		"--rpc-server-addr", "$(POD_IP):3002",
		"--http-addr", "0.0.0.0:4000",
		"--config-file", "/etc/greptimedb/config/config.toml",
	}, strs(c["args"]))
	assert.Equal(t, map[string]float64{"rpc": 3002, "http": 4000}, namedPorts(c["ports"], "containerPort"))
	assert.Equal(t, "status.podIP", mockrun.Get(envByName(c)["POD_IP"], "valueFrom.fieldRef.fieldPath"))
	assertHealthProbes(t, c)
	assert.Equal(t, map[string]string{"config": "/etc/greptimedb/config", "tmp": "/tmp", "data": "/data/greptimedb"}, mounts(c))
	assertConfigVolume(t, res, dep, "metrics-meta-config")

	wait := container(t, dep, "initContainers", "wait-etcd")
	assert.Equal(t, "busybox:1.37.0", wait["image"])
	assert.Equal(t, []string{"/bin/sh", "-c",
		"until wget -q -T 2 -O /dev/null http://" + fqdn("metrics-etcd-client") + ":2379/health; do echo waiting for etcd; sleep 2; done",
	}, strs(wait["command"]))
	assertRestricted(t, dep, float64(greptimedb.UID))

	svc := find(t, res, tService, "metrics-meta")
	assert.Equal(t, "ClusterIP", get(svc, "spec.type"))
	assert.Equal(t, map[string]float64{"rpc": 3002, "http": 4000}, namedPorts(get(svc, "spec.ports"), "port"))
	assert.Equal(t, get(dep, "spec.selector.matchLabels"), get(svc, "spec.selector"))
}

// TestMetaWithExternalEtcd: external endpoints deploy no etcd; meta stores in
// them and its init container waits for any of them.
func TestMetaWithExternalEtcd(t *testing.T) {
	eps := []any{"etcd-0.etcd.platform.svc:2379", "etcd-1.etcd.platform.svc:2379"}
	res := runCluster(t, map[string]any{"etcd": map[string]any{"endpoints": eps}})
	assert.Nil(t, res.Find(tEtcd, "metrics-etcd"))
	assert.Nil(t, res.Find(tStatefulSet, "metrics-etcd"))
	cfg := tomlConfig(t, find(t, res, tConfigMap, "metrics-meta-config"))
	assert.Equal(t, eps, cfg["store_addrs"])

	dep := find(t, res, tDeployment, "metrics-meta")
	wait := container(t, dep, "initContainers", "wait-etcd")
	assert.Equal(t, "until wget -q -T 2 -O /dev/null http://etcd-0.etcd.platform.svc:2379/health || "+
		"wget -q -T 2 -O /dev/null http://etcd-1.etcd.platform.svc:2379/health; do echo waiting for etcd; sleep 2; done",
		strs(wait["command"])[2])
	assert.Empty(t, hasKind(res, res.DependsOn(dep), tStatefulSet, tDeployment), "meta waits for no workload")
}

// TestDatanodeManifest: the datanode StatefulSet, headless Service, PVC, node id
// from the ordinal, meta address and File storage config.
func TestDatanodeManifest(t *testing.T) {
	res := runCluster(t, map[string]any{"datanode": map[string]any{"replicas": 2}})
	svc := find(t, res, tService, "metrics-datanode")
	assert.Equal(t, "None", get(svc, "spec.clusterIP"))
	assert.Equal(t, map[string]float64{"rpc": 4001, "http": 4000}, namedPorts(get(svc, "spec.ports"), "port"))

	sts := find(t, res, tStatefulSet, "metrics-datanode")
	assert.Equal(t, "metrics-datanode", get(sts, "spec.serviceName"))
	assert.Equal(t, float64(2), get(sts, "spec.replicas"))
	assert.Equal(t, map[string]any{"whenDeleted": "Retain", "whenScaled": "Retain"}, get(sts, "spec.persistentVolumeClaimRetentionPolicy"))
	assert.Equal(t, []string{"spec.volumeClaimTemplates"}, sts.IgnoreChanges)
	assert.Equal(t, "data", get(sts, "spec.volumeClaimTemplates[0].metadata.name"))
	assert.Equal(t, "5Gi", get(sts, "spec.volumeClaimTemplates[0].spec.resources.requests.storage"))

	c := container(t, sts, "containers", "datanode")
	assert.Equal(t, []string{"/bin/sh", "-c",
		"exec greptime datanode start --node-id ${POD_NAME##*-}" +
			" --metasrv-addrs " + fqdn("metrics-meta") + ":3002" +
			" --rpc-bind-addr 0.0.0.0:4001 --rpc-server-addr ${POD_IP}:4001" +
			" --http-addr 0.0.0.0:4000 --config-file /etc/greptimedb/config/config.toml",
	}, strs(c["command"]))
	assert.Equal(t, map[string]float64{"rpc": 4001, "http": 4000}, namedPorts(c["ports"], "containerPort"))
	assert.Equal(t, []string{"POD_IP", "POD_NAME", "POD_NAMESPACE"}, sortedKeys(envByName(c)), "no credentials with File storage")
	assertHealthProbes(t, c)
	assert.Equal(t, map[string]string{"config": "/etc/greptimedb/config", "tmp": "/tmp", "data": "/data/greptimedb"}, mounts(c))
	assertConfigVolume(t, res, sts, "metrics-datanode-config")
	assertWaitsForMeta(t, sts)
	assertRestricted(t, sts, float64(greptimedb.UID))
	assert.Nil(t, annotation(sts, greptimedb.SecretChecksumAnnotation))

	cfg := tomlConfig(t, find(t, res, tConfigMap, "metrics-datanode-config"))
	assert.Equal(t, map[string]any{"type": "File", "data_home": "/data/greptimedb"}, cfg["storage"])
	assert.Equal(t, map[string]any{"provider": "raft_engine", "dir": "/data/greptimedb/wal"}, cfg["wal"])

	pdb := find(t, res, tPDB, "metrics-datanode")
	assert.Equal(t, float64(1), get(pdb, "spec.maxUnavailable"))
}

// TestLogging: one level and format for every GreptimeDB component, and a change rolls
// each component's pods through its config checksum.
func TestLogging(t *testing.T) {
	def := runCluster(t, nil)
	debug := runCluster(t, map[string]any{"logging": map[string]any{"level": "debug", "format": "json"}})
	for _, c := range []struct{ configMap, workload, kind string }{
		{"metrics-meta-config", "metrics-meta", tDeployment},
		{"metrics-datanode-config", "metrics-datanode", tStatefulSet},
		{"metrics-frontend-config", "metrics-frontend", tDeployment},
	} {
		assert.Equal(t, map[string]any{"dir": "/data/greptimedb/logs", "level": "info", "log_format": "text"},
			tomlConfig(t, find(t, def, tConfigMap, c.configMap))["logging"], "%s default", c.configMap)
		assert.Equal(t, map[string]any{"dir": "/data/greptimedb/logs", "level": "debug", "log_format": "json"},
			tomlConfig(t, find(t, debug, tConfigMap, c.configMap))["logging"], c.configMap)
		assert.NotEqual(t, annotation(find(t, def, c.kind, c.workload), kube.ChecksumAnnotation),
			annotation(find(t, debug, c.kind, c.workload), kube.ChecksumAnnotation), "%s pods roll", c.workload)
	}
}

// TestKafkaWAL: with the kafka WAL, datanodes write ahead to the brokers instead of
// their volume, and metasrv knows the brokers too (it must, in v1.1.4).
func TestKafkaWAL(t *testing.T) {
	brokers := []any{"kafka-0.kafka:9092", "kafka-1.kafka:9092"}
	res := runCluster(t, map[string]any{"wal": map[string]any{"provider": "kafka", "brokerEndpoints": brokers}})
	assert.Equal(t, map[string]any{"provider": "kafka", "broker_endpoints": brokers},
		tomlConfig(t, find(t, res, tConfigMap, "metrics-datanode-config"))["wal"])
	assert.Equal(t, map[string]any{"provider": "kafka", "broker_endpoints": brokers},
		tomlConfig(t, find(t, res, tConfigMap, "metrics-meta-config"))["wal"])

	local := runCluster(t, nil)
	assert.NotContains(t, tomlConfig(t, find(t, local, tConfigMap, "metrics-meta-config")), "wal",
		"metasrv has no [wal] with the local WAL")
}

// TestDatanodeS3: S3 storage is configured in TOML without credentials; the
// credentials reach the pod only as env from a Secret.
func TestDatanodeS3(t *testing.T) {
	res := runCluster(t, map[string]any{"datanode": map[string]any{"objectStorage": map[string]any{
		"type": "S3", "bucket": "tsdb", "root": "gt/metrics", "region": "eu-west-1",
		"endpoint": "https://s3.eu-west-1.amazonaws.com", "accessKeyId": "AKIDTEST", "secretAccessKey": "SECRETTEST",
	}}})
	cfg := tomlConfig(t, find(t, res, tConfigMap, "metrics-datanode-config"))
	assert.Equal(t, map[string]any{
		"type": "S3", "data_home": "/data/greptimedb", "bucket": "tsdb", "root": "gt/metrics",
		"region": "eu-west-1", "endpoint": "https://s3.eu-west-1.amazonaws.com",
	}, cfg["storage"])

	secret := find(t, res, tSecret, "metrics-datanode-object-storage")
	assert.Equal(t, map[string]any{"access-key-id": "AKIDTEST", "secret-access-key": "SECRETTEST"}, get(secret, "stringData"))
	assert.True(t, mockrun.IsSecretAt(secret.Inputs, "stringData"))
	secretName := get(secret, "metadata.name")
	if secretName == nil {
		secretName = mockrun.Get(mockrun.Plain(secret.State), "metadata.name")
	}

	sts := find(t, res, tStatefulSet, "metrics-datanode")
	env := envByName(container(t, sts, "containers", "datanode"))
	for name, key := range map[string]string{
		"GREPTIMEDB_DATANODE__STORAGE__ACCESS_KEY_ID":     "access-key-id",
		"GREPTIMEDB_DATANODE__STORAGE__SECRET_ACCESS_KEY": "secret-access-key",
	} {
		require.Contains(t, env, name)
		assert.Nil(t, env[name]["value"], "%s has no literal value", name)
		assert.Equal(t, key, mockrun.Get(env[name], "valueFrom.secretKeyRef.key"))
		assert.Equal(t, secretName, mockrun.Get(env[name], "valueFrom.secretKeyRef.name"))
	}
	assert.NotNil(t, annotation(sts, greptimedb.SecretChecksumAnnotation))
	assert.True(t, mockrun.IsSecretAt(sts.Inputs, "spec.template.metadata.annotations.checksum/secret"))
}

// TestFrontendManifest: command line, Service ports and type, authentication.
func TestFrontendManifest(t *testing.T) {
	res := runCluster(t, nil)
	dep := find(t, res, tDeployment, "metrics-frontend")
	c := container(t, dep, "containers", "frontend")
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
	}, strs(c["args"]))
	ports := map[string]float64{"http": 4000, "grpc": 4001, "mysql": 4002, "postgres": 4003}
	assert.Equal(t, ports, namedPorts(c["ports"], "containerPort"))
	assertHealthProbes(t, c)
	assert.Equal(t, map[string]string{
		"config": "/etc/greptimedb/config", "tmp": "/tmp", "data": "/data/greptimedb", "auth": "/etc/greptimedb/auth",
	}, mounts(c))
	for _, m := range c["volumeMounts"].([]any) {
		mm := m.(map[string]any)
		if mm["name"] == "auth" || mm["name"] == "config" {
			assert.Equal(t, true, mm["readOnly"], "%s mounted read-only", mm["name"])
		}
	}
	authSecret := find(t, res, tSecret, "metrics-frontend-auth")
	assert.Equal(t, mockrun.Get(mockrun.Plain(authSecret.State), "metadata.name"), volume(t, dep, "auth")["secret"].(map[string]any)["secretName"])
	assertWaitsForMeta(t, dep)
	assertRestricted(t, dep, float64(greptimedb.UID))

	svc := find(t, res, tService, "metrics-frontend")
	assert.Equal(t, "ClusterIP", get(svc, "spec.type"))
	assert.Equal(t, ports, namedPorts(get(svc, "spec.ports"), "port"))

	t.Run("service type on request", func(t *testing.T) {
		for _, typ := range []string{"LoadBalancer", "NodePort"} {
			res := runCluster(t, map[string]any{"frontend": map[string]any{"serviceType": typ}})
			assert.Equal(t, typ, get(find(t, res, tService, "metrics-frontend"), "spec.type"))
		}
	})
	t.Run("load balancer: not awaited by default, its address exported", func(t *testing.T) {
		res := runCluster(t, map[string]any{"frontend": map[string]any{"serviceType": "LoadBalancer"}})
		svc := find(t, res, tService, "metrics-frontend")
		assert.Equal(t, map[string]any{"pulumi.com/skipAwait": "true"}, get(svc, "metadata.annotations"),
			"a cluster without a load-balancer controller must not hold the deploy")
		e, ok := res.Export("greptimedb.metrics.externalAddress")
		require.True(t, ok, "a LoadBalancer frontend exports its external address")
		assert.Equal(t, "", e.Value, "no address until the controller assigns one")
	})
	t.Run("load balancer: bounded wait for the address", func(t *testing.T) {
		res := runCluster(t, map[string]any{"frontend": map[string]any{
			"serviceType": "LoadBalancer", "loadBalancer": map[string]any{"waitForAddress": true, "timeoutSeconds": 120},
		}})
		svc := find(t, res, tService, "metrics-frontend")
		assert.Equal(t, map[string]any{"pulumi.com/timeoutSeconds": "120"}, get(svc, "metadata.annotations"))
	})
	t.Run("ClusterIP: awaited as usual, no external address", func(t *testing.T) {
		assert.Nil(t, get(svc, "metadata.annotations"))
		_, ok := res.Export("greptimedb.metrics.externalAddress")
		assert.False(t, ok)
	})
	t.Run("auth off", func(t *testing.T) {
		res := runCluster(t, map[string]any{"frontend": map[string]any{"auth": map[string]any{"enabled": false}}})
		assert.Empty(t, res.OfType(tSecret))
		assert.Empty(t, res.OfType(tPassword))
		args := strs(container(t, find(t, res, tDeployment, "metrics-frontend"), "containers", "frontend")["args"])
		for _, a := range args {
			assert.NotContains(t, a, "--user-provider")
		}
	})
	t.Run("username configurable", func(t *testing.T) {
		res := runCluster(t, map[string]any{"frontend": map[string]any{"auth": map[string]any{"username": "grafana"}}})
		pw := mockrun.TestSecret("metrics-frontend-password", greptimedb.PasswordLength)
		assert.Equal(t, "grafana="+pw+"\n", get(find(t, res, tSecret, "metrics-frontend-auth"), "stringData.passwd"))
		e, _ := res.Export("greptimedb.metrics.username")
		assert.Equal(t, "grafana", e.Value)
	})
}

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
	res := run(t, config(t, []map[string]any{{"name": "metrics",
		"meta": map[string]any{"resources": map[string]any{"requests": map[string]any{"cpu": "300m", "memory": "300Mi"}}}}},
		map[string]string{"profile": "prod"}))
	workloads := map[string]string{
		"metrics-etcd": tStatefulSet, "metrics-meta": tDeployment,
		"metrics-datanode": tStatefulSet, "metrics-frontend": tDeployment,
	}
	for name, typ := range workloads {
		w := find(t, res, typ, name)
		component := strings.TrimPrefix(name, "metrics-")
		app := "greptimedb"
		if component == "etcd" {
			app = "etcd"
		}
		labels := map[string]any{
			"app.kubernetes.io/name": app, "app.kubernetes.io/instance": "metrics", "app.kubernetes.io/component": component,
			"app.kubernetes.io/part-of": "tsdb-platform", "app.kubernetes.io/managed-by": "pulumi",
		}
		assert.Equal(t, labels, get(w, "metadata.labels"), name)
		assert.Equal(t, labels, get(w, "spec.template.metadata.labels"), name)
		assert.Equal(t, float64(3), get(w, "spec.replicas"), name)
		assert.Equal(t, "kubernetes.io/hostname",
			get(w, "spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey"), name)
		assert.Equal(t, get(w, "spec.selector.matchLabels"),
			get(w, "spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchLabels"), name)
		pdb := find(t, res, tPDB, name)
		assert.Equal(t, float64(1), get(pdb, "spec.maxUnavailable"), name)
		if typ == tStatefulSet {
			assert.True(t, w.Protect, "%s protected in prod", name)
			assert.True(t, w.RetainOnDelete, "%s retained in prod", name)
		}
		image, _ := get(w, "spec.template.spec.containers[0].image").(string)
		assert.Regexp(t, `:v\d+\.\d+\.\d+$`, image, "%s pins its image", name)
	}
	meta := container(t, find(t, res, tDeployment, "metrics-meta"), "containers", "meta")
	assert.Equal(t, map[string]any{"cpu": "300m", "memory": "300Mi"}, mockrun.Get(meta, "resources.requests"))
	assert.Equal(t, map[string]any{"cpu": "1", "memory": "1Gi"}, mockrun.Get(meta, "resources.limits"))

	dev := runCluster(t, nil)
	assert.Equal(t, float64(100), get(find(t, dev, tDeployment, "metrics-meta"),
		"spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight"), "preferred by default")
}

func volume(t *testing.T, w *mockrun.Resource, name string) map[string]any {
	t.Helper()
	vs, _ := podSpec(t, w)["volumes"].([]any)
	for _, v := range vs {
		if m := v.(map[string]any); m["name"] == name {
			return m
		}
	}
	require.Failf(t, "no volume", "%s has no volume %q", w.Name, name)
	return nil
}

// assertConfigVolume: the config volume mounts the component's auto-named ConfigMap.
func assertConfigVolume(t *testing.T, res *mockrun.Result, w *mockrun.Resource, configMap string) {
	t.Helper()
	cm := find(t, res, tConfigMap, configMap)
	assert.Nil(t, get(cm, "metadata.name"), "%s is auto-named", configMap)
	name := mockrun.Get(mockrun.Plain(cm.State), "metadata.name")
	assert.Equal(t, name, volume(t, w, "config")["configMap"].(map[string]any)["name"])
	assert.Contains(t, w.PropertyDependencies["spec"], cm.URN, "%s references the ConfigMap through its output", w.Name)
}

func assertHealthProbes(t *testing.T, c map[string]any) {
	t.Helper()
	for probe, failures := range map[string]float64{"startupProbe": 60, "readinessProbe": 10, "livenessProbe": 10} {
		assert.Equal(t, "/health", mockrun.Get(c, probe+".httpGet.path"), probe)
		assert.Equal(t, "http", mockrun.Get(c, probe+".httpGet.port"), probe)
		assert.Equal(t, float64(5), mockrun.Get(c, probe+".periodSeconds"), probe)
		assert.Equal(t, failures, mockrun.Get(c, probe+".failureThreshold"), probe)
	}
}

func assertWaitsForMeta(t *testing.T, w *mockrun.Resource) {
	t.Helper()
	wait := container(t, w, "initContainers", "wait-meta")
	assert.Equal(t, []string{"/bin/sh", "-c",
		"until wget -q -T 2 -O /dev/null http://" + fqdn("metrics-meta") + ":4000/health; do echo waiting for meta; sleep 2; done",
	}, strs(wait["command"]))
}

// assertRestricted: the pod and every container pass Pod Security "restricted".
func assertRestricted(t *testing.T, w *mockrun.Resource, uid float64) {
	t.Helper()
	pod := podSpec(t, w)
	assert.Equal(t, true, mockrun.Get(pod, "securityContext.runAsNonRoot"), w.Name)
	assert.Equal(t, uid, mockrun.Get(pod, "securityContext.runAsUser"), w.Name)
	assert.Equal(t, uid, mockrun.Get(pod, "securityContext.fsGroup"), w.Name)
	assert.Equal(t, "RuntimeDefault", mockrun.Get(pod, "securityContext.seccompProfile.type"), w.Name)
	for _, list := range []string{"initContainers", "containers"} {
		cs, _ := pod[list].([]any)
		for _, c := range cs {
			m := c.(map[string]any)
			assert.Equal(t, false, mockrun.Get(m, "securityContext.allowPrivilegeEscalation"), m["name"])
			assert.Equal(t, true, mockrun.Get(m, "securityContext.readOnlyRootFilesystem"), m["name"])
			assert.Equal(t, []any{"ALL"}, mockrun.Get(m, "securityContext.capabilities.drop"), m["name"])
			assert.NotNil(t, mockrun.Get(m, "resources.limits"), "%s has limits", m["name"])
		}
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
