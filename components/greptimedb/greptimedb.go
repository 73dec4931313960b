// Package greptimedb deploys a GreptimeDB cluster on Kubernetes: etcd, metasrv
// (meta), datanodes and frontends, each its own component, composed by the
// Cluster component and started in order.
//
// Which components a cluster has, what each listens on, whom it calls and what
// it waits for is declared once, in the components table (components.go); the
// NetworkPolicies, the init containers' waits, the startup order and the
// dashboard are derived from it. Each component is one file: its spec, its
// validation, its config and its builder.
package greptimedb

import (
	"fmt"
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
	// HealthPath answers 200 on every component's HTTP port, without authentication.
	HealthPath = "/health"
	// UID is the user GreptimeDB containers run as. The image declares no user
	// (it would run as root); the binary needs none, and fsGroup makes volumes
	// writable.
	UID = 1000
	// SecretChecksumAnnotation is the pod-template annotation holding a (secret)
	// checksum of the secret data the pods read.
	SecretChecksumAnnotation = "checksum/secret"
)

// Environment of the helper containers' fixed scripts. Script text never holds
// a config value: every host and URL reaches the shell as data, in the environment.
const (
	// EnvWaitURLs are the URLs the wait init containers poll, separated by spaces.
	EnvWaitURLs = "WAIT_URLS"
	// EnvWaitFor names what is waited for, in the log.
	EnvWaitFor = "WAIT_FOR"
	// EnvMetasrvAddrs carries meta's host:port into a command line.
	EnvMetasrvAddrs = "METASRV_ADDRS"
	// EnvMaintenanceURL is metasrv's enable or disable URL.
	EnvMaintenanceURL = "MAINTENANCE_URL"
	// EnvMaintenanceSettle is how many seconds to wait after metasrv accepted.
	EnvMaintenanceSettle = "MAINTENANCE_SETTLE_SECONDS"
)

// WaitScript loops until one of $WAIT_URLS answers successfully. Globbing is
// off, so a URL is only ever split at spaces (which a URL cannot hold).
const WaitScript = `set -f
up() { for u in $WAIT_URLS; do wget -q -T 2 -O /dev/null "$u" && return 0; done; return 1; }
until up; do echo "waiting for $WAIT_FOR"; sleep 2; done`

// ordinalNodeScript is the shell command line of a node that is numbered by
// its pod's StatefulSet ordinal (the hostname's suffix after the last '-'):
// `greptime <kind> start` with that --node-id, meta's address from the
// environment, and the gRPC and HTTP addresses.
func ordinalNodeScript(k Kind) string {
	return "exec greptime " + string(k) + " start" +
		` --node-id "${POD_NAME##*-}"` +
		` --metasrv-addrs "$` + EnvMetasrvAddrs + `"` +
		fmt.Sprintf(" --rpc-bind-addr 0.0.0.0:%d", GRPCPort) +
		fmt.Sprintf(` --rpc-server-addr "${POD_IP}:%d"`, GRPCPort) +
		fmt.Sprintf(" --http-addr 0.0.0.0:%d", HTTPPort) +
		" --config-file " + ConfigFile
}

// part builds one component of a cluster: each component's builder embeds it.
type part struct {
	kube.Workload
	wiring
	kind Kind
	// objName names the component's workload and Service.
	objName string
	// after are the workloads the component's own starts after (the table's after).
	after []pulumi.Resource
}

// metricsScrape is where every GreptimeDB component serves its metrics.
var metricsScrape = kube.Scrape{PortName: "http", Port: HTTPPort, Path: "/metrics"}

func newPart(k kube.Component, env kube.Env, w wiring, kind Kind) part {
	scrape := metricsScrape
	return part{
		Workload: kube.Workload{Component: k, Env: env, ID: w.identity(kind), Scrape: &scrape},
		wiring:   w,
		kind:     kind,
		objName:  w.objectName(kind),
	}
}

// fqdn is the in-cluster DNS name of one of the cluster's Services.
func (b part) fqdn(service string) pulumi.StringOutput {
	return kube.ServiceFQDN(service, b.Namespace, b.ClusterDomain)
}

// healthURLs are where component k answers when it is up.
func (b part) healthURLs(k Kind) []pulumi.StringInput {
	if k == KindEtcd {
		return storeHealthURLs(b.spec.Etcd, b.cluster, b.Namespace, b.ClusterDomain)
	}
	return []pulumi.StringInput{pulumi.Sprintf("http://%s:%d%s", b.fqdn(b.objectName(k)), HTTPPort, HealthPath)}
}

// metaAddress is host:port of meta's Service, built from names alone so the
// referrer does not wait for meta's pods.
func (b part) metaAddress() pulumi.StringOutput {
	return pulumi.Sprintf("%s:%d", b.fqdn(b.objectName(KindMeta)), MetaRPCPort)
}

// waitContainer is the init container that loops until the component this one
// waits for (in the table) answers, so pods start in order even when started
// outside `pulumi up` (node restarts, rollouts).
func (b part) waitContainer() corev1.ContainerArgs {
	k := b.row(b.kind).waitsFor
	urls := b.healthURLs(k)
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
	return scriptContainer("wait-"+string(k), b.Registry, b.spec, WaitScript, corev1.EnvVarArray{
		corev1.EnvVarArgs{Name: pulumi.String(EnvWaitURLs), Value: joined},
		corev1.EnvVarArgs{Name: pulumi.String(EnvWaitFor), Value: pulumi.String(string(k))},
	})
}

// scriptContainer is a small container of the cluster's wait image (a shell and
// wget), pulled through reg, that runs the fixed script with its values in env:
// the waits, the maintenance Jobs, the database export and the users file. The
// image is worked out here, so no script container can miss the registry.
func scriptContainer(name string, reg kube.Registry, s ClusterSpec, script string, env corev1.EnvVarArray) corev1.ContainerArgs {
	return corev1.ContainerArgs{
		Name:            pulumi.String(name),
		Image:           pulumi.String(reg.Image(s.WaitImage)),
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

// container is the component's main container: the pinned image, its ports
// (from the table), the downward-API environment and the configured one, the config and /tmp mounts
// plus extra, the restricted security context and the health probes (the
// operator's timings: startup 5 s x 60, readiness and liveness 5 s x 10). The
// caller adds the command line.
func (b part) container(resources kube.Resources, extra ...corev1.VolumeMountInput) corev1.ContainerArgs {
	probe := func(failures int) *corev1.ProbeArgs {
		return &corev1.ProbeArgs{
			HttpGet:          &corev1.HTTPGetActionArgs{Path: pulumi.String(HealthPath), Port: pulumi.String("http")},
			PeriodSeconds:    pulumi.Int(5),
			TimeoutSeconds:   pulumi.Int(3),
			FailureThreshold: pulumi.Int(failures),
		}
	}
	mounts := corev1.VolumeMountArray{
		corev1.VolumeMountArgs{Name: pulumi.String("config"), MountPath: pulumi.String(ConfigDir), ReadOnly: pulumi.Bool(true)},
		corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String(TmpDir)},
	}
	return corev1.ContainerArgs{
		Name:  pulumi.String(string(b.kind)),
		Image: pulumi.String(b.Registry.Image(b.spec.Image)),
		Env: append(corev1.EnvVarArray{
			kube.EnvFromField("POD_IP", "status.podIP"),
			kube.EnvFromField("POD_NAME", "metadata.name"),
			kube.EnvFromField("POD_NAMESPACE", "metadata.namespace"),
		}, kube.EnvArgs(b.spec.passthrough(b.kind).Env)...),
		Ports:           kube.ContainerPorts(b.row(b.kind).ports...),
		VolumeMounts:    append(mounts, extra...),
		Resources:       resources.Args(),
		SecurityContext: kube.ContainerSecurityContext(),
		StartupProbe:    probe(60),
		ReadinessProbe:  probe(10),
		LivenessProbe:   probe(10),
	}
}

// volumes are the config (the ConfigMap named configMap) and /tmp volumes of
// every GreptimeDB pod, then more.
func volumes(configMap pulumi.StringInput, more ...corev1.VolumeInput) corev1.VolumeArray {
	return append(corev1.VolumeArray{
		corev1.VolumeArgs{Name: pulumi.String("config"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: configMap}},
		kube.EmptyDir("tmp", "1Gi"),
	}, more...)
}

// dataMount mounts the volume named volume at DataHome.
func dataMount(volume string) corev1.VolumeMountArgs {
	return corev1.VolumeMountArgs{Name: pulumi.String(volume), MountPath: pulumi.String(DataHome)}
}

// podTemplate is the component's pod template: the wait for its dependency
// (from the table) and the init containers init, then the main container.
func (b part) podTemplate(annotations pulumi.StringMap, main corev1.ContainerArgs, vols corev1.VolumeArray, serviceAccount pulumi.StringInput,
	init ...corev1.ContainerArgs,
) *corev1.PodTemplateSpecArgs {
	return b.PodTemplate(kube.Pod{
		UID:                UID,
		AntiAffinity:       b.spec.AntiAffinity,
		Scheduling:         b.scheduling(b.kind),
		Annotations:        annotations,
		InitContainers:     append([]corev1.ContainerArgs{b.waitContainer()}, init...),
		Containers:         []corev1.ContainerArgs{main},
		Volumes:            vols,
		ServiceAccountName: serviceAccount,
	})
}

// newConfigMap holds the component's rendered config file under ConfigKey.
func (b part) newConfigMap(config pulumi.StringOutput) (*corev1.ConfigMap, error) {
	return b.NewConfigMap(b.Name+"-config", pulumi.StringMap{ConfigKey: config})
}

// newService creates the component's Service, named after the workload, with
// the ports of the table.
func (b part) newService(md kube.Metadata, spec *corev1.ServiceSpecArgs) (*corev1.Service, error) {
	spec.Ports = kube.ServicePorts(b.row(b.kind).ports...)
	return b.NewService(b.objName, md, spec)
}

// finish creates what every component ends with: its disruption budget,
// PodMonitor and NetworkPolicy, which allows the flows of the table plus the
// component's own ingress and egress (clients, Kafka, the object store), and
// the tracing collector.
func (b part) finish(replicas int, ingress, egress []kube.Flow) error {
	egress = append(append(b.egress(b.kind), egress...), b.spec.Logging.Tracing.egress()...)
	return b.Finish(b.objName, replicas, append(b.ingress(b.kind), ingress...), egress)
}

// loggingConfig is the [logging] table every component's TOML carries.
type loggingConfig struct {
	Dir       string `toml:"dir"`
	Level     string `toml:"level"`
	LogFormat string `toml:"log_format"`
	// OTLP tracing, only when on.
	EnableOTLPTracing  bool               `toml:"enable_otlp_tracing,omitempty"`
	OTLPEndpoint       string             `toml:"otlp_endpoint,omitempty"`
	OTLPExportProtocol string             `toml:"otlp_export_protocol,omitempty"`
	TracingSampleRatio *sampleRatioConfig `toml:"tracing_sample_ratio,omitempty"`
}

// logging is the [logging] table for the configured level, filters, format
// and tracing.
func (b part) logging() loggingConfig {
	l := b.spec.Logging
	c := loggingConfig{Dir: LogDir, Level: levelDirective(l), LogFormat: l.Format}
	if t := l.Tracing; t.Enabled {
		c.EnableOTLPTracing, c.OTLPEndpoint, c.OTLPExportProtocol = true, t.Endpoint, t.Protocol
		c.TracingSampleRatio = &sampleRatioConfig{DefaultRatio: t.SampleRatio}
	}
	return c
}

// render renders the component's config file: v with the configured overlay
// merged in.
func (b part) render(v any) (string, error) {
	return kube.RenderTOMLWith(v, b.spec.passthrough(b.kind).Config)
}

// renderConfig renders the component's config file from resolved string
// inputs inside ApplyT, so inputs such as the namespace may be outputs.
func (b part) renderConfig(build func(resolved []string) any, inputs ...pulumi.StringInput) pulumi.StringOutput {
	ins := make([]any, len(inputs))
	for i, in := range inputs {
		ins[i] = in
	}
	return pulumi.All(ins...).ApplyT(func(vs []any) (string, error) {
		resolved := make([]string, len(vs))
		for i, v := range vs {
			resolved[i], _ = v.(string)
		}
		return b.render(build(resolved))
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
