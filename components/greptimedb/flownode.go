package greptimedb

import (
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"tsdb-platform/components/kube"
)

// FlownodeType is the flownode component's type token.
const FlownodeType = "tsdb:greptimedb:Flownode"

// FlownodeSpec is GreptimeDB's flownodes, which run the flows of CREATE FLOW.
//
// A flownode (GreptimeDB v1.1.4, `greptime flownode start`) keeps no state on
// disk: its flows are stored in metasrv under its node id and rebuilt from
// there when it restarts (src/flow/src/adapter/flownode_impl.rs), so it has no
// volume claim, only scratch space for its logs. Its node id must stay the
// same across restarts: it is the StatefulSet ordinal. metasrv spreads the
// flows over the live flownodes (src/meta-srv/src/metasrv/builder.rs), one
// flownode per flow.
type FlownodeSpec struct {
	// Enabled deploys the flownodes.
	Enabled bool `json:"enabled"`
	kube.Size
	// Scheduling places the pods, over the stack's scheduling.
	Scheduling kube.Scheduling `json:"scheduling"`
	Passthrough
}

// Flownode is the deployed flownodes.
type Flownode struct {
	pulumi.ResourceState

	ConfigMap   *corev1.ConfigMap
	Service     *corev1.Service
	StatefulSet *appsv1.StatefulSet
	// Config is the rendered TOML config.
	Config pulumi.StringOutput
}

// flownodePorts are the flownodes' gRPC and HTTP ports (the operator's: rpc
// 4001, http 4000, apis/v1alpha1/constants.go). The HTTP server serves
// /health and /metrics (src/servers/src/http.rs).
var flownodePorts = []kube.Port{{Name: "rpc", Number: GRPCPort}, {Name: "http", Number: HTTPPort}}

// flownodesEnabled reports whether the cluster runs flownodes.
func flownodesEnabled(s ClusterSpec) bool { return s.Flownode.Enabled }

// flownodeCalls: the flownodes call metasrv (heartbeats and metadata), the
// datanodes (streaming flows write their sink tables' regions) and the
// frontends, unauthenticated, on their internal gRPC port (batching flows run
// their queries there, and a flownode starts only once a frontend answers its
// probe: src/flow/src/batching_mode/frontend_client.rs) and HTTP (the wait).
func flownodeCalls(ClusterSpec) []call {
	return []call{
		{to: KindMeta, ports: []int{MetaRPCPort}},
		{to: KindDatanode, ports: []int{GRPCPort}},
		{to: KindFrontend, ports: []int{HTTPPort, InternalGRPCPort}},
	}
}

// flownodeCallers: metasrv calls the flownodes to create and drop flows
// (src/common/meta/src/ddl/create_flow.rs), and the frontends to mirror the
// inserts into flow sources (src/operator/src/insert.rs).
func flownodeCallers() []call {
	return []call{{to: KindMeta, ports: []int{GRPCPort}}, {to: KindFrontend, ports: []int{GRPCPort}}}
}

// flownodeConfig is the flownode's TOML config: its node id and meta's
// address are on its command line.
type flownodeConfig struct {
	Logging loggingConfig `toml:"logging"`
}

// FlownodeScript is the flownode's shell command line: its node id is the
// pod's StatefulSet ordinal.
var FlownodeScript = ordinalNodeScript(KindFlownode)

// buildFlownode creates the cluster's flownodes: a ConfigMap, a headless
// Service and a StatefulSet that starts after the frontends.
func buildFlownode(c *clusterBuilder, cl *Cluster) (pulumi.Resource, error) {
	f := &Flownode{}
	cl.Flownode = f
	_, err := newComponent(c, KindFlownode, FlownodeType, f, func(p part) (pulumi.Map, error) { return (&flownodeBuilder{p}).build(f) })
	return f.StatefulSet, err
}

// flownodeBuilder creates the flownodes' children.
type flownodeBuilder struct{ part }

// build creates the children and returns the component's outputs.
func (b *flownodeBuilder) build(f *Flownode) (pulumi.Map, error) {
	spec := b.spec.Flownode
	config, err := b.render(flownodeConfig{Logging: b.logging()})
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	f.Config = pulumi.String(config).ToStringOutput()
	if f.ConfigMap, err = b.newConfigMap(f.Config); err != nil {
		return nil, err
	}
	if f.Service, err = b.newService(kube.Metadata{}, &corev1.ServiceSpecArgs{ClusterIP: pulumi.String("None")}); err != nil {
		return nil, err
	}
	main := b.container(spec.Resources, dataMount("data"))
	main.Command = pulumi.ToStringArray([]string{"/bin/sh", "-c", FlownodeScript})
	main.Env = append(main.Env.(corev1.EnvVarArray), corev1.EnvVarArgs{Name: pulumi.String(EnvMetasrvAddrs), Value: b.metaAddress()})
	f.StatefulSet, err = appsv1.NewStatefulSet(b.Ctx, b.objName, &appsv1.StatefulSetArgs{
		Metadata: b.ID.ObjectMeta(b.objName, b.Namespace),
		Spec: &appsv1.StatefulSetSpecArgs{
			Replicas:            pulumi.Int(spec.Replicas),
			ServiceName:         f.Service.Metadata.Name().Elem(),
			PodManagementPolicy: pulumi.String("Parallel"),
			Selector:            b.ID.LabelSelector(),
			Template: b.podTemplate(podAnnotations(f.Config), main,
				volumes(f.ConfigMap.Metadata.Name().Elem(), kube.EmptyDir("data", "1Gi")), nil),
		},
	}, append([]pulumi.ResourceOption{b.Parent}, kube.DependsOn(b.after)...)...)
	if err != nil {
		return nil, fmt.Errorf("statefulset: %w", err)
	}
	if err := b.finish(spec.Replicas, nil, nil); err != nil {
		return nil, err
	}
	return pulumi.Map{"statefulSet": f.StatefulSet.Metadata.Name(), "service": f.Service.Metadata.Name()}, nil
}

// flownodePanels are the flownodes' dashboard series (GreptimeDB v1.1.4
// src/flow/src/metrics.rs; grafana/dashboards/metrics/cluster).
func flownodePanels(pods string) []kube.Panel {
	return []kube.Panel{
		{Title: "Flownode: processed rows/s", Unit: "short", Expr: fmt.Sprintf(`sum by (direction) (rate(greptime_flow_processed_rows{%s}[$__rate_interval]))`, pods)},
		{Title: "Flownode: errors/s", Unit: "short", Expr: fmt.Sprintf(`sum by (code) (rate(greptime_flow_errors{%s}[$__rate_interval]))`, pods)},
	}
}
