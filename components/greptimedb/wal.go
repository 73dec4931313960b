package greptimedb

import (
	"fmt"
	"slices"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/kube"
)

// Authentication to the Kafka brokers of the remote WAL. GreptimeDB v1.1.4
// reads it in [wal.sasl] and [wal.tls] on metasrv and the datanodes alike
// (src/common/wal/src/config/kafka/common.rs KafkaConnectionConfig, flattened
// into MetasrvKafkaConfig and DatanodeKafkaConfig; config/metasrv.example.toml
// and config/datanode.example.toml). The frontends and flownodes have no [wal].

// WALSASLTypes are the SASL mechanisms GreptimeDB v1.1.4 accepts in
// wal.sasl.type (KafkaClientSaslConfig, serde tag "type").
var WALSASLTypes = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// WALSASL is SASL authentication to the brokers. The password is never in the
// config file: it reaches the containers from its Secret as the variable
// GREPTIMEDB_<COMPONENT>__WAL__SASL__PASSWORD, which GreptimeDB reads as
// wal.sasl.password.
type WALSASL struct {
	Enabled bool `json:"enabled"`
	// Type is one of WALSASLTypes.
	Type     string `json:"type"`
	Username string `json:"username"`
	// PasswordSecretRef is the password's key in an existing Secret.
	PasswordSecretRef kube.SecretRef `json:"passwordSecretRef"`
}

// WALTLS is TLS to the brokers, from keys of existing Secrets mounted as files.
type WALTLS struct {
	Enabled bool `json:"enabled"`
	// ServerCASecretRef is the PEM CA that signed the brokers' certificates;
	// unset, only the image's system roots are trusted (GreptimeDB adds them
	// either way: KafkaClientTls::to_tls_config).
	ServerCASecretRef kube.SecretRef `json:"serverCaSecretRef"`
	// ClientCertSecretRef and ClientKeySecretRef are the PEM client identity
	// for brokers that require one; both or neither.
	ClientCertSecretRef kube.SecretRef `json:"clientCertSecretRef"`
	ClientKeySecretRef  kube.SecretRef `json:"clientKeySecretRef"`
}

// Files of the WAL's TLS Secrets, in one projected volume.
const (
	walTLSVolume   = "kafka-tls"
	WALTLSDir      = "/etc/greptimedb/kafka-tls"
	WALTLSCAPath   = WALTLSDir + "/ca.crt"
	WALTLSCertPath = WALTLSDir + "/tls.crt"
	WALTLSKeyPath  = WALTLSDir + "/tls.key"
)

// walSASLPasswordKey is the variable suffix of wal.sasl.password.
const walSASLPasswordKey = "WAL__SASL__PASSWORD"

// WALSASLPasswordEnv is the variable that carries the SASL password into
// component k's container (envPrefix: the GREPTIMEDB_<COMPONENT>__ prefix,
// separator "__"; src/common/config/src/config.rs load_layered_options).
func WALSASLPasswordEnv(k Kind) string { return envPrefix[k] + walSASLPasswordKey }

// validateAuth checks the brokers' SASL and TLS at p (the wal key).
func (w WAL) validateAuth(p *field.Path) field.ErrorList {
	if w.Provider != WALKafka {
		var errs field.ErrorList
		for _, on := range []struct {
			key     string
			enabled bool
		}{{"sasl", w.SASL.Enabled}, {"tls", w.TLS.Enabled}} {
			if on.enabled {
				errs = append(errs, field.Invalid(p.Child(on.key, "enabled"), true, fmt.Sprintf(
					"authentication to Kafka needs the kafka WAL (%s is %q); set %s to %s, or %s to false",
					p.Child("provider"), w.Provider, p.Child("provider"), WALKafka, p.Child(on.key, "enabled"))))
			}
		}
		return errs
	}
	return append(w.SASL.validate(p.Child("sasl")), w.TLS.validate(p.Child("tls"))...)
}

func (s WALSASL) validate(p *field.Path) field.ErrorList {
	if !s.Enabled {
		return nil
	}
	var errs field.ErrorList
	if !slices.Contains(WALSASLTypes, s.Type) {
		errs = append(errs, field.Invalid(p.Child("type"), s.Type, "allowed: "+strings.Join(WALSASLTypes, ", ")))
	}
	if s.Username == "" {
		errs = append(errs, field.Required(p.Child("username"), fmt.Sprintf(
			"the Kafka SASL user: `pulumi config set --path '%s' greptimedb`", p.Child("username"))))
	}
	ref := p.Child("passwordSecretRef")
	if s.PasswordSecretRef.Name == "" || s.PasswordSecretRef.Key == "" {
		return append(errs, field.Required(ref, fmt.Sprintf(
			"the SASL password is read from an existing Secret only: `pulumi config set --path '%s' kafka-wal` and "+
				"`pulumi config set --path '%s' password`", ref.Child("name"), ref.Child("key"))))
	}
	return append(errs, s.PasswordSecretRef.Validate(ref)...)
}

func (t WALTLS) validate(p *field.Path) field.ErrorList {
	if !t.Enabled {
		return nil
	}
	errs := t.ServerCASecretRef.Validate(p.Child("serverCaSecretRef"))
	errs = append(errs, t.ClientCertSecretRef.Validate(p.Child("clientCertSecretRef"))...)
	errs = append(errs, t.ClientKeySecretRef.Validate(p.Child("clientKeySecretRef"))...)
	cert, key := t.ClientCertSecretRef.IsSet(), t.ClientKeySecretRef.IsSet()
	switch {
	case cert && !key:
		errs = append(errs, field.Required(p.Child("clientKeySecretRef"), fmt.Sprintf(
			"the client certificate needs its private key: `pulumi config set --path '%s' kafka-wal-client` and "+
				"`pulumi config set --path '%s' tls.key`; or remove %s",
			p.Child("clientKeySecretRef", "name"), p.Child("clientKeySecretRef", "key"), p.Child("clientCertSecretRef"))))
	case key && !cert:
		errs = append(errs, field.Required(p.Child("clientCertSecretRef"), fmt.Sprintf(
			"the client key needs its certificate: `pulumi config set --path '%s' kafka-wal-client` and "+
				"`pulumi config set --path '%s' tls.crt`; or remove %s",
			p.Child("clientCertSecretRef", "name"), p.Child("clientCertSecretRef", "key"), p.Child("clientKeySecretRef"))))
	}
	return errs
}

// walSASLConfig is [wal.sasl] without the password, which comes from the
// environment.
type walSASLConfig struct {
	Type     string `toml:"type"`
	Username string `toml:"username"`
}

// walTLSConfig is [wal.tls]: the paths of the mounted files.
type walTLSConfig struct {
	ServerCACertPath string `toml:"server_ca_cert_path,omitempty"`
	ClientCertPath   string `toml:"client_cert_path,omitempty"`
	ClientKeyPath    string `toml:"client_key_path,omitempty"`
}

// saslConfig is [wal.sasl] (nil without SASL).
func (w WAL) saslConfig() *walSASLConfig {
	if !w.Remote() || !w.SASL.Enabled {
		return nil
	}
	return &walSASLConfig{Type: w.SASL.Type, Username: w.SASL.Username}
}

// tlsConfig is [wal.tls] (nil without TLS).
func (w WAL) tlsConfig() *walTLSConfig {
	if !w.Remote() || !w.TLS.Enabled {
		return nil
	}
	c := &walTLSConfig{}
	if w.TLS.ServerCASecretRef.IsSet() {
		c.ServerCACertPath = WALTLSCAPath
	}
	if w.TLS.ClientCertSecretRef.IsSet() {
		c.ClientCertPath, c.ClientKeyPath = WALTLSCertPath, WALTLSKeyPath
	}
	return c
}

// walTLSFile is one Secret key mounted for the WAL's TLS, and its file name
// in WALTLSDir.
type walTLSFile struct {
	ref  kube.SecretRef
	name string
}

// tlsFiles are the Secret keys the WAL's TLS mounts.
func (w WAL) tlsFiles() []walTLSFile {
	var files []walTLSFile
	for _, f := range []walTLSFile{
		{w.TLS.ServerCASecretRef, "ca.crt"},
		{w.TLS.ClientCertSecretRef, "tls.crt"},
		{w.TLS.ClientKeySecretRef, "tls.key"},
	} {
		if f.ref.IsSet() {
			files = append(files, f)
		}
	}
	return files
}

// withKafkaAuth gives main, the container of component k, what the WAL's
// authentication needs: the SASL password from its Secret, and the TLS files
// mounted read-only; it returns the pod's volumes for them.
func (w WAL) withKafkaAuth(k Kind, main *corev1.ContainerArgs) corev1.VolumeArray {
	if !w.Remote() {
		return nil
	}
	if w.SASL.Enabled {
		env, _ := main.Env.(corev1.EnvVarArray)
		main.Env = append(env, kube.EnvFromSecretRef(WALSASLPasswordEnv(k), w.SASL.PasswordSecretRef))
	}
	files := w.tlsFiles()
	if !w.TLS.Enabled || len(files) == 0 {
		return nil
	}
	mounts, _ := main.VolumeMounts.(corev1.VolumeMountArray)
	main.VolumeMounts = append(mounts, corev1.VolumeMountArgs{
		Name: pulumi.String(walTLSVolume), MountPath: pulumi.String(WALTLSDir), ReadOnly: pulumi.Bool(true),
	})
	var sources corev1.VolumeProjectionArray
	for _, f := range files {
		sources = append(sources, corev1.VolumeProjectionArgs{Secret: &corev1.SecretProjectionArgs{
			Name:  pulumi.String(f.ref.Name),
			Items: corev1.KeyToPathArray{corev1.KeyToPathArgs{Key: pulumi.String(f.ref.Key), Path: pulumi.String(f.name)}},
		}})
	}
	// Readable by the pod's group only (fsGroup), as the frontends' certificate.
	return corev1.VolumeArray{corev1.VolumeArgs{
		Name:      pulumi.String(walTLSVolume),
		Projected: &corev1.ProjectedVolumeSourceArgs{Sources: sources, DefaultMode: pulumi.Int(0o440)},
	}}
}
