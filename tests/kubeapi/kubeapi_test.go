package kubeapi_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"tsdb-platform/tests/kubeapi"
)

// apiserver is started by the first test that needs it and stopped by TestMain.
var apiserver kubeapi.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := apiserver.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "kubeapi:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// restrictedNamespace returns a fresh namespace enforcing the restricted Pod
// Security Standard.
func restrictedNamespace(t *testing.T, srv *kubeapi.Server) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(name, "-")
	srv.CreateRestrictedNamespace(t, name)
	return name
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func decode(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	obj := map[string]any{}
	require.NoError(t, yaml.Unmarshal([]byte(manifest), &obj))
	return &unstructured.Unstructured{Object: obj}
}

// podTemplate returns spec.template of a workload.
func podTemplate(t *testing.T, workload *unstructured.Unstructured) map[string]any {
	t.Helper()
	tmpl, found, err := unstructured.NestedMap(workload.Object, "spec", "template")
	require.NoError(t, err)
	require.True(t, found, "workload has no spec.template")
	return tmpl
}

const restrictedDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: NAMESPACE
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: web
        image: registry.example/web:1.2.3
        ports:
        - {name: http, containerPort: 8080}
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
        resources:
          requests: {cpu: 10m, memory: 16Mi}
          limits: {memory: 64Mi}
        volumeMounts:
        - {name: config, mountPath: /etc/web}
      volumes:
      - name: config
        configMap: {name: web}
`

const service = `
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: NAMESPACE
spec:
  selector: {app: web}
  ports:
  - {name: PORTNAME, port: 80, targetPort: http}
`

const configMap = `
apiVersion: v1
kind: ConfigMap
metadata:
  name: web
  namespace: NAMESPACE
data:
  config.toml: |
    mode = "standalone"
`

func inNamespace(manifest, ns string) string {
	return strings.ReplaceAll(manifest, "NAMESPACE", ns)
}

func TestValidRestrictedWorkloadIsAccepted(t *testing.T) {
	t.Parallel()
	srv := apiserver.Get(t)
	ctx := testContext(t)
	ns := restrictedNamespace(t, srv)

	deploy := decode(t, inNamespace(restrictedDeployment, ns))
	for _, obj := range []*unstructured.Unstructured{
		decode(t, inNamespace(configMap, ns)),
		deploy,
		decode(t, strings.ReplaceAll(inNamespace(service, ns), "PORTNAME", "http")),
	} {
		warnings, err := srv.DryRunApply(ctx, obj)
		require.NoError(t, err, "%s %s", obj.GetKind(), obj.GetName())
		assert.Empty(t, warnings, "%s %s", obj.GetKind(), obj.GetName())
	}

	warnings, err := srv.DryRunPodFromTemplate(ctx, ns, podTemplate(t, deploy), "web-0")
	require.NoError(t, err)
	assert.Empty(t, warnings)

	// Dry runs persist nothing.
	dyn, err := dynamic.NewForConfig(srv.Config())
	require.NoError(t, err)
	_, err = dyn.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}).
		Namespace(ns).Get(ctx, "web", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "dry-run apply persisted the deployment: %v", err)
}

func TestInvalidObjectsAreRejected(t *testing.T) {
	t.Parallel()
	srv := apiserver.Get(t)
	ns := restrictedNamespace(t, srv)

	tests := []struct {
		name     string
		manifest string
		invalid  bool // want an Invalid (422) status, not just any API error
		wantErr  []string
	}{
		{
			name: "container port name longer than 15 characters",
			manifest: strings.Replace(inNamespace(restrictedDeployment, ns),
				"{name: http, containerPort: 8080}", "{name: http-metrics-endpoint, containerPort: 8080}", 1),
			invalid: true,
			wantErr: []string{"spec.template.spec.containers[0].ports[0].name", "must be no more than 15 characters"},
		},
		{
			// Unlike container port names, Service port names may be up
			// to 63 characters long, but they must be DNS labels.
			name:     "service port name that is not a DNS label",
			manifest: strings.ReplaceAll(inNamespace(service, ns), "PORTNAME", "Metrics_Port"),
			invalid:  true,
			wantErr:  []string{"spec.ports[0].name", "RFC 1123 label"},
		},
		{
			name: "deployment selector not matching its template labels",
			manifest: strings.Replace(inNamespace(restrictedDeployment, ns),
				"matchLabels: {app: web}", "matchLabels: {app: api}", 1),
			invalid: true,
			wantErr: []string{"spec.template.metadata.labels", "does not match template"},
		},
		{
			// Server-side apply rejects it while building the typed patch
			// (with a 500, not a 422).
			name: "unknown field",
			manifest: strings.Replace(inNamespace(restrictedDeployment, ns),
				"replicas: 2", "replicas: 2\n  replica: 3", 1),
			wantErr: []string{".spec.replica", "field not declared in schema"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := srv.DryRunApply(testContext(t), decode(t, tt.manifest))
			require.Error(t, err)
			t.Logf("rejected: %v", err)
			var status apierrors.APIStatus
			require.True(t, errors.As(err, &status), "want an error from the API server, got %v", err)
			if tt.invalid {
				assert.True(t, apierrors.IsInvalid(err), "want an Invalid status, got %v", err)
			}
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestPodSecurityViolationsAreCaught(t *testing.T) {
	t.Parallel()
	srv := apiserver.Get(t)
	ctx := testContext(t)
	ns := restrictedNamespace(t, srv)

	privileged := inNamespace(restrictedDeployment, ns)
	privileged = strings.Replace(privileged, "runAsNonRoot: true", "runAsNonRoot: false", 1)
	privileged = strings.Replace(privileged, "allowPrivilegeEscalation: false", "privileged: true", 1)
	deploy := decode(t, privileged)

	// For workloads PodSecurity enforce only warns ...
	warnings, err := srv.DryRunApply(ctx, deploy)
	require.NoError(t, err)
	require.NotEmpty(t, warnings)
	t.Logf("warnings: %q", warnings)
	joined := strings.Join(warnings, "\n")
	assert.Contains(t, joined, `would violate PodSecurity "restricted:latest"`)
	assert.Contains(t, joined, "privileged")
	assert.Contains(t, joined, "runAsNonRoot")

	// ... so the pod it would create is what gets rejected.
	_, err = srv.DryRunPodFromTemplate(ctx, ns, podTemplate(t, deploy), "web-0")
	require.Error(t, err)
	t.Logf("rejected: %v", err)
	assert.True(t, apierrors.IsForbidden(err), "want Forbidden, got %v", err)
	assert.Contains(t, err.Error(), `violates PodSecurity "restricted:latest"`)
	assert.Contains(t, err.Error(), "privileged")
}

func TestDryRunApplyNeedsNamespace(t *testing.T) {
	t.Parallel()
	srv := apiserver.Get(t)
	cm := decode(t, inNamespace(configMap, ""))
	cm.SetNamespace("")
	_, err := srv.DryRunApply(testContext(t), cm)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "metadata.namespace")
}

func TestStartTearsDownOnCleanup(t *testing.T) {
	t.Parallel()
	var cfg *rest.Config
	t.Run("server", func(t *testing.T) {
		srv := kubeapi.Start(t)
		cfg = srv.Config()
		cfg.Host = "https://example.invalid" // Config hands out copies
		cfg = srv.Config()

		dc, err := discovery.NewDiscoveryClientForConfig(cfg)
		require.NoError(t, err)
		version, err := dc.ServerVersion()
		require.NoError(t, err)
		assert.Equal(t, kubeapi.Version, version.GitVersion)
	})
	if cfg == nil {
		t.Skip("the server did not start")
	}

	// The subtest's cleanups have run: both processes are gone.
	cfg.Timeout = 5 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	require.NoError(t, err)
	_, err = dc.ServerVersion()
	require.Error(t, err, "kube-apiserver still answers after its test ended")
}

func TestFindBinariesExplainsWhatIsMissing(t *testing.T) {
	t.Setenv(kubeapi.EnvKubeAPIServer, filepath.Join(t.TempDir(), "no-such-kube-apiserver"))
	_, err := kubeapi.FindBinaries()
	var missing *kubeapi.MissingBinaryError
	require.ErrorAs(t, err, &missing)
	assert.Contains(t, err.Error(), "no-such-kube-apiserver")
	assert.Contains(t, err.Error(), "bash scripts/kube-apiserver.sh")
}

func TestLaunchFailureShowsTheServerLog(t *testing.T) {
	t.Parallel()
	bins, err := kubeapi.FindBinaries()
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx := testContext(t)
	_, err = kubeapi.Launch(ctx, kubeapi.Options{
		Binaries:           bins,
		Dir:                t.TempDir(),
		StartTimeout:       20 * time.Second,
		ExtraAPIServerArgs: []string{"--no-such-flag"},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kube-apiserver exited before it was ready")
	assert.Contains(t, err.Error(), "unknown flag: --no-such-flag")
}
