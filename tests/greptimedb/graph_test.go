package greptimedb_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"tsdb-platform/components/greptimedb"
	"tsdb-platform/internal/mockrun"
	"tsdb-platform/tests/objects"
)

// TestStartupOrder: each workload waits for the previous one (etcd, meta,
// datanode, frontend), never the other way round.
func TestStartupOrder(t *testing.T) {
	res := runCluster(t, nil)
	etcd := objects.Find(t, res, objects.StatefulSetType, "metrics-etcd")
	meta := objects.Find(t, res, objects.DeploymentType, "metrics-meta")
	datanode := objects.Find(t, res, objects.StatefulSetType, "metrics-datanode")
	frontend := objects.Find(t, res, objects.DeploymentType, "metrics-frontend")
	order := []*mockrun.Resource{etcd, meta, datanode, frontend}

	for i, later := range order {
		for j, earlier := range order {
			if j < i {
				assert.True(t, res.WaitsFor(later, earlier), "%s %s waits for %s %s", later.Kind(), later.Name, earlier.Kind(), earlier.Name)
			} else {
				assert.False(t, res.WaitsFor(later, earlier), "%s %s must not wait for %s %s", later.Kind(), later.Name, earlier.Kind(), earlier.Name)
			}
		}
	}
	// The edges are explicit on the workloads, not on their components.
	assert.Contains(t, meta.Dependencies, etcd.URN)
	assert.Contains(t, datanode.Dependencies, meta.URN)
	assert.Contains(t, frontend.Dependencies, datanode.URN)
	for _, typ := range []string{objects.GreptimeDBClusterType, objects.EtcdClusterType, objects.GreptimeDBMetaType, objects.GreptimeDBDatanodeType, objects.GreptimeDBFrontendType} {
		for _, c := range res.OfType(typ) {
			assert.Empty(t, hasKind(res, c.Dependencies, objects.StatefulSetType, objects.DeploymentType), "component %s %s has no workload dependency", typ, c.Name)
		}
	}
}

// TestNothingSerialisesBehindWorkloads: ConfigMaps, Secrets, Services, PDBs and
// the password are created without waiting for any workload. (The maintenance
// Jobs are steps of the rollout; TestMaintenanceAroundDatanodeRollout orders them.)
func TestNothingSerialisesBehindWorkloads(t *testing.T) {
	res := objects.Run(t, config(t, []map[string]any{{"name": "metrics",
		"datanode": map[string]any{"replicas": 2, "objectStorage": map[string]any{
			"type": "S3", "bucket": "bkt", "region": "us-east-1", "accessKeyId": "id", "secretAccessKey": "key"}},
		"frontend": map[string]any{"replicas": 2},
	}}, map[string]string{"networkPolicy": `{"enabled": true}`}))
	checked := 0
	for _, r := range res.Resources {
		if r.Type == objects.StatefulSetType || r.Type == objects.DeploymentType || r.Type == objects.JobType || !r.Custom {
			continue
		}
		checked++
		assert.Empty(t, hasKind(res, res.DependsOn(r), objects.StatefulSetType, objects.DeploymentType), "%s %s waits for a workload", r.Type, r.Name)
	}
	assert.GreaterOrEqual(t, checked, 15)
}

// TestTwoClustersShareNoEdges: two clusters in one stack are independent.
func TestTwoClustersShareNoEdges(t *testing.T) {
	res := objects.Run(t, config(t, []map[string]any{{"name": "metrics"}, {"name": "logs"}}, nil))
	clusters := map[string]*mockrun.Resource{}
	for _, name := range []string{"metrics", "logs"} {
		clusters[name] = objects.Find(t, res, objects.GreptimeDBClusterType, name)
		require.NotNil(t, res.Find(objects.StatefulSetType, name+"-etcd"))
		require.NotNil(t, res.Find(objects.DeploymentType, name+"-frontend"))
	}
	owner := map[string]string{}
	for name, c := range clusters {
		for _, d := range res.Descendants(c.URN) {
			owner[d.URN] = name
		}
	}
	for name, c := range clusters {
		for _, d := range res.Descendants(c.URN) {
			for _, dep := range res.DependsOn(d) {
				if other, ok := owner[dep]; ok {
					assert.Equal(t, name, other, "%s %s of %s depends on %s of %s", d.Type, d.Name, name, dep, other)
				}
			}
		}
	}
	// Each cluster's objects have their own names and selectors.
	metaCfg := tomlConfig(t, objects.ConfigMap(t, res, "logs-meta-config"))
	assert.Equal(t, "logs", metaCfg["store_key_prefix"])
	assert.Equal(t, []any{fqdn("logs-etcd-client") + ":2379"}, metaCfg["store_addrs"])
	assert.NotEqual(t,
		objects.MatchLabels(t, objects.StatefulSet(t, res, "logs-datanode").Spec.Selector),
		objects.MatchLabels(t, objects.StatefulSet(t, res, "metrics-datanode").Spec.Selector))
	for _, name := range []string{"metrics", "logs"} {
		e, ok := res.Export("greptimedb." + name + ".mysql")
		require.True(t, ok)
		assert.Equal(t, fqdn(name+"-frontend")+":4002", e.Value)
	}
}

// TestMaintenanceAroundDatanodeRollout: metasrv goes into maintenance mode before
// the datanodes roll and out of it after: the "on" Job waits for meta, the
// StatefulSet for the "on" Job, the "off" Job for the StatefulSet, and the
// frontends do not wait for maintenance to end. The Jobs keep their names; their
// pod templates carry the rollout's checksum, so an image or config change
// replaces (re-runs) them and a scale-out keeps them. The "off" Job's template
// carries the "on" Job's uid through a property dependency: whenever "on" runs
// again (a revert after a failed rollout included), the engine replaces "off" too.
func TestMaintenanceAroundDatanodeRollout(t *testing.T) {
	jobs := func(res *mockrun.Result) (on, off *mockrun.Resource) {
		t.Helper()
		on = objects.Find(t, res, objects.JobType, "metrics-maintenance-on")
		off = objects.Find(t, res, objects.JobType, "metrics-maintenance-off")
		return on, off
	}
	rollout := func(r *mockrun.Resource) string {
		t.Helper()
		job := objects.Decode[batchv1.Job](t, r)
		return job.Spec.Template.Annotations[greptimedb.RolloutAnnotation]
	}
	res := runCluster(t, nil)
	on, off := jobs(res)
	meta := objects.Find(t, res, objects.DeploymentType, "metrics-meta")
	sts := objects.Find(t, res, objects.StatefulSetType, "metrics-datanode")
	frontend := objects.Find(t, res, objects.DeploymentType, "metrics-frontend")
	assert.True(t, res.WaitsFor(on, meta), "on waits for meta")
	assert.True(t, res.WaitsFor(sts, on), "datanodes wait for maintenance on")
	assert.True(t, res.WaitsFor(off, sts), "off waits for the datanodes")
	assert.False(t, res.WaitsFor(frontend, off), "frontends do not wait for maintenance off")

	for r, want := range map[*mockrun.Resource]string{on: "/admin/maintenance/enable", off: "/admin/maintenance/disable"} {
		job := objects.Decode[batchv1.Job](t, r)
		c := objects.OnlyContainer(t, job.Spec.Template.Spec)
		assert.Equal(t, []string{"/bin/sh", "-c", greptimedb.MaintenanceScript}, c.Command)
		assert.Equal(t, "http://"+fqdn("metrics-meta")+":4000"+want, objects.Env(t, c)[greptimedb.EnvMaintenanceURL].Value)
		assert.Equal(t, corev1.RestartPolicyOnFailure, job.Spec.Template.Spec.RestartPolicy)
		require.NotNil(t, job.Spec.ActiveDeadlineSeconds, "a bounded Job")
		assert.Equal(t, "maintenance", job.Spec.Template.Labels["app.kubernetes.io/component"],
			"not selected by the datanodes' Service, PDB or anti-affinity")
	}
	require.NotEmpty(t, rollout(on), "the on Job's template names the rollout")
	assert.Equal(t, rollout(on), rollout(off))
	offJob := objects.Decode[batchv1.Job](t, off)
	assert.True(t, strings.HasPrefix(offJob.Spec.Template.Annotations[greptimedb.EnableRunAnnotation], mockrun.UIDPrefix),
		"the off Job's template carries the on Job's uid: %v", offJob.Spec.Template.Annotations)
	assert.Contains(t, off.PropertyDependencies["spec"], on.URN,
		"the off Job's spec depends on the on Job's outputs, so replacing on replaces off")
	assert.NotContains(t, sts.PropertyDependencies["spec"], on.URN,
		"the datanodes only wait for the on Job: replacing it must not replace the StatefulSet")

	same := map[string]map[string]any{"more datanodes": {"datanode": map[string]any{"replicas": 3}}}
	changed := map[string]map[string]any{
		"log level": {"logging": map[string]any{"level": "debug"}},
		"image":     {"image": "greptime/greptimedb:v1.1.3"},
		"resources": {"datanode": map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "2Gi"}}}},
	}
	for name, overrides := range same {
		other, _ := jobs(runCluster(t, overrides))
		assert.Equal(t, rollout(on), rollout(other), "%s is no rollout", name)
	}
	for name, overrides := range changed {
		other, _ := jobs(runCluster(t, overrides))
		assert.NotEqual(t, rollout(on), rollout(other), "a %s change is a rollout", name)
	}
}
