package stacks

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/kube"
)

// MaxClusterNameLength keeps every derived object name within Kubernetes' limits.
const MaxClusterNameLength = kube.MaxClusterNameLength

// validate checks a decoded spec and adds every problem it finds. The rules of
// each cluster live with the component's spec (its Validate method); what is
// checked here is the stack's own: the target, and names unique in the stack.
func validate(spec *Spec, ps *problems) {
	validateTarget(spec.Target, ps)
	ps.addAll(spec.Monitoring.Validate(field.NewPath(KeyMonitoring)))
	ps.addAll(spec.Scheduling.Validate(field.NewPath(KeyScheduling)))
	ps.addAll(spec.Registry().Validate())
	if len(spec.GreptimeDB) == 0 && len(spec.QuasarDB) == 0 {
		ps.add(KeyGreptimeDB, nil, "the stack deploys nothing: add a GreptimeDB or QuasarDB cluster, "+
			"e.g. `pulumi config set --path 'greptimedb[0].name' metrics`")
	}
	names := map[string]string{}
	checkName := func(key *field.Path, name string) {
		errs := kube.ValidateClusterName(name, key.Child("name"))
		ps.addAll(errs)
		if len(errs) > 0 {
			return
		}
		if other, dup := names[name]; dup {
			ps.add(key.Child("name").String(), name, "already used by %s; cluster names must be unique in a stack", other)
		}
		names[name] = key.String()
	}
	for i, c := range spec.GreptimeDB {
		key := field.NewPath(KeyGreptimeDB).Index(i)
		checkName(key, c.Name)
		ps.addAll(c.ClusterSpec.Validate(key))
		ps.addAll(c.ClusterSpec.ValidateIn(spec.NetworkPolicy, key))
	}
	for i, c := range spec.QuasarDB {
		key := field.NewPath(KeyQuasarDB).Index(i)
		checkName(key, c.Name)
		ps.addAll(c.ClusterSpec.Validate(key))
	}
}

func validateTarget(t Target, ps *problems) {
	if errs := validation.IsDNS1123Label(t.Namespace); len(errs) > 0 {
		ps.add(KeyNamespace, t.Namespace, "not a valid namespace name: %s", strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(t.ClusterDomain); len(errs) > 0 {
		ps.add(KeyClusterDomain, t.ClusterDomain, "not a valid DNS domain: %s", strings.Join(errs, "; "))
	}
	if t.RenderDir == "" && t.KubeContext == "" && t.Kubeconfig == "" {
		ps.add(KeyKubeContext, nil, "required: name the target explicitly, so a stack never deploys to whatever "+
			"context is current; set kubeContext (or kubeconfig), or renderDir to write manifests instead")
	}
	if t.RenderDir != "" && (t.KubeContext != "" || t.Kubeconfig != "") {
		ps.add(KeyRenderDir, t.RenderDir, "render mode writes manifests instead of deploying; "+
			"it cannot be combined with kubeContext or kubeconfig (unset those, or unset renderDir)")
	}
}
