package stacks

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Problem is one thing wrong with a stack's configuration.
type Problem struct {
	// Key is the config path, as `pulumi config set --path` spells it ("greptimedb[0].etcd.replicas").
	Key string
	// Value is the offending value as the user wrote it, or "[secret]" for secret keys.
	Value string
	// Message says what is allowed.
	Message string
	// Unset marks a required value that is not set at all, such as a secret the
	// operator sets with `pulumi config set --secret --path` before the first deploy.
	Unset bool
}

func (p Problem) String() string {
	if p.Value == "" {
		return fmt.Sprintf("%s: %s", p.Key, p.Message)
	}
	return fmt.Sprintf("%s: %s — %s", p.Key, p.Value, p.Message)
}

// ConfigError lists every problem found in a stack's configuration. Validation collects
// them all before any resource is registered, so one `pulumi up` shows everything to fix.
type ConfigError struct {
	Problems []Problem
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid stack configuration (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Keys returns the config keys that have problems, sorted.
func (e *ConfigError) Keys() []string {
	keys := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		keys = append(keys, p.Key)
	}
	sort.Strings(keys)
	return keys
}

// problems collects Problems. A key reported once is not reported again, so a value
// that failed to decode does not also fail the checks that run on its zero value.
type problems struct {
	list []Problem
	seen map[string]bool
}

func (ps *problems) add(key string, value any, format string, args ...any) {
	if ps.seen == nil {
		ps.seen = map[string]bool{}
	}
	if ps.has(key) {
		return
	}
	ps.seen[key] = true
	ps.list = append(ps.list, Problem{Key: key, Value: displayValue(key, value), Message: fmt.Sprintf(format, args...)})
}

// unset reports a required value that is missing; the message says how to set it.
func (ps *problems) unset(key string, format string, args ...any) {
	if ps.has(key) {
		return
	}
	ps.add(key, nil, format, args...)
	ps.list[len(ps.list)-1].Unset = true
}

// addAll adds the problems a spec's Validate found: a missing required value
// (field.Required) is unset, anything else has its value and what is allowed.
func (ps *problems) addAll(errs field.ErrorList) {
	for _, e := range errs {
		if e.Type == field.ErrorTypeRequired {
			ps.unset(e.Field, "%s", e.Detail)
			continue
		}
		ps.add(e.Field, e.BadValue, "%s", e.Detail)
	}
}

// has reports whether key, or a key it is part of, already has a problem.
func (ps *problems) has(key string) bool {
	for k := key; k != ""; k = parentKey(k) {
		if ps.seen[k] {
			return true
		}
	}
	return false
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &ConfigError{Problems: ps.list}
}

// parentKey strips the last segment of a config path: "a[0].b" -> "a[0]" -> "a".
func parentKey(key string) string {
	if i := strings.LastIndexAny(key, ".["); i > 0 {
		return key[:i]
	}
	return ""
}

func displayValue(key string, value any) string {
	if value == nil {
		return ""
	}
	if IsSecretKey(key) {
		return "[secret]"
	}
	switch v := value.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	default:
		return fmt.Sprint(v)
	}
}
