package quasardb_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"tsdb-platform/components/kube"
	"tsdb-platform/internal/mockrun"
	"tsdb-platform/tests/objects"
)

// TestLicenseSecret: a licensed cluster gets an auto-named Secret holding the
// license, mounted read-only, with QDB_LICENSE_FILE naming the mounted file.
func TestLicenseSecret(t *testing.T) {
	res := run(t, stackConfig(t, cluster{"name": "ticks", "replicas": 3, "replication": 2}.withLicense()), false)
	secret := objects.Find(t, res, objects.SecretType, "ticks-license")
	assert.Equal(t, objects.Find(t, res, objects.QuasarDBClusterType, "ticks").URN, secret.Parent)
	sec := objects.Decode[corev1.Secret](t, secret)
	assert.Empty(t, sec.Name, "auto-named: a new license is a new Secret and the pods roll")
	assert.Equal(t, testNamespace, sec.Namespace)
	assert.Equal(t, map[string]string{"quasardb.key": testLicense}, sec.StringData)
	assert.True(t, mockrun.IsSecretAt(secret.Inputs, "stringData"), "the Secret's data is secret-marked")

	ss := objects.Find(t, res, objects.StatefulSetType, "ticks")
	set := objects.Decode[appsv1.StatefulSet](t, ss)
	volume := objects.Volume(t, set.Spec.Template.Spec, "license")
	require.NotNil(t, volume.Secret, "the license volume is a Secret")
	assert.Equal(t, objects.StateMeta(t, secret).Name, volume.Secret.SecretName,
		"the volume references the generated Secret through its name output")
	assert.Equal(t, objects.Ptr(int32(0o440)), volume.Secret.DefaultMode)
	assert.Contains(t, ss.Dependencies, secret.URN)

	c := container(t, set)
	mounts := objects.MountsByPath(c)
	require.Contains(t, mounts, "/etc/qdb/license")
	mount := mounts["/etc/qdb/license"]
	assert.Equal(t, "license", mount.Name)
	assert.Equal(t, true, mount.ReadOnly)
	assert.Equal(t, "/etc/qdb/license/quasardb.key", objects.Env(t, c)["QDB_LICENSE_FILE"].Value)
}

// TestSecuritySecret: security puts the private key and user list in their own
// Secret, mounted read-only, turns security on, and exports the public key.
func TestSecuritySecret(t *testing.T) {
	res := run(t, stackConfig(t, cluster{"name": "ticks"}.withSecurity()), false)
	secret := objects.Find(t, res, objects.SecretType, "ticks-security")
	assert.Equal(t, map[string]string{"cluster_private.key": testPrivateKey, "users.cfg": testUserList},
		objects.Decode[corev1.Secret](t, secret).StringData)
	assert.True(t, mockrun.IsSecretAt(secret.Inputs, "stringData"))

	ss := objects.StatefulSet(t, res, "ticks")
	c := container(t, ss)
	env := objects.Env(t, c)
	assert.Equal(t, "true", env["QDB_ENABLE_SECURITY"].Value)
	assert.Equal(t, "/etc/qdb/security/cluster_private.key", env["QDB_CLUSTER_PRIVATE_KEY_FILE"].Value)
	assert.Equal(t, "/etc/qdb/security/users.cfg", env["QDB_USER_LIST_FILE"].Value)
	assert.NotContains(t, env, "QDB_CLUSTER_PRIVATE_KEY", "keys never go into env values")
	assert.NotContains(t, env, "QDB_USER_LIST")
	mounts := objects.MountsByPath(c)
	require.Contains(t, mounts, "/etc/qdb/security")
	mount := mounts["/etc/qdb/security"]
	assert.Equal(t, true, mount.ReadOnly)
	volume := objects.Volume(t, ss.Spec.Template.Spec, mount.Name)
	require.NotNil(t, volume.Secret, "the security volume is a Secret")
	assert.Equal(t, objects.StateMeta(t, secret).Name, volume.Secret.SecretName)

	key, ok := res.Export("quasardb.ticks.clusterPublicKey")
	require.True(t, ok, "the public key is exported for clients")
	assert.Equal(t, testPublicKey, key.Value)
	assert.False(t, key.Secret, "the public key is not a secret")

	// Without security: no Secret, no env, no export.
	res = run(t, stackConfig(t, cluster{"name": "ticks"}), false)
	assert.Nil(t, res.Find(objects.SecretType, "ticks-security"))
	_, ok = res.Export("quasardb.ticks.clusterPublicKey")
	assert.False(t, ok)
}

// TestSecretsNeverInPlaintext: the license and keys appear only in secret-marked
// leaves of their Secrets' inputs, in no other resource's inputs or state, and in
// no stack output.
func TestSecretsNeverInPlaintext(t *testing.T) {
	for _, dryRun := range []bool{false, true} {
		t.Run(fmt.Sprintf("dryRun=%v", dryRun), func(t *testing.T) {
			cfg := stackConfig(t, cluster{"name": "ticks", "replicas": 3, "replication": 2}.withLicense().withSecurity())
			res := run(t, cfg, dryRun)
			assertSecretsOnlyInSecrets(t, res, map[string]string{
				"license": testLicense, "private key": testPrivateKey, "user list": testUserList,
			})
			// The only places they appear are the two Secrets.
			for _, name := range []string{"ticks-license", "ticks-security"} {
				assert.True(t, containsAny(objects.Find(t, res, objects.SecretType, name), testLicense, testPrivateKey, testUserList), name)
			}
		})
	}
}

// TestLicenseFile: a license given as a file path is read when the program runs
// and kept secret like a configured one.
func TestLicenseFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "quasardb.key")
	require.NoError(t, os.WriteFile(path, []byte(testLicense+"\n"), 0o600))
	res := run(t, stackConfig(t, cluster{"name": "ticks", "replicas": 3, "replication": 2, "licenseFile": path}), false)

	secret := objects.Find(t, res, objects.SecretType, "ticks-license")
	assert.Equal(t, map[string]string{"quasardb.key": testLicense}, objects.Decode[corev1.Secret](t, secret).StringData,
		"the file's contents, without the trailing newline")
	assert.True(t, mockrun.IsSecretAt(secret.Inputs, "stringData"))
	assert.Equal(t, "/etc/qdb/license/quasardb.key", objects.Env(t, container(t, objects.StatefulSet(t, res, "ticks")))["QDB_LICENSE_FILE"].Value)
	assertSecretsOnlyInSecrets(t, res, map[string]string{"license": testLicense})
}

// TestChecksumRollsPodsOnKeyChange: the pod template carries a secret checksum of
// the Secrets' contents that changes with any key, and only then.
func TestChecksumRollsPodsOnKeyChange(t *testing.T) {
	checksum := func(t *testing.T, c cluster) mockrun.Leaf {
		t.Helper()
		res := run(t, stackConfig(t, c), false)
		ss := objects.Find(t, res, objects.StatefulSetType, "ticks")
		for _, l := range mockrun.Leaves(ss.Inputs) {
			if l.Path == "spec.template.metadata.annotations."+kube.ChecksumAnnotation {
				return l
			}
		}
		t.Fatalf("no %s annotation on the pod template", kube.ChecksumAnnotation)
		return mockrun.Leaf{}
	}
	base := cluster{"name": "ticks", "replicas": 3, "replication": 2}.withLicense().withSecurity()
	first := checksum(t, base)
	assert.True(t, first.Secret, "computed inside ApplyT from secrets, so it stays secret")
	assert.Regexp(t, "^[0-9a-f]{64}$", first.Value)
	assert.NotContains(t, first.Value, testLicense)

	assert.Equal(t, first.Value, checksum(t, base).Value, "same keys, same checksum: no needless rollout")

	otherLicense := base.withLicense()
	otherLicense["license"] = testLicense + "-renewed"
	assert.NotEqual(t, first.Value, checksum(t, otherLicense).Value, "a new license rolls the pods")

	otherUsers := base.withUserList(`{"another-user":"x"}`)
	assert.NotEqual(t, first.Value, checksum(t, otherUsers).Value, "a new user list rolls the pods")

	res := run(t, stackConfig(t, cluster{"name": "ticks"}), false)
	assert.Nil(t, objects.StatefulSet(t, res, "ticks").Spec.Template.Annotations,
		"no Secrets, no checksum")
}

// assertSecretsOnlyInSecrets fails for any recorded input, state or export leaf that
// contains one of the secret values and is not a secret-marked leaf of a Secret.
func assertSecretsOnlyInSecrets(t *testing.T, res *mockrun.Result, secrets map[string]string) {
	t.Helper()
	for _, r := range res.Resources {
		for what, props := range map[string][]mockrun.Leaf{"inputs": mockrun.Leaves(r.Inputs), "state": mockrun.Leaves(r.State)} {
			for _, l := range props {
				s, ok := l.Value.(string)
				if !ok {
					continue
				}
				for name, secret := range secrets {
					if !strings.Contains(s, secret) {
						continue
					}
					assert.Equal(t, objects.SecretType, r.Type, "the %s appears in %s %s %s at %s", name, r.Type, r.Name, what, l.Path)
					assert.True(t, l.Secret, "the %s appears in plaintext in %s %s %s at %s", name, r.Type, r.Name, what, l.Path)
				}
			}
		}
	}
	for path, e := range res.Exports {
		for name, secret := range secrets {
			assert.NotContains(t, fmt.Sprint(e.Value), secret, "the %s appears in export %s", name, path)
		}
	}
}

func containsAny(r *mockrun.Resource, values ...string) bool {
	for _, l := range mockrun.Leaves(r.Inputs) {
		s, _ := l.Value.(string)
		for _, v := range values {
			if strings.Contains(s, v) {
				return true
			}
		}
	}
	return false
}

// TestSecretReferences: the license and the security keys may come from existing
// Secrets (secretRefs) instead of config. Nothing is generated for a referenced
// key: the license is mounted from the named Secret's key, and the security
// directory projects the generated Secret (for keys given by value) beside the
// referenced keys, under the file names qdbd reads.
func TestSecretReferences(t *testing.T) {
	c := cluster{"name": "ticks", "replicas": 3, "replication": 2}.withSecurity()
	security := maps.Clone(c["security"].(map[string]any))
	delete(security, "userList")
	c["security"] = security
	c["secretRefs"] = map[string]any{
		"license":  map[string]any{"name": "qdb-license", "key": "license.key"},
		"userList": map[string]any{"name": "qdb-users", "key": "users.json"},
	}
	res := run(t, stackConfig(t, c), false)
	assert.Nil(t, res.Find(objects.SecretType, "ticks-license"), "no Secret for a referenced license")
	generated := objects.Find(t, res, objects.SecretType, "ticks-security")
	assert.Equal(t, map[string]string{"cluster_private.key": testPrivateKey}, objects.Decode[corev1.Secret](t, generated).StringData,
		"only the key given by value")

	set := objects.StatefulSet(t, res, "ticks")
	license := objects.Volume(t, set.Spec.Template.Spec, "license")
	require.NotNil(t, license.Secret)
	assert.Equal(t, "qdb-license", license.Secret.SecretName)
	assert.Equal(t, []corev1.KeyToPath{{Key: "license.key", Path: "quasardb.key"}}, license.Secret.Items)

	sec := objects.Volume(t, set.Spec.Template.Spec, "security")
	require.NotNil(t, sec.Projected, "the security keys come from two Secrets")
	require.Len(t, sec.Projected.Sources, 2)
	assert.Equal(t, objects.StateMeta(t, generated).Name, sec.Projected.Sources[0].Secret.Name)
	assert.Equal(t, "qdb-users", sec.Projected.Sources[1].Secret.Name)
	assert.Equal(t, []corev1.KeyToPath{{Key: "users.json", Path: "users.cfg"}}, sec.Projected.Sources[1].Secret.Items)
	assert.Equal(t, objects.Ptr(int32(0o440)), sec.Projected.DefaultMode)
	env := objects.Env(t, container(t, set))
	assert.Equal(t, "/etc/qdb/license/quasardb.key", env["QDB_LICENSE_FILE"].Value)
	assert.Equal(t, "/etc/qdb/security/users.cfg", env["QDB_USER_LIST_FILE"].Value)

	bad := map[string]struct {
		cluster cluster
		key     string
	}{
		"license by value and by reference": {cluster{"name": "ticks", "secretRefs": map[string]any{
			"license": map[string]any{"name": "qdb-license", "key": "license.key"}}}.withLicense(), "quasardb[0].secretRefs.license"},
		"unknown reference": {cluster{"name": "ticks", "secretRefs": map[string]any{
			"password": map[string]any{"name": "x", "key": "y"}}}, "quasardb[0].secretRefs.password"},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, []string{tc.key}, objects.ConfigError(t, stackConfig(t, tc.cluster)).Keys())
		})
	}
}
