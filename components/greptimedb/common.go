// Package greptimedb deploys a GreptimeDB cluster on Kubernetes: metasrv (meta),
// datanodes and frontends, each its own component, and a Cluster component that
// composes them with an etcd cluster and starts them in order:
// etcd, then meta, then datanodes, then frontends.
package greptimedb

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"tsdb-platform/components/kube"
)

// App is the app.kubernetes.io/name label of every GreptimeDB object.
const App = "greptimedb"

// Ports GreptimeDB listens on (the operator's defaults).
const (
	MetaRPCPort  = 3002
	HTTPPort     = 4000
	GRPCPort     = 4001
	MySQLPort    = 4002
	PostgresPort = 4003
)

// Paths inside GreptimeDB containers. The root filesystem is read-only: every
// path written to is a volume.
const (
	ConfigDir  = "/etc/greptimedb/config"
	ConfigFile = ConfigDir + "/config.toml"
	ConfigKey  = "config.toml"
	DataHome   = "/data/greptimedb"
	LogDir     = DataHome + "/logs"
	TmpDir     = "/tmp"
)

// UID is the user GreptimeDB containers run as. The image declares no user (it
// would run as root); the binary needs none, and fsGroup makes volumes writable.
const UID = 1000

// HealthPath answers 200 on every component's HTTP port, without authentication.
const HealthPath = "/health"

// DefaultWaitImage is the small image with a shell and wget that init containers
// use to wait for a dependency to answer.
const DefaultWaitImage = "busybox:1.37.0"

// Common is what every component of one GreptimeDB cluster shares.
type Common struct {
	// Cluster is the GreptimeDB cluster's name: the app.kubernetes.io/instance
	// label and the prefix of every object name.
	Cluster string
	// Namespace the cluster lives in (an output of the Namespace resource).
	Namespace pulumi.StringInput
	// ClusterDomain is the Kubernetes cluster's DNS domain ("cluster.local").
	ClusterDomain string
	// Image is the pinned GreptimeDB image.
	Image string
	// WaitImage runs the init containers that wait for a dependency; empty means DefaultWaitImage.
	WaitImage string
	// AntiAffinity is none, preferred or required.
	AntiAffinity string
	Isolation    kube.Isolation
	// Logging is every component's log level and format; empty fields take
	// DefaultLogLevel and DefaultLogFormat.
	Logging Logging
	// WAL is where datanodes write ahead; meta must know it too.
	WAL WAL
}

// WAL providers, as GreptimeDB v1.1.4 spells them (config/datanode.example.toml [wal]).
const (
	// WALRaftEngine keeps the WAL on each datanode's volume (the default).
	WALRaftEngine = "raft_engine"
	// WALKafka keeps the WAL in Kafka topics, so another datanode can replay a
	// region's WAL: metasrv's region failover needs it.
	WALKafka = "kafka"
)

// WALProviders lists the accepted WAL providers.
var WALProviders = []string{WALRaftEngine, WALKafka}

// WAL is the write-ahead log's provider and, for Kafka, its brokers.
type WAL struct {
	// Provider is raft_engine (empty means raft_engine) or kafka.
	Provider string
	// BrokerEndpoints are the Kafka brokers ("host:port"), required with kafka.
	BrokerEndpoints []string
}

// Remote reports whether the WAL lives outside the datanodes (Kafka).
func (w WAL) Remote() bool { return w.Provider == WALKafka }

// Logging is GreptimeDB's [logging] level and log_format.
type Logging struct {
	// Level is error, warn, info, debug or trace.
	Level string
	// Format is text or json.
	Format string
}

// Log levels and formats GreptimeDB accepts in [logging].
const (
	DefaultLogLevel  = "info"
	DefaultLogFormat = "text"
)

// LogLevels and LogFormats list the accepted values.
var (
	LogLevels  = []string{"error", "warn", "info", "debug", "trace"}
	LogFormats = []string{"text", "json"}
)

func (c Common) validate() error {
	var errs []error
	if c.Cluster == "" {
		errs = append(errs, errors.New("cluster is required"))
	}
	if c.Namespace == nil {
		errs = append(errs, errors.New("namespace is required"))
	}
	if c.ClusterDomain == "" {
		errs = append(errs, errors.New("clusterDomain is required"))
	}
	if c.Image == "" {
		errs = append(errs, errors.New("image is required"))
	}
	switch c.AntiAffinity {
	case "", kube.AntiAffinityNone, kube.AntiAffinityPreferred, kube.AntiAffinityRequired:
	default:
		errs = append(errs, fmt.Errorf("antiAffinity: unknown mode %q", c.AntiAffinity))
	}
	if c.Logging.Level != "" && !slices.Contains(LogLevels, c.Logging.Level) {
		errs = append(errs, fmt.Errorf("logging.level: unknown level %q", c.Logging.Level))
	}
	if c.Logging.Format != "" && !slices.Contains(LogFormats, c.Logging.Format) {
		errs = append(errs, fmt.Errorf("logging.format: unknown format %q", c.Logging.Format))
	}
	if c.WAL.Provider != "" && !slices.Contains(WALProviders, c.WAL.Provider) {
		errs = append(errs, fmt.Errorf("wal.provider: unknown provider %q", c.WAL.Provider))
	}
	if c.WAL.Remote() && len(c.WAL.BrokerEndpoints) == 0 {
		errs = append(errs, errors.New("wal.brokerEndpoints: required with the kafka WAL"))
	}
	return errors.Join(errs...)
}

func (c Common) waitImage() string {
	if c.WaitImage != "" {
		return c.WaitImage
	}
	return DefaultWaitImage
}

// identity is the labels of one component of the cluster.
func (c Common) identity(component string) kube.Identity {
	return kube.Identity{App: App, Instance: c.Cluster, Component: component}
}

// fqdn is the in-cluster DNS name of one of the cluster's Services.
func (c Common) fqdn(service string) pulumi.StringOutput {
	return kube.ServiceFQDN(service, c.Namespace, c.ClusterDomain)
}

// Object names, derived from the cluster's name.

// MetaName names meta's Deployment and Service.
func MetaName(cluster string) string { return cluster + "-meta" }

// DatanodeName names the datanodes' StatefulSet and headless Service.
func DatanodeName(cluster string) string { return cluster + "-datanode" }

// FrontendName names the frontends' Deployment and Service.
func FrontendName(cluster string) string { return cluster + "-frontend" }

// EtcdName names the cluster's etcd StatefulSet.
func EtcdName(cluster string) string { return cluster + "-etcd" }

func validateReplicas(n int) error {
	if n < 1 {
		return fmt.Errorf("replicas: %d; at least 1", n)
	}
	return nil
}

// waitContainer is an init container that loops until one of urls answers
// successfully, so pods start in order even when started outside `pulumi up`
// (node restarts, rollouts).
func waitContainer(name, image, what string, urls ...pulumi.StringInput) corev1.ContainerArgs {
	ins := make([]any, len(urls))
	for i, u := range urls {
		ins[i] = u
	}
	script := pulumi.All(ins...).ApplyT(func(vs []any) string {
		checks := make([]string, len(vs))
		for i, v := range vs {
			checks[i] = fmt.Sprintf("wget -q -T 2 -O /dev/null %s", v)
		}
		return fmt.Sprintf("until %s; do echo waiting for %s; sleep 2; done", strings.Join(checks, " || "), what)
	}).(pulumi.StringOutput)
	return corev1.ContainerArgs{
		Name:    pulumi.String(name),
		Image:   pulumi.String(image),
		Command: pulumi.StringArray{pulumi.String("/bin/sh"), pulumi.String("-c"), script},
		Resources: corev1.ResourceRequirementsArgs{
			Requests: pulumi.StringMap{"cpu": pulumi.String("10m"), "memory": pulumi.String("16Mi")},
			Limits:   pulumi.StringMap{"cpu": pulumi.String("100m"), "memory": pulumi.String("32Mi")},
		},
		SecurityContext: kube.ContainerSecurityContext(),
	}
}

// healthProbes are the startup, readiness and liveness probes on the HTTP port
// (the operator's timings: startup 5 s x 60, readiness and liveness 5 s x 10).
func healthProbes(c *corev1.ContainerArgs) {
	probe := func(failures int) *corev1.ProbeArgs {
		return &corev1.ProbeArgs{
			HttpGet:          &corev1.HTTPGetActionArgs{Path: pulumi.String(HealthPath), Port: pulumi.String("http")},
			PeriodSeconds:    pulumi.Int(5),
			TimeoutSeconds:   pulumi.Int(3),
			FailureThreshold: pulumi.Int(failures),
		}
	}
	c.StartupProbe = probe(60)
	c.ReadinessProbe = probe(10)
	c.LivenessProbe = probe(10)
}

// podEnv are the downward-API variables GreptimeDB's command lines use.
func podEnv() corev1.EnvVarArray {
	return corev1.EnvVarArray{
		kube.EnvFromField("POD_IP", "status.podIP"),
		kube.EnvFromField("POD_NAME", "metadata.name"),
		kube.EnvFromField("POD_NAMESPACE", "metadata.namespace"),
	}
}

// configVolume mounts an auto-named ConfigMap by its name output.
func configVolume(configMapName pulumi.StringInput) corev1.VolumeArgs {
	return corev1.VolumeArgs{
		Name:      pulumi.String("config"),
		ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: configMapName},
	}
}

// baseMounts are the config (read-only) and /tmp mounts of every GreptimeDB container.
func baseMounts() corev1.VolumeMountArray {
	return corev1.VolumeMountArray{
		corev1.VolumeMountArgs{Name: pulumi.String("config"), MountPath: pulumi.String(ConfigDir), ReadOnly: pulumi.Bool(true)},
		corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String(TmpDir)},
	}
}

// loggingConfig is the [logging] table every component's TOML carries.
type loggingConfig struct {
	Dir       string `toml:"dir"`
	Level     string `toml:"level"`
	LogFormat string `toml:"log_format"`
}

// logging is the [logging] table for the configured level and format.
func (c Common) logging() loggingConfig {
	l := loggingConfig{Dir: LogDir, Level: c.Logging.Level, LogFormat: c.Logging.Format}
	if l.Level == "" {
		l.Level = DefaultLogLevel
	}
	if l.LogFormat == "" {
		l.LogFormat = DefaultLogFormat
	}
	return l
}

// renderConfig renders a TOML config built from resolved string inputs inside
// ApplyT, so inputs such as the namespace may be outputs.
func renderConfig(build func(resolved []string) any, inputs ...pulumi.StringInput) pulumi.StringOutput {
	ins := make([]any, len(inputs))
	for i, in := range inputs {
		ins[i] = in
	}
	return pulumi.All(ins...).ApplyT(func(vs []any) (string, error) {
		resolved := make([]string, len(vs))
		for i, v := range vs {
			resolved[i], _ = v.(string)
		}
		return kube.RenderTOML(build(resolved))
	}).(pulumi.StringOutput)
}

// podAnnotations are the pod-template annotations that roll the pods when the
// rendered config (or, under checksum/secret, secret data) changes.
func podAnnotations(config pulumi.StringOutput, secrets ...pulumi.StringInput) pulumi.StringMap {
	a := pulumi.StringMap{kube.ChecksumAnnotation: kube.ChecksumOutput(config)}
	if len(secrets) > 0 {
		a[SecretChecksumAnnotation] = kube.ChecksumOutput(secrets...)
	}
	return a
}

// SecretChecksumAnnotation is the pod-template annotation holding a (secret)
// checksum of the secret data the pods read.
const SecretChecksumAnnotation = "checksum/secret"

func dependsOn(waitFor []pulumi.Resource) []pulumi.ResourceOption {
	if len(waitFor) == 0 {
		return nil
	}
	return []pulumi.ResourceOption{pulumi.DependsOn(waitFor)}
}

// newConfigMap holds a component's rendered config file under ConfigKey. It is
// auto-named, so a changed config is created anew and the workload rolls onto it.
func newConfigMap(ctx *pulumi.Context, name string, id kube.Identity, namespace pulumi.StringInput,
	config pulumi.StringOutput, parent pulumi.ResourceOption,
) (*corev1.ConfigMap, error) {
	cm, err := corev1.NewConfigMap(ctx, name+"-config", &corev1.ConfigMapArgs{
		Metadata: id.AutoNamedMeta(namespace),
		Data:     pulumi.StringMap{ConfigKey: config},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("config map: %w", err)
	}
	return cm, nil
}
