package kube

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/pelletier/go-toml/v2"
)

// RenderTOML renders a component's config file with a TOML library, never by
// string concatenation, so values are always quoted and escaped correctly.
func RenderTOML(v any) (string, error) {
	return RenderTOMLWith(v, nil)
}

// RenderTOMLWith renders v and deep-merges overlay into it: tables merge key
// by key, any other value of the overlay replaces the generated one. The
// caller has refused every overlay key it manages, so the merge only adds.
func RenderTOMLWith(v any, overlay ConfigOverlay) (string, error) {
	b, err := toml.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("rendering TOML: %w", err)
	}
	if len(overlay) == 0 {
		return string(b), nil
	}
	var base map[string]any
	if err := toml.Unmarshal(b, &base); err != nil {
		return "", fmt.Errorf("rendering TOML: %w", err)
	}
	if b, err = toml.Marshal(mergeTables(base, overlay)); err != nil {
		return "", fmt.Errorf("rendering TOML with the config overlay: %w", err)
	}
	return string(b), nil
}

// mergeTables overlays src on dst, table by table, copying every table of src.
func mergeTables(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			dm, _ := dst[k].(map[string]any)
			dst[k] = mergeTables(dm, sm)
			continue
		}
		dst[k] = v
	}
	return dst
}

// ConfigOverlay is a TOML fragment, written as nested objects in the stack
// file ({logging: {max_log_files: 48}}), that is deep-merged into a
// component's generated config file. Whole numbers decode as integers, so
// that a TOML integer key stays an integer.
type ConfigOverlay map[string]any

// UnmarshalJSON decodes the overlay, keeping whole numbers integers.
func (o *ConfigOverlay) UnmarshalJSON(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return err
	}
	*o = ConfigOverlay(numbers(m).(map[string]any))
	return nil
}

// numbers turns the decoder's json.Numbers into int64 or float64.
func numbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = numbers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = numbers(e)
		}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	}
	return v
}

// Keys are the overlay's dotted key paths, sorted: each value that is not a
// table (an array of tables counts as one value).
func (o ConfigOverlay) Keys() []string {
	var out []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if inner, ok := v.(map[string]any); ok && len(inner) > 0 {
				walk(prefix+k+".", inner)
				continue
			}
			out = append(out, prefix+k)
		}
	}
	walk("", o)
	slices.Sort(out)
	return out
}
