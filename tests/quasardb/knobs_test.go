package quasardb_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"tsdb-platform/stacks"
	"tsdb-platform/tests/objects"
)

// Distinctive tiered storage keys: any occurrence outside a Secret is a leak.
const (
	testAccessKeyID     = "AKIAQDBTIEREDTEST0001"
	testSecretAccessKey = "qdb-tiered-secret-3c9e/only+in+a+secret"
	testRoleARN         = "arn:aws:iam::123456789012:role/qdb"
)

// tiered is a cluster with tiered storage on and the given extra keys.
func tiered(extra map[string]any) cluster {
	t := map[string]any{"enabled": true, "bucket": "ticks-cold", "region": "eu-west-1"}
	for k, v := range extra {
		t[k] = v
	}
	return cluster{"name": "ticks", "tieredStorage": t}
}

// TestKnobsAreValidated: each knob's problem names its key, the value and what is
// allowed, table by table.
func TestKnobsAreValidated(t *testing.T) {
	irsa := map[string]any{"annotations": map[string]any{"eks.amazonaws.com/role-arn": testRoleARN}}
	tests := []struct {
		name    string
		cluster cluster
		key     string
		message []string
	}{
		{"unknown log level", cluster{"name": "q", "logLevel": "verbose"}, "quasardb[0].logLevel",
			[]string{`"verbose"`, "detailed", "debug", "info", "warning", "error", "panic"}},
		{"numeric log level", cluster{"name": "q", "logLevel": "2"}, "quasardb[0].logLevel", []string{`"2"`, "info"}},
		{"negative parallelism", cluster{"name": "q", "tuning": map[string]any{"parallelism": -1}}, "quasardb[0].tuning.parallelism",
			[]string{"-1", "between 1 and 1024", "0 to leave it to qdbd"}},
		{"too many sessions", cluster{"name": "q", "tuning": map[string]any{"sessions": 2 << 20}}, "quasardb[0].tuning.sessions",
			[]string{"2097152", "between 1 and 1048576"}},
		{"negative RocksDB threads", cluster{"name": "q", "tuning": map[string]any{"rocksdbThreads": -2}}, "quasardb[0].tuning.rocksdbThreads",
			[]string{"compaction threads"}},
		{"too many flush threads", cluster{"name": "q", "tuning": map[string]any{"rocksdbHiThreads": 5000}}, "quasardb[0].tuning.rocksdbHiThreads",
			[]string{"5000", "flush threads"}},
		{"budget not a quantity", cluster{"name": "q", "tuning": map[string]any{"tableMemoryBudget": "lots"}}, "quasardb[0].tuning.tableMemoryBudget",
			[]string{`"lots"`, "Kubernetes quantity", "512Mi"}},
		{"budget zero", cluster{"name": "q", "tuning": map[string]any{"tableMemoryBudget": "0"}}, "quasardb[0].tuning.tableMemoryBudget",
			[]string{"more than 0"}},
		// dev: a 2Gi limit, so a soft limit of 1717986918 bytes.
		{"budget above the soft limit", cluster{"name": "q", "tuning": map[string]any{"tableMemoryBudget": "2Gi"}}, "quasardb[0].tuning.tableMemoryBudget",
			[]string{`"2Gi"`, "soft memory limit", "80% of quasardb[0].resources.limits.memory", "1717986918", "raise quasardb[0].resources.limits.memory"}},
		{"tiered storage without a bucket", cluster{"name": "q", "tieredStorage": map[string]any{"enabled": true, "region": "eu-west-1",
			"accessKeyId": "A", "secretAccessKey": "S"}}, "quasardb[0].tieredStorage.bucket", []string{"required with tiered storage", "pulumi config set"}},
		{"bucket not a bucket name", tiered(map[string]any{"bucket": "Ticks_Cold", "accessKeyId": "A", "secretAccessKey": "S"}),
			"quasardb[0].tieredStorage.bucket", []string{`"Ticks_Cold"`, "S3 bucket name"}},
		{"tiered storage without a region", tiered(map[string]any{"region": "", "accessKeyId": "A", "secretAccessKey": "S"}),
			"quasardb[0].tieredStorage.region", []string{"required with tiered storage", "eu-west-1"}},
		{"region with a quote", tiered(map[string]any{"region": `eu"west`, "accessKeyId": "A", "secretAccessKey": "S"}),
			"quasardb[0].tieredStorage.region", []string{"region"}},
		{"path prefix with a leading slash", tiered(map[string]any{"pathPrefix": "/qdb", "accessKeyId": "A", "secretAccessKey": "S"}),
			"quasardb[0].tieredStorage.pathPrefix", []string{`"/qdb"`, "quasardb/prod"}},
		{"no credentials and no identity", tiered(nil), "quasardb[0].tieredStorage.accessKeyId",
			[]string{"workload identity", "quasardb[0].serviceAccount.annotations", "eks.amazonaws.com/role-arn", "--secret"}},
		{"one key with an identity", func() cluster {
			c := tiered(map[string]any{"accessKeyId": "A"})
			c["serviceAccount"] = irsa
			return c
		}(), "quasardb[0].tieredStorage.secretAccessKey", []string{"required"}},
		{"key by value and by reference", func() cluster {
			c := tiered(map[string]any{"accessKeyId": "A", "secretAccessKey": "S"})
			c["secretRefs"] = map[string]any{"secretAccessKey": map[string]any{"name": "s3", "key": "secret"}}
			return c
		}(), "quasardb[0].secretRefs.secretAccessKey", []string{"either by value or by reference"}},
		{"secret key with a quote", tiered(map[string]any{"accessKeyId": "A", "secretAccessKey": `ab"cd`}),
			"quasardb[0].tieredStorage.secretAccessKey", []string{"jq program"}},
		{"key reference without tiered storage", cluster{"name": "q", "secretRefs": map[string]any{
			"accessKeyId": map[string]any{"name": "s3", "key": "id"}}}, "quasardb[0].secretRefs.accessKeyId",
			[]string{"only with tiered storage", "quasardb[0].tieredStorage.enabled"}},
		{"bad service account annotation", cluster{"name": "q", "serviceAccount": map[string]any{"annotations": map[string]any{"-bad": "x"}}},
			"quasardb[0].serviceAccount.annotations", []string{"-bad"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := problemAt(t, configError(t, stackConfig(t, tt.cluster)), tt.key)
			for _, want := range tt.message {
				assert.Contains(t, p.String(), want)
			}
		})
	}
}

// TestSecretKeyIsNeverEchoed: a rejected secret access key shows masked.
func TestSecretKeyIsNeverEchoed(t *testing.T) {
	_, err := stacks.Load(stacks.MapLookup(stackConfig(t, tiered(map[string]any{"accessKeyId": "A", "secretAccessKey": `leak"me`}))))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), `leak"me`)
}

// TestLogLevelAndTuningEnv: the level reaches the entrypoint as its number, the
// tuning as the wrapper's variables, the budget in bytes; unset tuning is not passed.
func TestLogLevelAndTuningEnv(t *testing.T) {
	res := run(t, stackConfig(t, cluster{"name": "ticks", "logLevel": "warning", "tuning": map[string]any{
		"parallelism": 3, "sessions": 512, "rocksdbThreads": 4, "rocksdbHiThreads": 2, "tableMemoryBudget": "256Mi"}}), false)
	env := objects.Env(t, container(t, objects.StatefulSet(t, res, "ticks")))
	for name, want := range map[string]string{
		"QDB_LOG_LEVEL": "3", "QDB_PARALLELISM": "3", "QDB_TOTAL_SERVER_SESSIONS": "512",
		"QDB_ROCKSDB_THREADS": "4", "QDB_ROCKSDB_HI_THREADS": "2", "QDB_ROCKSDB_TABLE_MEMORY_BUDGET": "268435456",
	} {
		assert.Equal(t, want, env[name].Value, name)
	}

	// The dev profile: info, parallelism 1, the rest left to qdbd.
	env = objects.Env(t, container(t, objects.StatefulSet(t, run(t, stackConfig(t, cluster{"name": "ticks"}), false), "ticks")))
	assert.Equal(t, "2", env["QDB_LOG_LEVEL"].Value)
	assert.Equal(t, "1", env["QDB_PARALLELISM"].Value)
	for _, name := range []string{"QDB_TOTAL_SERVER_SESSIONS", "QDB_ROCKSDB_THREADS", "QDB_ROCKSDB_HI_THREADS", "QDB_ROCKSDB_TABLE_MEMORY_BUDGET",
		"QDB_CLOUD_BUCKET", "QDB_CLOUD_AWS_ENABLE_INSTANCE_AUTH"} {
		assert.NotContains(t, env, name)
	}
}

// TestTieredStorageWithKeys: the location is plain env, each node under its own
// pod name; the keys reach the container only through secretKeyRef, from the
// generated Secret or the referenced one, and instance auth is off.
func TestTieredStorageWithKeys(t *testing.T) {
	c := tiered(map[string]any{"pathPrefix": "quasardb/prod", "accessKeyId": testAccessKeyID})
	c["secretRefs"] = map[string]any{"secretAccessKey": map[string]any{"name": "s3", "key": "secret"}}
	res := run(t, stackConfig(t, c), false)
	set := objects.StatefulSet(t, res, "ticks")
	ct := container(t, set)
	env := objects.Env(t, ct)
	for name, want := range map[string]string{
		"QDB_CLOUD_PROVIDER": "aws", "QDB_CLOUD_BUCKET": "ticks-cold", "QDB_CLOUD_BUCKET_REGION": "eu-west-1",
		"QDB_CLOUD_BUCKET_PATH_PREFIX": "quasardb/prod/$(POD_NAME)", "QDB_CLOUD_AWS_ENABLE_INSTANCE_AUTH": "false",
	} {
		assert.Equal(t, want, env[name].Value, name)
	}
	require.NotNil(t, env["POD_NAME"].ValueFrom)
	assert.Equal(t, "metadata.name", env["POD_NAME"].ValueFrom.FieldRef.FieldPath)
	names := make([]string, len(ct.Env))
	for i, e := range ct.Env {
		names[i] = e.Name
	}
	assert.Less(t, indexOf(names, "POD_NAME"), indexOf(names, "QDB_CLOUD_BUCKET_PATH_PREFIX"), "Kubernetes expands only variables defined before")

	generated := objects.Find(t, res, objects.SecretType, "ticks-tiered-storage")
	assert.Equal(t, map[string]string{"access-key-id": testAccessKeyID}, objects.Decode[corev1.Secret](t, generated).StringData)
	id, secret := env["QDB_CLOUD_AWS_ACCESS_KEY_ID"], env["QDB_CLOUD_AWS_SECRET_ACCESS_KEY"]
	assert.Empty(t, id.Value)
	require.NotNil(t, id.ValueFrom)
	assert.Equal(t, corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: objects.StateMeta(t, generated).Name}, Key: "access-key-id"},
		*id.ValueFrom.SecretKeyRef)
	assert.Empty(t, secret.Value)
	require.NotNil(t, secret.ValueFrom)
	assert.Equal(t, corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s3"}, Key: "secret"}, *secret.ValueFrom.SecretKeyRef)
	assert.Empty(t, ct.Args)
	assert.Empty(t, ct.Command)
	assert.Empty(t, set.Spec.Template.Spec.ServiceAccountName, "no own account without annotations")
	assertSecretsOnlyInSecrets(t, res, map[string]string{"access key id": testAccessKeyID})

	// Both by value: both from the generated Secret, and never in plain text.
	res = run(t, stackConfig(t, tiered(map[string]any{"accessKeyId": testAccessKeyID, "secretAccessKey": testSecretAccessKey})), false)
	env = objects.Env(t, container(t, objects.StatefulSet(t, res, "ticks")))
	assert.Equal(t, "$(POD_NAME)", env["QDB_CLOUD_BUCKET_PATH_PREFIX"].Value, "no prefix: the pod's name")
	for _, name := range []string{"QDB_CLOUD_AWS_ACCESS_KEY_ID", "QDB_CLOUD_AWS_SECRET_ACCESS_KEY"} {
		require.NotNil(t, env[name].ValueFrom, name)
		assert.NotNil(t, env[name].ValueFrom.SecretKeyRef, name)
	}
	assertSecretsOnlyInSecrets(t, res, map[string]string{"access key id": testAccessKeyID, "secret access key": testSecretAccessKey})
}

// TestTieredStorageWithWorkloadIdentity: with IRSA the nodes get their own
// annotated ServiceAccount, no keys and instance auth on, and under isolation
// their policy lets them reach S3 and the identity endpoints.
func TestTieredStorageWithWorkloadIdentity(t *testing.T) {
	c := tiered(nil)
	c["serviceAccount"] = map[string]any{"annotations": map[string]any{"eks.amazonaws.com/role-arn": testRoleARN}}
	cfg := stackConfig(t, c)
	cfg[stacks.KeyNetworkPolicy] = `{"enabled": true}`
	res := run(t, cfg, false)
	set := objects.StatefulSet(t, res, "ticks")
	env := objects.Env(t, container(t, set))
	assert.Equal(t, "true", env["QDB_CLOUD_AWS_ENABLE_INSTANCE_AUTH"].Value)
	assert.NotContains(t, env, "QDB_CLOUD_AWS_ACCESS_KEY_ID")
	assert.NotContains(t, env, "QDB_CLOUD_AWS_SECRET_ACCESS_KEY")
	assert.Nil(t, res.Find(objects.SecretType, "ticks-tiered-storage"))

	sa := objects.Find(t, res, objects.ServiceAccountType, "ticks")
	meta := objects.StateMeta(t, sa)
	assert.Equal(t, testRoleARN, meta.Annotations["eks.amazonaws.com/role-arn"])
	assert.Equal(t, meta.Name, set.Spec.Template.Spec.ServiceAccountName)

	egress := objects.NetworkPolicy(t, res, "ticks").Spec.Egress
	assert.True(t, hasEgress(egress, 443, ""), "S3 over HTTPS, anywhere")
	assert.True(t, hasEgress(egress, 80, "169.254.170.23/32"), "the EKS Pod Identity agent")
}

// TestTieredStorageEgressOnlyWhenEnabled: without tiered storage or an
// identity, the nodes reach nothing outside the cluster.
func TestTieredStorageEgressOnlyWhenEnabled(t *testing.T) {
	cfg := stackConfig(t, tiered(map[string]any{"accessKeyId": testAccessKeyID, "secretAccessKey": testSecretAccessKey}))
	cfg[stacks.KeyNetworkPolicy] = `{"enabled": true}`
	egress := objects.NetworkPolicy(t, run(t, cfg, false), "ticks").Spec.Egress
	assert.True(t, hasEgress(egress, 443, ""))
	assert.False(t, hasEgress(egress, 80, "169.254.170.23/32"), "no identity endpoints without a workload identity")

	cfg = stackConfig(t, cluster{"name": "ticks"})
	cfg[stacks.KeyNetworkPolicy] = `{"enabled": true}`
	assert.False(t, hasEgress(objects.NetworkPolicy(t, run(t, cfg, false), "ticks").Spec.Egress, 443, ""))
}

// hasEgress reports whether a rule allows TCP port to cidr ("" for a rule with no
// destination: anywhere).
func hasEgress(rules []networkingv1.NetworkPolicyEgressRule, port int32, cidr string) bool {
	for _, r := range rules {
		to := cidr == "" && len(r.To) == 0
		for _, peer := range r.To {
			to = to || (cidr != "" && peer.IPBlock != nil && peer.IPBlock.CIDR == cidr)
		}
		for _, p := range r.Ports {
			if to && p.Port != nil && p.Port.IntVal == port {
				return true
			}
		}
	}
	return false
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}
