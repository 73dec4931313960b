package tests

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
	"tsdb-platform/tests/objects"
)

// TestBadSchedulingAndRegistryAreRejected is the table of scheduling and
// registry settings a user can get wrong: each is refused before anything is
// registered, naming the key, the value, what is allowed and the fix.
func TestBadSchedulingAndRegistryAreRejected(t *testing.T) {
	tests := []struct {
		name    string
		config  map[string]string
		key     string
		message []string
	}{
		{"toleration operator", map[string]string{"scheduling": `{"tolerations":[{"key":"a","operator":"In"}]}`},
			"scheduling.tolerations[0].operator", []string{`"In"`, "Equal, Exists"}},
		{"toleration effect", map[string]string{"scheduling": `{"tolerations":[{"key":"a","operator":"Exists","effect":"NoRun"}]}`},
			"scheduling.tolerations[0].effect", []string{`"NoRun"`, "NoSchedule, PreferNoSchedule, NoExecute"}},
		{"toleration value with Exists", map[string]string{"scheduling": `{"tolerations":[{"key":"a","operator":"Exists","value":"b"}]}`},
			"scheduling.tolerations[0].value", []string{`"b"`, "remove the value"}},
		{"toleration without a key needs Exists", map[string]string{"scheduling": `{"tolerations":[{"operator":"Equal","value":"b"}]}`},
			"scheduling.tolerations[0].operator", []string{"set operator: Exists"}},
		{"tolerationSeconds without NoExecute", map[string]string{"scheduling": `{"tolerations":[{"key":"a","operator":"Exists","effect":"NoSchedule","tolerationSeconds":30}]}`},
			"scheduling.tolerations[0].tolerationSeconds", []string{"30", "set effect: NoExecute"}},
		{"toleration key typo", map[string]string{"scheduling": `{"tolerations":[{"kee":"a","operator":"Exists"}]}`},
			"scheduling.tolerations[0].kee", []string{"unknown key", "key, operator, tolerationSeconds, value"}},
		{"node selector key", map[string]string{"greptimedb": `[{"name":"m","meta":{"scheduling":{"nodeSelector":{"bad key":"x"}}}}]`},
			"greptimedb[0].meta.scheduling.nodeSelector", []string{`"bad key"`, "label key"}},
		{"spread maxSkew", map[string]string{"scheduling": `{"topologySpreadConstraints":[{"maxSkew":0,"topologyKey":"kubernetes.io/hostname","whenUnsatisfiable":"DoNotSchedule"}]}`},
			"scheduling.topologySpreadConstraints[0].maxSkew", []string{"0", "at least 1"}},
		{"spread whenUnsatisfiable", map[string]string{"quasardb": `[{"name":"q","scheduling":{"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"kubernetes.io/hostname","whenUnsatisfiable":"Never"}]}}]`},
			"quasardb[0].scheduling.topologySpreadConstraints[0].whenUnsatisfiable", []string{`"Never"`, "DoNotSchedule, ScheduleAnyway"}},
		{"spread without a topology key", map[string]string{"scheduling": `{"topologySpreadConstraints":[{"maxSkew":1,"whenUnsatisfiable":"ScheduleAnyway"}]}`},
			"scheduling.topologySpreadConstraints[0].topologyKey", []string{"required", "topology.kubernetes.io/zone"}},
		{"spread minDomains needs DoNotSchedule", map[string]string{"scheduling": `{"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"ScheduleAnyway","minDomains":2}]}`},
			"scheduling.topologySpreadConstraints[0].minDomains", []string{"DoNotSchedule"}},
		{"node affinity operator", map[string]string{"greptimedb": `[{"name":"m","etcd":{"scheduling":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"Equals","values":["a"]}]}]}}}}}}]`},
			"greptimedb[0].etcd.scheduling.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator",
			[]string{`"Equals"`, "In, NotIn, Exists, DoesNotExist, Gt, Lt"}},
		{"pod affinity weight", map[string]string{"greptimedb": `[{"name":"m","datanode":{"scheduling":{"affinity":{"podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":0,"podAffinityTerm":{"topologyKey":"zone"}}]}}}}}]`},
			"greptimedb[0].datanode.scheduling.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", []string{"between 1 and 100"}},
		{"priority class name", map[string]string{"scheduling": `{"priorityClassName":"High_Priority"}`},
			"scheduling.priorityClassName", []string{`"High_Priority"`, "PriorityClass"}},
		{"registry with a scheme", map[string]string{"imageRegistry": "https://registry.example.com/mirror"},
			"imageRegistry", []string{`"https://registry.example.com/mirror"`, "no scheme", "set it to registry.example.com/mirror"}},
		{"registry with a trailing slash", map[string]string{"imageRegistry": "registry.example.com/mirror/"},
			"imageRegistry", []string{"no trailing slash", "set it to registry.example.com/mirror"}},
		{"registry with a bad port", map[string]string{"imageRegistry": "registry.example.com:99999"},
			"imageRegistry", []string{`"99999"`, "host[:port][/path]"}},
		{"registry with a tag", map[string]string{"imageRegistry": "registry.example.com/mirror:v1"},
			"imageRegistry", []string{`"mirror:v1"`, "no tag"}},
		{"pull secret name", map[string]string{"imagePullSecrets": `["Registry_Creds"]`},
			"imagePullSecrets[0]", []string{`"Registry_Creds"`, "Secret name", "e.g. registry-credentials"}},
		{"pull secret twice", map[string]string{"imagePullSecrets": `["creds","creds"]`},
			"imagePullSecrets[1]", []string{"listed twice"}},
		{"pull secrets not a list", map[string]string{"imagePullSecrets": `"creds"`},
			"imagePullSecrets", []string{"must be a list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireProblem(t, with(tt.config), tt.key, tt.message)
		})
	}
}

// TestGoodSchedulingAndRegistryLoad: the shapes the README shows are accepted,
// and a component's keys replace the stack's one by one.
func TestGoodSchedulingAndRegistryLoad(t *testing.T) {
	spec, err := stacks.Load(stacks.MapLookup(with(map[string]string{
		"scheduling":       `{"tolerations":[{"operator":"Exists"}],"nodeSelector":{"pool":"db"},"priorityClassName":"tsdb-high"}`,
		"imageRegistry":    "10.0.0.5:5000",
		"imagePullSecrets": `["creds"]`,
		"greptimedb":       `[{"name":"metrics","meta":{"scheduling":{"tolerations":[]}}}]`,
	})))
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.5:5000", spec.ImageRegistry)
	assert.Equal(t, []string{"creds"}, spec.ImagePullSecrets)
	meta := spec.GreptimeDB[0].Meta.Scheduling.Over(spec.Scheduling)
	assert.Empty(t, meta.Tolerations, "meta's empty list replaces the stack's tolerations")
	assert.Equal(t, map[string]string{"pool": "db"}, meta.NodeSelector, "meta inherits the keys it does not set")
	require.NotNil(t, meta.PriorityClassName)
	assert.Equal(t, "tsdb-high", *meta.PriorityClassName)
	frontend := spec.GreptimeDB[0].Frontend.Scheduling.Over(spec.Scheduling)
	assert.Len(t, frontend.Tolerations, 1, "a component without scheduling has the stack's")
}

// podSpecs are the pod specs of every workload, Job and CronJob a run
// registered, by "<kind> <name>".
func podSpecs(t *testing.T, res *mockrun.Result) map[string]corev1.PodSpec {
	t.Helper()
	out := map[string]corev1.PodSpec{}
	for _, r := range res.Resources {
		switch r.Type {
		case objects.StatefulSetType:
			out["StatefulSet "+r.Name] = objects.Decode[appsv1.StatefulSet](t, r).Spec.Template.Spec
		case objects.DeploymentType:
			out["Deployment "+r.Name] = objects.Decode[appsv1.Deployment](t, r).Spec.Template.Spec
		case objects.JobType:
			out["Job "+r.Name] = objects.Decode[batchv1.Job](t, r).Spec.Template.Spec
		case objects.CronJobType:
			out["CronJob "+r.Name] = objects.Decode[batchv1.CronJob](t, r).Spec.JobTemplate.Spec.Template.Spec
		}
	}
	return out
}

func runFullStack(t *testing.T) *mockrun.Result {
	t.Helper()
	root, err := mockrun.RepoRoot()
	require.NoError(t, err)
	res, _, err := mockrun.RunStackFile(filepath.Join(root, "tests", "testdata", "stacks", "Pulumi.full.yaml"), "full", false)
	require.NoError(t, err)
	return res
}

// TestFullStackPullsEveryImageThroughTheRegistry walks every container and
// init container of every object of the full stack: each image starts with
// the registry prefix, and each pod pulls with the Secrets.
func TestFullStackPullsEveryImageThroughTheRegistry(t *testing.T) {
	const prefix = "registry.example.com:5000/mirror/"
	pods := podSpecs(t, runFullStack(t))
	require.NotEmpty(t, pods)
	var images int
	for name, pod := range pods {
		assert.Equal(t, []corev1.LocalObjectReference{{Name: "registry-credentials"}, {Name: "mirror-credentials"}}, pod.ImagePullSecrets, name)
		for _, c := range append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...) {
			images++
			assert.True(t, strings.HasPrefix(c.Image, prefix), "%s container %s pulls %s, not through %s", name, c.Name, c.Image, prefix)
		}
	}
	assert.Greater(t, images, len(pods))
	for _, kind := range []string{"StatefulSet", "Deployment", "Job", "CronJob"} {
		found := false
		for name := range pods {
			found = found || strings.HasPrefix(name, kind+" ")
		}
		assert.True(t, found, "the full stack has no %s: the walk would miss its images", kind)
	}
}

// TestFullStackSchedulesEveryPod: every pod template of the full stack
// carries the stack's scheduling, but where a component overrides a key.
func TestFullStackSchedulesEveryPod(t *testing.T) {
	pods := podSpecs(t, runFullStack(t))
	dedicated := corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "tsdb", Effect: corev1.TaintEffectNoSchedule}
	overridden := map[string]bool{"StatefulSet ticks": true, "StatefulSet scratch": true, "StatefulSet metrics-etcd": true,
		"StatefulSet metrics-datanode": true, "Deployment metrics-frontend": true}
	for name, pod := range pods {
		if name == "StatefulSet scratch" {
			assert.Empty(t, pod.Tolerations, "scratch clears the tolerations")
			assert.Empty(t, pod.TopologySpreadConstraints, "scratch clears the spread")
			assert.Empty(t, pod.PriorityClassName, "scratch clears the priority class")
		} else {
			assert.Contains(t, pod.Tolerations, dedicated, name)
		}
		assert.Equal(t, map[string]string{"kubernetes.io/os": "linux"}, pod.NodeSelector, name)
		// The datanodes' affinity, which places their maintenance Jobs too, replaces the stack's.
		if name != "StatefulSet metrics-datanode" && !strings.HasPrefix(name, "Job metrics-maintenance-") {
			require.NotNil(t, pod.Affinity, name)
			require.NotNil(t, pod.Affinity.NodeAffinity, name)
			assert.NotNil(t, pod.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution, name)
		}
		isJob := strings.HasPrefix(name, "Job ") || strings.HasPrefix(name, "CronJob ")
		if isJob {
			assert.Empty(t, pod.TopologySpreadConstraints, "%s: a Job pod is not spread", name)
			if pod.Affinity != nil {
				assert.Nil(t, pod.Affinity.PodAntiAffinity, "%s: a Job pod has no anti-affinity", name)
			}
		}
		if overridden[name] || isJob && strings.Contains(name, "metrics") {
			continue
		}
		assert.Equal(t, "tsdb-high", pod.PriorityClassName, name)
		require.Len(t, pod.TopologySpreadConstraints, boolInt(!isJob), name)
		if !isJob {
			c := pod.TopologySpreadConstraints[0]
			assert.Equal(t, "topology.kubernetes.io/zone", c.TopologyKey, name)
			require.NotNil(t, c.LabelSelector, name)
			assert.Equal(t, c.LabelSelector.MatchLabels, ownPods(t, pod),
				"%s: the spread, like the anti-affinity, is over the component's own pods", name)
		}
	}

	etcd := pods["StatefulSet metrics-etcd"]
	assert.Equal(t, "tsdb-critical", etcd.PriorityClassName, "etcd's priority class wins over the stack's")
	assert.Len(t, etcd.Tolerations, 2, "etcd's tolerations replace the stack's")
	assert.Equal(t, "tsdb-critical", pods["CronJob metrics-etcd-backup"].PriorityClassName, "etcd's snapshot Job is placed as etcd")

	datanode := pods["StatefulSet metrics-datanode"]
	assert.Nil(t, datanode.Affinity.NodeAffinity, "the datanodes' affinity replaces the stack's")
	anti := datanode.Affinity.PodAntiAffinity
	require.Len(t, anti.RequiredDuringSchedulingIgnoredDuringExecution, 1, "antiAffinity: required stays")
	assert.Equal(t, "kubernetes.io/hostname", anti.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey)
	require.Len(t, anti.PreferredDuringSchedulingIgnoredDuringExecution, 1, "the datanodes' own term joins it")
	assert.Equal(t, "topology.kubernetes.io/zone", anti.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey)

	frontend := pods["Deployment metrics-frontend"]
	require.Len(t, frontend.TopologySpreadConstraints, 1)
	assert.Equal(t, "kubernetes.io/hostname", frontend.TopologySpreadConstraints[0].TopologyKey, "the frontends' spread replaces the stack's")
	assert.Equal(t, corev1.DoNotSchedule, frontend.TopologySpreadConstraints[0].WhenUnsatisfiable)

	assert.Equal(t, "tsdb-critical", pods["StatefulSet ticks"].PriorityClassName)
	assert.Nil(t, pods["Job metrics-maintenance-on"].Affinity, "the maintenance Jobs are placed as the datanodes, without their pod anti-affinity")
}

// ownPods are the labels the pod's anti-affinity keeps apart (its antiAffinity mode's term).
func ownPods(t *testing.T, pod corev1.PodSpec) map[string]string {
	t.Helper()
	require.NotNil(t, pod.Affinity.PodAntiAffinity)
	if req := pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution; len(req) > 0 {
		return req[0].LabelSelector.MatchLabels
	}
	pref := pod.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	require.NotEmpty(t, pref)
	return pref[0].PodAffinityTerm.LabelSelector.MatchLabels
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
