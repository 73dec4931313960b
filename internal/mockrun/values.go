package mockrun

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Unknown stands for a value that is not known yet (in preview).
const Unknown = "<unknown>"

// Plain turns recorded inputs into plain Go values (map[string]any, []any, string,
// float64, bool, nil), unwrapping secrets and showing unknowns as Unknown.
func Plain(pm resource.PropertyMap) map[string]any {
	out := make(map[string]any, len(pm))
	for k, v := range pm {
		out[string(k)] = PlainValue(v)
	}
	return out
}

// PlainValue is Plain for one value.
func PlainValue(v resource.PropertyValue) any {
	switch {
	case v.IsNull():
		return nil
	case v.IsSecret():
		return PlainValue(v.SecretValue().Element)
	case v.IsComputed():
		return Unknown
	case v.IsOutput():
		o := v.OutputValue()
		if !o.Known {
			return Unknown
		}
		return PlainValue(o.Element)
	case v.IsObject():
		return Plain(v.ObjectValue())
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = PlainValue(e)
		}
		return out
	case v.IsString():
		return v.StringValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsBool():
		return v.BoolValue()
	case v.IsResourceReference():
		return v.ResourceReferenceValue().URN
	}
	return fmt.Sprint(v.V)
}

// Leaf is one scalar in a recorded input tree.
type Leaf struct {
	// Path is a dotted path with [i] for list elements ("spec.template.spec.containers[0].image").
	Path string
	// Segments is the path split into object keys and list indexes, unambiguous
	// where a key itself contains a dot ("stringData", "quasardb.key").
	Segments []string
	Value    any
	Secret   bool
}

// Leaves walks recorded inputs and returns every scalar with its path and whether
// it is marked secret (itself or any enclosing value), sorted by path.
func Leaves(pm resource.PropertyMap) []Leaf {
	var out []Leaf
	walk("", nil, resource.NewProperty(pm), false, &out)
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func walk(path string, segs []string, v resource.PropertyValue, secret bool, out *[]Leaf) {
	switch {
	case v.IsSecret():
		walk(path, segs, v.SecretValue().Element, true, out)
	case v.IsOutput():
		o := v.OutputValue()
		if o.Secret {
			secret = true
		}
		if !o.Known {
			*out = append(*out, Leaf{Path: path, Segments: segs, Value: Unknown, Secret: secret})
			return
		}
		walk(path, segs, o.Element, secret, out)
	case v.IsObject():
		for k, e := range v.ObjectValue() {
			p := string(k)
			if path != "" {
				p = path + "." + p
			}
			walk(p, appendSeg(segs, string(k)), e, secret, out)
		}
	case v.IsArray():
		for i, e := range v.ArrayValue() {
			walk(fmt.Sprintf("%s[%d]", path, i), appendSeg(segs, fmt.Sprint(i)), e, secret, out)
		}
	default:
		*out = append(*out, Leaf{Path: path, Segments: segs, Value: PlainValue(v), Secret: secret})
	}
}

func appendSeg(segs []string, s string) []string {
	out := make([]string, len(segs), len(segs)+1)
	copy(out, segs)
	return append(out, s)
}

// IsSecretAt reports whether the input at a dotted path (as Leaves spells it) is
// marked secret, itself or through an enclosing value.
func IsSecretAt(pm resource.PropertyMap, path string) bool {
	for _, l := range Leaves(pm) {
		if l.Path == path || strings.HasPrefix(l.Path, path+".") || strings.HasPrefix(l.Path, path+"[") {
			return l.Secret
		}
	}
	return false
}

// Get reads a value from plain inputs by a dotted path with [i] indexes, or nil.
func Get(m map[string]any, path string) any {
	var cur any = m
	for _, part := range splitPath(path) {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[part]
		case []any:
			var i int
			if _, err := fmt.Sscanf(part, "%d", &i); err != nil || i < 0 || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

// splitPath splits "a.b[0].c" into "a", "b", "0", "c".
func splitPath(path string) []string {
	path = strings.ReplaceAll(path, "[", ".")
	path = strings.ReplaceAll(path, "]", "")
	return strings.Split(path, ".")
}
