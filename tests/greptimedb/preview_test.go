package greptimedb_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tsdb-platform/components/greptimedb"
	"tsdb-platform/components/kube"
	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
)

// TestPreviewStack: `pulumi preview` of a stack registers the same objects as
// `pulumi up`, with the same endpoints.
func TestPreviewStack(t *testing.T) {
	cfg := config(t, []map[string]any{{"name": "metrics", "frontend": map[string]any{"auth": map[string]any{"enabled": false}}}}, nil)
	preview := run(t, cfg, func(o *mockrun.Options) { o.DryRun = true })
	up := run(t, cfg)
	assert.ElementsMatch(t, resourceNames(up), resourceNames(preview))
	mysql, ok := preview.Export("greptimedb.metrics.mysql")
	require.True(t, ok)
	assert.Equal(t, fqdn("metrics-frontend")+":4002", mysql.Value)
}

// TestPreviewWithUnknownValues: in a preview where the namespace is not known
// yet, the cluster still registers every object; the rendered configs,
// checksums, command lines and endpoints stay unknown instead of failing.
func TestPreviewWithUnknownValues(t *testing.T) {
	dev, err := stacks.GreptimeDBDefaults(stacks.ProfileDev)
	require.NoError(t, err)
	var outputs pulumi.Map
	res, err := mockrun.Run(func(ctx *pulumi.Context) error {
		unknownNamespace := pulumi.UnsafeUnknownOutput(nil).ApplyT(func(v any) string { return v.(string) }).(pulumi.StringOutput)
		spec := dev.ClusterSpec
		spec.AntiAffinity = kube.AntiAffinityPreferred
		spec.Etcd.Replicas, spec.Meta.Replicas, spec.Datanode.Replicas, spec.Frontend.Replicas = 3, 2, 2, 2
		spec.Datanode.ObjectStorage = greptimedb.ObjectStorage{Type: greptimedb.StorageS3, Bucket: "b", AccessKeyID: "id", SecretAccessKey: "key"}
		spec.Frontend.Auth.Enabled = false
		c, err := greptimedb.NewCluster(ctx, "metrics", &greptimedb.ClusterArgs{Spec: spec, Env: kube.Env{
			Namespace: unknownNamespace, ClusterDomain: "cluster.local", Isolation: kube.Isolation{Enabled: true},
		}})
		if err != nil {
			return err
		}
		outputs = pulumi.Map{"mysql": c.MySQLEndpoint}
		ctx.Export("mysql", c.MySQLEndpoint)
		return nil
	}, mockrun.Options{DryRun: true})
	require.NoError(t, err)
	require.NotNil(t, outputs)

	for _, typ := range []string{tStatefulSet, tDeployment, tConfigMap, tService, tPDB, tNetPol} {
		assert.NotEmpty(t, res.OfType(typ), typ)
	}
	// The mock monitor drops unknown values from what it records: the rendered
	// config and its checksum are absent rather than wrong.
	assert.NotContains(t, get(find(t, res, tConfigMap, "metrics-meta-config"), "data"), "config.toml")
	assert.Nil(t, annotation(find(t, res, tDeployment, "metrics-meta"), "checksum/config"))
	mysql, ok := res.Export("mysql")
	require.True(t, ok)
	assert.False(t, mysql.Known)
	// The bootstrap flags do not depend on the namespace: known even in preview.
	args := strs(container(t, find(t, res, tStatefulSet, "metrics-etcd"), "containers", "etcd")["args"])
	assert.Contains(t, args, "--initial-cluster-state=new")
}

// TestPreviewWithGeneratedPassword: a preview of a stack with authentication on
// succeeds, registers what `up` registers, and keeps the password secret. (The
// harness gives the generated password a value in preview, as a preview of an
// existing stack shows it: the SDK's mock monitor cannot carry a secret whose value
// is unknown, which a real engine can.)
func TestPreviewWithGeneratedPassword(t *testing.T) {
	cfg := config(t, []map[string]any{{"name": "metrics"}}, nil)
	preview, err := mockrun.Run(stacksProgram, mockrun.Options{Config: cfg, DryRun: true})
	require.NoError(t, err)
	up, err := mockrun.Run(stacksProgram, mockrun.Options{Config: cfg})
	require.NoError(t, err)
	assert.Equal(t, resourceNames(up), resourceNames(preview))
	e, ok := preview.Export("greptimedb.metrics.password")
	require.True(t, ok)
	assert.True(t, e.Secret)
	secret := preview.Find(tSecret, "metrics-frontend-auth")
	require.NotNil(t, secret)
	for _, leaf := range mockrun.Leaves(secret.Inputs) {
		if strings.HasPrefix(leaf.Path, "stringData") {
			assert.True(t, leaf.Secret, "%s must be secret in preview", leaf.Path)
		}
	}
}

func resourceNames(r *mockrun.Result) []string {
	var out []string
	for _, x := range r.Resources {
		out = append(out, x.Type+" "+x.Name)
	}
	return out
}
