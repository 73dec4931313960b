package etcd

import (
	"fmt"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/kube"
)

// TLSSpec is mutual TLS on the members' client and peer ports, from existing
// Secrets holding ca.crt, tls.crt and tls.key (as cert-manager writes them).
// Health and metrics stay on the plain metrics port, so probes and the waits
// of etcd's clients keep working.
type TLSSpec struct {
	Enabled bool `json:"enabled"`
	// ServerSecretName is the members' serving certificate, valid for
	// <name>-client.<ns>.svc.<domain> and *.<name>-peer.<ns>.svc.<domain>.
	ServerSecretName string `json:"serverSecretName"`
	// PeerSecretName is the members' peer certificate (it may be the same Secret).
	PeerSecretName string `json:"peerSecretName"`
	// ClientSecretName is the client certificate of etcd's clients (meta, the backups).
	ClientSecretName string `json:"clientSecretName"`
}

// Validate requires the three Secrets when TLS is on.
func (t TLSSpec) Validate(p *field.Path) field.ErrorList {
	if !t.Enabled {
		return nil
	}
	var errs field.ErrorList
	for _, s := range []struct{ key, value string }{
		{"serverSecretName", t.ServerSecretName}, {"peerSecretName", t.PeerSecretName}, {"clientSecretName", t.ClientSecretName},
	} {
		if s.value == "" {
			errs = append(errs, field.Invalid(p.Child(s.key), nil, fmt.Sprintf(
				"required with TLS: an existing Secret with ca.crt, tls.crt and tls.key; or set %s to false", p.Child("enabled"))))
			continue
		}
		if msgs := validation.IsDNS1123Subdomain(s.value); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child(s.key), s.value, "not a Secret name: "+strings.Join(msgs, "; ")))
		}
	}
	return errs
}

// Scheme is the client and peer URLs' scheme.
func (t TLSSpec) Scheme() string {
	if t.Enabled {
		return "https"
	}
	return "http"
}

// Where the certificates are mounted, in the members and in etcd's clients.
const (
	tlsServerDir = "/etc/etcd/tls/server"
	tlsPeerDir   = "/etc/etcd/tls/peer"
	TLSClientDir = "/etc/etcd/tls/client"
)

// tlsFlags are the members' certificate flags.
func tlsFlags(t TLSSpec) []string {
	if !t.Enabled {
		return nil
	}
	return []string{
		"--cert-file=" + tlsServerDir + "/tls.crt",
		"--key-file=" + tlsServerDir + "/tls.key",
		"--trusted-ca-file=" + tlsServerDir + "/ca.crt",
		"--client-cert-auth=true",
		"--peer-cert-file=" + tlsPeerDir + "/tls.crt",
		"--peer-key-file=" + tlsPeerDir + "/tls.key",
		"--peer-trusted-ca-file=" + tlsPeerDir + "/ca.crt",
		"--peer-client-cert-auth=true",
	}
}

// tlsVolume mounts a certificate Secret under name, readable by the pod's group only.
func tlsVolume(name, secretName string) corev1.VolumeArgs {
	return corev1.VolumeArgs{
		Name: pulumi.String(name),
		Secret: &corev1.SecretVolumeSourceArgs{
			SecretName:  pulumi.String(secretName),
			DefaultMode: pulumi.Int(0o440),
		},
	}
}

// memberMounts are the data volume and, with TLS, the server and peer certificates.
func (b *builder) memberMounts() corev1.VolumeMountArray {
	mounts := corev1.VolumeMountArray{corev1.VolumeMountArgs{Name: pulumi.String(dataVolume), MountPath: pulumi.String(dataMount)}}
	if b.args.Spec.TLS.Enabled {
		mounts = append(mounts,
			corev1.VolumeMountArgs{Name: pulumi.String("tls-server"), MountPath: pulumi.String(tlsServerDir), ReadOnly: pulumi.Bool(true)},
			corev1.VolumeMountArgs{Name: pulumi.String("tls-peer"), MountPath: pulumi.String(tlsPeerDir), ReadOnly: pulumi.Bool(true)})
	}
	return mounts
}

// memberVolumes are the certificate volumes (none without TLS).
func (b *builder) memberVolumes() corev1.VolumeArray {
	t := b.args.Spec.TLS
	if !t.Enabled {
		return nil
	}
	return corev1.VolumeArray{tlsVolume("tls-server", t.ServerSecretName), tlsVolume("tls-peer", t.PeerSecretName)}
}

// clientCertMounts mount the client certificate of etcd's clients (none without TLS).
func clientCertMounts(t TLSSpec) corev1.VolumeMountArray {
	if !t.Enabled {
		return nil
	}
	return corev1.VolumeMountArray{ClientCertMount()}
}

// ClientCertMount mounts the "etcd-client-tls" volume at TLSClientDir.
func ClientCertMount() corev1.VolumeMountArgs {
	return corev1.VolumeMountArgs{Name: pulumi.String("etcd-client-tls"), MountPath: pulumi.String(TLSClientDir), ReadOnly: pulumi.Bool(true)}
}

// ClientCertVolumes are the client certificate's volume (none without TLS).
func ClientCertVolumes(t TLSSpec) corev1.VolumeArray {
	if !t.Enabled {
		return nil
	}
	return corev1.VolumeArray{tlsVolume("etcd-client-tls", t.ClientSecretName)}
}

// HealthURL is the plain /health of the members behind the client Service:
// on the client port without TLS, on the metrics port (which the client
// Service then exposes too) with it.
func HealthURL(name string, namespace pulumi.StringInput, domain string, t TLSSpec) pulumi.StringOutput {
	port := ClientPort
	if t.Enabled {
		port = MetricsPort
	}
	return pulumi.Sprintf("http://%s:%d/health", kube.ServiceFQDN(clientServiceName(name), namespace, domain), port)
}
