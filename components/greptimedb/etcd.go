package greptimedb

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/etcd"
	"tsdb-platform/components/kube"
)

// EtcdSpec is the etcd cluster that stores the cluster's metadata: deployed by
// the cluster, or external.
type EtcdSpec struct {
	// Endpoints of an existing etcd ("host:2379"); when set, no etcd is deployed
	// and the rest of the spec is not used.
	Endpoints []string `json:"endpoints"`
	etcd.Spec
	// AllowMemberCountChange lets the stack change the member count of a running
	// cluster, after the operator has added or removed the members with etcdctl.
	// The stack's topology guard reads it; the component does not.
	AllowMemberCountChange bool `json:"allowMemberCountChange"`
}

// Deployed reports whether the cluster deploys its own etcd (no endpoints given).
func (e EtcdSpec) Deployed() bool { return len(e.Endpoints) == 0 }

// Validate checks the deployed etcd's spec, or the external endpoints.
func (e EtcdSpec) Validate(p *field.Path) field.ErrorList {
	if e.Deployed() {
		return e.Spec.Validate(p)
	}
	var errs field.ErrorList
	for i, ep := range e.Endpoints {
		errs = append(errs, kube.ValidateHostPort(ep, "etcd.example.svc:2379", p.Child("endpoints").Index(i))...)
	}
	if e.TLS.Enabled {
		errs = append(errs, field.Invalid(p.Child("tls", "enabled"), true, fmt.Sprintf(
			"TLS applies to the etcd the cluster deploys, not to %s; set enabled to false", p.Child("endpoints"))))
	}
	return errs
}

// storeAddrs are the etcd endpoints (host:port) meta keeps its state in: the
// deployed etcd's client Service, or the external endpoints.
func storeAddrs(e EtcdSpec, cluster string, namespace pulumi.StringInput, domain string) []pulumi.StringInput {
	if !e.Deployed() {
		return pulumi.ToStringArray(e.Endpoints)
	}
	return []pulumi.StringInput{etcd.ClientAddress(objectName(cluster, KindEtcd), namespace, domain)}
}

// storePorts are the TCP ports meta reaches the store on: the client port,
// and the plain health port of a deployed etcd with TLS; the external
// endpoints' ports otherwise.
func storePorts(e EtcdSpec) []int {
	if !e.Deployed() {
		var ports []int
		for _, ep := range e.Endpoints {
			if port, err := kube.HostPort(ep); err == nil {
				ports = append(ports, port)
			}
		}
		return ports
	}
	if e.TLS.Enabled {
		return []int{etcd.ClientPort, etcd.MetricsPort}
	}
	return []int{etcd.ClientPort}
}

// storeHealthURLs are polled by meta's init container until etcd answers.
func storeHealthURLs(e EtcdSpec, cluster string, namespace pulumi.StringInput, domain string) []pulumi.StringInput {
	if e.Deployed() && e.TLS.Enabled {
		return []pulumi.StringInput{etcd.HealthURL(objectName(cluster, KindEtcd), namespace, domain, e.TLS)}
	}
	var urls []pulumi.StringInput
	for _, addr := range storeAddrs(e, cluster, namespace, domain) {
		urls = append(urls, pulumi.Sprintf("http://%s/health", addr))
	}
	return urls
}

// etcdPorts are the members' client, peer and metrics ports.
func etcdPorts() []kube.Port {
	return []kube.Port{{Name: "client", Number: etcd.ClientPort}, {Name: "peer", Number: etcd.PeerPort}, {Name: "metrics", Number: etcd.MetricsPort}}
}

// ownEtcd reports whether the cluster deploys its etcd.
func ownEtcd(s ClusterSpec) bool { return s.Etcd.Deployed() }

// buildEtcd deploys the cluster's own etcd, which the table's callers of etcd
// (meta) may reach.
func buildEtcd(b *clusterBuilder, c *Cluster) (pulumi.Resource, error) {
	e, err := etcd.NewCluster(b.Ctx, b.childName(KindEtcd), &etcd.ClusterArgs{
		Spec:         b.spec.Etcd.Spec,
		Env:          b.env,
		Instance:     b.cluster,
		AntiAffinity: b.spec.AntiAffinity,
		ClientPods:   b.callers(KindEtcd),
		Backup:       b.spec.Backup.Etcd,
		ShellImage:   b.spec.WaitImage,
	}, b.Parent)
	if err != nil {
		return nil, err
	}
	c.Etcd = e
	return e.StatefulSet, nil
}

// etcdPanels are etcd's dashboard series.
func etcdPanels(pods string) []kube.Panel {
	return []kube.Panel{
		{Title: "etcd: has leader", Unit: "short", Expr: fmt.Sprintf(`min(etcd_server_has_leader{%s})`, pods)},
		{Title: "etcd: database size", Unit: "bytes", Expr: fmt.Sprintf(`max by (pod) (etcd_mvcc_db_total_size_in_bytes{%s})`, pods)},
	}
}
