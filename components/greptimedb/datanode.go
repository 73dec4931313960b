package greptimedb

import (
	"encoding/json"
	"fmt"
	"strconv"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/kube"
)

// DatanodeType is the datanode component's type token.
const DatanodeType = "tsdb:greptimedb:Datanode"

// DataVolume names the datanodes' volume claim template.
const DataVolume = "data"

// DatanodeSpec is GreptimeDB's datanodes.
type DatanodeSpec struct {
	kube.Size
	Passthrough
	// Storage is the per-pod volume for the WAL and (with File storage) the data.
	Storage kube.Storage `json:"storage"`
	// ObjectStorage is where region data lives.
	ObjectStorage ObjectStorage `json:"objectStorage"`
	// ServiceAccount, when it has annotations, gives the datanodes their own
	// ServiceAccount: workload identity (EKS IRSA's eks.amazonaws.com/role-arn,
	// GKE's iam.gke.io/gcp-service-account) then supplies the object store's
	// credentials, and the static keys are not needed.
	ServiceAccount kube.ServiceAccountSpec `json:"serviceAccount"`
	// Scheduling places the pods (and the maintenance Jobs), over the stack's
	// scheduling.
	Scheduling kube.Scheduling `json:"scheduling"`
	// RolloutTimeoutSeconds bounds how long `pulumi up` waits for the datanodes
	// to be Ready after a change (pulumi.com/timeoutSeconds on the StatefulSet;
	// the provider's own default is 600, pulumi-kubernetes v4.32.0
	// provider/pkg/await/statefulset.go). A datanode replaying a long WAL may
	// need more; when it runs out, the deploy fails and metasrv stays in
	// maintenance until the next successful one.
	RolloutTimeoutSeconds int `json:"rolloutTimeoutSeconds"`
	// AllowScaleDown lets the stack lower the replica count of running
	// datanodes, after their regions were migrated off the removed ordinals
	// (their regions and local WAL go offline otherwise). The stack's topology
	// guard reads it; the component does not.
	AllowScaleDown bool `json:"allowScaleDown"`
}

// Validate checks the datanodes' size, volume and object storage.
func (d DatanodeSpec) Validate(p *field.Path) field.ErrorList {
	errs := d.Size.Validate(p)
	errs = append(errs, d.Scheduling.Validate(p.Child("scheduling"))...)
	errs = append(errs, d.Storage.Validate(p.Child("storage"))...)
	if d.RolloutTimeoutSeconds < 1 || d.RolloutTimeoutSeconds > 86400 {
		errs = append(errs, field.Invalid(p.Child("rolloutTimeoutSeconds"), d.RolloutTimeoutSeconds, "must be between 1 and 86400 seconds"))
	}
	errs = append(errs, d.ServiceAccount.Validate(p.Child("serviceAccount"))...)
	return append(errs, d.ObjectStorage.validate(p.Child("objectStorage"), d.ServiceAccount)...)
}

// Datanode is the deployed datanodes.
type Datanode struct {
	pulumi.ResourceState

	ConfigMap   *corev1.ConfigMap
	Service     *corev1.Service
	StatefulSet *appsv1.StatefulSet
	// Secret holds the object storage credentials (S3 with static keys only; nil otherwise).
	Secret *corev1.Secret
	// MaintenanceOn and MaintenanceOff are the Jobs that put metasrv into
	// maintenance mode before the StatefulSet rolls, and take it out after.
	MaintenanceOn, MaintenanceOff *batchv1.Job
	// ServiceAccount is the datanodes' own account, for workload identity (nil
	// without serviceAccount annotations).
	ServiceAccount *corev1.ServiceAccount
	// Config is the rendered TOML config.
	Config pulumi.StringOutput
}

// datanodePorts are the datanodes' gRPC and HTTP ports.
var datanodePorts = []kube.Port{{Name: "rpc", Number: GRPCPort}, {Name: "http", Number: HTTPPort}}

type datanodeConfig struct {
	WAL     walConfig     `toml:"wal"`
	Storage storageConfig `toml:"storage"`
	Logging loggingConfig `toml:"logging"`
}

type walConfig struct {
	Provider        string         `toml:"provider"`
	Dir             string         `toml:"dir,omitempty"`
	BrokerEndpoints []string       `toml:"broker_endpoints,omitempty"`
	SASL            *walSASLConfig `toml:"sasl,omitempty"`
	TLS             *walTLSConfig  `toml:"tls,omitempty"`
}

// newWALConfig is the datanode's [wal]: on its volume, or in Kafka.
func newWALConfig(w WAL) walConfig {
	if w.Remote() {
		return walConfig{Provider: string(WALKafka), BrokerEndpoints: w.BrokerEndpoints, SASL: w.saslConfig(), TLS: w.tlsConfig()}
	}
	return walConfig{Provider: string(WALRaftEngine), Dir: DataHome + "/wal"}
}

// DatanodeScript is the datanode's shell command line: its node id is the
// pod's StatefulSet ordinal.
var DatanodeScript = ordinalNodeScript(KindDatanode)

// buildDatanode creates the cluster's datanodes: a ConfigMap, a headless
// Service, the credentials Secret for S3, the maintenance Jobs around their
// rollouts, and a StatefulSet with a PVC per pod that starts after meta.
func buildDatanode(c *clusterBuilder, cl *Cluster) (pulumi.Resource, error) {
	d := &Datanode{}
	cl.Datanode = d
	_, err := newComponent(c, KindDatanode, DatanodeType, d, func(p part) (pulumi.Map, error) { return (&datanodeBuilder{p}).build(d) })
	return d.StatefulSet, err
}

// datanodeBuilder creates the datanodes' children.
type datanodeBuilder struct{ part }

// build creates the children and returns the component's outputs.
func (b *datanodeBuilder) build(d *Datanode) (pulumi.Map, error) {
	spec := b.spec.Datanode
	store := spec.ObjectStorage
	// The datanodes' config depends on no output: render it once, for the
	// ConfigMap and for the rollout's checksum.
	config, err := b.render(datanodeConfig{WAL: newWALConfig(b.spec.WAL), Storage: newStorageConfig(store), Logging: b.logging()})
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	d.Config = pulumi.String(config).ToStringOutput()
	if d.ConfigMap, err = b.newConfigMap(d.Config); err != nil {
		return nil, err
	}
	if len(store.byValue()) > 0 {
		// The S3 keys the datanodes read from their environment.
		if d.Secret, err = b.NewSecret(b.Name+"-object-storage", store.secretData()); err != nil {
			return nil, err
		}
	}
	if spec.ServiceAccount.Enabled() {
		if d.ServiceAccount, err = b.NewServiceAccount(b.objName, spec.ServiceAccount); err != nil {
			return nil, err
		}
	}
	if d.Service, err = b.newService(kube.Metadata{}, &corev1.ServiceSpecArgs{ClusterIP: pulumi.String("None")}); err != nil {
		return nil, err
	}
	rollout, err := b.rolloutChecksum(config)
	if err != nil {
		return nil, err
	}
	if d.MaintenanceOn, err = b.newMaintenanceOn(rollout, b.after); err != nil {
		return nil, err
	}
	if d.StatefulSet, err = b.newStatefulSet(d); err != nil {
		return nil, err
	}
	if d.MaintenanceOff, err = b.newMaintenanceOff(d.MaintenanceOn, rollout, []pulumi.Resource{d.StatefulSet}); err != nil {
		return nil, err
	}
	if err := b.finish(spec.Replicas, nil, b.externalEgress()); err != nil {
		return nil, err
	}
	if err := b.NewJobPolicy(b.objectName(KindMaintenance), b.identity(KindMaintenance), b.wiring.egress(KindMaintenance)); err != nil {
		return nil, err
	}
	return pulumi.Map{"statefulSet": d.StatefulSet.Metadata.Name(), "service": d.Service.Metadata.Name()}, nil
}

// externalEgress: beyond the table, the datanodes reach the Kafka brokers (the WAL)
// and, with object storage, the object store and their cloud identity's
// endpoints, all outside the cluster at addresses the program cannot know.
func (b *datanodeBuilder) externalEgress() []kube.Flow {
	egress := b.spec.WAL.brokerEgress()
	if o := b.spec.Datanode.ObjectStorage; o.Type != StorageFile {
		if port, err := objectStorePort(o.Endpoint); err == nil {
			egress = append(egress, kube.Allow([]int{port}))
		}
	}
	if b.spec.Datanode.ServiceAccount.Enabled() {
		egress = append(egress, kube.WorkloadIdentityEgress()...)
	}
	return egress
}

func (b *datanodeBuilder) newStatefulSet(d *Datanode) (*appsv1.StatefulSet, error) {
	spec := b.spec.Datanode
	main := b.container(spec.Resources, dataMount(DataVolume))
	main.Command = pulumi.ToStringArray([]string{"/bin/sh", "-c", DatanodeScript})
	main.Env = append(append(main.Env.(corev1.EnvVarArray), spec.ObjectStorage.credentialEnv(d.Secret)...),
		corev1.EnvVarArgs{Name: pulumi.String(EnvMetasrvAddrs), Value: b.metaAddress()})
	walVolumes := b.spec.WAL.withKafkaAuth(KindDatanode, &main)
	var serviceAccount pulumi.StringInput
	if d.ServiceAccount != nil {
		serviceAccount = d.ServiceAccount.Metadata.Name().Elem()
	}
	opts := b.StatefulSetOptions(kube.DependsOn(append(b.after, d.MaintenanceOn))...)
	meta := b.ID.ObjectMeta(b.objName, b.Namespace)
	meta.Annotations = pulumi.StringMap{kube.AnnotationTimeoutSeconds: pulumi.String(strconv.Itoa(spec.RolloutTimeoutSeconds))}
	sts, err := appsv1.NewStatefulSet(b.Ctx, b.objName, &appsv1.StatefulSetArgs{
		Metadata: meta,
		Spec: &appsv1.StatefulSetSpecArgs{
			Replicas:                             pulumi.Int(spec.Replicas),
			ServiceName:                          d.Service.Metadata.Name().Elem(),
			PodManagementPolicy:                  pulumi.String("Parallel"),
			Selector:                             b.ID.LabelSelector(),
			PersistentVolumeClaimRetentionPolicy: kube.RetainClaims(),
			Template: b.podTemplate(podAnnotations(d.Config, spec.ObjectStorage.secretInputs()...), main,
				volumes(d.ConfigMap.Metadata.Name().Elem(), walVolumes...), serviceAccount),
			VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{spec.Storage.VolumeClaimTemplate(DataVolume, b.ID)},
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("statefulset: %w", err)
	}
	return sts, nil
}

// datanodePanels are the datanodes' dashboard series.
func datanodePanels(pods string) []kube.Panel {
	return []kube.Panel{
		{Title: "Datanode: write buffer", Unit: "bytes", Expr: fmt.Sprintf(`sum by (pod) (greptime_mito_write_buffer_bytes{%s})`, pods)},
		{Title: "Datanode: write stalls", Unit: "short", Expr: fmt.Sprintf(`sum by (pod) (greptime_mito_write_stalling_count{%s})`, pods)},
		{Title: "Datanode: flush failures/s", Unit: "short", Expr: fmt.Sprintf(`sum(rate(greptime_mito_flush_failure_total{%s}[$__rate_interval]))`, pods)},
	}
}

// Maintenance mode around datanode rollouts, as the GreptimeDB operator does it:
// while metasrv is in maintenance mode it does not migrate regions or fail them
// over, so a rolling restart of the datanodes does not set off region
// migrations mid-upgrade.
//
// metasrv v1.1.4 serves POST /admin/maintenance/enable and /disable on its HTTP
// port (src/meta-srv/src/service/admin.rs, admin_axum_router).
const (
	MaintenancePath = "/admin/maintenance"
	// maintenanceDeadline bounds each Job: metasrv answers within seconds once up.
	maintenanceDeadline = 600
	// MaintenanceSettleSeconds is how long the maintenance-on Job waits after
	// metasrv accepted the request. The leader reads the flag through a cache
	// with a 10 s time-to-live (GreptimeDB v1.1.4,
	// src/common/meta/src/key/runtime_switch.rs, CACHE_TTL), and a replica that
	// is not the leader may have answered: only after the TTL has passed is
	// maintenance certain to be in effect on the leader, so the datanode rollout,
	// which waits for this Job, starts after that.
	MaintenanceSettleSeconds = 11
	// RolloutAnnotation, on the maintenance Jobs' pod templates, carries the
	// rollout's checksum: the "on" Job runs again for every rollout, and for a
	// revert to an earlier one. A Job's pod template is immutable, so the
	// provider replaces the Job (deleting it first, as its name stays)
	// whenever an annotation changes, and the new Job runs.
	RolloutAnnotation = "tsdb-platform/rollout"
	// EnableRunAnnotation on the "off" Job carries the uid of the "on" Job it
	// closes: whenever maintenance was turned on again, it is turned off again.
	// Without it, a rollout A→B that failed after "on" ran, reverted to A,
	// would find "off" for A unchanged, run nothing and leave metasrv in
	// maintenance (failover off) after a successful `pulumi up`.
	EnableRunAnnotation = "tsdb-platform/maintenance-on-uid"
)

// MaintenanceScript POSTs to $MAINTENANCE_URL until metasrv accepts, then
// waits $MAINTENANCE_SETTLE_SECONDS.
const MaintenanceScript = `until wget -q -T 5 -O - --post-data '' "$MAINTENANCE_URL"; do echo waiting for meta; sleep 2; done
if [ "$MAINTENANCE_SETTLE_SECONDS" -gt 0 ]; then
  echo "waiting ${MAINTENANCE_SETTLE_SECONDS}s for metasrv's leader to see the change"
  sleep "$MAINTENANCE_SETTLE_SECONDS"
fi`

// MaintenanceJobName names the Job that turns metasrv's maintenance mode on
// ("on") or off ("off") around the cluster's datanode rollouts.
func MaintenanceJobName(cluster, onOff string) string {
	return fmt.Sprintf("%s-%s-%s", cluster, KindMaintenance, onOff)
}

// rolloutChecksum identifies a datanode rollout: what changes the pod template
// apart from secrets (the images as pulled, the rendered config, resources,
// service account, scheduling, pull Secrets, extra variables, the Secrets of
// the WAL's authentication).
// A changed checksum replaces the "on" Job, so the Jobs run once per rollout; a
// replica count change is no rollout and keeps them. Secret data is left out so
// that no hash of a credential ends up in an object.
func (b *datanodeBuilder) rolloutChecksum(config string) (string, error) {
	// Scheduling and pull Secrets are left out when there are none, so that a
	// stack without them keeps its checksum.
	var scheduling *kube.Scheduling
	if s := b.scheduling(KindDatanode).Over(b.Scheduling); !s.IsEmpty() {
		scheduling = &s
	}
	// The Secrets the WAL's authentication reads are named in the pod
	// template only (the config holds paths and the variable's name).
	type walAuth struct {
		SASL WALSASL
		TLS  WALTLS
	}
	var auth *walAuth
	if w := b.spec.WAL; w.Remote() && (w.SASL.Enabled || w.TLS.Enabled) {
		auth = &walAuth{w.SASL, w.TLS}
	}
	pod, err := json.Marshal(struct {
		Resources      kube.Resources
		ServiceAccount kube.ServiceAccountSpec
		Scheduling     *kube.Scheduling `json:",omitempty"`
		PullSecrets    []string         `json:",omitempty"`
		// Without extra variables the checksum stays what it was before they existed.
		Env     []kube.EnvVar `json:",omitempty"`
		WALAuth *walAuth      `json:",omitempty"`
	}{b.spec.Datanode.Resources, b.spec.Datanode.ServiceAccount, scheduling, b.Registry.PullSecrets, b.spec.Datanode.Env, auth})
	if err != nil {
		return "", err
	}
	return kube.Checksum(b.Registry.Image(b.spec.Image), b.Registry.Image(b.spec.WaitImage), config, string(pod))[:8], nil
}

// newMaintenanceOn creates the Job that turns maintenance mode on before the
// rollout whose checksum is rollout, after the resources in after.
func (b *datanodeBuilder) newMaintenanceOn(rollout string, after []pulumi.Resource) (*batchv1.Job, error) {
	return b.newMaintenanceJob("on", pulumi.StringMap{RolloutAnnotation: pulumi.String(rollout)}, after)
}

// newMaintenanceOff creates the Job that turns maintenance mode off after the
// datanodes rolled: a new one for every run of on.
func (b *datanodeBuilder) newMaintenanceOff(on *batchv1.Job, rollout string, after []pulumi.Resource) (*batchv1.Job, error) {
	return b.newMaintenanceJob("off", pulumi.StringMap{
		RolloutAnnotation:   pulumi.String(rollout),
		EnableRunAnnotation: on.Metadata.Uid().Elem(),
	}, after)
}

// newMaintenanceJob creates the Job that turns metasrv's maintenance mode on or
// off: "on" then waits out the leader's cache. It retries until metasrv
// answers, within maintenanceDeadline.
func (b *datanodeBuilder) newMaintenanceJob(onOff string, annotations pulumi.StringMap, after []pulumi.Resource) (*batchv1.Job, error) {
	action, settle := "disable", 0
	if onOff == "on" {
		action, settle = "enable", MaintenanceSettleSeconds
	}
	url := pulumi.Sprintf("http://%s:%d%s/%s", b.fqdn(b.objectName(KindMeta)), HTTPPort, MaintenancePath, action)
	id := b.identity(KindMaintenance)
	name := MaintenanceJobName(b.cluster, onOff)
	pod := b.JobPod(UID, b.scheduling(KindMaintenance))
	pod.Containers = corev1.ContainerArray{scriptContainer(string(KindMaintenance), b.Registry, b.spec, MaintenanceScript, corev1.EnvVarArray{
		corev1.EnvVarArgs{Name: pulumi.String(EnvMaintenanceURL), Value: url},
		corev1.EnvVarArgs{Name: pulumi.String(EnvMaintenanceSettle), Value: pulumi.String(strconv.Itoa(settle))},
	})}
	spec := kube.JobSpec(id, pod, 3, maintenanceDeadline)
	spec.Template = &corev1.PodTemplateSpecArgs{Metadata: id.PodMeta(annotations), Spec: pod}
	job, err := batchv1.NewJob(b.Ctx, name, &batchv1.JobArgs{
		Metadata: id.ObjectMeta(name, b.Namespace),
		Spec:     spec,
	}, append([]pulumi.ResourceOption{b.Parent}, kube.DependsOn(after)...)...)
	if err != nil {
		return nil, fmt.Errorf("maintenance %s job: %w", onOff, err)
	}
	return job, nil
}
