package greptimedb

import (
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

// DatanodeArgs configures GreptimeDB's datanodes.
type DatanodeArgs struct {
	Common
	Spec DatanodeSpec
	// Meta is the metasrv the datanodes register with; the StatefulSet starts after Meta.WaitFor.
	Meta MetaClient
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

type datanodeConfig struct {
	WAL     walConfig     `toml:"wal"`
	Storage storageConfig `toml:"storage"`
	Logging loggingConfig `toml:"logging"`
}

type walConfig struct {
	Provider        string   `toml:"provider"`
	Dir             string   `toml:"dir,omitempty"`
	BrokerEndpoints []string `toml:"broker_endpoints,omitempty"`
}

// Validate reports every problem of the arguments.
func (a *DatanodeArgs) Validate() field.ErrorList {
	if a == nil {
		return field.ErrorList{field.Required(nil, "args are required")}
	}
	return a.Meta.validate(a.Common, a.Spec.Validate(field.NewPath("datanode")))
}

// NewDatanode creates the datanodes of a cluster: a ConfigMap, a headless
// Service, the credentials Secret for S3, and a StatefulSet with a PVC per pod
// that starts after args.WaitFor.
func NewDatanode(ctx *pulumi.Context, name string, args *DatanodeArgs, opts ...pulumi.ResourceOption) (*Datanode, error) {
	d := &Datanode{}
	return kube.NewComponent(ctx, "datanode", DatanodeType, name, d, args.Validate, func(k kube.Component) (pulumi.Map, error) {
		b := &datanodeBuilder{part: newPart(k, args.Common, "datanode", DatanodeName(args.Cluster)), args: args}
		return b.build(d)
	}, opts...)
}

// datanodeBuilder creates the datanodes' children.
type datanodeBuilder struct {
	part
	args *DatanodeArgs
}

// build creates the children and returns the component's outputs.
func (b *datanodeBuilder) build(d *Datanode) (pulumi.Map, error) {
	store := b.args.Spec.ObjectStorage
	// The datanodes' config depends on no output: render it once, for the
	// ConfigMap and for the rollout's checksum.
	config, err := kube.RenderTOML(newDatanodeConfig(store, b.WAL, b.logging()))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	d.Config = pulumi.String(config).ToStringOutput()
	if d.ConfigMap, err = b.newConfigMap(d.Config); err != nil {
		return nil, err
	}
	if len(store.byValue()) > 0 {
		if d.Secret, err = b.newObjectStorageSecret(); err != nil {
			return nil, err
		}
	}
	if b.args.Spec.ServiceAccount.Enabled() {
		if d.ServiceAccount, err = b.newServiceAccount(); err != nil {
			return nil, err
		}
	}
	if d.Service, err = b.newService(nil, &corev1.ServiceSpecArgs{ClusterIP: pulumi.String("None"), Ports: kube.ServicePorts(datanodePorts...)}); err != nil {
		return nil, err
	}
	rollout, err := b.rolloutChecksum(config)
	if err != nil {
		return nil, err
	}
	if d.MaintenanceOn, err = b.newMaintenanceOn(rollout, b.args.Meta.WaitFor); err != nil {
		return nil, err
	}
	if d.StatefulSet, err = b.newStatefulSet(d); err != nil {
		return nil, err
	}
	if d.MaintenanceOff, err = b.newMaintenanceOff(d.MaintenanceOn, rollout, []pulumi.Resource{d.StatefulSet}); err != nil {
		return nil, err
	}
	if err := b.finish(b.args.Spec.Replicas, b.flows); err != nil {
		return nil, err
	}
	if b.Isolation.Enabled {
		if err := b.newMaintenancePolicy(); err != nil {
			return nil, err
		}
	}
	return pulumi.Map{"statefulSet": d.StatefulSet.Metadata.Name(), "service": d.Service.Metadata.Name()}, nil
}

// datanodePorts are the datanodes' gRPC and HTTP ports.
var datanodePorts = []kube.Port{{Name: "rpc", Number: GRPCPort}, {Name: "http", Number: HTTPPort}}

// newServiceAccount is the datanodes' own account with the configured
// annotations, which the cloud's workload identity maps to an IAM role.
func (b *datanodeBuilder) newServiceAccount() (*corev1.ServiceAccount, error) {
	meta := b.id.ObjectMeta(b.objName, b.Namespace)
	meta.Annotations = pulumi.ToStringMap(b.args.Spec.ServiceAccount.Annotations)
	sa, err := corev1.NewServiceAccount(b.Ctx, b.objName, &corev1.ServiceAccountArgs{Metadata: meta}, b.Parent)
	if err != nil {
		return nil, fmt.Errorf("service account: %w", err)
	}
	return sa, nil
}

// newObjectStorageSecret holds the S3 keys the datanodes read from their environment.
func (b *datanodeBuilder) newObjectStorageSecret() (*corev1.Secret, error) {
	secret, err := corev1.NewSecret(b.Ctx, b.Name+"-object-storage", &corev1.SecretArgs{
		Metadata:   b.id.AutoNamedMeta(b.Namespace),
		Type:       pulumi.String("Opaque"),
		StringData: b.args.Spec.ObjectStorage.secretData(),
	}, b.Parent)
	if err != nil {
		return nil, fmt.Errorf("object storage secret: %w", err)
	}
	return secret, nil
}

func newDatanodeConfig(o ObjectStorage, w WAL, logging loggingConfig) datanodeConfig {
	return datanodeConfig{
		WAL:     newWALConfig(w),
		Storage: newStorageConfig(o),
		Logging: logging,
	}
}

// newWALConfig is the datanode's [wal]: on its volume, or in Kafka.
func newWALConfig(w WAL) walConfig {
	if w.Remote() {
		return walConfig{Provider: string(WALKafka), BrokerEndpoints: w.BrokerEndpoints}
	}
	return walConfig{Provider: string(WALRaftEngine), Dir: DataHome + "/wal"}
}

// EnvMetasrvAddrs carries meta's host:port into the datanode's command line.
const EnvMetasrvAddrs = "METASRV_ADDRS"

// DatanodeScript is the datanode's shell command line: --node-id is the pod's
// StatefulSet ordinal (the hostname's suffix after the last '-'), and meta's
// address comes from the environment.
var DatanodeScript = "exec greptime datanode start" +
	` --node-id "${POD_NAME##*-}"` +
	` --metasrv-addrs "$` + EnvMetasrvAddrs + `"` +
	fmt.Sprintf(" --rpc-bind-addr 0.0.0.0:%d", GRPCPort) +
	fmt.Sprintf(` --rpc-server-addr "${POD_IP}:%d"`, GRPCPort) +
	fmt.Sprintf(" --http-addr 0.0.0.0:%d", HTTPPort) +
	" --config-file " + ConfigFile

func datanodeEnv(store ObjectStorage, secret *corev1.Secret) corev1.EnvVarArray {
	return append(podEnv(), store.credentialEnv(secret)...)
}

func (b *datanodeBuilder) newStatefulSet(d *Datanode) (*appsv1.StatefulSet, error) {
	spec := b.args.Spec
	main := b.container(datanodePorts, spec.Resources, dataMount(DataVolume))
	main.Command = pulumi.ToStringArray([]string{"/bin/sh", "-c", DatanodeScript})
	main.Env = append(datanodeEnv(spec.ObjectStorage, d.Secret),
		corev1.EnvVarArgs{Name: pulumi.String(EnvMetasrvAddrs), Value: b.args.Meta.Address})
	volumes := corev1.VolumeArray{
		configVolume(d.ConfigMap.Metadata.Name().Elem()),
		kube.EmptyDir("tmp", "1Gi"),
	}
	opts := b.DataSafety.StatefulSetOptions(b.Parent)
	opts = append(opts, kube.DependsOn(append(b.args.Meta.WaitFor, d.MaintenanceOn))...)
	meta := b.id.ObjectMeta(b.objName, b.Namespace)
	meta.Annotations = pulumi.StringMap{kube.AnnotationTimeoutSeconds: pulumi.String(strconv.Itoa(spec.RolloutTimeoutSeconds))}
	sts, err := appsv1.NewStatefulSet(b.Ctx, b.objName, &appsv1.StatefulSetArgs{
		Metadata: meta,
		Spec: &appsv1.StatefulSetSpecArgs{
			Replicas:                             pulumi.Int(spec.Replicas),
			ServiceName:                          d.Service.Metadata.Name().Elem(),
			PodManagementPolicy:                  pulumi.String("Parallel"),
			Selector:                             b.id.LabelSelector(),
			PersistentVolumeClaimRetentionPolicy: kube.RetainClaims(),
			Template: b.podTemplate(podAnnotations(d.Config, spec.ObjectStorage.secretInputs()...),
				waitContainer("wait-meta", b.WaitImage, "meta", b.args.Meta.HealthURL), main, volumes,
				func(pod *corev1.PodSpecArgs) {
					if d.ServiceAccount != nil {
						pod.ServiceAccountName = d.ServiceAccount.Metadata.Name().Elem()
					}
				}),
			VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{spec.Storage.VolumeClaimTemplate(DataVolume, b.id)},
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("statefulset: %w", err)
	}
	return sts, nil
}

// flows: frontends and meta reach the datanodes' gRPC port; datanodes reach
// meta, the Kafka brokers (the WAL) and, with object storage, the object store
// and their cloud identity's endpoints.
func (b *datanodeBuilder) flows() (ingress, egress []kube.Flow, err error) {
	if !b.Isolation.Enabled {
		return nil, nil, nil
	}
	meta := b.peer("meta")
	ingress = []kube.Flow{kube.Allow([]int{GRPCPort}, b.peer("frontend"), meta)}
	egress = []kube.Flow{kube.Allow([]int{MetaRPCPort, HTTPPort}, meta)}
	kafka, err := b.WAL.brokerEgress()
	if err != nil {
		return nil, nil, err
	}
	egress = append(egress, kafka...)
	if o := b.args.Spec.ObjectStorage; o.Type != StorageFile {
		port, err := objectStorePort(o.Endpoint)
		if err != nil {
			return nil, nil, fmt.Errorf("objectStorage.endpoint: %w", err)
		}
		// The object store is outside the cluster at addresses the program cannot know.
		egress = append(egress, kube.Allow([]int{port}))
	}
	if b.args.Spec.ServiceAccount.Enabled() {
		egress = append(egress, kube.WorkloadIdentityEgress()...)
	}
	return ingress, egress, nil
}
