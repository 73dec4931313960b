package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	watchtools "k8s.io/client-go/tools/watch"

	"tsdb-platform/plan"
)

// watchOrder records what happened in a namespace in the order the API server
// wrote it: every write to the simulated cluster's single etcd gets the next
// revision, which is the object's resourceVersion in the watch event. Two events
// of one poll, or of one second, still have distinct, ordered revisions, so an
// order check on them never fails a correct order and always fails a wrong one.
type watchOrder struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	// created maps "Kind/name" to the revision that created its latest incarnation,
	// and uid to the same for each incarnation.
	created      map[string]uint64
	createdByUID map[string]uint64
	// completed maps a Job's uid to the revision that first showed it complete.
	completed map[string]uint64
	// ready are pods by the revision that first showed them Ready.
	ready     []rvPod
	readySeen map[string]bool
	// errs are watch failures: an order check on a broken record is not trusted.
	errs []error
}

type rvPod struct {
	labels labels.Set
	rv     uint64
}

// startWatchOrder lists each kind (for a resourceVersion to start from) and
// watches it from there, with a RetryWatcher that resumes after a dropped watch.
func startWatchOrder(ctx context.Context, cs kubernetes.Interface, ns string) (*watchOrder, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := &watchOrder{
		cancel: cancel, created: map[string]uint64{}, createdByUID: map[string]uint64{},
		completed: map[string]uint64{}, readySeen: map[string]bool{},
	}
	sources := []struct {
		kind  string
		list  func(context.Context) (string, error)
		watch watchSource
	}{
		{"StatefulSet", func(ctx context.Context) (string, error) {
			l, err := cs.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
			return listRV(l, err)
		}, func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return cs.AppsV1().StatefulSets(ns).Watch(ctx, o)
		}},
		{"Deployment", func(ctx context.Context) (string, error) {
			l, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
			return listRV(l, err)
		}, func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return cs.AppsV1().Deployments(ns).Watch(ctx, o)
		}},
		{"Job", func(ctx context.Context) (string, error) {
			l, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
			return listRV(l, err)
		}, func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return cs.BatchV1().Jobs(ns).Watch(ctx, o)
		}},
		{"Pod", func(ctx context.Context) (string, error) {
			l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			return listRV(l, err)
		}, func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return cs.CoreV1().Pods(ns).Watch(ctx, o)
		}},
	}
	for _, src := range sources {
		rv, err := src.list(ctx)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("listing %ss in %s: %w", src.kind, ns, err)
		}
		rw, err := watchtools.NewRetryWatcherWithContext(ctx, rv, src.watch)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("watching %ss in %s: %w", src.kind, ns, err)
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer rw.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-rw.ResultChan():
					if !ok {
						return
					}
					w.record(ev)
				}
			}
		}()
	}
	return w, nil
}

// watchSource adapts a typed client's Watch to the RetryWatcher.
type watchSource func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)

func (f watchSource) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return f(ctx, opts)
}

func listRV(l interface{ GetResourceVersion() string }, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return l.GetResourceVersion(), nil
}

func (w *watchOrder) record(ev watch.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev.Type == watch.Error {
		w.errs = append(w.errs, fmt.Errorf("watch error: %v", ev.Object))
		return
	}
	obj, ok := ev.Object.(metav1.Object)
	if !ok {
		return
	}
	rv, err := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
	if err != nil {
		w.errs = append(w.errs, fmt.Errorf("resourceVersion %q of %s: %w", obj.GetResourceVersion(), obj.GetName(), err))
		return
	}
	uid := string(obj.GetUID())
	kind := ""
	switch o := ev.Object.(type) {
	case *appsv1.StatefulSet:
		kind = "StatefulSet"
	case *appsv1.Deployment:
		kind = "Deployment"
	case *batchv1.Job:
		kind = "Job"
		if _, done := w.completed[uid]; !done && jobComplete(o) {
			w.completed[uid] = rv
		}
	case *corev1.Pod:
		if !w.readySeen[uid] && podReady(o) {
			w.readySeen[uid] = true
			w.ready = append(w.ready, rvPod{labels: labels.Set(o.Labels), rv: rv})
		}
		return
	}
	if ev.Type == watch.Added {
		w.created[kind+"/"+obj.GetName()] = rv
		w.createdByUID[uid] = rv
	}
}

// stop ends the watches and returns their failures.
func (w *watchOrder) stop() []error {
	w.cancel()
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.errs
}

// createdAt is the revision that created the node's workload, if it was created
// while watching.
func (w *watchOrder) createdAt(n *plan.Node) (uint64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rv, ok := w.created[n.Kind+"/"+n.Name]
	return rv, ok
}

// readyAt is the revision at which the node's workload had its replicas-th pod
// Ready (pods matching selector), or at which its Job (by uid) completed.
func (w *watchOrder) readyAt(selector labels.Selector, replicas int) (uint64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var rvs []uint64
	for _, p := range w.ready {
		if selector.Matches(p.labels) {
			rvs = append(rvs, p.rv)
		}
	}
	if replicas < 1 || len(rvs) < replicas {
		return 0, false
	}
	slices.Sort(rvs)
	return rvs[replicas-1], true
}

// completedAt is the revision at which the Job with uid first was complete.
func (w *watchOrder) completedAt(uid string) (uint64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rv, ok := w.completed[uid]
	return rv, ok
}
