package greptimedb

import (
	"errors"
	"fmt"
	"strconv"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

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
)

// PasswordLength is the length of the generated password.
const PasswordLength = 32

// Service types of the frontend Service.
const (
	ServiceClusterIP    = "ClusterIP"
	ServiceNodePort     = "NodePort"
	ServiceLoadBalancer = "LoadBalancer"
)

// FrontendArgs configures GreptimeDB's frontends.
type FrontendArgs struct {
	Common
	Replicas  int
	Resources kube.Resources
	// ServiceType is ClusterIP (default), NodePort or LoadBalancer.
	ServiceType string
	// WaitForAddress makes `pulumi up` wait for a LoadBalancer Service's address, for at
	// most AddressTimeoutSeconds (the provider's default when 0). Without it the Service
	// is not awaited at all (pulumi.com/skipAwait): clusters without a load-balancer
	// controller never assign an address, and the frontends' readiness is awaited
	// through their Deployment anyway.
	WaitForAddress        bool
	AddressTimeoutSeconds int
	// AuthEnabled turns on the static user provider with a generated password.
	AuthEnabled bool
	// Username owns the generated password.
	Username string
	// MetaAddress is meta's host:port (for --metasrv-addrs).
	MetaAddress pulumi.StringInput
	// MetaHealthURL is polled by the init container until meta answers.
	MetaHealthURL pulumi.StringInput
	// WaitFor are the resources the Deployment starts after (the datanodes).
	WaitFor []pulumi.Resource
}

// Frontend is the deployed frontends, the cluster's client entry point.
type Frontend struct {
	pulumi.ResourceState

	ConfigMap  *corev1.ConfigMap
	Service    *corev1.Service
	Deployment *appsv1.Deployment
	// AuthSecret holds the static user provider file (nil without auth).
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

type frontendConfig struct {
	Logging loggingConfig `toml:"logging"`
}

// Validate reports what is wrong with the arguments.
func (a *FrontendArgs) Validate() error {
	if a == nil {
		return errors.New("args are required")
	}
	errs := []error{a.Common.validate(), validateReplicas(a.Replicas)}
	switch a.ServiceType {
	case "", ServiceClusterIP, ServiceNodePort, ServiceLoadBalancer:
	default:
		errs = append(errs, fmt.Errorf("serviceType: unknown type %q", a.ServiceType))
	}
	if a.AddressTimeoutSeconds < 0 {
		errs = append(errs, fmt.Errorf("addressTimeoutSeconds: %d is negative", a.AddressTimeoutSeconds))
	}
	if a.AuthEnabled && !ValidUsername(a.Username) {
		errs = append(errs, fmt.Errorf("username: %q is not letters, digits, '-' and '_'", a.Username))
	}
	if a.MetaAddress == nil || a.MetaHealthURL == nil {
		errs = append(errs, errors.New("metaAddress and metaHealthUrl are required"))
	}
	return errors.Join(errs...)
}

// NewFrontend creates the frontends of a cluster: a ConfigMap, the auth Secret
// with a generated password, a Service and a Deployment that starts after args.WaitFor.
func NewFrontend(ctx *pulumi.Context, name string, args *FrontendArgs, opts ...pulumi.ResourceOption) (*Frontend, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("frontend %q: %w", name, err)
	}
	f := &Frontend{}
	if err := ctx.RegisterComponentResource(FrontendType, name, f, opts...); err != nil {
		return nil, fmt.Errorf("frontend %q: %w", name, err)
	}
	id := args.identity("frontend")
	parent := pulumi.Parent(f)
	objName := FrontendName(args.Cluster)

	f.Config = renderConfig(func([]string) any { return frontendConfig{Logging: args.logging()} })
	var err error
	if f.ConfigMap, err = newConfigMap(ctx, name, id, args.Namespace, f.Config, parent); err != nil {
		return nil, fmt.Errorf("frontend %q: %w", name, err)
	}
	f.Username, f.Password = pulumi.String("").ToStringOutput(), kube.Secret(pulumi.String(""))
	var authFile pulumi.StringOutput
	if args.AuthEnabled {
		if authFile, err = f.newAuth(ctx, name, id, args, parent); err != nil {
			return nil, fmt.Errorf("frontend %q: %w", name, err)
		}
	}
	serviceType := args.ServiceType
	if serviceType == "" {
		serviceType = ServiceClusterIP
	}
	serviceMeta := id.ObjectMeta(objName, args.Namespace)
	if serviceType == ServiceLoadBalancer {
		serviceMeta.Annotations = loadBalancerAwait(args.WaitForAddress, args.AddressTimeoutSeconds)
	}
	f.Service, err = corev1.NewService(ctx, objName, &corev1.ServiceArgs{
		Metadata: serviceMeta,
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String(serviceType),
			Selector: id.Selector(),
			Ports: corev1.ServicePortArray{
				kube.ServicePort("http", HTTPPort), kube.ServicePort("grpc", GRPCPort),
				kube.ServicePort("mysql", MySQLPort), kube.ServicePort("postgres", PostgresPort),
			},
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("frontend %q: service: %w", name, err)
	}
	if f.Deployment, err = newFrontendDeployment(ctx, objName, id, args, f, authFile, parent); err != nil {
		return nil, fmt.Errorf("frontend %q: %w", name, err)
	}
	if _, err := kube.NewPodDisruptionBudget(ctx, objName, id, args.Namespace, args.Replicas, parent); err != nil {
		return nil, fmt.Errorf("frontend %q: %w", name, err)
	}
	if args.Isolation.Enabled {
		if err := newFrontendNetworkPolicy(ctx, objName, id, args, parent); err != nil {
			return nil, fmt.Errorf("frontend %q: %w", name, err)
		}
	}
	host := kube.ServiceFQDN(objName, args.Namespace, args.ClusterDomain)
	f.HTTPEndpoint = pulumi.Sprintf("http://%s:%d", host, HTTPPort)
	f.GRPCEndpoint = pulumi.Sprintf("%s:%d", host, GRPCPort)
	f.MySQLEndpoint = pulumi.Sprintf("%s:%d", host, MySQLPort)
	f.PostgresEndpoint = pulumi.Sprintf("%s:%d", host, PostgresPort)
	f.ExternalAddress = f.Service.Status.LoadBalancer().Ingress().ApplyT(externalAddress).(pulumi.StringOutput)
	if err := ctx.RegisterResourceOutputs(f, f.endpointOutputs()); err != nil {
		return nil, fmt.Errorf("frontend %q: %w", name, err)
	}
	return f, nil
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

// loadBalancerAwait is the annotation that tells the Kubernetes provider how to treat a
// LoadBalancer Service: skip its await, or wait for an address for at most timeoutSeconds.
func loadBalancerAwait(wait bool, timeoutSeconds int) pulumi.StringMap {
	if !wait {
		return pulumi.StringMap{kube.AnnotationSkipAwait: pulumi.String("true")}
	}
	if timeoutSeconds <= 0 {
		return nil
	}
	return pulumi.StringMap{kube.AnnotationTimeoutSeconds: pulumi.String(strconv.Itoa(timeoutSeconds))}
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
func (f *Frontend) newAuth(ctx *pulumi.Context, name string, id kube.Identity, args *FrontendArgs,
	parent pulumi.ResourceOption,
) (pulumi.StringOutput, error) {
	pw, err := random.NewRandomPassword(ctx, name+"-password", &random.RandomPasswordArgs{
		Length:  pulumi.Int(PasswordLength),
		Special: pulumi.Bool(false),
	}, parent)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("password: %w", err)
	}
	f.Username = pulumi.String(args.Username).ToStringOutput()
	f.Password = kube.Secret(pw.Result)
	file := kube.Secret(pulumi.Sprintf("%s=%s\n", args.Username, f.Password))
	f.AuthSecret, err = corev1.NewSecret(ctx, name+"-auth", &corev1.SecretArgs{
		Metadata:   id.AutoNamedMeta(args.Namespace),
		Type:       pulumi.String("Opaque"),
		StringData: pulumi.StringMap{AuthKey: file},
	}, parent)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("auth secret: %w", err)
	}
	return file, nil
}

// FrontendArgsLine is the frontend's command line after the image's entrypoint.
func FrontendArgsLine(metaAddress string, auth bool) []string {
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
	if auth {
		line = append(line, "--user-provider="+UserProvider)
	}
	return line
}

func newFrontendDeployment(ctx *pulumi.Context, objName string, id kube.Identity, args *FrontendArgs, f *Frontend,
	authFile pulumi.StringOutput, parent pulumi.ResourceOption,
) (*appsv1.Deployment, error) {
	line := args.MetaAddress.ToStringOutput().ApplyT(func(addr string) []string {
		return FrontendArgsLine(addr, args.AuthEnabled)
	}).(pulumi.StringArrayOutput)
	mounts := append(baseMounts(), corev1.VolumeMountArgs{Name: pulumi.String("data"), MountPath: pulumi.String(DataHome)})
	volumes := corev1.VolumeArray{
		configVolume(f.ConfigMap.Metadata.Name().Elem()),
		kube.EmptyDir("tmp", "1Gi"),
		kube.EmptyDir("data", "1Gi"),
	}
	annotations := podAnnotations(f.Config)
	if f.AuthSecret != nil {
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String("auth"), MountPath: pulumi.String(AuthDir), ReadOnly: pulumi.Bool(true)})
		volumes = append(volumes, corev1.VolumeArgs{
			Name: pulumi.String("auth"),
			Secret: &corev1.SecretVolumeSourceArgs{
				SecretName: f.AuthSecret.Metadata.Name().Elem(),
				// Readable by the pod's group (fsGroup) only.
				DefaultMode: pulumi.Int(0o440),
			},
		})
		annotations = podAnnotations(f.Config, authFile)
	}
	main := corev1.ContainerArgs{
		Name:  pulumi.String("frontend"),
		Image: pulumi.String(args.Image),
		Args:  line,
		Env:   podEnv(),
		Ports: corev1.ContainerPortArray{
			kube.ContainerPort("http", HTTPPort), kube.ContainerPort("grpc", GRPCPort),
			kube.ContainerPort("mysql", MySQLPort), kube.ContainerPort("postgres", PostgresPort),
		},
		VolumeMounts:    mounts,
		Resources:       args.Resources.Args(),
		SecurityContext: kube.ContainerSecurityContext(),
	}
	healthProbes(&main)
	opts := append([]pulumi.ResourceOption{parent}, dependsOn(args.WaitFor)...)
	dep, err := appsv1.NewDeployment(ctx, objName, &appsv1.DeploymentArgs{
		Metadata: id.ObjectMeta(objName, args.Namespace),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(args.Replicas),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: id.Selector()},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: id.Labels(), Annotations: annotations},
				Spec: &corev1.PodSpecArgs{
					SecurityContext: kube.PodSecurityContext(UID),
					Affinity:        kube.AntiAffinity(args.AntiAffinity, id.Selector()),
					InitContainers:  corev1.ContainerArray{waitContainer("wait-meta", args.waitImage(), "meta", args.MetaHealthURL)},
					Containers:      corev1.ContainerArray{main},
					Volumes:         volumes,
				},
			},
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("deployment: %w", err)
	}
	return dep, nil
}

// newFrontendNetworkPolicy: the configured clients (and the cluster's own pods)
// reach the frontends' ports; frontends reach meta and the datanodes.
func newFrontendNetworkPolicy(ctx *pulumi.Context, objName string, id kube.Identity, args *FrontendArgs, parent pulumi.ResourceOption) error {
	clients := append(args.Isolation.ClientPeers(),
		kube.PodsPeer(pulumi.StringMap{kube.LabelName: pulumi.String(App), kube.LabelInstance: pulumi.String(args.Cluster)}))
	ingress := []kube.Flow{{Peers: clients, Ports: []int{HTTPPort, GRPCPort, MySQLPort, PostgresPort}}}
	egress := []kube.Flow{
		{Peers: []networkingv1.NetworkPolicyPeerArgs{kube.PodsPeer(args.identity("meta").Selector())}, Ports: []int{MetaRPCPort, HTTPPort}},
		{Peers: []networkingv1.NetworkPolicyPeerArgs{kube.PodsPeer(args.identity("datanode").Selector())}, Ports: []int{GRPCPort}},
	}
	_, err := kube.NewNetworkPolicy(ctx, objName, id, args.Namespace, ingress, egress, parent)
	return err
}
