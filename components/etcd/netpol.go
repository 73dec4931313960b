package etcd

import "tsdb-platform/components/kube"

// newBackupPolicy isolates the snapshot CronJob's pods: etcdctl reaches the
// members' client port, and nothing calls them.
func (b *builder) newBackupPolicy() error {
	egress := []kube.Flow{kube.Allow([]int{ClientPort}, b.ID.Peer())}
	return b.NewJobPolicy(backupName(b.Name), b.backupIdentity(), egress)
}
