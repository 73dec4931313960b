package greptimedb_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tsdb-platform/components/etcd"
	"tsdb-platform/components/greptimedb"
	"tsdb-platform/components/kube"
	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
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
		{"zero frontends", map[string]any{"frontend": map[string]any{"replicas": 0}}, []string{"greptimedb[0].frontend.replicas"}},
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
				"greptimedb[0].datanode.objectStorage.secretAccessKey",
			}},
		{"unpinned wait image", map[string]any{"waitImage": "busybox"}, []string{"greptimedb[0].waitImage"}},
		{"bad service type", map[string]any{"frontend": map[string]any{"serviceType": "Ingress"}}, []string{"greptimedb[0].frontend.serviceType"}},
		{"bad etcd endpoint", map[string]any{"etcd": map[string]any{"endpoints": []any{"etcd"}}}, []string{"greptimedb[0].etcd.endpoints[0]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := map[string]any{"name": "metrics"}
			for k, v := range tc.cluster {
				c[k] = v
			}
			raw, err := json.Marshal([]any{c})
			require.NoError(t, err)
			_, err = stacks.Load(stacks.MapLookup(map[string]string{
				stacks.KeyKubeContext: "test", stacks.KeyGreptimeDB: string(raw),
			}))
			var cerr *stacks.ConfigError
			require.True(t, errors.As(err, &cerr), "want a *ConfigError, got %v", err)
			assert.Equal(t, tc.keys, cerr.Keys())
			for _, k := range tc.keys {
				assert.Contains(t, cerr.Error(), k)
			}
		})
	}
}

// TestComponentsValidateArgs: the components reject bad arguments themselves,
// naming the component and the field, before registering anything.
func TestComponentsValidateArgs(t *testing.T) {
	ns := pulumi.String("ns")
	common := greptimedb.Common{Cluster: "c", Namespace: ns, ClusterDomain: "cluster.local", Image: "greptime/greptimedb:v1.1.4"}
	cases := []struct {
		name string
		run  func(ctx *pulumi.Context) error
		want []string
	}{
		{"even etcd", func(ctx *pulumi.Context) error {
			_, err := etcd.NewCluster(ctx, "e", &etcd.ClusterArgs{Namespace: ns, ClusterDomain: "cluster.local", Instance: "c",
				Replicas: 4, Image: "quay.io/coreos/etcd:v3.5.21", Storage: kube.Storage{Size: "1Gi"}})
			return err
		}, []string{`etcd "e"`, "replicas: 4"}},
		{"meta without store", func(ctx *pulumi.Context) error {
			_, err := greptimedb.NewMeta(ctx, "m", &greptimedb.MetaArgs{Common: common, Replicas: 1, StoreKeyPrefix: "c"})
			return err
		}, []string{`meta "m"`, "storeAddrs"}},
		{"datanode with unknown storage", func(ctx *pulumi.Context) error {
			_, err := greptimedb.NewDatanode(ctx, "d", &greptimedb.DatanodeArgs{Common: common, Replicas: 1,
				Storage: kube.Storage{Size: "1Gi"}, ObjectStorage: greptimedb.ObjectStorage{Type: "Tape"},
				MetaAddress: ns, MetaHealthURL: ns})
			return err
		}, []string{`datanode "d"`, `objectStorage.type: unknown type "Tape"`}},
		{"frontend with zero replicas", func(ctx *pulumi.Context) error {
			_, err := greptimedb.NewFrontend(ctx, "f", &greptimedb.FrontendArgs{Common: common, MetaAddress: ns, MetaHealthURL: ns})
			return err
		}, []string{`frontend "f"`, "replicas: 0"}},
		{"cluster with even etcd", func(ctx *pulumi.Context) error {
			_, err := greptimedb.NewCluster(ctx, "c", &greptimedb.ClusterArgs{Common: common, Etcd: greptimedb.EtcdArgs{Replicas: 2}})
			return err
		}, []string{`greptimedb cluster "c"`, "etcd.replicas: 2"}},
		{"nil args", func(ctx *pulumi.Context) error {
			_, err := greptimedb.NewFrontend(ctx, "f", nil)
			return err
		}, []string{`frontend "f"`, "args are required"}},
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
