package kube

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Registry is where every pod pulls its images from: a private registry or a
// mirror, and the Secrets that log in to it.
type Registry struct {
	// Prefix, when set, replaces the registry of every image: the image's path
	// (Docker Hub's official images under library/) and tag follow it, so
	// busybox:1.37.0 becomes <prefix>/library/busybox:1.37.0 and
	// quay.io/coreos/etcd:v3.5.21 becomes <prefix>/coreos/etcd:v3.5.21.
	Prefix string
	// PullSecrets name the kubernetes.io/dockerconfigjson Secrets every pod
	// pulls with.
	PullSecrets []string
}

// dockerHub is the registry of an image reference that names none.
const dockerHub = "docker.io"

// Image is ref as pulled through the registry: ref itself without a prefix.
func (r Registry) Image(ref string) string {
	if r.Prefix == "" {
		return ref
	}
	return r.Prefix + "/" + imagePath(ref)
}

// imagePath is ref without its registry, as Docker resolves a reference
// (github.com/distribution/reference, splitDockerDomain): the first path
// component is a registry when it has a dot or a port, or is localhost; a
// Docker Hub image of one component is under library/.
func imagePath(ref string) string {
	domain, path := dockerHub, ref
	if i := strings.IndexByte(ref, '/'); i >= 0 {
		first := ref[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" {
			domain, path = first, ref[i+1:]
		}
	}
	if (domain == dockerHub || domain == "index.docker.io") && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	return path
}

// setPullSecrets sets the pod spec's imagePullSecrets, when there are any.
func (r Registry) setPullSecrets(spec *corev1.PodSpecArgs) {
	if len(r.PullSecrets) == 0 {
		return
	}
	refs := make(corev1.LocalObjectReferenceArray, len(r.PullSecrets))
	for i, name := range r.PullSecrets {
		refs[i] = corev1.LocalObjectReferenceArgs{Name: pulumi.String(name)}
	}
	spec.ImagePullSecrets = refs
}

// registryPathComponent is one component of a repository path (the
// distribution reference grammar's path-component).
var registryPathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// ValidateImageRegistry checks a registry prefix: host[:port][/path], with no
// scheme, no trailing slash, no tag or digest.
func ValidateImageRegistry(prefix string, p *field.Path) field.ErrorList {
	if prefix == "" {
		return nil
	}
	invalid := func(detail string) field.ErrorList {
		return field.ErrorList{field.Invalid(p, prefix, detail)}
	}
	const want = "want host[:port][/path], e.g. registry.example.com/mirror"
	if i := strings.Index(prefix, "://"); i >= 0 {
		return invalid(fmt.Sprintf("a registry prefix has no scheme; %s: set it to %s", want, strings.TrimRight(prefix[i+3:], "/")))
	}
	if strings.HasSuffix(prefix, "/") {
		return invalid(fmt.Sprintf("a registry prefix has no trailing slash; set it to %s", strings.TrimRight(prefix, "/")))
	}
	host, path, _ := strings.Cut(prefix, "/")
	name, port, hasPort := strings.Cut(host, ":")
	if !ValidHost(name) {
		return invalid(fmt.Sprintf("%q is not a registry host (a DNS name or an IP address); %s", name, want))
	}
	if hasPort {
		if n, err := strconv.Atoi(port); err != nil || strconv.Itoa(n) != port || n < 1 || n > 65535 {
			return invalid(fmt.Sprintf("port %q is not a number from 1 to 65535; %s", port, want))
		}
	}
	if path == "" {
		return nil
	}
	for _, c := range strings.Split(path, "/") {
		if !registryPathComponent.MatchString(c) {
			return invalid(fmt.Sprintf("path component %q is not lowercase letters and digits separated by '.', '_' or '-' "+
				"(no tag or digest: the images' own follow the prefix); %s", c, want))
		}
	}
	return nil
}

// ValidatePullSecrets checks the names of image pull Secrets.
func ValidatePullSecrets(names []string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, name := range names {
		if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Index(i), name, "not a Secret name ("+strings.Join(msgs, "; ")+
				"); name a kubernetes.io/dockerconfigjson Secret in the stack's namespace, e.g. registry-credentials"))
			continue
		}
		if seen[name] {
			errs = append(errs, field.Invalid(p.Index(i), name, "listed twice; remove the repeat"))
		}
		seen[name] = true
	}
	return errs
}

// Validate checks the prefix (at imageRegistry) and the pull Secrets (at imagePullSecrets).
func (r Registry) Validate() field.ErrorList {
	errs := ValidateImageRegistry(r.Prefix, field.NewPath("imageRegistry"))
	return append(errs, ValidatePullSecrets(r.PullSecrets, field.NewPath("imagePullSecrets"))...)
}
