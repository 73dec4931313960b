package stacks

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"tsdb-platform/components/kube"
)

// Stack output names. Outputs are grouped per cluster: greptimedb.<name>.mysql,
// quasardb.<name>.uri, and so on.
const (
	OutputNamespace  = "namespace"
	OutputGreptimeDB = "greptimedb"
	OutputQuasarDB   = "quasardb"
)

// ProviderName is the logical name of the stack's explicit Kubernetes provider.
const ProviderName = "kubernetes"

// Environment is what every cluster of a stack shares: where it deploys and how.
type Environment struct {
	// Env is where every component deploys. Its Namespace is the namespace's name
	// as an output of the Namespace resource (when the stack creates it), so every
	// namespaced object depends on the namespace.
	kube.Env
	// Options go to every cluster component: the stack's explicit provider.
	Options []pulumi.ResourceOption
}

// Program is the Pulumi program: it loads and validates the stack's configuration,
// then deploys it. No resource is registered when the configuration is invalid.
func Program(ctx *pulumi.Context) error {
	spec, err := Load(ContextLookup(ctx))
	if err != nil {
		return err
	}
	previous, err := readPreviousTopology(ctx)
	if err != nil {
		return err
	}
	if err := CheckTopologyChange(previous, spec); err != nil {
		return err
	}
	return Deploy(ctx, spec)
}

// Deploy registers everything a validated Spec describes and exports its endpoints.
func Deploy(ctx *pulumi.Context, spec *Spec) error {
	provider, err := newProvider(ctx, spec.Target)
	if err != nil {
		return err
	}
	env := Environment{
		Env: kube.Env{
			Namespace:     pulumi.String(spec.Target.Namespace),
			ClusterDomain: spec.Target.ClusterDomain,
			DataSafety:    spec.DataSafety.DataSafety,
			Isolation:     spec.NetworkPolicy,
			Monitoring:    spec.Monitoring,
			Scheduling:    spec.Scheduling,
			Registry:      spec.Registry(),
		},
		Options: []pulumi.ResourceOption{pulumi.Provider(provider)},
	}
	if spec.Target.CreateNamespace {
		ns, err := newNamespace(ctx, spec.Target.Namespace, provider, spec.DataSafety.DataSafety)
		if err != nil {
			return err
		}
		env.Namespace = ns.Metadata.Name().Elem()
	}

	greptime := pulumi.Map{}
	for _, c := range spec.GreptimeDB {
		outputs, err := deployGreptimeDB(ctx, env, c)
		if err != nil {
			return err
		}
		greptime[c.Name] = outputs
	}
	quasar := pulumi.Map{}
	for _, c := range spec.QuasarDB {
		outputs, err := deployQuasarDB(ctx, env, c)
		if err != nil {
			return err
		}
		quasar[c.Name] = outputs
	}

	ctx.Export(OutputNamespace, env.Namespace)
	ctx.Export(OutputGreptimeDB, greptime)
	ctx.Export(OutputQuasarDB, quasar)
	ctx.Export(OutputTopology, TopologyOf(spec).Output())
	return nil
}

// newProvider creates the stack's explicit Kubernetes provider, so a stack deploys only
// where its configuration says, never to whatever kubeconfig context is current.
func newProvider(ctx *pulumi.Context, t Target) (*kubernetes.Provider, error) {
	args := &kubernetes.ProviderArgs{
		Namespace:             pulumi.StringPtr(t.Namespace),
		EnableServerSideApply: pulumi.BoolPtr(true),
	}
	if t.KubeContext != "" {
		args.Context = pulumi.StringPtr(t.KubeContext)
	}
	if t.Kubeconfig != "" {
		args.Kubeconfig = pulumi.StringPtr(t.Kubeconfig)
	}
	if t.RenderDir != "" {
		args.RenderYamlToDirectory = pulumi.StringPtr(t.RenderDir)
	}
	p, err := kubernetes.NewProvider(ctx, ProviderName, args)
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider: %w", err)
	}
	return p, nil
}

// newNamespace creates the stack's namespace, labelled so Kubernetes enforces the
// Pod Security "restricted" standard on everything in it. Deleting a namespace deletes
// every volume claim in it, so it is protected and retained like the stateful
// resources themselves: a retained StatefulSet keeps its data only if its namespace stays.
func newNamespace(ctx *pulumi.Context, name string, provider *kubernetes.Provider, safety kube.DataSafety) (*corev1.Namespace, error) {
	ns, err := corev1.NewNamespace(ctx, "namespace", &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(name),
			Labels: pulumi.StringMap{
				"app.kubernetes.io/managed-by":               pulumi.String("pulumi"),
				"app.kubernetes.io/part-of":                  pulumi.String(Project),
				"pod-security.kubernetes.io/enforce":         pulumi.String("restricted"),
				"pod-security.kubernetes.io/enforce-version": pulumi.String("latest"),
				"pod-security.kubernetes.io/warn":            pulumi.String("restricted"),
				"pod-security.kubernetes.io/audit":           pulumi.String("restricted"),
			},
		},
	}, append(safety.StatefulOptions(), pulumi.Provider(provider))...)
	if err != nil {
		return nil, fmt.Errorf("namespace %q: %w", name, err)
	}
	return ns, nil
}
