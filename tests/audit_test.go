package tests

import (
	"fmt"
	"strings"
	"testing"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
	"tsdb-platform/tests/objects"
)

// auditedStack is a stack whose secrets are audited: the committed ones and the
// test-only stack that uses every feature (license, security keys, S3 credentials).
type auditedStack = mockrun.StackRef

func auditedStacks(t *testing.T) []auditedStack {
	t.Helper()
	committedStacks(t) // the committed set is the one expected
	out, err := mockrun.AllStacks()
	require.NoError(t, err)
	return out
}

// knownSecrets are the values that must never appear in plaintext: every secure
// config value of the stack, and every generated password.
func knownSecrets(res *mockrun.Result, sc *mockrun.StackConfig) []string {
	var secrets []string
	for _, v := range sc.Secrets {
		secrets = append(secrets, v)
	}
	for _, r := range res.OfType(objects.RandomPasswordType) {
		if pw, ok := mockrun.Plain(r.State)["result"].(string); ok && pw != "" {
			secrets = append(secrets, pw)
		}
	}
	return secrets
}

// audit returns every place a known secret shows without protection: a leaf not
// marked secret, any ConfigMap, a literal env value, or a stack output that is not
// secret.
func audit(res *mockrun.Result, secrets []string) []string {
	var leaks []string
	holds := func(v any) bool {
		s, ok := v.(string)
		if !ok {
			return false
		}
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				return true
			}
		}
		return false
	}
	for _, r := range res.Resources {
		for _, leaf := range mockrun.Leaves(r.Inputs) {
			if !holds(leaf.Value) {
				continue
			}
			where := fmt.Sprintf("%s %s: %s", r.Type, r.Name, leaf.Path)
			switch {
			case !leaf.Secret:
				leaks = append(leaks, where+" is not marked secret")
			case r.Type == objects.ConfigMapType:
				leaks = append(leaks, where+" puts a secret in a ConfigMap")
			case isLiteralEnv(leaf.Path):
				leaks = append(leaks, where+" is a literal env value (use valueFrom.secretKeyRef)")
			}
		}
	}
	for path, e := range res.Exports {
		if holds(e.Value) && !e.Secret {
			leaks = append(leaks, "stack output "+path+" is not secret")
		}
	}
	return leaks
}

// isLiteralEnv reports whether a path is a container env var's literal value.
func isLiteralEnv(path string) bool {
	return strings.Contains(path, ".env[") && strings.HasSuffix(path, ".value")
}

// TestSecretsAudit walks every recorded input and output of every stack: licenses,
// private keys, user lists, object-storage credentials and generated passwords
// appear only marked secret, never in a ConfigMap, a literal env value or a
// plaintext output.
func TestSecretsAudit(t *testing.T) {
	for _, s := range auditedStacks(t) {
		for _, dryRun := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/preview=%v", s.Name, dryRun), func(t *testing.T) {
				res, sc, err := mockrun.RunStackFile(s.Path, s.Name, dryRun)
				require.NoError(t, err)
				secrets := knownSecrets(res, sc)
				if s.Name != "dev" {
					require.NotEmpty(t, sc.Secrets, "stack %s has configured secrets to audit", s.Name)
				}
				assert.Empty(t, audit(res, secrets))
			})
		}
	}
}

// TestSecretsAuditCatchesLeaks keeps the audit honest: a program that copies the
// license into a ConfigMap, an unmarked input, a literal env value and a plaintext
// output is reported for each.
func TestSecretsAuditCatchesLeaks(t *testing.T) {
	const license = "LEAKED-LICENSE-VALUE"
	cfg := with(map[string]string{"quasardb": `[{"name":"ticks","license":"` + license + `"}]`})
	leaky := func(ctx *pulumi.Context) error {
		if err := stacks.Program(ctx); err != nil {
			return err
		}
		if _, err := corev1.NewConfigMap(ctx, "leak", &corev1.ConfigMapArgs{
			Metadata: &metav1.ObjectMetaArgs{Namespace: pulumi.String("tsdb")},
			Data:     pulumi.StringMap{"license": pulumi.ToSecret(pulumi.String(license)).(pulumi.StringOutput)},
		}); err != nil {
			return err
		}
		if _, err := corev1.NewPod(ctx, "leak", &corev1.PodArgs{
			Metadata: &metav1.ObjectMetaArgs{Namespace: pulumi.String("tsdb"), Annotations: pulumi.StringMap{"copy": pulumi.String(license)}},
			Spec: &corev1.PodSpecArgs{Containers: corev1.ContainerArray{corev1.ContainerArgs{
				Name: pulumi.String("c"), Image: pulumi.String("busybox:1.37.0"),
				Env: corev1.EnvVarArray{corev1.EnvVarArgs{Name: pulumi.String("LICENSE"),
					Value: pulumi.ToSecret(pulumi.String(license)).(pulumi.StringOutput)}},
			}}},
		}); err != nil {
			return err
		}
		ctx.Export("leak", pulumi.String(license))
		return nil
	}
	res, err := mockrun.Run(leaky, mockrun.Options{Config: cfg})
	require.NoError(t, err)
	leaks := audit(res, []string{license})
	joined := strings.Join(leaks, "\n")
	assert.Contains(t, joined, "ConfigMap leak: data.license puts a secret in a ConfigMap")
	assert.Contains(t, joined, "Pod leak: metadata.annotations.copy is not marked secret")
	assert.Contains(t, joined, "Pod leak: spec.containers[0].env[0].value is a literal env value")
	assert.Contains(t, joined, "stack output leak is not secret")
	assert.Len(t, leaks, 4, "the program's own objects leak nothing: %s", joined)
}
