package etcd

import (
	"fmt"
	"strconv"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/kube"
)

// BackupSpec is a CronJob that saves an etcd snapshot (`etcdctl snapshot save`)
// to a volume of its own, keeping the newest ones.
type BackupSpec struct {
	Enabled bool `json:"enabled"`
	// Schedule is the CronJob's schedule, in cron syntax.
	Schedule string `json:"schedule"`
	// Keep is how many snapshots the volume keeps.
	Keep int `json:"keep"`
	// Storage is the snapshots' volume.
	Storage kube.Storage `json:"storage"`
}

// Validate checks the backup's schedule, retention and volume (when enabled).
func (s BackupSpec) Validate(p *field.Path) field.ErrorList {
	if !s.Enabled {
		return nil
	}
	errs := kube.ValidateSchedule(s.Schedule, p.Child("schedule"))
	if s.Keep < 1 || s.Keep > 1000 {
		errs = append(errs, field.Invalid(p.Child("keep"), s.Keep, "must be between 1 and 1000 snapshots"))
	}
	return append(errs, s.Storage.Validate(p.Child("storage"))...)
}

// SnapshotDir is where the backup volume is mounted in the backup pods.
const SnapshotDir = "/backup"

// IncomingSnapshot is the file, in SnapshotDir, that etcdctl saves to before
// the rotation names it.
const IncomingSnapshot = ".incoming.db"

// Environment of the rotation container.
const (
	// EnvSnapshotDir is where the snapshots are (SnapshotDir).
	EnvSnapshotDir = "SNAPSHOT_DIR"
	// EnvKeep is how many snapshots to keep.
	EnvKeep = "KEEP"
)

// RotateScript names the incoming snapshot after the UTC time and keeps the
// newest $KEEP snapshots in $SNAPSHOT_DIR.
const RotateScript = `set -eu
snap="$SNAPSHOT_DIR/snapshot-$(date -u +%Y%m%dT%H%M%SZ).db"
mv "$SNAPSHOT_DIR/` + IncomingSnapshot + `" "$snap"
ls -1t "$SNAPSHOT_DIR"/snapshot-*.db | tail -n "+$((KEEP + 1))" | xargs -r rm -f
echo "saved $snap"
ls -l "$SNAPSHOT_DIR"`

// snapshotEndpointFlag is etcdctl's --endpoints flag for the snapshots: the
// client Service's fully qualified name, which is the name the server
// certificate must carry with TLS (README, etcd.tls): the short Service name
// need not be in it, and etcdctl checks the host name.
func snapshotEndpointFlag(name string, namespace pulumi.StringInput, domain string, tls TLSSpec) pulumi.StringOutput {
	return pulumi.Sprintf("--endpoints=%s://%s", tls.Scheme(), ClientAddress(name, namespace, domain))
}

// backupComponent is the component label of the backup pods and volume.
const backupComponent = "backup"

// backupName names the backup CronJob and its volume claim.
func backupName(name string) string { return name + "-backup" }

// BackupCronJobName names the snapshot CronJob of the etcd cluster named name.
func BackupCronJobName(name string) string { return backupName(name) }

// backupIdentity is the labels of the backup pods: not the members'.
func (b *builder) backupIdentity() kube.Identity {
	id := b.ID
	id.Component = backupComponent
	return id
}

// newBackup creates the snapshot volume and the CronJob. The claim holds data,
// so it gets the stack's data-safety options.
func (b *builder) newBackup() error {
	spec := b.args.Backup
	id := b.backupIdentity()
	name := backupName(b.Name)
	claim := spec.Storage.VolumeClaimTemplate(name, id)
	meta := id.ObjectMeta(name, b.Namespace)
	// Not awaited: with a WaitForFirstConsumer storage class the claim binds only
	// when the first backup runs.
	meta.Annotations = pulumi.StringMap{kube.AnnotationSkipAwait: pulumi.String("true")}
	pvc, err := corev1.NewPersistentVolumeClaim(b.Ctx, name, &corev1.PersistentVolumeClaimArgs{
		Metadata: meta,
		Spec:     claim.Spec,
	}, append(b.DataSafety.StatefulOptions(), b.Parent)...)
	if err != nil {
		return fmt.Errorf("backup volume: %w", err)
	}
	tls := b.args.Spec.TLS
	snapshotCmd := pulumi.StringArray{pulumi.String("/usr/local/bin/etcdctl"), snapshotEndpointFlag(b.Name, b.Namespace, b.ClusterDomain, tls)}
	if tls.Enabled {
		snapshotCmd = append(snapshotCmd, pulumi.ToStringArray([]string{
			"--cacert=" + TLSClientDir + "/ca.crt", "--cert=" + TLSClientDir + "/tls.crt", "--key=" + TLSClientDir + "/tls.key"})...)
	}
	snapshotCmd = append(snapshotCmd, pulumi.ToStringArray([]string{"snapshot", "save", SnapshotDir + "/" + IncomingSnapshot})...)
	mount := corev1.VolumeMountArray{corev1.VolumeMountArgs{Name: pulumi.String("backup"), MountPath: pulumi.String(SnapshotDir)}}
	small := corev1.ResourceRequirementsArgs{
		Requests: pulumi.StringMap{"cpu": pulumi.String("10m"), "memory": pulumi.String("32Mi")},
		Limits:   pulumi.StringMap{"cpu": pulumi.String("500m"), "memory": pulumi.String("256Mi")},
	}
	pod := b.JobPod(UID, b.args.Spec.Scheduling)
	// The etcd image has etcdctl but no shell: it saves the snapshot, then a
	// shell names it and drops old ones.
	pod.InitContainers = corev1.ContainerArray{corev1.ContainerArgs{
		Name:            pulumi.String("snapshot"),
		Image:           pulumi.String(b.Registry.Image(b.args.Spec.Image)),
		Command:         snapshotCmd,
		Env:             corev1.EnvVarArray{corev1.EnvVarArgs{Name: pulumi.String("ETCDCTL_API"), Value: pulumi.String("3")}},
		Resources:       small,
		SecurityContext: kube.ContainerSecurityContext(),
		VolumeMounts:    append(mount, clientCertMounts(tls)...),
	}}
	pod.Containers = corev1.ContainerArray{corev1.ContainerArgs{
		Name:    pulumi.String("rotate"),
		Image:   pulumi.String(b.Registry.Image(b.args.ShellImage)),
		Command: pulumi.ToStringArray([]string{"/bin/sh", "-c", RotateScript}),
		Env: corev1.EnvVarArray{
			corev1.EnvVarArgs{Name: pulumi.String(EnvSnapshotDir), Value: pulumi.String(SnapshotDir)},
			corev1.EnvVarArgs{Name: pulumi.String(EnvKeep), Value: pulumi.String(strconv.Itoa(spec.Keep))},
		},
		Resources:       small,
		SecurityContext: kube.ContainerSecurityContext(),
		VolumeMounts:    mount,
	}}
	pod.Volumes = append(corev1.VolumeArray{corev1.VolumeArgs{
		Name: pulumi.String("backup"),
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{
			ClaimName: pvc.Metadata.Name().Elem(),
		},
	}}, ClientCertVolumes(tls)...)
	err = kube.NewCronJob(b.Ctx, name, id, b.Namespace, spec.Schedule, kube.JobSpec(id, pod, 2, 3600), b.Parent)
	if err != nil {
		return fmt.Errorf("backup cronjob: %w", err)
	}
	return nil
}
