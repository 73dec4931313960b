package greptimedb

import (
	"fmt"
	"regexp"
	"strconv"
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
			errs = append(errs, field.Invalid(dp.Child("databases").Index(i), db,
				"not a database name: a letter or '_', then letters, digits, '_' and '-' (the export quotes it as an identifier)"))
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
	if o.Type == StorageS3 && o.Region == "" {
		errs = append(errs, field.Invalid(p.Child("datanode", "objectStorage", "region"), nil, fmt.Sprintf(
			"required with %s: COPY runs in the frontends, which have no AWS_REGION; set it, e.g. `pulumi config set --path '%s' us-east-1`",
			dp.Child("enabled"), p.Child("datanode", "objectStorage", "region"))))
	}
	return errs
}

// databaseBackups reports whether the cluster exports its databases.
func databaseBackups(s ClusterSpec) bool { return s.Backup.Database.Enabled }

// DatabaseBackupName names the database export CronJob.
func DatabaseBackupName(cluster string) string { return objectName(cluster, KindBackup) }

// databaseBackupDeadline bounds one export run (the CronJob's Jobs), and
// requestTimeout one COPY request. The frontends answer a COPY only once it is
// done, so the connection is silent for as long as the export takes.
const (
	databaseBackupDeadline = 6 * 3600
	requestTimeout         = databaseBackupDeadline - 300
)

// Environment of the export container. Script text never holds a config value:
// each reaches the shell as data, in the environment, and is quoted as an SQL
// literal or identifier by the script. No secret is in it: the password comes
// from the mounted user file, and the object store's keys are the frontends'
// own (frontendExportEnv).
const (
	EnvFrontendHost   = "FRONTEND_HOST"
	EnvFrontendPort   = "FRONTEND_PORT"
	EnvUsersFile      = "USERS_FILE"
	EnvBackupBucket   = "BACKUP_BUCKET"
	EnvBackupPrefix   = "BACKUP_PREFIX"
	EnvBackupRegion   = "BACKUP_REGION"
	EnvBackupEndpoint = "BACKUP_ENDPOINT"
	// EnvBackupDatabases are the databases, separated by spaces.
	EnvBackupDatabases = "BACKUP_DATABASES"
	EnvRequestTimeout  = "REQUEST_TIMEOUT"
	// EnvTmpDir is where the request is assembled (a FIFO and the response).
	EnvTmpDir = "TMPDIR"
)

// DatabaseBackupScript exports each database with COPY DATABASE, POSTed to the
// frontends' /v1/sql.
//
// No secret is ever in a process's argv: the password is read from the user
// file and base64-encoded through a pipe; the request, with its Authorization
// header, is written by the shell's printf builtin into a FIFO that nc reads
// (busybox wget takes headers only as arguments). The shell keeps the FIFO open
// until nc exits, so the frontend never sees a half-closed connection: it
// would drop the request (hyper closes on a read EOF unless half-close is on).
// The request is HTTP/1.0, so the frontend closes the connection after the
// response, which ends nc. timeout bounds the silent wait.
//
// The user file is read as GreptimeDB v1.1.4's static user provider reads it
// (src/auth/src/user_provider.rs, load_credential_from_file and
// parse_credential_line): trimmed lines, '#' comments and blank lines skipped,
// exactly one '=', `user=password` or `user:permission=password`, a later line
// for the same user replacing an earlier one; `plain:` is stripped, and a
// hashed password (pbkdf2_sha256:, mysql_native_password:) cannot be sent, so
// that user is skipped, as is a write-only one (src/auth/src/user_info.rs).
// The first user, in file order, whose entry can export is used.
const DatabaseBackupScript = `set -euf
# entry LINE: sets u (user), perm and p (password); fails on a non-credential line.
entry() {
  l=$1
  l=${l#"${l%%[![:space:]]*}"}
  l=${l%"${l##*[![:space:]]}"}
  case $l in ''|'#'*|*=*=*) return 1 ;; *=*) ;; *) return 1 ;; esac
  left=${l%%=*}
  p=${l#*=}
  u=${left%%:*}
  perm=
  if [ "$u" != "$left" ]; then perm=$(printf %s "${left#*:}" | tr A-Z a-z); fi
  [ -n "$u" ]
}
# usable: the entry in u, perm, p can sign in over HTTP and read.
usable() {
  case $p in pbkdf2_sha256:*|mysql_native_password:*) return 1 ;; plain:*) p=${p#plain:} ;; esac
  case $perm in wo|writeonly|write_only) return 1 ;; esac
  [ -n "$p" ]
}
# effective NAME: sets user and pass from NAME's last entry, if usable.
effective() {
  ok=1
  while IFS= read -r line || [ -n "$line" ]; do
    entry "$line" || continue
    [ "$u" = "$1" ] || continue
    if usable; then user=$u pass=$p ok=0; else ok=1; fi
  done < "$USERS_FILE"
  return $ok
}
auth=
if [ -n "${USERS_FILE:-}" ]; then
  found=
  while IFS= read -r cand || [ -n "$cand" ]; do
    entry "$cand" || continue
    if effective "$u"; then found=1; break; fi
  done < "$USERS_FILE"
  if [ -z "$found" ]; then echo "no user in $USERS_FILE can export (plain password, not write-only)" >&2; exit 1; fi
  auth=$(printf '%s:%s' "$user" "$pass" | base64 | tr -d '\n')
  unset pass p
fi
# lit VALUE: an SQL string literal; ident VALUE: a quoted SQL identifier.
lit() { printf "'%s'" "$(printf %s "$1" | sed "s/'/''/g")"; }
ident() { printf '"%s"' "$(printf %s "$1" | sed 's/"/""/g')"; }
# form VALUE: every byte percent-encoded.
form() { printf %s "$1" | od -An -v -tx1 | tr -d ' \n' | sed 's/../%&/g'; }
# post BODY: POSTs a form to /v1/sql; prints the response; fails unless 200.
post() {
  rm -f "$TMPDIR/request" "$TMPDIR/response"
  mkfifo "$TMPDIR/request"
  timeout "$REQUEST_TIMEOUT" nc "$FRONTEND_HOST" "$FRONTEND_PORT" < "$TMPDIR/request" > "$TMPDIR/response" &
  nc_pid=$!
  exec 3> "$TMPDIR/request"
  printf 'POST /v1/sql HTTP/1.0\r\nHost: %s:%s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %s\r\n' \
    "$FRONTEND_HOST" "$FRONTEND_PORT" "${#1}" >&3
  if [ -n "$auth" ]; then printf 'Authorization: Basic %s\r\n' "$auth" >&3; fi
  printf '\r\n%s' "$1" >&3
  rc=0
  wait "$nc_pid" || rc=$?
  exec 3>&-
  status=
  if [ -s "$TMPDIR/response" ]; then read -r proto status rest < "$TMPDIR/response" || true; fi
  cat "$TMPDIR/response"
  echo
  if [ "$rc" -ne 0 ] || [ "$status" != 200 ]; then echo "the frontend did not answer 200 (nc exit $rc, status ${status:-none})" >&2; return 1; fi
}
conn=
if [ -n "${BACKUP_REGION:-}" ]; then conn="REGION=$(lit "$BACKUP_REGION")"; fi
if [ -n "${BACKUP_ENDPOINT:-}" ]; then conn="${conn:+$conn, }ENDPOINT=$(lit "$BACKUP_ENDPOINT")"; fi
ts=$(date -u +%Y%m%dT%H%M%SZ)
for db in $BACKUP_DATABASES; do
  to="s3://$BACKUP_BUCKET/$BACKUP_PREFIX/$ts/$db/"
  sql="COPY DATABASE $(ident "$db") TO $(lit "$to") WITH (FORMAT='parquet')${conn:+ CONNECTION ($conn)}"
  echo "exporting $db to $to"
  post "sql=$(form "$sql")"
done`

// databaseBackupEnv is the export container's environment: the frontends' host
// and port, where to export, and the user file when there is one.
func (b *clusterBuilder) databaseBackupEnv(withUsers bool) corev1.EnvVarArray {
	o := b.spec.Datanode.ObjectStorage
	d := b.spec.Backup.Database
	plain := func(name, value string) corev1.EnvVarArgs {
		return corev1.EnvVarArgs{Name: pulumi.String(name), Value: pulumi.String(value)}
	}
	env := corev1.EnvVarArray{
		corev1.EnvVarArgs{Name: pulumi.String(EnvFrontendHost), Value: kube.ServiceFQDN(b.objectName(KindFrontend), b.env.Namespace, b.env.ClusterDomain)},
		plain(EnvFrontendPort, strconv.Itoa(HTTPPort)),
		plain(EnvBackupBucket, o.Bucket),
		plain(EnvBackupPrefix, d.Prefix),
		plain(EnvBackupRegion, o.Region),
		plain(EnvBackupEndpoint, o.Endpoint),
		plain(EnvBackupDatabases, strings.Join(d.Databases, " ")),
		plain(EnvRequestTimeout, strconv.Itoa(requestTimeout)),
		plain(EnvTmpDir, TmpDir),
	}
	if withUsers {
		env = append(env, plain(EnvUsersFile, AuthFile))
	}
	return env
}

// newDatabaseBackup creates the CronJob that exports the databases through the
// frontends, with their user file (from users, the frontends' generated
// Secret, or the referenced one), and the policy that lets it reach them. It
// holds no object-store key.
func (b *clusterBuilder) newDatabaseBackup(users *corev1.Secret) error {
	spec := b.spec.Backup.Database
	id := b.identity(KindBackup)
	name := b.objectName(KindBackup)

	volumes := corev1.VolumeArray{kube.EmptyDir("tmp", "16Mi")}
	mounts := corev1.VolumeMountArray{corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String(TmpDir)}}
	auth := usersVolume(b.spec.Frontend.Auth, users)
	if auth != nil {
		volumes = append(volumes, *auth)
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String("auth"), MountPath: pulumi.String(AuthDir), ReadOnly: pulumi.Bool(true)})
	}
	pod := b.env.JobPod(UID, b.scheduling(KindBackup))
	export := scriptContainer("export", b.env.Registry, b.spec, DatabaseBackupScript, b.databaseBackupEnv(auth != nil))
	export.VolumeMounts = mounts
	pod.Containers = corev1.ContainerArray{export}
	pod.Volumes = volumes
	err := kube.NewCronJob(b.Ctx, name, id, b.env.Namespace, spec.Schedule, kube.JobSpec(id, pod, 2, databaseBackupDeadline), b.Parent)
	if err != nil {
		return fmt.Errorf("backup cronjob: %w", err)
	}
	if !b.env.Isolation.Enabled {
		return nil
	}
	// The export posts to the frontends' SQL API (the frontends run COPY
	// against the object store), and nothing calls it.
	return kube.NewJobNetworkPolicy(b.Ctx, name, id, b.env.Namespace, b.egress(KindBackup), b.Parent)
}
