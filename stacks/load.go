package stacks

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
	"sigs.k8s.io/yaml"
)

// Project is the Pulumi project name; stack config keys live under "tsdb-platform:".
const Project = "tsdb-platform"

// Config keys of the project, as declared in Pulumi.yaml.
const (
	KeyProfile         = "profile"
	KeyNamespace       = "namespace"
	KeyCreateNamespace = "createNamespace"
	KeyClusterDomain   = "clusterDomain"
	KeyKubeconfig      = "kubeconfig"
	KeyKubeContext     = "kubeContext"
	KeyRenderDir       = "renderDir"
	KeyDataSafety      = "dataSafety"
	KeyNetworkPolicy   = "networkPolicy"
	KeyMonitoring      = "monitoring"
	KeyScheduling      = "scheduling"
	KeyImageRegistry   = "imageRegistry"
	KeyPullSecrets     = "imagePullSecrets"
	KeyGreptimeDB      = "greptimedb"
	KeyQuasarDB        = "quasardb"
)

// Keys lists every project config key the program reads, as Pulumi.yaml declares them.
func Keys() []string {
	return []string{
		KeyProfile, KeyNamespace, KeyCreateNamespace, KeyClusterDomain, KeyKubeconfig,
		KeyKubeContext, KeyRenderDir, KeyDataSafety, KeyNetworkPolicy, KeyMonitoring, KeyScheduling,
		KeyImageRegistry, KeyPullSecrets, KeyGreptimeDB, KeyQuasarDB,
	}
}

// Environment profiles.
const (
	ProfileDev     = "dev"
	ProfileStaging = "staging"
	ProfileProd    = "prod"
)

// Defaults of the keys that do not depend on the profile.
const (
	DefaultProfile       = ProfileDev
	DefaultNamespace     = "tsdb"
	DefaultClusterDomain = "cluster.local"
)

//go:embed profiles/*.yaml
var profileFiles embed.FS

// Lookup returns the raw value of a project config key (without the "tsdb-platform:"
// prefix) and whether it is set.
type Lookup func(key string) (string, bool)

// ContextLookup reads config from a Pulumi program's context with the SDK's
// error-returning getter.
func ContextLookup(ctx *pulumi.Context) Lookup {
	return func(key string) (string, bool) {
		v, err := config.Try(ctx, Project+":"+key)
		return v, err == nil
	}
}

// MapLookup reads config from a plain map, for tests and tools.
func MapLookup(m map[string]string) Lookup {
	return func(key string) (string, bool) {
		v, ok := m[key]
		return v, ok
	}
}

// Load reads a stack's configuration, merges it over its environment profile's
// defaults, and validates it. It reports every problem at once in a *ConfigError.
// It never panics on user input.
func Load(lookup Lookup) (*Spec, error) {
	var ps problems
	spec := &Spec{}

	spec.Profile = stringKey(lookup, KeyProfile, DefaultProfile)
	defaults, err := profileDefaults(spec.Profile)
	if err != nil {
		ps.add(KeyProfile, spec.Profile, "unknown profile; allowed: %s", strings.Join(Profiles(), ", "))
		// Keep validating the rest against the dev defaults so every problem shows at once.
		defaults, err = profileDefaults(ProfileDev)
		if err != nil {
			return nil, err
		}
	}

	spec.Target = Target{
		Namespace:       stringKey(lookup, KeyNamespace, DefaultNamespace),
		CreateNamespace: boolKey(lookup, KeyCreateNamespace, true, &ps),
		ClusterDomain:   stringKey(lookup, KeyClusterDomain, DefaultClusterDomain),
		Kubeconfig:      stringKey(lookup, KeyKubeconfig, ""),
		KubeContext:     stringKey(lookup, KeyKubeContext, ""),
		RenderDir:       stringKey(lookup, KeyRenderDir, ""),
	}
	decodeObjectKey(lookup, KeyDataSafety, defaults[KeyDataSafety], &spec.DataSafety, &ps)
	decodeObjectKey(withoutMovedClientKeys(lookup, &ps), KeyNetworkPolicy, defaults[KeyNetworkPolicy], &spec.NetworkPolicy, &ps)
	decodeObjectKey(lookup, KeyMonitoring, defaults[KeyMonitoring], &spec.Monitoring, &ps)
	decodeObjectKey(lookup, KeyScheduling, defaults[KeyScheduling], &spec.Scheduling, &ps)
	spec.ImageRegistry = stringKey(lookup, KeyImageRegistry, profileString(defaults, KeyImageRegistry))
	decodeListValueKey(lookup, KeyPullSecrets, defaults[KeyPullSecrets], &spec.ImagePullSecrets, &ps)
	decodeListKey(lookup, KeyGreptimeDB, defaults[KeyGreptimeDB], &spec.GreptimeDB, &ps)
	decodeListKey(lookup, KeyQuasarDB, defaults[KeyQuasarDB], &spec.QuasarDB, &ps)

	readLicenseFiles(spec, &ps)
	validate(spec, &ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return spec, nil
}

// movedClientKeys are the keys that moved from the top-level networkPolicy to
// each cluster's: clients admitted to one database are not admitted to all.
var movedClientKeys = []string{"clientNamespaces", "clientCidrs"}

// withoutMovedClientKeys reports a top-level networkPolicy.clientNamespaces or
// .clientCidrs with the per-cluster keys that replace them, and hides them from
// the decoder (which would only call them unknown).
func withoutMovedClientKeys(lookup Lookup, ps *problems) Lookup {
	return func(key string) (string, bool) {
		raw, ok := lookup(key)
		if key != KeyNetworkPolicy || !ok || raw == "" {
			return raw, ok
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(raw), &obj); err != nil {
			return raw, ok // the decoder reports it
		}
		moved := false
		for _, k := range movedClientKeys {
			v, given := obj[k]
			if !given {
				continue
			}
			moved = true
			delete(obj, k)
			ps.add(KeyNetworkPolicy+"."+k, v, "moved per cluster, so that a client of one database is not admitted to every "+
				"other: set %s[i].networkPolicy.%s and %s[i].networkPolicy.%s on the clusters it applies to, and remove this key",
				KeyGreptimeDB, k, KeyQuasarDB, k)
		}
		if !moved {
			return raw, ok
		}
		cleaned, err := json.Marshal(obj)
		if err != nil {
			return raw, ok
		}
		return string(cleaned), true
	}
}

// Profiles lists the environment profiles.
func Profiles() []string { return []string{ProfileDev, ProfileStaging, ProfileProd} }

// profileDefaults parses the embedded defaults of one environment profile.
func profileDefaults(profile string) (map[string]any, error) {
	raw, err := profileFiles.ReadFile("profiles/" + profile + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("profile %q: %w", profile, err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("profile %q: %w", profile, err)
	}
	return m, nil
}

func stringKey(lookup Lookup, key, def string) string {
	if v, ok := lookup(key); ok {
		return v
	}
	return def
}

func boolKey(lookup Lookup, key string, def bool, ps *problems) bool {
	v, ok := lookup(key)
	if !ok || v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		ps.add(key, v, "not a boolean; allowed: true, false")
		return def
	}
	return b
}

// profileString is a string-valued key's profile default ("" when it has none).
func profileString(defaults map[string]any, key string) string {
	s, _ := defaults[key].(string)
	return s
}

// decodeListValueKey decodes a list-valued key, or its profile default when
// the stack does not set it.
func decodeListValueKey[T any](lookup Lookup, key string, def any, out *[]T, ps *problems) {
	raw, ok := lookup(key)
	if !ok || raw == "" {
		b, err := json.Marshal(def)
		if err != nil {
			ps.add(key, def, "the profile's default cannot be encoded: %v", err)
			return
		}
		raw = string(b)
	}
	var list []T
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		ps.add(key, raw, "must be a list, e.g. [\"registry-credentials\"]: %v", err)
		return
	}
	*out = list
}

// decodeObjectKey decodes an object-valued key merged over its profile default.
func decodeObjectKey[T any](lookup Lookup, key string, def any, out *T, ps *problems) {
	merged := cloneMap(asMap(def))
	if raw, ok := lookup(key); ok && raw != "" {
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			ps.add(key, raw, "not valid JSON: %v", err)
			return
		}
		obj, ok := v.(map[string]any)
		if !ok {
			ps.add(key, raw, "must be an object")
			return
		}
		merged = deepMerge(merged, obj)
	}
	decodeStrict(key, merged, out, ps)
}

// decodeListKey decodes a list of named clusters, each merged over the profile's
// per-cluster defaults.
func decodeListKey[T any](lookup Lookup, key string, def any, out *[]T, ps *problems) {
	raw, ok := lookup(key)
	if !ok || raw == "" {
		return
	}
	var v any
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		ps.add(key, raw, "not valid JSON: %v", err)
		return
	}
	list, ok := v.([]any)
	if !ok {
		ps.add(key, raw, "must be a list of clusters, e.g. [{\"name\": \"main\"}]")
		return
	}
	template := asMap(def)
	for i, item := range list {
		itemKey := fmt.Sprintf("%s[%d]", key, i)
		obj, ok := item.(map[string]any)
		if !ok {
			ps.add(itemKey, item, "must be an object with at least a name")
			*out = append(*out, *new(T))
			continue
		}
		var t T
		decodeStrict(itemKey, deepMerge(cloneMap(template), obj), &t, ps)
		*out = append(*out, t)
	}
}

// decodeStrict decodes m into out, reporting every value of the wrong type and every
// key the configuration does not know, each by its full config path.
func decodeStrict[T any](key string, m map[string]any, out *T, ps *problems) {
	for attempt := 0; attempt < 64; attempt++ {
		raw, err := json.Marshal(m)
		if err != nil {
			ps.add(key, nil, "cannot be encoded: %v", err)
			return
		}
		var t T
		err = json.Unmarshal(raw, &t)
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			path := configPath(m, strings.Split(typeErr.Field, "."))
			fieldKey := key + "." + strings.Join(path, ".")
			ps.add(fieldKey, lookupPath(m, path), "is a %s; want %s", typeErr.Value, describeType(typeErr.Type.Kind().String()))
			if !deletePath(m, path) {
				return
			}
			continue
		}
		if err != nil {
			ps.add(key, nil, "cannot be decoded: %v", err)
			return
		}
		*out = t
		reportUnknownKeys(key, m, t, ps)
		return
	}
}

// configPath turns the path of a decode error into config keys: an embedded
// struct (a component's spec inside a stack's cluster) shows in the path by its
// Go type name, which no config key has, so segments that the config does not
// have at that level are dropped.
func configPath(m map[string]any, segments []string) []string {
	var path []string
	cur := m
	for _, seg := range segments {
		v, ok := cur[seg]
		if !ok {
			continue
		}
		path = append(path, seg)
		next, _ := v.(map[string]any)
		cur = next
	}
	return path
}

func describeType(kind string) string {
	switch kind {
	case "int", "int64", "int32":
		return "a whole number"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	case "slice":
		return "a list"
	case "struct", "map":
		return "an object"
	}
	return kind
}

// reportUnknownKeys compares the user's keys with the fields the decoded value has.
func reportUnknownKeys(key string, given map[string]any, decoded any, ps *problems) {
	raw, err := json.Marshal(decoded)
	if err != nil {
		return
	}
	var known map[string]any
	if err := json.Unmarshal(raw, &known); err != nil {
		return
	}
	walkUnknown(key, given, known, ps)
}

func walkUnknown(key string, given, known map[string]any, ps *problems) {
	names := make([]string, 0, len(given))
	for name := range given {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path := key + "." + name
		k, ok := known[name]
		if !ok {
			ps.add(path, nil, "unknown key; known keys here: %s", strings.Join(slices.Sorted(maps.Keys(known)), ", "))
			continue
		}
		if g, ok := given[name].(map[string]any); ok {
			if km, ok := k.(map[string]any); ok {
				walkUnknown(path, g, km, ps)
			}
		}
		// The objects of a list (tolerations, terms): a typo in one is no
		// less unknown.
		if g, ok := given[name].([]any); ok {
			kl, _ := k.([]any)
			for i := range min(len(g), len(kl)) {
				gm, gok := g[i].(map[string]any)
				km, kok := kl[i].(map[string]any)
				if gok && kok {
					walkUnknown(fmt.Sprintf("%s[%d]", path, i), gm, km, ps)
				}
			}
		}
	}
}

func asMap(v any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

// cloneMap copies nested maps so merging never changes the profile template.
func cloneMap(m map[string]any) map[string]any {
	out := maps.Clone(m)
	for k, v := range out {
		if inner, ok := v.(map[string]any); ok {
			out[k] = cloneMap(inner)
		}
	}
	return out
}

// deepMerge overlays src on dst: objects merge key by key, everything else
// (scalars and lists) is replaced.
func deepMerge(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = deepMerge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

func lookupPath(m map[string]any, path []string) any {
	var cur any = m
	for _, p := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[p]
	}
	return cur
}

func deletePath(m map[string]any, path []string) bool {
	cur := m
	for i, p := range path {
		if i == len(path)-1 {
			if _, ok := cur[p]; !ok {
				return false
			}
			delete(cur, p)
			return true
		}
		next, ok := cur[p].(map[string]any)
		if !ok {
			return false
		}
		cur = next
	}
	return false
}

// readLicenseFiles reads each QuasarDB licenseFile into License, so the rest of the
// program sees one secret value wherever the license came from.
func readLicenseFiles(spec *Spec, ps *problems) {
	for i := range spec.QuasarDB {
		q := &spec.QuasarDB[i]
		if q.LicenseFile == "" {
			continue
		}
		key := fmt.Sprintf("%s[%d].licenseFile", KeyQuasarDB, i)
		if q.License != "" {
			ps.add(key, q.LicenseFile, "set either license or licenseFile, not both")
			continue
		}
		data, err := readSmallFile(q.LicenseFile, maxLicenseFileSize)
		if err != nil {
			ps.add(key, q.LicenseFile, "cannot read the license file: %v", err)
			continue
		}
		q.License = strings.TrimSpace(string(data))
		if q.License == "" {
			ps.add(key, q.LicenseFile, "the license file is empty")
		}
	}
}

// maxLicenseFileSize bounds what readSmallFile reads: a license key is a few lines.
const maxLicenseFileSize = 1 << 20

// readSmallFile reads a regular file of at most limit bytes. A device, a FIFO or a
// huge file is refused instead of blocking or exhausting memory.
func readSmallFile(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%d bytes; a license file is at most %d", fi.Size(), limit)
	}
	return os.ReadFile(path)
}

// GreptimeDBDefaults is a GreptimeDB cluster's spec as the profile sets it: the
// only source of defaults. Callers that build a cluster without a stack (tests,
// other programs) start from it.
func GreptimeDBDefaults(profile string) (GreptimeDBCluster, error) {
	return clusterDefaults[GreptimeDBCluster](profile, KeyGreptimeDB)
}

// QuasarDBDefaults is a QuasarDB cluster's spec as the profile sets it.
func QuasarDBDefaults(profile string) (QuasarDBCluster, error) {
	return clusterDefaults[QuasarDBCluster](profile, KeyQuasarDB)
}

func clusterDefaults[T any](profile, key string) (T, error) {
	var out T
	defaults, err := profileDefaults(profile)
	if err != nil {
		return out, err
	}
	var ps problems
	decodeStrict(key, asMap(defaults[key]), &out, &ps)
	if err := ps.err(); err != nil {
		return out, fmt.Errorf("profile %q: %w", profile, err)
	}
	return out, nil
}
