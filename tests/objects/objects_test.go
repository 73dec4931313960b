package objects_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/tests/objects"
)

// recorder is a testing.TB that records failures instead of failing the test.
type recorder struct {
	testing.TB
	failed bool
	msgs   []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.failed = true
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) FailNow() {
	r.failed = true
	runtime.Goexit()
}

// check runs f against a recorder, as a test body would run.
func check(t *testing.T, f func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func statefulSet(spec map[string]any) *mockrun.Resource {
	return &mockrun.Resource{
		Type: objects.StatefulSetType, Name: "db", Custom: true,
		Inputs: resource.NewPropertyMapFromMap(map[string]any{"metadata": map[string]any{"name": "db"}, "spec": spec}),
	}
}

func TestDecode(t *testing.T) {
	sts := objects.Decode[appsv1.StatefulSet](t, statefulSet(map[string]any{"replicas": 3, "serviceName": "db-hs"}))
	assert.Equal(t, "db", sts.Name)
	assert.Equal(t, objects.Ptr(int32(3)), sts.Spec.Replicas)
	assert.Equal(t, "db-hs", sts.Spec.ServiceName)
}

// TestDecodeFailsWithAMessage: a value of the wrong type or a field the type does not
// have fails the test, naming the resource, instead of panicking or being dropped.
func TestDecodeFailsWithAMessage(t *testing.T) {
	for name, spec := range map[string]map[string]any{
		"wrong type":    {"replicas": "three"},
		"unknown field": {"replicaCount": 3},
	} {
		t.Run(name, func(t *testing.T) {
			r := check(t, func(tb testing.TB) { objects.Decode[appsv1.StatefulSet](tb, statefulSet(spec)) })
			require.True(t, r.failed)
			assert.Contains(t, strings.Join(r.msgs, "\n"), objects.StatefulSetType+" db")
		})
	}
}

func TestLookupsRequireTheObject(t *testing.T) {
	res := &mockrun.Result{}
	r := check(t, func(tb testing.TB) { objects.StatefulSet(tb, res, "missing") })
	require.True(t, r.failed)
	assert.Contains(t, strings.Join(r.msgs, "\n"), `no kubernetes:apps/v1:StatefulSet "missing"`)

	sts := objects.Decode[appsv1.StatefulSet](t, statefulSet(map[string]any{}))
	r = check(t, func(tb testing.TB) { objects.Container(tb, sts.Spec.Template.Spec, "db") })
	require.True(t, r.failed)
	r = check(t, func(tb testing.TB) { objects.MatchLabels(tb, sts.Spec.Selector) })
	require.True(t, r.failed)
}
