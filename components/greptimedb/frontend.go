package greptimedb

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
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
	// LoadBalancer says whether `pulumi up` waits for a LoadBalancer Service's address.
	LoadBalancer LoadBalancerSpec `json:"loadBalancer"`
	Auth         AuthSpec         `json:"auth"`
	// TLS secures the MySQL, PostgreSQL and gRPC servers.
	TLS FrontendTLSSpec `json:"tls"`
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

// AuthSpec is the frontends' static user authentication.
type AuthSpec struct {
	// Enabled turns on authentication with a generated password.
	Enabled bool `json:"enabled"`
	// Username is the user the generated password belongs to.
	Username string `json:"username"`
	// UsersSecretRef names an existing Secret key holding the user file
	// ("user=password" lines) instead: no password is generated, and the
	// frontends watch the mounted file, so edits to the Secret apply without a
	// restart (watch_file_user_provider, v1.1.4 src/auth/src/common.rs).
	UsersSecretRef kube.SecretRef `json:"usersSecretRef"`
}

// Validate checks the frontends' size, Service and authentication.
func (f FrontendSpec) Validate(p *field.Path) field.ErrorList {
	errs := f.Size.Validate(p)
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
	errs = append(errs, f.TLS.Validate(p.Child("tls"))...)
	errs = append(errs, f.SlowQuery.Validate(p.Child("slowQuery"))...)
	errs = append(errs, f.Auth.UsersSecretRef.Validate(p.Child("auth", "usersSecretRef"))...)
	if f.Auth.UsersSecretRef.IsSet() && !f.Auth.Enabled {
		errs = append(errs, field.Invalid(p.Child("auth", "usersSecretRef"), nil, fmt.Sprintf(
			"authentication is off; set %s to true, or unset usersSecretRef", p.Child("auth", "enabled"))))
	}
	if f.Auth.Enabled && !f.Auth.UsersSecretRef.IsSet() && !ValidUsername(f.Auth.Username) {
		errs = append(errs, field.Invalid(p.Child("auth", "username"), f.Auth.Username,
			"required when auth is enabled; letters, digits, '-' and '_' only (no '=', ':' or spaces)"))
	}
	return errs
}

// ValidUsername reports whether u can own a line of the static user provider's file
// ("user=password"): letters, digits, '-' and '_', at least one.
func ValidUsername(u string) bool {
	if u == "" {
		return false
	}
	for _, r := range u {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
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

// Static user provider file: mounted read-only from the auth Secret.
const (
	AuthDir      = "/etc/greptimedb/auth"
	AuthKey      = "passwd"
	AuthFile     = AuthDir + "/" + AuthKey
	UserProvider = "static_user_provider:file:" + AuthFile
	// WatchUserProvider reads the user file from an existing Secret and reloads
	// it when the Secret changes.
	WatchUserProvider = "watch_file_user_provider:" + AuthFile
	// PasswordLength is the length of the generated password.
	PasswordLength = 32
)

// Frontend is the deployed frontends, the cluster's client entry point.
type Frontend struct {
	pulumi.ResourceState

	ConfigMap  *corev1.ConfigMap
	Service    *corev1.Service
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
}

// InternalGRPCPort is the frontends' internal gRPC server (GreptimeDB v1.1.4
// `--internal-grpc-bind-addr`, src/cmd/src/frontend.rs). It skips
// authentication (src/frontend/src/server.rs: no user provider for the
// internal server), and the frontends advertise it to metasrv in place of
// their gRPC port (src/frontend/src/heartbeat.rs, frontend_peer_addr). It is
// opened only when a component of the cluster calls it (in the components
// table), and is in no Service: its callers find the pods through metasrv.
const InternalGRPCPort = 4010

// frontendPorts are the frontends' client ports.
var frontendPorts = []kube.Port{
	{Name: "http", Number: HTTPPort}, {Name: "grpc", Number: GRPCPort},
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
	var serviceAnnotations pulumi.StringMap
	if spec.ServiceType == ServiceLoadBalancer {
		serviceAnnotations = loadBalancerAwait(spec.LoadBalancer)
	}
	if f.Service, err = b.newService(serviceAnnotations, &corev1.ServiceSpecArgs{Type: pulumi.String(string(spec.ServiceType))}); err != nil {
		return nil, err
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

// loadBalancerAwait is the annotation that tells the Kubernetes provider how to treat a
// LoadBalancer Service: skip its await, or wait for an address for at most timeoutSeconds.
func loadBalancerAwait(lb LoadBalancerSpec) pulumi.StringMap {
	if !lb.WaitForAddress {
		return pulumi.StringMap{kube.AnnotationSkipAwait: pulumi.String("true")}
	}
	return pulumi.StringMap{kube.AnnotationTimeoutSeconds: pulumi.String(strconv.Itoa(lb.TimeoutSeconds))}
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

// newAuth generates the password and stores the static user provider file in a
// Secret. It returns the file's content (secret) for the pods' checksum.
func (b *frontendBuilder) newAuth(f *Frontend) (pulumi.StringOutput, error) {
	username := b.spec.Frontend.Auth.Username
	pw, err := random.NewRandomPassword(b.Ctx, b.Name+"-password", &random.RandomPasswordArgs{
		Length:  pulumi.Int(PasswordLength),
		Special: pulumi.Bool(false),
	}, b.Parent)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("password: %w", err)
	}
	f.Username = pulumi.String(username).ToStringOutput()
	f.Password = kube.Secret(pw.Result)
	file := kube.Secret(pulumi.Sprintf("%s=%s\n", username, f.Password))
	if f.AuthSecret, err = b.NewSecret(b.Name+"-auth", pulumi.StringMap{AuthKey: file}); err != nil {
		return pulumi.StringOutput{}, err
	}
	return file, nil
}

// usersVolume is the volume holding the user file at AuthKey: the generated
// Secret, or the referenced key; nil without authentication. Readable by the
// pod's group (fsGroup) only. The frontends and the database export mount it.
func usersVolume(auth AuthSpec, generated *corev1.Secret) *corev1.VolumeArgs {
	source := &corev1.SecretVolumeSourceArgs{DefaultMode: pulumi.Int(0o440)}
	switch {
	case generated != nil:
		source.SecretName = generated.Metadata.Name().Elem()
	case auth.UsersSecretRef.IsSet():
		ref := auth.UsersSecretRef
		source.SecretName = pulumi.String(ref.Name)
		source.Items = corev1.KeyToPathArray{corev1.KeyToPathArgs{Key: pulumi.String(ref.Key), Path: pulumi.String(AuthKey)}}
	default:
		return nil
	}
	return &corev1.VolumeArgs{Name: pulumi.String("auth"), Secret: source}
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
	if auth := usersVolume(spec.Auth, f.AuthSecret); auth != nil {
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String("auth"), MountPath: pulumi.String(AuthDir), ReadOnly: pulumi.Bool(true)})
		vols = append(vols, *auth)
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
			Template: b.podTemplate(annotations, main, vols, nil),
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
// the table): the configured clients and every pod of the cluster reach every
// client port.
func (b *frontendBuilder) clientIngress() []kube.Flow {
	clients := append(b.spec.NetworkPolicy.Peers(), kube.PodsPeer(map[string]string{kube.LabelName: App, kube.LabelInstance: b.cluster}))
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
