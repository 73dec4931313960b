package upstream

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"tsdb-platform/tests/manifests"
)

// GreptimeDB's labels and file names, as the program writes them.
const (
	labelName      = "app.kubernetes.io/name"
	labelComponent = "app.kubernetes.io/component"
	greptimeApp    = "greptimedb"
	configKey      = "config.toml"
	configVolume   = "config"
	greptimeEnv    = "GREPTIMEDB_"
	etcdEnv        = "ETCD_"
	etcdctlEnv     = "ETCDCTL_"
	etcdctlAPIEnv  = "ETCDCTL_API"
	qdbEnv         = "QDB_"
	k8sEnv         = "K8S_"
	qdbImage       = "bureau14/qdb"
)

// envPrefixes are the GREPTIMEDB_<COMPONENT> names (src/cmd/src/<c>.rs
// --env-prefix defaults), by the component label of the program's objects and
// by the subcommand of `greptime <subcommand> start`.
var (
	envComponentOfLabel = map[string]string{"meta": "METASRV", "datanode": "DATANODE", "frontend": "FRONTEND", "flownode": "FLOWNODE"}
	envComponentOfCmd   = map[string]string{"metasrv": "METASRV", "datanode": "DATANODE", "frontend": "FRONTEND", "flownode": "FLOWNODE"}
)

// Checker checks a stack's objects against the lists and counts, per list
// file, how many keys and flags it checked, so that a test can tell a check
// that passed from one that found nothing to check.
type Checker struct {
	Lists   *Lists
	Checked map[string]int
}

// NewChecker checks against lists.
func NewChecker(lists *Lists) *Checker {
	return &Checker{Lists: lists, Checked: map[string]int{}}
}

// greptimeConfig is a GreptimeDB ConfigMap's config file, flattened.
type greptimeConfig struct {
	component string // METASRV, DATANODE, FRONTEND or FLOWNODE
	values    map[string]string
}

// Check returns every key and flag of the stack's objects that the upstream
// binaries do not accept, each naming the stack, the object, the key or flag
// and the list it is missing from.
func (c *Checker) Check(stack string, objs []manifests.Object) []string {
	var problems []string
	report := func(obj *unstructured.Unstructured, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("stack %s: %s %s/%s: %s", stack, obj.GetKind(), obj.GetNamespace(), obj.GetName(),
			fmt.Sprintf(format, args...)))
	}
	configs := map[string]greptimeConfig{}
	for _, o := range objs {
		if o.Body.GetKind() == "ConfigMap" {
			if cfg, ok := c.checkConfigMap(o.Body, report); ok {
				configs[o.Body.GetNamespace()+"/"+o.Body.GetName()] = cfg
			}
		}
	}
	for _, o := range objs {
		pod, found, err := podSpec(o.Body)
		if err != nil {
			report(o.Body, "%v", err)
			continue
		}
		if !found {
			continue
		}
		var cfg *greptimeConfig
		for _, v := range pod.Volumes {
			if v.Name == configVolume && v.ConfigMap != nil {
				if gc, ok := configs[o.Body.GetNamespace()+"/"+v.ConfigMap.Name]; ok {
					cfg = &gc
				}
			}
		}
		for _, ct := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
			c.checkContainer(ct, cfg, func(format string, args ...any) {
				report(o.Body, "container %s: %s", ct.Name, fmt.Sprintf(format, args...))
			})
		}
	}
	sort.Strings(problems)
	return problems
}

// checkConfigMap checks a GreptimeDB component's config file, key by key.
func (c *Checker) checkConfigMap(obj *unstructured.Unstructured, report func(*unstructured.Unstructured, string, ...any)) (greptimeConfig, bool) {
	labels := obj.GetLabels()
	data, _, _ := unstructured.NestedStringMap(obj.Object, "data")
	text, ok := data[configKey]
	if labels[labelName] != greptimeApp || !ok {
		return greptimeConfig{}, false
	}
	component, ok := envComponentOfLabel[labels[labelComponent]]
	if !ok {
		report(obj, "a GreptimeDB config file of component %q, which has no key list", labels[labelComponent])
		return greptimeConfig{}, false
	}
	values, err := flattenTOML(text)
	if err != nil {
		report(obj, "%s: %v", configKey, err)
		return greptimeConfig{}, false
	}
	list := c.Lists.Keys[component]
	for _, key := range sortedKeys(values) {
		c.Checked[list.File]++
		if ok, why := list.Allowed(key, values); !ok {
			report(obj, "%s key %q %s", configKey, key, why)
		}
	}
	return greptimeConfig{component: component, values: values}, true
}

// checkContainer checks the flags of every known binary the container runs and
// the environment variables those binaries read as config.
func (c *Checker) checkContainer(ct corev1.Container, cfg *greptimeConfig, report func(string, ...any)) {
	entrypoint := ""
	if imageRepo(ct.Image) == "greptime/greptimedb" || strings.HasSuffix(imageRepo(ct.Image), "/greptimedb") {
		// The image's entrypoint runs greptime with the container's args
		// (docker/ci/ubuntu/Dockerfile ENTRYPOINT, TARGET_BIN=greptime).
		entrypoint = Greptime
	}
	invs := invocations(entrypoint, ct.Command, ct.Args, []string{Greptime, Etcd, Etcdctl, Exporter})
	runs := map[string][]string{} // binary -> its flags
	greptimeComponent := ""
	for _, inv := range invs {
		list := c.Lists.Flags[inv.binary]
		c.checkVersion(inv.binary, ct.Image, list.File, report)
		sub, ok := subcommandOf(list, inv.args)
		if !ok {
			report("runs %s %s: no subcommand of %s", inv.binary, strings.Join(inv.args, " "), list.File)
			continue
		}
		if inv.binary == Greptime {
			greptimeComponent = envComponentOfCmd[strings.Fields(sub)[0]]
		}
		for _, flag := range flagsOf(inv.args) {
			if inv.binary == Etcd {
				// Go's flag package reads -name as --name.
				flag = "--" + strings.TrimLeft(flag, "-")
			}
			c.Checked[list.File]++
			runs[inv.binary] = append(runs[inv.binary], flag)
			if !list.Allowed(sub, flag) {
				report("%s flag %s is not in %s%s", inv.binary, flag, list.File, sectionName(sub))
			}
		}
	}
	if entrypoint == Greptime && greptimeComponent == "" {
		report("runs the GreptimeDB image, but no `greptime <component> start` command line was found to check")
	}
	if imageRepo(ct.Image) == qdbImage || strings.HasSuffix(imageRepo(ct.Image), "/qdb") {
		c.checkQDBEnv(ct, report)
	}
	for _, env := range ct.Env {
		switch {
		case strings.HasPrefix(env.Name, greptimeEnv):
			c.checkGreptimeEnv(env.Name, greptimeComponent, cfg, report)
		case strings.HasPrefix(env.Name, etcdctlEnv) && runs[Etcdctl] != nil:
			c.checkEtcdctlEnv(env, report)
		case strings.HasPrefix(env.Name, etcdEnv) && runs[Etcd] != nil:
			c.checkEtcdEnv(env.Name, runs[Etcd], report)
		}
	}
}

// checkGreptimeEnv checks GREPTIMEDB_<COMPONENT>__A__B, which GreptimeDB reads
// as key a.b (common-config load_layered_options: config-rs Environment with
// the prefix, separator "__", keys lower-cased).
func (c *Checker) checkGreptimeEnv(name, runs string, cfg *greptimeConfig, report func(string, ...any)) {
	component, rest, ok := strings.Cut(strings.TrimPrefix(name, greptimeEnv), "__")
	if !ok {
		return // not of the GREPTIMEDB_<COMPONENT>__<KEY> shape GreptimeDB reads
	}
	list := c.Lists.Keys[component]
	if list == nil || rest == "" {
		report("environment variable %s names no GreptimeDB component with a key list (GREPTIMEDB_METASRV__, _DATANODE__, _FRONTEND__, _FLOWNODE__)", name)
		return
	}
	if runs != "" && runs != component {
		report("environment variable %s is read only by the %s, but the container runs the %s (GREPTIMEDB_%s__...)",
			name, strings.ToLower(component), strings.ToLower(runs), runs)
		return
	}
	var values map[string]string
	if cfg != nil && cfg.component == component {
		values = cfg.values
	}
	key := strings.ReplaceAll(strings.ToLower(rest), "__", ".")
	c.Checked[list.File]++
	if ok, why := list.Allowed(key, values); !ok {
		report("environment variable %s (key %q) %s", name, key, why)
		return
	}
	if _, inFile := values[key]; inFile {
		// load_layered_options: the config file wins over the environment.
		report("environment variable %s is ignored: the config file sets %q too, and the file wins", name, key)
	}
}

// checkEtcdEnv checks ETCD_<FLAG>, which etcd reads as --<flag> and which must
// not repeat a flag on the command line (fatal in v3.5, pkg/flags verifyEnv).
func (c *Checker) checkEtcdEnv(name string, flags []string, report func(string, ...any)) {
	list := c.Lists.Flags[Etcd]
	flag := "--" + strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, etcdEnv)), "_", "-")
	c.Checked[list.File]++
	switch {
	case !list.Allowed("", flag):
		report("environment variable %s (flag %s) is not in %s", name, flag, list.File)
	case slices.Contains(flags, flag):
		report("environment variable %s repeats the flag %s: etcd refuses to start (conflicting environment variable)", name, flag)
	}
}

// checkEtcdctlEnv checks ETCDCTL_API (v3 only) and ETCDCTL_<GLOBAL FLAG>.
func (c *Checker) checkEtcdctlEnv(env corev1.EnvVar, report func(string, ...any)) {
	list := c.Lists.Flags[Etcdctl]
	c.Checked[list.File]++
	if env.Name == etcdctlAPIEnv {
		if env.Value != "3" && env.Value != "" {
			report("%s=%q: the lists are for API v3", etcdctlAPIEnv, env.Value)
		}
		return
	}
	flag := "--" + strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env.Name, etcdctlEnv)), "_", "-")
	if !list.Allowed(Global, flag) {
		report("environment variable %s (global flag %s) is not in %s [%s]", env.Name, flag, list.File, Global)
	}
}

// checkQDBEnv checks the QuasarDB server container's QDB_* and K8S_* variables,
// which the image's entrypoint reads (any other name it ignores), and that the
// image is the version the list was read at.
func (c *Checker) checkQDBEnv(ct corev1.Container, report func(string, ...any)) {
	list := c.Lists.QDBEnv
	c.checkVersion(QDB, ct.Image, list.File, report)
	for _, env := range ct.Env {
		if !strings.HasPrefix(env.Name, qdbEnv) && !strings.HasPrefix(env.Name, k8sEnv) {
			continue
		}
		c.Checked[list.File]++
		if !list.Allowed(env.Name) {
			report("environment variable %s is not in %s: the image's entrypoint ignores it", env.Name, list.File)
		}
	}
}

// checkVersion reports an image whose tag is not the version the binary's list
// was read at.
func (c *Checker) checkVersion(binary, image, file string, report func(string, ...any)) {
	want := c.Lists.Versions[binary]
	tag := imageTag(image)
	if strings.TrimPrefix(tag, "v") != strings.TrimPrefix(want, "v") {
		report("runs %s from %s, but %s lists %s %s: regenerate the list for that version (see its header)",
			binary, image, file, binary, want)
	}
}

// sectionName names the list's sections a subcommand's flags come from, for
// messages: "" for a binary without subcommands.
func sectionName(sub string) string {
	if sub == "" {
		return ""
	}
	return " [" + sub + " or " + Global + "]"
}

// imageRepo is an image reference without its tag or digest.
func imageRepo(image string) string {
	image, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[:i]
	}
	return image
}

// imageTag is an image reference's tag, "" without one.
func imageTag(image string) string {
	image, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[i+1:]
	}
	return ""
}

// podSpec is the pod template of a workload or (Cron)Job, decoded.
func podSpec(obj *unstructured.Unstructured) (corev1.PodSpec, bool, error) {
	var path []string
	switch obj.GetKind() {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		path = []string{"spec", "template", "spec"}
	case "CronJob":
		path = []string{"spec", "jobTemplate", "spec", "template", "spec"}
	case "Pod":
		path = []string{"spec"}
	default:
		return corev1.PodSpec{}, false, nil
	}
	m, found, err := unstructured.NestedMap(obj.Object, path...)
	if err != nil || !found {
		return corev1.PodSpec{}, false, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return corev1.PodSpec{}, false, err
	}
	var spec corev1.PodSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return corev1.PodSpec{}, false, fmt.Errorf("pod template: %w", err)
	}
	return spec, true, nil
}

// flattenTOML is a TOML document's leaves by dotted path; the elements of an
// array of tables share the array's path, an array of values is one leaf.
func flattenTOML(text string) (map[string]string, error) {
	var doc map[string]any
	if err := toml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, e := range t {
				walk(join(prefix, k), e)
			}
		case []any:
			tables := len(t) > 0
			for _, e := range t {
				if _, ok := e.(map[string]any); !ok {
					tables = false
				}
			}
			if !tables {
				out[prefix] = fmt.Sprint(t)
				return
			}
			for _, e := range t {
				walk(prefix, e)
			}
		default:
			out[prefix] = fmt.Sprint(t)
		}
	}
	walk("", doc)
	return out, nil
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
