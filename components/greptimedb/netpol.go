package greptimedb

import (
	"fmt"
	"slices"

	"tsdb-platform/components/kube"
)

// brokerEgress lets the pods reach the Kafka brokers' ports (none with the
// local WAL). The brokers are named by host:port, at addresses the program
// cannot know, so the ports are open to any destination.
func (w WAL) brokerEgress() ([]kube.Flow, error) {
	if !w.Remote() {
		return nil, nil
	}
	var ports []int
	for _, ep := range w.BrokerEndpoints {
		port, err := kube.HostPort(ep)
		if err != nil {
			return nil, fmt.Errorf("wal.brokerEndpoints: %w", err)
		}
		if !slices.Contains(ports, port) {
			ports = append(ports, port)
		}
	}
	return []kube.Flow{kube.Allow(ports)}, nil
}

// newMaintenancePolicy isolates the maintenance Jobs' pods: they call meta's
// admin API on its HTTP port, and nothing calls them.
func (b *datanodeBuilder) newMaintenancePolicy() error {
	id := b.identity(MaintenanceComponent)
	egress := []kube.Flow{kube.Allow([]int{HTTPPort}, b.peer("meta"))}
	return kube.NewJobNetworkPolicy(b.Ctx, b.Cluster+"-"+MaintenanceComponent, id, b.Namespace, egress, b.Parent)
}

// newDatabaseBackupPolicy isolates the database export CronJob's pods: they
// post to the frontends' SQL API on the HTTP port (the frontends run COPY
// against the object store), and nothing calls them.
func (b *clusterBuilder) newDatabaseBackupPolicy() error {
	id := b.common.identity("backup")
	egress := []kube.Flow{kube.Allow([]int{HTTPPort}, b.common.identity("frontend").Peer())}
	return kube.NewJobNetworkPolicy(b.Ctx, DatabaseBackupName(b.Name), id, b.common.Namespace, egress, b.Parent)
}
