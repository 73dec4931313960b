// Package quasardb_test checks the QuasarDB cluster component through the whole
// program, under the recording mocks: the objects it creates, where its secrets go,
// its validation errors, its dependency edges and its stack outputs.
package quasardb_test

import (
	"maps"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
	"tsdb-platform/tests/objects"
)

// Distinctive secret values: any occurrence of them in a recorded input, state or
// output is one of them leaking.
const (
	testLicense    = "QDB-LICENSE-7f3a9c-only-in-a-secret"
	testPrivateKey = "QDB-PRIVATE-KEY-51e2d0-only-in-a-secret"
	testUserList   = `{"qdb-user-list-8b4e61":"only-in-a-secret"}`
	testPublicKey  = "PQDB-PUBLIC-KEY-for-clients"
)

const testNamespace = objects.TestNamespace

// cluster is one entry of the quasardb config list; fields not given come from the profile.
type cluster map[string]any

// withLicense returns a copy of c with the test license.
func (c cluster) withLicense() cluster {
	out := maps.Clone(c)
	out["license"] = testLicense
	return out
}

// withSecurity returns a copy of c with security on and the test keys.
func (c cluster) withSecurity() cluster { return c.withUserList(testUserList) }

// withUserList returns a copy of c with security on, the test keys and userList.
func (c cluster) withUserList(userList string) cluster {
	out := maps.Clone(c)
	out["security"] = map[string]any{
		"enabled":           true,
		"clusterPrivateKey": testPrivateKey,
		"userList":          userList,
		"clusterPublicKey":  testPublicKey,
	}
	return out
}

// stackConfig is a dev stack deploying the given QuasarDB clusters.
func stackConfig(t *testing.T, clusters ...cluster) map[string]string {
	t.Helper()
	return objects.StackConfig(t, stacks.KeyQuasarDB, clusters, nil)
}

// run runs the program with cfg. The quasardb key is secret, as the CLI marks a key
// when any part of it was set with --secret.
func run(t *testing.T, cfg map[string]string, dryRun bool) *mockrun.Result {
	t.Helper()
	return objects.Run(t, cfg, objects.SecretKeys(stacks.KeyQuasarDB, stacks.KeyGreptimeDB), objects.DryRun(dryRun))
}

// container is the StatefulSet's only container.
func container(t *testing.T, ss appsv1.StatefulSet) corev1.Container {
	t.Helper()
	return objects.OnlyContainer(t, ss.Spec.Template.Spec)
}

// selector is the label selector of cluster name's pods.
func selector(name string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      "quasardb",
		"app.kubernetes.io/instance":  name,
		"app.kubernetes.io/component": "database",
	}
}
