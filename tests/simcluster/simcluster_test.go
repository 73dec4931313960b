package simcluster_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"tsdb-platform/internal/mockrun"
	tsdbstacks "tsdb-platform/stacks"
	"tsdb-platform/tests/kubeapi"
	"tsdb-platform/tests/manifests"
	"tsdb-platform/tests/simcluster"
)

// cluster is started by the first test that needs it and stopped by TestMain. Five
// nodes: the all-features test stack runs a 5-member etcd, one member per node.
var cluster = kubeapi.SharedCluster{Options: kubeapi.ClusterOptions{Nodes: 5}}

func TestMain(m *testing.M) {
	code := m.Run()
	if err := cluster.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "simcluster:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// stackVerifyTimeout bounds the wait for one stack to come up.
const stackVerifyTimeout = 3 * time.Minute

// stack is a stack file deployed to the simulated cluster.
type stack = mockrun.StackRef

// stacks are every committed stack file and the test stacks under
// tests/testdata/stacks.
func stacks(t *testing.T) []stack {
	t.Helper()
	out, err := mockrun.AllStacks()
	require.NoError(t, err)
	return out
}

// render runs a stack under mocks and returns the run and its Kubernetes objects.
func render(t *testing.T, s stack) (*mockrun.Result, []manifests.Object) {
	t.Helper()
	res, _, err := mockrun.RunStackFile(s.Path, s.Name, false)
	require.NoError(t, err, "running stack %s under mocks", s.Name)
	objs, err := manifests.Objects(res)
	require.NoError(t, err)
	require.NotEmpty(t, objs)
	return res, objs
}

// deployAndVerify deploys objs in startup order, then verifies their namespace, and
// returns every problem found.
func deployAndVerify(t *testing.T, c *kubeapi.Cluster, res *mockrun.Result, objs []manifests.Object, opts simcluster.DeployOptions, timeout time.Duration) []string {
	t.Helper()
	ns := simcluster.Namespace(objs)
	require.NotEmpty(t, ns, "the objects include no Namespace")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	late, err := simcluster.Deploy(ctx, c, res, objs, opts)
	require.NoError(t, err, "applying the objects to namespace %s", ns)
	return append(late, simcluster.Verify(ctx, c, ns, objs)...)
}

// TestStacksComeUpOnASimulatedCluster applies every stack's objects for real, in
// startup order, to a simulated five-node cluster and checks that everything comes
// up: workloads Ready, claims Bound, Services with endpoints, anti-affine replicas
// on distinct nodes, Jobs completed.
func TestStacksComeUpOnASimulatedCluster(t *testing.T) {
	c := cluster.Get(t)
	seen := map[string]string{}
	for _, s := range stacks(t) {
		res, objs := render(t, s)
		// One cluster for every stack: each needs a namespace of its own.
		ns := simcluster.Namespace(objs)
		if other, dup := seen[ns]; dup {
			ns = ns + "-" + s.Name
			objs = simcluster.Renamespace(objs, ns)
			t.Logf("stack %s shares namespace %s with stack %s: deploying it to %s", s.Name, simcluster.Namespace(objs), other, ns)
		}
		seen[ns] = s.Name
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			problems := deployAndVerify(t, c, res, objs, simcluster.DeployOptions{}, stackVerifyTimeout)
			if len(problems) > 0 {
				t.Errorf("stack %s did not come up in namespace %s on the simulated cluster:\n  %s",
					s.Name, ns, strings.Join(problems, "\n  "))
				return
			}
			t.Logf("stack %s: %d objects up in namespace %s in %s", s.Name, len(objs), ns, time.Since(start).Round(time.Millisecond))
			for _, o := range objs {
				if o.Body.GetKind() == "StatefulSet" && strings.HasSuffix(o.Body.GetName(), "-flownode") {
					cluster := strings.TrimSuffix(o.Body.GetName(), "-flownode")
					assertCreatedAfterReady(t, c, ns, cluster+"-flownode", cluster+"-meta")
				}
			}
		})
	}
}

// TestVerifyFindsPlantedFaults keeps the suite honest: a copy of the prod stack with
// one fault planted must be reported by Verify, naming the faulty object.
func TestVerifyFindsPlantedFaults(t *testing.T) {
	c := cluster.Get(t)
	path, err := mockrun.StackFile("prod")
	require.NoError(t, err)
	res, objs := render(t, stack{Name: "prod", Path: path})
	nodes := len(c.Nodes())

	// Each plant changes objs (already moved to namespace ns) and returns a text the
	// report must contain.
	faults := []struct {
		name  string
		plant func(t *testing.T, ns string, objs []manifests.Object) string
	}{
		{
			name: "selector-matches-no-pod",
			plant: func(t *testing.T, ns string, objs []manifests.Object) string {
				svc := firstOf(t, objs, "Service", func(o *unstructured.Unstructured) bool { return !headless(o) })
				setNested(t, svc, map[string]any{"app.kubernetes.io/name": "no-such-app"}, "spec", "selector")
				return "Service " + ns + "/" + svc.GetName() + " has no ready endpoints"
			},
		},
		{
			name: "claim-that-cannot-bind",
			plant: func(t *testing.T, ns string, objs []manifests.Object) string {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_, err := c.Apply(ctx, &unstructured.Unstructured{Object: map[string]any{
					"apiVersion":  "storage.k8s.io/v1",
					"kind":        "StorageClass",
					"metadata":    map[string]any{"name": "no-provisioner"},
					"provisioner": "kubernetes.io/no-provisioner",
				}})
				require.NoError(t, err)
				sts := firstOf(t, objs, "StatefulSet", hasClaimTemplates)
				claims, _, err := unstructured.NestedSlice(sts.Object, "spec", "volumeClaimTemplates")
				require.NoError(t, err)
				require.NotEmpty(t, claims)
				claim := claims[0].(map[string]any)
				require.NoError(t, unstructured.SetNestedField(claim, "no-provisioner", "spec", "storageClassName"))
				setNested(t, sts, claims, "spec", "volumeClaimTemplates")
				claimName, _, _ := unstructured.NestedString(claim, "metadata", "name")
				return "PersistentVolumeClaim " + ns + "/" + claimName + "-" + sts.GetName() + "-0 is Pending, not Bound (storage class \"no-provisioner\")"
			},
		},
		{
			name: "more-anti-affine-replicas-than-nodes",
			plant: func(t *testing.T, ns string, objs []manifests.Object) string {
				sts := firstOf(t, objs, "StatefulSet", antiAffine)
				setNested(t, sts, int64(nodes+1), "spec", "replicas")
				// Which pod is left over depends on the pod management policy.
				return fmt.Sprintf("StatefulSet %s/%s needs one node per replica (required anti-affinity on kubernetes.io/hostname) but pod %s-",
					ns, sts.GetName(), sts.GetName())
			},
		},
		{
			name: "anti-affinity-selecting-no-own-pod",
			plant: func(t *testing.T, ns string, objs []manifests.Object) string {
				sts := firstOf(t, objs, "StatefulSet", antiAffine)
				path := []string{"spec", "template", "spec", "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution"}
				terms, _, err := unstructured.NestedSlice(sts.Object, path...)
				require.NoError(t, err)
				term := terms[0].(map[string]any)
				require.NoError(t, unstructured.SetNestedField(term, map[string]any{"app.kubernetes.io/name": "no-such-app"}, "labelSelector", "matchLabels"))
				setNested(t, sts, terms, path...)
				return "StatefulSet " + ns + "/" + sts.GetName() + ": its required anti-affinity on kubernetes.io/hostname selects none of its own pods"
			},
		},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			ns := "fault-" + f.name
			planted := simcluster.Renamespace(objs, ns)
			want := f.plant(t, ns, planted)
			start := time.Now()
			// The faults never clear: bound the waits tightly.
			problems := deployAndVerify(t, c, res, planted, simcluster.DeployOptions{StageTimeout: 10 * time.Second}, 30*time.Second)
			report := strings.Join(problems, "\n  ")
			if !strings.Contains(report, want) {
				t.Fatalf("Verify did not report the planted fault %q (want %q) in namespace %s; it reported:\n  %s", f.name, want, ns, report)
			}
			t.Logf("planted fault %s reported in %s:\n  %s", f.name, time.Since(start).Round(time.Millisecond), report)
		})
	}
}

// firstOf returns the body of the first object of kind that ok accepts.
func firstOf(t *testing.T, objs []manifests.Object, kind string, ok func(*unstructured.Unstructured) bool) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.Body.GetKind() == kind && ok(o.Body) {
			return o.Body
		}
	}
	t.Fatalf("no suitable %s among the objects", kind)
	return nil
}

func setNested(t *testing.T, obj *unstructured.Unstructured, v any, fields ...string) {
	t.Helper()
	require.NoError(t, unstructured.SetNestedField(obj.Object, v, fields...))
}

func headless(obj *unstructured.Unstructured) bool {
	ip, _, _ := unstructured.NestedString(obj.Object, "spec", "clusterIP")
	return ip == "None"
}

func hasClaimTemplates(obj *unstructured.Unstructured) bool {
	claims, _, _ := unstructured.NestedSlice(obj.Object, "spec", "volumeClaimTemplates")
	return len(claims) > 0
}

func antiAffine(obj *unstructured.Unstructured) bool {
	terms, _, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution")
	for _, term := range terms {
		if m, ok := term.(map[string]any); ok && m["topologyKey"] == simcluster.HostnameTopologyKey {
			return true
		}
	}
	return false
}

// TestMaintenanceAroundDatanodeRollout deploys the dev stack, then rolls its
// datanodes with a log-level change, both in the provider's order: each time the
// Job that turns metasrv's maintenance mode on completes before the datanodes'
// new revision exists, and the Job that turns it off starts only after. The
// rollout replaces both Jobs (new uids); the first deploy's runs are not repeated.
func TestMaintenanceAroundDatanodeRollout(t *testing.T) {
	c := cluster.Get(t)
	path, err := mockrun.StackFile("dev")
	require.NoError(t, err)
	sc, err := mockrun.LoadStackFile(path)
	require.NoError(t, err)
	const ns = "tsdb-rollout"
	ctx := context.Background()

	seen := map[string]bool{}
	for _, level := range []string{"info", "debug"} {
		require.NoError(t, mockrun.SetPath(sc.Config, "greptimedb[0].logging.level", level))
		res, err := mockrun.Run(tsdbstacks.Program, mockrun.Options{Stack: "dev", Config: sc.Config, SecretKeys: sc.SecretKeys})
		require.NoError(t, err)
		objs, err := manifests.Objects(res)
		require.NoError(t, err)
		objs = simcluster.Renamespace(objs, ns)
		problems := deployAndVerify(t, c, res, objs, simcluster.DeployOptions{}, stackVerifyTimeout)
		require.Empty(t, problems, "log level %s", level)

		on, off := jobNamed(t, objs, "-maintenance-on"), jobNamed(t, objs, "-maintenance-off")
		for _, name := range []string{on, off} {
			job, err := c.Clientset().BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
			require.NoError(t, err)
			require.False(t, seen[string(job.UID)], "log level %s: Job %s ran again for the rollout", level, name)
			seen[string(job.UID)] = true
		}
		t.Logf("log level %s: %s", level, rolloutOrder(ctx, t, c, ns, "metrics-datanode", on, off))
	}
}

// jobNamed is the one Job of objs whose name contains part.
func jobNamed(t *testing.T, objs []manifests.Object, part string) string {
	t.Helper()
	var names []string
	for _, o := range objs {
		if o.Body.GetKind() == "Job" && strings.Contains(o.Body.GetName(), part) {
			names = append(names, o.Body.GetName())
		}
	}
	require.Len(t, names, 1, "Jobs named *%s*", part)
	return names[0]
}

// rolloutOrder checks, with the API server's timestamps, that Job on completed
// before the StatefulSet's current revision was created, and that Job off was
// created after it; it returns the timeline.
func rolloutOrder(ctx context.Context, t *testing.T, c *kubeapi.Cluster, ns, statefulSet, on, off string) string {
	t.Helper()
	cs := c.Clientset()
	onJob, err := cs.BatchV1().Jobs(ns).Get(ctx, on, metav1.GetOptions{})
	require.NoError(t, err)
	require.NotNil(t, onJob.Status.CompletionTime, "Job %s completed", on)
	sts, err := cs.AppsV1().StatefulSets(ns).Get(ctx, statefulSet, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, sts.Status.UpdateRevision, sts.Status.CurrentRevision, "StatefulSet %s rolled out", statefulSet)
	rev, err := cs.AppsV1().ControllerRevisions(ns).Get(ctx, sts.Status.UpdateRevision, metav1.GetOptions{})
	require.NoError(t, err)
	offJob, err := cs.BatchV1().Jobs(ns).Get(ctx, off, metav1.GetOptions{})
	require.NoError(t, err)

	onDone, revision, offStart := onJob.Status.CompletionTime.Time, rev.CreationTimestamp.Time, offJob.CreationTimestamp.Time
	require.False(t, onDone.After(revision), "Job %s completed at %s, after revision %s was created at %s", on, onDone, rev.Name, revision)
	require.False(t, offStart.Before(revision), "Job %s created at %s, before revision %s at %s", off, offStart, rev.Name, revision)
	return fmt.Sprintf("%s completed %s; revision %s created %s; %s created %s",
		on, onDone.Format(time.TimeOnly), rev.Name, revision.Format(time.TimeOnly), off, offStart.Format(time.TimeOnly))
}

// assertCreatedAfterReady: every pod of the workload later (by its instance
// label and name prefix) was created no earlier than the last pod of earlier
// became Ready, and the later workload's pods are Ready too. The API server's
// timestamps have a resolution of one second, so this catches an order that is
// wrong by a second or more; the real-engine suite checks the order by
// resource version.
func assertCreatedAfterReady(t *testing.T, c *kubeapi.Cluster, ns, later, earlier string) {
	t.Helper()
	pods, err := c.Clientset().CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	var ready time.Time
	var laterPods []corev1.Pod
	for _, p := range pods.Items {
		switch {
		case strings.HasPrefix(p.Name, earlier+"-"):
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue && cond.LastTransitionTime.After(ready) {
					ready = cond.LastTransitionTime.Time
				}
			}
		case strings.HasPrefix(p.Name, later+"-"):
			laterPods = append(laterPods, p)
		}
	}
	require.False(t, ready.IsZero(), "no Ready pod of %s", earlier)
	require.NotEmpty(t, laterPods, "no pod of %s", later)
	for _, p := range laterPods {
		assert.False(t, p.CreationTimestamp.Time.Before(ready), "pod %s created at %s, before %s was Ready at %s", p.Name, p.CreationTimestamp, earlier, ready)
		isReady := false
		for _, cond := range p.Status.Conditions {
			isReady = isReady || cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue
		}
		assert.True(t, isReady, "pod %s is Ready", p.Name)
	}
	t.Logf("%s: %d pods created after %s was Ready (%s)", later, len(laterPods), earlier, ready.Format(time.RFC3339))
}
