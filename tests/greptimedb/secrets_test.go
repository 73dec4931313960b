package greptimedb_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"tsdb-platform/components/greptimedb"
	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
	"tsdb-platform/tests/objects"
)

// TestSecretsStaySecret: the generated password and the S3 credentials appear
// only in secret-marked inputs and outputs, never in a ConfigMap or a literal env value.
func TestSecretsStaySecret(t *testing.T) {
	const keyID, secretKey = "AKIDSECRETVALUE", "S3SECRETVALUE"
	objectStorage := fmt.Sprintf(`{"type":"S3","bucket":"bkt","region":"us-east-1","accessKeyId":%q,"secretAccessKey":%q}`, keyID, secretKey)
	cfg := config(t, []map[string]any{{"name": "metrics"}}, nil)
	cfg[stacks.KeyGreptimeDB] = `[{"name":"metrics","datanode":{"objectStorage":` + objectStorage + `}}]`
	res := objects.Run(t, cfg, objects.SecretKeys(stacks.KeyGreptimeDB))

	password := mockrun.TestSecret("metrics-frontend-password", greptimedb.PasswordLength)
	pw := objects.Find(t, res, objects.RandomPasswordType, "metrics-frontend-password")
	assert.Equal(t, password, objects.State(pw)["result"])
	assert.Equal(t, false, objects.Inputs(pw)["special"])

	secrets := map[string]string{"password": password, "accessKeyId": keyID, "secretAccessKey": secretKey}
	found := map[string]int{}
	for _, r := range res.Resources {
		for _, state := range []bool{false, true} {
			props := r.Inputs
			if state {
				props = r.State
			}
			for _, leaf := range mockrun.Leaves(props) {
				s, ok := leaf.Value.(string)
				if !ok {
					continue
				}
				for what, v := range secrets {
					if !strings.Contains(s, v) {
						continue
					}
					found[what]++
					assert.True(t, leaf.Secret, "%s of %s %s at %s is not secret", what, r.Type, r.Name, leaf.Path)
					assert.NotEqual(t, objects.ConfigMapType, r.Type, "%s in ConfigMap %s", what, r.Name)
					assert.False(t, strings.HasSuffix(leaf.Path, ".value"), "%s as a literal env value in %s", what, r.Name)
				}
			}
		}
	}
	for what := range secrets {
		assert.Positive(t, found[what], "%s reaches some resource", what)
	}
	for _, w := range append(res.OfType(objects.StatefulSetType), res.OfType(objects.DeploymentType)...) {
		for _, leaf := range mockrun.Leaves(w.Inputs) {
			for what, v := range secrets {
				assert.NotContains(t, fmt.Sprint(leaf.Value), v, "%s in workload %s", what, w.Name)
			}
		}
	}

	e, ok := res.Export("greptimedb.metrics.password")
	require.True(t, ok)
	assert.Equal(t, password, e.Value)
	assert.True(t, e.Secret)
	for path, e := range res.Exports {
		if path == "greptimedb.metrics.password" {
			continue
		}
		for what, v := range secrets {
			assert.NotContains(t, fmt.Sprint(e.Value), v, "%s in export %s", what, path)
		}
	}

	auth := objects.Find(t, res, objects.SecretType, "metrics-frontend-auth")
	assert.Equal(t, "admin="+password+"\n", objects.Decode[corev1.Secret](t, auth).StringData["passwd"])
	assert.True(t, mockrun.IsSecretAt(auth.Inputs, "stringData.passwd"))
	frontend := objects.Find(t, res, objects.DeploymentType, "metrics-frontend")
	assert.True(t, mockrun.IsSecretAt(frontend.Inputs, "spec.template.metadata.annotations.checksum/secret"))
	assert.False(t, mockrun.IsSecretAt(frontend.Inputs, "spec.template.metadata.annotations.checksum/config"))
}

// TestChecksumFollowsConfig: a config change changes the component's checksum
// annotation (and only that component's); an unchanged config does not.
func TestChecksumFollowsConfig(t *testing.T) {
	checksums := func(overrides map[string]any) map[string]any {
		res := runCluster(t, overrides)
		return map[string]any{
			"meta":     annotation(t, objects.Find(t, res, objects.DeploymentType, "metrics-meta"), "checksum/config"),
			"datanode": annotation(t, objects.Find(t, res, objects.StatefulSetType, "metrics-datanode"), "checksum/config"),
			"frontend": annotation(t, objects.Find(t, res, objects.DeploymentType, "metrics-frontend"), "checksum/config"),
		}
	}
	base := checksums(nil)
	for component, sum := range base {
		assert.Regexp(t, `^[0-9a-f]{64}$`, sum, component)
	}
	assert.Equal(t, base, checksums(nil), "an unchanged config keeps every checksum")

	// Region failover needs a Kafka WAL and shared storage; turning it on then
	// changes only meta's config.
	remote := map[string]any{
		"wal": map[string]any{"provider": "kafka", "brokerEndpoints": []any{"kafka:9092"}},
		"datanode": map[string]any{"objectStorage": map[string]any{
			"type": "S3", "bucket": "bkt", "region": "us-east-1", "accessKeyId": "id", "secretAccessKey": "key"}},
	}
	withFailover := map[string]any{"meta": map[string]any{"enableRegionFailover": true}}
	for k, v := range remote {
		withFailover[k] = v
	}
	before, failover := checksums(remote), checksums(withFailover)
	assert.NotEqual(t, before["meta"], failover["meta"], "meta's config changed")
	assert.Equal(t, before["datanode"], failover["datanode"])
	assert.Equal(t, before["frontend"], failover["frontend"])

	s3 := checksums(map[string]any{"datanode": map[string]any{"objectStorage": map[string]any{
		"type": "S3", "bucket": "bkt", "region": "us-east-1", "accessKeyId": "id", "secretAccessKey": "key"}}})
	assert.NotEqual(t, base["datanode"], s3["datanode"], "datanode's config changed")
	assert.Equal(t, base["meta"], s3["meta"])

	// The checksum is the hash of exactly what the ConfigMap holds.
	res := runCluster(t, nil)
	cm := objects.ConfigMap(t, res, "metrics-meta-config")
	require.Contains(t, cm.Data, "config.toml")
	assert.Equal(t, kubeChecksum(cm.Data["config.toml"]), annotation(t, objects.Find(t, res, objects.DeploymentType, "metrics-meta"), "checksum/config"))
}

// TestUsersFromExistingSecret: with auth.usersSecretRef the frontends read their
// users from an existing Secret's key, through the watching user provider so an
// edited Secret applies without a restart; no password is generated and no
// Secret written.
func TestUsersFromExistingSecret(t *testing.T) {
	res := objects.Run(t, config(t, []map[string]any{{"name": "metrics", "frontend": map[string]any{"auth": map[string]any{
		"enabled": true, "username": "grafana", "usersSecretRef": map[string]any{"name": "greptime-users", "key": "passwd"}}}}}, nil))
	assert.Empty(t, res.OfType(objects.RandomPasswordType), "no generated password")
	assert.Nil(t, res.Find(objects.SecretType, "metrics-frontend-auth"), "no auth Secret")

	dep := objects.Deployment(t, res, "metrics-frontend")
	c := objects.Container(t, dep.Spec.Template.Spec, "frontend")
	assert.Contains(t, c.Args, "--user-provider="+greptimedb.WatchUserProvider)
	vol := objects.Volume(t, dep.Spec.Template.Spec, "auth")
	require.NotNil(t, vol.Secret)
	assert.Equal(t, "greptime-users", vol.Secret.SecretName)
	assert.Equal(t, []corev1.KeyToPath{{Key: "passwd", Path: greptimedb.AuthKey}}, vol.Secret.Items)
	assert.Equal(t, greptimedb.AuthDir, objects.MountsByPath(c)[greptimedb.AuthDir].MountPath)

	username, ok := res.Export("greptimedb.metrics.username")
	require.True(t, ok)
	assert.Equal(t, "grafana", username.Value)
}

// TestFrontendUsers: auth.users get one line each in the user file with their
// permission; a generated password lives in the auth Secret and is exported
// (secret); a referenced one is joined to the file in the pod by the users
// init container, in memory, from a projected Secret key, never the program.
func TestFrontendUsers(t *testing.T) {
	res := runCluster(t, map[string]any{"frontend": map[string]any{"auth": map[string]any{"users": []any{
		map[string]any{"username": "reader", "permission": "ro"},
		map[string]any{"username": "ingest", "permission": "writeonly", "passwordSecret": map[string]any{"name": "ingest-password", "key": "password"}},
	}}}})
	admin := mockrun.TestSecret("metrics-frontend-password", greptimedb.PasswordLength)
	reader := mockrun.TestSecret("metrics-frontend-password-reader", greptimedb.PasswordLength)
	assert.Equal(t, "admin="+admin+"\nreader:readonly="+reader+"\n", objects.Secret(t, res, "metrics-frontend-auth").StringData[greptimedb.AuthKey],
		"one line per generated user, with its permission")
	for _, cm := range res.OfType(objects.ConfigMapType) {
		for _, v := range objects.Decode[corev1.ConfigMap](t, cm).Data {
			assert.NotContains(t, v, reader, "no password in a ConfigMap")
		}
	}

	dep := objects.Deployment(t, res, "metrics-frontend")
	pod := dep.Spec.Template.Spec
	users := objects.InitContainer(t, pod, "users")
	assert.Equal(t, []string{"/bin/sh", "-c", greptimedb.UsersScript}, users.Command)
	env := map[string]string{}
	for _, e := range users.Env {
		env[e.Name] = e.Value
	}
	assert.Equal(t, "ingest:writeonly", env[greptimedb.EnvUsersReferenced])
	assert.Equal(t, greptimedb.AuthFile, env[greptimedb.EnvUsersFile])
	auth := objects.Volume(t, pod, "auth")
	require.NotNil(t, auth.EmptyDir, "the assembled file lives in the pod")
	assert.Equal(t, corev1.StorageMediumMemory, auth.EmptyDir.Medium)
	pw := objects.Volume(t, pod, "passwords")
	require.NotNil(t, pw.Projected)
	require.Len(t, pw.Projected.Sources, 1)
	assert.Equal(t, "ingest-password", pw.Projected.Sources[0].Secret.Name)
	assert.Equal(t, []corev1.KeyToPath{{Key: "password", Path: "0"}}, pw.Projected.Sources[0].Secret.Items)
	gen := objects.Volume(t, pod, "auth-generated")
	require.NotNil(t, gen.Secret)
	assert.Equal(t, objects.StateMeta(t, objects.Find(t, res, objects.SecretType, "metrics-frontend-auth")).Name, gen.Secret.SecretName)
	c := objects.Container(t, pod, "frontend")
	assert.Contains(t, c.Args, "--user-provider="+greptimedb.UserProvider)
	assert.True(t, objects.MountsByPath(c)[greptimedb.AuthDir].ReadOnly)

	out, ok := res.Export("greptimedb.metrics.users")
	require.True(t, ok)
	assert.True(t, out.Secret, "generated passwords are secret outputs")
	assert.Equal(t, map[string]string{"reader": reader}, out.Value)
	e, _ := res.Export("greptimedb.metrics.username")
	assert.Equal(t, "admin", e.Value, "the first user is exported as before")

	t.Run("without users: the file and outputs as before", func(t *testing.T) {
		res := runCluster(t, nil)
		assert.Equal(t, "admin="+admin+"\n", objects.Secret(t, res, "metrics-frontend-auth").StringData[greptimedb.AuthKey])
		_, ok := res.Export("greptimedb.metrics.users")
		assert.False(t, ok)
		for _, c := range objects.Deployment(t, res, "metrics-frontend").Spec.Template.Spec.InitContainers {
			assert.NotEqual(t, "users", c.Name)
		}
	})
}

// TestFrontendTLS: TLS on the MySQL, PostgreSQL and gRPC servers from an existing
// Secret or a cert-manager Certificate for the Service's names; renewed
// certificates are reloaded where GreptimeDB can (MySQL, PostgreSQL). TLS without
// a certificate source, or with two, is rejected by key.
func TestFrontendTLS(t *testing.T) {
	for name, tc := range map[string]struct {
		tls         map[string]any
		secret      string
		certificate bool
	}{
		"existing Secret": {map[string]any{"enabled": true, "secretName": "frontend-cert"}, "frontend-cert", false},
		"cert-manager": {map[string]any{"enabled": true, "certManager": map[string]any{
			"issuerName": "ca", "issuerKind": "Issuer", "dnsNames": []any{"db.example.com"}}}, "metrics-frontend-tls", true},
	} {
		t.Run(name, func(t *testing.T) {
			res := objects.Run(t, config(t, []map[string]any{{"name": "metrics", "frontend": map[string]any{"tls": tc.tls}}}, nil))
			cfg := tomlConfig(t, objects.ConfigMap(t, res, "metrics-frontend-config"))
			for server, watch := range map[string]bool{"mysql": true, "postgres": true, "grpc": false} {
				section, ok := cfg[server].(map[string]any)
				require.True(t, ok, "[%s]", server)
				assert.Equal(t, map[string]any{"mode": "require", "cert_path": "/etc/greptimedb/tls/tls.crt",
					"key_path": "/etc/greptimedb/tls/tls.key", "watch": watch}, section["tls"], server)
			}
			dep := objects.Deployment(t, res, "metrics-frontend")
			vol := objects.Volume(t, dep.Spec.Template.Spec, "tls")
			require.NotNil(t, vol.Secret)
			assert.Equal(t, tc.secret, vol.Secret.SecretName)
			assert.Equal(t, greptimedb.TLSDir, objects.MountsByPath(objects.Container(t, dep.Spec.Template.Spec, "frontend"))[greptimedb.TLSDir].MountPath)
			certs := res.OfType(greptimedb.CertificateType)
			if !tc.certificate {
				assert.Empty(t, certs)
				return
			}
			require.Len(t, certs, 1)
			in := objects.Inputs(certs[0])
			assert.Equal(t, "metrics-frontend-tls", mockrun.Get(in, "spec.secretName"))
			assert.Equal(t, []any{"metrics-frontend", "metrics-frontend." + namespace, "metrics-frontend." + namespace + ".svc",
				fqdn("metrics-frontend"), "db.example.com"}, mockrun.Get(in, "spec.dnsNames"))
			assert.Equal(t, "Issuer", mockrun.Get(in, "spec.issuerRef.kind"))
		})
	}
	for name, tc := range map[string]struct {
		tls map[string]any
		key string
	}{
		"TLS without a Secret": {map[string]any{"enabled": true}, "greptimedb[0].frontend.tls.enabled"},
		"a Secret and cert-manager": {map[string]any{"enabled": true, "secretName": "s",
			"certManager": map[string]any{"issuerName": "ca"}}, "greptimedb[0].frontend.tls.secretName"},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, []string{tc.key}, rejected(t, map[string]any{"frontend": map[string]any{"tls": tc.tls}}).Keys())
		})
	}
}

// TestEtcdTLS: with etcd TLS the members serve their client and peer ports over
// mutual TLS with the certificates from the named Secrets, meta connects with
// the client certificate ([backend_tls]), and the waits and probes use the plain
// health endpoint on the metrics port, which the client Service then exposes.
func TestEtcdTLS(t *testing.T) {
	res := runCluster(t, map[string]any{"etcd": map[string]any{"replicas": 3, "tls": map[string]any{
		"enabled": true, "serverSecretName": "etcd-server", "peerSecretName": "etcd-peer", "clientSecretName": "etcd-client"}}})
	sts := objects.StatefulSet(t, res, "metrics-etcd")
	member := objects.Container(t, sts.Spec.Template.Spec, "etcd")
	args := strings.Join(member.Args, " ")
	for _, want := range []string{
		"--listen-client-urls=https://0.0.0.0:2379", "--listen-peer-urls=https://0.0.0.0:2380",
		"--listen-metrics-urls=http://0.0.0.0:8080", "--client-cert-auth=true", "--peer-client-cert-auth=true",
		"--cert-file=/etc/etcd/tls/server/tls.crt", "--peer-trusted-ca-file=/etc/etcd/tls/peer/ca.crt",
		"metrics-etcd-0=https://metrics-etcd-0.metrics-etcd-peer.$(POD_NAMESPACE).svc.cluster.local:2380",
	} {
		assert.Contains(t, args, want)
	}
	assert.Equal(t, "etcd-server", objects.Volume(t, sts.Spec.Template.Spec, "tls-server").Secret.SecretName)
	assert.Equal(t, "etcd-peer", objects.Volume(t, sts.Spec.Template.Spec, "tls-peer").Secret.SecretName)
	assert.Equal(t, "/livez", member.LivenessProbe.HTTPGet.Path, "probes stay on the plain metrics port")

	assert.Equal(t, int32(8080), objects.ServicePorts(objects.Service(t, res, "metrics-etcd-client"))["metrics"])
	cfg := tomlConfig(t, objects.ConfigMap(t, res, "metrics-meta-config"))
	assert.Equal(t, map[string]any{"mode": "require", "cert_path": "/etc/etcd/tls/client/tls.crt",
		"key_path": "/etc/etcd/tls/client/tls.key", "ca_cert_path": "/etc/etcd/tls/client/ca.crt"}, cfg["backend_tls"])
	meta := objects.Deployment(t, res, "metrics-meta")
	assert.Equal(t, "etcd-client", objects.Volume(t, meta.Spec.Template.Spec, "etcd-client-tls").Secret.SecretName)
	wait := objects.InitContainer(t, meta.Spec.Template.Spec, "wait-etcd")
	assert.Equal(t, "http://"+fqdn("metrics-etcd-client")+":8080/health", objects.Env(t, wait)[greptimedb.EnvWaitURLs].Value)

	for name, tc := range map[string]struct {
		etcd map[string]any
		keys []string
	}{
		"TLS without Secrets": {map[string]any{"tls": map[string]any{"enabled": true}}, []string{
			"greptimedb[0].etcd.tls.clientSecretName", "greptimedb[0].etcd.tls.peerSecretName", "greptimedb[0].etcd.tls.serverSecretName"}},
		"TLS for an external etcd": {map[string]any{"endpoints": []any{"etcd.example.svc:2379"}, "tls": map[string]any{"enabled": true}},
			[]string{"greptimedb[0].etcd.tls.enabled"}},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.keys, rejected(t, map[string]any{"etcd": tc.etcd}).Keys())
		})
	}
}

// TestEtcdSnapshotsWithTLS: with etcd TLS, the snapshot CronJob dials a name that
// a server certificate with exactly the names the README requires is valid for
// (etcdctl checks the host name), with the client certificate.
func TestEtcdSnapshotsWithTLS(t *testing.T) {
	res := runCluster(t, map[string]any{
		"etcd": map[string]any{"replicas": 3, "tls": map[string]any{
			"enabled": true, "serverSecretName": "etcd-server", "peerSecretName": "etcd-peer", "clientSecretName": "etcd-client"}},
		"backup": map[string]any{"etcd": map[string]any{"enabled": true}},
	})
	cron := objects.Get[batchv1.CronJob](t, res, objects.CronJobType, "metrics-etcd-backup")
	pod := cron.Spec.JobTemplate.Spec.Template.Spec
	snapshot := objects.InitContainer(t, pod, "snapshot")
	var endpoint string
	for _, arg := range snapshot.Command {
		if v, ok := strings.CutPrefix(arg, "--endpoints="); ok {
			endpoint = v
		}
	}
	u, err := url.Parse(endpoint)
	require.NoError(t, err, "--endpoints=%s", endpoint)
	assert.Equal(t, "https", u.Scheme)
	assert.Contains(t, snapshot.Command, "--cert=/etc/etcd/tls/client/tls.crt")
	assert.Equal(t, "etcd-client", objects.Volume(t, pod, "etcd-client-tls").Secret.SecretName)

	// The server certificate as the README asks for it: the client Service's FQDN
	// and the members' wildcard, nothing else.
	ca, server := testCertificates(t, []string{
		"metrics-etcd-client." + namespace + ".svc.cluster.local",
		"*.metrics-etcd-peer." + namespace + ".svc.cluster.local",
	})
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	_, err = server.Verify(x509.VerifyOptions{DNSName: u.Hostname(), Roots: roots})
	assert.NoError(t, err, "etcdctl dials %s: the certificate must be valid for that name", u.Hostname())
}

// testCertificates makes a CA and a server certificate it signed for dnsNames.
func testCertificates(t *testing.T, dnsNames []string) (ca, server *x509.Certificate) {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	caKey, serverKey := key(), key()
	now := time.Now()
	caTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "etcd-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err = x509.ParseCertificate(caDER)
	require.NoError(t, err)
	serverTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "etcd-server"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		DNSNames: dnsNames, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	serverDER, err := x509.CreateCertificate(rand.Reader, serverTemplate, ca, &serverKey.PublicKey, caKey)
	require.NoError(t, err)
	server, err = x509.ParseCertificate(serverDER)
	require.NoError(t, err)
	return ca, server
}
