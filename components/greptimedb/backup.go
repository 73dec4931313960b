package greptimedb

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/etcd"
	"tsdb-platform/components/kube"
)

// BackupSpec is a cluster's scheduled backups.
type BackupSpec struct {
	// Etcd saves snapshots of the cluster's own etcd (the metadata).
	Etcd etcd.BackupSpec `json:"etcd"`
	// Database exports databases to the object store with COPY DATABASE.
	Database DatabaseBackupSpec `json:"database"`
}

// DatabaseBackupSpec is a CronJob that runs `COPY DATABASE <db> TO
// 's3://<bucket>/<prefix>/<time>/<db>/'` through the frontends' HTTP SQL API,
// with the cluster's credentials, into the datanodes' own S3 bucket.
type DatabaseBackupSpec struct {
	Enabled bool `json:"enabled"`
	// Schedule is the CronJob's schedule, in cron syntax.
	Schedule string `json:"schedule"`
	// Databases are exported one after the other.
	Databases []string `json:"databases"`
	// Prefix is the exports' path under the bucket.
	Prefix string `json:"prefix"`
}

var (
	databaseName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	objectPrefix = regexp.MustCompile(`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`)
)

// validateBackup checks the backups against what they need: etcd snapshots
// need the cluster's own etcd, database exports an S3 bucket and its keys
// (COPY runs in the frontends, which have no workload identity).
func (s ClusterSpec) validateBackup(p *field.Path) field.ErrorList {
	bp := p.Child("backup")
	errs := s.Backup.Etcd.Validate(bp.Child("etcd"))
	if s.Backup.Etcd.Enabled && !s.Etcd.Deployed() {
		errs = append(errs, field.Invalid(bp.Child("etcd", "enabled"), true, fmt.Sprintf(
			"the cluster uses an external etcd (%s): back it up where it runs, and set enabled to false", p.Child("etcd", "endpoints"))))
	}
	d := s.Backup.Database
	if !d.Enabled {
		return errs
	}
	dp := bp.Child("database")
	errs = append(errs, kube.ValidateSchedule(d.Schedule, dp.Child("schedule"))...)
	if len(d.Databases) == 0 {
		errs = append(errs, field.Invalid(dp.Child("databases"), nil, "required: the databases to export, e.g. [public]"))
	}
	for i, db := range d.Databases {
		if !databaseName.MatchString(db) {
			errs = append(errs, field.Invalid(dp.Child("databases").Index(i), db, "not a database name (letters, digits, '_' and '-')"))
		}
	}
	if !objectPrefix.MatchString(d.Prefix) {
		errs = append(errs, field.Invalid(dp.Child("prefix"), d.Prefix, "a path under the bucket such as backups/metrics (letters, digits, '.', '_', '-' and '/')"))
	}
	// Without workload identity S3 requires the keys already; with it, the
	// frontends still need them.
	o := s.Datanode.ObjectStorage
	if o.Type != StorageS3 || s.Datanode.ServiceAccount.Enabled() && (!o.given("accessKeyId") || !o.given("secretAccessKey")) {
		errs = append(errs, field.Invalid(dp.Child("enabled"), true, fmt.Sprintf(
			"database exports are written to the cluster's S3 bucket with its keys: set %s to S3 with accessKeyId and "+
				"secretAccessKey (or their secretRefs), or enabled to false", p.Child("datanode", "objectStorage", "type"))))
	}
	return errs
}

// DatabaseBackupName names the database export CronJob.
func DatabaseBackupName(cluster string) string { return cluster + "-backup" }

// DatabaseBackupScript is the export's shell script: for each database, a COPY
// DATABASE statement form-encoded and POSTed to the frontends' /v1/sql, with
// basic authentication from the first line of the mounted user file when there
// is one. Keys come from the environment, never from the script.
func DatabaseBackupScript(frontendURL, bucket, prefix, region, endpoint string, databases []string) string {
	conn := []string{"ACCESS_KEY_ID='${" + EnvAccessKeyID + "}'", "SECRET_ACCESS_KEY='${" + EnvSecretAccessKey + "}'"}
	if region != "" {
		conn = append(conn, "REGION='"+region+"'")
	}
	if endpoint != "" {
		conn = append(conn, "ENDPOINT='"+endpoint+"'")
	}
	return strings.Join([]string{
		"set -eu",
		"ts=$(date -u +%Y%m%dT%H%M%SZ)",
		// Form encoding of the characters a statement and generated keys contain.
		`enc() { printf %s "$1" | sed -e 's/%/%25/g' -e 's/ /%20/g' -e "s/'/%27/g" -e 's/=/%3D/g' -e 's/&/%26/g' ` +
			`-e 's/+/%2B/g' -e 's#/#%2F#g' -e 's/,/%2C/g' -e 's/(/%28/g' -e 's/)/%29/g' -e 's/:/%3A/g'; }`,
		"set -- -q -O -",
		fmt.Sprintf(`if [ -s %s ]; then set -- "$@" --header "Authorization: Basic $(head -n 1 %s | sed 's/=/:/' | tr -d '\n' | base64 | tr -d '\n')"; fi`,
			AuthFile, AuthFile),
		"for db in " + strings.Join(databases, " ") + "; do",
		fmt.Sprintf(`  sql="COPY DATABASE $db TO 's3://%s/%s/$ts/$db/' WITH (FORMAT='parquet') CONNECTION (%s)"`,
			bucket, prefix, strings.Join(conn, ", ")),
		`  echo "exporting $db to s3://` + bucket + "/" + prefix + `/$ts/$db/"`,
		fmt.Sprintf(`  wget "$@" --post-data "sql=$(enc "$sql")" %s/v1/sql`, frontendURL),
		"done",
	}, "\n")
}

// newDatabaseBackup creates the CronJob that exports the databases through the
// frontends, with their user file and the datanodes' S3 keys.
func (b *clusterBuilder) newDatabaseBackup(c *Cluster) error {
	spec := b.spec.Backup.Database
	o := b.spec.Datanode.ObjectStorage
	id := b.common.identity("backup")
	name := DatabaseBackupName(b.Name)
	url := c.Frontend.HTTPEndpoint
	script := url.ApplyT(func(u string) string {
		return DatabaseBackupScript(u, o.Bucket, spec.Prefix, o.Region, o.Endpoint, spec.Databases)
	}).(pulumi.StringOutput)

	var volumes corev1.VolumeArray
	var mounts corev1.VolumeMountArray
	if auth := c.Frontend.authVolume(); auth != nil {
		volumes = append(volumes, *auth)
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String("auth"), MountPath: pulumi.String(AuthDir), ReadOnly: pulumi.Bool(true)})
	}
	pod := kube.JobPod(UID)
	pod.Containers = corev1.ContainerArray{corev1.ContainerArgs{
		Name:            pulumi.String("export"),
		Image:           pulumi.String(b.common.WaitImage),
		Command:         pulumi.StringArray{pulumi.String("/bin/sh"), pulumi.String("-c"), script},
		Env:             o.credentialEnv(c.Datanode.Secret),
		Resources:       smallResources(),
		SecurityContext: kube.ContainerSecurityContext(),
		VolumeMounts:    mounts,
	}}
	pod.Volumes = volumes
	err := kube.NewCronJob(b.Ctx, name, id, b.common.Namespace, spec.Schedule, kube.JobSpec(id, pod, 2, 6*3600), b.Parent)
	if err != nil {
		return fmt.Errorf("backup cronjob: %w", err)
	}
	return nil
}
