package e2e_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"tsdb-platform/plan"
)

// TestWatchOrderRanksEqualTimestamps: a Job that completed and a StatefulSet
// created within the same second (and the same poll) are still ordered, by the
// revisions the API server gave the two writes: the right order passes and the
// wrong one fails, whatever the timestamps say. Needs no engine.
func TestWatchOrderRanksEqualTimestamps(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 12, 2, 1, 45, 10, 0, time.UTC))
	completed := func(rv string) *batchv1.Job {
		return &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "metrics-maintenance-on", UID: types.UID("on"), ResourceVersion: rv, CreationTimestamp: at},
			Status: batchv1.JobStatus{CompletionTime: &at, Conditions: []batchv1.JobCondition{
				{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: at},
			}},
		}
	}
	created := func(rv string) *appsv1.StatefulSet {
		return &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "metrics-datanode", UID: types.UID("sts"), ResourceVersion: rv, CreationTimestamp: at}}
	}
	sts := &plan.Node{Kind: "StatefulSet", Name: "metrics-datanode"}
	for _, tt := range []struct {
		name           string
		jobRV, stsRV   string
		createdAfterOK bool
	}{
		{"created after the Job completed", "687", "688", true},
		{"created before the Job completed", "688", "687", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := &watchOrder{created: map[string]uint64{}, createdByUID: map[string]uint64{}, completed: map[string]uint64{}, readySeen: map[string]bool{}}
			w.record(watch.Event{Type: watch.Added, Object: completed(tt.jobRV)})
			w.record(watch.Event{Type: watch.Added, Object: created(tt.stsRV)})
			require.Empty(t, w.errs)
			done, ok := w.completedAt("on")
			require.True(t, ok)
			start, ok := w.createdAt(sts)
			require.True(t, ok)
			assert.Equal(t, tt.createdAfterOK, start > done, "same timestamps %s, revisions %d and %d", at, done, start)
		})
	}
}
