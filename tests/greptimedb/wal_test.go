package greptimedb_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"tsdb-platform/components/greptimedb"
	"tsdb-platform/tests/objects"
)

// kafkaWAL is a kafka WAL with the given auth keys (sasl, tls).
func kafkaWAL(auth map[string]any) map[string]any {
	w := map[string]any{"provider": "kafka", "brokerEndpoints": []any{"kafka-0.kafka:9093"}}
	for k, v := range auth {
		w[k] = v
	}
	return map[string]any{"wal": w}
}

func secretRef(name, key string) map[string]any { return map[string]any{"name": name, "key": key} }

// TestBadKafkaWALAuth: a bad SASL or TLS setting of the WAL is refused at its
// key, with the value or what is missing, and the fix.
func TestBadKafkaWALAuth(t *testing.T) {
	sasl := func(m map[string]any) map[string]any {
		s := map[string]any{"enabled": true, "type": "SCRAM-SHA-512", "username": "greptimedb", "passwordSecretRef": secretRef("kafka-wal", "password")}
		for k, v := range m {
			s[k] = v
		}
		return s
	}
	cases := []struct {
		name    string
		cluster map[string]any
		keys    []string
		says    []string
	}{
		{"SASL without a password Secret", kafkaWAL(map[string]any{"sasl": sasl(map[string]any{"passwordSecretRef": secretRef("", "")})}),
			[]string{"greptimedb[0].wal.sasl.passwordSecretRef"},
			[]string{"from an existing Secret only", "pulumi config set --path 'greptimedb[0].wal.sasl.passwordSecretRef.name'"}},
		{"SASL password Secret without its key", kafkaWAL(map[string]any{"sasl": sasl(map[string]any{"passwordSecretRef": secretRef("kafka-wal", "")})}),
			[]string{"greptimedb[0].wal.sasl.passwordSecretRef"},
			[]string{"passwordSecretRef.key' password"}},
		{"SASL mechanism in the wrong spelling", kafkaWAL(map[string]any{"sasl": sasl(map[string]any{"type": "scram-sha-256"})}),
			[]string{"greptimedb[0].wal.sasl.type"},
			[]string{`"scram-sha-256"`, "allowed: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"}},
		{"SASL without a user", kafkaWAL(map[string]any{"sasl": sasl(map[string]any{"username": ""})}),
			[]string{"greptimedb[0].wal.sasl.username"}, []string{"pulumi config set --path 'greptimedb[0].wal.sasl.username'"}},
		{"TLS client certificate without its key", kafkaWAL(map[string]any{"tls": map[string]any{"enabled": true,
			"clientCertSecretRef": secretRef("kafka-client", "tls.crt")}}),
			[]string{"greptimedb[0].wal.tls.clientKeySecretRef"},
			[]string{"needs its private key", "greptimedb[0].wal.tls.clientKeySecretRef.name"}},
		{"TLS client key without its certificate", kafkaWAL(map[string]any{"tls": map[string]any{"enabled": true,
			"clientKeySecretRef": secretRef("kafka-client", "tls.key")}}),
			[]string{"greptimedb[0].wal.tls.clientCertSecretRef"}, []string{"needs its certificate"}},
		{"TLS CA with a bad Secret name", kafkaWAL(map[string]any{"tls": map[string]any{"enabled": true,
			"serverCaSecretRef": secretRef("Kafka_CA", "ca.crt")}}),
			[]string{"greptimedb[0].wal.tls.serverCaSecretRef.name"}, []string{`"Kafka_CA"`, "not a Secret name"}},
		{"SASL and TLS with the local WAL", map[string]any{"wal": map[string]any{"provider": "raft_engine",
			"sasl": sasl(nil), "tls": map[string]any{"enabled": true}}},
			[]string{"greptimedb[0].wal.sasl.enabled", "greptimedb[0].wal.tls.enabled"},
			[]string{`greptimedb[0].wal.provider is "raft_engine"`, "set greptimedb[0].wal.provider to kafka, or greptimedb[0].wal.sasl.enabled to false"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cerr := rejected(t, tc.cluster)
			assert.Equal(t, tc.keys, cerr.Keys())
			for _, s := range tc.says {
				assert.Contains(t, cerr.Error(), s)
			}
		})
	}

	// What is accepted: every mechanism, TLS with only the system's roots, and
	// a CA with a client identity.
	for _, typ := range greptimedb.WALSASLTypes {
		accepted(t, kafkaWAL(map[string]any{"sasl": sasl(map[string]any{"type": typ})}))
	}
	accepted(t, kafkaWAL(map[string]any{"tls": map[string]any{"enabled": true}}))
	accepted(t, kafkaWAL(map[string]any{"tls": map[string]any{"enabled": true, "serverCaSecretRef": secretRef("kafka-ca", "ca.crt"),
		"clientCertSecretRef": secretRef("kafka-client", "tls.crt"), "clientKeySecretRef": secretRef("kafka-client", "tls.key")}}))
}

// TestKafkaWALAuth: metasrv and the datanodes (both read [wal] in v1.1.4)
// authenticate to the brokers. The SASL password reaches each container only
// as GreptimeDB's wal.sasl.password variable from the Secret: never in the
// ConfigMap, a literal or the command line. The TLS files are the Secrets'
// keys, mounted read-only, and [wal.tls] names them.
func TestKafkaWALAuth(t *testing.T) {
	res := runCluster(t, kafkaWAL(map[string]any{
		"sasl": map[string]any{"enabled": true, "type": "SCRAM-SHA-256", "username": "greptimedb", "passwordSecretRef": secretRef("kafka-wal", "password")},
		"tls": map[string]any{"enabled": true, "serverCaSecretRef": secretRef("kafka-ca", "ca.crt"),
			"clientCertSecretRef": secretRef("kafka-client", "cert.pem"), "clientKeySecretRef": secretRef("kafka-client", "key.pem")},
	}))
	workloads := map[greptimedb.Kind]corev1.PodSpec{
		greptimedb.KindMeta:     objects.Deployment(t, res, "metrics-meta").Spec.Template.Spec,
		greptimedb.KindDatanode: objects.StatefulSet(t, res, "metrics-datanode").Spec.Template.Spec,
	}
	for kind, pod := range workloads {
		t.Run(string(kind), func(t *testing.T) {
			raw := objects.ConfigMap(t, res, "metrics-"+string(kind)+"-config").Data["config.toml"]
			wal, _ := tomlConfig(t, objects.ConfigMap(t, res, "metrics-"+string(kind)+"-config"))["wal"].(map[string]any)
			assert.Equal(t, map[string]any{"type": "SCRAM-SHA-256", "username": "greptimedb"}, wal["sasl"], "no password in the file")
			assert.Equal(t, map[string]any{
				"server_ca_cert_path": "/etc/greptimedb/kafka-tls/ca.crt",
				"client_cert_path":    "/etc/greptimedb/kafka-tls/tls.crt",
				"client_key_path":     "/etc/greptimedb/kafka-tls/tls.key",
			}, wal["tls"])
			assert.NotContains(t, raw, "password")

			main := objects.Container(t, pod, string(kind))
			env := objects.Env(t, main)
			pw, ok := env[greptimedb.WALSASLPasswordEnv(kind)]
			require.True(t, ok, "the password variable")
			assert.Equal(t, "GREPTIMEDB_"+map[greptimedb.Kind]string{greptimedb.KindMeta: "METASRV", greptimedb.KindDatanode: "DATANODE"}[kind]+
				"__WAL__SASL__PASSWORD", pw.Name)
			assert.Empty(t, pw.Value, "never a literal")
			require.NotNil(t, pw.ValueFrom)
			require.NotNil(t, pw.ValueFrom.SecretKeyRef)
			assert.Equal(t, "kafka-wal", pw.ValueFrom.SecretKeyRef.Name)
			assert.Equal(t, "password", pw.ValueFrom.SecretKeyRef.Key)
			assert.NotContains(t, strings.Join(append(main.Command, main.Args...), " "), "PASSWORD", "not on the command line")

			mount := objects.MountsByPath(main)[greptimedb.WALTLSDir]
			assert.True(t, mount.ReadOnly)
			vol := objects.Volume(t, pod, mount.Name)
			require.NotNil(t, vol.Projected)
			assert.Equal(t, int32(0o440), *vol.Projected.DefaultMode)
			files := map[string]string{}
			for _, src := range vol.Projected.Sources {
				require.NotNil(t, src.Secret)
				for _, it := range src.Secret.Items {
					files[it.Path] = src.Secret.Name + "/" + it.Key
				}
			}
			assert.Equal(t, map[string]string{"ca.crt": "kafka-ca/ca.crt", "tls.crt": "kafka-client/cert.pem", "tls.key": "kafka-client/key.pem"}, files)
		})
	}
	for _, kind := range []greptimedb.Kind{greptimedb.KindFrontend} {
		_, ok := objects.Env(t, objects.Container(t, objects.Deployment(t, res, "metrics-"+string(kind)).Spec.Template.Spec, string(kind)))[greptimedb.WALSASLPasswordEnv(kind)]
		assert.False(t, ok, "the frontends have no [wal]")
	}
	for _, r := range res.OfType(objects.SecretType) {
		assert.NotContains(t, objects.Meta(t, r).Name, "kafka", "the referenced Secrets are not written")
	}
}

// TestKafkaWALTLSSystemRoots: TLS without a CA or client identity is an
// empty [wal.tls] (GreptimeDB trusts the system's roots) and mounts nothing.
func TestKafkaWALTLSSystemRoots(t *testing.T) {
	res := runCluster(t, kafkaWAL(map[string]any{"tls": map[string]any{"enabled": true}}))
	wal, _ := tomlConfig(t, objects.ConfigMap(t, res, "metrics-datanode-config"))["wal"].(map[string]any)
	assert.Equal(t, map[string]any{}, wal["tls"])
	assert.NotContains(t, wal, "sasl")
	pod := objects.StatefulSet(t, res, "metrics-datanode").Spec.Template.Spec
	assert.NotContains(t, objects.Volumes(t, pod), "kafka-tls")
}
