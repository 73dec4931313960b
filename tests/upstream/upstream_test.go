package upstream_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
	"tsdb-platform/tests/manifests"
	"tsdb-platform/tests/objects"
	"tsdb-platform/tests/upstream"
)

func lists(t *testing.T) *upstream.Lists {
	t.Helper()
	root, err := mockrun.RepoRoot()
	require.NoError(t, err)
	l, err := upstream.Load(root)
	require.NoError(t, err)
	return l
}

// TestEveryStackWritesOnlyUpstreamKeys renders every committed stack and the
// all-features stack under mocks, and checks every GreptimeDB config key
// (ConfigMaps and GREPTIMEDB_* variables), every command-line flag of greptime,
// etcd, etcdctl and the QuasarDB exporter, every ETCD_*/ETCDCTL_* variable and
// every QDB_*/K8S_* variable of the QuasarDB image's entrypoint
// against the lists read from the upstream source at the pinned versions
// (tests/testdata/upstream). Each list must have been consulted, so that a
// check cannot pass by finding nothing.
func TestEveryStackWritesOnlyUpstreamKeys(t *testing.T) {
	l := lists(t)
	stacks, err := mockrun.AllStacks()
	require.NoError(t, err)
	checker := upstream.NewChecker(l)
	for _, sc := range stacks {
		res, _, err := mockrun.RunStackFile(sc.Path, sc.Name, false)
		require.NoError(t, err, sc.Name)
		objs, err := manifests.Objects(res)
		require.NoError(t, err, sc.Name)
		for _, p := range checker.Check(sc.Name, objs) {
			t.Error(p)
		}
	}
	t.Logf("checked against each list: %v", checker.Checked)
	for _, kl := range l.Keys {
		assert.NotZero(t, checker.Checked[kl.File], "no key of any stack was checked against %s", kl.File)
	}
	for _, fl := range l.Flags {
		assert.NotZero(t, checker.Checked[fl.File], "no flag of any stack was checked against %s", fl.File)
	}
	assert.NotZero(t, checker.Checked[l.QDBEnv.File], "no QuasarDB variable of any stack was checked against %s", l.QDBEnv.File)
}

// object is a Kubernetes object for the checker's own tests.
func object(kind, name string, labels map[string]any, rest map[string]any) manifests.Object {
	body := map[string]any{
		"apiVersion": "v1", "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": "ns", "labels": labels},
	}
	for k, v := range rest {
		body[k] = v
	}
	return manifests.Object{Body: &unstructured.Unstructured{Object: body}}
}

func greptimeConfigMap(component, config string) manifests.Object {
	return object("ConfigMap", "c-"+component+"-config",
		map[string]any{"app.kubernetes.io/name": "greptimedb", "app.kubernetes.io/component": component},
		map[string]any{"data": map[string]any{"config.toml": config}})
}

func workload(configMap string, containers ...map[string]any) manifests.Object {
	cs := make([]any, len(containers))
	for i, c := range containers {
		cs[i] = c
	}
	pod := map[string]any{"containers": cs}
	if configMap != "" {
		pod["volumes"] = []any{map[string]any{"name": "config", "configMap": map[string]any{"name": configMap}}}
	}
	return object("StatefulSet", "w", nil, map[string]any{"spec": map[string]any{"template": map[string]any{"spec": pod}}})
}

func strs(s ...string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// TestCheckerFindsWhatUpstreamIgnores: each kind of mistake the check exists
// for is reported, naming the stack, the object, the key or flag and the list.
func TestCheckerFindsWhatUpstreamIgnores(t *testing.T) {
	datanode := "data-home-is-under-storage = 1\n[storage]\ntype = 'Gcs'\nbucket = 'b'\nregion = 'r'\n[wal]\nprovider = 'kafka'\ndir = '/wal'\n"
	greptime := "greptime/greptimedb:v1.1.4"
	etcdImage := "quay.io/coreos/etcd:v3.5.21"
	cases := map[string]struct {
		objs []manifests.Object
		want []string
	}{
		"unknown config key": {
			[]manifests.Object{greptimeConfigMap("datanode", datanode)},
			[]string{`stack s: ConfigMap ns/c-datanode-config: config.toml key "data-home-is-under-storage" is not in tests/testdata/upstream/greptimedb-v1.1.4-datanode.keys`},
		},
		"key of another storage type or WAL provider": {
			[]manifests.Object{greptimeConfigMap("datanode", datanode)},
			[]string{
				`config.toml key "storage.region" applies only when storage.type is S3 (here "Gcs")`,
				`config.toml key "wal.dir" applies only when wal.provider is raft_engine (here "kafka")`,
			},
		},
		"unknown flag in a shell script": {
			[]manifests.Object{workload("", map[string]any{"name": "datanode", "image": greptime,
				"command": strs("/bin/sh", "-c", "exec greptime datanode start --node-id ${POD_NAME##*-} --rpc-bind-adr 0.0.0.0:4001")})},
			[]string{`stack s: StatefulSet ns/w: container datanode: greptime flag --rpc-bind-adr is not in tests/testdata/upstream/greptimedb-v1.1.4.flags [datanode start or global]`},
		},
		"flag of another subcommand": {
			[]manifests.Object{workload("", map[string]any{"name": "meta", "image": greptime, "args": strs("metasrv", "start", "--metasrv-addrs", "x:3002")})},
			[]string{`greptime flag --metasrv-addrs is not in tests/testdata/upstream/greptimedb-v1.1.4.flags [metasrv start or global]`},
		},
		"env var of an unknown key, and of a key of another storage type": {
			[]manifests.Object{greptimeConfigMap("datanode", "[storage]\ntype = 'Oss'\n"), workload("c-datanode-config", map[string]any{
				"name": "datanode", "image": greptime, "args": strs("datanode", "start"),
				"env": []any{
					map[string]any{"name": "GREPTIMEDB_DATANODE__STORAGE__SECRET_KEY", "value": "x"},
					map[string]any{"name": "GREPTIMEDB_DATANODE__STORAGE__SECRET_ACCESS_KEY", "value": "x"},
				},
			})},
			[]string{
				`environment variable GREPTIMEDB_DATANODE__STORAGE__SECRET_KEY (key "storage.secret_key") is not in tests/testdata/upstream/greptimedb-v1.1.4-datanode.keys`,
				`environment variable GREPTIMEDB_DATANODE__STORAGE__SECRET_ACCESS_KEY (key "storage.secret_access_key") applies only when storage.type is S3 (here "Oss")`,
			},
		},
		"env var that the config file overrides": {
			[]manifests.Object{greptimeConfigMap("datanode", "[storage]\ntype = 'S3'\nsecret_access_key = ''\n"), workload("c-datanode-config", map[string]any{
				"name": "datanode", "image": greptime, "args": strs("datanode", "start"),
				"env": []any{map[string]any{"name": "GREPTIMEDB_DATANODE__STORAGE__SECRET_ACCESS_KEY", "value": "x"}},
			})},
			[]string{`environment variable GREPTIMEDB_DATANODE__STORAGE__SECRET_ACCESS_KEY is ignored: the config file sets "storage.secret_access_key" too, and the file wins`},
		},
		"env var of another component": {
			[]manifests.Object{workload("", map[string]any{"name": "frontend", "image": greptime, "args": strs("frontend", "start"),
				"env": []any{map[string]any{"name": "GREPTIMEDB_DATANODE__STORAGE__BUCKET", "value": "x"}}})},
			[]string{`environment variable GREPTIMEDB_DATANODE__STORAGE__BUCKET is read only by the datanode, but the container runs the frontend`},
		},
		"flownode key, flag and env var that only other components read": {
			[]manifests.Object{greptimeConfigMap("flownode", "node_id = 1\n[flow]\nnum_workers = 2\n[storage]\ndata_home = '/d'\n"),
				workload("c-flownode-config", map[string]any{"name": "flownode", "image": greptime,
					"command": strs("/bin/sh", "-c", "exec greptime flownode start --node-id ${POD_NAME##*-} --data-home /d -c /etc/c.toml"),
					"env": []any{
						map[string]any{"name": "GREPTIMEDB_FLOWNODE__WAL__PROVIDER", "value": "kafka"},
						map[string]any{"name": "GREPTIMEDB_FRONTEND__FLOW__NUM_WORKERS", "value": "2"},
					}})},
			[]string{
				`stack s: ConfigMap ns/c-flownode-config: config.toml key "storage.data_home" is not in tests/testdata/upstream/greptimedb-v1.1.4-flownode.keys`,
				`container flownode: greptime flag --data-home is not in tests/testdata/upstream/greptimedb-v1.1.4.flags [flownode start or global]`,
				`environment variable GREPTIMEDB_FLOWNODE__WAL__PROVIDER (key "wal.provider") is not in tests/testdata/upstream/greptimedb-v1.1.4-flownode.keys`,
				`environment variable GREPTIMEDB_FRONTEND__FLOW__NUM_WORKERS is read only by the frontend, but the container runs the flownode`,
			},
		},
		"etcd flag, env var, and both at once": {
			[]manifests.Object{workload("", map[string]any{"name": "etcd", "image": etcdImage,
				"command": strs("/usr/local/bin/etcd"), "args": strs("-name=$(POD_NAME)", "--snapshot-count=1", "--experimental-backend-bbolt-freelist=map"),
				"env": []any{map[string]any{"name": "ETCD_SNAPSHOT_COUNT", "value": "1"}, map[string]any{"name": "ETCD_QUOTA_BYTES", "value": "1"}}})},
			[]string{
				`etcd flag --experimental-backend-bbolt-freelist is not in tests/testdata/upstream/etcd-v3.5.21.flags`,
				`environment variable ETCD_SNAPSHOT_COUNT repeats the flag --snapshot-count: etcd refuses to start`,
				`environment variable ETCD_QUOTA_BYTES (flag --quota-bytes) is not in tests/testdata/upstream/etcd-v3.5.21.flags`,
			},
		},
		"etcdctl flag and env var": {
			[]manifests.Object{workload("", map[string]any{"name": "snapshot", "image": etcdImage,
				"command": strs("/usr/local/bin/etcdctl", "--endpoints=https://e:2379", "--ca-cert=/ca.crt", "snapshot", "save", "/b.db"),
				"env":     []any{map[string]any{"name": "ETCDCTL_API", "value": "2"}, map[string]any{"name": "ETCDCTL_CA_FILE", "value": "/ca"}}})},
			[]string{
				`etcdctl flag --ca-cert is not in tests/testdata/upstream/etcdctl-v3.5.21.flags [snapshot save or global]`,
				`ETCDCTL_API="2": the lists are for API v3`,
				`environment variable ETCDCTL_CA_FILE (global flag --ca-file) is not in tests/testdata/upstream/etcdctl-v3.5.21.flags [global]`,
			},
		},
		"exporter flag": {
			[]manifests.Object{workload("", map[string]any{"name": "exporter", "image": "r/qdb-prometheus-exporter:3.14.2",
				"command": strs("qdb-prometheus-exporter", "--cluster", "qdb://127.0.0.1:2836", "--port", "9000")})},
			[]string{`container exporter: qdb-prometheus-exporter flag --port is not in tests/testdata/upstream/qdb-prometheus-exporter-v3.14.2.flags`},
		},
		"QuasarDB entrypoint variables": {
			[]manifests.Object{workload("", map[string]any{"name": "qdbd", "image": "bureau14/qdb:3.14.1",
				"env": []any{map[string]any{"name": "QDB_CLOUD_ENDPOINT", "value": "https://s3"}, map[string]any{"name": "K8S_REPLICAS", "value": "3"},
					map[string]any{"name": "QDB_LOG_LEVEL", "value": "2"}}})},
			[]string{
				`container qdbd: environment variable QDB_CLOUD_ENDPOINT is not in tests/testdata/upstream/qdb-docker-3.14.1.env`,
				`container qdbd: environment variable K8S_REPLICAS is not in tests/testdata/upstream/qdb-docker-3.14.1.env`,
			},
		},
		"another QuasarDB image than the list's": {
			[]manifests.Object{workload("", map[string]any{"name": "qdbd", "image": "bureau14/qdb:3.15.0"})},
			[]string{`runs qdbd-docker-wrapper from bureau14/qdb:3.15.0, but tests/testdata/upstream/qdb-docker-3.14.1.env lists qdbd-docker-wrapper 3.14.1`},
		},
		"another version than the lists'": {
			[]manifests.Object{workload("", map[string]any{"name": "meta", "image": "greptime/greptimedb:v1.2.0", "args": strs("metasrv", "start")})},
			[]string{`runs greptime from greptime/greptimedb:v1.2.0, but tests/testdata/upstream/greptimedb-v1.1.4.flags lists greptime v1.1.4: regenerate the list`},
		},
		"a GreptimeDB container whose command line is not found": {
			[]manifests.Object{workload("", map[string]any{"name": "meta", "image": greptime, "command": strs("/bin/sh", "-c", "exec /greptime/bin/gt metasrv start")})},
			[]string{`container meta: runs the GreptimeDB image, but no ` + "`greptime <component> start`" + ` command line was found to check`},
		},
	}
	l := lists(t)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			problems := strings.Join(upstream.NewChecker(l).Check("s", tc.objs), "\n")
			for _, w := range tc.want {
				assert.Contains(t, problems, w)
			}
		})
	}
}

// TestCheckerAcceptsWhatUpstreamReads: keys of the configured type, aliases,
// short flags and the -flag spelling of Go's flag package pass.
func TestCheckerAcceptsWhatUpstreamReads(t *testing.T) {
	greptime := "greptime/greptimedb:v1.1.4"
	objs := []manifests.Object{
		greptimeConfigMap("datanode", "[storage]\ntype = 'S3'\nregion = 'r'\n[wal]\ndir = '/wal'\n[[region_engine]]\n[region_engine.mito]\nnum_workers = 8\n"),
		workload("c-datanode-config", map[string]any{"name": "datanode", "image": greptime,
			"command": strs("/bin/sh", "-c", "set -e; exec greptime --log-level info datanode start --rpc-addr 0.0.0.0:4001 -c /etc/c.toml"),
			"env":     []any{map[string]any{"name": "GREPTIMEDB_DATANODE__STORAGE__SECRET_ACCESS_KEY", "value": "x"}}}),
		greptimeConfigMap("flownode", "node_id = 0\n[flow]\nnum_workers = 2\n[flow.batching_mode]\nquery_timeout = '600s'\n"+
			"[grpc]\nbind_addr = '0.0.0.0:6800'\n[http]\naddr = '0.0.0.0:4000'\n[meta_client]\nmetasrv_addrs = ['m:3002']\n[logging]\ndir = ''\n"),
		workload("c-flownode-config", map[string]any{"name": "flownode", "image": greptime,
			"command": strs("/bin/sh", "-c", "exec greptime flownode start --node-id ${POD_NAME##*-} --rpc-bind-addr 0.0.0.0:6800 "+
				"--rpc-server-addr ${POD_IP}:6800 --metasrv-addrs m:3002 --http-addr 0.0.0.0:4000 -c /etc/c.toml"),
			"env": []any{map[string]any{"name": "GREPTIMEDB_FLOWNODE__QUERY__PARALLELISM", "value": "1"}}}),
		workload("", map[string]any{"name": "etcd", "image": "quay.io/coreos/etcd:v3.5.21", "command": strs("/usr/local/bin/etcd"),
			"args": strs("-name", "x", "--data-dir=/d"), "env": []any{map[string]any{"name": "ETCD_SNAPSHOT_COUNT", "value": "1"}}}),
		workload("", map[string]any{"name": "exporter", "image": "r/e:v3.14.2", "command": strs("qdb-prometheus-exporter", "--listen-address", "0.0.0.0")}),
		workload("", map[string]any{"name": "qdbd", "image": "bureau14/qdb:3.14.1", "env": []any{
			map[string]any{"name": "K8S_REPLICA_COUNT", "value": "3"}, map[string]any{"name": "QDB_CLOUD_BUCKET", "value": "b"},
			map[string]any{"name": "POD_NAME", "value": "p"}}}),
	}
	assert.Empty(t, upstream.NewChecker(lists(t)).Check("s", objs))
}

// TestEveryStorageTypeWritesOnlyItsKeys: with every object storage field set,
// each storage type renders only the keys its v1.1.4 struct reads (region is
// S3's alone), unless validation already refuses the field.
func TestEveryStorageTypeWritesOnlyItsKeys(t *testing.T) {
	ref := func(key string) map[string]any { return map[string]any{"name": "store", "key": key} }
	l := lists(t)
	for _, typ := range []string{"S3", "Gcs", "Azblob", "Oss"} {
		t.Run(typ, func(t *testing.T) {
			store := map[string]any{
				"type": typ, "bucket": "bkt", "container": "ctr", "root": "r", "region": "eu-west-1",
				"endpoint": "https://store.example.com", "accountName": "acct", "scope": "s",
				"secretRefs": map[string]any{
					"S3":     map[string]any{"accessKeyId": ref("id"), "secretAccessKey": ref("secret")},
					"Gcs":    map[string]any{"credential": ref("credential")},
					"Azblob": map[string]any{"accountKey": ref("key")},
					"Oss":    map[string]any{"accessKeyId": ref("id"), "accessKeySecret": ref("secret")},
				}[typ],
			}
			if typ != "Azblob" {
				delete(store, "container")
				delete(store, "accountName")
			}
			if typ != "Gcs" {
				delete(store, "scope")
			}
			cfg := objects.StackConfig(t, stacks.KeyGreptimeDB, []map[string]any{{"name": "m", "datanode": map[string]any{"objectStorage": store}}}, nil)
			res, err := mockrun.Run(stacks.Program, mockrun.Options{Config: cfg})
			if err != nil {
				require.ErrorContains(t, err, "objectStorage.region", "only a refused region may stop the run")
				return
			}
			objs, err := manifests.Objects(res)
			require.NoError(t, err)
			checker := upstream.NewChecker(l)
			assert.Empty(t, checker.Check(typ, objs))
			assert.NotZero(t, checker.Checked[l.Keys["DATANODE"].File])
		})
	}
}
