package greptimedb

import (
	"encoding/json"
	"fmt"
	"strconv"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"tsdb-platform/components/kube"
)

// Maintenance mode around datanode rollouts, as the GreptimeDB operator does it:
// while metasrv is in maintenance mode it does not migrate regions or fail them
// over, so a rolling restart of the datanodes does not set off region
// migrations mid-upgrade.
//
// metasrv v1.1.4 serves POST /admin/maintenance/enable and /disable on its HTTP
// port (src/meta-srv/src/service/admin.rs, admin_axum_router).
const (
	MaintenancePath = "/admin/maintenance"
	// MaintenanceComponent is the component label of the maintenance Jobs' pods.
	MaintenanceComponent = "maintenance"
	// maintenanceDeadline bounds each Job: metasrv answers within seconds once up.
	maintenanceDeadline = 600
	// MaintenanceSettleSeconds is how long the maintenance-on Job waits after
	// metasrv accepted the request. The leader reads the flag through a cache
	// with a 10 s time-to-live (GreptimeDB v1.1.4,
	// src/common/meta/src/key/runtime_switch.rs, CACHE_TTL), and a replica that
	// is not the leader may have answered: only after the TTL has passed is
	// maintenance certain to be in effect on the leader, so the datanode rollout,
	// which waits for this Job, starts after that.
	MaintenanceSettleSeconds = 11
)

// Environment of the maintenance Jobs' container.
const (
	// EnvMaintenanceURL is metasrv's enable or disable URL.
	EnvMaintenanceURL = "MAINTENANCE_URL"
	// EnvMaintenanceSettle is how many seconds to wait after metasrv accepted.
	EnvMaintenanceSettle = "MAINTENANCE_SETTLE_SECONDS"
)

// MaintenanceScript POSTs to $MAINTENANCE_URL until metasrv accepts, then
// waits $MAINTENANCE_SETTLE_SECONDS.
const MaintenanceScript = `until wget -q -T 5 -O - --post-data '' "$MAINTENANCE_URL"; do echo waiting for meta; sleep 2; done
if [ "$MAINTENANCE_SETTLE_SECONDS" -gt 0 ]; then
  echo "waiting ${MAINTENANCE_SETTLE_SECONDS}s for metasrv's leader to see the change"
  sleep "$MAINTENANCE_SETTLE_SECONDS"
fi`

// maintenanceContainer turns metasrv's maintenance mode on or off at url: "on"
// then waits out the leader's cache.
func maintenanceContainer(image, onOff string, url pulumi.StringInput) corev1.ContainerArgs {
	settle := 0
	if onOff == "on" {
		settle = MaintenanceSettleSeconds
	}
	return scriptContainer(MaintenanceComponent, image, MaintenanceScript, corev1.EnvVarArray{
		corev1.EnvVarArgs{Name: pulumi.String(EnvMaintenanceURL), Value: url},
		corev1.EnvVarArgs{Name: pulumi.String(EnvMaintenanceSettle), Value: pulumi.String(strconv.Itoa(settle))},
	})
}

// Annotations on the maintenance Jobs' pod templates. A Job's pod template is
// immutable, so the provider replaces the Job (deleting it first, as its name
// stays) whenever either changes, and the new Job runs.
const (
	// RolloutAnnotation carries the rollout's checksum: the "on" Job runs again
	// for every rollout, and for a revert to an earlier one.
	RolloutAnnotation = "tsdb-platform/rollout"
	// EnableRunAnnotation on the "off" Job carries the uid of the "on" Job it
	// closes: whenever maintenance was turned on again, it is turned off again.
	// Without it, a rollout A→B that failed after "on" ran, reverted to A,
	// would find "off" for A unchanged, run nothing and leave metasrv in
	// maintenance (failover off) after a successful `pulumi up`.
	EnableRunAnnotation = "tsdb-platform/maintenance-on-uid"
)

// MaintenanceJobName names the Job that turns metasrv's maintenance mode on
// ("on") or off ("off") around the cluster's datanode rollouts.
func MaintenanceJobName(cluster, onOff string) string {
	return fmt.Sprintf("%s-maintenance-%s", cluster, onOff)
}

// rolloutChecksum identifies a datanode rollout: what changes the pod template
// apart from secrets (image, the rendered config, resources, service account).
// A changed checksum replaces the "on" Job, so the Jobs run once per rollout; a
// replica count change is no rollout and keeps them. Secret data is left out so
// that no hash of a credential ends up in an object.
func (b *datanodeBuilder) rolloutChecksum(config string) (string, error) {
	pod, err := json.Marshal(struct {
		Resources      kube.Resources
		ServiceAccount ServiceAccountSpec
	}{b.args.Spec.Resources, b.args.Spec.ServiceAccount})
	if err != nil {
		return "", err
	}
	return kube.Checksum(b.Image, b.WaitImage, config, string(pod))[:8], nil
}

// newMaintenanceOn creates the Job that turns maintenance mode on before the
// rollout whose checksum is rollout, after the resources in after.
func (b *datanodeBuilder) newMaintenanceOn(rollout string, after []pulumi.Resource) (*batchv1.Job, error) {
	return b.newMaintenanceJob("on", pulumi.StringMap{RolloutAnnotation: pulumi.String(rollout)}, after)
}

// newMaintenanceOff creates the Job that turns maintenance mode off after the
// datanodes rolled: a new one for every run of on.
func (b *datanodeBuilder) newMaintenanceOff(on *batchv1.Job, rollout string, after []pulumi.Resource) (*batchv1.Job, error) {
	return b.newMaintenanceJob("off", pulumi.StringMap{
		RolloutAnnotation:   pulumi.String(rollout),
		EnableRunAnnotation: on.Metadata.Uid().Elem(),
	}, after)
}

// newMaintenanceJob creates the Job that turns metasrv's maintenance mode on or
// off. It retries until metasrv answers, within maintenanceDeadline.
func (b *datanodeBuilder) newMaintenanceJob(onOff string, annotations pulumi.StringMap, after []pulumi.Resource) (*batchv1.Job, error) {
	action := map[string]string{"on": "enable", "off": "disable"}[onOff]
	url := pulumi.Sprintf("http://%s:%d%s/%s", b.fqdn(MetaName(b.Cluster)), HTTPPort, MaintenancePath, action)
	id := b.identity(MaintenanceComponent)
	name := MaintenanceJobName(b.Cluster, onOff)
	pod := kube.JobPod(UID)
	pod.Containers = corev1.ContainerArray{maintenanceContainer(b.WaitImage, onOff, url)}
	spec := kube.JobSpec(id, pod, 3, maintenanceDeadline)
	spec.Template = &corev1.PodTemplateSpecArgs{Metadata: id.PodMeta(annotations), Spec: pod}
	job, err := batchv1.NewJob(b.Ctx, name, &batchv1.JobArgs{
		Metadata: id.ObjectMeta(name, b.Namespace),
		Spec:     spec,
	}, append([]pulumi.ResourceOption{b.Parent}, kube.DependsOn(after)...)...)
	if err != nil {
		return nil, fmt.Errorf("maintenance %s job: %w", onOff, err)
	}
	return job, nil
}
