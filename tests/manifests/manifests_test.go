package manifests_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/tests/kubeapi"
	"tsdb-platform/tests/manifests"
)

var update = flag.Bool("update", false, "rewrite the golden manifests under tests/testdata/golden")

// apiserver is started by the first test that needs it and stopped by TestMain.
var apiserver kubeapi.Shared

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if err := apiserver.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "manifests:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// stackCase is a stack whose manifests are checked: every committed stack file, and
// the test-only stack that uses every optional feature.
type stackCase = mockrun.StackRef

func stackCases(t *testing.T) []stackCase {
	t.Helper()
	cases, err := mockrun.AllStacks()
	require.NoError(t, err)
	return cases
}

func render(t *testing.T, sc stackCase) []manifests.Object {
	t.Helper()
	res, _, err := mockrun.RunStackFile(sc.Path, sc.Name, false)
	require.NoError(t, err)
	objs, err := manifests.Objects(res)
	require.NoError(t, err)
	require.NotEmpty(t, objs)
	return objs
}

// TestGoldenManifests compares every stack's objects with the reviewed YAML under
// tests/testdata/golden/<stack>/. Regenerate with `go test ./tests/manifests -update`
// (or `make golden`) and review the diff.
func TestGoldenManifests(t *testing.T) {
	root, err := mockrun.RepoRoot()
	require.NoError(t, err)
	for _, sc := range stackCases(t) {
		t.Run(sc.Name, func(t *testing.T) {
			files, err := manifests.Render(render(t, sc))
			require.NoError(t, err)
			dir := filepath.Join(root, "tests", "testdata", "golden", sc.Name)
			if *update {
				require.NoError(t, manifests.WriteDir(dir, files))
				return
			}
			golden, err := manifests.ReadDir(dir)
			require.NoError(t, err, "no golden manifests: run `make golden` and review them")
			assert.Equal(t, sortedKeys(golden), sortedKeys(files), "the set of objects changed: run `make golden` and review the diff")
			for name, want := range golden {
				if got, ok := files[name]; ok {
					assert.Equal(t, string(want), string(got), "%s changed: run `make golden` and review the diff", name)
				}
			}
		})
	}
}

// TestGoldenManifestsHideSecrets: golden files show where secrets go, never a value.
func TestGoldenManifestsHideSecrets(t *testing.T) {
	for _, sc := range stackCases(t) {
		files, err := manifests.Render(render(t, sc))
		require.NoError(t, err)
		for name, b := range files {
			assert.NotContains(t, string(b), "TESTSECRET-", "%s/%s shows a secret's value", sc.Name, name)
		}
	}
}

// TestAPIServerAcceptsEveryObject server-side applies (dry run) every object of every
// stack to a real kube-apiserver whose namespaces enforce Pod Security "restricted",
// and dry-run creates a Pod from every pod template: any rejection or warning fails.
func TestAPIServerAcceptsEveryObject(t *testing.T) {
	srv := apiserver.Get(t)
	for _, sc := range stackCases(t) {
		t.Run(sc.Name, func(t *testing.T) {
			objs := render(t, sc)
			problems := validate(t, srv, objs)
			assert.Empty(t, problems, "the API server refused objects of stack %s", sc.Name)
			t.Logf("%s: %d objects accepted with no warnings", sc.Name, len(objs))
		})
	}
}

// TestAPIServerCatchesBrokenObjects keeps the suite honest: deliberately broken
// objects (an invalid port name, a pod that violates "restricted") must be reported.
func TestAPIServerCatchesBrokenObjects(t *testing.T) {
	srv := apiserver.Get(t)
	root, err := mockrun.RepoRoot()
	require.NoError(t, err)
	objs := render(t, stackCase{Name: "dev", Path: filepath.Join(root, "Pulumi.dev.yaml")})

	workload := firstOfKind(t, objs, "StatefulSet")
	containers := podContainers(t, workload.Body)

	t.Run("invalid port name", func(t *testing.T) {
		broken := workload.Body.DeepCopy()
		cs := podContainers(t, broken)
		ports, _ := cs[0]["ports"].([]any)
		require.NotEmpty(t, ports, "the first container declares ports")
		ports[0].(map[string]any)["name"] = "a-port-name-longer-than-fifteen"
		setPodContainers(t, broken, cs)
		problems := validate(t, srv, []manifests.Object{namespaceOf(objs), {Resource: workload.Resource, Body: broken}})
		require.NotEmpty(t, problems)
		assert.Contains(t, strings.Join(problems, "\n"), "must be no more than 15 characters")
	})

	t.Run("privileged container", func(t *testing.T) {
		require.NotEmpty(t, containers)
		broken := workload.Body.DeepCopy()
		cs := podContainers(t, broken)
		cs[0]["securityContext"] = map[string]any{"privileged": true}
		setPodContainers(t, broken, cs)
		problems := validate(t, srv, []manifests.Object{namespaceOf(objs), {Resource: workload.Resource, Body: broken}})
		require.NotEmpty(t, problems)
		assert.Contains(t, strings.Join(problems, "\n"), `violate PodSecurity "restricted:latest"`)
	})
}

// validate runs manifests.Check and fails t if the check itself cannot run.
func validate(t *testing.T, srv *kubeapi.Server, objs []manifests.Object) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	problems, err := manifests.Check(ctx, srv, objs)
	require.NoError(t, err)
	return problems
}

func firstOfKind(t *testing.T, objs []manifests.Object, kind string) manifests.Object {
	t.Helper()
	for _, o := range objs {
		if o.Body.GetKind() == kind {
			return o
		}
	}
	t.Fatalf("no %s among the objects", kind)
	return manifests.Object{}
}

func namespaceOf(objs []manifests.Object) manifests.Object {
	for _, o := range objs {
		if o.Body.GetKind() == "Namespace" {
			return o
		}
	}
	return manifests.Object{}
}

func podContainers(t *testing.T, obj *unstructured.Unstructured) []map[string]any {
	t.Helper()
	raw, found, err := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers")
	require.NoError(t, err)
	require.True(t, found)
	out := make([]map[string]any, len(raw))
	for i, c := range raw {
		out[i] = c.(map[string]any)
	}
	return out
}

func setPodContainers(t *testing.T, obj *unstructured.Unstructured, cs []map[string]any) {
	t.Helper()
	raw := make([]any, len(cs))
	for i, c := range cs {
		raw[i] = c
	}
	require.NoError(t, unstructured.SetNestedSlice(obj.Object, raw, "spec", "template", "spec", "containers"))
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
