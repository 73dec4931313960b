package etcd

import "tsdb-platform/components/kube"

// newBackupPolicy isolates the snapshot CronJob's pods: etcdctl reaches the
// members' client port, and nothing calls them.
func (b *builder) newBackupPolicy() error {
	egress := []kube.Flow{kube.Allow([]int{ClientPort}, b.id.Peer())}
	return kube.NewJobNetworkPolicy(b.Ctx, BackupName(b.Name), b.backupIdentity(), b.args.Namespace, egress, b.Parent)
}
