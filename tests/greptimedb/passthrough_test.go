package greptimedb_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tsdb-platform/components/greptimedb"
	"tsdb-platform/tests/objects"
)

// TestPassthroughRefusals: an overlay key or an extra variable that the
// program manages is refused, naming the key and the one to set instead; so
// are variable names that are no C identifiers, repeated, or both a value and
// a Secret reference.
func TestPassthroughRefusals(t *testing.T) {
	cfg := func(component string, config map[string]any) map[string]any {
		return map[string]any{component: map[string]any{"config": config}}
	}
	env := func(component string, vars ...map[string]any) map[string]any {
		list := make([]any, len(vars))
		for i, v := range vars {
			list[i] = v
		}
		return map[string]any{component: map[string]any{"env": list}}
	}
	cases := []struct {
		name    string
		cluster map[string]any
		key     string
		message string
	}{
		{"datanode data home", cfg("datanode", map[string]any{"storage": map[string]any{"data_home": "/elsewhere"}}),
			"greptimedb[0].datanode.config.storage.data_home", "managed by the program; set greptimedb[0].datanode.storage instead"},
		{"a key of the managed storage table", cfg("datanode", map[string]any{"storage": map[string]any{"cache_capacity": "1GiB"}}),
			"greptimedb[0].datanode.config.storage.cache_capacity", "set greptimedb[0].datanode.objectStorage instead"},
		{"the WAL as a whole", cfg("datanode", map[string]any{"wal": "kafka"}),
			"greptimedb[0].datanode.config.wal", "set greptimedb[0].wal instead"},
		{"log level", cfg("meta", map[string]any{"logging": map[string]any{"level": "debug"}}),
			"greptimedb[0].meta.config.logging.level", "set greptimedb[0].logging.level instead"},
		{"meta's store", cfg("meta", map[string]any{"store_addrs": []any{"etcd:2379"}}),
			"greptimedb[0].meta.config.store_addrs", "set greptimedb[0].etcd.endpoints instead"},
		{"a port", cfg("frontend", map[string]any{"mysql": map[string]any{"addr": "0.0.0.0:3306"}}),
			"greptimedb[0].frontend.config.mysql.addr", "managed by the program (it follows from the pods' layout and ports)"},
		{"a table holding managed keys", cfg("frontend", map[string]any{"grpc": "off"}),
			"greptimedb[0].frontend.config.grpc", "managed by the program"},
		{"frontend TLS", cfg("frontend", map[string]any{"postgres": map[string]any{"tls": map[string]any{"mode": "disable"}}}),
			"greptimedb[0].frontend.config.postgres.tls.mode", "set greptimedb[0].frontend.tls instead"},
		{"flownode's meta address", cfg("flownode", map[string]any{"meta_client": map[string]any{"metasrv_addrs": []any{"x:3002"}}}),
			"greptimedb[0].flownode.config.meta_client.metasrv_addrs", "managed by the program"},
		{"null value", cfg("meta", map[string]any{"procedure": map[string]any{"max_retry_times": nil}}),
			"greptimedb[0].meta.config.procedure.max_retry_times", "cannot be null"},
		{"variable the program sets", env("datanode", map[string]any{"name": "POD_IP", "value": "1.2.3.4"}),
			"greptimedb[0].datanode.env[0].name", "set by the program"},
		{"config variable of a managed key", env("datanode", map[string]any{"name": "GREPTIMEDB_DATANODE__STORAGE__BUCKET", "value": "b"}),
			"greptimedb[0].datanode.env[0].name", "set greptimedb[0].datanode.objectStorage instead"},
		{"config variable of another component", env("frontend", map[string]any{"name": "GREPTIMEDB_DATANODE__QUERY__PARALLELISM", "value": "2"}),
			"greptimedb[0].frontend.env[0].name", "only GREPTIMEDB_FRONTEND__<KEY> variables"},
		{"export keys on the frontends", env("frontend", map[string]any{"name": "AWS_ACCESS_KEY_ID", "value": "x"}),
			"greptimedb[0].frontend.env[0].name", "set greptimedb[0].datanode.objectStorage.secretRefs instead"},
		{"not a C identifier", env("meta", map[string]any{"name": "1-BAD", "value": "x"}),
			"greptimedb[0].meta.env[0].name", "a C identifier"},
		{"value and secret", env("flownode", map[string]any{"name": "TOKEN", "value": "x", "secretRef": map[string]any{"name": "s", "key": "k"}}),
			"greptimedb[0].flownode.env[0].value", "not both"},
		{"bad secret name", env("flownode", map[string]any{"name": "TOKEN", "secretRef": map[string]any{"name": "Not_A_Name", "key": "k"}}),
			"greptimedb[0].flownode.env[0].secretRef.name", "not a Secret name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cerr := rejected(t, tc.cluster)
			require.Equal(t, []string{tc.key}, cerr.Keys())
			assert.Contains(t, cerr.Error(), tc.message)
		})
	}
	t.Run("repeated name", func(t *testing.T) {
		cerr := rejected(t, env("meta", map[string]any{"name": "A", "value": "1"}, map[string]any{"name": "A", "value": "2"}))
		assert.Equal(t, []string{"greptimedb[0].meta.env[1].name"}, cerr.Keys())
	})
}

// TestConfigOverlayIsMerged: the overlay's tables merge into the generated
// ones key by key, its new tables are added, and whole numbers stay integers.
func TestConfigOverlayIsMerged(t *testing.T) {
	res := runCluster(t, map[string]any{
		"datanode": map[string]any{"config": map[string]any{
			"logging": map[string]any{"max_log_files": 48},
			"query":   map[string]any{"parallelism": 2, "memory_pool_size": "25%"},
		}},
		"frontend": map[string]any{"tls": map[string]any{"enabled": true, "secretName": "fe-tls"},
			"config": map[string]any{"mysql": map[string]any{"keep_alive": "30m"}}},
	})
	datanode := tomlConfig(t, objects.ConfigMap(t, res, "metrics-datanode-config"))
	logging := datanode["logging"].(map[string]any)
	assert.Equal(t, int64(48), logging["max_log_files"])
	assert.Equal(t, "info", logging["level"], "the generated keys of a merged table stay")
	assert.Equal(t, map[string]any{"parallelism": int64(2), "memory_pool_size": "25%"}, datanode["query"])
	assert.Equal(t, "File", datanode["storage"].(map[string]any)["type"])

	mysql := tomlConfig(t, objects.ConfigMap(t, res, "metrics-frontend-config"))["mysql"].(map[string]any)
	assert.Equal(t, "30m", mysql["keep_alive"])
	assert.Equal(t, "require", mysql["tls"].(map[string]any)["mode"], "nested generated tables stay")
}

// TestConfigOverlayRollsThePods: a changed overlay changes the component's
// config checksum, so its pods roll; the datanodes' rollout is framed by the
// maintenance Jobs again. The other components keep theirs.
func TestConfigOverlayRollsThePods(t *testing.T) {
	sums := func(overrides map[string]any) map[string]string {
		res := runCluster(t, overrides)
		return map[string]string{
			"meta":     annotation(t, objects.Find(t, res, objects.DeploymentType, "metrics-meta"), "checksum/config"),
			"datanode": annotation(t, objects.Find(t, res, objects.StatefulSetType, "metrics-datanode"), "checksum/config"),
			"frontend": annotation(t, objects.Find(t, res, objects.DeploymentType, "metrics-frontend"), "checksum/config"),
			"rollout":  annotation(t, objects.Find(t, res, objects.JobType, "metrics-maintenance-on"), greptimedb.RolloutAnnotation),
		}
	}
	base := sums(nil)
	changed := sums(map[string]any{"datanode": map[string]any{"config": map[string]any{"query": map[string]any{"parallelism": 4}}}})
	assert.NotEqual(t, base["datanode"], changed["datanode"])
	assert.NotEqual(t, base["rollout"], changed["rollout"], "the maintenance Jobs run for the rollout")
	assert.Equal(t, base["meta"], changed["meta"])
	assert.Equal(t, base["frontend"], changed["frontend"])

	withEnv := sums(map[string]any{"datanode": map[string]any{"env": []any{map[string]any{"name": "RUST_BACKTRACE", "value": "1"}}}})
	assert.NotEqual(t, base["rollout"], withEnv["rollout"], "an extra variable rolls the datanodes too")
}

// TestExtraEnv: extra variables follow the program's own in the main
// container; a Secret reference is a secretKeyRef, never a literal.
func TestExtraEnv(t *testing.T) {
	res := runCluster(t, map[string]any{"frontend": map[string]any{"env": []any{
		map[string]any{"name": "RUST_BACKTRACE", "value": "1"},
		map[string]any{"name": "GREPTIMEDB_FRONTEND__LOGGING__OTLP_HEADERS__AUTHORIZATION",
			"secretRef": map[string]any{"name": "otlp-auth", "key": "header"}},
	}}})
	main := container(t, objects.Find(t, res, objects.DeploymentType, "metrics-frontend"), "frontend")
	byName := map[string]int{}
	for i, e := range main.Env {
		byName[e.Name] = i
	}
	require.Contains(t, byName, "RUST_BACKTRACE")
	assert.Equal(t, "1", main.Env[byName["RUST_BACKTRACE"]].Value)
	secret := main.Env[byName["GREPTIMEDB_FRONTEND__LOGGING__OTLP_HEADERS__AUTHORIZATION"]]
	assert.Empty(t, secret.Value)
	require.NotNil(t, secret.ValueFrom)
	require.NotNil(t, secret.ValueFrom.SecretKeyRef)
	assert.Equal(t, "otlp-auth", secret.ValueFrom.SecretKeyRef.Name)
	assert.Equal(t, "header", secret.ValueFrom.SecretKeyRef.Key)
	meta := container(t, objects.Find(t, res, objects.DeploymentType, "metrics-meta"), "meta")
	for _, e := range meta.Env {
		assert.False(t, strings.HasPrefix(e.Name, "GREPTIMEDB_FRONTEND"), "another component's variables stay its own")
	}
}

// TestEveryGeneratedKeyIsManaged: every key the program writes into a
// component's config file, with every feature on, is one its overlay may not
// set, so an overlay can only add to what the program manages.
func TestEveryGeneratedKeyIsManaged(t *testing.T) {
	res := runCluster(t, map[string]any{
		"wal":  map[string]any{"provider": "kafka", "brokerEndpoints": []any{"kafka:9092"}},
		"meta": map[string]any{"enableRegionFailover": true},
		"etcd": map[string]any{"tls": map[string]any{"enabled": true, "serverSecretName": "s", "peerSecretName": "p", "clientSecretName": "c"}},
		"datanode": map[string]any{"objectStorage": map[string]any{
			"type": "S3", "bucket": "bkt", "root": "r", "region": "us-east-1", "endpoint": "http://minio:9000",
			"accessKeyId": "id", "secretAccessKey": "key"}},
		// Flownodes with authentication need isolation; the file is the same.
		"frontend": map[string]any{"tls": map[string]any{"enabled": true, "secretName": "fe-tls"}, "auth": map[string]any{"enabled": false}},
		"flownode": map[string]any{"enabled": true},
	})
	for _, kind := range []greptimedb.Kind{greptimedb.KindMeta, greptimedb.KindDatanode, greptimedb.KindFrontend, greptimedb.KindFlownode} {
		cm := objects.ConfigMap(t, res, "metrics-"+string(kind)+"-config")
		keys := flatKeys("", tomlConfig(t, cm))
		require.NotEmpty(t, keys, kind)
		for _, key := range keys {
			_, managed := greptimedb.ManagedKey(kind, key)
			assert.True(t, managed, "%s writes %s, which its overlay could set", kind, key)
		}
	}
}

// flatKeys are a TOML document's dotted keys.
func flatKeys(prefix string, m map[string]any) []string {
	var out []string
	for k, v := range m {
		if inner, ok := v.(map[string]any); ok {
			out = append(out, flatKeys(prefix+k+".", inner)...)
			continue
		}
		out = append(out, prefix+k)
	}
	return out
}
