package greptimedb

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/etcd"
	"tsdb-platform/components/kube"
)

// ClusterType is the cluster component's type token.
const ClusterType = "tsdb:greptimedb:Cluster"

// The spec types are a GreptimeDB cluster's whole configuration: plain data
// with the JSON names of the stack config keys. The stack decodes its config
// straight into them (the environment profiles supply every default; the
// components have none), and Validate is the one place each rule lives: the
// stack loader and NewCluster both call it; the components it composes trust it.

// ClusterSpec is one GreptimeDB cluster: etcd, meta, datanodes and frontends.
type ClusterSpec struct {
	Shared
	Etcd     EtcdSpec     `json:"etcd"`
	Meta     MetaSpec     `json:"meta"`
	Datanode DatanodeSpec `json:"datanode"`
	Frontend FrontendSpec `json:"frontend"`
	Flownode FlownodeSpec `json:"flownode"`
	// Backup is the cluster's scheduled backups: etcd snapshots and database exports.
	Backup BackupSpec `json:"backup"`
	// NetworkPolicy is who may reach the frontends' client ports under isolation.
	NetworkPolicy kube.ClientAccess `json:"networkPolicy"`
}

// Shared is the configuration every component of one cluster uses.
type Shared struct {
	// Image is the GreptimeDB image of meta, datanodes and frontends.
	Image string `json:"image"`
	// WaitImage is the small image (a shell and wget) of the init containers that
	// wait until a component's dependency answers.
	WaitImage string `json:"waitImage"`
	// AntiAffinity spreads each component's pods over nodes.
	AntiAffinity kube.AntiAffinityMode `json:"antiAffinity"`
	// Logging is the log level and format of meta, datanodes and frontends.
	Logging Logging `json:"logging"`
	// WAL is where datanodes write ahead; meta must know it too.
	WAL WAL `json:"wal"`
}

// Logging is GreptimeDB's [logging] level and log_format, per-target levels
// and OTLP tracing.
type Logging struct {
	// Level is one of LogLevels.
	Level string `json:"level"`
	// Format is one of LogFormats.
	Format string `json:"format"`
	// Filters are levels of single log targets (opendal: warn), appended to
	// the level as GreptimeDB's level directive: "info,opendal=warn".
	Filters map[string]string `json:"filters"`
	Tracing Tracing           `json:"tracing"`
}

// LogLevels and LogFormats list the values GreptimeDB v1.1.4 accepts in [logging].
var (
	LogLevels  = []string{"error", "warn", "info", "debug", "trace"}
	LogFormats = []string{"text", "json"}
)

// WALProvider is where the write-ahead log lives, as GreptimeDB v1.1.4 spells it
// (config/datanode.example.toml [wal]).
type WALProvider string

// WAL providers.
const (
	// WALRaftEngine keeps the WAL on each datanode's volume.
	WALRaftEngine WALProvider = "raft_engine"
	// WALKafka keeps the WAL in Kafka topics, so another datanode can replay a
	// region's WAL: metasrv's region failover needs it.
	WALKafka WALProvider = "kafka"
)

// WAL is the write-ahead log's provider and, for Kafka, its brokers.
type WAL struct {
	Provider WALProvider `json:"provider"`
	// BrokerEndpoints are the Kafka brokers ("host:port"), required with kafka.
	BrokerEndpoints []string `json:"brokerEndpoints"`
	// AllowProviderChange lets the stack change the provider of a running
	// cluster: the datanodes do not replay the old WAL, so unflushed writes are
	// lost. The stack's topology guard reads it; the component does not.
	AllowProviderChange bool `json:"allowProviderChange"`
	// SASL and TLS authenticate metasrv and the datanodes to the brokers
	// (kafka only; wal.go).
	SASL WALSASL `json:"sasl"`
	TLS  WALTLS  `json:"tls"`
}

// Remote reports whether the WAL lives outside the datanodes (Kafka).
func (w WAL) Remote() bool { return w.Provider == WALKafka }

// Validate reports every problem of the cluster's spec, each at its key under p.
func (s ClusterSpec) Validate(p *field.Path) field.ErrorList {
	errs := s.Shared.Validate(p)
	errs = append(errs, s.Etcd.Validate(p.Child("etcd"))...)
	errs = append(errs, s.Meta.Size.Validate(p.Child("meta"))...)
	errs = append(errs, s.Meta.Scheduling.Validate(p.Child("meta", "scheduling"))...)
	errs = append(errs, s.validateFailover(p)...)
	errs = append(errs, s.Datanode.Validate(p.Child("datanode"))...)
	errs = append(errs, s.Frontend.Validate(p.Child("frontend"))...)
	errs = append(errs, s.Flownode.Size.Validate(p.Child("flownode"))...)
	errs = append(errs, s.Flownode.Scheduling.Validate(p.Child("flownode", "scheduling"))...)
	errs = append(errs, s.NetworkPolicy.Validate(p.Child("networkPolicy"))...)
	errs = append(errs, s.validatePassthroughs(p)...)
	return append(errs, s.validateBackup(p)...)
}

// Validate checks every component's shared configuration.
func (s Shared) Validate(p *field.Path) field.ErrorList {
	errs := kube.ValidateImage(s.Image, p.Child("image"))
	errs = append(errs, kube.ValidateImage(s.WaitImage, p.Child("waitImage"))...)
	errs = append(errs, s.AntiAffinity.Validate(p.Child("antiAffinity"))...)
	errs = append(errs, s.WAL.Validate(p.Child("wal"))...)
	return append(errs, s.Logging.Validate(p.Child("logging"))...)
}

// Validate checks the log level and format.
func (l Logging) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !slices.Contains(LogLevels, l.Level) {
		errs = append(errs, field.Invalid(p.Child("level"), l.Level, "allowed: "+strings.Join(LogLevels, ", ")))
	}
	if !slices.Contains(LogFormats, l.Format) {
		errs = append(errs, field.Invalid(p.Child("format"), l.Format, "allowed: "+strings.Join(LogFormats, ", ")))
	}
	errs = append(errs, validateFilters(l.Filters, p.Child("filters"))...)
	return append(errs, l.Tracing.Validate(p.Child("tracing"))...)
}

// Validate checks the WAL provider and, for Kafka, its brokers and their
// authentication.
func (w WAL) Validate(p *field.Path) field.ErrorList {
	switch w.Provider {
	case WALRaftEngine:
		return w.validateAuth(p)
	case WALKafka:
	default:
		return field.ErrorList{field.Invalid(p.Child("provider"), string(w.Provider),
			fmt.Sprintf("allowed: %s (on each datanode's volume), %s (remote)", WALRaftEngine, WALKafka))}
	}
	var errs field.ErrorList
	if len(w.BrokerEndpoints) == 0 {
		errs = append(errs, field.Invalid(p.Child("brokerEndpoints"), nil, fmt.Sprintf("required with the kafka WAL: "+
			"`pulumi config set --path '%s' kafka-0.kafka:9092`", p.Child("brokerEndpoints").Index(0))))
	}
	for i, ep := range w.BrokerEndpoints {
		errs = append(errs, kube.ValidateHostPort(ep, "kafka-0.kafka.example.svc:9092", p.Child("brokerEndpoints").Index(i))...)
	}
	return append(errs, w.validateAuth(p)...)
}

// validateFailover checks what metasrv's region failover depends on: it replays
// a failed datanode's regions elsewhere, so it needs a WAL that outlives the
// datanode (kafka) and data that every datanode can read (object storage).
// GreptimeDB v1.1.4's metasrv refuses to start otherwise
// (src/meta-srv/src/metasrv/builder.rs: "Region failover is not supported in
// the local WAL implementation!"; config/metasrv.example.toml).
func (s ClusterSpec) validateFailover(p *field.Path) field.ErrorList {
	if !s.Meta.EnableRegionFailover || s.WAL.Provider != WALKafka && s.WAL.Provider != WALRaftEngine {
		return nil // an unknown provider is reported at wal.provider
	}
	failover := p.Child("meta", "enableRegionFailover")
	if s.WAL.Provider != WALKafka {
		return field.ErrorList{field.Invalid(failover, true, fmt.Sprintf("region failover needs a remote WAL, or metasrv refuses to start; "+
			"set %s to %s (with %s), or enableRegionFailover to false",
			p.Child("wal", "provider"), WALKafka, p.Child("wal", "brokerEndpoints")))}
	}
	if s.Datanode.ObjectStorage.Type == StorageFile {
		return field.ErrorList{field.Invalid(failover, true, fmt.Sprintf("region failover needs shared storage that every datanode reads; "+
			"set %s to %s, or enableRegionFailover to false", p.Child("datanode", "objectStorage", "type"), StorageS3))}
	}
	return nil
}

// ClusterArgs configures a whole GreptimeDB cluster: its spec, and where it deploys.
type ClusterArgs struct {
	Spec ClusterSpec
	kube.Env
}

// Validate reports every problem of the arguments for a cluster named name.
func (a *ClusterArgs) Validate(name string) field.ErrorList {
	if a == nil {
		return field.ErrorList{field.Required(nil, "args are required")}
	}
	errs := a.Env.ValidateComponent(name, a.Spec.Validate(nil))
	return append(errs, a.Spec.ValidateIn(a.Env.Isolation, nil)...)
}

// ValidateIn reports the problems of the spec that depend on the stack around
// the cluster (isolation is whether its pods are isolated by NetworkPolicies).
// The frontends' internal gRPC port skips authentication: with authentication
// on, only the components that call it may reach it, which only isolation
// ensures.
func (s ClusterSpec) ValidateIn(isolation kube.Isolation, p *field.Path) field.ErrorList {
	if !s.Frontend.Auth.Enabled || isolation.Enabled {
		return nil
	}
	var callers []string
	for _, k := range newWiring("", s).callersOn(KindFrontend, InternalGRPCPort) {
		callers = append(callers, string(k))
	}
	if len(callers) == 0 {
		return nil
	}
	return field.ErrorList{field.Invalid(p.Child("frontend", "auth", "enabled"), true, fmt.Sprintf(
		"the %s call the frontends on their internal gRPC port %d, which skips authentication (GreptimeDB v1.1.4): "+
			"any pod could query the cluster without a password; set networkPolicy.enabled to true so that only they reach it, "+
			"or turn them off", strings.Join(callers, ", "), InternalGRPCPort))}
}

// Cluster is a deployed GreptimeDB cluster and its client endpoints.
type Cluster struct {
	pulumi.ResourceState

	// Etcd is the cluster's own etcd (nil with external endpoints).
	Etcd     *etcd.Cluster
	Meta     *Meta
	Datanode *Datanode
	Frontend *Frontend
	// Flownode is the cluster's flownodes (nil when not enabled).
	Flownode *Flownode

	HTTPEndpoint     pulumi.StringOutput
	GRPCEndpoint     pulumi.StringOutput
	MySQLEndpoint    pulumi.StringOutput
	PostgresEndpoint pulumi.StringOutput
	Username         pulumi.StringOutput
	// Password is secret.
	Password pulumi.StringOutput
	// Users are the generated passwords of frontend.auth.users (Frontend.Users).
	Users pulumi.StringMap
}

// NewCluster creates a GreptimeDB cluster: the components of the table, each
// after the workload it starts after (pulumi.DependsOn on that workload only);
// ConfigMaps, Secrets and Services are created right away. The arguments are
// validated first: nothing is registered when they are wrong.
//
// The waits name the previous workload itself, never its component: the SDK
// expands DependsOn(component) to the children registered at that instant, and
// children register asynchronously, so a component dependency can silently miss
// the very workload it was meant to wait for.
func NewCluster(ctx *pulumi.Context, name string, args *ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	c := &Cluster{}
	validate := func() field.ErrorList { return args.Validate(name) }
	return kube.NewComponent(ctx, "greptimedb cluster", ClusterType, name, c, validate, func(k kube.Component) (pulumi.Map, error) {
		b := &clusterBuilder{Component: k, env: args.Env, wiring: newWiring(name, args.Spec), workloads: map[Kind]pulumi.Resource{}}
		return b.build(c)
	}, opts...)
}

// clusterBuilder creates the cluster's components, in startup order.
type clusterBuilder struct {
	kube.Component
	env kube.Env
	wiring
	// workloads are the components' workloads created so far, which the next
	// ones start after.
	workloads map[Kind]pulumi.Resource
}

// newComponent registers the cluster's component of kind k, with type token
// typ, as resource, a child of the cluster, and builds its children with build.
// The component trusts its spec: NewCluster validated it.
func newComponent[T pulumi.ComponentResource](c *clusterBuilder, k Kind, typ string, resource T, build func(p part) (pulumi.Map, error)) (T, error) {
	return kube.NewComponent(c.Ctx, string(k), typ, c.childName(k), resource, nil, func(kc kube.Component) (pulumi.Map, error) {
		p := newPart(kc, c.env, c.wiring, k)
		p.after = c.after(k)
		return build(p)
	}, c.Parent)
}

// after is the workload component k starts after, as the table says (none
// when that component is not deployed).
func (b *clusterBuilder) after(k Kind) []pulumi.Resource {
	if r, ok := b.workloads[b.row(k).after]; ok {
		return []pulumi.Resource{r}
	}
	return nil
}

// childName is the Pulumi name of the cluster's component k.
func (b *clusterBuilder) childName(k Kind) string { return objectName(b.Name, k) }

// build creates the components and returns the cluster's outputs.
func (b *clusterBuilder) build(c *Cluster) (pulumi.Map, error) {
	for _, r := range b.rows {
		if r.build == nil {
			continue
		}
		if _, built := b.workloads[r.after]; b.deployed[r.after] && !built {
			return nil, fmt.Errorf("the components table lists %s before %s, which it starts after", r.kind, r.after)
		}
		workload, err := r.build(b, c)
		if err != nil {
			return nil, err
		}
		b.workloads[r.kind] = workload
	}
	if b.spec.Backup.Database.Enabled {
		if err := b.newDatabaseBackup(c.Frontend.AuthSecret); err != nil {
			return nil, err
		}
	}
	if m := b.env.Monitoring; m.Enabled && m.Dashboards {
		if err := b.newDashboard(); err != nil {
			return nil, err
		}
	}
	if m := b.env.Monitoring; m.Enabled && m.PrometheusRules {
		if err := b.newAlerts(); err != nil {
			return nil, err
		}
	}
	f := c.Frontend
	c.HTTPEndpoint, c.GRPCEndpoint, c.MySQLEndpoint, c.PostgresEndpoint = f.HTTPEndpoint, f.GRPCEndpoint, f.MySQLEndpoint, f.PostgresEndpoint
	c.Username, c.Password, c.Users = f.Username, f.Password, f.Users
	return f.endpointOutputs(), nil
}
