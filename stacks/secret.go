package stacks

import (
	"reflect"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"tsdb-platform/components/kube"
)

// IsSecretKey reports whether a config path, as `pulumi config set --path` spells
// it ("greptimedb[0].datanode.objectStorage.secretAccessKey",
// "quasardb[1].security.userList"), names a secret value: one whose value is never
// echoed back and only ever reaches resources as a Pulumi secret. The path is
// resolved against the type the stack's config decodes into (Spec) by its JSON
// names, as encoding/json decodes it: embedded structs are flattened, lists are
// indexed and maps take any key. It is secret when the field it ends at is
// tagged `secret:"true"` (kube.SecretTag) in its spec. A path the config does not
// have is not secret.
func IsSecretKey(key string) bool {
	path, err := resource.ParsePropertyPath(key)
	if err != nil || len(path) == 0 {
		return false
	}
	t := reflect.TypeFor[Spec]()
	var last *reflect.StructField
	for _, seg := range path {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		last = nil
		switch t.Kind() {
		case reflect.Struct:
			name, ok := seg.(string)
			if !ok {
				return false
			}
			f, ok := jsonField(t, name)
			if !ok {
				return false
			}
			t, last = f.Type, &f
		case reflect.Slice, reflect.Array:
			if _, ok := seg.(int); !ok {
				return false
			}
			t = t.Elem()
		case reflect.Map:
			t = t.Elem()
		default:
			return false
		}
	}
	return last != nil && last.Tag.Get(kube.SecretTag) == "true"
}

// jsonField is the field of struct type t that encoding/json decodes the key
// name into: an exact match first, else one that differs only in case.
func jsonField(t reflect.Type, name string) (reflect.StructField, bool) {
	fields := jsonFields(t)
	if f, ok := fields[name]; ok {
		return f, true
	}
	for n, f := range fields {
		if strings.EqualFold(n, name) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// jsonFields are the fields of struct type t by their JSON names, with the
// fields of embedded structs flattened as encoding/json does: a shallower field
// hides a deeper one of the same name, and among fields of the same depth a
// tagged one wins; two that still tie hide each other.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	taken := map[string]bool{}
	seen := map[reflect.Type]bool{}
	for level := []reflect.Type{t}; len(level) > 0; {
		var next []reflect.Type
		type candidate struct {
			field  reflect.StructField
			tagged bool
		}
		found := map[string][]candidate{}
		for _, st := range level {
			if seen[st] {
				continue
			}
			for i := range st.NumField() {
				f := st.Field(i)
				tag := f.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, _, _ := strings.Cut(tag, ",")
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if f.Anonymous {
					if !f.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
					if name == "" && ft.Kind() == reflect.Struct {
						next = append(next, ft)
						continue
					}
				} else if !f.IsExported() {
					continue
				}
				tagged := name != ""
				if !tagged {
					name = f.Name
				}
				found[name] = append(found[name], candidate{f, tagged})
			}
		}
		for _, st := range level {
			seen[st] = true
		}
		for name, cs := range found {
			if taken[name] {
				continue
			}
			taken[name] = true
			var winners []reflect.StructField
			for _, c := range cs {
				if c.tagged {
					winners = append(winners, c.field)
				}
			}
			if len(winners) == 0 {
				for _, c := range cs {
					winners = append(winners, c.field)
				}
			}
			if len(winners) == 1 {
				out[name] = winners[0]
			}
		}
		level = next
	}
	return out
}
