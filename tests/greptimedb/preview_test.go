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
	"tsdb-platform/tests/objects"
)

// TestPreviewStack: `pulumi preview` of a stack registers the same objects as
// `pulumi up`, with the same endpoints.
func TestPreviewStack(t *testing.T) {
	cfg := config(t, []map[string]any{{"name": "metrics", "frontend": map[string]any{"auth": map[string]any{"enabled": false}}}}, nil)
	preview := objects.Run(t, cfg, objects.DryRun(true))
	up := objects.Run(t, cfg)
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
		spec.Datanode.ObjectStorage = greptimedb.ObjectStorage{Type: greptimedb.StorageS3, Bucket: "bkt", Region: "us-east-1", AccessKeyID: "id", SecretAccessKey: "key"}
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

	for _, typ := range []string{objects.StatefulSetType, objects.DeploymentType, objects.ConfigMapType, objects.ServiceType, objects.PodDisruptionBudgetType, objects.NetworkPolicyType} {
		assert.NotEmpty(t, res.OfType(typ), typ)
	}
	// The mock monitor drops unknown values from what it records: the rendered
	// config and its checksum are absent rather than wrong.
	assert.NotContains(t, objects.ConfigMap(t, res, "metrics-meta-config").Data, "config.toml")
	assert.NotContains(t, objects.Deployment(t, res, "metrics-meta").Spec.Template.Annotations, "checksum/config")
	mysql, ok := res.Export("mysql")
	require.True(t, ok)
	assert.False(t, mysql.Known)
	// The bootstrap flags do not depend on the namespace: known even in preview.
	args := container(t, objects.Find(t, res, objects.StatefulSetType, "metrics-etcd"), "etcd").Args
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
	secret := preview.Find(objects.SecretType, "metrics-frontend-auth")
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
