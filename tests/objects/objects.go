// Package objects reads the resources a program run recorded under mocks as typed
// Kubernetes objects (k8s.io/api), so that tests assert on fields rather than on
// nested maps: a change in an object's shape fails the test with a message naming
// the resource and the problem, never a panic in a type assertion. It also holds
// what the component test suites share: type tokens, the test stack's config and
// the run and look-up helpers.
package objects

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
)

// Kubernetes and provider type tokens.
const (
	StatefulSetType         = "kubernetes:apps/v1:StatefulSet"
	DeploymentType          = "kubernetes:apps/v1:Deployment"
	ServiceType             = "kubernetes:core/v1:Service"
	ConfigMapType           = "kubernetes:core/v1:ConfigMap"
	SecretType              = "kubernetes:core/v1:Secret"
	ServiceAccountType      = "kubernetes:core/v1:ServiceAccount"
	NamespaceType           = "kubernetes:core/v1:Namespace"
	PodDisruptionBudgetType = "kubernetes:policy/v1:PodDisruptionBudget"
	NetworkPolicyType       = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	IngressType             = "kubernetes:networking.k8s.io/v1:Ingress"
	JobType                 = "kubernetes:batch/v1:Job"
	CronJobType             = "kubernetes:batch/v1:CronJob"
	PVCType                 = "kubernetes:core/v1:PersistentVolumeClaim"
	ProviderType            = "pulumi:providers:kubernetes"
	RandomPasswordType      = "random:index/randomPassword:RandomPassword"
)

// Component type tokens. They are spelled out here, not taken from the component
// packages, so that the tests pin the tokens a deployed stack's state holds.
const (
	GreptimeDBClusterType  = "tsdb:greptimedb:Cluster"
	GreptimeDBMetaType     = "tsdb:greptimedb:Meta"
	GreptimeDBDatanodeType = "tsdb:greptimedb:Datanode"
	GreptimeDBFrontendType = "tsdb:greptimedb:Frontend"
	GreptimeDBFlownodeType = "tsdb:greptimedb:Flownode"
	EtcdClusterType        = "tsdb:etcd:Cluster"
	QuasarDBClusterType    = "tsdb:quasardb:Cluster"
)

// TestNamespace is the namespace test stacks deploy into.
const TestNamespace = "tsdb-test"

// StackConfig is a test stack's configuration: the test kube context and namespace,
// key (stacks.KeyGreptimeDB, stacks.KeyQuasarDB) set to clusters as JSON, and extra.
func StackConfig(t testing.TB, key string, clusters any, extra map[string]string) map[string]string {
	t.Helper()
	raw, err := json.Marshal(clusters)
	require.NoError(t, err)
	cfg := map[string]string{
		stacks.KeyKubeContext: "test",
		stacks.KeyNamespace:   TestNamespace,
		key:                   string(raw),
	}
	for k, v := range extra {
		cfg[k] = v
	}
	return cfg
}

// Option changes how Run runs the program.
type Option func(*mockrun.Options)

// DryRun runs the program as `pulumi preview` does when on is true.
func DryRun(on bool) Option { return func(o *mockrun.Options) { o.DryRun = on } }

// SecretKeys marks config keys secret, as the CLI does for a key set with --secret.
func SecretKeys(keys ...string) Option {
	return func(o *mockrun.Options) { o.SecretKeys = append(o.SecretKeys, keys...) }
}

// Run runs the program with cfg under mocks and requires it to succeed.
func Run(t testing.TB, cfg map[string]string, opts ...Option) *mockrun.Result {
	t.Helper()
	o := mockrun.Options{Config: cfg}
	for _, f := range opts {
		f(&o)
	}
	res, err := mockrun.Run(stacks.Program, o)
	require.NoError(t, err)
	return res
}

// Find requires a resource of a type and logical name.
func Find(t testing.TB, res *mockrun.Result, typ, name string) *mockrun.Resource {
	t.Helper()
	r := res.Find(typ, name)
	require.NotNil(t, r, "no %s %q registered", typ, name)
	return r
}

// Inputs are a resource's recorded inputs as plain values (secrets unwrapped).
func Inputs(r *mockrun.Resource) map[string]any { return mockrun.Plain(r.Inputs) }

// State is what a resource resolved to: its inputs plus computed values such as
// auto-names, as plain values.
func State(r *mockrun.Resource) map[string]any { return mockrun.Plain(r.State) }

// Decode decodes a resource's recorded inputs into T (appsv1.StatefulSet,
// corev1.Service, ...). A field T does not know, or a value of the wrong type,
// fails the test.
func Decode[T any](t testing.TB, r *mockrun.Resource) T {
	t.Helper()
	return decode[T](t, r, "inputs", Inputs(r))
}

// DecodeState is Decode for what the resource resolved to (with its auto-name).
func DecodeState[T any](t testing.TB, r *mockrun.Resource) T {
	t.Helper()
	return decode[T](t, r, "state", State(r))
}

func decode[T any](t testing.TB, r *mockrun.Resource, what string, plain map[string]any) T {
	t.Helper()
	var out T
	raw, err := json.Marshal(plain)
	require.NoError(t, err, "%s %s: encode %s", r.Type, r.Name, what)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&out), "%s %s: %s do not decode as %T:\n%s", r.Type, r.Name, what, out, raw)
	return out
}

// Get requires a resource of a type and logical name and decodes its inputs.
func Get[T any](t testing.TB, res *mockrun.Result, typ, name string) T {
	t.Helper()
	return Decode[T](t, Find(t, res, typ, name))
}

// StatefulSet is the StatefulSet of a logical name, as registered.
func StatefulSet(t testing.TB, res *mockrun.Result, name string) appsv1.StatefulSet {
	t.Helper()
	return Get[appsv1.StatefulSet](t, res, StatefulSetType, name)
}

// Deployment is the Deployment of a logical name, as registered.
func Deployment(t testing.TB, res *mockrun.Result, name string) appsv1.Deployment {
	t.Helper()
	return Get[appsv1.Deployment](t, res, DeploymentType, name)
}

// Service is the Service of a logical name, as registered.
func Service(t testing.TB, res *mockrun.Result, name string) corev1.Service {
	t.Helper()
	return Get[corev1.Service](t, res, ServiceType, name)
}

// ConfigMap is the ConfigMap of a logical name, as registered.
func ConfigMap(t testing.TB, res *mockrun.Result, name string) corev1.ConfigMap {
	t.Helper()
	return Get[corev1.ConfigMap](t, res, ConfigMapType, name)
}

// Secret is the Secret of a logical name, as registered (secret values unwrapped).
func Secret(t testing.TB, res *mockrun.Result, name string) corev1.Secret {
	t.Helper()
	return Get[corev1.Secret](t, res, SecretType, name)
}

// Namespace is the Namespace of a logical name, as registered.
func Namespace(t testing.TB, res *mockrun.Result, name string) corev1.Namespace {
	t.Helper()
	return Get[corev1.Namespace](t, res, NamespaceType, name)
}

// PodDisruptionBudget is the PodDisruptionBudget of a logical name, as registered.
func PodDisruptionBudget(t testing.TB, res *mockrun.Result, name string) policyv1.PodDisruptionBudget {
	t.Helper()
	return Get[policyv1.PodDisruptionBudget](t, res, PodDisruptionBudgetType, name)
}

// NetworkPolicy is the NetworkPolicy of a logical name, as registered.
func NetworkPolicy(t testing.TB, res *mockrun.Result, name string) networkingv1.NetworkPolicy {
	t.Helper()
	return Get[networkingv1.NetworkPolicy](t, res, NetworkPolicyType, name)
}

// Job is the Job of a logical name, as registered.
func Job(t testing.TB, res *mockrun.Result, name string) batchv1.Job {
	t.Helper()
	return Get[batchv1.Job](t, res, JobType, name)
}

// Meta decodes only a resource's recorded metadata, for any kind of object.
func Meta(t testing.TB, r *mockrun.Resource) metav1.ObjectMeta {
	t.Helper()
	return meta(t, r, "inputs", Inputs(r))
}

// StateMeta is Meta of what the resource resolved to (with its auto-name).
func StateMeta(t testing.TB, r *mockrun.Resource) metav1.ObjectMeta {
	t.Helper()
	return meta(t, r, "state", State(r))
}

func meta(t testing.TB, r *mockrun.Resource, what string, plain map[string]any) metav1.ObjectMeta {
	t.Helper()
	var out struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	raw, err := json.Marshal(map[string]any{"metadata": plain["metadata"]})
	require.NoError(t, err, "%s %s: encode %s", r.Type, r.Name, what)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&out), "%s %s: %s metadata does not decode:\n%s", r.Type, r.Name, what, raw)
	return out.Metadata
}

// MatchLabels requires a label selector and returns its matchLabels.
func MatchLabels(t testing.TB, sel *metav1.LabelSelector) map[string]string {
	t.Helper()
	require.NotNil(t, sel, "no label selector")
	return sel.MatchLabels
}

// ConfigError loads a stack's configuration and requires it to be rejected with
// a *stacks.ConfigError, which it returns.
func ConfigError(t testing.TB, cfg map[string]string) *stacks.ConfigError {
	t.Helper()
	_, err := stacks.Load(stacks.MapLookup(cfg))
	var cerr *stacks.ConfigError
	require.True(t, errors.As(err, &cerr), "want a *ConfigError, got %v", err)
	return cerr
}
