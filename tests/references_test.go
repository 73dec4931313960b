package tests

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
	"tsdb-platform/tests/objects"
)

// TestReferencesOnlyWriteNoSecret: when every secret input names an existing
// Secret (object storage keys, the frontends' users, the Kafka WAL's password
// and CA, the QuasarDB license and keys), rendering the stack writes no Secret and generates no password: no
// plaintext secret can end up in a rendered manifest.
func TestReferencesOnlyWriteNoSecret(t *testing.T) {
	ref := func(name, key string) map[string]any { return map[string]any{"name": name, "key": key} }
	cfg := objects.StackConfig(t, stacks.KeyGreptimeDB, []map[string]any{{
		"name": "metrics",
		"datanode": map[string]any{"objectStorage": map[string]any{"type": "S3", "bucket": "tsdb", "region": "us-east-1",
			"secretRefs": map[string]any{"accessKeyId": ref("s3", "id"), "secretAccessKey": ref("s3", "secret")}}},
		"frontend": map[string]any{"auth": map[string]any{"enabled": true, "usersSecretRef": ref("greptime-users", "passwd")}},
		"wal": map[string]any{"provider": "kafka", "brokerEndpoints": []any{"kafka:9093"},
			"sasl": map[string]any{"enabled": true, "type": "PLAIN", "username": "greptimedb", "passwordSecretRef": ref("kafka", "password")},
			"tls":  map[string]any{"enabled": true, "serverCaSecretRef": ref("kafka", "ca.crt")}},
	}}, map[string]string{stacks.KeyRenderDir: t.TempDir(), stacks.KeyKubeContext: ""})
	quasar := objects.StackConfig(t, stacks.KeyQuasarDB, []map[string]any{{
		"name": "ticks", "replicas": 3, "replication": 2,
		"security": map[string]any{"enabled": true, "clusterPublicKey": "PUBLIC"},
		"secretRefs": map[string]any{"license": ref("qdb", "license"), "clusterPrivateKey": ref("qdb", "private"),
			"userList": ref("qdb", "users")},
	}}, nil)
	cfg[stacks.KeyQuasarDB] = quasar[stacks.KeyQuasarDB]
	delete(cfg, stacks.KeyKubeContext)

	res, err := mockrun.Run(stacks.Program, mockrun.Options{Config: cfg})
	require.NoError(t, err)
	require.NotEmpty(t, res.OfType(objects.StatefulSetType))
	assert.Empty(t, res.OfType(objects.SecretType), "no Secret is written")
	assert.Empty(t, res.OfType(objects.RandomPasswordType), "no password is generated")
}
