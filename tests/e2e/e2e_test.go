// Package e2e_test runs the real engine path, `pulumi up`, preview, refresh and
// destroy through the Automation API, for every committed stack against the simulated
// cluster (tests/kubeapi.Cluster: a real kube-apiserver, controller manager and
// scheduler, with kwok playing the kubelets). It needs the Pulumi CLI, the Go language
// host and the kubernetes and random provider plugins on PATH; without them every test
// here skips and says so (CI has no engine).
package e2e_test

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"tsdb-platform/components/greptimedb"
	"tsdb-platform/components/kube"
	"tsdb-platform/internal/mockrun"
	"tsdb-platform/plan"
	"tsdb-platform/stacks"
	"tsdb-platform/tests/engine"
	"tsdb-platform/tests/kubeapi"
)

const passphrase = "tsdb-platform-e2e"

// requireEngine skips t unless the Pulumi CLI and its plugins are on PATH.
func requireEngine(t testing.TB) {
	t.Helper()
	if missing := engine.Missing(); len(missing) > 0 {
		t.Skipf("skipping the real-engine end-to-end tests: %s not on PATH. They run `pulumi up`, preview, "+
			"refresh and destroy against the simulated cluster; put a Pulumi CLI v3 with the Go language host "+
			"and the kubernetes and random provider plugins on PATH to run them (README: \"Real engine\")",
			strings.Join(missing, ", "))
	}
}

// engineEnv is the environment of every CLI call: a local backend, a passphrase, and
// no plugin downloads or update checks.
func engineEnv(backend string) map[string]string {
	return map[string]string{
		"PULUMI_CONFIG_PASSPHRASE":                    passphrase,
		"PULUMI_BACKEND_URL":                          "file://" + backend,
		"PULUMI_SKIP_UPDATE_CHECK":                    "true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
		"PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK":    "true",
		"PULUMI_SKIP_CONFIRMATIONS":                   "true",
	}
}

// TestStacksOnSimulatedCluster: for every committed stack, on one simulated cluster:
// `pulumi up` starts each workload only after the one it waits for is Ready; the
// outputs are the mocks' prediction; a second preview, and a refresh then a preview,
// change nothing; the topology guard refuses an etcd member-count change through the
// real self stack reference; a datanode scale-up and a config change roll out; and
// destroy removes everything (dev), leaves the volumes (staging) or refuses (prod).
func TestStacksOnSimulatedCluster(t *testing.T) {
	requireEngine(t)
	cluster := kubeapi.StartCluster(t, kubeapi.ClusterOptions{Nodes: 4})
	names, err := mockrun.CommittedStacks()
	require.NoError(t, err)
	for _, name := range names {
		t.Run(name, func(t *testing.T) { runStack(t, cluster, name) })
	}
}

// e2eStack is one committed stack deployed by the real engine.
type e2eStack struct {
	name      string
	stack     auto.Stack
	spec      *stacks.Spec
	predicted *mockrun.Result
	plan      *plan.Plan
	cluster   *kubeapi.Cluster
}

func runStack(t *testing.T, cluster *kubeapi.Cluster, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	s := newE2EStack(ctx, t, cluster, name, cluster.Kubeconfig())

	_, err := s.stack.Preview(ctx, optpreview.Message("e2e preview"))
	require.NoError(t, err, "first preview")

	rec := startRecording(ctx, cluster.Clientset(), s.spec.Target.Namespace)
	order, err := startWatchOrder(ctx, cluster.Clientset(), s.spec.Target.Namespace)
	require.NoError(t, err)
	steps := recordEngine()
	up, err := s.stack.Up(ctx, optup.Message("e2e up"), optup.EventStreams(steps.events))
	end := time.Now()
	upTime := end.Sub(steps.start)
	timeline := rec.stop()
	watchErrs := order.stop()
	steps.wait()
	require.NoError(t, err, "up")
	require.Empty(t, watchErrs, "the watches that record the API server's order")
	t.Logf("%s: pulumi up took %s", name, upTime.Round(100*time.Millisecond))
	t.Log("\n" + timeline.report(s.plan, upTime) + steps.report(end))

	s.assertStartedInOrder(ctx, t, timeline, order)
	s.assertOutputs(t, up.Outputs)

	s.assertNoChanges(ctx, t, "second preview")
	_, err = s.stack.Refresh(ctx, optrefresh.Message("e2e refresh"))
	require.NoError(t, err, "refresh")
	s.assertNoChanges(ctx, t, "preview after refresh")

	s.assertGuardRefusesMemberChange(ctx, t)
	s.scaleDatanodes(ctx, t)
	s.changeConfigRollsPods(ctx, t)
	s.failedRolloutThenRevert(ctx, t)
	s.assertDestroy(ctx, t)
}

func newE2EStack(ctx context.Context, t *testing.T, cluster *kubeapi.Cluster, name, kubeconfig string) *e2eStack {
	t.Helper()
	path, err := mockrun.StackFile(name)
	require.NoError(t, err)
	sc, err := mockrun.LoadStackFile(path)
	require.NoError(t, err)
	stackName := "e2e-" + name

	// The program's configuration: the stack file, aimed at the simulated cluster,
	// plus what the operator sets (secrets and key material).
	config := maps.Clone(sc.Config)
	delete(config, stacks.KeyKubeContext)
	config[stacks.KeyKubeconfig] = kubeconfig
	spec, err := stacks.Load(stacks.MapLookup(config))
	require.NoError(t, err)
	predicted, err := mockrun.Run(stacks.Program, mockrun.Options{Stack: stackName, Config: config, SecretKeys: sc.SecretKeys})
	require.NoError(t, err, "the mocks' prediction")

	workDir := copyProgram(t)
	backend := t.TempDir()
	stack, err := auto.UpsertStackLocalSource(ctx, "organization/"+stacks.Project+"/"+stackName, workDir,
		auto.SecretsProvider("passphrase"), auto.EnvVars(engineEnv(backend)))
	require.NoError(t, err)
	writeStackConfig(t, workDir, stackName, path, map[string]any{stacks.KeyKubeconfig: kubeconfig}, stacks.KeyKubeContext)
	for _, set := range sc.Operator {
		require.NoError(t, stack.SetConfigWithOptions(ctx, stacks.Project+":"+set.Key,
			auto.ConfigValue{Value: set.Value, Secret: set.Secret}, &auto.ConfigOptions{Path: true}), set.Key)
	}
	return &e2eStack{name: name, stack: stack, spec: spec, predicted: predicted, plan: plan.Compute(predicted), cluster: cluster}
}

// writeStackConfig writes the committed stack file's config into the Automation API
// stack's file, as the user's Pulumi.<stack>.yaml would hold it (objects as YAML
// objects), with set added and the drop keys removed.
func writeStackConfig(t testing.TB, workDir, stackName, committed string, set map[string]any, drop ...string) {
	t.Helper()
	var from struct {
		Config map[string]any `json:"config"`
	}
	raw, err := os.ReadFile(committed)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(raw, &from))
	config := map[string]any{}
	for k, v := range from.Config {
		config[strings.TrimPrefix(k, stacks.Project+":")] = v
	}
	for _, k := range drop {
		delete(config, k)
	}
	maps.Copy(config, set)
	writeConfig(t, workDir, stackName, config)
}

// writeConfig sets the project config of a stack's file (keys without the project
// prefix; objects and lists stay structured, as `pulumi config set --path` writes
// them). The file's encryption salt, written when the stack was created, is kept.
func writeConfig(t testing.TB, workDir, stackName string, config map[string]any) {
	t.Helper()
	target := filepath.Join(workDir, "Pulumi."+stackName+".yaml")
	file := map[string]any{}
	if raw, err := os.ReadFile(target); err == nil {
		require.NoError(t, yaml.Unmarshal(raw, &file))
	}
	prefixed := map[string]any{}
	for k, v := range config {
		prefixed[stacks.Project+":"+k] = v
	}
	file["config"] = prefixed
	out, err := yaml.Marshal(file)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(target, out, 0o600))
}

// assertStartedInOrder: every workload (or Job) was created only after each workload
// it waits for had all its pods Ready, or each Job it waits for had completed. The
// authority is the API server's own order (watch revisions, strictly after); the
// 100 ms poll timeline and the one-second API timestamps must agree up to their
// resolution (equal allowed: both can be read in one poll, or fall in one second).
func (s *e2eStack) assertStartedInOrder(ctx context.Context, t *testing.T, tl *timeline, order *watchOrder) {
	t.Helper()
	checked := 0
	for _, n := range s.plan.Nodes {
		if !isWorkload(n.Kind) {
			continue
		}
		created, ok := tl.created[n.Kind+"/"+n.Name]
		if !assert.True(t, ok, "%s %s was never seen", n.Kind, n.Name) {
			continue
		}
		createdRV, ok := order.createdAt(n)
		if !assert.True(t, ok, "%s %s: no watch event created it", n.Kind, n.Name) {
			continue
		}
		for _, urn := range n.After {
			dep := s.plan.Node(urn)
			if dep == nil || !isWorkload(dep.Kind) {
				continue
			}
			ready, ok := tl.readyAt(dep)
			if !assert.True(t, ok, "%s %s never became Ready", dep.Kind, dep.Name) {
				continue
			}
			readyRV, ok := s.readyRevision(ctx, t, order, tl, dep)
			if !assert.True(t, ok, "%s %s: no watch event showed it Ready", dep.Kind, dep.Name) {
				continue
			}
			assert.Greater(t, createdRV, readyRV, "%s %s was created at revision %d, before %s %s was Ready at revision %d",
				n.Kind, n.Name, createdRV, dep.Kind, dep.Name, readyRV)
			assert.False(t, created.Before(ready), "%s %s first seen at %s, before %s %s was seen Ready at %s",
				n.Kind, n.Name, created.Format(time.StampMilli), dep.Kind, dep.Name, ready.Format(time.StampMilli))
			apiCreated, apiReady := s.apiTimes(ctx, t, n, dep)
			assert.False(t, apiCreated.Before(apiReady), "%s %s creationTimestamp %s is before %s %s was Ready (%s)",
				n.Kind, n.Name, apiCreated, dep.Kind, dep.Name, apiReady)
			checked++
		}
	}
	assert.Positive(t, checked, "the stack has ordered workloads to check")
}

// readyRevision is the watch revision at which dep was Ready: its Job's completion,
// or its last wanted pod's first Ready.
func (s *e2eStack) readyRevision(ctx context.Context, t *testing.T, order *watchOrder, tl *timeline, dep *plan.Node) (uint64, bool) {
	t.Helper()
	if dep.Kind == "Job" {
		j, err := s.cluster.Clientset().BatchV1().Jobs(s.spec.Target.Namespace).Get(ctx, dep.Name, metav1.GetOptions{})
		require.NoError(t, err)
		return order.completedAt(string(j.UID))
	}
	key := dep.Kind + "/" + dep.Name
	sel, ok := tl.selectors[key]
	if !ok {
		return 0, false
	}
	return order.readyAt(sel, tl.replicas[key])
}

// apiTimes are n's creationTimestamp and the last Ready transition of dep's pods
// (for a Job, its completion time).
func (s *e2eStack) apiTimes(ctx context.Context, t *testing.T, n, dep *plan.Node) (time.Time, time.Time) {
	t.Helper()
	created, _ := s.workload(ctx, t, n)
	if dep.Kind == "Job" {
		j, err := s.cluster.Clientset().BatchV1().Jobs(s.spec.Target.Namespace).Get(ctx, dep.Name, metav1.GetOptions{})
		require.NoError(t, err)
		require.NotNil(t, j.Status.CompletionTime, "Job %s completed", dep.Name)
		return created, j.Status.CompletionTime.Time
	}
	_, selector := s.workload(ctx, t, dep)
	pods, err := s.cluster.Clientset().CoreV1().Pods(s.spec.Target.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	require.NoError(t, err)
	var ready time.Time
	for _, p := range pods.Items {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && c.LastTransitionTime.After(ready) {
				ready = c.LastTransitionTime.Time
			}
		}
	}
	return created, ready
}

// workload reads a StatefulSet or Deployment node's creation time and pod selector.
func (s *e2eStack) workload(ctx context.Context, t *testing.T, n *plan.Node) (time.Time, string) {
	t.Helper()
	apps := s.cluster.Clientset().AppsV1()
	ns := s.spec.Target.Namespace
	switch n.Kind {
	case "StatefulSet":
		sts, err := apps.StatefulSets(ns).Get(ctx, n.Name, metav1.GetOptions{})
		require.NoError(t, err)
		return sts.CreationTimestamp.Time, metav1.FormatLabelSelector(sts.Spec.Selector)
	case "Deployment":
		d, err := apps.Deployments(ns).Get(ctx, n.Name, metav1.GetOptions{})
		require.NoError(t, err)
		return d.CreationTimestamp.Time, metav1.FormatLabelSelector(d.Spec.Selector)
	case "Job":
		j, err := s.cluster.Clientset().BatchV1().Jobs(ns).Get(ctx, n.Name, metav1.GetOptions{})
		require.NoError(t, err)
		return j.CreationTimestamp.Time, ""
	}
	t.Fatalf("%s %s is not a workload", n.Kind, n.Name)
	return time.Time{}, ""
}

// assertOutputs: the engine's outputs are the mocks' prediction, leaf by leaf. Secret
// leaves (generated passwords) differ by nature; they must be secret and non-empty.
func (s *e2eStack) assertOutputs(t *testing.T, outputs auto.OutputMap) {
	t.Helper()
	got := flattenOutputs(outputs)
	for path, want := range s.predicted.Exports {
		value, ok := got[path]
		if !assert.True(t, ok, "output %s is missing", path) || !want.Known {
			continue
		}
		if want.Secret {
			assert.True(t, value.Secret, "output %s must be secret", path)
			if want.Value != "" {
				assert.NotEmpty(t, value.Value, "output %s", path)
			}
			continue
		}
		assert.Equal(t, fmt.Sprint(want.Value), fmt.Sprint(value.Value), "output %s", path)
	}
	for path := range got {
		_, ok := s.predicted.Exports[path]
		assert.True(t, ok, "output %s was not predicted by the mocks", path)
	}
}

func (s *e2eStack) assertNoChanges(ctx context.Context, t *testing.T, what string) {
	t.Helper()
	res, err := s.stack.Preview(ctx, optpreview.ExpectNoChanges(), optpreview.Message("e2e "+what))
	require.NoError(t, err, what)
	for op, n := range res.ChangeSummary {
		// The program reads its own stack's outputs (the topology guard's stack
		// reference) on every run: a read, never a change.
		if op != apitype.OpSame && op != apitype.OpRead {
			assert.Zero(t, n, "%s wants %d %s operations; the program is not idempotent", what, n, op)
		}
	}
}

// assertGuardRefusesMemberChange: changing the etcd member count of the running
// cluster is refused by the program, which reads the deployed topology back through
// the real stack reference to itself, and says what to do instead.
func (s *e2eStack) assertGuardRefusesMemberChange(ctx context.Context, t *testing.T) {
	t.Helper()
	if len(s.spec.GreptimeDB) == 0 || !s.spec.GreptimeDB[0].Etcd.Deployed() {
		return
	}
	key := stacks.Project + ":greptimedb[0].etcd.replicas"
	members := s.spec.GreptimeDB[0].Etcd.Replicas
	s.setPath(ctx, t, key, strconv.Itoa(members+2))
	_, err := s.stack.Preview(ctx, optpreview.Message("e2e guard"))
	require.Error(t, err, "an etcd member-count change must be refused")
	assert.Contains(t, err.Error(), fmt.Sprintf("greptimedb[0].etcd.replicas: %d", members+2))
	assert.Contains(t, err.Error(), fmt.Sprintf("the running etcd cluster has %d members", members))
	assert.Contains(t, err.Error(), "greptimedb[0].etcd.allowMemberCountChange")
	s.setPath(ctx, t, key, strconv.Itoa(members))
}

// scaleDatanodes adds a datanode and waits for the engine to report it rolled out.
func (s *e2eStack) scaleDatanodes(ctx context.Context, t *testing.T) {
	t.Helper()
	if len(s.spec.GreptimeDB) == 0 {
		return
	}
	c := s.spec.GreptimeDB[0]
	want := c.Datanode.Replicas + 1
	s.setPath(ctx, t, stacks.Project+":greptimedb[0].datanode.replicas", strconv.Itoa(want))
	start := time.Now()
	_, err := s.stack.Up(ctx, optup.Message("e2e scale datanodes"))
	require.NoError(t, err, "scale-up")
	t.Logf("%s: datanode scale-up to %d took %s", s.name, want, time.Since(start).Round(100*time.Millisecond))
	sts, err := s.cluster.Clientset().AppsV1().StatefulSets(s.spec.Target.Namespace).Get(ctx, c.Name+"-datanode", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(want), sts.Status.ReadyReplicas, "every datanode Ready when up returns")
	s.assertDistinctNodes(ctx, t, c.AntiAffinity, metav1.FormatLabelSelector(sts.Spec.Selector))
}

// changeConfigRollsPods changes the GreptimeDB log level: the rendered config changes,
// its checksum rolls the pods, and up returns once every pod runs the new template.
func (s *e2eStack) changeConfigRollsPods(ctx context.Context, t *testing.T) {
	t.Helper()
	if len(s.spec.GreptimeDB) == 0 {
		return
	}
	c := s.spec.GreptimeDB[0]
	cs := s.cluster.Clientset()
	ns := s.spec.Target.Namespace
	before, err := cs.AppsV1().StatefulSets(ns).Get(ctx, c.Name+"-datanode", metav1.GetOptions{})
	require.NoError(t, err)
	oldPods := podUIDs(ctx, t, s, metav1.FormatLabelSelector(before.Spec.Selector))
	oldJobs := s.maintenanceJobs(ctx, t, c.Name)

	s.setPath(ctx, t, stacks.Project+":greptimedb[0].logging.level", "debug")
	start := time.Now()
	_, err = s.stack.Up(ctx, optup.Message("e2e config change"))
	require.NoError(t, err, "config change")
	t.Logf("%s: config change rolled out in %s", s.name, time.Since(start).Round(100*time.Millisecond))

	after, err := cs.AppsV1().StatefulSets(ns).Get(ctx, c.Name+"-datanode", metav1.GetOptions{})
	require.NoError(t, err)
	checksum := "checksum/config"
	assert.NotEqual(t, before.Spec.Template.Annotations[checksum], after.Spec.Template.Annotations[checksum], "new config checksum")
	assert.Equal(t, after.Status.UpdateRevision, after.Status.CurrentRevision, "the rollout finished before up returned")
	assert.Equal(t, after.Status.Replicas, after.Status.UpdatedReplicas)
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(after.Spec.Selector)})
	require.NoError(t, err)
	for _, p := range pods.Items {
		assert.NotContains(t, oldPods, string(p.UID), "pod %s was not replaced", p.Name)
		assert.Equal(t, after.Spec.Template.Annotations[checksum], p.Annotations[checksum], "pod %s runs the new config", p.Name)
	}
	s.assertMaintenanceAround(ctx, t, c.Name, oldJobs, after.Status.UpdateRevision)
}

// maintenanceJobs are the cluster's maintenance Jobs, by name.
func (s *e2eStack) maintenanceJobs(ctx context.Context, t *testing.T, cluster string) map[string]batchv1.Job {
	t.Helper()
	jobs, err := s.cluster.Clientset().BatchV1().Jobs(s.spec.Target.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/component=maintenance,app.kubernetes.io/instance=" + cluster,
	})
	require.NoError(t, err)
	out := map[string]batchv1.Job{}
	for _, j := range jobs.Items {
		out[j.Name] = j
	}
	return out
}

// maintenancePair is the cluster's "on" and "off" Jobs as they are now.
func (s *e2eStack) maintenancePair(ctx context.Context, t *testing.T, cluster string) (on, off batchv1.Job) {
	t.Helper()
	jobs := s.maintenanceJobs(ctx, t, cluster)
	on, okOn := jobs[greptimedb.MaintenanceJobName(cluster, "on")]
	off, okOff := jobs[greptimedb.MaintenanceJobName(cluster, "off")]
	require.True(t, okOn && okOff, "the maintenance Jobs of %s: %v", cluster, slices.Collect(maps.Keys(jobs)))
	return on, off
}

// assertMaintenanceAround: the rollout re-ran both maintenance Jobs (new uids),
// the "on" Job completed before the datanodes' new revision was created, and the
// "off" Job was created after it.
func (s *e2eStack) assertMaintenanceAround(ctx context.Context, t *testing.T, cluster string, old map[string]batchv1.Job, revision string) {
	t.Helper()
	on, off := s.maintenancePair(ctx, t, cluster)
	for _, j := range []batchv1.Job{on, off} {
		assert.NotEqual(t, old[j.Name].UID, j.UID, "Job %s ran again for the rollout", j.Name)
	}
	require.NotNil(t, on.Status.CompletionTime, "Job %s completed", on.Name)
	rev, err := s.cluster.Clientset().AppsV1().ControllerRevisions(s.spec.Target.Namespace).Get(ctx, revision, metav1.GetOptions{})
	require.NoError(t, err)
	assert.False(t, on.Status.CompletionTime.After(rev.CreationTimestamp.Time), "Job %s completed at %s, after revision %s was created at %s",
		on.Name, on.Status.CompletionTime, rev.Name, rev.CreationTimestamp)
	assert.False(t, off.CreationTimestamp.Before(&rev.CreationTimestamp), "Job %s created at %s, before revision %s at %s",
		off.Name, off.CreationTimestamp, rev.Name, rev.CreationTimestamp)
	t.Logf("%s: rollout framed by %s (completed %s), revision %s (created %s), %s (created %s)", s.name,
		on.Name, on.Status.CompletionTime.Format(time.TimeOnly), rev.Name, rev.CreationTimestamp.Format(time.TimeOnly),
		off.Name, off.CreationTimestamp.Format(time.TimeOnly))
}

// failedRolloutThenRevert rolls the datanodes to a template the simulated kubelets
// never make Ready, so `pulumi up` fails after maintenance was turned on, then
// reverts: the revert's up must run maintenance on and then off again, so metasrv
// does not stay in maintenance (region failover off) after a successful deploy.
// By the API server: the last "off" Job completed after the last "on" Job, at a
// later watch revision and no earlier timestamp.
func (s *e2eStack) failedRolloutThenRevert(ctx context.Context, t *testing.T) {
	t.Helper()
	if len(s.spec.GreptimeDB) == 0 {
		return
	}
	c := s.spec.GreptimeDB[0]
	ns := s.spec.Target.Namespace
	cs := s.cluster.Clientset()
	cpuKey := stacks.Project + ":greptimedb[0].datanode.resources.requests.cpu"
	s.setPath(ctx, t, stacks.Project+":greptimedb[0].datanode.rolloutTimeoutSeconds", "30")
	onA, offA := s.maintenancePair(ctx, t, c.Name)

	order, err := startWatchOrder(ctx, cs, ns)
	require.NoError(t, err)
	s.setPath(ctx, t, cpuKey, kubeapi.NeverReadyCPU)
	start := time.Now()
	_, err = s.stack.Up(ctx, optup.Message("e2e rollout that fails half-way"))
	require.Error(t, err, "a rollout whose datanodes never become Ready must fail")
	t.Logf("%s: the failing rollout gave up after %s", s.name, time.Since(start).Round(100*time.Millisecond))
	jobs := s.maintenanceJobs(ctx, t, c.Name)
	onB, ok := jobs[onA.Name]
	require.True(t, ok, "Job %s exists after the failed rollout", onA.Name)
	assert.NotEqual(t, onA.UID, onB.UID, "maintenance was turned on for the failed rollout")
	require.NotNil(t, onB.Status.CompletionTime, "Job %s completed before the datanodes rolled", onB.Name)
	// The engine deleted "off" with the "on" it depends on and, the datanodes
	// never Ready, did not create it again: maintenance stayed on.
	if offB, ok := jobs[offA.Name]; ok {
		assert.Equal(t, offA.UID, offB.UID, "maintenance was not turned off: the datanodes never became Ready")
	}

	s.setPath(ctx, t, cpuKey, string(c.Datanode.Resources.Requests.CPU))
	start = time.Now()
	_, err = s.stack.Up(ctx, optup.Message("e2e revert"))
	require.NoError(t, err, "the revert")
	t.Logf("%s: the revert took %s", s.name, time.Since(start).Round(100*time.Millisecond))
	onC, offC := s.maintenancePair(ctx, t, c.Name)
	require.Empty(t, order.stop(), "the watches that record the API server's order")

	assert.NotEqual(t, onB.UID, onC.UID, "the revert turned maintenance on again")
	assert.NotEqual(t, offA.UID, offC.UID, "the revert turned maintenance off again")
	require.NotNil(t, onC.Status.CompletionTime, "Job %s completed", onC.Name)
	require.NotNil(t, offC.Status.CompletionTime, "Job %s completed", offC.Name)
	assert.False(t, offC.Status.CompletionTime.Before(onC.Status.CompletionTime),
		"Job %s completed at %s, before the last maintenance-on Job %s at %s", offC.Name, offC.Status.CompletionTime, onC.Name, onC.Status.CompletionTime)
	onDone, okOn := order.completedAt(string(onC.UID))
	offDone, okOff := order.completedAt(string(offC.UID))
	require.True(t, okOn && okOff, "the watches saw both Jobs complete")
	assert.Greater(t, offDone, onDone, "maintenance-off completed at revision %d, before maintenance-on at %d", offDone, onDone)
	t.Logf("%s: after the revert, %s completed %s (revision %d), %s completed %s (revision %d)", s.name,
		onC.Name, onC.Status.CompletionTime.Format(time.TimeOnly), onDone, offC.Name, offC.Status.CompletionTime.Format(time.TimeOnly), offDone)

	sts, err := cs.AppsV1().StatefulSets(ns).Get(ctx, c.Name+"-datanode", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, sts.Status.UpdateRevision, sts.Status.CurrentRevision, "the datanodes run the reverted template")
	assert.Equal(t, *sts.Spec.Replicas, sts.Status.ReadyReplicas, "every datanode Ready after the revert")
	s.assertNoChanges(ctx, t, "preview after the revert")
}

func podUIDs(ctx context.Context, t *testing.T, s *e2eStack, selector string) []string {
	t.Helper()
	pods, err := s.cluster.Clientset().CoreV1().Pods(s.spec.Target.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	require.NoError(t, err)
	var uids []string
	for _, p := range pods.Items {
		uids = append(uids, string(p.UID))
	}
	return uids
}

// assertDistinctNodes: with required anti-affinity, no two pods share a node.
func (s *e2eStack) assertDistinctNodes(ctx context.Context, t *testing.T, antiAffinity kube.AntiAffinityMode, selector string) {
	t.Helper()
	if antiAffinity != kube.AntiAffinityRequired {
		return
	}
	pods, err := s.cluster.Clientset().CoreV1().Pods(s.spec.Target.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	require.NoError(t, err)
	seen := map[string]string{}
	for _, p := range pods.Items {
		if other, ok := seen[p.Spec.NodeName]; ok {
			t.Errorf("pods %s and %s share node %s despite required anti-affinity", other, p.Name, p.Spec.NodeName)
		}
		seen[p.Spec.NodeName] = p.Name
	}
}

// assertDestroy: with no data safety everything goes, namespace included; with
// retainOnDelete the volumes stay; with protect the engine refuses.
func (s *e2eStack) assertDestroy(ctx context.Context, t *testing.T) {
	t.Helper()
	cs := s.cluster.Clientset()
	ns := s.spec.Target.Namespace
	claims, err := cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, claims.Items, "the stack's StatefulSets own volumes")

	_, err = s.stack.Destroy(ctx, optdestroy.Message("e2e destroy"))
	switch {
	case s.spec.DataSafety.Protect:
		require.Error(t, err, "destroying a protected stack must fail")
		assert.Contains(t, err.Error(), "protected")
		sts, err := cs.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		assert.NotEmpty(t, sts.Items, "protected StatefulSets are still there")
	case s.spec.DataSafety.RetainOnDelete:
		require.NoError(t, err, "destroy")
		left, err := cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		assert.Len(t, left.Items, len(claims.Items), "every volume claim is kept")
		for _, c := range left.Items {
			assert.Equal(t, "Bound", string(c.Status.Phase), "claim %s still holds its volume", c.Name)
		}
		deps, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		assert.Empty(t, deps.Items, "stateless workloads are deleted")
	default:
		require.NoError(t, err, "destroy")
		require.Eventually(t, func() bool {
			_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		}, 2*time.Minute, time.Second, "namespace %s and everything in it are deleted", ns)
	}
}

// setPath sets a config path as `pulumi config set --path` does.
func (s *e2eStack) setPath(ctx context.Context, t *testing.T, key, value string) {
	t.Helper()
	require.NoError(t, s.stack.SetConfigWithOptions(ctx, key, auto.ConfigValue{Value: value}, &auto.ConfigOptions{Path: true}), key)
}

// isWorkload reports whether the e2e orders objects of kind: workloads, and the
// Jobs around the datanodes' rollout.
func isWorkload(kind string) bool {
	return kind == "StatefulSet" || kind == "Deployment" || kind == "Job"
}

// copyProgram copies the Go program (module files, main.go, Pulumi.yaml, packages)
// into a temporary directory, so the stack files the Automation API writes never
// land in the repository.
func copyProgram(t testing.TB) string {
	t.Helper()
	root, err := mockrun.RepoRoot()
	require.NoError(t, err)
	dst := t.TempDir()
	for _, f := range []string{"go.mod", "go.sum", "main.go", "Pulumi.yaml"} {
		copyFile(t, filepath.Join(root, f), filepath.Join(dst, f))
	}
	for _, dir := range []string{"components", "stacks"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasSuffix(path, "_test.go") {
				return err
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			copyFile(t, path, filepath.Join(dst, rel))
			return nil
		})
		require.NoError(t, err)
	}
	return dst
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
	require.NoError(t, os.WriteFile(dst, b, 0o644))
}

// flattenOutputs turns nested stack outputs into the harness's dotted paths.
func flattenOutputs(outputs auto.OutputMap) map[string]mockrun.Export {
	out := map[string]mockrun.Export{}
	var walk func(path string, v any, secret bool)
	walk = func(path string, v any, secret bool) {
		switch t := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(path+"."+k, t[k], secret)
			}
		case []any:
			for i, e := range t {
				walk(fmt.Sprintf("%s[%d]", path, i), e, secret)
			}
		default:
			out[path] = mockrun.Export{Value: v, Known: true, Secret: secret}
		}
	}
	for k, v := range outputs {
		walk(k, v.Value, v.Secret)
	}
	return out
}
