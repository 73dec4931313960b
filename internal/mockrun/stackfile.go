package mockrun

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"tsdb-platform/stacks"
)

// StackConfig is a stack file's project configuration, ready for Options.
type StackConfig struct {
	// Config maps keys without the project prefix to values as the CLI passes them.
	Config map[string]string
	// SecretKeys are the keys that held a `secure:` value at any depth.
	SecretKeys []string
	// Secrets maps each substituted secure value's config path to its test value.
	Secrets map[string]string
	// Operator lists the values the stack file leaves for the operator to set before
	// the first deploy (its secrets and key material), each given a test value here.
	Operator []Setting
}

// Setting is one value set with `pulumi config set [--secret] --path KEY VALUE`.
type Setting struct {
	// Key is the config path without the project prefix ("quasardb[0].license").
	Key    string
	Value  string
	Secret bool
}

// LoadStackFile reads a Pulumi.<stack>.yaml file. Every `secure:` value (the CLI's
// encrypted form, at any depth) is replaced by a deterministic test value and its key
// marked secret, as the CLI marks a key secret when any part of it is.
func LoadStackFile(path string) (*StackConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("stack file: %w", err)
	}
	var file struct {
		Config map[string]any `json:"config"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		return nil, fmt.Errorf("stack file %s: %w", path, err)
	}
	sc := &StackConfig{Config: map[string]string{}, Secrets: map[string]string{}}
	prefix := stacks.Project + ":"
	for key, value := range file.Config {
		if !strings.HasPrefix(key, prefix) {
			continue // other namespaces (kubernetes:..., pulumi:...) are not the program's
		}
		name := strings.TrimPrefix(key, prefix)
		secret := false
		value = substituteSecure(name, value, sc.Secrets, &secret)
		s, err := configString(value)
		if err != nil {
			return nil, fmt.Errorf("stack file %s: key %s: %w", path, key, err)
		}
		sc.Config[name] = s
		if secret {
			sc.SecretKeys = append(sc.SecretKeys, name)
		}
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	if err := applyProjectDefaults(filepath.Join(root, "Pulumi.yaml"), sc); err != nil {
		return nil, err
	}
	if err := setOperatorValues(sc); err != nil {
		return nil, fmt.Errorf("stack file %s: %w", path, err)
	}
	sort.Strings(sc.SecretKeys)
	return sc, nil
}

// setOperatorValues gives each value that the program reports as required but unset
// (a secret or key material that a stack file never holds) a deterministic test value,
// as the operator does with `pulumi config set [--secret] --path` before the first
// deploy. The program's own validation says which values those are.
func setOperatorValues(sc *StackConfig) error {
	_, err := stacks.Load(stacks.MapLookup(sc.Config))
	var ce *stacks.ConfigError
	if !errors.As(err, &ce) {
		return nil // valid, or invalid for reasons the tests want to see
	}
	for _, p := range ce.Problems {
		if !p.Unset {
			continue
		}
		set := Setting{Key: p.Key, Value: TestSecret("operator:"+p.Key, 48), Secret: stacks.IsSecretKey(p.Key)}
		if err := SetPath(sc.Config, set.Key, set.Value); err != nil {
			return err
		}
		sc.Operator = append(sc.Operator, set)
		if set.Secret {
			sc.Secrets[set.Key] = set.Value
			if top := topKey(set.Key); !slices.Contains(sc.SecretKeys, top) {
				sc.SecretKeys = append(sc.SecretKeys, top)
			}
		}
	}
	return nil
}

// SetPath sets the config path key ("quasardb[0].security.userList") in config, whose
// object and list values are JSON, as `pulumi config set --path` does.
func SetPath(config map[string]string, key, value string) error {
	top := topKey(key)
	rest := strings.TrimPrefix(key, top)
	if rest == "" {
		config[top] = value
		return nil
	}
	var root any
	if raw := config[top]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &root); err != nil {
			return fmt.Errorf("setting %s: %s is not JSON: %w", key, top, err)
		}
	}
	root, err := setIn(root, rest, value)
	if err != nil {
		return fmt.Errorf("setting %s: %w", key, err)
	}
	b, err := json.Marshal(root)
	if err != nil {
		return fmt.Errorf("setting %s: %w", key, err)
	}
	config[top] = string(b)
	return nil
}

// setIn sets value at path (".a[0].b") inside v, creating objects on the way.
func setIn(v any, path, value string) (any, error) {
	if path == "" {
		return value, nil
	}
	if path[0] == '[' {
		end := strings.IndexByte(path, ']')
		if end < 0 {
			return nil, fmt.Errorf("unclosed index in %q", path)
		}
		i, err := strconv.Atoi(path[1:end])
		list, ok := v.([]any)
		if err != nil || !ok || i < 0 || i >= len(list) {
			return nil, fmt.Errorf("no list element %s", path[:end+1])
		}
		if list[i], err = setIn(list[i], path[end+1:], value); err != nil {
			return nil, err
		}
		return list, nil
	}
	path = strings.TrimPrefix(path, ".")
	end := strings.IndexAny(path, ".[")
	if end < 0 {
		end = len(path)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		obj = map[string]any{}
	}
	child, err := setIn(obj[path[:end]], path[end:], value)
	if err != nil {
		return nil, err
	}
	obj[path[:end]] = child
	return obj, nil
}

func topKey(key string) string {
	if i := strings.IndexAny(key, ".["); i > 0 {
		return key[:i]
	}
	return key
}

// applyProjectDefaults gives every key the stack file does not set the default that
// Pulumi.yaml declares for it, as the CLI does.
func applyProjectDefaults(path string, sc *StackConfig) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("project file: %w", err)
	}
	var project struct {
		Config map[string]struct {
			Default any `json:"default"`
		} `json:"config"`
	}
	if err := yaml.Unmarshal(raw, &project); err != nil {
		return fmt.Errorf("project file %s: %w", path, err)
	}
	for key, decl := range project.Config {
		if _, set := sc.Config[key]; set || decl.Default == nil {
			continue
		}
		s, err := configString(decl.Default)
		if err != nil {
			return fmt.Errorf("project file %s: key %s: %w", path, key, err)
		}
		sc.Config[key] = s
	}
	return nil
}

// StackFile returns the path of a committed stack file, Pulumi.<stack>.yaml, at the
// repository root (found by walking up from the working directory to go.mod).
func StackFile(stack string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "Pulumi."+stack+".yaml"), nil
}

// RepoRoot walks up from the working directory to the directory holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// CommittedStacks lists the stacks that have a Pulumi.<stack>.yaml at the repository root.
func CommittedStacks() ([]string, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	matches, err := filepath.Glob(filepath.Join(root, "Pulumi.*.yaml"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		stack := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m), "Pulumi."), ".yaml")
		if strings.HasPrefix(stack, "render-") || strings.HasPrefix(stack, "sim-") {
			continue // local copies made by `make render` and `make sim-up`, ignored by git
		}
		out = append(out, stack)
	}
	sort.Strings(out)
	return out, nil
}

// StackRef names a stack file and the stack it is run as.
type StackRef struct {
	Name string
	Path string
}

// AllStacks lists every committed stack file and then the test-only stacks under
// tests/testdata/stacks (the all-features stack "full"), in that order.
func AllStacks() ([]StackRef, error) {
	names, err := CommittedStacks()
	if err != nil {
		return nil, err
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	var out []StackRef
	for _, n := range names {
		out = append(out, StackRef{Name: n, Path: filepath.Join(root, "Pulumi."+n+".yaml")})
	}
	extra, err := filepath.Glob(filepath.Join(root, "tests", "testdata", "stacks", "Pulumi.*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(extra)
	for _, p := range extra {
		out = append(out, StackRef{Name: strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "Pulumi."), ".yaml"), Path: p})
	}
	return out, nil
}

func substituteSecure(path string, v any, secrets map[string]string, secret *bool) any {
	switch t := v.(type) {
	case map[string]any:
		if enc, ok := t["secure"].(string); ok && len(t) == 1 {
			*secret = true
			val := TestSecret(path+enc, 48)
			secrets[path] = val
			return val
		}
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = substituteSecure(path+"."+k, e, secrets, secret)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = substituteSecure(fmt.Sprintf("%s[%d]", path, i), e, secrets, secret)
		}
		return out
	}
	return v
}

// configString renders a value the way the CLI hands it to a program: strings as
// they are, other scalars in their YAML spelling, objects and lists as JSON.
func configString(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case bool:
		return strconv.FormatBool(t), nil
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	case nil:
		return "", nil
	default:
		b, err := json.Marshal(t)
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
}

// RunStack loads the committed Pulumi.<stack>.yaml and runs the program with it.
func RunStack(stack string, dryRun bool) (*Result, *StackConfig, error) {
	path, err := StackFile(stack)
	if err != nil {
		return nil, nil, err
	}
	return RunStackFile(path, stack, dryRun)
}

// RunStackFile runs the program with the stack file at path (any directory) as stack.
func RunStackFile(path, stack string, dryRun bool) (*Result, *StackConfig, error) {
	sc, err := LoadStackFile(path)
	if err != nil {
		return nil, nil, err
	}
	res, err := Run(stacks.Program, Options{Stack: stack, Config: sc.Config, SecretKeys: sc.SecretKeys, DryRun: dryRun})
	return res, sc, err
}
