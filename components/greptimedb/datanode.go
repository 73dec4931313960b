package greptimedb

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"tsdb-platform/components/kube"
)

// DatanodeType is the datanode component's type token.
const DatanodeType = "tsdb:greptimedb:Datanode"

// Object storage types.
const (
	StorageFile = "File"
	StorageS3   = "S3"
)

// Environment variables that carry S3 credentials from a Secret into datanodes.
const (
	EnvAccessKeyID     = "GREPTIMEDB_DATANODE__STORAGE__ACCESS_KEY_ID"
	EnvSecretAccessKey = "GREPTIMEDB_DATANODE__STORAGE__SECRET_ACCESS_KEY"
)

// Keys of the object storage credentials Secret.
const (
	SecretKeyAccessKeyID     = "access-key-id"
	SecretKeySecretAccessKey = "secret-access-key"
)

// DataVolume names the datanodes' volume claim template.
const DataVolume = "data"

// ObjectStorage is where datanodes keep region data.
type ObjectStorage struct {
	// Type is File (the pod's volume) or S3 (S3-compatible object storage).
	Type     string
	Bucket   string
	Root     string
	Region   string
	Endpoint string
	// AccessKeyID and SecretAccessKey reach the pods only through a Secret.
	AccessKeyID     pulumi.StringInput
	SecretAccessKey pulumi.StringInput
}

// DatanodeArgs configures GreptimeDB's datanodes.
type DatanodeArgs struct {
	Common
	Replicas      int
	Resources     kube.Resources
	Storage       kube.Storage
	ObjectStorage ObjectStorage
	DataSafety    kube.DataSafety
	// MetaAddress is meta's host:port (for --metasrv-addrs).
	MetaAddress pulumi.StringInput
	// MetaHealthURL is polled by the init container until meta answers.
	MetaHealthURL pulumi.StringInput
	// WaitFor are the resources the StatefulSet starts after (meta).
	WaitFor []pulumi.Resource
}

// Datanode is the deployed datanodes.
type Datanode struct {
	pulumi.ResourceState

	ConfigMap   *corev1.ConfigMap
	Service     *corev1.Service
	StatefulSet *appsv1.StatefulSet
	// Secret holds the object storage credentials (S3 only; nil otherwise).
	Secret *corev1.Secret
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

type storageConfig struct {
	Type     string `toml:"type"`
	DataHome string `toml:"data_home"`
	Bucket   string `toml:"bucket,omitempty"`
	Root     string `toml:"root,omitempty"`
	Region   string `toml:"region,omitempty"`
	Endpoint string `toml:"endpoint,omitempty"`
}

// Validate reports what is wrong with the arguments.
func (a *DatanodeArgs) Validate() error {
	if a == nil {
		return errors.New("args are required")
	}
	errs := []error{a.Common.validate(), validateReplicas(a.Replicas)}
	if a.Storage.Size == "" {
		errs = append(errs, errors.New("storage.size is required"))
	}
	if a.MetaAddress == nil || a.MetaHealthURL == nil {
		errs = append(errs, errors.New("metaAddress and metaHealthUrl are required"))
	}
	switch o := a.ObjectStorage; o.Type {
	case StorageFile:
	case StorageS3:
		if o.Bucket == "" {
			errs = append(errs, errors.New("objectStorage.bucket is required for S3"))
		}
		if o.AccessKeyID == nil || o.SecretAccessKey == nil {
			errs = append(errs, errors.New("objectStorage.accessKeyId and secretAccessKey are required for S3"))
		}
		if _, err := objectStorePort(o.Endpoint); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("objectStorage.type: unknown type %q; allowed: %s, %s", o.Type, StorageFile, StorageS3))
	}
	return errors.Join(errs...)
}

// objectStorePort is the TCP port of the object store's endpoint (443 by default).
func objectStorePort(endpoint string) (int, error) {
	if endpoint == "" {
		return 443, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return 0, fmt.Errorf("objectStorage.endpoint: %q is not a URL", endpoint)
	}
	if p := u.Port(); p != "" {
		return strconv.Atoi(p)
	}
	if u.Scheme == "http" {
		return 80, nil
	}
	return 443, nil
}

// NewDatanode creates the datanodes of a cluster: a ConfigMap, a headless
// Service, the credentials Secret for S3, and a StatefulSet with a PVC per pod
// that starts after args.WaitFor.
func NewDatanode(ctx *pulumi.Context, name string, args *DatanodeArgs, opts ...pulumi.ResourceOption) (*Datanode, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("datanode %q: %w", name, err)
	}
	d := &Datanode{}
	if err := ctx.RegisterComponentResource(DatanodeType, name, d, opts...); err != nil {
		return nil, fmt.Errorf("datanode %q: %w", name, err)
	}
	id := args.identity("datanode")
	parent := pulumi.Parent(d)
	objName := DatanodeName(args.Cluster)

	d.Config = renderConfig(func([]string) any { return newDatanodeConfig(args.ObjectStorage, args.WAL, args.logging()) })
	var err error
	if d.ConfigMap, err = newConfigMap(ctx, name, id, args.Namespace, d.Config, parent); err != nil {
		return nil, fmt.Errorf("datanode %q: %w", name, err)
	}
	if args.ObjectStorage.Type == StorageS3 {
		d.Secret, err = corev1.NewSecret(ctx, name+"-object-storage", &corev1.SecretArgs{
			Metadata: id.AutoNamedMeta(args.Namespace),
			Type:     pulumi.String("Opaque"),
			StringData: pulumi.StringMap{
				SecretKeyAccessKeyID:     kube.Secret(args.ObjectStorage.AccessKeyID),
				SecretKeySecretAccessKey: kube.Secret(args.ObjectStorage.SecretAccessKey),
			},
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("datanode %q: object storage secret: %w", name, err)
		}
	}
	d.Service, err = corev1.NewService(ctx, objName, &corev1.ServiceArgs{
		Metadata: id.ObjectMeta(objName, args.Namespace),
		Spec: &corev1.ServiceSpecArgs{
			ClusterIP: pulumi.String("None"),
			Selector:  id.Selector(),
			Ports:     corev1.ServicePortArray{kube.ServicePort("rpc", GRPCPort), kube.ServicePort("http", HTTPPort)},
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("datanode %q: service: %w", name, err)
	}
	if d.StatefulSet, err = newDatanodeStatefulSet(ctx, objName, id, args, d, parent); err != nil {
		return nil, fmt.Errorf("datanode %q: %w", name, err)
	}
	if _, err := kube.NewPodDisruptionBudget(ctx, objName, id, args.Namespace, args.Replicas, parent); err != nil {
		return nil, fmt.Errorf("datanode %q: %w", name, err)
	}
	if args.Isolation.Enabled {
		if err := newDatanodeNetworkPolicy(ctx, objName, id, args, parent); err != nil {
			return nil, fmt.Errorf("datanode %q: %w", name, err)
		}
	}
	if err := ctx.RegisterResourceOutputs(d, pulumi.Map{
		"statefulSet": d.StatefulSet.Metadata.Name(),
		"service":     d.Service.Metadata.Name(),
	}); err != nil {
		return nil, fmt.Errorf("datanode %q: %w", name, err)
	}
	return d, nil
}

func newDatanodeConfig(o ObjectStorage, w WAL, logging loggingConfig) datanodeConfig {
	storage := storageConfig{Type: o.Type, DataHome: DataHome}
	if o.Type == StorageS3 {
		storage.Bucket, storage.Root, storage.Region, storage.Endpoint = o.Bucket, o.Root, o.Region, o.Endpoint
	}
	return datanodeConfig{
		WAL:     newWALConfig(w),
		Storage: storage,
		Logging: logging,
	}
}

// newWALConfig is the datanode's [wal]: on its volume, or in Kafka.
func newWALConfig(w WAL) walConfig {
	if w.Remote() {
		return walConfig{Provider: WALKafka, BrokerEndpoints: w.BrokerEndpoints}
	}
	return walConfig{Provider: WALRaftEngine, Dir: DataHome + "/wal"}
}

// DatanodeScript is the datanode's shell command line: --node-id is the pod's
// StatefulSet ordinal (the hostname's suffix after the last '-').
func DatanodeScript(metaAddress string) string {
	return "exec greptime datanode start" +
		" --node-id ${POD_NAME##*-}" +
		" --metasrv-addrs " + metaAddress +
		fmt.Sprintf(" --rpc-bind-addr 0.0.0.0:%d", GRPCPort) +
		fmt.Sprintf(" --rpc-server-addr ${POD_IP}:%d", GRPCPort) +
		fmt.Sprintf(" --http-addr 0.0.0.0:%d", HTTPPort) +
		" --config-file " + ConfigFile
}

func datanodeEnv(secret *corev1.Secret) corev1.EnvVarArray {
	env := podEnv()
	if secret != nil {
		name := secret.Metadata.Name().Elem()
		env = append(env,
			kube.EnvFromSecret(EnvAccessKeyID, name, SecretKeyAccessKeyID),
			kube.EnvFromSecret(EnvSecretAccessKey, name, SecretKeySecretAccessKey))
	}
	return env
}

func newDatanodeStatefulSet(ctx *pulumi.Context, objName string, id kube.Identity, args *DatanodeArgs, d *Datanode,
	parent pulumi.ResourceOption,
) (*appsv1.StatefulSet, error) {
	script := args.MetaAddress.ToStringOutput().ApplyT(DatanodeScript).(pulumi.StringOutput)
	main := corev1.ContainerArgs{
		Name:    pulumi.String("datanode"),
		Image:   pulumi.String(args.Image),
		Command: pulumi.StringArray{pulumi.String("/bin/sh"), pulumi.String("-c"), script},
		Env:     datanodeEnv(d.Secret),
		Ports:   corev1.ContainerPortArray{kube.ContainerPort("rpc", GRPCPort), kube.ContainerPort("http", HTTPPort)},
		VolumeMounts: append(baseMounts(),
			corev1.VolumeMountArgs{Name: pulumi.String(DataVolume), MountPath: pulumi.String(DataHome)}),
		Resources:       args.Resources.Args(),
		SecurityContext: kube.ContainerSecurityContext(),
	}
	healthProbes(&main)
	var secrets []pulumi.StringInput
	if args.ObjectStorage.Type == StorageS3 {
		secrets = []pulumi.StringInput{kube.Secret(args.ObjectStorage.AccessKeyID), kube.Secret(args.ObjectStorage.SecretAccessKey)}
	}
	opts := args.DataSafety.StatefulSetOptions(parent)
	opts = append(opts, dependsOn(args.WaitFor)...)
	sts, err := appsv1.NewStatefulSet(ctx, objName, &appsv1.StatefulSetArgs{
		Metadata: id.ObjectMeta(objName, args.Namespace),
		Spec: &appsv1.StatefulSetSpecArgs{
			Replicas:                             pulumi.Int(args.Replicas),
			ServiceName:                          d.Service.Metadata.Name().Elem(),
			PodManagementPolicy:                  pulumi.String("Parallel"),
			Selector:                             &metav1.LabelSelectorArgs{MatchLabels: id.Selector()},
			PersistentVolumeClaimRetentionPolicy: kube.RetainClaims(),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: id.Labels(), Annotations: podAnnotations(d.Config, secrets...)},
				Spec: &corev1.PodSpecArgs{
					SecurityContext: kube.PodSecurityContext(UID),
					Affinity:        kube.AntiAffinity(args.AntiAffinity, id.Selector()),
					InitContainers:  corev1.ContainerArray{waitContainer("wait-meta", args.waitImage(), "meta", args.MetaHealthURL)},
					Containers:      corev1.ContainerArray{main},
					Volumes: corev1.VolumeArray{
						configVolume(d.ConfigMap.Metadata.Name().Elem()),
						kube.EmptyDir("tmp", "1Gi"),
					},
				},
			},
			VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{args.Storage.VolumeClaimTemplate(DataVolume, id)},
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("statefulset: %w", err)
	}
	return sts, nil
}

// newDatanodeNetworkPolicy: frontends and meta reach the datanodes; datanodes
// reach meta and, with S3 storage, the object store.
func newDatanodeNetworkPolicy(ctx *pulumi.Context, objName string, id kube.Identity, args *DatanodeArgs, parent pulumi.ResourceOption) error {
	meta := kube.PodsPeer(args.identity("meta").Selector())
	callers := []networkingv1.NetworkPolicyPeerArgs{kube.PodsPeer(args.identity("frontend").Selector()), meta}
	ingress := []kube.Flow{{Peers: callers, Ports: []int{GRPCPort, HTTPPort}}}
	egress := []kube.Flow{{Peers: []networkingv1.NetworkPolicyPeerArgs{meta}, Ports: []int{MetaRPCPort, HTTPPort}}}
	if args.ObjectStorage.Type == StorageS3 {
		port, err := objectStorePort(args.ObjectStorage.Endpoint)
		if err != nil {
			return err
		}
		// The object store is outside the cluster at addresses the program cannot know.
		egress = append(egress, kube.Flow{Ports: []int{port}})
	}
	_, err := kube.NewNetworkPolicy(ctx, objName, id, args.Namespace, ingress, egress, parent)
	return err
}
