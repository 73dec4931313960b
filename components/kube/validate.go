package kube

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validation shared by every component's spec. Each check reports problems as
// field errors at the path it is given, which is the config key as
// `pulumi config set --path` spells it ("greptimedb[0].etcd.replicas"), so the
// stack loader and a component's constructor report the same problem the same way.
//
// Conventions: field.Required means a value the operator must set (often a
// secret, set with `pulumi config set --secret --path`); field.Invalid carries
// the offending value (never a secret's) and a Detail that says what is allowed.

// MaxClusterNameLength keeps every derived object name ("<name>-datanode-0", the
// StatefulSet's controller-revision-hash label) within Kubernetes' 63-character limits.
const MaxClusterNameLength = 30

// MaxReplicas bounds every component's replica count.
const MaxReplicas = 100

// ValidateClusterName checks a database cluster's name: the prefix of every
// object it owns.
func ValidateClusterName(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Invalid(p, nil, fmt.Sprintf(
			"required: every cluster needs a name (a DNS-1123 label, at most %d characters)", MaxClusterNameLength))}
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return field.ErrorList{field.Invalid(p, name, "not a valid name: "+strings.Join(errs, "; "))}
	}
	if len(name) > MaxClusterNameLength {
		return field.ErrorList{field.Invalid(p, name, fmt.Sprintf(
			"too long (%d characters); at most %d, so derived object names fit Kubernetes' limits", len(name), MaxClusterNameLength))}
	}
	return nil
}

// ValidateReplicas checks a component's replica count.
func ValidateReplicas(n int, p *field.Path) field.ErrorList {
	if n < 1 || n > MaxReplicas {
		return field.ErrorList{field.Invalid(p, n, fmt.Sprintf("must be between 1 and %d", MaxReplicas))}
	}
	return nil
}

// Size is a workload's replica count and each replica's CPU and memory.
type Size struct {
	Replicas  int       `json:"replicas"`
	Resources Resources `json:"resources"`
}

// Validate checks the replica count and the resources.
func (s Size) Validate(p *field.Path) field.ErrorList {
	errs := ValidateReplicas(s.Replicas, p.Child("replicas"))
	return append(errs, s.Resources.Validate(p.Child("resources"))...)
}

// ValidateImage requires a pinned image reference: a tag other than "latest", or a digest.
func ValidateImage(image string, p *field.Path) field.ErrorList {
	invalid := func(value any, detail string) field.ErrorList {
		return field.ErrorList{field.Invalid(p, value, detail)}
	}
	if image == "" {
		return invalid(nil, "required: an image reference with a pinned tag, e.g. repo/name:v1.2.3")
	}
	if strings.ContainsAny(image, " \t\n") {
		return invalid(image, "not an image reference (contains spaces)")
	}
	if strings.Contains(image, "@sha256:") {
		return nil
	}
	name := image[strings.LastIndex(image, "/")+1:]
	i := strings.LastIndex(name, ":")
	if i < 0 || i == len(name)-1 {
		return invalid(image, fmt.Sprintf("pin a tag or digest (e.g. %s:<version>); an untagged image means latest and changes under you", image))
	}
	if name[i+1:] == "latest" {
		return invalid(image, "pin a version tag or digest instead of latest")
	}
	return nil
}

// Validate checks the requests and limits: each a positive quantity, each limit
// at least its request.
func (r Resources) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	req := [2]*resource.Quantity{
		quantity(string(r.Requests.CPU), p.Child("requests", "cpu"), &errs),
		quantity(string(r.Requests.Memory), p.Child("requests", "memory"), &errs),
	}
	lim := [2]*resource.Quantity{
		quantity(string(r.Limits.CPU), p.Child("limits", "cpu"), &errs),
		quantity(string(r.Limits.Memory), p.Child("limits", "memory"), &errs),
	}
	for i, name := range []string{"cpu", "memory"} {
		if req[i] != nil && lim[i] != nil && lim[i].Cmp(*req[i]) < 0 {
			errs = append(errs, field.Invalid(p.Child("limits", name), lim[i].String(),
				fmt.Sprintf("is below the request (%s); a limit must be at least the request", req[i].String())))
		}
	}
	return errs
}

// quantity parses an optional positive quantity; nil means unset or invalid.
func quantity(v string, p *field.Path, errs *field.ErrorList) *resource.Quantity {
	if v == "" {
		return nil
	}
	q, err := resource.ParseQuantity(v)
	if err != nil {
		*errs = append(*errs, field.Invalid(p, v, "not a Kubernetes quantity; want e.g. 500m, 2, 512Mi, 4Gi"))
		return nil
	}
	if q.Sign() <= 0 {
		*errs = append(*errs, field.Invalid(p, v, "must be greater than zero"))
		return nil
	}
	return &q
}

// Validate checks the claim's size (required) and storage class name.
func (s Storage) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Size == "" {
		errs = append(errs, field.Invalid(p.Child("size"), nil, "required: a volume size such as 10Gi"))
	} else {
		quantity(s.Size, p.Child("size"), &errs)
	}
	if s.StorageClass != "" {
		if msgs := validation.IsDNS1123Subdomain(s.StorageClass); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("storageClass"), s.StorageClass,
				"not a valid storage class name: "+strings.Join(msgs, "; ")))
		}
	}
	return errs
}

// Validate checks the anti-affinity mode.
func (m AntiAffinityMode) Validate(p *field.Path) field.ErrorList {
	switch m {
	case AntiAffinityNone, AntiAffinityPreferred, AntiAffinityRequired:
		return nil
	}
	return field.ErrorList{field.Invalid(p, string(m), fmt.Sprintf("allowed: %s, %s, %s",
		AntiAffinityNone, AntiAffinityPreferred, AntiAffinityRequired))}
}

// ValidateHostPort checks a "host:port" endpoint; example shows what is wanted.
func ValidateHostPort(v, example string, p *field.Path) field.ErrorList {
	if _, err := HostPort(v); err != nil {
		return field.ErrorList{field.Invalid(p, v, fmt.Sprintf(
			"not host:port (a DNS name or an IP address, then a port from 1 to 65535); want e.g. %s", example))}
	}
	return nil
}

// HostPort returns the port of a "host:port" endpoint. The host must be a DNS
// name (RFC 1123 subdomain) or an IP address, and the port a number: nothing
// else, so an endpoint is always safe to use as data.
func HostPort(v string) (int, error) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return 0, err
	}
	if !ValidHost(host) {
		return 0, fmt.Errorf("%q: host %q is neither a DNS name nor an IP address", v, host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || strconv.Itoa(n) != port || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q: port %q is not a number from 1 to 65535", v, port)
	}
	return n, nil
}

// ValidHost reports whether host is a DNS name (RFC 1123 subdomain) or an IP address.
func ValidHost(host string) bool {
	if net.ParseIP(host) != nil {
		return true
	}
	return host != "" && len(validation.IsDNS1123Subdomain(strings.ToLower(host))) == 0
}

// Validate checks the client namespaces and CIDR blocks.
func (c ClientAccess) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ns := range c.ClientNamespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("clientNamespaces").Index(i), ns,
				"not a valid namespace name: "+strings.Join(msgs, "; ")))
		}
	}
	for i, cidr := range c.ClientCIDRs {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			errs = append(errs, field.Invalid(p.Child("clientCidrs").Index(i), cidr, "not a CIDR block; want e.g. 10.0.0.0/8"))
		}
	}
	return errs
}

// Validate checks what a component needs from its environment.
func (e Env) Validate() field.ErrorList {
	var errs field.ErrorList
	if e.Namespace == nil {
		errs = append(errs, field.Required(field.NewPath("namespace"), "the namespace the component deploys into"))
	}
	if e.ClusterDomain == "" {
		errs = append(errs, field.Required(field.NewPath("clusterDomain"), "the cluster's DNS domain, e.g. cluster.local"))
	}
	errs = append(errs, e.Scheduling.Validate(field.NewPath("scheduling"))...)
	return append(errs, e.Registry.Validate()...)
}
