package stacks

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"tsdb-platform/components/quasardb"
)

// QuasarDB stack outputs, per cluster (quasardb.<name>.<key>).
const (
	// OutputQuasarDBURI is the client entry point, qdb://<name>-cs.<ns>.svc.<domain>:2836.
	OutputQuasarDBURI = "uri"
	// OutputQuasarDBPods lists every node's address through the headless Service, by
	// ordinal (a list, so a tool can pick one node without parsing):
	// qdb://<name>-<i>.<name>-hs.<ns>.svc.<domain>:2836.
	OutputQuasarDBPods = "pods"
	// OutputQuasarDBClusterPublicKey is the key clients need; only when security is on.
	OutputQuasarDBClusterPublicKey = "clusterPublicKey"
)

// deployQuasarDB creates one QuasarDB cluster and returns its stack outputs. The
// license and the security keys reach resources only as secrets: the component
// marks them so before any resource sees them.
func deployQuasarDB(ctx *pulumi.Context, env Environment, c QuasarDBCluster) (pulumi.Map, error) {
	cluster, err := quasardb.NewCluster(ctx, c.Name, &quasardb.ClusterArgs{Spec: c.ClusterSpec, Env: env.Env}, env.Options...)
	if err != nil {
		return nil, err
	}
	outputs := pulumi.Map{
		OutputQuasarDBURI:  cluster.URI,
		OutputQuasarDBPods: cluster.PodAddresses,
	}
	if c.Security.Enabled {
		outputs[OutputQuasarDBClusterPublicKey] = cluster.ClusterPublicKey
	}
	return outputs, nil
}
