package tests

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tsdb-platform/components/greptimedb"
	"tsdb-platform/components/kube"
	"tsdb-platform/components/quasardb"
	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
	"tsdb-platform/tests/objects"
)

// alertSources are the metric names the alerts may read, each from what
// exports it. A name outside this list would be a series no documented source
// has, and its alert would never fire.
var alertSources = map[string]string{
	// kube-state-metrics v2 (its metric docs for StatefulSets, Deployments and Jobs):
	// the Kubernetes objects' status, by namespace and object name.
	"kube_statefulset_status_replicas_ready":    "kube-state-metrics",
	"kube_statefulset_replicas":                 "kube-state-metrics",
	"kube_deployment_status_replicas_available": "kube-state-metrics",
	"kube_deployment_spec_replicas":             "kube-state-metrics",
	"kube_job_failed":                           "kube-state-metrics",
	"kube_job_status_completion_time":           "kube-state-metrics",
	// etcd v3.5 and later (server/etcdserver/metrics.go: namespace etcd,
	// subsystem server, name has_leader), scraped by etcd's PodMonitor.
	"etcd_server_has_leader": "etcd",
}

// promqlWords are the PromQL functions, aggregations and keywords the alerts use.
var promqlWords = []string{"max", "vector", "on", "or"}

type rule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// rulesOf decodes the one group of the PrometheusRule named name.
func rulesOf(t *testing.T, res *mockrun.Result, name string) (map[string]any, []rule) {
	t.Helper()
	in := objects.Inputs(objects.Find(t, res, kube.PrometheusRuleType, name))
	raw, err := json.Marshal(in["spec"])
	require.NoError(t, err)
	var spec struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []rule `json:"rules"`
		} `json:"groups"`
	}
	require.NoError(t, json.Unmarshal(raw, &spec))
	require.Len(t, spec.Groups, 1, name)
	assert.Equal(t, name, spec.Groups[0].Name)
	return in, spec.Groups[0].Rules
}

var (
	selectorRe = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}`)
	matcherRe  = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$`)
	wordRe     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	durationRe = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
)

// checkExpr is a light PromQL check (the full parser would pull the whole
// Prometheus module into the build): brackets balance outside strings, every
// selector has a metric name from alertSources and well-formed matchers whose
// regular expressions compile, each selector names the namespace and matches
// one of names by its name label, and nothing else is a bare word but the
// PromQL words the alerts use. It returns the problems.
func checkExpr(expr, namespace string, names []string) []string {
	var problems []string
	var stack []rune
	inString := false
	for i, c := range expr {
		switch {
		case inString && c == '\\':
			continue
		case c == '"' && (i == 0 || expr[i-1] != '\\'):
			inString = !inString
		case inString:
		case c == '(' || c == '{' || c == '[':
			stack = append(stack, c)
		case c == ')' || c == '}' || c == ']':
			open := map[rune]rune{')': '(', '}': '{', ']': '['}[c]
			if len(stack) == 0 || stack[len(stack)-1] != open {
				return append(problems, fmt.Sprintf("unbalanced %q at %d", c, i))
			}
			stack = stack[:len(stack)-1]
		}
	}
	if inString || len(stack) > 0 {
		problems = append(problems, "unterminated string or bracket")
	}
	selectors := selectorRe.FindAllStringSubmatch(expr, -1)
	if len(selectors) == 0 {
		problems = append(problems, "no selector")
	}
	for _, s := range selectors {
		if _, ok := alertSources[s[1]]; !ok {
			problems = append(problems, fmt.Sprintf("metric %s: no documented source exports it", s[1]))
		}
		var scoped, named bool
		for _, m := range strings.Split(s[2], ", ") {
			mm := matcherRe.FindStringSubmatch(m)
			if mm == nil {
				problems = append(problems, fmt.Sprintf("%s: bad matcher %q", s[1], m))
				continue
			}
			if strings.HasSuffix(mm[2], "~") {
				if _, err := regexp.Compile("^(?:" + mm[3] + ")$"); err != nil {
					problems = append(problems, fmt.Sprintf("%s: %v", s[1], err))
				}
			}
			if mm[1] == "namespace" && mm[2] == "=" && mm[3] == namespace {
				scoped = true
			}
			if slices.Contains([]string{"statefulset", "deployment", "job_name", "pod"}, mm[1]) {
				named = namesOneOf(mm[3], names)
			}
		}
		if !scoped {
			problems = append(problems, fmt.Sprintf("%s: not scoped to namespace %s", s[0], namespace))
		}
		if !named {
			problems = append(problems, fmt.Sprintf("%s: names none of %v", s[0], names))
		}
	}
	rest := selectorRe.ReplaceAllString(expr, "")
	rest = regexp.MustCompile(`\((namespace|statefulset|deployment)(, [a-z]+)*\)`).ReplaceAllString(rest, "")
	for _, w := range wordRe.FindAllString(rest, -1) {
		if !slices.Contains(promqlWords, w) {
			problems = append(problems, fmt.Sprintf("unexpected word %q", w))
		}
	}
	return problems
}

// namesOneOf reports whether each alternative of a matcher's value is one of
// names or starts with one and a dash (a pod's or a CronJob's Job's name): a
// value in parentheses is alternatives.
func namesOneOf(value string, names []string) bool {
	alts := []string{value}
	if strings.HasPrefix(value, "(") && strings.HasSuffix(value, ")") {
		alts = strings.Split(value[1:len(value)-1], "|")
	}
	for _, alt := range alts {
		if !slices.ContainsFunc(names, func(n string) bool { return alt == n || strings.HasPrefix(alt, n+"-") }) {
			return false
		}
	}
	return true
}

// checkRules requires each rule to be well formed: a severity, a summary and
// a description, a valid "for", and an expression that passes checkExpr.
func checkRules(t *testing.T, rules []rule, namespace string, names []string) {
	t.Helper()
	for _, r := range rules {
		assert.Contains(t, []string{kube.SeverityCritical, kube.SeverityWarning}, r.Labels["severity"], r.Alert)
		assert.NotEmpty(t, r.Annotations["summary"], r.Alert)
		assert.NotEmpty(t, r.Annotations["description"], r.Alert)
		if r.For != "" {
			assert.Regexp(t, durationRe, r.For, r.Alert)
		}
		assert.Empty(t, checkExpr(r.Expr, namespace, names), "%s: %s", r.Alert, r.Expr)
	}
}

// alertsRun runs a GreptimeDB cluster with flownodes and both backups, and a
// QuasarDB cluster without exporter, with PrometheusRules on.
func alertsRun(t *testing.T, etcd map[string]any) *mockrun.Result {
	t.Helper()
	backup := map[string]any{"database": map[string]any{"enabled": true}}
	if etcd == nil {
		backup["etcd"] = map[string]any{"enabled": true}
	}
	cluster := map[string]any{"name": "metrics", "flownode": map[string]any{"enabled": true},
		"datanode": map[string]any{"rolloutTimeoutSeconds": 900, "objectStorage": map[string]any{
			"type": "S3", "bucket": "tsdb", "region": "eu-west-1", "accessKeyId": "AKID", "secretAccessKey": "SECRET"}},
		"backup": backup}
	if etcd != nil {
		cluster["etcd"] = etcd
	}
	cfg := objects.StackConfig(t, stacks.KeyGreptimeDB, []map[string]any{cluster}, map[string]string{
		stacks.KeyMonitoring:    `{"enabled": true, "podMonitors": true, "prometheusRules": true, "labels": {"release": "kps"}}`,
		stacks.KeyQuasarDB:      `[{"name": "ticks"}]`,
		stacks.KeyNetworkPolicy: `{"enabled": true}`,
	})
	return objects.Run(t, cfg)
}

// TestPrometheusRules: with prometheusRules on, each cluster gets a
// PrometheusRule, labelled for the ruleSelector, with an alert per GreptimeDB
// component whose replicas are not all ready, etcd without a leader, failed
// backup and maintenance Jobs and maintenance mode left on (waiting out a
// datanode rollout and the "off" Job); QuasarDB's with its nodes down (from
// kube-state-metrics, without the exporter). Every expression is well formed,
// reads only series of the documented sources and is scoped to the cluster's
// namespace and objects.
func TestPrometheusRules(t *testing.T) {
	res := alertsRun(t, nil)
	_, rules := rulesOf(t, res, "metrics-alerts")
	meta := objects.Meta(t, objects.Find(t, res, kube.PrometheusRuleType, "metrics-alerts"))
	assert.Equal(t, "kps", meta.Labels["release"], "for the ruleSelector")
	assert.Equal(t, "metrics", meta.Labels[kube.LabelInstance])
	assert.Equal(t, objects.TestNamespace, meta.Namespace)
	byName := map[string][]rule{}
	for _, r := range rules {
		byName[r.Alert] = append(byName[r.Alert], r)
	}
	var down []string
	for _, r := range byName[greptimedb.AlertComponentDown] {
		down = append(down, r.Expr)
	}
	assert.Equal(t, []string{
		`kube_statefulset_status_replicas_ready{namespace="tsdb-test", statefulset="metrics-etcd"} < on (namespace, statefulset) kube_statefulset_replicas{namespace="tsdb-test", statefulset="metrics-etcd"}`,
		`kube_deployment_status_replicas_available{namespace="tsdb-test", deployment="metrics-meta"} < on (namespace, deployment) kube_deployment_spec_replicas{namespace="tsdb-test", deployment="metrics-meta"}`,
		`kube_statefulset_status_replicas_ready{namespace="tsdb-test", statefulset="metrics-datanode"} < on (namespace, statefulset) kube_statefulset_replicas{namespace="tsdb-test", statefulset="metrics-datanode"}`,
		`kube_deployment_status_replicas_available{namespace="tsdb-test", deployment="metrics-frontend"} < on (namespace, deployment) kube_deployment_spec_replicas{namespace="tsdb-test", deployment="metrics-frontend"}`,
		`kube_statefulset_status_replicas_ready{namespace="tsdb-test", statefulset="metrics-flownode"} < on (namespace, statefulset) kube_statefulset_replicas{namespace="tsdb-test", statefulset="metrics-flownode"}`,
	}, down, "one per component, by its workload's kind and name")
	require.Len(t, byName[greptimedb.AlertEtcdNoLeader], 1)
	assert.Equal(t, `etcd_server_has_leader{namespace="tsdb-test", pod=~"metrics-etcd-[0-9]+"} == 0`, byName[greptimedb.AlertEtcdNoLeader][0].Expr)
	require.Len(t, byName[greptimedb.AlertBackupFailed], 1)
	assert.Equal(t, `kube_job_failed{namespace="tsdb-test", job_name=~"(metrics-etcd-backup-[0-9]+|metrics-backup-[0-9]+)", condition="true"} > 0`,
		byName[greptimedb.AlertBackupFailed][0].Expr, "the Jobs of both backup CronJobs")
	require.Len(t, byName[greptimedb.AlertMaintenanceJobFailed], 1)
	assert.Contains(t, byName[greptimedb.AlertMaintenanceJobFailed][0].Expr, `job_name=~"metrics-maintenance-(on|off)"`)
	require.Len(t, byName[greptimedb.AlertMaintenanceLeftOn], 1)
	leftOn := byName[greptimedb.AlertMaintenanceLeftOn][0]
	assert.Equal(t, `max(kube_job_status_completion_time{namespace="tsdb-test", job_name="metrics-maintenance-on"}) > `+
		`(max(kube_job_status_completion_time{namespace="tsdb-test", job_name="metrics-maintenance-off"}) or vector(0))`, leftOn.Expr)
	assert.Equal(t, "25m", leftOn.For, "the rollout timeout (15m) and the off Job's deadline (10m)")
	checkRules(t, rules, objects.TestNamespace, []string{"metrics-etcd", "metrics-meta", "metrics-datanode", "metrics-frontend",
		"metrics-flownode", "metrics-backup", "metrics-etcd-backup", "metrics-maintenance"})

	_, qdb := rulesOf(t, res, "ticks-alerts")
	require.Len(t, qdb, 1)
	assert.Equal(t, quasardb.AlertNodeDown, qdb[0].Alert)
	checkRules(t, qdb, objects.TestNamespace, []string{"ticks"})
	assert.Len(t, res.OfType(kube.PrometheusRuleType), 2, "one per cluster")
}

// TestPrometheusRulesExternalEtcd: with an external etcd the cluster has no
// etcd alerts (nor etcd backups to watch).
func TestPrometheusRulesExternalEtcd(t *testing.T) {
	res := alertsRun(t, map[string]any{"endpoints": []any{"etcd.example.com:2379"}})
	_, rules := rulesOf(t, res, "metrics-alerts")
	for _, r := range rules {
		assert.NotEqual(t, greptimedb.AlertEtcdNoLeader, r.Alert)
		assert.NotContains(t, r.Expr, "metrics-etcd", r.Alert)
	}
}

// TestPrometheusRulesOff: no PrometheusRule unless chosen, and choosing it
// without PodMonitors (whose series labels the alerts rely on) is refused
// by key, with the fix.
func TestPrometheusRulesOff(t *testing.T) {
	for _, monitoring := range []string{`{"enabled": true, "podMonitors": true}`, `{"enabled": false, "podMonitors": true, "prometheusRules": true}`} {
		res := objects.Run(t, objects.StackConfig(t, stacks.KeyGreptimeDB, []map[string]any{{"name": "metrics"}},
			map[string]string{stacks.KeyMonitoring: monitoring}))
		assert.Empty(t, res.OfType(kube.PrometheusRuleType), monitoring)
	}
	cfgErr := objects.ConfigError(t, map[string]string{stacks.KeyKubeContext: "test", stacks.KeyGreptimeDB: `[{"name": "metrics"}]`,
		stacks.KeyMonitoring: `{"enabled": true, "prometheusRules": true}`})
	assert.Equal(t, []string{"monitoring.prometheusRules"}, cfgErr.Keys())
	assert.Contains(t, cfgErr.Error(), "monitoring.podMonitors")
}

// TestCheckExprCatchesMistakes: the expression check rejects an unknown
// metric, an unscoped selector, a broken bracket, a bad regular expression and
// a stray word.
func TestCheckExprCatchesMistakes(t *testing.T) {
	for _, expr := range []string{
		`kube_pod_ready{namespace="ns", pod="a-0"} == 0`,
		`kube_job_failed{job_name="a-1"} > 0`,
		`max(kube_job_failed{namespace="ns", job_name="a-1"} > 0`,
		`kube_job_failed{namespace="ns", job_name=~"a-(["} > 0`,
		`kube_job_failed{namespace="ns", job_name="a-1"} > bogus`,
		`kube_job_failed{namespace="ns", job_name="b-1"} > 0`,
	} {
		assert.NotEmpty(t, checkExpr(expr, "ns", []string{"a"}), expr)
	}
	assert.Empty(t, checkExpr(`kube_job_failed{namespace="ns", job_name="a-1"} > 0`, "ns", []string{"a"}))
}
