package quasardb

import (
	"fmt"
	"strconv"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"tsdb-platform/components/kube"
)

// imageUID is the uid and gid the bureau14/qdb image runs as (since 2022).
const imageUID = 1000

// containerName is the QuasarDB daemon's container.
const containerName = "qdbd"

// Paths inside the container. The image's entrypoint copies its config to
// /tmp/qdbd.conf and patches it there through mktemp files, and the daemon logs to
// QDB_LOG_PATH: with a read-only root filesystem both live on emptyDir volumes.
const (
	depotPath          = "/opt/qdb/depot"
	logPath            = "/opt/qdb/log"
	tmpPath            = "/tmp"
	licenseDir         = "/etc/qdb/license"
	licenseFileName    = "quasardb.key"
	securityDir        = "/etc/qdb/security"
	privateKeyFileName = "cluster_private.key"
	userListFileName   = "users.cfg"
)

// Volume names in the pod (the data volume is the claim template's name).
const (
	dataVolume     = "data"
	logVolume      = "log"
	tmpVolume      = "tmp"
	licenseVolume  = "license"
	securityVolume = "security"
)

// Scratch volume size limits: the entrypoint's patched config is a few kilobytes;
// the log directory is bounded so logs cannot fill the node's disk.
const (
	tmpSizeLimit = "64Mi"
	logSizeLimit = "2Gi"
)

// secretFileMode lets the owner and the pod's fsGroup (the image's group) read the
// mounted keys, and nobody else.
const secretFileMode = 0o440

// keySecrets are the Secrets holding the license and the security keys (the
// generated ones, and the existing ones referenced), with the generated ones'
// secret contents for the pod template's checksum.
type keySecrets struct {
	license *corev1.Secret
	// licenseRef is the existing Secret holding the license (nil when by value).
	licenseRef *kube.SecretRef
	// secured is true when security is on.
	secured bool
	// security holds the security keys given by value (nil when none is).
	security *corev1.Secret
	// securityRefs maps a security file name to the existing Secret holding it.
	securityRefs map[string]kube.SecretRef
	contents     []pulumi.StringInput
	// publicKey holds the cluster's public key for the exporter (secured clusters only).
	publicKey *corev1.ConfigMap
	// tiered holds the tiered storage's keys given by value (nil when none is).
	tiered *corev1.Secret
	// serviceAccount is the nodes' own account (nil: the namespace's default).
	serviceAccount pulumi.StringInput
}

func (k keySecrets) licensed() bool { return k.license != nil || k.licenseRef != nil }

// newKeySecrets creates the license Secret when the license is given by value,
// and the security Secret with the security keys given by value. They are
// auto-named: a changed key creates a new Secret and the StatefulSet, which
// references it by name, rolls. Keys in existing Secrets are mounted from them.
func (b *builder) newKeySecrets() (keySecrets, error) {
	var keys keySecrets
	if ref, ok := b.spec.SecretRefs[refLicense]; ok && ref.IsSet() {
		keys.licenseRef = &ref
	} else if b.spec.licensed() {
		license := kube.Secret(pulumi.String(b.spec.License))
		s, err := b.NewSecret(b.Name+"-license", pulumi.StringMap{licenseFileName: license})
		if err != nil {
			return keys, err
		}
		keys.license = s
		keys.contents = append(keys.contents, pulumi.String("license"), license)
	}
	sec := b.spec.Security
	if !sec.Enabled {
		return keys, nil
	}
	keys.secured = true
	data := pulumi.StringMap{}
	var contents []pulumi.StringInput
	for _, f := range []struct{ ref, file, value string }{
		{refClusterPrivateKey, privateKeyFileName, sec.ClusterPrivateKey},
		{refUserList, userListFileName, sec.UserList},
	} {
		if ref := b.spec.SecretRefs[f.ref]; ref.IsSet() {
			if keys.securityRefs == nil {
				keys.securityRefs = map[string]kube.SecretRef{}
			}
			keys.securityRefs[f.file] = ref
			continue
		}
		v := kube.Secret(pulumi.String(f.value))
		data[f.file] = v
		contents = append(contents, v)
	}
	if len(data) == 0 {
		return keys, nil
	}
	s, err := b.NewSecret(b.Name+"-security", data)
	if err != nil {
		return keys, err
	}
	keys.security = s
	keys.contents = append(keys.contents, append([]pulumi.StringInput{pulumi.String("security")}, contents...)...)
	return keys, nil
}

// newTieredStorageSecret creates the Secret of the tiered storage's keys given
// by value, whose checksum rolls the pods.
func (b *builder) newTieredStorageSecret(keys *keySecrets) error {
	t := b.spec.TieredStorage
	data := t.secretData()
	if !t.Enabled || len(data) == 0 {
		return nil
	}
	s, err := b.NewSecret(b.Name+"-tiered-storage", data)
	if err != nil {
		return err
	}
	keys.tiered = s
	keys.contents = append(keys.contents, pulumi.String("tiered-storage"))
	for _, k := range []string{refAccessKeyID, refSecretAccessKey} {
		if v, ok := data[secretKeyOf[k]]; ok {
			keys.contents = append(keys.contents, v)
		}
	}
	return nil
}

// newStatefulSet creates the nodes: bound to the headless Service, started one by
// one (each node bootstraps from the lower ordinals, and listens on the client port
// only once it joined the ring).
func (b *builder) newStatefulSet(headless *corev1.Service, keys keySecrets) (*appsv1.StatefulSet, error) {
	a := b.spec
	ss, err := appsv1.NewStatefulSet(b.Ctx, b.Name, &appsv1.StatefulSetArgs{
		Metadata: b.ID.ObjectMeta(b.Name, b.Namespace),
		Spec: &appsv1.StatefulSetSpecArgs{
			ServiceName:                          headless.Metadata.Name().Elem(),
			Replicas:                             pulumi.Int(a.Replicas),
			PodManagementPolicy:                  pulumi.String("OrderedReady"),
			Selector:                             b.ID.LabelSelector(),
			PersistentVolumeClaimRetentionPolicy: kube.RetainClaims(),
			Template:                             b.PodTemplate(b.pod(keys)),
			VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{
				a.Storage.VolumeClaimTemplate(dataVolume, b.ID),
			},
		},
	}, b.StatefulSetOptions()...)
	if err != nil {
		return nil, fmt.Errorf("statefulset %q: %w", b.Name, err)
	}
	return ss, nil
}

// pod is the nodes' pod: the daemon, and the exporter beside it when enabled.
// A changed key rolls the pods (checksumAnnotations).
func (b *builder) pod(keys keySecrets) kube.Pod {
	p := kube.Pod{
		UID:          imageUID,
		AntiAffinity: b.spec.AntiAffinity,
		Scheduling:   b.spec.Scheduling,
		Annotations:  checksumAnnotations(keys),
		Containers:   []corev1.ContainerArgs{b.container(keys)},
		Volumes:      volumes(keys),

		ServiceAccountName: keys.serviceAccount,
	}
	if b.spec.Exporter.Enabled {
		p.Containers = append(p.Containers, b.exporterContainer())
		p.Volumes = append(p.Volumes, b.exporterVolumes(keys.publicKey)...)
	}
	return p
}

func (b *builder) container(keys keySecrets) corev1.ContainerArgs {
	a := b.spec
	return corev1.ContainerArgs{
		Name:            pulumi.String(containerName),
		Image:           pulumi.String(b.Registry.Image(a.Image)),
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		Ports: corev1.ContainerPortArray{
			kube.ContainerPort(clientPortName, clientPort),
			kube.ContainerPort(controlPortName, controlPort),
		},
		Env:             b.env(keys),
		Resources:       a.Resources.Args(),
		ReadinessProbe:  tcpProbe(a.Probes.Readiness),
		LivenessProbe:   tcpProbe(a.Probes.Liveness),
		SecurityContext: kube.ContainerSecurityContext(),
		VolumeMounts:    volumeMounts(keys),
	}
}

// tcpProbe checks the client port, which the daemon opens only after it joined the ring.
func tcpProbe(t ProbeTiming) *corev1.ProbeArgs {
	return &corev1.ProbeArgs{
		TcpSocket:           &corev1.TCPSocketActionArgs{Port: pulumi.Int(clientPort)},
		InitialDelaySeconds: pulumi.Int(t.InitialDelaySeconds),
		PeriodSeconds:       pulumi.Int(t.PeriodSeconds),
		TimeoutSeconds:      pulumi.Int(t.TimeoutSeconds),
		FailureThreshold:    pulumi.Int(t.FailureThreshold),
	}
}

// env is what the image's entrypoint reads to patch the daemon's config.
func (b *builder) env(keys keySecrets) corev1.EnvVarArray {
	a := b.spec
	env := corev1.EnvVarArray{
		// StatefulSet mode: node id <ordinal+1>/<count> and lower ordinals as bootstrap
		// peers. Derived from Replicas, so it can never drift from the replica count.
		envValue("K8S_REPLICA_COUNT", strconv.Itoa(a.Replicas)),
		envValue("QDB_REPLICATION", strconv.Itoa(a.Replication)),
		kube.EnvFromField("QDB_BIND_ADDRESS", "status.podIP"),
		envValue("QDB_DEPOT_PATH", depotPath),
		envValue("QDB_LOG_PATH", logPath),
		envValue("QDB_MEMORY_LIMIT_SOFT", strconv.FormatInt(b.limiter.SoftBytes, 10)),
		envValue("QDB_MEMORY_LIMIT_HARD", strconv.FormatInt(b.limiter.HardBytes, 10)),
	}
	if keys.licensed() {
		env = append(env, envValue("QDB_LICENSE_FILE", licenseDir+"/"+licenseFileName))
	}
	if keys.secured {
		env = append(env,
			envValue("QDB_ENABLE_SECURITY", "true"),
			envValue("QDB_CLUSTER_PRIVATE_KEY_FILE", securityDir+"/"+privateKeyFileName),
			envValue("QDB_USER_LIST_FILE", securityDir+"/"+userListFileName),
		)
	}
	env = append(env, envValue(envLogLevel, strconv.Itoa(a.LogLevel.value())))
	env = append(env, b.tuningEnv...)
	if a.TieredStorage.Enabled {
		env = append(env, a.TieredStorage.env(a.SecretRefs, keys.tiered)...)
	}
	return env
}

func envValue(name, value string) corev1.EnvVarArgs {
	return corev1.EnvVarArgs{Name: pulumi.String(name), Value: pulumi.String(value)}
}

func volumes(keys keySecrets) corev1.VolumeArray {
	vols := corev1.VolumeArray{
		kube.EmptyDir(tmpVolume, tmpSizeLimit),
		kube.EmptyDir(logVolume, logSizeLimit),
	}
	switch {
	case keys.license != nil:
		vols = append(vols, secretVolume(licenseVolume, keys.license))
	case keys.licenseRef != nil:
		vols = append(vols, corev1.VolumeArgs{
			Name: pulumi.String(licenseVolume),
			Secret: &corev1.SecretVolumeSourceArgs{
				SecretName:  pulumi.String(keys.licenseRef.Name),
				Items:       corev1.KeyToPathArray{keyToPath(keys.licenseRef.Key, licenseFileName)},
				DefaultMode: pulumi.Int(secretFileMode),
			},
		})
	}
	switch {
	case keys.secured && len(keys.securityRefs) == 0:
		vols = append(vols, secretVolume(securityVolume, keys.security))
	case keys.secured:
		vols = append(vols, projectedSecurityVolume(keys))
	}
	return vols
}

// projectedSecurityVolume puts the security keys from the generated Secret and
// the referenced ones side by side in one directory.
func projectedSecurityVolume(keys keySecrets) corev1.VolumeArgs {
	var sources corev1.VolumeProjectionArray
	if keys.security != nil {
		sources = append(sources, corev1.VolumeProjectionArgs{
			Secret: &corev1.SecretProjectionArgs{Name: keys.security.Metadata.Name().Elem()},
		})
	}
	for _, file := range []string{privateKeyFileName, userListFileName} {
		if ref, ok := keys.securityRefs[file]; ok {
			sources = append(sources, corev1.VolumeProjectionArgs{
				Secret: &corev1.SecretProjectionArgs{
					Name:  pulumi.String(ref.Name),
					Items: corev1.KeyToPathArray{keyToPath(ref.Key, file)},
				},
			})
		}
	}
	return corev1.VolumeArgs{
		Name:      pulumi.String(securityVolume),
		Projected: &corev1.ProjectedVolumeSourceArgs{Sources: sources, DefaultMode: pulumi.Int(secretFileMode)},
	}
}

func keyToPath(key, path string) corev1.KeyToPathArgs {
	return corev1.KeyToPathArgs{Key: pulumi.String(key), Path: pulumi.String(path)}
}

func secretVolume(name string, s *corev1.Secret) corev1.VolumeArgs {
	return corev1.VolumeArgs{
		Name: pulumi.String(name),
		Secret: &corev1.SecretVolumeSourceArgs{
			SecretName:  s.Metadata.Name().Elem(),
			DefaultMode: pulumi.Int(secretFileMode),
		},
	}
}

func volumeMounts(keys keySecrets) corev1.VolumeMountArray {
	mounts := corev1.VolumeMountArray{
		mount(dataVolume, depotPath, false),
		mount(tmpVolume, tmpPath, false),
		mount(logVolume, logPath, false),
	}
	if keys.licensed() {
		mounts = append(mounts, mount(licenseVolume, licenseDir, true))
	}
	if keys.secured {
		mounts = append(mounts, mount(securityVolume, securityDir, true))
	}
	return mounts
}

func mount(volume, path string, readOnly bool) corev1.VolumeMountArgs {
	return corev1.VolumeMountArgs{Name: pulumi.String(volume), MountPath: pulumi.String(path), ReadOnly: pulumi.Bool(readOnly)}
}
