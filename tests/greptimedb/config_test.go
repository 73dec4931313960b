package greptimedb_test

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tsdb-platform/components/etcd"
	"tsdb-platform/components/greptimedb"
	"tsdb-platform/components/kube"
	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
	"tsdb-platform/tests/objects"
)

// stacksProgram is the program under test.
var stacksProgram = stacks.Program

func kubeChecksum(s string) string { return kube.Checksum(s) }

// TestBadClusterConfig: every bad cluster config fails stacks.Load with the key named.
func TestBadClusterConfig(t *testing.T) {
	cases := []struct {
		name    string
		cluster map[string]any
		keys    []string
	}{
		{"even etcd members", map[string]any{"etcd": map[string]any{"replicas": 2}}, []string{"greptimedb[0].etcd.replicas"}},
		{"zero meta replicas", map[string]any{"meta": map[string]any{"replicas": 0}}, []string{"greptimedb[0].meta.replicas"}},
		{"zero datanodes", map[string]any{"datanode": map[string]any{"replicas": 0}}, []string{"greptimedb[0].datanode.replicas"}},
		{"no rollout timeout", map[string]any{"datanode": map[string]any{"rolloutTimeoutSeconds": 0}}, []string{"greptimedb[0].datanode.rolloutTimeoutSeconds"}},
		{"zero frontends", map[string]any{"frontend": map[string]any{"replicas": 0}}, []string{"greptimedb[0].frontend.replicas"}},
		{"cpu neither a number nor a string", map[string]any{"meta": map[string]any{"resources": map[string]any{"requests": map[string]any{"cpu": true}}}},
			[]string{"greptimedb[0].meta.resources.requests.cpu"}},
		{"bad cpu quantity", map[string]any{"meta": map[string]any{"resources": map[string]any{"requests": map[string]any{"cpu": "lots"}}}},
			[]string{"greptimedb[0].meta.resources.requests.cpu"}},
		{"bad storage size", map[string]any{"datanode": map[string]any{"storage": map[string]any{"size": "big"}}},
			[]string{"greptimedb[0].datanode.storage.size"}},
		{"unknown storage type", map[string]any{"datanode": map[string]any{"objectStorage": map[string]any{"type": "Tape"}}},
			[]string{"greptimedb[0].datanode.objectStorage.type"}},
		{"S3 without bucket or credentials", map[string]any{"datanode": map[string]any{"objectStorage": map[string]any{"type": "S3"}}},
			[]string{
				"greptimedb[0].datanode.objectStorage.accessKeyId",
				"greptimedb[0].datanode.objectStorage.bucket",
				"greptimedb[0].datanode.objectStorage.region",
				"greptimedb[0].datanode.objectStorage.secretAccessKey",
			}},
		{"S3 key by value and by reference", map[string]any{"datanode": map[string]any{"objectStorage": map[string]any{
			"type": "S3", "bucket": "bkt", "region": "us-east-1", "accessKeyId": "AKID", "secretAccessKey": "SECRET",
			"secretRefs": map[string]any{"accessKeyId": map[string]any{"name": "s3-keys", "key": "id"}}}}},
			[]string{"greptimedb[0].datanode.objectStorage.secretRefs.accessKeyId"}},
		{"Oss without bucket or keys", map[string]any{"datanode": map[string]any{"objectStorage": map[string]any{"type": "Oss"}}},
			[]string{
				"greptimedb[0].datanode.objectStorage.accessKeyId",
				"greptimedb[0].datanode.objectStorage.accessKeySecret",
				"greptimedb[0].datanode.objectStorage.bucket",
				"greptimedb[0].datanode.objectStorage.endpoint",
			}},
		{"Azblob without account key or SAS token", map[string]any{"datanode": map[string]any{"objectStorage": map[string]any{
			"type": "Azblob", "container": "logs", "accountName": "tsdblogs", "endpoint": "https://tsdblogs.blob.core.windows.net"}}},
			[]string{"greptimedb[0].datanode.objectStorage.accountKey"}},
		{"Gcs without credential", map[string]any{"datanode": map[string]any{"objectStorage": map[string]any{"type": "Gcs", "bucket": "bkt"}}},
			[]string{"greptimedb[0].datanode.objectStorage.credential"}},
		{"secret reference the storage type does not have", map[string]any{"datanode": map[string]any{"objectStorage": map[string]any{
			"type": "Gcs", "bucket": "bkt", "credential": "Yw==",
			"secretRefs": map[string]any{"accountKey": map[string]any{"name": "azure", "key": "key"}}}}},
			[]string{"greptimedb[0].datanode.objectStorage.secretRefs.accountKey"}},
		{"secret reference with a bad Secret name", map[string]any{"datanode": map[string]any{"objectStorage": map[string]any{
			"type": "Gcs", "bucket": "bkt", "secretRefs": map[string]any{"credential": map[string]any{"name": "Not_A_Name", "key": "key.json"}}}}},
			[]string{"greptimedb[0].datanode.objectStorage.secretRefs.credential.name"}},
		{"unpinned wait image", map[string]any{"waitImage": "busybox"}, []string{"greptimedb[0].waitImage"}},
		{"bad service type", map[string]any{"frontend": map[string]any{"serviceType": "Ingress"}}, []string{"greptimedb[0].frontend.serviceType"}},
		{"bad etcd endpoint", map[string]any{"etcd": map[string]any{"endpoints": []any{"etcd"}}}, []string{"greptimedb[0].etcd.endpoints[0]"}},
		// opendal 0.57 (GreptimeDB v1.1.4) refuses these stores, and the datanodes crash-loop.
		{"Azblob without endpoint", map[string]any{"datanode": map[string]any{"objectStorage": map[string]any{
			"type": "Azblob", "container": "logs", "accountName": "tsdblogs", "sasToken": "sv=1"}}},
			[]string{"greptimedb[0].datanode.objectStorage.endpoint"}},
		{"Oss without endpoint", map[string]any{"datanode": map[string]any{"objectStorage": map[string]any{
			"type": "Oss", "bucket": "traces", "accessKeyId": "id", "accessKeySecret": "secret"}}},
			[]string{"greptimedb[0].datanode.objectStorage.endpoint"}},
		{"S3 without region", map[string]any{"datanode": map[string]any{"objectStorage": map[string]any{
			"type": "S3", "bucket": "bkt", "accessKeyId": "id", "secretAccessKey": "secret"}}},
			[]string{"greptimedb[0].datanode.objectStorage.region"}},
		{"S3 without region, workload identity that sets no AWS_REGION", map[string]any{"datanode": map[string]any{
			"objectStorage":  map[string]any{"type": "S3", "bucket": "bkt"},
			"serviceAccount": map[string]any{"annotations": map[string]any{"iam.gke.io/gcp-service-account": "x@y.iam.gserviceaccount.com"}}}},
			[]string{"greptimedb[0].datanode.objectStorage.region"}},
		{"database export without region, even with IRSA", map[string]any{
			"datanode": map[string]any{
				"objectStorage":  map[string]any{"type": "S3", "bucket": "bkt", "accessKeyId": "id", "secretAccessKey": "secret"},
				"serviceAccount": map[string]any{"annotations": map[string]any{"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/r"}}},
			"backup": map[string]any{"database": map[string]any{"enabled": true}}},
			[]string{"greptimedb[0].datanode.objectStorage.region"}},
		// The API server refuses a TZ in a CronJob's schedule.
		{"TZ in a schedule", map[string]any{"backup": map[string]any{"etcd": map[string]any{"enabled": true, "schedule": "TZ=UTC 0 * * * *"}}},
			[]string{"greptimedb[0].backup.etcd.schedule"}},
		{"CRON_TZ in a schedule", map[string]any{"datanode": s3Store(nil), "backup": map[string]any{"database": map[string]any{
			"enabled": true, "schedule": "CRON_TZ=Europe/Paris 30 2 * * *"}}},
			[]string{"greptimedb[0].backup.database.schedule"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cerr := rejected(t, tc.cluster)
			assert.Equal(t, tc.keys, cerr.Keys())
			for _, k := range tc.keys {
				assert.Contains(t, cerr.Error(), k)
			}
		})
	}
}

// TestComponentsValidateArgs: the public constructors reject bad arguments
// themselves, naming the component and the field, before registering anything.
func TestComponentsValidateArgs(t *testing.T) {
	ns := pulumi.String("ns")
	dev, err := stacks.GreptimeDBDefaults(stacks.ProfileDev)
	require.NoError(t, err)
	env := kube.Env{Namespace: ns, ClusterDomain: "cluster.local"}
	evenEtcd := dev.Etcd.Spec
	evenEtcd.Replicas = 4
	tape := dev.ClusterSpec
	tape.Datanode.ObjectStorage.Type = "Tape"
	noFrontends := dev.ClusterSpec
	noFrontends.Frontend.Replicas = 0
	twoMembers := dev.ClusterSpec
	twoMembers.Etcd.Replicas = 2
	cases := []struct {
		name string
		run  func(ctx *pulumi.Context) error
		want []string
	}{
		{"even etcd", func(ctx *pulumi.Context) error {
			_, err := etcd.NewCluster(ctx, "e", &etcd.ClusterArgs{Spec: evenEtcd, Env: env, Instance: "c", AntiAffinity: kube.AntiAffinityNone})
			return err
		}, []string{`etcd "e"`, "replicas: Invalid value: 4"}},
		{"cluster with unknown datanode storage", func(ctx *pulumi.Context) error {
			_, err := greptimedb.NewCluster(ctx, "c", &greptimedb.ClusterArgs{Spec: tape, Env: env})
			return err
		}, []string{`greptimedb cluster "c"`, `datanode.objectStorage.type: Invalid value: "Tape"`}},
		{"cluster without frontends", func(ctx *pulumi.Context) error {
			_, err := greptimedb.NewCluster(ctx, "c", &greptimedb.ClusterArgs{Spec: noFrontends, Env: env})
			return err
		}, []string{`greptimedb cluster "c"`, "frontend.replicas: Invalid value: 0"}},
		{"cluster with even etcd", func(ctx *pulumi.Context) error {
			_, err := greptimedb.NewCluster(ctx, "c", &greptimedb.ClusterArgs{Spec: twoMembers, Env: env})
			return err
		}, []string{`greptimedb cluster "c"`, "etcd.replicas: Invalid value: 2"}},
		{"nil args", func(ctx *pulumi.Context) error {
			_, err := greptimedb.NewCluster(ctx, "c", nil)
			return err
		}, []string{`greptimedb cluster "c"`, "args are required"}},
		// The components have no defaults of their own: an empty spec is rejected
		// key by key, never silently filled in (the profiles hold every default).
		{"cluster with an empty spec", func(ctx *pulumi.Context) error {
			_, err := greptimedb.NewCluster(ctx, "c", &greptimedb.ClusterArgs{Env: env})
			return err
		}, []string{`greptimedb cluster "c"`, "image", "waitImage", "antiAffinity", "etcd.replicas", "etcd.storage.size",
			"meta.replicas", "wal.provider", "datanode.storage.size", "datanode.objectStorage.type",
			"frontend.serviceType", "frontend.loadBalancer.timeoutSeconds", "logging.level", "logging.format"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := mockrun.Run(tc.run, mockrun.Options{})
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Empty(t, res.Resources, "nothing registered")
		})
	}
}

// s3Store is a valid S3 datanode object storage with keys, with overrides.
func s3Store(overrides map[string]any) map[string]any {
	o := map[string]any{"type": "S3", "bucket": "tsdb", "region": "eu-west-1", "accessKeyId": "AKID", "secretAccessKey": "SECRET"}
	for k, v := range overrides {
		o[k] = v
	}
	return map[string]any{"objectStorage": o}
}

// hostileValues are values that would break out of a shell word or an SQL
// string literal if a script or statement pasted them in.
var hostileValues = []string{
	"b$(touch /tmp/pwn)",
	"x'); DROP DATABASE public; --",
	`a"b`,
	"a;id",
	"a b",
	"a\nb",
	"`id`",
	"a'b",
}

// TestHostileValuesAreRejected: every config value that reaches a script or an
// SQL statement is validated to a safe alphabet, so a hostile value is refused
// with the key named, before anything is registered. (The scripts also take
// them as data: tests/scripts runs them with such values where they are allowed.)
func TestHostileValuesAreRejected(t *testing.T) {
	backup := func(d map[string]any) map[string]any {
		d["enabled"] = true
		return map[string]any{"database": d}
	}
	keys := []struct {
		key     string
		cluster func(v string) map[string]any
		// valid is a value of the same shape that is accepted, so the row
		// proves the hostile part is what is refused.
		valid string
	}{
		{"greptimedb[0].datanode.objectStorage.bucket", func(v string) map[string]any {
			return map[string]any{"datanode": s3Store(map[string]any{"bucket": v})}
		}, "tsdb-prod"},
		{"greptimedb[0].datanode.objectStorage.region", func(v string) map[string]any {
			return map[string]any{"datanode": s3Store(map[string]any{"region": v})}
		}, "eu-west-1"},
		{"greptimedb[0].datanode.objectStorage.endpoint", func(v string) map[string]any {
			return map[string]any{"datanode": s3Store(map[string]any{"endpoint": "https://s3.example.com/" + v})}
		}, "path"},
		{"greptimedb[0].datanode.objectStorage.root", func(v string) map[string]any {
			return map[string]any{"datanode": s3Store(map[string]any{"root": v})}
		}, "greptimedb/metrics"},
		{"greptimedb[0].backup.database.prefix", func(v string) map[string]any {
			return map[string]any{"datanode": s3Store(nil), "backup": backup(map[string]any{"prefix": v})}
		}, "backups/metrics"},
		{"greptimedb[0].backup.database.databases[0]", func(v string) map[string]any {
			return map[string]any{"datanode": s3Store(nil), "backup": backup(map[string]any{"databases": []any{v}})}
		}, "my-db"},
		{"greptimedb[0].etcd.endpoints[0]", func(v string) map[string]any {
			return map[string]any{"etcd": map[string]any{"endpoints": []any{v + ":2379"}}}
		}, "etcd-0.etcd.platform.svc"},
		{"greptimedb[0].wal.brokerEndpoints[0]", func(v string) map[string]any {
			return map[string]any{"wal": map[string]any{"provider": "kafka", "brokerEndpoints": []any{v + ":9092"}}}
		}, "kafka-0.kafka"},
	}
	for _, k := range keys {
		t.Run(k.key+"/valid", func(t *testing.T) {
			accepted(t, k.cluster(k.valid))
		})
		for _, v := range append(hostileValues, k.valid+"$(id)", k.valid+";id", k.valid+"\n") {
			t.Run(k.key+"/"+v, func(t *testing.T) {
				cerr := rejected(t, k.cluster(v))
				assert.Equal(t, []string{k.key}, cerr.Keys())
			})
		}
	}
	t.Run("etcd endpoint port", func(t *testing.T) {
		for _, ep := range []string{"etcd:23x9", "etcd:$(id)", "etcd:0", "etcd:+2379"} {
			cerr := rejected(t, map[string]any{"etcd": map[string]any{"endpoints": []any{ep}}})
			assert.Equal(t, []string{"greptimedb[0].etcd.endpoints[0]"}, cerr.Keys(), ep)
		}
	})
}

// TestQuantitiesAsNumbers: a CPU or memory amount may be a bare number, as in a
// manifest and as `pulumi config set --path '...cpu' 2` stores it.
func TestQuantitiesAsNumbers(t *testing.T) {
	accepted(t, map[string]any{"datanode": map[string]any{"resources": map[string]any{
		"requests": map[string]any{"cpu": 2, "memory": "1Gi"}, "limits": map[string]any{"cpu": 4.5, "memory": "2Gi"}}}})
	res := runCluster(t, map[string]any{"datanode": map[string]any{"resources": map[string]any{
		"requests": map[string]any{"cpu": 2, "memory": "1Gi"}, "limits": map[string]any{"cpu": 4.5, "memory": "2Gi"}}}})
	c := container(t, objects.Find(t, res, objects.StatefulSetType, "metrics-datanode"), "datanode")
	assert.Equal(t, "2", c.Resources.Requests.Cpu().String())
	assert.Equal(t, "4500m", c.Resources.Limits.Cpu().String())
}
