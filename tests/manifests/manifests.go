// Package manifests turns a program run recorded under mocks into the Kubernetes
// objects the provider would send to the API server, and writes them as YAML for
// review (golden manifests, read in diffs as with `helm template`).
package manifests

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"tsdb-platform/internal/mockrun"
)

// Redacted replaces every secret value in written manifests.
const Redacted = "<secret>"

// Object is one Kubernetes object of a program run.
type Object struct {
	// Resource is what the program registered.
	Resource *mockrun.Resource
	// Body is the object as the provider sends it: apiVersion and kind from the type
	// token, the inputs as the body, auto-names filled in, secrets as test values.
	Body *unstructured.Unstructured
}

// Objects returns the Kubernetes objects of a run, namespaces first, then by kind,
// namespace and name.
func Objects(res *mockrun.Result) ([]Object, error) {
	var out []Object
	for _, r := range res.Kubernetes() {
		body := mockrun.Plain(r.State)
		apiVersion, kind, err := GroupVersionKind(r.Type)
		if err != nil {
			return nil, err
		}
		body["apiVersion"] = apiVersion
		body["kind"] = kind
		out = append(out, Object{Resource: r, Body: &unstructured.Unstructured{Object: body}})
	}
	sort.SliceStable(out, func(i, j int) bool { return less(out[i].Body, out[j].Body) })
	return out, nil
}

func less(a, b *unstructured.Unstructured) bool {
	ra, rb := kindRank(a.GetKind()), kindRank(b.GetKind())
	if ra != rb {
		return ra < rb
	}
	if a.GetKind() != b.GetKind() {
		return a.GetKind() < b.GetKind()
	}
	if a.GetNamespace() != b.GetNamespace() {
		return a.GetNamespace() < b.GetNamespace()
	}
	return a.GetName() < b.GetName()
}

// kindRank orders objects as they can be applied: namespaces before what lives in them.
func kindRank(kind string) int {
	if kind == "Namespace" {
		return 0
	}
	return 1
}

// GroupVersionKind maps a Pulumi Kubernetes type token ("kubernetes:apps/v1:StatefulSet")
// to the object's apiVersion ("apps/v1"; "v1" for the core group) and kind.
func GroupVersionKind(token string) (apiVersion, kind string, err error) {
	parts := strings.Split(token, ":")
	if len(parts) != 3 || parts[0] != "kubernetes" {
		return "", "", fmt.Errorf("%q is not a Kubernetes type token", token)
	}
	apiVersion = strings.TrimPrefix(parts[1], "core/")
	return apiVersion, parts[2], nil
}

// FileName is an object's golden file name: <kind>-<namespace>-<name>.yaml, lower case.
func FileName(obj *unstructured.Unstructured) string {
	parts := []string{strings.ToLower(obj.GetKind())}
	if ns := obj.GetNamespace(); ns != "" {
		parts = append(parts, ns)
	}
	parts = append(parts, obj.GetName())
	return strings.Join(parts, "-") + ".yaml"
}

// RedactedYAML renders an object with every secret-marked input replaced by Redacted,
// so golden files show where secrets go, never their (test) values.
func RedactedYAML(o Object) ([]byte, error) {
	body := o.Body.DeepCopy().Object
	for _, leaf := range mockrun.Leaves(o.Resource.State) {
		if leaf.Secret {
			setPath(body, leaf.Segments, Redacted)
		}
	}
	b, err := yaml.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", FileName(o.Body), err)
	}
	return b, nil
}

// setPath sets a leaf in a plain tree by its path segments.
func setPath(m map[string]any, parts []string, v any) {
	var cur any = m
	for i, p := range parts {
		last := i == len(parts)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[p] = v
				return
			}
			cur = c[p]
		case []any:
			var idx int
			if _, err := fmt.Sscanf(p, "%d", &idx); err != nil || idx < 0 || idx >= len(c) {
				return
			}
			if last {
				c[idx] = v
				return
			}
			cur = c[idx]
		default:
			return
		}
	}
}

// Render returns each object's golden file name and redacted YAML.
func Render(objs []Object) (map[string][]byte, error) {
	files := make(map[string][]byte, len(objs))
	for _, o := range objs {
		b, err := RedactedYAML(o)
		if err != nil {
			return nil, err
		}
		name := FileName(o.Body)
		if _, dup := files[name]; dup {
			return nil, fmt.Errorf("two objects render to %s", name)
		}
		files[name] = b
	}
	return files, nil
}

// WriteDir replaces dir's YAML files with files.
func WriteDir(dir string, files map[string][]byte) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// ReadDir reads the YAML files of dir.
func ReadDir(dir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		files[e.Name()] = b
	}
	return files, nil
}
