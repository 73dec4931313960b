// Package mockrun runs the tsdb-platform program in-process under Pulumi's mocks and
// records everything it registers: each resource's type, logical name, inputs (with
// their secretness), parent, dependencies and options. Tests use it to assert the
// graph, the manifests and the errors a user would see, without a Pulumi CLI.
package mockrun

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Resource is one registered resource as the engine would have received it.
type Resource struct {
	URN  string
	Type string
	Name string
	// Custom is false for component resources.
	Custom bool
	// Inputs are the inputs as sent, secrets still marked.
	Inputs resource.PropertyMap
	// State is what the mock returned (inputs plus auto-names and computed values).
	State resource.PropertyMap
	// Parent is the parent's URN ("" only for the stack itself).
	Parent string
	// Dependencies are the URNs this resource waits for (DependsOn and input references).
	Dependencies []string
	// PropertyDependencies are the URNs each input property depends on.
	PropertyDependencies map[string][]string
	// Provider is the provider reference ("<urn>::<id>"), empty for the default provider.
	Provider         string
	Protect          bool
	RetainOnDelete   bool
	IgnoreChanges    []string
	ReplaceOnChanges []string
	// DeleteBeforeReplace is the resource option's value.
	DeleteBeforeReplace bool
}

// IsKubernetes reports whether the resource is a Kubernetes object (not a provider).
func (r *Resource) IsKubernetes() bool {
	return r.Custom && strings.HasPrefix(r.Type, "kubernetes:") && !strings.HasPrefix(r.Type, "pulumi:providers:")
}

// Kind is the Kubernetes kind of a Kubernetes resource ("StatefulSet"), or "".
func (r *Resource) Kind() string {
	if !r.IsKubernetes() {
		return ""
	}
	return r.Type[strings.LastIndex(r.Type, ":")+1:]
}

// Recorder is a pulumi.MockResourceMonitor that records every registration.
// It is safe for concurrent use, as the SDK registers resources from goroutines.
type Recorder struct {
	// Project and Stack must be those given to pulumi.WithMocks.
	Project, Stack string
	// PreviousOutputs are the stack's outputs from its last deployment, as a stack
	// reference to the stack itself reads them; nil for a first deployment.
	PreviousOutputs map[string]any
	// DryRun makes the recorder behave as a preview: computed values
	// (generated passwords, server-side defaults) are left unknown.
	DryRun bool

	mu        sync.Mutex
	resources []*Resource
}

var _ pulumi.MockResourceMonitor = (*Recorder)(nil)

// Call answers provider functions (invokes); the program calls none.
func (r *Recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("unexpected invoke %q: the program calls no provider functions", args.Token)
}

// NewResource records the registration and returns the resource's state: its inputs,
// plus what the real provider would compute (Kubernetes auto-names, random results).
func (r *Recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	rpc := args.RegisterRPC
	res := &Resource{
		Type:   args.TypeToken,
		Name:   args.Name,
		Custom: args.Custom,
		Inputs: args.Inputs.Copy(),
	}
	if rpc != nil {
		res.Parent = rpc.GetParent()
		res.Dependencies = append([]string(nil), rpc.GetDependencies()...)
		res.Provider = rpc.GetProvider()
		res.Protect = rpc.GetProtect()
		res.RetainOnDelete = rpc.GetRetainOnDelete()
		res.IgnoreChanges = append([]string(nil), rpc.GetIgnoreChanges()...)
		res.ReplaceOnChanges = append([]string(nil), rpc.GetReplaceOnChanges()...)
		res.DeleteBeforeReplace = rpc.GetDeleteBeforeReplace()
		res.PropertyDependencies = map[string][]string{}
		for k, v := range rpc.GetPropertyDependencies() {
			res.PropertyDependencies[k] = append([]string(nil), v.GetUrns()...)
		}
	}
	res.URN = r.urnOf(res.Parent, args.TypeToken, args.Name)
	state := args.Inputs.Copy()
	r.complete(res, state)
	res.State = state
	if res.IsKubernetes() && !r.DryRun {
		// The API server gives every object a uid; only the returned outputs carry
		// it, so recorded manifests stay as the program wrote them.
		state = withUID(res, state)
	}
	if r.DryRun {
		// In a preview the engine leaves unknown outputs out (the SDK then reports
		// them unknown); a secret wrapping an unknown cannot even be marshalled.
		state = withoutUnknowns(state)
	}

	r.mu.Lock()
	r.resources = append(r.resources, res)
	r.mu.Unlock()
	return args.Name + "-id", state, nil
}

// complete fills in the outputs the real providers compute.
func (r *Recorder) complete(res *Resource, state resource.PropertyMap) {
	switch {
	case res.Type == "pulumi:pulumi:StackReference":
		// The program reads its own previous outputs through a stack reference.
		state["outputs"] = resource.NewProperty(resource.NewPropertyMapFromMap(r.PreviousOutputs))
		state["secretOutputNames"] = resource.NewProperty([]resource.PropertyValue{})
	case res.IsKubernetes():
		autoName(res, state)
	case res.Type == "random:index/randomPassword:RandomPassword":
		// Known even in preview, as a preview of an existing stack shows it: the SDK's
		// mock monitor cannot carry a secret whose value is unknown into the Secret
		// that holds it (the real engine can).
		length := 32
		if l, ok := state["length"]; ok && l.IsNumber() {
			length = int(l.NumberValue())
		}
		pw := TestSecret(res.Name, length)
		state["result"] = resource.MakeSecret(resource.NewProperty(pw))
		state["bcryptHash"] = resource.MakeSecret(resource.NewProperty("$2a$10$" + pw))
	}
}

// autoName sets metadata.name the way the Kubernetes provider does for objects that
// have none: the logical name plus a suffix. The suffix here is derived from the URN,
// so that recorded manifests are the same on every run.
func autoName(res *Resource, state resource.PropertyMap) {
	md, ok := state["metadata"]
	if !ok || !md.IsObject() {
		md = resource.NewProperty(resource.PropertyMap{})
	}
	obj := md.ObjectValue().Copy()
	if n, ok := obj["name"]; ok && (n.IsString() && n.StringValue() != "" || n.IsComputed() || n.IsOutput()) {
		return
	}
	sum := sha256.Sum256([]byte(res.URN))
	obj["name"] = resource.NewProperty(res.Name + "-" + hex.EncodeToString(sum[:])[:8])
	state["metadata"] = resource.NewProperty(obj)
}

// withUID is state with a metadata.uid derived from the URN, as the API server
// would assign one on create.
func withUID(res *Resource, state resource.PropertyMap) resource.PropertyMap {
	out := state.Copy()
	md, ok := out["metadata"]
	if !ok || !md.IsObject() {
		return out
	}
	obj := md.ObjectValue().Copy()
	sum := sha256.Sum256([]byte("uid:" + res.URN))
	obj["uid"] = resource.NewProperty(UIDPrefix + hex.EncodeToString(sum[:])[:16])
	out["metadata"] = resource.NewProperty(obj)
	return out
}

// UIDPrefix starts every uid the harness gives an object.
const UIDPrefix = "test-uid-"

// TestSecret is the deterministic value the harness uses for a generated or
// configured secret: recognisable in any output, and of the asked length.
func TestSecret(seed string, length int) string {
	sum := sha256.Sum256([]byte(seed))
	s := "TESTSECRET-" + hex.EncodeToString(sum[:])
	for len(s) < length {
		s += s
	}
	if length > 0 {
		s = s[:length]
	}
	return s
}

// urnOf builds the URN exactly as the SDK's mock monitor does, so that the
// dependency URNs it reports match the recorded resources.
func (r *Recorder) urnOf(parent, typ, name string) string {
	parentType := tokens.Type("")
	if p := resource.URN(parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(r.Stack), tokens.PackageName(r.Project), parentType, tokens.Type(typ), name))
}

// Resources returns the recorded resources in registration order.
func (r *Recorder) Resources() []*Resource {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]*Resource(nil), r.resources...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].URN < out[j].URN })
	return out
}

// withoutUnknowns drops every unknown value (and secret of one) from a state map.
func withoutUnknowns(pm resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for k, v := range pm {
		if kept, ok := knownPart(v); ok {
			out[k] = kept
		}
	}
	return out
}

func knownPart(v resource.PropertyValue) (resource.PropertyValue, bool) {
	switch {
	case v.IsComputed():
		return v, false
	case v.IsOutput():
		o := v.OutputValue()
		if !o.Known {
			return v, false
		}
		inner, ok := knownPart(o.Element)
		if !ok {
			return v, false
		}
		if o.Secret {
			return resource.MakeSecret(inner), true
		}
		return inner, true
	case v.IsSecret():
		inner, ok := knownPart(v.SecretValue().Element)
		if !ok {
			return v, false
		}
		return resource.MakeSecret(inner), true
	case v.IsObject():
		return resource.NewProperty(withoutUnknowns(v.ObjectValue())), true
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]resource.PropertyValue, 0, len(arr))
		for _, e := range arr {
			if kept, ok := knownPart(e); ok {
				out = append(out, kept)
			}
		}
		return resource.NewProperty(out), true
	}
	return v, true
}
