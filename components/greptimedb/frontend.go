package greptimedb

import (
	"fmt"
	"strconv"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/kube"
)

// FrontendType is the frontend component's type token.
const FrontendType = "tsdb:greptimedb:Frontend"

// Static user provider file: mounted read-only from the auth Secret.
const (
	AuthDir      = "/etc/greptimedb/auth"
	AuthKey      = "passwd"
	AuthFile     = AuthDir + "/" + AuthKey
	UserProvider = "static_user_provider:file:" + AuthFile
	// WatchUserProvider reads the user file from an existing Secret and reloads
	// it when the Secret changes.
	WatchUserProvider = "watch_file_user_provider:" + AuthFile
)

// PasswordLength is the length of the generated password.
const PasswordLength = 32

// FrontendArgs configures GreptimeDB's frontends.
type FrontendArgs struct {
	Common
	Spec FrontendSpec
	// Meta is the metasrv the frontends ask for routes; the Deployment starts
	// after Meta.WaitFor (the datanodes).
	Meta MetaClient
	// ObjectStorePort, when not 0, lets the frontends reach the object store
	// (they write database exports there).
	ObjectStorePort int
	// Clients may reach the client ports under isolation.
	Clients kube.ClientAccess
	// ExportEnv is the frontends' extra environment for database exports (the
	// object store's keys), and ExportSecrets its secret values, which roll the
	// frontends when they change.
	ExportEnv     corev1.EnvVarArray
	ExportSecrets []pulumi.StringInput
}

// Frontend is the deployed frontends, the cluster's client entry point.
type Frontend struct {
	pulumi.ResourceState

	ConfigMap  *corev1.ConfigMap
	Service    *corev1.Service
	Deployment *appsv1.Deployment
	// AuthSecret holds the static user provider file (nil without auth, or with
	// the users in an existing Secret).
	AuthSecret *corev1.Secret
	// usersRef is the existing Secret key holding the user file, if any.
	usersRef kube.SecretRef
	Config   pulumi.StringOutput

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

type frontendConfig struct {
	Logging loggingConfig `toml:"logging"`
	// TLS on the client-facing servers (nil without TLS).
	MySQL    *tlsSection `toml:"mysql,omitempty"`
	Postgres *tlsSection `toml:"postgres,omitempty"`
	GRPC     *tlsSection `toml:"grpc,omitempty"`
}

// Validate reports every problem of the arguments.
func (a *FrontendArgs) Validate() field.ErrorList {
	if a == nil {
		return field.ErrorList{field.Required(nil, "args are required")}
	}
	return a.Meta.validate(a.Common, a.Spec.Validate(field.NewPath("frontend")))
}

// NewFrontend creates the frontends of a cluster: a ConfigMap, the auth Secret
// with a generated password, a Service and a Deployment that starts after args.WaitFor.
func NewFrontend(ctx *pulumi.Context, name string, args *FrontendArgs, opts ...pulumi.ResourceOption) (*Frontend, error) {
	f := &Frontend{}
	return kube.NewComponent(ctx, "frontend", FrontendType, name, f, args.Validate, func(k kube.Component) (pulumi.Map, error) {
		b := &frontendBuilder{part: newPart(k, args.Common, "frontend", FrontendName(args.Cluster)), args: args}
		return b.build(f)
	}, opts...)
}

// frontendBuilder creates the frontends' children.
type frontendBuilder struct {
	part
	args *FrontendArgs
}

// build creates the children and returns the component's outputs.
func (b *frontendBuilder) build(f *Frontend) (pulumi.Map, error) {
	spec := b.args.Spec
	f.Config = renderConfig(func([]string) any {
		c := frontendConfig{Logging: b.logging()}
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
		f.usersRef = spec.Auth.UsersSecretRef
		f.Username = pulumi.String(spec.Auth.Username).ToStringOutput()
	case spec.Auth.Enabled:
		if authFile, err = b.newAuth(f); err != nil {
			return nil, err
		}
	}
	serviceMeta := b.id.ObjectMeta(b.objName, b.Namespace)
	if spec.ServiceType == ServiceLoadBalancer {
		serviceMeta.Annotations = loadBalancerAwait(spec.LoadBalancer)
	}
	if f.Service, err = b.newService(serviceMeta, &corev1.ServiceSpecArgs{Type: pulumi.String(string(spec.ServiceType)), Ports: kube.ServicePorts(frontendPorts...)}); err != nil {
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
	if err := b.finish(spec.Replicas, b.flows); err != nil {
		return nil, err
	}
	host := kube.ServiceFQDN(b.objName, b.Namespace, b.ClusterDomain)
	f.HTTPEndpoint = pulumi.Sprintf("http://%s:%d", host, HTTPPort)
	f.GRPCEndpoint = pulumi.Sprintf("%s:%d", host, GRPCPort)
	f.MySQLEndpoint = pulumi.Sprintf("%s:%d", host, MySQLPort)
	f.PostgresEndpoint = pulumi.Sprintf("%s:%d", host, PostgresPort)
	f.ExternalAddress = f.Service.Status.LoadBalancer().Ingress().ApplyT(externalAddress).(pulumi.StringOutput)
	return f.endpointOutputs(), nil
}

// frontendPorts are the frontends' client ports.
var frontendPorts = []kube.Port{
	{Name: "http", Number: HTTPPort}, {Name: "grpc", Number: GRPCPort},
	{Name: "mysql", Number: MySQLPort}, {Name: "postgres", Number: PostgresPort},
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
	username := b.args.Spec.Auth.Username
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
	f.AuthSecret, err = corev1.NewSecret(b.Ctx, b.Name+"-auth", &corev1.SecretArgs{
		Metadata:   b.id.AutoNamedMeta(b.Namespace),
		Type:       pulumi.String("Opaque"),
		StringData: pulumi.StringMap{AuthKey: file},
	}, b.Parent)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("auth secret: %w", err)
	}
	return file, nil
}

// authVolume is the volume holding the user file at AuthKey: the generated
// Secret, or the referenced key; nil without authentication. Readable by the
// pod's group (fsGroup) only.
func (f *Frontend) authVolume() *corev1.VolumeArgs {
	source := &corev1.SecretVolumeSourceArgs{DefaultMode: pulumi.Int(0o440)}
	switch {
	case f.AuthSecret != nil:
		source.SecretName = f.AuthSecret.Metadata.Name().Elem()
	case f.usersRef.IsSet():
		source.SecretName = pulumi.String(f.usersRef.Name)
		source.Items = corev1.KeyToPathArray{corev1.KeyToPathArgs{Key: pulumi.String(f.usersRef.Key), Path: pulumi.String(AuthKey)}}
	default:
		return nil
	}
	return &corev1.VolumeArgs{Name: pulumi.String("auth"), Secret: source}
}

// FrontendArgsLine is the frontend's command line after the image's entrypoint.
func FrontendArgsLine(metaAddress, userProvider string) []string {
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
	spec := b.args.Spec
	provider := ""
	switch {
	case spec.Auth.UsersSecretRef.IsSet():
		provider = WatchUserProvider
	case spec.Auth.Enabled:
		provider = UserProvider
	}
	line := b.args.Meta.Address.ToStringOutput().ApplyT(func(addr string) []string {
		return FrontendArgsLine(addr, provider)
	}).(pulumi.StringArrayOutput)
	mounts := corev1.VolumeMountArray{dataMount("data")}
	volumes := corev1.VolumeArray{
		configVolume(f.ConfigMap.Metadata.Name().Elem()),
		kube.EmptyDir("tmp", "1Gi"),
		kube.EmptyDir("data", "1Gi"),
	}
	var secrets []pulumi.StringInput
	if f.AuthSecret != nil {
		secrets = append(secrets, authFile)
	}
	annotations := podAnnotations(f.Config, append(secrets, b.args.ExportSecrets...)...)
	if auth := f.authVolume(); auth != nil {
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String("auth"), MountPath: pulumi.String(AuthDir), ReadOnly: pulumi.Bool(true)})
		volumes = append(volumes, *auth)
	}
	if spec.TLS.Enabled {
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String("tls"), MountPath: pulumi.String(TLSDir), ReadOnly: pulumi.Bool(true)})
		volumes = append(volumes, b.tlsVolume())
	}
	main := b.container(frontendPorts, spec.Resources, mounts...)
	main.Args = line
	main.Env = append(main.Env.(corev1.EnvVarArray), b.args.ExportEnv...)
	opts := append([]pulumi.ResourceOption{b.Parent}, kube.DependsOn(b.args.Meta.WaitFor)...)
	dep, err := appsv1.NewDeployment(b.Ctx, b.objName, &appsv1.DeploymentArgs{
		Metadata: b.id.ObjectMeta(b.objName, b.Namespace),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(spec.Replicas),
			Selector: b.id.LabelSelector(),
			Template: b.podTemplate(annotations,
				waitContainer("wait-meta", b.WaitImage, "meta", b.args.Meta.HealthURL), main, volumes),
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("deployment: %w", err)
	}
	return dep, nil
}

// flows: the configured clients (and the cluster's own pods) reach the
// frontends' ports; frontends reach meta and the datanodes.
func (b *frontendBuilder) flows() (ingress, egress []kube.Flow, err error) {
	clients := append(b.args.Clients.Peers(),
		kube.PodsPeer(map[string]string{kube.LabelName: App, kube.LabelInstance: b.Cluster}))
	ingress = []kube.Flow{{Peers: clients, Ports: []int{HTTPPort, GRPCPort, MySQLPort, PostgresPort}}}
	egress = []kube.Flow{
		kube.Allow([]int{MetaRPCPort, HTTPPort}, b.peer("meta")),
		kube.Allow([]int{GRPCPort}, b.peer("datanode")),
	}
	if p := b.args.ObjectStorePort; p != 0 {
		// The object store is outside the cluster at addresses the program cannot know.
		egress = append(egress, kube.Allow([]int{p}))
	}
	return ingress, egress, nil
}
