package e2e_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"tsdb-platform/plan"
)

// pollInterval is the recorder's resolution.
const pollInterval = 100 * time.Millisecond

// timeline is what the cluster did during a `pulumi up`, by this process's clock:
// when each workload first existed and when each pod first was Ready.
type timeline struct {
	// created maps "Kind/name" to when the workload was first seen.
	created map[string]time.Time
	// selectors maps "Kind/name" to the workload's pod selector.
	selectors map[string]labels.Selector
	// replicas maps "Kind/name" to its desired replica count.
	replicas map[string]int
	// pods are every pod seen Ready, with the time it first was.
	pods []readyPod
	// completed maps "Job/name" to when the Job was first seen complete.
	completed map[string]time.Time
}

type readyPod struct {
	name   string
	labels labels.Set
	at     time.Time
}

// recorder polls a namespace until stopped.
type recorder struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	tl     *timeline
}

func startRecording(ctx context.Context, cs kubernetes.Interface, ns string) *recorder {
	ctx, cancel := context.WithCancel(ctx)
	r := &recorder{cancel: cancel, done: make(chan struct{}), tl: &timeline{
		created: map[string]time.Time{}, selectors: map[string]labels.Selector{}, replicas: map[string]int{},
		completed: map[string]time.Time{},
	}}
	go func() {
		defer close(r.done)
		seenReady := map[string]bool{}
		ticker := time.NewTicker(pollInterval)
		defer ticker.Stop()
		for {
			r.poll(ctx, cs, ns, seenReady)
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	return r
}

func (r *recorder) poll(ctx context.Context, cs kubernetes.Interface, ns string, seenReady map[string]bool) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if sets, err := cs.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, s := range sets.Items {
			r.sawWorkload("StatefulSet/"+s.Name, now, s.Spec.Selector, s.Spec.Replicas)
		}
	}
	if deps, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, d := range deps.Items {
			r.sawWorkload("Deployment/"+d.Name, now, d.Spec.Selector, d.Spec.Replicas)
		}
	}
	if jobs, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, j := range jobs.Items {
			key := "Job/" + j.Name
			if _, ok := r.tl.created[key]; !ok {
				r.tl.created[key] = now
			}
			if _, ok := r.tl.completed[key]; !ok && jobComplete(&j) {
				r.tl.completed[key] = now
			}
		}
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, p := range pods.Items {
		if seenReady[string(p.UID)] || !podReady(&p) {
			continue
		}
		seenReady[string(p.UID)] = true
		r.tl.pods = append(r.tl.pods, readyPod{name: p.Name, labels: labels.Set(p.Labels), at: now})
	}
}

func (r *recorder) sawWorkload(key string, now time.Time, sel *metav1.LabelSelector, replicas *int32) {
	if _, ok := r.tl.created[key]; ok {
		return
	}
	r.tl.created[key] = now
	if s, err := metav1.LabelSelectorAsSelector(sel); err == nil {
		r.tl.selectors[key] = s
	}
	r.tl.replicas[key] = 1
	if replicas != nil {
		r.tl.replicas[key] = int(*replicas)
	}
}

func (r *recorder) stop() *timeline {
	r.cancel()
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tl
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func jobComplete(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// readyAt is when the workload's last wanted pod first was Ready, or when the Job
// was first seen complete.
func (tl *timeline) readyAt(n *plan.Node) (time.Time, bool) {
	key := n.Kind + "/" + n.Name
	if n.Kind == "Job" {
		at, ok := tl.completed[key]
		return at, ok
	}
	sel, ok := tl.selectors[key]
	if !ok {
		return time.Time{}, false
	}
	var times []time.Time
	for _, p := range tl.pods {
		if sel.Matches(p.labels) {
			times = append(times, p.at)
		}
	}
	if len(times) < tl.replicas[key] {
		return time.Time{}, false
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	return times[tl.replicas[key]-1], true
}

// report shows, per startup stage, when its workloads were created and Ready, against
// the time `pulumi up` took. The lower bound is the sum over stages of the slowest
// workload's readiness delay (created to all pods Ready): no engine can start a stage
// before the previous one is Ready, nor finish a stage faster than its pods become Ready.
func (tl *timeline) report(p *plan.Plan, upTime time.Duration) string {
	var start time.Time
	for _, c := range tl.created {
		if start.IsZero() || c.Before(start) {
			start = c
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-6s %-40s %10s %10s %10s\n", "stage", "workload", "created", "ready", "delay")
	stageDelay := map[int]time.Duration{}
	for _, n := range p.Nodes {
		if !isWorkload(n.Kind) {
			continue
		}
		created, okc := tl.created[n.Kind+"/"+n.Name]
		ready, okr := tl.readyAt(n)
		if !okc || !okr {
			fmt.Fprintf(&b, "%-6d %-40s %10s\n", n.Stage, n.Kind+"/"+n.Name, "not ready")
			continue
		}
		d := ready.Sub(created)
		if d > stageDelay[n.Stage] {
			stageDelay[n.Stage] = d
		}
		fmt.Fprintf(&b, "%-6d %-40s %9.1fs %9.1fs %9.1fs\n", n.Stage, n.Kind+"/"+n.Name,
			created.Sub(start).Seconds(), ready.Sub(start).Seconds(), d.Seconds())
	}
	var bound time.Duration
	for _, d := range stageDelay {
		bound += d
	}
	fmt.Fprintf(&b, "up %.1fs; lower bound (sum of each stage's slowest readiness delay) %.1fs; engine overhead %.1fs\n",
		upTime.Seconds(), bound.Seconds(), (upTime - bound).Seconds())
	return b.String()
}

// engineSteps records, by this process's clock, when the engine started and finished
// each resource step of an update, from its event stream.
type engineSteps struct {
	events chan events.EngineEvent
	done   chan struct{}
	start  time.Time
	// first is the first step's start: before it, the CLI started, the language host
	// built and started the program, and the providers were loaded.
	first time.Time
	// last is the last step's end; after it come the outputs and the checkpoint.
	last  time.Time
	steps map[string]*step
}

type step struct {
	typ        string
	pre, outs  time.Time
	hasOutputs bool
}

func recordEngine() *engineSteps {
	e := &engineSteps{events: make(chan events.EngineEvent), done: make(chan struct{}), start: time.Now(), steps: map[string]*step{}}
	go func() {
		defer close(e.done)
		for ev := range e.events {
			now := time.Now()
			switch {
			case ev.ResourcePreEvent != nil && !ev.ResourcePreEvent.Planning:
				m := ev.ResourcePreEvent.Metadata
				if e.first.IsZero() {
					e.first = now
				}
				e.steps[m.URN] = &step{typ: m.Type, pre: now}
			case ev.ResOutputsEvent != nil && !ev.ResOutputsEvent.Planning:
				if s, ok := e.steps[ev.ResOutputsEvent.Metadata.URN]; ok {
					s.outs, s.hasOutputs = now, true
					e.last = now
				}
			}
		}
	}()
	return e
}

// wait returns once the engine closed the stream.
func (e *engineSteps) wait() { <-e.done }

// report splits an update's time: before the first step (CLI, program build and
// start, plugins), the steps, and after the last step; and the slowest steps by type,
// which are the provider's readiness awaits.
func (e *engineSteps) report(end time.Time) string {
	var b strings.Builder
	if e.first.IsZero() {
		return "no resource steps\n"
	}
	fmt.Fprintf(&b, "before the first step (CLI, program build and start, plugins): %.1fs\n", e.first.Sub(e.start).Seconds())
	fmt.Fprintf(&b, "first step to last step: %.1fs\n", e.last.Sub(e.first).Seconds())
	fmt.Fprintf(&b, "after the last step (outputs, checkpoint, exit): %.1fs\n", end.Sub(e.last).Seconds())
	byType := map[string]time.Duration{}
	count := map[string]int{}
	for _, s := range e.steps {
		if !s.hasOutputs {
			continue
		}
		if d := s.outs.Sub(s.pre); d > byType[s.typ] {
			byType[s.typ] = d
		}
		count[s.typ]++
	}
	types := make([]string, 0, len(byType))
	for t := range byType {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool { return byType[types[i]] > byType[types[j]] })
	for _, t := range types {
		fmt.Fprintf(&b, "  slowest %-50s %5.1fs (%d steps)\n", t, byType[t].Seconds(), count[t])
	}
	return b.String()
}
