package greptimedb

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/etcd"
	"tsdb-platform/components/kube"
)

// ClusterType is the cluster component's type token.
const ClusterType = "tsdb:greptimedb:Cluster"

// ClusterArgs configures a whole GreptimeDB cluster: its spec, and where it deploys.
type ClusterArgs struct {
	Spec ClusterSpec
	kube.Env
}

// Cluster is a deployed GreptimeDB cluster and its client endpoints.
type Cluster struct {
	pulumi.ResourceState

	// Etcd is the cluster's own etcd (nil with external endpoints).
	Etcd     *etcd.Cluster
	Meta     *Meta
	Datanode *Datanode
	Frontend *Frontend

	HTTPEndpoint     pulumi.StringOutput
	GRPCEndpoint     pulumi.StringOutput
	MySQLEndpoint    pulumi.StringOutput
	PostgresEndpoint pulumi.StringOutput
	Username         pulumi.StringOutput
	// Password is secret.
	Password pulumi.StringOutput
}

// Validate reports every problem of the arguments for a cluster named name.
func (a *ClusterArgs) Validate(name string) field.ErrorList {
	if a == nil {
		return field.ErrorList{field.Required(nil, "args are required")}
	}
	return a.Env.ValidateComponent(name, a.Spec.Validate(nil))
}

// NewCluster creates a GreptimeDB cluster: etcd (unless external), meta,
// datanodes and frontends. Each component's workload waits for the previous
// component's workload (pulumi.DependsOn on the workload only); ConfigMaps,
// Secrets and Services are created right away.
//
// The waits name the previous workload itself, never its component: the SDK
// expands DependsOn(component) to the children registered at that instant, and
// children register asynchronously, so a component dependency can silently miss
// the very workload it was meant to wait for.
func NewCluster(ctx *pulumi.Context, name string, args *ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	c := &Cluster{}
	validate := func() field.ErrorList { return args.Validate(name) }
	return kube.NewComponent(ctx, "greptimedb cluster", ClusterType, name, c, validate, func(k kube.Component) (pulumi.Map, error) {
		b := &clusterBuilder{Component: k, spec: args.Spec, common: Common{Cluster: name, Env: args.Env, Shared: args.Spec.Shared}}
		return b.build(c)
	}, opts...)
}

// clusterBuilder creates the cluster's components, in startup order.
type clusterBuilder struct {
	kube.Component
	spec   ClusterSpec
	common Common
}

// build creates the components and returns the cluster's outputs.
func (b *clusterBuilder) build(c *Cluster) (pulumi.Map, error) {
	metaArgs, err := b.newEtcd(c)
	if err != nil {
		return nil, err
	}
	if c.Meta, err = NewMeta(b.Ctx, b.Name+"-meta", metaArgs, b.Parent); err != nil {
		return nil, err
	}
	// Datanodes and frontends reach meta by its Service's name, and each starts
	// after the workload before it.
	meta := func(after pulumi.Resource) MetaClient {
		return MetaClient{Address: c.Meta.Address, HealthURL: c.Meta.HealthURL, WaitFor: []pulumi.Resource{after}}
	}
	datanode := &DatanodeArgs{Common: b.common, Spec: b.spec.Datanode, Meta: meta(c.Meta.Deployment)}
	if c.Datanode, err = NewDatanode(b.Ctx, b.Name+"-datanode", datanode, b.Parent); err != nil {
		return nil, err
	}
	frontend := &FrontendArgs{Common: b.common, Spec: b.spec.Frontend, Meta: meta(c.Datanode.StatefulSet), Clients: b.spec.NetworkPolicy}
	if b.spec.Backup.Database.Enabled {
		// COPY DATABASE runs in the frontends: they write to the object store.
		port, err := objectStorePort(b.spec.Datanode.ObjectStorage.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("datanode.objectStorage.endpoint: %w", err)
		}
		frontend.ObjectStorePort = port
		o := b.spec.Datanode.ObjectStorage
		frontend.ExportEnv, frontend.ExportSecrets = o.s3KeyEnv(c.Datanode.Secret), o.secretInputs()
	}
	if c.Frontend, err = NewFrontend(b.Ctx, b.Name+"-frontend", frontend, b.Parent); err != nil {
		return nil, err
	}
	if b.spec.Backup.Database.Enabled {
		if err := b.newDatabaseBackup(c); err != nil {
			return nil, err
		}
		if b.common.Isolation.Enabled {
			if err := b.newDatabaseBackupPolicy(); err != nil {
				return nil, err
			}
		}
	}
	if m := b.common.Monitoring; m.Enabled && m.Dashboards {
		if err := b.newDashboard(); err != nil {
			return nil, err
		}
	}
	f := c.Frontend
	c.HTTPEndpoint, c.GRPCEndpoint, c.MySQLEndpoint, c.PostgresEndpoint = f.HTTPEndpoint, f.GRPCEndpoint, f.MySQLEndpoint, f.PostgresEndpoint
	c.Username, c.Password = f.Username, f.Password
	return f.endpointOutputs(), nil
}

// newEtcd deploys the cluster's etcd (unless external endpoints are given) and
// returns meta's arguments, which point at it and wait for it.
func (b *clusterBuilder) newEtcd(c *Cluster) (*MetaArgs, error) {
	common := b.common
	meta := &MetaArgs{Common: common, Spec: b.spec.Meta, StoreKeyPrefix: b.Name}
	if !b.spec.Etcd.Deployed() {
		for _, ep := range b.spec.Etcd.Endpoints {
			port, err := kube.HostPort(ep)
			if err != nil {
				return nil, fmt.Errorf("etcd.endpoints: %w", err)
			}
			meta.StoreAddrs = append(meta.StoreAddrs, pulumi.String(ep))
			meta.StorePorts = append(meta.StorePorts, port)
		}
		return meta, nil
	}
	etcdName := EtcdName(b.Name)
	cluster, err := etcd.NewCluster(b.Ctx, etcdName, &etcd.ClusterArgs{
		Spec:         b.spec.Etcd.Spec,
		Env:          common.Env,
		Instance:     b.Name,
		AntiAffinity: common.AntiAffinity,
		ClientPods:   []map[string]string{common.identity("meta").SelectorLabels()},
		Backup:       b.spec.Backup.Etcd,
		ShellImage:   common.WaitImage,
	}, b.Parent)
	if err != nil {
		return nil, err
	}
	c.Etcd = cluster
	meta.StoreAddrs = []pulumi.StringInput{etcd.ClientAddress(etcdName, common.Namespace, common.ClusterDomain)}
	meta.StorePorts = []int{etcd.ClientPort}
	if t := b.spec.Etcd.TLS; t.Enabled {
		meta.StoreTLS = t
		meta.StorePorts = append(meta.StorePorts, etcd.MetricsPort)
		meta.StoreHealthURLs = []pulumi.StringInput{etcd.HealthURL(etcdName, common.Namespace, common.ClusterDomain, t)}
	}
	meta.EtcdPods = etcd.Identity(b.Name).SelectorLabels()
	meta.WaitFor = []pulumi.Resource{cluster.StatefulSet}
	return meta, nil
}
