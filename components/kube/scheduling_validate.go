package kube

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The checks below are the API server's own rules for these fields
// (k8s.io/kubernetes v1.34 pkg/apis/core/validation: validateTolerations,
// ValidateNodeSelector, validateAffinity, validateTopologySpreadConstraints,
// and the priority class name), kept to what is cheap, so that a stack is
// refused at `pulumi preview` instead of half-way through `pulumi up`.

// Values the API server allows.
var (
	tolerationOperators   = []string{"Equal", "Exists"}
	taintEffects          = []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}
	nodeSelectorOperators = []string{"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"}
	labelOperators        = []string{"In", "NotIn", "Exists", "DoesNotExist"}
	unsatisfiableActions  = []string{"DoNotSchedule", "ScheduleAnyway"}
	inclusionPolicies     = []string{"Honor", "Ignore"}
)

// Validate reports every problem of the scheduling, each at its key under p.
func (s Scheduling) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range s.Tolerations {
		errs = append(errs, t.validate(p.Child("tolerations").Index(i))...)
	}
	errs = append(errs, validateLabelMap(s.NodeSelector, p.Child("nodeSelector"))...)
	if s.Affinity != nil {
		errs = append(errs, s.Affinity.validate(p.Child("affinity"))...)
	}
	errs = append(errs, validateSpread(s.TopologySpreadConstraints, p.Child("topologySpreadConstraints"))...)
	if s.PriorityClassName != nil && *s.PriorityClassName != "" {
		if msgs := validation.IsDNS1123Subdomain(*s.PriorityClassName); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("priorityClassName"), *s.PriorityClassName,
				"not a PriorityClass name ("+strings.Join(msgs, "; ")+"); name an existing PriorityClass, e.g. tsdb-high, or set \"\" for none"))
		}
	}
	return errs
}

func oneOf(allowed []string) string { return strings.Join(allowed, ", ") }

func (t Toleration) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.Key != "" {
		errs = append(errs, qualifiedName(t.Key, p.Child("key"), "a taint key")...)
	}
	switch t.Operator {
	case "", "Equal":
		if t.Key == "" {
			errs = append(errs, field.Invalid(p.Child("operator"), t.Operator,
				"an empty key tolerates every taint only with operator Exists; set operator: Exists, or give a key"))
		}
		if msgs := validation.IsValidLabelValue(t.Value); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("value"), t.Value, "not a taint value: "+strings.Join(msgs, "; ")))
		}
	case "Exists":
		if t.Value != "" {
			errs = append(errs, field.Invalid(p.Child("value"), t.Value,
				"must be empty with operator Exists (it matches any value); remove the value, or set operator: Equal"))
		}
	default:
		errs = append(errs, field.Invalid(p.Child("operator"), t.Operator, "allowed: "+oneOf(tolerationOperators)+" (empty means Equal)"))
	}
	if t.Effect != "" && !slices.Contains(taintEffects, t.Effect) {
		errs = append(errs, field.Invalid(p.Child("effect"), t.Effect, "allowed: "+oneOf(taintEffects)+" (empty matches every effect)"))
	}
	if t.TolerationSeconds != nil && t.Effect != "NoExecute" {
		errs = append(errs, field.Invalid(p.Child("tolerationSeconds"), *t.TolerationSeconds,
			"applies only to effect NoExecute; set effect: NoExecute, or remove tolerationSeconds"))
	}
	return errs
}

// qualifiedName checks a label or taint key (what is, e.g. "a node label key").
func qualifiedName(key string, p *field.Path, what string) field.ErrorList {
	if msgs := validation.IsQualifiedName(key); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, key, fmt.Sprintf("not %s (%s); want e.g. node-role.example.com/tsdb", what, strings.Join(msgs, "; ")))}
	}
	return nil
}

// validateLabelMap checks labels to match: qualified keys and label values.
func validateLabelMap(labels map[string]string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		errs = append(errs, qualifiedName(k, p, "a label key")...)
		if msgs := validation.IsValidLabelValue(labels[k]); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Key(k), labels[k], "not a label value: "+strings.Join(msgs, "; ")))
		}
	}
	return errs
}

func (a Affinity) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if n := a.NodeAffinity; n != nil {
		np := p.Child("nodeAffinity")
		if n.Required != nil {
			rp := np.Child("requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
			if len(n.Required.NodeSelectorTerms) == 0 {
				errs = append(errs, field.Invalid(rp, nil, "required: at least one term (terms are ORed), each with matchExpressions or matchFields"))
			}
			for i, t := range n.Required.NodeSelectorTerms {
				errs = append(errs, t.validate(rp.Index(i))...)
			}
		}
		pp := np.Child("preferredDuringSchedulingIgnoredDuringExecution")
		for i, t := range n.Preferred {
			errs = append(errs, validateWeight(t.Weight, pp.Index(i).Child("weight"))...)
			errs = append(errs, t.Preference.validate(pp.Index(i).Child("preference"))...)
		}
	}
	errs = append(errs, a.PodAffinity.validate(p.Child("podAffinity"))...)
	return append(errs, a.PodAntiAffinity.validate(p.Child("podAntiAffinity"))...)
}

func validateWeight(w int, p *field.Path) field.ErrorList {
	if w < 1 || w > 100 {
		return field.ErrorList{field.Invalid(p, w, "must be between 1 and 100")}
	}
	return nil
}

func (t NodeSelectorTerm) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		errs = append(errs, field.Invalid(p, nil, "an empty term matches no node; give matchExpressions or matchFields"))
	}
	for i, r := range t.MatchExpressions {
		rp := p.Child("matchExpressions").Index(i)
		errs = append(errs, qualifiedName(r.Key, rp.Child("key"), "a node label key")...)
		errs = append(errs, validateRequirement(r.Operator, r.Values, nodeSelectorOperators, rp)...)
	}
	for i, r := range t.MatchFields {
		rp := p.Child("matchFields").Index(i)
		if r.Key != "metadata.name" {
			errs = append(errs, field.Invalid(rp.Child("key"), r.Key, "the only node field to match is metadata.name"))
		}
		if r.Operator != "In" && r.Operator != "NotIn" || len(r.Values) != 1 {
			errs = append(errs, field.Invalid(rp.Child("operator"), r.Operator, "a node field is matched with In or NotIn and exactly one value"))
		}
	}
	return errs
}

// validateRequirement checks an operator (one of allowed) and its values.
func validateRequirement(op string, values []string, allowed []string, p *field.Path) field.ErrorList {
	switch op {
	case "In", "NotIn":
		if len(values) == 0 {
			return field.ErrorList{field.Invalid(p.Child("values"), values, "required with "+op+": at least one value")}
		}
	case "Exists", "DoesNotExist":
		if len(values) > 0 {
			return field.ErrorList{field.Invalid(p.Child("values"), values, "must be empty with "+op+"; remove the values")}
		}
	case "Gt", "Lt":
		if !slices.Contains(allowed, op) {
			break
		}
		if len(values) != 1 {
			return field.ErrorList{field.Invalid(p.Child("values"), values, "needs exactly one value with "+op+", a whole number")}
		}
		if _, err := strconv.ParseInt(values[0], 10, 64); err != nil {
			return field.ErrorList{field.Invalid(p.Child("values").Index(0), values[0], "must be a whole number with "+op)}
		}
		return nil
	}
	if !slices.Contains(allowed, op) {
		return field.ErrorList{field.Invalid(p.Child("operator"), op, "allowed: "+oneOf(allowed))}
	}
	return nil
}

func (a *PodAffinity) validate(p *field.Path) field.ErrorList {
	if a == nil {
		return nil
	}
	var errs field.ErrorList
	rp := p.Child("requiredDuringSchedulingIgnoredDuringExecution")
	for i, t := range a.Required {
		errs = append(errs, t.validate(rp.Index(i))...)
	}
	pp := p.Child("preferredDuringSchedulingIgnoredDuringExecution")
	for i, t := range a.Preferred {
		errs = append(errs, validateWeight(t.Weight, pp.Index(i).Child("weight"))...)
		errs = append(errs, t.PodAffinityTerm.validate(pp.Index(i).Child("podAffinityTerm"))...)
	}
	return errs
}

func (t PodAffinityTerm) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.TopologyKey == "" {
		errs = append(errs, field.Invalid(p.Child("topologyKey"), nil, "required: the node label that defines a domain, e.g. "+HostnameTopologyKey))
	} else {
		errs = append(errs, qualifiedName(t.TopologyKey, p.Child("topologyKey"), "a node label key")...)
	}
	for i, ns := range t.Namespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("namespaces").Index(i), ns, "not a namespace name: "+strings.Join(msgs, "; ")))
		}
	}
	return append(errs, t.LabelSelector.validate(p.Child("labelSelector"))...)
}

func (l *LabelSelector) validate(p *field.Path) field.ErrorList {
	if l == nil {
		return nil
	}
	errs := validateLabelMap(l.MatchLabels, p.Child("matchLabels"))
	for i, r := range l.MatchExpressions {
		rp := p.Child("matchExpressions").Index(i)
		errs = append(errs, qualifiedName(r.Key, rp.Child("key"), "a label key")...)
		errs = append(errs, validateRequirement(r.Operator, r.Values, labelOperators, rp)...)
	}
	return errs
}

func validateSpread(cs []TopologySpreadConstraint, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[[2]string]int{}
	for i, c := range cs {
		cp := p.Index(i)
		if c.MaxSkew < 1 {
			errs = append(errs, field.Invalid(cp.Child("maxSkew"), c.MaxSkew, "must be at least 1 (the largest allowed difference in pod count between two domains)"))
		}
		if c.TopologyKey == "" {
			errs = append(errs, field.Invalid(cp.Child("topologyKey"), nil, "required: the node label that defines a domain, e.g. topology.kubernetes.io/zone"))
		} else {
			errs = append(errs, qualifiedName(c.TopologyKey, cp.Child("topologyKey"), "a node label key")...)
		}
		if !slices.Contains(unsatisfiableActions, c.WhenUnsatisfiable) {
			errs = append(errs, field.Invalid(cp.Child("whenUnsatisfiable"), c.WhenUnsatisfiable, "allowed: "+oneOf(unsatisfiableActions)))
		}
		if c.MinDomains != nil {
			if *c.MinDomains < 1 {
				errs = append(errs, field.Invalid(cp.Child("minDomains"), *c.MinDomains, "must be at least 1, or unset"))
			} else if c.WhenUnsatisfiable != "DoNotSchedule" {
				errs = append(errs, field.Invalid(cp.Child("minDomains"), *c.MinDomains,
					"applies only with whenUnsatisfiable: DoNotSchedule; set that, or remove minDomains"))
			}
		}
		for _, policy := range []struct{ key, value string }{{"nodeAffinityPolicy", c.NodeAffinityPolicy}, {"nodeTaintsPolicy", c.NodeTaintsPolicy}} {
			if policy.value != "" && !slices.Contains(inclusionPolicies, policy.value) {
				errs = append(errs, field.Invalid(cp.Child(policy.key), policy.value, "allowed: "+oneOf(inclusionPolicies)+" (empty for the default)"))
			}
		}
		errs = append(errs, c.LabelSelector.validate(cp.Child("labelSelector"))...)
		pair := [2]string{c.TopologyKey, c.WhenUnsatisfiable}
		if j, dup := seen[pair]; dup {
			errs = append(errs, field.Invalid(cp, fmt.Sprintf("%s/%s", c.TopologyKey, c.WhenUnsatisfiable), fmt.Sprintf(
				"repeats %s's topologyKey and whenUnsatisfiable, which the API server refuses; merge the two", p.Index(j))))
		}
		seen[pair] = i
	}
	return errs
}
