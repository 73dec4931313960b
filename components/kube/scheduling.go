package kube

import (
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Scheduling is where a component's pods may run: the pod spec's scheduling
// fields, with the names and shapes of k8s.io/api core/v1. One type serves the
// stack-wide default (the top-level `scheduling` key) and each component's
// override (`<component>.scheduling`).
//
// A key a component leaves unset inherits the stack's value; a key it sets
// replaces the stack's value as a whole (tolerations: [] clears them, a
// nodeSelector is not merged label by label). Set and unset differ by nil, so
// every field is a pointer, slice or map, omitted when nil.
type Scheduling struct {
	Tolerations  []Toleration      `json:"tolerations,omitzero"`
	NodeSelector map[string]string `json:"nodeSelector,omitzero"`
	// Affinity is added to the component's own anti-affinity (antiAffinity):
	// its podAntiAffinity terms join the one that mode makes.
	Affinity *Affinity `json:"affinity,omitzero"`
	// TopologySpreadConstraints without a labelSelector spread the component's
	// own pods.
	TopologySpreadConstraints []TopologySpreadConstraint `json:"topologySpreadConstraints,omitzero"`
	PriorityClassName         *string                    `json:"priorityClassName,omitzero"`
}

// Toleration is core/v1 Toleration.
type Toleration struct {
	Key      string `json:"key"`
	Operator string `json:"operator"`
	Value    string `json:"value"`
	Effect   string `json:"effect"`
	// TolerationSeconds, with the NoExecute effect, bounds how long the pod
	// stays on a node once the taint appears.
	TolerationSeconds *int64 `json:"tolerationSeconds"`
}

// Affinity is core/v1 Affinity.
type Affinity struct {
	NodeAffinity    *NodeAffinity `json:"nodeAffinity"`
	PodAffinity     *PodAffinity  `json:"podAffinity"`
	PodAntiAffinity *PodAffinity  `json:"podAntiAffinity"`
}

// NodeAffinity is core/v1 NodeAffinity.
type NodeAffinity struct {
	Required  *NodeSelector             `json:"requiredDuringSchedulingIgnoredDuringExecution"`
	Preferred []PreferredSchedulingTerm `json:"preferredDuringSchedulingIgnoredDuringExecution"`
}

// NodeSelector is core/v1 NodeSelector: the terms are ORed.
type NodeSelector struct {
	NodeSelectorTerms []NodeSelectorTerm `json:"nodeSelectorTerms"`
}

// NodeSelectorTerm is core/v1 NodeSelectorTerm: the requirements are ANDed.
type NodeSelectorTerm struct {
	MatchExpressions []NodeSelectorRequirement `json:"matchExpressions"`
	MatchFields      []NodeSelectorRequirement `json:"matchFields"`
}

// NodeSelectorRequirement is core/v1 NodeSelectorRequirement.
type NodeSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values"`
}

// PreferredSchedulingTerm is core/v1 PreferredSchedulingTerm.
type PreferredSchedulingTerm struct {
	Weight     int              `json:"weight"`
	Preference NodeSelectorTerm `json:"preference"`
}

// PodAffinity is core/v1 PodAffinity, and PodAntiAffinity, which has the same shape.
type PodAffinity struct {
	Required  []PodAffinityTerm         `json:"requiredDuringSchedulingIgnoredDuringExecution"`
	Preferred []WeightedPodAffinityTerm `json:"preferredDuringSchedulingIgnoredDuringExecution"`
}

// PodAffinityTerm is core/v1 PodAffinityTerm.
type PodAffinityTerm struct {
	LabelSelector *LabelSelector `json:"labelSelector"`
	Namespaces    []string       `json:"namespaces"`
	TopologyKey   string         `json:"topologyKey"`
}

// WeightedPodAffinityTerm is core/v1 WeightedPodAffinityTerm.
type WeightedPodAffinityTerm struct {
	Weight          int             `json:"weight"`
	PodAffinityTerm PodAffinityTerm `json:"podAffinityTerm"`
}

// LabelSelector is meta/v1 LabelSelector.
type LabelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels"`
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions"`
}

// LabelSelectorRequirement is meta/v1 LabelSelectorRequirement.
type LabelSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values"`
}

// TopologySpreadConstraint is core/v1 TopologySpreadConstraint.
type TopologySpreadConstraint struct {
	MaxSkew           int    `json:"maxSkew"`
	TopologyKey       string `json:"topologyKey"`
	WhenUnsatisfiable string `json:"whenUnsatisfiable"`
	// LabelSelector selects the pods to spread; nil is the component's own.
	LabelSelector      *LabelSelector `json:"labelSelector"`
	MinDomains         *int           `json:"minDomains"`
	NodeAffinityPolicy string         `json:"nodeAffinityPolicy"`
	NodeTaintsPolicy   string         `json:"nodeTaintsPolicy"`
}

// Over is s with every key it leaves unset taken from def (the stack's).
func (s Scheduling) Over(def Scheduling) Scheduling {
	if s.Tolerations == nil {
		s.Tolerations = def.Tolerations
	}
	if s.NodeSelector == nil {
		s.NodeSelector = def.NodeSelector
	}
	if s.Affinity == nil {
		s.Affinity = def.Affinity
	}
	if s.TopologySpreadConstraints == nil {
		s.TopologySpreadConstraints = def.TopologySpreadConstraints
	}
	if s.PriorityClassName == nil {
		s.PriorityClassName = def.PriorityClassName
	}
	return s
}

// IsEmpty reports whether s places pods nowhere in particular.
func (s Scheduling) IsEmpty() bool {
	a := s.Affinity
	return len(s.Tolerations) == 0 && len(s.NodeSelector) == 0 && len(s.TopologySpreadConstraints) == 0 &&
		(s.PriorityClassName == nil || *s.PriorityClassName == "") &&
		(a == nil || a.NodeAffinity == nil && a.PodAffinity == nil && a.PodAntiAffinity == nil)
}

// ForJobs is the part of s that places a Job's pod: the tolerations, node
// selector, node affinity and priority class. Pod (anti-)affinity and spread
// constraints are about a workload's replicas, which a Job pod is not.
func (s Scheduling) ForJobs() Scheduling {
	out := Scheduling{Tolerations: s.Tolerations, NodeSelector: s.NodeSelector, PriorityClassName: s.PriorityClassName}
	if s.Affinity != nil && s.Affinity.NodeAffinity != nil {
		out.Affinity = &Affinity{NodeAffinity: s.Affinity.NodeAffinity}
	}
	return out
}

// apply sets spec's scheduling fields: s, with mode's anti-affinity over the
// pods that own selects (which also are what a spread constraint without a
// label selector spreads).
func (s Scheduling) apply(spec *corev1.PodSpecArgs, mode AntiAffinityMode, own pulumi.StringMap) {
	if len(s.Tolerations) > 0 {
		ts := make(corev1.TolerationArray, len(s.Tolerations))
		for i, t := range s.Tolerations {
			ts[i] = t.args()
		}
		spec.Tolerations = ts
	}
	if len(s.NodeSelector) > 0 {
		spec.NodeSelector = pulumi.ToStringMap(s.NodeSelector)
	}
	spec.Affinity = s.Affinity.args(mode, own)
	if len(s.TopologySpreadConstraints) > 0 {
		cs := make(corev1.TopologySpreadConstraintArray, len(s.TopologySpreadConstraints))
		for i, c := range s.TopologySpreadConstraints {
			cs[i] = c.args(own)
		}
		spec.TopologySpreadConstraints = cs
	}
	if s.PriorityClassName != nil && *s.PriorityClassName != "" {
		spec.PriorityClassName = pulumi.String(*s.PriorityClassName)
	}
}

func (t Toleration) args() corev1.TolerationArgs {
	a := corev1.TolerationArgs{}
	if t.Key != "" {
		a.Key = pulumi.String(t.Key)
	}
	if t.Operator != "" {
		a.Operator = pulumi.String(t.Operator)
	}
	if t.Value != "" {
		a.Value = pulumi.String(t.Value)
	}
	if t.Effect != "" {
		a.Effect = pulumi.String(t.Effect)
	}
	if t.TolerationSeconds != nil {
		a.TolerationSeconds = pulumi.Int(int(*t.TolerationSeconds))
	}
	return a
}

// args is the affinity a (nil for none) with mode's anti-affinity term over
// the own pods added to its podAntiAffinity; nil when there is neither.
func (a *Affinity) args(mode AntiAffinityMode, own pulumi.StringMap) *corev1.AffinityArgs {
	var extra Affinity
	if a != nil {
		extra = *a
	}
	anti := extra.PodAntiAffinity.args()
	switch term := ownPodsTerm(own); mode {
	case AntiAffinityRequired:
		if anti == nil {
			anti = &corev1.PodAntiAffinityArgs{}
		}
		anti.RequiredDuringSchedulingIgnoredDuringExecution = append(corev1.PodAffinityTermArray{term}, requiredTerms(anti)...)
	case AntiAffinityPreferred:
		if anti == nil {
			anti = &corev1.PodAntiAffinityArgs{}
		}
		weighted := corev1.WeightedPodAffinityTermArgs{Weight: pulumi.Int(100), PodAffinityTerm: term}
		anti.PreferredDuringSchedulingIgnoredDuringExecution = append(corev1.WeightedPodAffinityTermArray{weighted}, preferredTerms(anti)...)
	}
	out := &corev1.AffinityArgs{}
	if anti != nil {
		out.PodAntiAffinity = anti
	}
	if extra.NodeAffinity != nil {
		out.NodeAffinity = extra.NodeAffinity.args()
	}
	if p := extra.PodAffinity.args(); p != nil {
		out.PodAffinity = &corev1.PodAffinityArgs{
			RequiredDuringSchedulingIgnoredDuringExecution:  p.RequiredDuringSchedulingIgnoredDuringExecution,
			PreferredDuringSchedulingIgnoredDuringExecution: p.PreferredDuringSchedulingIgnoredDuringExecution,
		}
	}
	if out.PodAntiAffinity == nil && out.NodeAffinity == nil && out.PodAffinity == nil {
		return nil
	}
	return out
}

// ownPodsTerm keeps the own pods on distinct nodes.
func ownPodsTerm(own pulumi.StringMap) corev1.PodAffinityTermArgs {
	return corev1.PodAffinityTermArgs{
		LabelSelector: &metav1.LabelSelectorArgs{MatchLabels: own},
		TopologyKey:   pulumi.String(HostnameTopologyKey),
	}
}

func requiredTerms(a *corev1.PodAntiAffinityArgs) corev1.PodAffinityTermArray {
	terms, _ := a.RequiredDuringSchedulingIgnoredDuringExecution.(corev1.PodAffinityTermArray)
	return terms
}

func preferredTerms(a *corev1.PodAntiAffinityArgs) corev1.WeightedPodAffinityTermArray {
	terms, _ := a.PreferredDuringSchedulingIgnoredDuringExecution.(corev1.WeightedPodAffinityTermArray)
	return terms
}

// args is p as the pod anti-affinity args (the pod affinity's are the same
// fields); nil when p sets no term.
func (p *PodAffinity) args() *corev1.PodAntiAffinityArgs {
	if p == nil || len(p.Required) == 0 && len(p.Preferred) == 0 {
		return nil
	}
	out := &corev1.PodAntiAffinityArgs{}
	if len(p.Required) > 0 {
		terms := make(corev1.PodAffinityTermArray, len(p.Required))
		for i, t := range p.Required {
			terms[i] = t.args()
		}
		out.RequiredDuringSchedulingIgnoredDuringExecution = terms
	}
	if len(p.Preferred) > 0 {
		terms := make(corev1.WeightedPodAffinityTermArray, len(p.Preferred))
		for i, t := range p.Preferred {
			terms[i] = corev1.WeightedPodAffinityTermArgs{Weight: pulumi.Int(t.Weight), PodAffinityTerm: t.PodAffinityTerm.args()}
		}
		out.PreferredDuringSchedulingIgnoredDuringExecution = terms
	}
	return out
}

func (t PodAffinityTerm) args() corev1.PodAffinityTermArgs {
	a := corev1.PodAffinityTermArgs{TopologyKey: pulumi.String(t.TopologyKey), LabelSelector: t.LabelSelector.args()}
	if len(t.Namespaces) > 0 {
		a.Namespaces = pulumi.ToStringArray(t.Namespaces)
	}
	return a
}

func (n *NodeAffinity) args() *corev1.NodeAffinityArgs {
	out := &corev1.NodeAffinityArgs{}
	if n.Required != nil {
		terms := make(corev1.NodeSelectorTermArray, len(n.Required.NodeSelectorTerms))
		for i, t := range n.Required.NodeSelectorTerms {
			terms[i] = t.args()
		}
		out.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelectorArgs{NodeSelectorTerms: terms}
	}
	if len(n.Preferred) > 0 {
		terms := make(corev1.PreferredSchedulingTermArray, len(n.Preferred))
		for i, t := range n.Preferred {
			terms[i] = corev1.PreferredSchedulingTermArgs{Weight: pulumi.Int(t.Weight), Preference: t.Preference.args()}
		}
		out.PreferredDuringSchedulingIgnoredDuringExecution = terms
	}
	return out
}

func (t NodeSelectorTerm) args() corev1.NodeSelectorTermArgs {
	reqs := func(rs []NodeSelectorRequirement) corev1.NodeSelectorRequirementArray {
		out := make(corev1.NodeSelectorRequirementArray, len(rs))
		for i, r := range rs {
			a := corev1.NodeSelectorRequirementArgs{Key: pulumi.String(r.Key), Operator: pulumi.String(r.Operator)}
			if len(r.Values) > 0 {
				a.Values = pulumi.ToStringArray(r.Values)
			}
			out[i] = a
		}
		return out
	}
	a := corev1.NodeSelectorTermArgs{}
	if len(t.MatchExpressions) > 0 {
		a.MatchExpressions = reqs(t.MatchExpressions)
	}
	if len(t.MatchFields) > 0 {
		a.MatchFields = reqs(t.MatchFields)
	}
	return a
}

// args is the selector, nil for none.
func (l *LabelSelector) args() *metav1.LabelSelectorArgs {
	if l == nil {
		return nil
	}
	out := &metav1.LabelSelectorArgs{}
	if len(l.MatchLabels) > 0 {
		out.MatchLabels = pulumi.ToStringMap(l.MatchLabels)
	}
	if len(l.MatchExpressions) > 0 {
		exprs := make(metav1.LabelSelectorRequirementArray, len(l.MatchExpressions))
		for i, r := range l.MatchExpressions {
			a := metav1.LabelSelectorRequirementArgs{Key: pulumi.String(r.Key), Operator: pulumi.String(r.Operator)}
			if len(r.Values) > 0 {
				a.Values = pulumi.ToStringArray(r.Values)
			}
			exprs[i] = a
		}
		out.MatchExpressions = exprs
	}
	return out
}

// args is the constraint, spreading the own pods when it selects none.
func (c TopologySpreadConstraint) args(own pulumi.StringMap) corev1.TopologySpreadConstraintArgs {
	selector := c.LabelSelector.args()
	if selector == nil {
		selector = &metav1.LabelSelectorArgs{MatchLabels: own}
	}
	a := corev1.TopologySpreadConstraintArgs{
		MaxSkew:           pulumi.Int(c.MaxSkew),
		TopologyKey:       pulumi.String(c.TopologyKey),
		WhenUnsatisfiable: pulumi.String(c.WhenUnsatisfiable),
		LabelSelector:     selector,
	}
	if c.MinDomains != nil {
		a.MinDomains = pulumi.Int(*c.MinDomains)
	}
	if c.NodeAffinityPolicy != "" {
		a.NodeAffinityPolicy = pulumi.String(c.NodeAffinityPolicy)
	}
	if c.NodeTaintsPolicy != "" {
		a.NodeTaintsPolicy = pulumi.String(c.NodeTaintsPolicy)
	}
	return a
}
