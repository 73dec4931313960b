package mockrun

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
)

// Options say how to run a program under mocks.
type Options struct {
	// Project defaults to "tsdb-platform", Stack to "test".
	Project, Stack string
	// Config holds project config values by key without the project prefix
	// ("greptimedb", not "tsdb-platform:greptimedb"); objects as JSON.
	Config map[string]string
	// SecretKeys lists the keys of Config that are secret.
	SecretKeys []string
	// DryRun runs the program as `pulumi preview` does.
	DryRun bool
	// PreviousOutputs are the outputs of the stack's last deployment (nil: first).
	PreviousOutputs map[string]any
}

// Export is one resolved stack output leaf.
type Export struct {
	Value  any
	Known  bool
	Secret bool
}

// Result is everything a program run registered and exported.
type Result struct {
	Resources []*Resource
	// Exports maps a flattened output path ("greptimedb.main.mysql") to its value.
	Exports map[string]Export

	byURN map[string]*Resource
}

// Run runs program under mocks and records everything. The error is the program's
// (for example a configuration error); the Result is returned either way, with
// whatever was registered before the error.
func Run(program pulumi.RunFunc, opts Options) (*Result, error) {
	if opts.Project == "" {
		opts.Project = "tsdb-platform"
	}
	if opts.Stack == "" {
		opts.Stack = "test"
	}
	rec := &Recorder{Project: opts.Project, Stack: opts.Stack, DryRun: opts.DryRun, PreviousOutputs: opts.PreviousOutputs}
	var exports map[string]pulumi.Input
	wrapped := func(ctx *pulumi.Context) error {
		err := program(ctx)
		exports = ctx.GetCurrentExportMap()
		return err
	}
	config := make(map[string]string, len(opts.Config))
	for k, v := range opts.Config {
		config[opts.Project+":"+k] = v
	}
	var secretKeys []string
	for _, k := range opts.SecretKeys {
		secretKeys = append(secretKeys, opts.Project+":"+k)
	}
	err := pulumi.RunErr(wrapped,
		pulumi.WithMocks(opts.Project, opts.Stack, rec),
		func(info *pulumi.RunInfo) {
			info.Config = config
			info.ConfigSecretKeys = secretKeys
			info.DryRun = opts.DryRun
		},
	)
	res := &Result{Resources: rec.Resources(), Exports: map[string]Export{}}
	res.index()
	if err == nil {
		for name, in := range exports {
			if aerr := flattenExport(res.Exports, name, in); aerr != nil {
				err = errors.Join(err, aerr)
			}
		}
	}
	return res, err
}

// flattenExport resolves an exported value leaf by leaf, so each leaf keeps its own
// secretness (the engine keeps nested secrets apart too).
func flattenExport(out map[string]Export, path string, in pulumi.Input) error {
	switch v := in.(type) {
	case pulumi.Map:
		for k, e := range v {
			if err := flattenExport(out, path+"."+k, e); err != nil {
				return err
			}
		}
		return nil
	case pulumi.StringArray:
		for i, e := range v {
			if err := flattenExport(out, fmt.Sprintf("%s[%d]", path, i), e); err != nil {
				return err
			}
		}
		return nil
	case pulumi.String:
		out[path] = Export{Value: string(v), Known: true}
		return nil
	case pulumi.Output:
		r, err := internals.UnsafeAwaitOutput(context.Background(), v)
		if err != nil {
			return fmt.Errorf("export %s: %w", path, err)
		}
		out[path] = Export{Value: r.Value, Known: r.Known, Secret: r.Secret}
		return nil
	default:
		o := pulumi.ToOutput(in)
		r, err := internals.UnsafeAwaitOutput(context.Background(), o)
		if err != nil {
			return fmt.Errorf("export %s: %w", path, err)
		}
		out[path] = Export{Value: r.Value, Known: r.Known, Secret: r.Secret}
		return nil
	}
}

func (r *Result) index() {
	r.byURN = make(map[string]*Resource, len(r.Resources))
	for _, res := range r.Resources {
		r.byURN[res.URN] = res
	}
}

// ByURN returns the resource with that URN, or nil.
func (r *Result) ByURN(urn string) *Resource { return r.byURN[urn] }

// OfType returns the resources of a type token ("kubernetes:apps/v1:StatefulSet"), by URN.
func (r *Result) OfType(typ string) []*Resource {
	var out []*Resource
	for _, res := range r.Resources {
		if res.Type == typ {
			out = append(out, res)
		}
	}
	return out
}

// Find returns the resource of a type with a logical name, or nil.
func (r *Result) Find(typ, name string) *Resource {
	for _, res := range r.Resources {
		if res.Type == typ && res.Name == name {
			return res
		}
	}
	return nil
}

// Kubernetes returns every Kubernetes object (not providers, not components).
func (r *Result) Kubernetes() []*Resource {
	var out []*Resource
	for _, res := range r.Resources {
		if res.IsKubernetes() {
			out = append(out, res)
		}
	}
	return out
}

// Children returns the resources whose parent is urn.
func (r *Result) Children(urn string) []*Resource {
	var out []*Resource
	for _, res := range r.Resources {
		if res.Parent == urn {
			out = append(out, res)
		}
	}
	return out
}

// Descendants returns every resource below urn in the parent tree.
func (r *Result) Descendants(urn string) []*Resource {
	var out []*Resource
	for _, c := range r.Children(urn) {
		out = append(out, c)
		out = append(out, r.Descendants(c.URN)...)
	}
	return out
}

// ParentChain returns the URNs of res's ancestors, nearest first, ending at the stack.
func (r *Result) ParentChain(res *Resource) []string {
	var chain []string
	for p := res.Parent; p != ""; {
		chain = append(chain, p)
		parent := r.byURN[p]
		if parent == nil {
			break
		}
		p = parent.Parent
	}
	return chain
}

// DependsOn returns the transitive closure of what res waits for before the engine
// creates it: its own dependencies, theirs, and (because a child cannot register
// before its parent) its ancestors' dependencies too. URNs are sorted.
func (r *Result) DependsOn(res *Resource) []string {
	seen := map[string]bool{}
	var visit func(*Resource)
	visit = func(x *Resource) {
		edges := append([]string(nil), x.Dependencies...)
		edges = append(edges, r.ParentChain(x)...)
		for _, d := range edges {
			if seen[d] {
				continue
			}
			seen[d] = true
			if dep := r.byURN[d]; dep != nil {
				visit(dep)
			}
		}
	}
	visit(res)
	out := make([]string, 0, len(seen))
	for urn := range seen {
		if r.byURN[urn] != nil && r.byURN[urn].Custom {
			out = append(out, urn)
		}
	}
	sort.Strings(out)
	return out
}

// WaitsFor reports whether a transitively waits for b.
func (r *Result) WaitsFor(a, b *Resource) bool {
	for _, urn := range r.DependsOn(a) {
		if urn == b.URN {
			return true
		}
	}
	return false
}

// Export returns a flattened export ("greptimedb.main.mysql") and whether it exists.
func (r *Result) Export(path string) (Export, bool) {
	e, ok := r.Exports[path]
	return e, ok
}

// ExportPaths lists the flattened export paths under a prefix, sorted.
func (r *Result) ExportPaths(prefix string) []string {
	var out []string
	for k := range r.Exports {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
