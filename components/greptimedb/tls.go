package greptimedb

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// FrontendTLSSpec is TLS on the frontends' MySQL, PostgreSQL and gRPC servers,
// from an existing kubernetes.io/tls Secret or a cert-manager Certificate.
// GreptimeDB v1.1.4 serves HTTP without TLS (config/frontend.example.toml has
// [mysql.tls], [postgres.tls] and [grpc.tls], no [http.tls]): put HTTP clients
// behind an ingress or a mesh.
type FrontendTLSSpec struct {
	Enabled bool `json:"enabled"`
	// SecretName is an existing Secret with tls.crt and tls.key.
	SecretName string `json:"secretName"`
	// CertManager has cert-manager issue the certificate instead.
	CertManager CertManagerSpec `json:"certManager"`
}

// CertManagerSpec is the cert-manager Certificate the program creates.
type CertManagerSpec struct {
	// IssuerName and IssuerKind (Issuer or ClusterIssuer) sign the certificate.
	IssuerName string `json:"issuerName"`
	IssuerKind string `json:"issuerKind"`
	// DNSNames are added to the frontend Service's in-cluster names (e.g. the
	// load balancer's hostname).
	DNSNames []string `json:"dnsNames"`
}

// TLS modes of GreptimeDB's servers (src/servers/src/tls.rs TlsMode, snake_case).
const tlsModeRequire = "require"

// Paths of the frontends' certificate.
const (
	TLSDir      = "/etc/greptimedb/tls"
	TLSCertPath = TLSDir + "/tls.crt"
	TLSKeyPath  = TLSDir + "/tls.key"
)

// CertificateType is the type token of a cert-manager Certificate.
const CertificateType = "kubernetes:cert-manager.io/v1:Certificate"

// Validate checks that TLS has exactly one source of its certificate.
func (t FrontendTLSSpec) Validate(p *field.Path) field.ErrorList {
	if !t.Enabled {
		return nil
	}
	var errs field.ErrorList
	cm := t.CertManager
	switch {
	case t.SecretName == "" && cm.IssuerName == "":
		errs = append(errs, field.Invalid(p.Child("enabled"), true, fmt.Sprintf(
			"TLS needs a certificate: set %s to an existing kubernetes.io/tls Secret, or %s to a cert-manager issuer",
			p.Child("secretName"), p.Child("certManager", "issuerName"))))
	case t.SecretName != "" && cm.IssuerName != "":
		errs = append(errs, field.Invalid(p.Child("secretName"), t.SecretName, fmt.Sprintf(
			"%s is also set: take the certificate from the Secret or from cert-manager, not both", p.Child("certManager", "issuerName"))))
	}
	if t.SecretName != "" {
		if msgs := validation.IsDNS1123Subdomain(t.SecretName); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("secretName"), t.SecretName, "not a Secret name: "+strings.Join(msgs, "; ")))
		}
	}
	if cm.IssuerName != "" && cm.IssuerKind != "Issuer" && cm.IssuerKind != "ClusterIssuer" {
		errs = append(errs, field.Invalid(p.Child("certManager", "issuerKind"), cm.IssuerKind, "allowed: Issuer, ClusterIssuer"))
	}
	for i, n := range cm.DNSNames {
		if msgs := validation.IsWildcardDNS1123Subdomain(n); len(msgs) > 0 && len(validation.IsDNS1123Subdomain(n)) > 0 {
			errs = append(errs, field.Invalid(p.Child("certManager", "dnsNames").Index(i), n, "not a DNS name"))
		}
	}
	return errs
}

// tlsSection is a server's [<server>.tls] table.
type tlsSection struct {
	TLS tlsConfig `toml:"tls"`
}

type tlsConfig struct {
	Mode     string `toml:"mode"`
	CertPath string `toml:"cert_path"`
	KeyPath  string `toml:"key_path"`
	// Watch reloads a renewed certificate (MySQL and PostgreSQL; gRPC cannot yet).
	Watch bool `toml:"watch"`
}

func newTLSSection(watch bool) *tlsSection {
	return &tlsSection{TLS: tlsConfig{Mode: tlsModeRequire, CertPath: TLSCertPath, KeyPath: TLSKeyPath, Watch: watch}}
}

// tlsSecretName is the Secret holding the frontends' certificate.
func (b *frontendBuilder) tlsSecretName() string {
	if t := b.args.Spec.TLS; t.SecretName != "" {
		return t.SecretName
	}
	return b.objName + "-tls"
}

// newCertificate asks cert-manager for the frontends' certificate, for the
// Service's in-cluster names and the configured ones.
func (b *frontendBuilder) newCertificate() error {
	cm := b.args.Spec.TLS.CertManager
	svc := b.objName
	dnsNames := pulumi.StringArray{
		pulumi.String(svc),
		pulumi.Sprintf("%s.%s", svc, b.Namespace),
		pulumi.Sprintf("%s.%s.svc", svc, b.Namespace),
		b.fqdn(svc),
	}
	for _, n := range cm.DNSNames {
		dnsNames = append(dnsNames, pulumi.String(n))
	}
	name := b.objName + "-tls"
	_, err := apiextensions.NewCustomResource(b.Ctx, name, &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("cert-manager.io/v1"),
		Kind:       pulumi.String("Certificate"),
		Metadata:   b.id.ObjectMeta(name, b.Namespace),
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{
			"secretName": pulumi.String(b.tlsSecretName()),
			"dnsNames":   dnsNames,
			"issuerRef": pulumi.Map{
				"name":  pulumi.String(cm.IssuerName),
				"kind":  pulumi.String(cm.IssuerKind),
				"group": pulumi.String("cert-manager.io"),
			},
			"privateKey": pulumi.Map{"rotationPolicy": pulumi.String("Always")},
		}},
	}, b.Parent)
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	return nil
}

// tlsVolume mounts the certificate's Secret, readable by the pod's group only.
func (b *frontendBuilder) tlsVolume() corev1.VolumeArgs {
	return corev1.VolumeArgs{
		Name: pulumi.String("tls"),
		Secret: &corev1.SecretVolumeSourceArgs{
			SecretName: pulumi.String(b.tlsSecretName()),
			Items: corev1.KeyToPathArray{
				corev1.KeyToPathArgs{Key: pulumi.String("tls.crt"), Path: pulumi.String("tls.crt")},
				corev1.KeyToPathArgs{Key: pulumi.String("tls.key"), Path: pulumi.String("tls.key")},
			},
			DefaultMode: pulumi.Int(0o440),
		},
	}
}
