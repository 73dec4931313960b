package greptimedb_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"tsdb-platform/components/greptimedb"
	"tsdb-platform/tests/objects"
)

// flownodes turns the flownodes on with n replicas.
func flownodes(n int) map[string]any {
	return map[string]any{"enabled": true, "replicas": n}
}

// TestFlownodeManifest: the flownodes are a StatefulSet without volumes, each
// numbered by its ordinal, registered with meta, started after the frontends
// (and waiting in the pod for them to answer), with a budget and the
// cluster's anti-affinity; the frontends then open their internal gRPC port,
// which is in no Service.
func TestFlownodeManifest(t *testing.T) {
	isolated := map[string]string{"networkPolicy": `{"enabled": true}`}
	res := objects.Run(t, config(t, []map[string]any{{"name": "metrics", "flownode": flownodes(2), "antiAffinity": "required"}}, isolated))
	w := objects.Find(t, res, objects.StatefulSetType, "metrics-flownode")
	assert.Equal(t, objects.Find(t, res, objects.GreptimeDBFlownodeType, "metrics-flownode").URN, w.Parent)
	sts := objects.StatefulSet(t, res, "metrics-flownode")
	require.NotNil(t, sts.Spec.Replicas)
	assert.Equal(t, int32(2), *sts.Spec.Replicas)
	assert.Empty(t, sts.Spec.VolumeClaimTemplates, "a flownode keeps no state on disk")
	assert.False(t, w.Protect, "nothing to protect")
	assert.Equal(t, "metrics-flownode", sts.Spec.ServiceName)
	assert.Equal(t, corev1.ClusterIPNone, objects.Service(t, res, "metrics-flownode").Spec.ClusterIP)

	c := container(t, w, "flownode")
	assert.Equal(t, []string{"/bin/sh", "-c", greptimedb.FlownodeScript}, c.Command)
	env := objects.Env(t, c)
	assert.Equal(t, fqdn("metrics-meta")+":3002", env[greptimedb.EnvMetasrvAddrs].Value)
	assertHealthProbes(t, c)
	wait := initContainer(t, w, "wait-frontend")
	assert.Equal(t, "http://"+fqdn("metrics-frontend")+":4000/health", objects.Env(t, wait)[greptimedb.EnvWaitURLs].Value,
		"a flownode starts only once a frontend answers")
	cfg := tomlConfig(t, objects.ConfigMap(t, res, "metrics-flownode-config"))
	assert.Contains(t, cfg, "logging")
	assert.NotNil(t, antiAffinity(t, podSpec(t, w), "metrics-flownode").RequiredDuringSchedulingIgnoredDuringExecution)
	assert.Equal(t, 1, objects.PodDisruptionBudget(t, res, "metrics-flownode").Spec.MaxUnavailable.IntValue())

	// After the frontends: the Deployment, not the component.
	frontend := objects.Find(t, res, objects.DeploymentType, "metrics-frontend")
	assert.Contains(t, w.Dependencies, frontend.URN)
	assert.True(t, res.WaitsFor(w, objects.Find(t, res, objects.DeploymentType, "metrics-meta")))

	// The frontends advertise their internal gRPC port, which skips
	// authentication; clients do not see it in the Service.
	fc := container(t, frontend, "frontend")
	assert.Subset(t, fc.Args, []string{"--internal-grpc-bind-addr", "0.0.0.0:4010", "--internal-grpc-server-addr", "$(POD_IP):4010"})
	assert.Contains(t, fc.Ports, corev1.ContainerPort{Name: "grpc-internal", ContainerPort: 4010, Protocol: corev1.ProtocolTCP})
	for _, p := range objects.Service(t, res, "metrics-frontend").Spec.Ports {
		assert.NotEqual(t, int32(4010), p.Port, "the internal port is not a client port")
	}
	// Only the flownodes may reach it.
	var internal []rule
	for _, r := range ingressRules(t, objects.NetworkPolicy(t, res, "metrics-frontend")) {
		if slices.Contains(r.ports, 4010) {
			internal = append(internal, r)
		}
	}
	assert.Equal(t, []rule{{pods: []map[string]string{selector("greptimedb", "flownode")}, ports: []int32{4010}}}, internal)
}

// TestFlownodeNetworkPolicy: the flownodes reach meta, the datanodes and the
// frontends (internal port and health); meta and the frontends reach them.
func TestFlownodeNetworkPolicy(t *testing.T) {
	isolated := map[string]string{"networkPolicy": `{"enabled": true}`}
	res := objects.Run(t, config(t, []map[string]any{{"name": "metrics", "flownode": flownodes(1)}}, isolated))
	meta, datanode, frontend, flownode := selector("greptimedb", "meta"), selector("greptimedb", "datanode"), selector("greptimedb", "frontend"), selector("greptimedb", "flownode")
	np := objects.NetworkPolicy(t, res, "metrics-flownode")
	assert.Equal(t, flownode, np.Spec.PodSelector.MatchLabels)
	assert.ElementsMatch(t, []rule{{pods: []map[string]string{frontend, meta}, ports: []int32{4001}}}, ingressRules(t, np))
	assert.ElementsMatch(t, []rule{
		{pods: []map[string]string{meta}, ports: []int32{3002}},
		{pods: []map[string]string{datanode}, ports: []int32{4001}},
		{pods: []map[string]string{frontend}, ports: []int32{4000, 4010}},
	}, egressRules(t, np)[1:])
	assert.Contains(t, egressRules(t, objects.NetworkPolicy(t, res, "metrics-meta")), rule{pods: []map[string]string{datanode, flownode}, ports: []int32{4001}})
	assert.Contains(t, ingressRules(t, objects.NetworkPolicy(t, res, "metrics-datanode")), rule{pods: []map[string]string{flownode, frontend, meta}, ports: []int32{4001}})
}

// TestNoFlownodes: off (dev's default), there is no flownode object and the
// frontends open no internal port.
func TestNoFlownodes(t *testing.T) {
	res := runCluster(t, nil)
	assert.Empty(t, res.OfType(objects.GreptimeDBFlownodeType))
	for _, s := range res.OfType(objects.StatefulSetType) {
		assert.NotEqual(t, "metrics-flownode", s.Name)
	}
	fc := container(t, objects.Find(t, res, objects.DeploymentType, "metrics-frontend"), "frontend")
	assert.NotContains(t, fc.Args, "--internal-grpc-bind-addr")
	for _, p := range fc.Ports {
		assert.NotEqual(t, int32(4010), p.ContainerPort)
	}
}

// TestFlownodeConfigErrors: the flownodes' size, and the frontends' internal
// port, which skips authentication: with auth on it needs isolation.
func TestFlownodeConfigErrors(t *testing.T) {
	cases := []struct {
		name     string
		flownode map[string]any
		extra    map[string]string
		keys     []string
	}{
		{"no replicas", map[string]any{"enabled": true, "replicas": 0}, map[string]string{"networkPolicy": `{"enabled": true}`},
			[]string{"greptimedb[0].flownode.replicas"}},
		{"auth without isolation", flownodes(1), nil, []string{"greptimedb[0].frontend.auth.enabled"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := oneClusterConfig(t, map[string]any{"flownode": tc.flownode})
			for k, v := range tc.extra {
				cfg[k] = v
			}
			cerr := objects.ConfigError(t, cfg)
			assert.Equal(t, tc.keys, cerr.Keys())
		})
	}
	// Without authentication the internal port exposes nothing more than the
	// client ports do.
	accepted(t, map[string]any{"flownode": flownodes(1), "frontend": map[string]any{"auth": map[string]any{"enabled": false}}})
}
