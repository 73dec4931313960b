package greptimedb

import (
	"fmt"
	"regexp"

	"tsdb-platform/components/etcd"
	"tsdb-platform/components/kube"
)

// Alert names of a GreptimeDB cluster's PrometheusRule.
const (
	AlertComponentDown        = "GreptimeDBComponentDown"
	AlertEtcdNoLeader         = "GreptimeDBEtcdNoLeader"
	AlertBackupFailed         = "GreptimeDBBackupFailed"
	AlertMaintenanceJobFailed = "GreptimeDBMaintenanceJobFailed"
	AlertMaintenanceLeftOn    = "GreptimeDBMaintenanceModeLeftOn"
)

// alerts are the cluster's alerts, for its objects in namespace: one per
// deployed component whose replicas are not all ready, etcd without a leader,
// failed backups, and metasrv left in maintenance mode.
//
// The component alerts read kube-state-metrics rather than the scrape's up
// series: meta is not scraped under isolation, and a pod that is gone has no
// up series at all. etcd's leader is etcd's own etcd_server_has_leader, from
// the pods its PodMonitor scrapes (their namespace and pod labels).
func alerts(w wiring, namespace string) []kube.Alert {
	var out []kube.Alert
	for _, r := range w.rows {
		if r.build == nil {
			continue
		}
		name := w.objectName(r.kind)
		out = append(out, kube.Alert{
			Name:     AlertComponentDown,
			Expr:     kube.ReplicasMissingExpr(r.deployment, namespace, name),
			For:      "10m",
			Severity: kube.SeverityCritical,
			Summary:  fmt.Sprintf("GreptimeDB %s: %s has fewer ready replicas than desired", w.cluster, r.kind),
			Description: fmt.Sprintf("%s/%s has had fewer ready replicas than it wants for 10 minutes: "+
				"pods crash, are not scheduled or fail their readiness probe.", namespace, name),
		})
	}
	if w.deployed[KindEtcd] {
		out = append(out, kube.Alert{
			Name:        AlertEtcdNoLeader,
			Expr:        fmt.Sprintf(`etcd_server_has_leader{namespace=%q, pod=~%q} == 0`, namespace, regexp.QuoteMeta(w.objectName(KindEtcd))+"-[0-9]+"),
			For:         "1m",
			Severity:    kube.SeverityCritical,
			Summary:     fmt.Sprintf("GreptimeDB %s: etcd has no leader", w.cluster),
			Description: "etcd member {{ $labels.pod }} has seen no leader for a minute: the cluster lost quorum, and metasrv can neither read nor write its metadata.",
		})
	}
	var backups []string
	if w.spec.Backup.Etcd.Enabled && w.deployed[KindEtcd] {
		backups = append(backups, kube.CronJobRuns(etcd.BackupCronJobName(w.objectName(KindEtcd))))
	}
	if w.deployed[KindBackup] {
		backups = append(backups, kube.CronJobRuns(w.objectName(KindBackup)))
	}
	if len(backups) > 0 {
		jobs := backups[0]
		if len(backups) > 1 {
			jobs = "(" + backups[0] + "|" + backups[1] + ")"
		}
		out = append(out, kube.Alert{
			Name:     AlertBackupFailed,
			Expr:     kube.JobFailedExpr(namespace, jobs),
			Severity: kube.SeverityWarning,
			Summary:  fmt.Sprintf("GreptimeDB %s: backup Job {{ $labels.job_name }} failed", w.cluster),
			Description: "The backup Job {{ $labels.job_name }} failed: that backup is missing. " +
				"Read its pods' logs; deleting the failed Job clears the alert.",
		})
	}
	out = append(out, maintenanceAlerts(w, namespace)...)
	return out
}

// maintenanceAlerts warn when metasrv may be left in maintenance mode, in
// which it does no region failover. GreptimeDB v1.1.4 exports no metric of the
// mode (src/meta-srv/src/metrics.rs has none; the mode is a key in the
// metadata store, read through the admin API), so they watch the Jobs that
// switch it, through kube-state-metrics: an "off" Job (or an "on" Job) that
// failed, or an "on" Job that completed with no "off" Job completing after it
// for longer than a datanode rollout and the "off" Job may take (a deploy that
// failed in between leaves the mode on).
func maintenanceAlerts(w wiring, namespace string) []kube.Alert {
	completion := func(onOff string) string {
		return fmt.Sprintf(`max(kube_job_status_completion_time{namespace=%q, job_name=%q})`, namespace, MaintenanceJobName(w.cluster, onOff))
	}
	leftOn := (w.spec.Datanode.RolloutTimeoutSeconds + maintenanceDeadline + 59) / 60
	return []kube.Alert{
		{
			Name:     AlertMaintenanceJobFailed,
			Expr:     kube.JobFailedExpr(namespace, regexp.QuoteMeta(w.objectName(KindMaintenance))+"-(on|off)"),
			Severity: kube.SeverityCritical,
			Summary:  fmt.Sprintf("GreptimeDB %s: maintenance Job {{ $labels.job_name }} failed", w.cluster),
			Description: "The Job {{ $labels.job_name }} that turns metasrv's maintenance mode on or off failed, so the mode may be " +
				"left on, with no region failover. Run `pulumi up` again, or end it by hand (README, \"Safe datanode rollouts\"); " +
				"deleting the failed Job clears the alert.",
		},
		{
			Name:     AlertMaintenanceLeftOn,
			Expr:     completion("on") + " > (" + completion("off") + " or vector(0))",
			For:      fmt.Sprintf("%dm", leftOn),
			Severity: kube.SeverityCritical,
			Summary:  fmt.Sprintf("GreptimeDB %s: metasrv left in maintenance mode", w.cluster),
			Description: fmt.Sprintf("%s/%s completed more than %d minutes ago and no %s completed after it: the datanode rollout or the deploy "+
				"failed, leaving maintenance mode (no region failover) on. Finish the deploy with `pulumi up`, or end it by hand "+
				"(README, \"Safe datanode rollouts\").", namespace, MaintenanceJobName(w.cluster, "on"), leftOn, MaintenanceJobName(w.cluster, "off")),
		},
	}
}

// newAlerts creates the cluster's PrometheusRule.
func (b *clusterBuilder) newAlerts() error {
	id := kube.Identity{App: App, Instance: b.cluster, Component: "alerts"}
	return b.env.Monitoring.NewPrometheusRule(b.Ctx, b.Name+"-alerts", id, b.env.Namespace,
		func(ns string) []kube.Alert { return alerts(b.wiring, ns) }, b.Parent)
}
