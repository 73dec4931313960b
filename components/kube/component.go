package kube

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Env is where a component deploys, and how: what every component of a stack shares.
type Env struct {
	// Namespace the objects live in: an output of the Namespace resource when the
	// stack owns it, so every object depends on it.
	Namespace pulumi.StringInput
	// ClusterDomain is the Kubernetes cluster's DNS domain ("cluster.local").
	ClusterDomain string
	// DataSafety is applied to every resource that holds data.
	DataSafety DataSafety
	// Isolation creates NetworkPolicies for the component's pods when enabled.
	Isolation Isolation
	// Monitoring makes the component's metrics scrapable when enabled.
	Monitoring Monitoring
	// Scheduling is where every pod runs, unless its component's own
	// scheduling overrides a key (Scheduling.Over).
	Scheduling Scheduling
	// Registry is where every image is pulled from.
	Registry Registry
}

// Component is one component resource under construction: every component of
// this program is built through NewComponent, so each has the same shape.
type Component struct {
	Ctx *pulumi.Context
	// Name is the component's Pulumi name.
	Name string
	// Parent makes a child resource a child of the component.
	Parent pulumi.ResourceOption
}

// NewComponent registers resource, a component named name, and builds its children:
//   - problems found by validate are reported before anything is registered (a
//     public constructor validates its arguments; an inner one, whose arguments
//     its caller validated, passes nil);
//   - build creates the children (with c.Parent) and returns the outputs to register;
//   - every error is wrapped once, with what ("meta") and the component's name.
//
// It returns resource, or the error.
func NewComponent[T pulumi.ComponentResource](ctx *pulumi.Context, what, typeToken, name string, resource T,
	validate func() field.ErrorList, build func(c Component) (pulumi.Map, error), opts ...pulumi.ResourceOption,
) (T, error) {
	var none T
	if validate == nil {
		validate = func() field.ErrorList { return nil }
	}
	if errs := validate(); len(errs) > 0 {
		return none, fmt.Errorf("%s %q: %w", what, name, errs.ToAggregate())
	}
	if err := ctx.RegisterComponentResource(typeToken, name, resource, opts...); err != nil {
		return none, fmt.Errorf("%s %q: %w", what, name, err)
	}
	outputs, err := build(Component{Ctx: ctx, Name: name, Parent: pulumi.Parent(resource)})
	if err == nil {
		err = ctx.RegisterResourceOutputs(resource, outputs)
	}
	if err != nil {
		return none, fmt.Errorf("%s %q: %w", what, name, err)
	}
	return resource, nil
}

// ValidateComponent reports every problem of a database cluster component's
// arguments: its name, its environment, and its spec's own problems.
func (e Env) ValidateComponent(name string, spec field.ErrorList) field.ErrorList {
	errs := ValidateClusterName(name, field.NewPath("name"))
	errs = append(errs, e.Validate()...)
	return append(errs, spec...)
}

// DependsOn is the option that starts a resource after waitFor (none when empty).
func DependsOn(waitFor []pulumi.Resource) []pulumi.ResourceOption {
	if len(waitFor) == 0 {
		return nil
	}
	return []pulumi.ResourceOption{pulumi.DependsOn(waitFor)}
}
