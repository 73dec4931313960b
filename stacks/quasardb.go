package stacks

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"tsdb-platform/components/kube"
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

// deployQuasarDB creates one QuasarDB cluster and returns its stack outputs.
func deployQuasarDB(ctx *pulumi.Context, env Environment, c QuasarDBCluster) (pulumi.Map, error) {
	cluster, err := quasardb.NewCluster(ctx, c.Name, quasarDBArgs(env, c), env.Options...)
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

// quasarDBArgs maps a validated cluster spec to the component's arguments. The
// license and the security keys come from config as plain strings (Load reads
// them, and licenseFile's contents): they are marked secret here, before they
// reach any resource.
func quasarDBArgs(env Environment, c QuasarDBCluster) *quasardb.ClusterArgs {
	args := &quasardb.ClusterArgs{
		Namespace:     env.Namespace,
		ClusterDomain: env.ClusterDomain,
		Image:         c.Image,
		Replicas:      c.Replicas,
		Resources:     c.Resources,
		Storage:       c.Storage,
		AntiAffinity:  c.AntiAffinity,
		Replication:   c.Replication,
		Probes: quasardb.Probes{
			Readiness: quasarDBProbe(c.Probes.Readiness),
			Liveness:  quasarDBProbe(c.Probes.Liveness),
		},
		DataSafety: env.DataSafety,
		Isolation:  env.Isolation,
	}
	if c.License != "" {
		args.License = kube.Secret(pulumi.String(c.License))
	}
	if c.Security.Enabled {
		args.Security = &quasardb.Security{
			ClusterPrivateKey: kube.Secret(pulumi.String(c.Security.ClusterPrivateKey)),
			UserList:          kube.Secret(pulumi.String(c.Security.UserList)),
			ClusterPublicKey:  c.Security.ClusterPublicKey,
		}
	}
	return args
}

func quasarDBProbe(p ProbeTiming) quasardb.ProbeTiming {
	return quasardb.ProbeTiming{
		InitialDelaySeconds: p.InitialDelaySeconds,
		PeriodSeconds:       p.PeriodSeconds,
		TimeoutSeconds:      p.TimeoutSeconds,
		FailureThreshold:    p.FailureThreshold,
	}
}
