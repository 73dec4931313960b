package greptimedb

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"tsdb-platform/components/etcd"
	"tsdb-platform/components/kube"
)

// ClusterType is the cluster component's type token.
const ClusterType = "tsdb:greptimedb:Cluster"

// EtcdArgs is the cluster's etcd: deployed by the cluster, or external.
type EtcdArgs struct {
	// Endpoints of an existing etcd (host:port); when set, no etcd is deployed.
	Endpoints []string
	Replicas  int
	Image     string
	Resources kube.Resources
	Storage   kube.Storage
}

// Deployed reports whether the cluster deploys its own etcd.
func (e EtcdArgs) Deployed() bool { return len(e.Endpoints) == 0 }

// MetaSpec sizes meta.
type MetaSpec struct {
	Replicas             int
	Resources            kube.Resources
	EnableRegionFailover bool
}

// DatanodeSpec sizes the datanodes and says where they keep data.
type DatanodeSpec struct {
	Replicas      int
	Resources     kube.Resources
	Storage       kube.Storage
	ObjectStorage ObjectStorage
}

// FrontendSpec sizes the frontends and sets up their Service and authentication.
type FrontendSpec struct {
	Replicas    int
	Resources   kube.Resources
	ServiceType string
	// WaitForAddress and AddressTimeoutSeconds: see FrontendArgs.
	WaitForAddress        bool
	AddressTimeoutSeconds int
	AuthEnabled           bool
	Username              string
}

// ClusterArgs configures a whole GreptimeDB cluster. Common.Cluster may be left
// empty: the cluster's name is the component's name.
type ClusterArgs struct {
	Common
	DataSafety kube.DataSafety
	Etcd       EtcdArgs
	Meta       MetaSpec
	Datanode   DatanodeSpec
	Frontend   FrontendSpec
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

// Validate reports what is wrong with the arguments; each component validates
// its own part again.
func (a *ClusterArgs) Validate() error {
	if a == nil {
		return errors.New("args are required")
	}
	errs := []error{a.Common.validate()}
	for _, ep := range a.Etcd.Endpoints {
		if _, err := endpointPort(ep); err != nil {
			errs = append(errs, err)
		}
	}
	if a.Etcd.Deployed() && !etcd.ValidMemberCount(a.Etcd.Replicas) {
		errs = append(errs, fmt.Errorf("etcd.replicas: %d is not an odd member count", a.Etcd.Replicas))
	}
	return errors.Join(errs...)
}

func endpointPort(ep string) (int, error) {
	_, port, err := net.SplitHostPort(ep)
	if err != nil {
		return 0, fmt.Errorf("etcd.endpoints: %q is not host:port", ep)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("etcd.endpoints: %q has no valid port", ep)
	}
	return p, nil
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
	if args != nil {
		named := *args
		named.Common.Cluster = name
		args = &named
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("greptimedb cluster %q: %w", name, err)
	}
	c := &Cluster{}
	if err := ctx.RegisterComponentResource(ClusterType, name, c, opts...); err != nil {
		return nil, fmt.Errorf("greptimedb cluster %q: %w", name, err)
	}
	parent := pulumi.Parent(c)
	common := args.Common

	metaArgs, err := c.newEtcd(ctx, name, args, common, parent)
	if err != nil {
		return nil, err
	}
	if c.Meta, err = NewMeta(ctx, name+"-meta", metaArgs, parent); err != nil {
		return nil, err
	}
	metaAddress := MetaAddress(name, common.Namespace, common.ClusterDomain)
	metaHealth := MetaHealthURL(name, common.Namespace, common.ClusterDomain)
	if c.Datanode, err = NewDatanode(ctx, name+"-datanode", &DatanodeArgs{
		Common:        common,
		Replicas:      args.Datanode.Replicas,
		Resources:     args.Datanode.Resources,
		Storage:       args.Datanode.Storage,
		ObjectStorage: args.Datanode.ObjectStorage,
		DataSafety:    args.DataSafety,
		MetaAddress:   metaAddress,
		MetaHealthURL: metaHealth,
		WaitFor:       []pulumi.Resource{c.Meta.Deployment},
	}, parent); err != nil {
		return nil, err
	}
	if c.Frontend, err = NewFrontend(ctx, name+"-frontend", &FrontendArgs{
		Common:                common,
		Replicas:              args.Frontend.Replicas,
		Resources:             args.Frontend.Resources,
		ServiceType:           args.Frontend.ServiceType,
		WaitForAddress:        args.Frontend.WaitForAddress,
		AddressTimeoutSeconds: args.Frontend.AddressTimeoutSeconds,
		AuthEnabled:           args.Frontend.AuthEnabled,
		Username:              args.Frontend.Username,
		MetaAddress:           metaAddress,
		MetaHealthURL:         metaHealth,
		WaitFor:               []pulumi.Resource{c.Datanode.StatefulSet},
	}, parent); err != nil {
		return nil, err
	}

	f := c.Frontend
	c.HTTPEndpoint, c.GRPCEndpoint, c.MySQLEndpoint, c.PostgresEndpoint = f.HTTPEndpoint, f.GRPCEndpoint, f.MySQLEndpoint, f.PostgresEndpoint
	c.Username, c.Password = f.Username, f.Password
	if err := ctx.RegisterResourceOutputs(c, f.endpointOutputs()); err != nil {
		return nil, fmt.Errorf("greptimedb cluster %q: %w", name, err)
	}
	return c, nil
}

// newEtcd deploys the cluster's etcd (unless external endpoints are given) and
// returns meta's arguments, which point at it and wait for it.
func (c *Cluster) newEtcd(ctx *pulumi.Context, name string, args *ClusterArgs, common Common,
	parent pulumi.ResourceOption,
) (*MetaArgs, error) {
	meta := &MetaArgs{
		Common:               common,
		Replicas:             args.Meta.Replicas,
		Resources:            args.Meta.Resources,
		StoreKeyPrefix:       name,
		EnableRegionFailover: args.Meta.EnableRegionFailover,
	}
	if !args.Etcd.Deployed() {
		for _, ep := range args.Etcd.Endpoints {
			port, err := endpointPort(ep)
			if err != nil {
				return nil, fmt.Errorf("greptimedb cluster %q: %w", name, err)
			}
			meta.StoreAddrs = append(meta.StoreAddrs, pulumi.String(ep))
			meta.StorePorts = append(meta.StorePorts, port)
		}
		return meta, nil
	}
	etcdName := EtcdName(name)
	cluster, err := etcd.NewCluster(ctx, etcdName, &etcd.ClusterArgs{
		Namespace:     common.Namespace,
		ClusterDomain: common.ClusterDomain,
		Instance:      name,
		Replicas:      args.Etcd.Replicas,
		Image:         args.Etcd.Image,
		Resources:     args.Etcd.Resources,
		Storage:       args.Etcd.Storage,
		AntiAffinity:  common.AntiAffinity,
		DataSafety:    args.DataSafety,
		Isolation:     common.Isolation,
		ClientPods:    []pulumi.StringMap{common.identity("meta").Selector()},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("greptimedb cluster %q: %w", name, err)
	}
	c.Etcd = cluster
	meta.StoreAddrs = []pulumi.StringInput{etcd.ClientAddress(etcdName, common.Namespace, common.ClusterDomain)}
	meta.StorePorts = []int{etcd.ClientPort}
	meta.EtcdPods = etcd.Identity(name).Selector()
	meta.WaitFor = []pulumi.Resource{cluster.StatefulSet}
	return meta, nil
}
