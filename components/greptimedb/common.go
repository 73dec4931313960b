// Package greptimedb deploys a GreptimeDB cluster on Kubernetes: metasrv (meta),
// datanodes and frontends, each its own component, and a Cluster component that
// composes them with an etcd cluster and starts them in order:
// etcd, then meta, then datanodes, then frontends.
package greptimedb

import (
	"fmt"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

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

// Common is what every component of one GreptimeDB cluster shares.
type Common struct {
	// Cluster is the GreptimeDB cluster's name: the app.kubernetes.io/instance
	// label and the prefix of every object name.
	Cluster string
	kube.Env
	Shared
}

// validate reports every problem of the shared arguments.
func (c Common) validate() field.ErrorList {
	errs := kube.ValidateClusterName(c.Cluster, field.NewPath("cluster"))
	errs = append(errs, c.Env.Validate()...)
	return append(errs, c.Shared.Validate(nil)...)
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

// Environment variables of the wait init containers. Script text never holds a
// config value: every host and URL reaches the shell as data, in the environment.
const (
	// EnvWaitURLs are the URLs polled, separated by spaces.
	EnvWaitURLs = "WAIT_URLS"
	// EnvWaitFor names what is waited for, in the log.
	EnvWaitFor = "WAIT_FOR"
)

// WaitScript loops until one of $WAIT_URLS answers successfully. Globbing is
// off, so a URL is only ever split at spaces (which a URL cannot hold).
const WaitScript = `set -f
up() { for u in $WAIT_URLS; do wget -q -T 2 -O /dev/null "$u" && return 0; done; return 1; }
until up; do echo "waiting for $WAIT_FOR"; sleep 2; done`

// waitContainer is an init container that loops until one of urls answers
// successfully, so pods start in order even when started outside `pulumi up`
// (node restarts, rollouts).
func waitContainer(name, image, what string, urls ...pulumi.StringInput) corev1.ContainerArgs {
	ins := make([]any, len(urls))
	for i, u := range urls {
		ins[i] = u
	}
	joined := pulumi.All(ins...).ApplyT(func(vs []any) string {
		parts := make([]string, len(vs))
		for i, v := range vs {
			parts[i], _ = v.(string)
		}
		return strings.Join(parts, " ")
	}).(pulumi.StringOutput)
	return scriptContainer(name, image, WaitScript, corev1.EnvVarArray{
		corev1.EnvVarArgs{Name: pulumi.String(EnvWaitURLs), Value: joined},
		corev1.EnvVarArgs{Name: pulumi.String(EnvWaitFor), Value: pulumi.String(what)},
	})
}

// scriptContainer is a small helper container (a shell and wget) that runs the
// fixed script with its values in env: the waits, the maintenance Jobs and the
// database export.
func scriptContainer(name, image, script string, env corev1.EnvVarArray) corev1.ContainerArgs {
	return corev1.ContainerArgs{
		Name:            pulumi.String(name),
		Image:           pulumi.String(image),
		Command:         pulumi.ToStringArray([]string{"/bin/sh", "-c", script}),
		Env:             env,
		Resources:       smallResources(),
		SecurityContext: kube.ContainerSecurityContext(),
	}
}

// smallResources are the requests and limits of the small helper containers
// (init waits, maintenance Jobs): a shell and wget.
func smallResources() corev1.ResourceRequirementsArgs {
	return corev1.ResourceRequirementsArgs{
		Requests: pulumi.StringMap{"cpu": pulumi.String("10m"), "memory": pulumi.String("16Mi")},
		Limits:   pulumi.StringMap{"cpu": pulumi.String("100m"), "memory": pulumi.String("32Mi")},
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
	return loggingConfig{Dir: LogDir, Level: c.Logging.Level, LogFormat: c.Logging.Format}
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

// part builds one component of a cluster (meta, datanodes or frontends): each
// component's builder embeds it.
type part struct {
	kube.Component
	Common
	id kube.Identity
	// objName names the component's workload and Service.
	objName string
	// unscraped keeps the component's metrics from Prometheus (no scrape
	// annotations, PodMonitor or scrape flow): meta under isolation.
	unscraped bool
}

// monitoring is the stack's monitoring, off for an unscraped component.
func (b part) monitoring() kube.Monitoring {
	m := b.Monitoring
	if b.unscraped {
		m.Enabled = false
	}
	return m
}

func newPart(k kube.Component, common Common, component, objName string) part {
	return part{Component: k, Common: common, id: common.identity(component), objName: objName}
}

// newConfigMap holds the component's rendered config file under ConfigKey. It is
// auto-named, so a changed config is created anew and the workload rolls onto it.
func (b part) newConfigMap(config pulumi.StringOutput) (*corev1.ConfigMap, error) {
	cm, err := corev1.NewConfigMap(b.Ctx, b.Name+"-config", &corev1.ConfigMapArgs{
		Metadata: b.id.AutoNamedMeta(b.Namespace),
		Data:     pulumi.StringMap{ConfigKey: config},
	}, b.Parent)
	if err != nil {
		return nil, fmt.Errorf("config map: %w", err)
	}
	return cm, nil
}

// newService creates the component's Service, named after the workload.
func (b part) newService(meta *metav1.ObjectMetaArgs, spec *corev1.ServiceSpecArgs) (*corev1.Service, error) {
	if meta == nil {
		meta = b.id.ObjectMeta(b.objName, b.Namespace)
	}
	spec.Selector = b.id.Selector()
	svc, err := corev1.NewService(b.Ctx, b.objName, &corev1.ServiceArgs{Metadata: meta, Spec: spec}, b.Parent)
	if err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	return svc, nil
}

// podTemplate is the component's pod template: labels, the rollout annotations,
// the restricted security context, anti-affinity, one init container that waits
// for the dependency, and the main container.
func (b part) podTemplate(annotations pulumi.StringMap, wait, main corev1.ContainerArgs, volumes corev1.VolumeArray,
	more ...func(*corev1.PodSpecArgs),
) *corev1.PodTemplateSpecArgs {
	spec := &corev1.PodSpecArgs{
		// GreptimeDB never calls the Kubernetes API. Workload identity does not use
		// this token either: EKS IRSA and Pod Identity inject a projected token volume
		// of their own (aws/amazon-eks-pod-identity-webhook, pkg/handler), GKE
		// answers on the metadata server.
		AutomountServiceAccountToken: pulumi.Bool(false),
		SecurityContext:              kube.PodSecurityContext(UID),
		Affinity:                     kube.AntiAffinity(b.AntiAffinity, b.id.Selector()),
		InitContainers:               corev1.ContainerArray{wait},
		Containers:                   corev1.ContainerArray{main},
		Volumes:                      volumes,
	}
	for _, f := range more {
		f(spec)
	}
	for k, v := range b.monitoring().PodAnnotations(metricsScrape) {
		annotations[k] = v
	}
	return &corev1.PodTemplateSpecArgs{Metadata: b.id.PodMeta(annotations), Spec: spec}
}

// metricsScrape is where every GreptimeDB component serves its metrics.
var metricsScrape = kube.Scrape{PortName: "http", Port: HTTPPort, Path: "/metrics"}

// finish creates what every component ends with: a disruption budget that keeps
// at most one of its pods evicted at a time, and (with isolation on) the
// NetworkPolicy that allows only the flows it needs.
func (b part) finish(replicas int, flows func() (ingress, egress []kube.Flow, err error)) error {
	if _, err := kube.NewPodDisruptionBudget(b.Ctx, b.objName, b.id, b.Namespace, replicas, b.Parent); err != nil {
		return err
	}
	if err := b.monitoring().NewPodMonitor(b.Ctx, b.objName, b.id, b.Namespace, metricsScrape, b.Parent); err != nil {
		return err
	}
	if !b.Isolation.Enabled {
		return nil
	}
	ingress, egress, err := flows()
	if err != nil {
		return err
	}
	ingress = append(ingress, b.monitoring().ScrapeFlows(metricsScrape)...)
	_, err = kube.NewNetworkPolicy(b.Ctx, b.objName, b.id, b.Namespace, ingress, egress, b.Parent)
	return err
}

// container is the component's main container: the pinned image, its ports, the
// downward-API environment, the config and /tmp mounts plus extra, the
// restricted security context and the health probes. The caller adds the
// command line.
func (b part) container(ports []kube.Port, resources kube.Resources, extra ...corev1.VolumeMountInput) corev1.ContainerArgs {
	c := corev1.ContainerArgs{
		Name:            pulumi.String(b.id.Component),
		Image:           pulumi.String(b.Image),
		Env:             podEnv(),
		Ports:           kube.ContainerPorts(ports...),
		VolumeMounts:    append(baseMounts(), extra...),
		Resources:       resources.Args(),
		SecurityContext: kube.ContainerSecurityContext(),
	}
	healthProbes(&c)
	return c
}

// dataMount mounts the volume named volume at DataHome.
func dataMount(volume string) corev1.VolumeMountArgs {
	return corev1.VolumeMountArgs{Name: pulumi.String(volume), MountPath: pulumi.String(DataHome)}
}

// peer selects the pods of another component of the same cluster.
func (b part) peer(component string) kube.Peer {
	return b.identity(component).Peer()
}
