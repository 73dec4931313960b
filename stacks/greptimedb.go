package stacks

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"tsdb-platform/components/greptimedb"
)

// Keys of each GreptimeDB cluster's stack outputs (greptimedb.<name>.<key>).
const (
	OutputHTTP     = "http"
	OutputGRPC     = "grpc"
	OutputMySQL    = "mysql"
	OutputPostgres = "postgres"
	OutputUsername = "username"
	OutputPassword = "password"
	// OutputUsers are the generated passwords of frontend.auth.users, by
	// username (secret; only when the cluster lists users).
	OutputUsers = "users"
	// OutputExternalAddress is a LoadBalancer frontend Service's IP or hostname
	// ("" until the load-balancer controller assigns one; `pulumi refresh` reads it).
	OutputExternalAddress = "externalAddress"
)

// deployGreptimeDB creates one GreptimeDB cluster and returns its stack outputs.
func deployGreptimeDB(ctx *pulumi.Context, env Environment, c GreptimeDBCluster) (pulumi.Map, error) {
	cluster, err := greptimedb.NewCluster(ctx, c.Name, &greptimedb.ClusterArgs{Spec: c.ClusterSpec, Env: env.Env}, env.Options...)
	if err != nil {
		return nil, err
	}
	outputs := pulumi.Map{
		OutputHTTP:     cluster.HTTPEndpoint,
		OutputGRPC:     cluster.GRPCEndpoint,
		OutputMySQL:    cluster.MySQLEndpoint,
		OutputPostgres: cluster.PostgresEndpoint,
		OutputUsername: cluster.Username,
		OutputPassword: pulumi.ToSecret(cluster.Password),
	}
	if len(c.Frontend.Auth.Users) > 0 {
		outputs[OutputUsers] = pulumi.ToSecret(cluster.Users)
	}
	if c.Frontend.ServiceType == greptimedb.ServiceLoadBalancer {
		outputs[OutputExternalAddress] = cluster.Frontend.ExternalAddress
	}
	return outputs, nil
}
