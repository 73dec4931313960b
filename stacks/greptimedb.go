package stacks

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"tsdb-platform/components/greptimedb"
	"tsdb-platform/components/kube"
)

// Keys of each GreptimeDB cluster's stack outputs (greptimedb.<name>.<key>).
const (
	OutputHTTP     = "http"
	OutputGRPC     = "grpc"
	OutputMySQL    = "mysql"
	OutputPostgres = "postgres"
	OutputUsername = "username"
	OutputPassword = "password"
	// OutputExternalAddress is a LoadBalancer frontend Service's IP or hostname
	// ("" until the load-balancer controller assigns one; `pulumi refresh` reads it).
	OutputExternalAddress = "externalAddress"
)

// deployGreptimeDB creates one GreptimeDB cluster and returns its stack outputs.
func deployGreptimeDB(ctx *pulumi.Context, env Environment, c GreptimeDBCluster) (pulumi.Map, error) {
	cluster, err := greptimedb.NewCluster(ctx, c.Name, greptimeDBArgs(env, c), env.Options...)
	if err != nil {
		return nil, fmt.Errorf("deploying: %w", err)
	}
	outputs := pulumi.Map{
		OutputHTTP:     cluster.HTTPEndpoint,
		OutputGRPC:     cluster.GRPCEndpoint,
		OutputMySQL:    cluster.MySQLEndpoint,
		OutputPostgres: cluster.PostgresEndpoint,
		OutputUsername: cluster.Username,
		OutputPassword: pulumi.ToSecret(cluster.Password),
	}
	if c.Frontend.ServiceType == ServiceTypeLoadBalancer {
		outputs[OutputExternalAddress] = cluster.Frontend.ExternalAddress
	}
	return outputs, nil
}

// greptimeDBArgs maps a validated cluster spec onto the component's arguments.
// Object storage credentials go in as secrets, whatever the config said.
func greptimeDBArgs(env Environment, c GreptimeDBCluster) *greptimedb.ClusterArgs {
	o := c.Datanode.ObjectStorage
	storage := greptimedb.ObjectStorage{
		Type: o.Type, Bucket: o.Bucket, Root: o.Root, Region: o.Region, Endpoint: o.Endpoint,
	}
	if o.Type == StorageTypeS3 {
		storage.AccessKeyID = kube.Secret(pulumi.String(o.AccessKeyID))
		storage.SecretAccessKey = kube.Secret(pulumi.String(o.SecretAccessKey))
	}
	return &greptimedb.ClusterArgs{
		Common: greptimedb.Common{
			Cluster:       c.Name,
			Namespace:     env.Namespace,
			ClusterDomain: env.ClusterDomain,
			Image:         c.Image,
			WaitImage:     c.WaitImage,
			AntiAffinity:  c.AntiAffinity,
			Isolation:     env.Isolation,
			Logging:       greptimedb.Logging{Level: c.Logging.Level, Format: c.Logging.Format},
			WAL:           greptimedb.WAL{Provider: c.WAL.Provider, BrokerEndpoints: c.WAL.BrokerEndpoints},
		},
		DataSafety: env.DataSafety,
		Etcd: greptimedb.EtcdArgs{
			Endpoints: c.Etcd.Endpoints,
			Replicas:  c.Etcd.Replicas,
			Image:     c.Etcd.Image,
			Resources: c.Etcd.Resources,
			Storage:   c.Etcd.Storage,
		},
		Meta: greptimedb.MetaSpec{
			Replicas:             c.Meta.Replicas,
			Resources:            c.Meta.Resources,
			EnableRegionFailover: c.Meta.EnableRegionFailover,
		},
		Datanode: greptimedb.DatanodeSpec{
			Replicas:      c.Datanode.Replicas,
			Resources:     c.Datanode.Resources,
			Storage:       c.Datanode.Storage,
			ObjectStorage: storage,
		},
		Frontend: greptimedb.FrontendSpec{
			Replicas:              c.Frontend.Replicas,
			Resources:             c.Frontend.Resources,
			ServiceType:           c.Frontend.ServiceType,
			WaitForAddress:        c.Frontend.LoadBalancer.WaitForAddress,
			AddressTimeoutSeconds: c.Frontend.LoadBalancer.TimeoutSeconds,
			AuthEnabled:           c.Frontend.Auth.Enabled,
			Username:              c.Frontend.Auth.Username,
		},
	}
}
