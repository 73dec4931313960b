package greptimedb

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/kube"
)

// FrontendType is the frontend component's type token.
const FrontendType = "tsdb:greptimedb:Frontend"

// ServiceType is the type of the frontends' Service.
type ServiceType string

// Service types.
const (
	ServiceClusterIP    ServiceType = "ClusterIP"
	ServiceNodePort     ServiceType = "NodePort"
	ServiceLoadBalancer ServiceType = "LoadBalancer"
)

// FrontendSpec is GreptimeDB's frontends, the client entry point.
type FrontendSpec struct {
	kube.Size
	Passthrough
	ServiceType ServiceType `json:"serviceType"`
	// Service is the rest of the frontend Service: its metadata, and how a
	// load balancer or node port routes to it.
	Service FrontendServiceSpec `json:"service"`
	// LoadBalancer says whether `pulumi up` waits for a LoadBalancer Service's address.
	LoadBalancer LoadBalancerSpec `json:"loadBalancer"`
	// Ingress routes an HTTP host to the frontends' HTTP API.
	Ingress FrontendIngressSpec `json:"ingress"`
	Auth    AuthSpec            `json:"auth"`
	// TLS secures the MySQL, PostgreSQL and gRPC servers.
	TLS FrontendTLSSpec `json:"tls"`
	// Scheduling places the pods (and the database export Jobs), over the
	// stack's scheduling.
	Scheduling kube.Scheduling `json:"scheduling"`
	// SlowQuery is the slow query log.
	SlowQuery SlowQuery `json:"slowQuery"`
}

// LoadBalancerSpec says how `pulumi up` treats a LoadBalancer frontend Service.
type LoadBalancerSpec struct {
	// WaitForAddress makes the deploy wait until the cluster's load-balancer
	// controller gives the Service an address, and fail after TimeoutSeconds.
	// When false the Service is reported created at once (pulumi.com/skipAwait),
	// as clusters without a load-balancer controller (kind, bare metal) never
	// give it one; the frontends' readiness is awaited through their Deployment.
	WaitForAddress bool `json:"waitForAddress"`
	// TimeoutSeconds bounds the wait for the address (1 to 3600).
	TimeoutSeconds int `json:"timeoutSeconds"`
}

// FrontendServiceSpec is the frontend Service beyond its type (serviceType).
type FrontendServiceSpec struct {
	// Annotations and Labels are added to the Service's (a load-balancer
	// controller's settings, a DNS controller's hostname).
	Annotations map[string]string `json:"annotations"`
	Labels      map[string]string `json:"labels"`
	// LoadBalancerClass picks the load-balancer implementation (LoadBalancer only).
	LoadBalancerClass string `json:"loadBalancerClass"`
	// LoadBalancerSourceRanges are the client CIDR blocks the load balancer
	// admits (LoadBalancer only); under isolation the frontends admit them too.
	LoadBalancerSourceRanges []string `json:"loadBalancerSourceRanges"`
	// ExternalTrafficPolicy is Cluster or Local ("" keeps Kubernetes' default,
	// Cluster); LoadBalancer and NodePort only. Local keeps the client's source
	// address, which a NetworkPolicy on loadBalancerSourceRanges needs.
	ExternalTrafficPolicy string `json:"externalTrafficPolicy"`
}

// ExternalTrafficPolicies are the values of service.externalTrafficPolicy.
var ExternalTrafficPolicies = []string{"Cluster", "Local"}

// Validate checks the Service's metadata and load-balancer settings against
// its type; fp is the frontend's path.
func (s FrontendServiceSpec) Validate(typ ServiceType, fp *field.Path) field.ErrorList {
	p, typePath := fp.Child("service"), fp.Child("serviceType")
	errs := apivalidation.ValidateAnnotations(s.Annotations, p.Child("annotations"))
	for _, k := range slices.Sorted(maps.Keys(s.Annotations)) {
		if k == kube.AnnotationSkipAwait || k == kube.AnnotationTimeoutSeconds {
			errs = append(errs, field.Invalid(p.Child("annotations").Key(k), s.Annotations[k], fmt.Sprintf(
				"the program sets this annotation; remove it and set %s and %s instead",
				fp.Child("loadBalancer", "waitForAddress"), fp.Child("loadBalancer", "timeoutSeconds"))))
		}
	}
	errs = append(errs, metav1validation.ValidateLabels(s.Labels, p.Child("labels"))...)
	for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
		if kube.OwnLabel(k) {
			errs = append(errs, field.Invalid(p.Child("labels").Key(k), s.Labels[k],
				"the program sets this label on every object (it selects the pods); choose another key"))
		}
	}
	onlyWith := func(key string, value any, types ...ServiceType) {
		if slices.Contains(types, typ) {
			return
		}
		names := make([]string, len(types))
		for i, t := range types {
			names[i] = string(t)
		}
		errs = append(errs, field.Invalid(p.Child(key), value, fmt.Sprintf(
			"only a %s Service has it, and %s is %s; set %s to %s, or unset %s",
			strings.Join(names, " or "), typePath, typ, typePath, names[0], key)))
	}
	if s.LoadBalancerClass != "" {
		if msgs := metav1validation.ValidateLabelName(s.LoadBalancerClass, p.Child("loadBalancerClass")); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("loadBalancerClass"), s.LoadBalancerClass,
				"not a load-balancer class: a label-style name such as example.com/internal-vip"))
		}
		onlyWith("loadBalancerClass", s.LoadBalancerClass, ServiceLoadBalancer)
	}
	for i, cidr := range s.LoadBalancerSourceRanges {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			errs = append(errs, field.Invalid(p.Child("loadBalancerSourceRanges").Index(i), cidr, "not a CIDR block; want e.g. 203.0.113.0/24"))
		}
	}
	if len(s.LoadBalancerSourceRanges) > 0 {
		onlyWith("loadBalancerSourceRanges", s.LoadBalancerSourceRanges, ServiceLoadBalancer)
	}
	if s.ExternalTrafficPolicy != "" {
		if !slices.Contains(ExternalTrafficPolicies, s.ExternalTrafficPolicy) {
			errs = append(errs, field.Invalid(p.Child("externalTrafficPolicy"), s.ExternalTrafficPolicy,
				"allowed: "+strings.Join(ExternalTrafficPolicies, ", ")+`, or "" for Kubernetes' default (Cluster)`))
		} else {
			onlyWith("externalTrafficPolicy", s.ExternalTrafficPolicy, ServiceLoadBalancer, ServiceNodePort)
		}
	}
	return errs
}

// FrontendIngressSpec is a networking.k8s.io/v1 Ingress to the frontends' HTTP
// API. The frontends always serve HTTP (frontendArgsLine binds --http-addr;
// their probes use it), so nothing in the spec can leave it without a backend.
// GreptimeDB v1.1.4 has no HTTP TLS: the Ingress terminates TLS.
type FrontendIngressSpec struct {
	Enabled bool `json:"enabled"`
	// IngressClassName picks the ingress controller ("" is the cluster's default class).
	IngressClassName string `json:"ingressClassName"`
	// Hosts are the DNS names routed to the frontends; "*.example.com" matches one label.
	Hosts []string `json:"hosts"`
	// TLSSecretName is an existing kubernetes.io/tls Secret for the hosts ("" for plain HTTP).
	TLSSecretName string `json:"tlsSecretName"`
}

// Validate checks the Ingress: at least one host, each a DNS name, and the
// class and Secret names.
func (in FrontendIngressSpec) Validate(p *field.Path) field.ErrorList {
	if !in.Enabled {
		return nil
	}
	var errs field.ErrorList
	if len(in.Hosts) == 0 {
		errs = append(errs, field.Invalid(p.Child("hosts"), nil, fmt.Sprintf(
			"an Ingress needs a host: `pulumi config set --path '%s' greptimedb.example.com`, or set %s to false",
			p.Child("hosts").Index(0), p.Child("enabled"))))
	}
	for i, h := range in.Hosts {
		if !validIngressHost(h) {
			errs = append(errs, field.Invalid(p.Child("hosts").Index(i), h,
				"not a DNS name: lower-case labels such as greptimedb.example.com, or a wildcard such as *.example.com (not an IP address)"))
		}
	}
	if in.IngressClassName != "" {
		if msgs := validation.IsDNS1123Subdomain(in.IngressClassName); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("ingressClassName"), in.IngressClassName, "not an IngressClass name: "+strings.Join(msgs, "; ")))
		}
	}
	if in.TLSSecretName != "" {
		if msgs := validation.IsDNS1123Subdomain(in.TLSSecretName); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("tlsSecretName"), in.TLSSecretName, "not a Secret name: "+strings.Join(msgs, "; ")))
		}
	}
	return errs
}

// validIngressHost reports whether h is what an Ingress rule's host may be: a
// DNS-1123 subdomain or a "*." wildcard of one, and not an IP address.
func validIngressHost(h string) bool {
	if net.ParseIP(h) != nil {
		return false
	}
	if strings.HasPrefix(h, "*.") {
		return len(validation.IsWildcardDNS1123Subdomain(h)) == 0
	}
	return len(validation.IsDNS1123Subdomain(h)) == 0
}

// Validate checks the frontends' size, Service and authentication.
func (f FrontendSpec) Validate(p *field.Path) field.ErrorList {
	errs := f.Size.Validate(p)
	errs = append(errs, f.Scheduling.Validate(p.Child("scheduling"))...)
	switch f.ServiceType {
	case ServiceClusterIP, ServiceNodePort, ServiceLoadBalancer:
	default:
		errs = append(errs, field.Invalid(p.Child("serviceType"), string(f.ServiceType), fmt.Sprintf("allowed: %s, %s, %s",
			ServiceClusterIP, ServiceNodePort, ServiceLoadBalancer)))
	}
	lb := f.LoadBalancer
	if lb.TimeoutSeconds < 1 || lb.TimeoutSeconds > 3600 {
		errs = append(errs, field.Invalid(p.Child("loadBalancer", "timeoutSeconds"), lb.TimeoutSeconds, "must be between 1 and 3600 seconds"))
	}
	if lb.WaitForAddress && f.ServiceType != ServiceLoadBalancer {
		errs = append(errs, field.Invalid(p.Child("loadBalancer", "waitForAddress"), lb.WaitForAddress, fmt.Sprintf(
			"only a LoadBalancer Service gets an address; set %s to %s or waitForAddress to false",
			p.Child("serviceType"), ServiceLoadBalancer)))
	}
	errs = append(errs, f.Service.Validate(f.ServiceType, p)...)
	errs = append(errs, f.Ingress.Validate(p.Child("ingress"))...)
	errs = append(errs, f.TLS.Validate(p.Child("tls"))...)
	errs = append(errs, f.SlowQuery.Validate(p.Child("slowQuery"))...)
	return append(errs, f.Auth.Validate(p.Child("auth"))...)
}

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
	if t := b.spec.Frontend.TLS; t.SecretName != "" {
		return t.SecretName
	}
	return b.objName + "-tls"
}

// newCertificate asks cert-manager for the frontends' certificate, for the
// Service's in-cluster names and the configured ones.
func (b *frontendBuilder) newCertificate() error {
	cm := b.spec.Frontend.TLS.CertManager
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
		Metadata:   b.ID.ObjectMeta(name, b.Namespace),
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

// Frontend is the deployed frontends, the cluster's client entry point.
type Frontend struct {
	pulumi.ResourceState

	ConfigMap *corev1.ConfigMap
	Service   *corev1.Service
	// Ingress routes the configured hosts to the HTTP API (nil without one).
	Ingress    *networkingv1.Ingress
	Deployment *appsv1.Deployment
	// AuthSecret holds the static user provider file (nil without auth, or with
	// the users in an existing Secret).
	AuthSecret *corev1.Secret
	Config     pulumi.StringOutput

	// In-cluster endpoints of the frontend Service.
	HTTPEndpoint     pulumi.StringOutput
	GRPCEndpoint     pulumi.StringOutput
	MySQLEndpoint    pulumi.StringOutput
	PostgresEndpoint pulumi.StringOutput
	// ExternalAddress is the LoadBalancer Service's IP or hostname, "" until assigned.
	ExternalAddress pulumi.StringOutput
	Username        pulumi.StringOutput
	// Password is secret (empty without auth).
	Password pulumi.StringOutput
	// Users are the generated passwords (secret) of auth.users, by username;
	// a user whose password is in an existing Secret is not in it.
	Users pulumi.StringMap
}

// InternalGRPCPort is the frontends' internal gRPC server (GreptimeDB v1.1.4
// `--internal-grpc-bind-addr`, src/cmd/src/frontend.rs). It skips
// authentication (src/frontend/src/server.rs: no user provider for the
// internal server), and the frontends advertise it to metasrv in place of
// their gRPC port (src/frontend/src/heartbeat.rs, frontend_peer_addr). It is
// opened only when a component of the cluster calls it (in the components
// table), and is in no Service: its callers find the pods through metasrv.
const InternalGRPCPort = 4010

// httpPortName names the HTTP port in the frontend Service, which the Ingress routes to.
const httpPortName = "http"

// frontendPorts are the frontends' client ports.
var frontendPorts = []kube.Port{
	{Name: httpPortName, Number: HTTPPort}, {Name: "grpc", Number: GRPCPort},
	{Name: "mysql", Number: MySQLPort}, {Name: "postgres", Number: PostgresPort},
}

type frontendConfig struct {
	Logging   loggingConfig   `toml:"logging"`
	SlowQuery slowQueryConfig `toml:"slow_query"`
	// TLS on the client-facing servers (nil without TLS).
	MySQL    *tlsSection `toml:"mysql,omitempty"`
	Postgres *tlsSection `toml:"postgres,omitempty"`
	GRPC     *tlsSection `toml:"grpc,omitempty"`
}

// buildFrontend creates the cluster's frontends: a ConfigMap, the auth Secret
// with a generated password, a Service and a Deployment that starts after the
// datanodes. They read the datanodes' generated S3 keys for database exports.
func buildFrontend(c *clusterBuilder, cl *Cluster) (pulumi.Resource, error) {
	f := &Frontend{}
	cl.Frontend = f
	_, err := newComponent(c, KindFrontend, FrontendType, f, func(p part) (pulumi.Map, error) {
		return (&frontendBuilder{part: p, objectStoreSecret: cl.Datanode.Secret}).build(f)
	})
	return f.Deployment, err
}

// frontendClientPorts are what the cluster's clients, and every pod of the
// cluster, may reach.
func frontendClientPorts() []int { return []int{HTTPPort, GRPCPort, MySQLPort, PostgresPort} }

// frontendBuilder creates the frontends' children.
type frontendBuilder struct {
	part
	objectStoreSecret *corev1.Secret
}

// build creates the children and returns the component's outputs.
func (b *frontendBuilder) build(f *Frontend) (pulumi.Map, error) {
	spec := b.spec.Frontend
	f.Config = b.renderConfig(func([]string) any {
		c := frontendConfig{Logging: b.logging(), SlowQuery: newSlowQueryConfig(spec.SlowQuery)}
		if spec.TLS.Enabled {
			// gRPC cannot reload a renewed certificate in v1.1.4 (frontend.example.toml).
			c.MySQL, c.Postgres, c.GRPC = newTLSSection(true), newTLSSection(true), newTLSSection(false)
		}
		return c
	})
	var err error
	if f.ConfigMap, err = b.newConfigMap(f.Config); err != nil {
		return nil, err
	}
	f.Username, f.Password = pulumi.String("").ToStringOutput(), kube.Secret(pulumi.String(""))
	var authFile pulumi.StringOutput
	switch {
	case spec.Auth.UsersSecretRef.IsSet():
		// The users and their passwords live in the referenced Secret.
		f.Username = pulumi.String(spec.Auth.Username).ToStringOutput()
	case spec.Auth.Enabled:
		if authFile, err = b.newAuth(f); err != nil {
			return nil, err
		}
	}
	if f.Service, err = b.newFrontendService(); err != nil {
		return nil, err
	}
	if spec.Ingress.Enabled {
		if f.Ingress, err = b.newIngress(); err != nil {
			return nil, err
		}
	}
	if spec.TLS.Enabled && spec.TLS.CertManager.IssuerName != "" {
		if err := b.newCertificate(); err != nil {
			return nil, err
		}
	}
	if f.Deployment, err = b.newDeployment(f, authFile); err != nil {
		return nil, err
	}
	if err := b.finish(spec.Replicas, b.clientIngress(), b.exportEgress()); err != nil {
		return nil, err
	}
	host := b.fqdn(b.objName)
	f.HTTPEndpoint = pulumi.Sprintf("http://%s:%d", host, HTTPPort)
	f.GRPCEndpoint = pulumi.Sprintf("%s:%d", host, GRPCPort)
	f.MySQLEndpoint = pulumi.Sprintf("%s:%d", host, MySQLPort)
	f.PostgresEndpoint = pulumi.Sprintf("%s:%d", host, PostgresPort)
	f.ExternalAddress = f.Service.Status.LoadBalancer().Ingress().ApplyT(externalAddress).(pulumi.StringOutput)
	return f.endpointOutputs(), nil
}

// endpointOutputs are the client endpoints and credentials, as the frontend and
// the cluster that composes it both register them.
func (f *Frontend) endpointOutputs() pulumi.Map {
	return pulumi.Map{
		"http":     f.HTTPEndpoint,
		"grpc":     f.GRPCEndpoint,
		"mysql":    f.MySQLEndpoint,
		"postgres": f.PostgresEndpoint,
		"username": f.Username,
		"password": f.Password,
	}
}

// newFrontendService creates the frontend Service: its type, the configured
// labels, annotations and load-balancer settings, and, for a LoadBalancer,
// how the deploy awaits it.
func (b *frontendBuilder) newFrontendService() (*corev1.Service, error) {
	spec := b.spec.Frontend
	svc := spec.Service
	md := kube.Metadata{Labels: svc.Labels, Annotations: map[string]string{}}
	for k, v := range svc.Annotations {
		md.Annotations[k] = v
	}
	args := &corev1.ServiceSpecArgs{Type: pulumi.String(string(spec.ServiceType))}
	if spec.ServiceType == ServiceLoadBalancer {
		for k, v := range loadBalancerAwait(spec.LoadBalancer) {
			md.Annotations[k] = v
		}
	}
	if svc.LoadBalancerClass != "" {
		args.LoadBalancerClass = pulumi.String(svc.LoadBalancerClass)
	}
	if len(svc.LoadBalancerSourceRanges) > 0 {
		args.LoadBalancerSourceRanges = pulumi.ToStringArray(svc.LoadBalancerSourceRanges)
	}
	if svc.ExternalTrafficPolicy != "" {
		args.ExternalTrafficPolicy = pulumi.String(svc.ExternalTrafficPolicy)
	}
	return b.newService(md, args)
}

// newIngress routes the configured hosts to the frontend Service's HTTP port,
// by its name, with TLS from the configured Secret.
func (b *frontendBuilder) newIngress() (*networkingv1.Ingress, error) {
	in := b.spec.Frontend.Ingress
	path := networkingv1.HTTPIngressPathArray{networkingv1.HTTPIngressPathArgs{
		Path:     pulumi.String("/"),
		PathType: pulumi.String("Prefix"),
		Backend: networkingv1.IngressBackendArgs{Service: &networkingv1.IngressServiceBackendArgs{
			Name: pulumi.String(b.objName),
			Port: &networkingv1.ServiceBackendPortArgs{Name: pulumi.String(httpPortName)},
		}},
	}}
	var rules networkingv1.IngressRuleArray
	for _, h := range in.Hosts {
		rules = append(rules, networkingv1.IngressRuleArgs{
			Host: pulumi.String(h),
			Http: &networkingv1.HTTPIngressRuleValueArgs{Paths: path},
		})
	}
	spec := &networkingv1.IngressSpecArgs{Rules: rules}
	if in.IngressClassName != "" {
		spec.IngressClassName = pulumi.String(in.IngressClassName)
	}
	if in.TLSSecretName != "" {
		spec.Tls = networkingv1.IngressTLSArray{networkingv1.IngressTLSArgs{
			Hosts:      pulumi.ToStringArray(in.Hosts),
			SecretName: pulumi.String(in.TLSSecretName),
		}}
	}
	return b.NewIngress(b.objName, kube.Metadata{}, spec)
}

// loadBalancerAwait is the annotation that tells the Kubernetes provider how to treat a
// LoadBalancer Service: skip its await, or wait for an address for at most timeoutSeconds.
func loadBalancerAwait(lb LoadBalancerSpec) map[string]string {
	if !lb.WaitForAddress {
		return map[string]string{kube.AnnotationSkipAwait: "true"}
	}
	return map[string]string{kube.AnnotationTimeoutSeconds: strconv.Itoa(lb.TimeoutSeconds)}
}

// externalAddress is the first load-balancer ingress's IP, else its hostname, else "".
func externalAddress(ingress []corev1.LoadBalancerIngress) string {
	for _, in := range ingress {
		if in.Ip != nil && *in.Ip != "" {
			return *in.Ip
		}
		if in.Hostname != nil && *in.Hostname != "" {
			return *in.Hostname
		}
	}
	return ""
}

// frontendArgsLine is the frontend's command line after the image's entrypoint.
func frontendArgsLine(metaAddress, userProvider string) []string {
	line := []string{
		"frontend", "start",
		"--rpc-bind-addr", fmt.Sprintf("0.0.0.0:%d", GRPCPort),
		"--rpc-server-addr", fmt.Sprintf("$(POD_IP):%d", GRPCPort),
		"--metasrv-addrs", metaAddress,
		"--http-addr", fmt.Sprintf("0.0.0.0:%d", HTTPPort),
		"--mysql-addr", fmt.Sprintf("0.0.0.0:%d", MySQLPort),
		"--postgres-addr", fmt.Sprintf("0.0.0.0:%d", PostgresPort),
		"--config-file", ConfigFile,
	}
	if userProvider != "" {
		line = append(line, "--user-provider="+userProvider)
	}
	return line
}

func (b *frontendBuilder) newDeployment(f *Frontend, authFile pulumi.StringOutput) (*appsv1.Deployment, error) {
	spec := b.spec.Frontend
	provider := ""
	switch {
	case spec.Auth.UsersSecretRef.IsSet():
		provider = WatchUserProvider
	case spec.Auth.Enabled:
		provider = UserProvider
	}
	internal := b.internalGRPC()
	line := b.metaAddress().ApplyT(func(addr string) []string {
		line := frontendArgsLine(addr, provider)
		if internal {
			line = append(line,
				"--internal-grpc-bind-addr", fmt.Sprintf("0.0.0.0:%d", InternalGRPCPort),
				"--internal-grpc-server-addr", fmt.Sprintf("$(POD_IP):%d", InternalGRPCPort))
		}
		return line
	}).(pulumi.StringArrayOutput)
	mounts := corev1.VolumeMountArray{dataMount("data")}
	vols := volumes(f.ConfigMap.Metadata.Name().Elem(), kube.EmptyDir("data", "1Gi"))
	var secrets []pulumi.StringInput
	if f.AuthSecret != nil {
		secrets = append(secrets, authFile)
	}
	exportEnv, exportSecrets := b.exportEnv()
	annotations := podAnnotations(f.Config, append(secrets, exportSecrets...)...)
	authVols, init := b.frontendUsersVolumes(f.AuthSecret)
	if authVols != nil {
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String("auth"), MountPath: pulumi.String(AuthDir), ReadOnly: pulumi.Bool(true)})
		vols = append(vols, authVols...)
	}
	if spec.TLS.Enabled {
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String("tls"), MountPath: pulumi.String(TLSDir), ReadOnly: pulumi.Bool(true)})
		vols = append(vols, b.tlsVolume())
	}
	main := b.container(spec.Resources, mounts...)
	main.Args = line
	if b.internalGRPC() {
		main.Ports = append(main.Ports.(corev1.ContainerPortArray), kube.ContainerPort("grpc-internal", InternalGRPCPort))
	}
	main.Env = append(main.Env.(corev1.EnvVarArray), exportEnv...)
	dep, err := appsv1.NewDeployment(b.Ctx, b.objName, &appsv1.DeploymentArgs{
		Metadata: b.ID.ObjectMeta(b.objName, b.Namespace),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(spec.Replicas),
			Selector: b.ID.LabelSelector(),
			Template: b.podTemplate(annotations, main, vols, nil, init...),
		},
	}, append([]pulumi.ResourceOption{b.Parent}, kube.DependsOn(b.after)...)...)
	if err != nil {
		return nil, fmt.Errorf("deployment: %w", err)
	}
	return dep, nil
}

// internalGRPC reports whether the frontends open InternalGRPCPort: a
// component of the cluster calls it.
func (b *frontendBuilder) internalGRPC() bool {
	return len(b.callersOn(KindFrontend, InternalGRPCPort)) > 0
}

// exportEnv is the frontends' extra environment for database exports (COPY
// DATABASE runs in the frontends, which write to the object store with its
// keys), and its secret values, which roll the frontends when they change.
func (b *frontendBuilder) exportEnv() (corev1.EnvVarArray, []pulumi.StringInput) {
	if !b.spec.Backup.Database.Enabled {
		return nil, nil
	}
	o := b.spec.Datanode.ObjectStorage
	return o.s3KeyEnv(b.objectStoreSecret), o.secretInputs()
}

// clientIngress: the frontends are the cluster's entry point (clientPorts in
// the table): the configured clients, the load balancer's source ranges and
// every pod of the cluster reach every client port.
func (b *frontendBuilder) clientIngress() []kube.Flow {
	access := b.spec.NetworkPolicy
	// The load balancer's admitted clients reach the pods with their own
	// addresses (with externalTrafficPolicy Local; Cluster masquerades them).
	access.ClientCIDRs = append(slices.Clone(access.ClientCIDRs), b.spec.Frontend.Service.LoadBalancerSourceRanges...)
	clients := append(access.Peers(), kube.PodsPeer(map[string]string{kube.LabelName: App, kube.LabelInstance: b.cluster}))
	return []kube.Flow{{Peers: clients, Ports: frontendClientPorts()}}
}

// exportEgress: with database exports, the frontends reach the object store,
// outside the cluster at addresses the program cannot know.
func (b *frontendBuilder) exportEgress() []kube.Flow {
	if !b.spec.Backup.Database.Enabled {
		return nil
	}
	port, err := objectStorePort(b.spec.Datanode.ObjectStorage.Endpoint)
	if err != nil {
		return nil
	}
	return []kube.Flow{kube.Allow([]int{port})}
}

// frontendPanels are the frontends' dashboard series.
func frontendPanels(pods string) []kube.Panel {
	return []kube.Panel{
		{Title: "Frontend: ingested rows/s", Unit: "short", Expr: fmt.Sprintf(`sum(rate(greptime_table_operator_ingest_rows{%s}[$__rate_interval]))`, pods)},
		{Title: "Frontend: HTTP p99 latency", Unit: "s", Expr: fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(greptime_servers_http_requests_elapsed_bucket{%s}[$__rate_interval])))`, pods)},
		{Title: "Frontend: errors/s", Unit: "short", Expr: fmt.Sprintf(`sum(rate(greptime_servers_error{%s}[$__rate_interval]))`, pods)},
	}
}
