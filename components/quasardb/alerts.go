package quasardb

import (
	"fmt"

	"tsdb-platform/components/kube"
)

// AlertNodeDown is the alert of a QuasarDB cluster with fewer ready nodes than
// it has.
const AlertNodeDown = "QuasarDBNodeDown"

// alerts are the cluster's alerts, for its objects in namespace. A node down
// is read from kube-state-metrics (the StatefulSet's ready replicas), which
// also covers a cluster without the exporter and a pod that is gone.
func (b *builder) alerts(namespace string) []kube.Alert {
	return []kube.Alert{{
		Name:     AlertNodeDown,
		Expr:     kube.ReplicasMissingExpr(false, namespace, b.Name),
		For:      "10m",
		Severity: kube.SeverityCritical,
		Summary:  fmt.Sprintf("QuasarDB %s: fewer nodes ready than desired", b.Name),
		Description: fmt.Sprintf("%s/%s has had fewer ready nodes than it wants for 10 minutes: without replication "+
			"the shards of the missing nodes are unavailable.", namespace, b.Name),
	}}
}

// alertsIdentity labels the cluster's PrometheusRule.
func (b *builder) alertsIdentity() kube.Identity {
	id := b.ID
	id.Component = "alerts"
	return id
}
