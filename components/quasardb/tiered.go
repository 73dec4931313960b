package quasardb

import (
	"fmt"
	"regexp"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/kube"
)

// The wrapper's RocksDB-Cloud variables (qdbd-docker-wrapper.sh at "Release
// 3.14.1", see tuning.go), each patched into .local.depot.rocksdb.cloud.*. It
// has none for an endpoint: the store is AWS S3 at the SDK's own endpoints.
const (
	envCloudProvider     = "QDB_CLOUD_PROVIDER"                 // .provider
	envCloudBucket       = "QDB_CLOUD_BUCKET"                   // .bucket.source_bucket and .destination_bucket
	envCloudRegion       = "QDB_CLOUD_BUCKET_REGION"            // .bucket.region
	envCloudPathPrefix   = "QDB_CLOUD_BUCKET_PATH_PREFIX"       // .bucket.path_prefix (the image's default: qdb-docker)
	envCloudInstanceAuth = "QDB_CLOUD_AWS_ENABLE_INSTANCE_AUTH" // "true": the SDK's credential chain (the image's default)
	envCloudAccessKeyID  = "QDB_CLOUD_AWS_ACCESS_KEY_ID"        // .aws.access_key_id, read only without instance auth
	envCloudSecretKey    = "QDB_CLOUD_AWS_SECRET_ACCESS_KEY"    // .aws.secret_key, likewise
	// envPodName is the pod's name, which the path prefix is made from.
	envPodName = "POD_NAME"
)

// cloudProvider is the provider the wrapper copies into .provider verbatim: AWS,
// the only one whose credential variables it has (QDB_CLOUD_AWS_*).
const cloudProvider = "aws"

// Keys of the tiered storage's secrets in SecretRefs and in the generated Secret.
const (
	refAccessKeyID     = "accessKeyId"
	refSecretAccessKey = "secretAccessKey"
)

// TieredStorage keeps each node's RocksDB files in an S3 bucket (RocksDB-Cloud),
// with the node's volume in front of it.
type TieredStorage struct {
	Enabled bool `json:"enabled"`
	// Bucket is the S3 bucket.
	Bucket string `json:"bucket"`
	// PathPrefix is where the cluster's nodes keep their files in the bucket;
	// each node under its own pod name (<pathPrefix>/<cluster>-<ordinal>).
	PathPrefix string `json:"pathPrefix"`
	// Region is the bucket's region.
	Region string `json:"region"`
	// AccessKeyID and SecretAccessKey are the static credentials (or by
	// reference, SecretRefs' accessKeyId and secretAccessKey); without them the
	// nodes need a workload identity (ServiceAccount annotations).
	AccessKeyID     string `json:"accessKeyId" secret:"true"`
	SecretAccessKey string `json:"secretAccessKey" secret:"true"`
}

// Names S3 accepts; each also lands in the wrapper's jq program, so nothing else is allowed.
var (
	// S3 bucket names: 3 to 63 lowercase letters, digits, '.' and '-'.
	bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	// Regions: us-east-1.
	regionName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// A path in the bucket: quasardb/prod.
	pathPrefix = regexp.MustCompile(`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`)
)

// staticKeys reports whether a static key is given, by value or by reference.
func (t TieredStorage) staticKeys(refs map[string]kube.SecretRef) bool {
	return t.AccessKeyID != "" || t.SecretAccessKey != "" || refs[refAccessKeyID].IsSet() || refs[refSecretAccessKey].IsSet()
}

// validate checks the bucket, path and region, and that the nodes have
// credentials: both keys, or a workload identity and no key.
func (t TieredStorage) validate(p *field.Path, refs map[string]kube.SecretRef, refsPath *field.Path, sa kube.ServiceAccountSpec, saPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !t.Enabled {
		for _, k := range []string{refAccessKeyID, refSecretAccessKey} {
			if refs[k].IsSet() {
				errs = append(errs, field.Invalid(refsPath.Child(k), nil, fmt.Sprintf(
					"only with tiered storage: set %s to true, or remove it with `pulumi config rm --path '%s'`", p.Child("enabled"), refsPath.Child(k))))
			}
		}
		return errs
	}
	pattern := func(key, value string, re *regexp.Regexp, allowed string) {
		switch {
		case value == "":
			errs = append(errs, field.Required(p.Child(key), fmt.Sprintf("required with tiered storage (%s); set it with `pulumi config set --path '%s' <value>`",
				allowed, p.Child(key))))
		case !re.MatchString(value):
			errs = append(errs, field.Invalid(p.Child(key), value, allowed))
		}
	}
	pattern("bucket", t.Bucket, bucketName, "an S3 bucket name: 3 to 63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit")
	pattern("region", t.Region, regionName, "the bucket's region, such as eu-west-1 (lowercase letters, digits and '-')")
	if t.PathPrefix != "" && !pathPrefix.MatchString(t.PathPrefix) {
		errs = append(errs, field.Invalid(p.Child("pathPrefix"), t.PathPrefix,
			"a path in the bucket such as quasardb/prod (letters, digits, '.', '_', '-' and '/', no leading or trailing '/')"))
	}
	// Static keys come in pairs; without them the nodes need a workload identity.
	need := !sa.Enabled() || t.staticKeys(refs)
	for _, k := range []struct{ key, value string }{{refAccessKeyID, t.AccessKeyID}, {refSecretAccessKey, t.SecretAccessKey}} {
		fix := fmt.Sprintf("required with tiered storage unless the nodes have a workload identity (%s, e.g. %s); "+
			"set it as a secret: `pulumi config set --secret --path '%s' <value>`", saPath.Child("annotations"), kube.AnnotationIRSARole, p.Child(k.key))
		errs = append(errs, kube.ValidateSecretInput(k.value, refs[k.key], need, p.Child(k.key), refsPath.Child(k.key), fix)...)
		if !jqSafe(k.value) {
			errs = append(errs, field.Invalid(p.Child(k.key), k.value,
				"an AWS key holds no '\"', '\\' or line break (the image's entrypoint splices it into a jq program)"))
		}
	}
	return errs
}

// secretData is the generated Secret's data: the keys given by value.
func (t TieredStorage) secretData() pulumi.StringMap {
	data := pulumi.StringMap{}
	for k, v := range map[string]string{refAccessKeyID: t.AccessKeyID, refSecretAccessKey: t.SecretAccessKey} {
		if v != "" {
			data[secretKeyOf[k]] = kube.Secret(pulumi.String(v))
		}
	}
	return data
}

// secretKeyOf is each key's name in the generated Secret.
var secretKeyOf = map[string]string{refAccessKeyID: "access-key-id", refSecretAccessKey: "secret-access-key"}

// env are the wrapper's variables for tiered storage: the keys only from a
// Secret (generated, or referenced), never as values.
func (t TieredStorage) env(refs map[string]kube.SecretRef, generated *corev1.Secret) corev1.EnvVarArray {
	prefix := "$(" + envPodName + ")"
	if t.PathPrefix != "" {
		prefix = t.PathPrefix + "/" + prefix
	}
	env := corev1.EnvVarArray{
		envValue(envCloudProvider, cloudProvider),
		envValue(envCloudBucket, t.Bucket),
		envValue(envCloudRegion, t.Region),
		// Kubernetes expands $(POD_NAME) from the variable above it: each node
		// keeps its own files.
		kube.EnvFromField(envPodName, "metadata.name"),
		envValue(envCloudPathPrefix, prefix),
	}
	if !t.staticKeys(refs) {
		// The SDK's credential chain: the web identity token IRSA mounts.
		return append(env, envValue(envCloudInstanceAuth, "true"))
	}
	env = append(env, envValue(envCloudInstanceAuth, "false"))
	for _, k := range []struct{ ref, name, value string }{
		{refAccessKeyID, envCloudAccessKeyID, t.AccessKeyID},
		{refSecretAccessKey, envCloudSecretKey, t.SecretAccessKey},
	} {
		switch {
		case k.value != "" && generated != nil:
			env = append(env, kube.EnvFromSecret(k.name, generated.Metadata.Name().Elem(), secretKeyOf[k.ref]))
		case refs[k.ref].IsSet():
			env = append(env, kube.EnvFromSecretRef(k.name, refs[k.ref]))
		}
	}
	return env
}
