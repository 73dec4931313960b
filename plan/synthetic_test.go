package plan_test

import (
	"fmt"
	"testing"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/plan"
)

// obj describes one resource of a synthetic program. Resources are registered in
// order; parent and deps name earlier entries.
type obj struct {
	name string
	// kind is a Kubernetes kind (StatefulSet, Deployment, Service, PVC, ConfigMap,
	// Secret) or a component type token ("tsdb:greptimedb:Cluster").
	kind      string
	parent    string
	deps      []string
	component string // app.kubernetes.io/component label; "" leaves the labels out
	instance  string // app.kubernetes.io/instance label
	app       string // app.kubernetes.io/name label, if set
	// pods labels a workload's pod template pod=<pods>, and makes a Service select
	// pod=<pods> (a Service without it selects app=<its name>, matching nothing).
	pods      string
	ns        string // metadata.namespace, if set
	headless  bool
	external  bool
	noSel     bool
	skipAwait bool
}

type comp struct{ pulumi.ResourceState }

// synthetic runs a program that registers objs (names unique across kinds) and returns its recorded graph: the
// same recording, parent chains and DependsOn expansion as the real program gets.
func synthetic(t testing.TB, objs []obj) *mockrun.Result {
	t.Helper()
	program := func(ctx *pulumi.Context) error {
		made := map[string]pulumi.Resource{}
		for _, o := range objs {
			var opts []pulumi.ResourceOption
			if o.parent != "" {
				opts = append(opts, pulumi.Parent(made[o.parent]))
			}
			var deps []pulumi.Resource
			for _, d := range o.deps {
				deps = append(deps, made[d])
			}
			if len(deps) > 0 {
				opts = append(opts, pulumi.DependsOn(deps))
			}
			md := &metav1.ObjectMetaArgs{Name: pulumi.String(o.name)}
			if o.ns != "" {
				md.Namespace = pulumi.String(o.ns)
			}
			if o.component != "" {
				md.Labels = pulumi.StringMap{
					plan.LabelComponent: pulumi.String(o.component),
					plan.LabelInstance:  pulumi.String(o.instance),
				}
				if o.app != "" {
					md.Labels.(pulumi.StringMap)[plan.LabelName] = pulumi.String(o.app)
				}
			}
			if o.skipAwait {
				md.Annotations = pulumi.StringMap{plan.SkipAwaitAnnotation: pulumi.String("true")}
			}
			var r pulumi.Resource
			var err error
			switch o.kind {
			case "StatefulSet":
				spec := &appsv1.StatefulSetSpecArgs{Template: podTemplate(o.pods)}
				r, err = appsv1.NewStatefulSet(ctx, o.name, &appsv1.StatefulSetArgs{Metadata: md, Spec: spec}, opts...)
			case "Deployment":
				spec := &appsv1.DeploymentSpecArgs{Template: podTemplate(o.pods)}
				r, err = appsv1.NewDeployment(ctx, o.name, &appsv1.DeploymentArgs{Metadata: md, Spec: spec}, opts...)
			case "PVC":
				r, err = corev1.NewPersistentVolumeClaim(ctx, o.name, &corev1.PersistentVolumeClaimArgs{Metadata: md}, opts...)
			case "ConfigMap":
				r, err = corev1.NewConfigMap(ctx, o.name, &corev1.ConfigMapArgs{Metadata: md}, opts...)
			case "Secret":
				r, err = corev1.NewSecret(ctx, o.name, &corev1.SecretArgs{Metadata: md}, opts...)
			case "Service":
				spec := &corev1.ServiceSpecArgs{Ports: corev1.ServicePortArray{corev1.ServicePortArgs{Port: pulumi.Int(80)}}}
				switch {
				case o.noSel:
				case o.pods != "":
					spec.Selector = pulumi.StringMap{"pod": pulumi.String(o.pods)}
				default:
					spec.Selector = pulumi.StringMap{"app": pulumi.String(o.name)}
				}
				if o.headless {
					spec.ClusterIP = pulumi.String("None")
				}
				if o.external {
					spec.Type = pulumi.String("ExternalName")
					spec.ExternalName = pulumi.String("example.com")
				}
				r, err = corev1.NewService(ctx, o.name, &corev1.ServiceArgs{Metadata: md, Spec: spec}, opts...)
			default:
				c := &comp{}
				err = ctx.RegisterComponentResource(o.kind, o.name, c, opts...)
				r = c
			}
			if err != nil {
				return err
			}
			made[o.name] = r
			// Wait until the resource is registered. The Go SDK adds a child to its
			// parent's children only when the child's registration starts (in a
			// goroutine), and DependsOn on a component expands to the children known at
			// that moment (pulumi/pulumi#7737, #7791), so without this wait the recorded
			// graph would depend on goroutine scheduling.
			if _, err := internals.UnsafeAwaitOutput(ctx.Context(), r.URN()); err != nil {
				return err
			}
		}
		return nil
	}
	res, err := mockrun.Run(program, mockrun.Options{})
	require.NoError(t, err)
	return res
}

func podTemplate(pods string) corev1.PodTemplateSpecArgs {
	if pods == "" {
		return corev1.PodTemplateSpecArgs{}
	}
	return corev1.PodTemplateSpecArgs{Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.StringMap{"pod": pulumi.String(pods)}}}
}

// greptimeShape is a GreptimeDB cluster shaped as the design says: each component a
// child component of the cluster that depends on the previous one, with the config
// objects and headless Services a real cluster has.
func greptimeShape(name string) []obj {
	l := func(o obj, c string) obj { o.component, o.instance = c, name; return o }
	cl := name + "-cluster"
	return []obj{
		{name: cl, kind: plan.TypeGreptimeDBCluster},
		{name: name + "/etcd", kind: "tsdb:greptimedb:Etcd", parent: cl},
		l(obj{name: name + "-etcd-peers", kind: "Service", parent: name + "/etcd", headless: true, pods: name + "-etcd"}, "etcd"),
		l(obj{name: name + "-etcd-client", kind: "Service", parent: name + "/etcd", pods: name + "-etcd"}, "etcd"),
		l(obj{name: name + "-etcd", kind: "StatefulSet", parent: name + "/etcd", deps: []string{name + "-etcd-peers"}, pods: name + "-etcd"}, "etcd"),
		{name: name + "/meta", kind: "tsdb:greptimedb:Meta", parent: cl, deps: []string{name + "/etcd"}},
		l(obj{name: name + "-meta-config", kind: "ConfigMap", parent: name + "/meta"}, "meta"),
		l(obj{name: name + "-meta", kind: "Deployment", parent: name + "/meta", deps: []string{name + "-meta-config"}, pods: name + "-meta"}, "meta"),
		l(obj{name: name + "-meta-svc", kind: "Service", parent: name + "/meta", pods: name + "-meta"}, "meta"),
		{name: name + "/datanode", kind: "tsdb:greptimedb:Datanode", parent: cl, deps: []string{name + "/meta"}},
		l(obj{name: name + "-datanode-config", kind: "ConfigMap", parent: name + "/datanode"}, "datanode"),
		l(obj{name: name + "-datanode-peers", kind: "Service", parent: name + "/datanode", headless: true, pods: name + "-datanode"}, "datanode"),
		l(obj{name: name + "-datanode", kind: "StatefulSet", parent: name + "/datanode", deps: []string{name + "-datanode-config", name + "-datanode-peers"}, pods: name + "-datanode"}, "datanode"),
		{name: name + "/frontend", kind: "tsdb:greptimedb:Frontend", parent: cl, deps: []string{name + "/datanode"}},
		l(obj{name: name + "-frontend-auth", kind: "Secret", parent: name + "/frontend"}, "frontend"),
		l(obj{name: name + "-frontend", kind: "Deployment", parent: name + "/frontend", deps: []string{name + "-frontend-auth"}, pods: name + "-frontend"}, "frontend"),
		l(obj{name: name + "-frontend-svc", kind: "Service", parent: name + "/frontend", pods: name + "-frontend"}, "frontend"),
	}
}

func quasarShape(name string) []obj {
	// As the QuasarDB component labels its objects: name quasardb, component database.
	l := func(o obj) obj { o.component, o.instance, o.app = "database", name, "quasardb"; return o }
	cl := name + "-cluster"
	return []obj{
		{name: cl, kind: plan.TypeQuasarDBCluster},
		l(obj{name: name + "-config", kind: "ConfigMap", parent: cl}),
		l(obj{name: name + "-license", kind: "Secret", parent: cl}),
		l(obj{name: name + "-peers", kind: "Service", parent: cl, headless: true, pods: name}),
		l(obj{name: name, kind: "StatefulSet", parent: cl, deps: []string{name + "-config", name + "-license", name + "-peers"}, pods: name}),
		l(obj{name: name + "-client", kind: "Service", parent: cl, pods: name}),
	}
}

func TestGreptimeAndQuasarShapes(t *testing.T) {
	p := plan.Compute(synthetic(t, append(greptimeShape("a"), quasarShape("q")...)))
	require.Empty(t, p.Problems)
	assert.Equal(t, "stage 1: etcd(a) quasardb(q)\nstage 2: meta(a)\nstage 3: datanode(a)\nstage 4: frontend(a)\ncritical path: 4\n", p.Text())

	g := p.Cluster(plan.TypeGreptimeDBCluster, "a")
	require.NotNil(t, g)
	assert.Equal(t, 4, g.Stages)
	assert.Equal(t, 4, g.CriticalPath)
	assert.Equal(t, [][]string{{"etcd"}, {"meta"}, {"datanode"}, {"frontend"}}, g.StageComponents())
	q := p.Cluster(plan.TypeQuasarDBCluster, "q")
	require.NotNil(t, q)
	assert.Equal(t, 1, q.Stages)
	assert.Equal(t, [][]string{{"quasardb"}}, q.StageComponents())

	// Exactly the objects with a selector and a cluster IP, and the workloads, are awaited.
	var awaited []string
	for _, n := range p.Nodes {
		awaited = append(awaited, fmt.Sprintf("%d %s %s", n.Stage, n.Kind, n.Name))
	}
	assert.Equal(t, []string{
		"1 Service a-etcd-client", "1 StatefulSet a-etcd", "1 Service q-client", "1 StatefulSet q",
		"2 Deployment a-meta", "2 Service a-meta-svc",
		"3 StatefulSet a-datanode",
		"4 Deployment a-frontend", "4 Service a-frontend-svc",
	}, awaited)
	assertNoConfigObjectInAStage(t, p)
}

// assertNoConfigObjectInAStage checks that ConfigMaps, Secrets and headless Services
// are never awaited.
func assertNoConfigObjectInAStage(t *testing.T, p *plan.Plan) {
	t.Helper()
	for _, n := range p.Nodes {
		assert.NotContains(t, []string{"ConfigMap", "Secret"}, n.Kind, n.URN)
	}
	for urn, why := range p.NotAwaited {
		assert.Nil(t, p.Node(urn), urn)
		assert.NotEmpty(t, why, urn)
	}
}

func TestNonAwaitedObjectsAddNoStage(t *testing.T) {
	// a <- config objects <- b: b waits for a through them, one stage later, not four.
	objs := []obj{
		{name: "a", kind: "Deployment"},
		{name: "cm", kind: "ConfigMap", deps: []string{"a"}},
		{name: "sec", kind: "Secret", deps: []string{"cm"}},
		{name: "peers", kind: "Service", headless: true, deps: []string{"sec"}},
		{name: "nosel", kind: "Service", noSel: true, deps: []string{"peers"}},
		{name: "ext", kind: "Service", external: true, deps: []string{"nosel"}},
		{name: "skipped", kind: "StatefulSet", skipAwait: true, deps: []string{"ext"}},
		{name: "b", kind: "Deployment", deps: []string{"skipped"}},
		// Config objects alone never make a stage.
		{name: "cm2", kind: "ConfigMap"},
		{name: "c", kind: "StatefulSet", deps: []string{"cm2"}},
	}
	p := plan.Compute(synthetic(t, objs))
	names := map[string]int{}
	for _, n := range p.Nodes {
		names[n.Name] = n.Stage
	}
	assert.Equal(t, map[string]int{"a": 1, "b": 2, "c": 1}, names)
	assert.Equal(t, 2, p.CriticalPath)
	reasons := map[string]string{}
	for urn, why := range p.NotAwaited {
		reasons[urn[len(urn)-len(lastName(urn)):]] = why
	}
	assert.Equal(t, map[string]string{
		"cm": "ConfigMap is not awaited", "cm2": "ConfigMap is not awaited", "sec": "Secret is not awaited",
		"peers": "headless Service (clusterIP: None)", "nosel": "Service without a selector",
		"ext": "ExternalName Service", "skipped": "pulumi.com/skipAwait is true",
	}, reasons)
	// b's only direct awaited predecessor is a.
	assert.Equal(t, []string{p.Nodes[0].URN}, p.Node(nodeURN(p, "b")).After)
}

func TestParentChainAndPVC(t *testing.T) {
	// A child of a component waits for what the component waits for, and a
	// component's DependsOn on another component waits for all of that one's children.
	objs := []obj{
		{name: "first", kind: "tsdb:test:Part"},
		{name: "claim", kind: "PVC", parent: "first"},
		{name: "second", kind: "tsdb:test:Part", deps: []string{"first"}},
		{name: "inner", kind: "tsdb:test:Inner", parent: "second"},
		{name: "svc", kind: "Service", parent: "inner"},
		{name: "third", kind: "tsdb:test:Part", deps: []string{"second"}},
		{name: "job", kind: "Deployment", parent: "third"},
	}
	p := plan.Compute(synthetic(t, objs))
	assert.Equal(t, "stage 1: part\nstage 2: inner\nstage 3: part\ncritical path: 3\n", p.Text())
	assert.Equal(t, "PersistentVolumeClaim", p.Nodes[0].Kind)
	// Edges are the transitive reduction: job waits for svc directly, for claim through svc.
	assert.Equal(t, []string{nodeURN(p, "svc")}, p.Node(nodeURN(p, "job")).After)
	assert.Equal(t, []string{nodeURN(p, "claim")}, p.Node(nodeURN(p, "svc")).After)
	assert.Empty(t, p.Clusters)
}

func TestClustersStartInParallel(t *testing.T) {
	for _, n := range []int{1, 10, 100} {
		var objs []obj
		for i := range n {
			objs = append(objs, greptimeShape(fmt.Sprintf("g%03d", i))...)
			objs = append(objs, quasarShape(fmt.Sprintf("q%03d", i))...)
		}
		p := plan.Compute(synthetic(t, objs))
		assert.Equal(t, 4, p.CriticalPath, n)
		require.Len(t, p.Clusters, 2*n)
		for _, c := range p.Clusters {
			want := map[string]int{plan.TypeGreptimeDBCluster: 4, plan.TypeQuasarDBCluster: 1}[c.Type]
			assert.Equal(t, want, c.Stages, c.Name)
		}
		stages := p.Stages()
		require.Len(t, stages, 4)
		assert.Len(t, stages[0], 2*n, "every etcd and every QuasarDB starts in stage 1")
		assert.Len(t, stages[3], n)
	}
}

func TestRenderingIsDeterministic(t *testing.T) {
	objs := append(append(greptimeShape("b"), quasarShape("q")...), greptimeShape("a")...)
	first := plan.Compute(synthetic(t, objs))
	for range 3 {
		again := plan.Compute(synthetic(t, objs))
		require.Equal(t, first.Text(), again.Text())
		require.Equal(t, first.Mermaid(), again.Mermaid())
		require.Equal(t, first.Detail(), again.Detail())
	}
	m := first.Mermaid()
	assert.Contains(t, m, "flowchart LR\n")
	assert.Contains(t, m, "  subgraph c1[\"GreptimeDB a\"]\n")
	assert.Contains(t, m, "  subgraph c3[\"QuasarDB q\"]\n")
	// a-etcd-client (n1) and the a-etcd StatefulSet (n2) both lead to a-meta and a-meta-svc.
	assert.Contains(t, m, "n2[\"etcd<br/>StatefulSet a-etcd<br/>stage 1\"]")
	edges := 0
	for _, n := range first.Nodes {
		edges += len(n.After)
	}
	// per GreptimeDB cluster: 2 etcd x 2 meta + 2 meta x 1 datanode + 1 datanode x 2 frontend = 8
	assert.Equal(t, 16, edges)
}

func TestServiceIsReadyWithTheWorkloadItSelects(t *testing.T) {
	// Services made first, with no dependency, are still ready only when the pods
	// they select are: the client Service of the second workload is in its stage. A
	// Service in another namespace selects other pods.
	objs := []obj{
		{name: "first-svc", kind: "Service", pods: "first"},
		{name: "second-svc", kind: "Service", pods: "second", ns: "here"},
		{name: "other-ns", kind: "Service", pods: "second", ns: "elsewhere"},
		{name: "first", kind: "StatefulSet", pods: "first"},
		{name: "second", kind: "Deployment", pods: "second", ns: "here", deps: []string{"first"}},
		{name: "after", kind: "Deployment", deps: []string{"second-svc"}},
	}
	p := plan.Compute(synthetic(t, objs))
	stages := map[string]int{}
	for _, n := range p.Nodes {
		stages[n.Name] = n.Stage
	}
	assert.Equal(t, map[string]int{"first-svc": 1, "first": 1, "second": 2, "second-svc": 2, "other-ns": 1, "after": 3}, stages)
	assert.Equal(t, []string{nodeURN(p, "second")}, p.Node(nodeURN(p, "second-svc")).Selects)
	assert.Contains(t, p.Mermaid(), "-.->")
	assert.Empty(t, p.Problems)
}

func TestWorkloadWaitingForItsOwnServiceIsACycle(t *testing.T) {
	// The Service's endpoints need the Deployment's pods, and the Deployment is
	// created only once the Service is ready: the provider would wait until it times out.
	objs := []obj{
		{name: "svc", kind: "Service", pods: "web"},
		{name: "web", kind: "Deployment", pods: "web", deps: []string{"svc"}},
	}
	p := plan.Compute(synthetic(t, objs))
	require.Len(t, p.Problems, 1)
	assert.Contains(t, p.Problems[0], "cycle")
	assert.Contains(t, p.Text(), "problem: waits in a cycle")
}

func TestEmptyPlan(t *testing.T) {
	p := plan.Compute(synthetic(t, []obj{{name: "cm", kind: "ConfigMap"}}))
	assert.Equal(t, "no awaited resources\ncritical path: 0\n", p.Text())
	assert.Contains(t, p.Mermaid(), "no awaited resources")
}

func nodeURN(p *plan.Plan, name string) string {
	for _, n := range p.Nodes {
		if n.Name == name {
			return n.URN
		}
	}
	return ""
}

func lastName(urn string) string {
	for i := len(urn) - 1; i > 0; i-- {
		if urn[i] == ':' && urn[i-1] == ':' {
			return urn[i+1:]
		}
	}
	return urn
}
