package quasardb

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/kube"
)

// ExporterSpec is a sidecar running QuasarDB's Prometheus exporter
// (bureau14/qdb-prometheus-exporter, the `qdb-prometheus-exporter` package),
// which reads the node's statistics and serves them on /metrics.
type ExporterSpec struct {
	Enabled bool `json:"enabled"`
	// Image has the exporter installed (`pip install qdb-prometheus-exporter`);
	// QuasarDB publishes the package, not an image.
	Image     string         `json:"image"`
	Resources kube.Resources `json:"resources"`
	// UserSecuritySecretRef names the Secret key holding the private key file of
	// the QuasarDB user the exporter connects as; required on a secured cluster.
	UserSecuritySecretRef kube.SecretRef `json:"userSecuritySecretRef"`
}

// exporterPort serves the exporter's /metrics (its --exporter-port default).
const exporterPort = 9000

// exporterListenAddress is every IPv4 address of the pod: Prometheus and the
// kubelet's probes reach the exporter at the pod's IP. qdb-prometheus-exporter
// v3.14.2 listens on 127.0.0.1 unless told otherwise (--listen-address,
// qdb_prometheus_exporter/main.py, passed to uvicorn.run as host).
const exporterListenAddress = "0.0.0.0"

// exporterDir holds the secured cluster's public key and the exporter's user key.
const exporterDir = "/etc/qdb/exporter"

var exporterScrape = kube.Scrape{PortName: "metrics", Port: exporterPort, Path: "/metrics"}

// validate checks the exporter's image and, on a secured cluster, its user key.
func (e ExporterSpec) validate(p *field.Path, secured bool) field.ErrorList {
	if !e.Enabled {
		return nil
	}
	errs := kube.ValidateImage(e.Image, p.Child("image"))
	errs = append(errs, e.Resources.Validate(p.Child("resources"))...)
	errs = append(errs, e.UserSecuritySecretRef.Validate(p.Child("userSecuritySecretRef"))...)
	if secured && !e.UserSecuritySecretRef.IsSet() {
		errs = append(errs, field.Required(p.Child("userSecuritySecretRef"), fmt.Sprintf(
			"the cluster is secured: the exporter connects as a QuasarDB user; name the Secret key holding "+
				"that user's private key file with %s.name and %s.key", p.Child("userSecuritySecretRef"), p.Child("userSecuritySecretRef"))))
	}
	return errs
}

// exporterContainer is the sidecar. It talks to the node over loopback.
func (b *builder) exporterContainer() corev1.ContainerArgs {
	e := b.spec.Exporter
	args := []string{"--cluster", fmt.Sprintf("qdb://127.0.0.1:%d", clientPort),
		"--listen-address", exporterListenAddress, "--exporter-port", fmt.Sprint(exporterPort)}
	mounts := corev1.VolumeMountArray{mount("exporter-tmp", tmpPath, false)}
	if b.spec.Security.Enabled {
		args = append(args, "--cluster-public-key-file", exporterDir+"/cluster_public.key",
			"--user-security-file", exporterDir+"/user.key")
		mounts = append(mounts, mount("exporter-keys", exporterDir, true))
	}
	health := &corev1.ProbeArgs{
		HttpGet:       &corev1.HTTPGetActionArgs{Path: pulumi.String("/health"), Port: pulumi.String(exporterScrape.PortName)},
		PeriodSeconds: pulumi.Int(10),
	}
	return corev1.ContainerArgs{
		Name:            pulumi.String("exporter"),
		Image:           pulumi.String(b.Registry.Image(e.Image)),
		Command:         pulumi.ToStringArray(append([]string{"qdb-prometheus-exporter"}, args...)),
		Ports:           kube.ContainerPorts(kube.Port{Name: exporterScrape.PortName, Number: exporterPort}),
		Resources:       e.Resources.Args(),
		ReadinessProbe:  health,
		LivenessProbe:   health,
		SecurityContext: kube.ContainerSecurityContext(),
		VolumeMounts:    mounts,
	}
}

// exporterVolumes are the sidecar's scratch space and, on a secured cluster,
// the public key (from a ConfigMap) beside the user key (from its Secret).
func (b *builder) exporterVolumes(publicKey *corev1.ConfigMap) corev1.VolumeArray {
	vols := corev1.VolumeArray{kube.EmptyDir("exporter-tmp", tmpSizeLimit)}
	if publicKey == nil {
		return vols
	}
	ref := b.spec.Exporter.UserSecuritySecretRef
	return append(vols, corev1.VolumeArgs{
		Name: pulumi.String("exporter-keys"),
		Projected: &corev1.ProjectedVolumeSourceArgs{
			DefaultMode: pulumi.Int(secretFileMode),
			Sources: corev1.VolumeProjectionArray{
				corev1.VolumeProjectionArgs{ConfigMap: &corev1.ConfigMapProjectionArgs{
					Name:  publicKey.Metadata.Name().Elem(),
					Items: corev1.KeyToPathArray{keyToPath("cluster_public.key", "cluster_public.key")},
				}},
				corev1.VolumeProjectionArgs{Secret: &corev1.SecretProjectionArgs{
					Name:  pulumi.String(ref.Name),
					Items: corev1.KeyToPathArray{keyToPath(ref.Key, "user.key")},
				}},
			},
		},
	})
}

// newPublicKeyConfigMap holds the cluster's public key (not a secret) for the exporter.
func (b *builder) newPublicKeyConfigMap() (*corev1.ConfigMap, error) {
	return b.NewConfigMap(b.Name+"-public-key", pulumi.StringMap{"cluster_public.key": pulumi.String(b.spec.Security.ClusterPublicKey)})
}

// dashboardKey is the QuasarDB dashboard's key in its ConfigMap.
const dashboardKey = "quasardb.json"

// dashboardPanels are the nodes' key series as the exporter names them: the
// statistic's name with dots as underscores, the unit and the counter suffix
// appended (bureau14/qdb-prometheus-exporter README, collector.py).
func dashboardPanels(name string) []kube.Panel {
	pods := fmt.Sprintf(`namespace="$namespace", pod=~"%s-[0-9]+", stat_type="cumulative"`, name)
	return []kube.Panel{
		{Title: "Nodes online", Unit: "short", Expr: fmt.Sprintf(`sum by (pod) (check_online_none{%s})`, pods)},
		{Title: "Request bytes in/s", Unit: "Bps", Expr: fmt.Sprintf(`sum by (pod) (rate(requests_in_bytes_total{%s}[$__rate_interval]))`, pods)},
		{Title: "Network partitions", Unit: "short", Expr: fmt.Sprintf(`sum by (pod) (network_partitions_count{%s})`, pods)},
	}
}

// newDashboard creates the cluster's Grafana dashboard ConfigMap.
func (b *builder) newDashboard() error {
	id := b.ID
	id.Component = "dashboard"
	return kube.NewDashboard(b.Ctx, b.Name+"-dashboard", id, b.Namespace, dashboardKey, func(ns string) (string, error) {
		return kube.DashboardJSON("tsdb-quasardb-"+ns+"-"+b.Name, fmt.Sprintf("QuasarDB %s (%s)", b.Name, ns), ns,
			[]string{"quasardb", "tsdb-platform"}, dashboardPanels(b.Name))
	}, b.Parent)
}
