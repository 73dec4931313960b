package greptimedb

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/kube"
)

// StorageType is where datanodes keep region data, as GreptimeDB v1.1.4's
// [storage] type spells it (config/datanode.example.toml).
type StorageType string

// Storage types.
const (
	// StorageFile keeps region data on each datanode's volume.
	StorageFile StorageType = "File"
	// StorageS3 keeps region data in S3-compatible object storage.
	StorageS3 StorageType = "S3"
	// StorageGcs keeps region data in Google Cloud Storage.
	StorageGcs StorageType = "Gcs"
	// StorageAzblob keeps region data in Azure Blob Storage.
	StorageAzblob StorageType = "Azblob"
	// StorageOss keeps region data in Aliyun OSS.
	StorageOss StorageType = "Oss"
)

// StorageTypes lists the accepted storage types.
var StorageTypes = []StorageType{StorageFile, StorageS3, StorageGcs, StorageAzblob, StorageOss}

// ObjectStorage is where datanodes keep region data. Which fields apply depends
// on the type; the secret ones reach resources only as Pulumi secrets and the
// pods only through a Secret, or are read from an existing Secret (SecretRefs).
type ObjectStorage struct {
	Type StorageType `json:"type"`
	// Bucket (S3, Gcs, Oss) or Container (Azblob) holds the data, under Root.
	Bucket    string `json:"bucket"`
	Container string `json:"container"`
	Root      string `json:"root"`
	Region    string `json:"region"`
	Endpoint  string `json:"endpoint"`
	// AccountName is the Azure storage account (Azblob).
	AccountName string `json:"accountName"`
	// Scope is the OAuth scope (Gcs; empty means the read-write default).
	Scope string `json:"scope"`
	// Secrets: S3 accessKeyId and secretAccessKey; Oss accessKeyId and
	// accessKeySecret; Azblob accountKey or sasToken; Gcs credential (the
	// service account key JSON, base64).
	AccessKeyID     string `json:"accessKeyId" secret:"true"`
	SecretAccessKey string `json:"secretAccessKey" secret:"true"`
	AccessKeySecret string `json:"accessKeySecret" secret:"true"`
	AccountKey      string `json:"accountKey" secret:"true"`
	SASToken        string `json:"sasToken" secret:"true"`
	Credential      string `json:"credential" secret:"true"`
	// SecretRefs name existing Secrets that hold secret fields instead, by the
	// field's key ("accessKeyId": {name, key}); a field is set one way or the other.
	SecretRefs map[string]kube.SecretRef `json:"secretRefs"`
	// AllowLocationChange lets the stack change where running datanodes keep
	// their data (type, bucket, container or root): they then open an empty
	// store. The stack's topology guard reads it; the component does not.
	AllowLocationChange bool `json:"allowLocationChange"`
}

// Location is where the region data lives: the type and its bucket (or
// container) and root. Datanodes pointed elsewhere open an empty store.
func (o ObjectStorage) Location() string {
	if o.Type == StorageFile {
		return string(StorageFile)
	}
	bucket := o.Bucket
	if o.Type == StorageAzblob {
		bucket = o.Container
	}
	return fmt.Sprintf("%s://%s/%s", strings.ToLower(string(o.Type)), bucket, strings.Trim(o.Root, "/"))
}

// credential is one secret field of an object store: its config key, the
// datanode's environment variable that overrides storage.<toml> (GreptimeDB
// reads GREPTIMEDB_DATANODE__STORAGE__<KEY>), and its key in the generated Secret.
type credential struct {
	key, env, secretKey string
}

func credentialOf(key, toml string) credential {
	return credential{key: key, env: "GREPTIMEDB_DATANODE__STORAGE__" + strings.ToUpper(toml), secretKey: toSecretKey(key)}
}

// toSecretKey turns accessKeyId into access-key-id.
func toSecretKey(key string) string {
	var b strings.Builder
	for _, r := range key {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('-')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// The access key id (S3 and Oss) and S3's secret access key.
var (
	accessKeyID     = credentialOf("accessKeyId", "access_key_id")
	secretAccessKey = credentialOf("secretAccessKey", "secret_access_key")
)

// Environment variables that carry S3 credentials from a Secret into datanodes.
var (
	EnvAccessKeyID     = accessKeyID.env
	EnvSecretAccessKey = secretAccessKey.env
)

// credentials are the secret fields of each storage type.
var credentials = map[StorageType][]credential{
	StorageS3:     {accessKeyID, secretAccessKey},
	StorageOss:    {accessKeyID, credentialOf("accessKeySecret", "access_key_secret")},
	StorageAzblob: {credentialOf("accountKey", "account_key"), credentialOf("sasToken", "sas_token")},
	StorageGcs:    {credentialOf("credential", "credential")},
}

// value is the secret field's value as given in config.
func (o ObjectStorage) value(key string) string {
	return map[string]string{
		"accessKeyId": o.AccessKeyID, "secretAccessKey": o.SecretAccessKey, "accessKeySecret": o.AccessKeySecret,
		"accountKey": o.AccountKey, "sasToken": o.SASToken, "credential": o.Credential,
	}[key]
}

// given reports whether the secret field is set, by value or by reference.
func (o ObjectStorage) given(key string) bool { return o.value(key) != "" || o.SecretRefs[key].IsSet() }

// Names the object stores accept. Each is also data that reaches the database
// export's SQL, so nothing else is allowed.
var (
	// S3 and Oss bucket names: 3 to 63 lowercase letters, digits, '.' and '-'.
	s3BucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	// Gcs bucket names may also hold '_' and, with dots, be up to 222 long.
	gcsBucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$`)
	// Azure container names: 3 to 63 lowercase letters, digits and single '-'.
	azureContainerName = regexp.MustCompile(`^[a-z0-9]([a-z0-9]|-[a-z0-9]){2,62}$`)
	// Azure storage account names: 3 to 24 lowercase letters and digits.
	azureAccountName = regexp.MustCompile(`^[a-z0-9]{3,24}$`)
	// Regions: us-east-1, oss-cn-hangzhou, auto.
	regionName = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$`)
	// Endpoint paths (Azurite's /devstoreaccount1, a gateway's prefix).
	endpointPath = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)*/?$`)
)

// AnnotationIRSARole is the ServiceAccount annotation of IAM roles for service
// accounts on EKS. Its admission webhook also sets AWS_REGION and
// AWS_DEFAULT_REGION in the pods, which opendal reads when the region is not
// configured.
const AnnotationIRSARole = kube.AnnotationIRSARole

// validate checks the object storage type and what it needs. With workload
// identity (a ServiceAccount with annotations) S3 and Gcs need no keys, but
// S3 keys must still come in pairs.
//
// opendal 0.57.0 (GreptimeDB v1.1.4's, Cargo.lock) refuses to build a store
// that lacks what it needs, and the datanodes then crash-loop: Azblob and Oss
// need an endpoint ("endpoint is empty", core/services/{azblob,oss}/src/backend.rs),
// S3 a region, from the config or else from AWS_REGION or AWS_DEFAULT_REGION in
// the datanode's environment ("region is missing", core/services/s3/src/backend.rs).
// The program sets neither variable, so a region is required unless the
// datanodes' ServiceAccount is an EKS IRSA one, whose webhook sets both.
func (o ObjectStorage) validate(p *field.Path, sa kube.ServiceAccountSpec) field.ErrorList {
	if !slices.Contains(StorageTypes, o.Type) {
		names := make([]string, len(StorageTypes))
		for i, t := range StorageTypes {
			names[i] = string(t)
		}
		return field.ErrorList{field.Invalid(p.Child("type"), string(o.Type), fmt.Sprintf(
			"unknown storage type; allowed: %s (the datanode's volume), %s (object storage, as GreptimeDB v1.1.4 names them)",
			StorageFile, strings.Join(names[1:], ", ")))}
	}
	if o.Type == StorageFile {
		return nil
	}
	var errs field.ErrorList
	required := func(key, value, why string) bool {
		if value == "" {
			errs = append(errs, field.Invalid(p.Child(key), nil, why))
		}
		return value != ""
	}
	pattern := func(key, value string, re *regexp.Regexp, allowed string) {
		if value != "" && !re.MatchString(value) {
			errs = append(errs, field.Invalid(p.Child(key), value, allowed))
		}
	}
	switch o.Type {
	case StorageAzblob:
		required("container", o.Container, "required for Azblob storage")
		pattern("container", o.Container, azureContainerName, "not an Azure container name: 3 to 63 lowercase letters, digits and single '-'")
		required("accountName", o.AccountName, "required for Azblob storage: the storage account")
		pattern("accountName", o.AccountName, azureAccountName, "not an Azure storage account name: 3 to 24 lowercase letters and digits")
	case StorageGcs:
		required("bucket", o.Bucket, "required for Gcs storage")
		pattern("bucket", o.Bucket, gcsBucketName, "not a bucket name: 3 to 222 lowercase letters, digits, '.', '_' and '-'")
	default:
		required("bucket", o.Bucket, fmt.Sprintf("required for %s storage", o.Type))
		pattern("bucket", o.Bucket, s3BucketName, "not a bucket name: 3 to 63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit")
	}
	if o.Root != "" && !objectPrefix.MatchString(o.Root) {
		errs = append(errs, field.Invalid(p.Child("root"), o.Root, "a path in the bucket such as greptimedb/metrics (letters, digits, '.', '_', '-' and '/')"))
	}
	pattern("region", o.Region, regionName, "not a region name such as eu-west-1 (lowercase letters, digits, '-' and '_')")
	switch o.Type {
	case StorageAzblob, StorageOss:
		required("endpoint", o.Endpoint, fmt.Sprintf(
			"required for %s storage: the datanodes refuse to start without it (opendal: \"endpoint is empty\"); "+
				"set it, e.g. `pulumi config set --path '%s' %s`", o.Type, p.Child("endpoint"), exampleEndpoint[o.Type]))
	case StorageS3:
		if o.Region == "" && sa.Annotations[AnnotationIRSARole] == "" {
			required("region", o.Region, fmt.Sprintf(
				"required for S3 storage: the datanodes refuse to start without one (opendal: \"region is missing\"), "+
					"unless AWS_REGION is in their environment, which only EKS's IRSA webhook sets (the %s annotation under %s); "+
					"set it, e.g. `pulumi config set --path '%s' us-east-1` (S3-compatible stores accept any region name)",
				AnnotationIRSARole, strings.TrimSuffix(p.String(), "objectStorage")+"serviceAccount.annotations", p.Child("region")))
		}
	}
	errs = append(errs, o.validateCredentials(p, sa.Enabled())...)
	if o.Endpoint != "" {
		if err := validateEndpoint(o.Endpoint); err != nil {
			errs = append(errs, field.Invalid(p.Child("endpoint"), o.Endpoint, err.Error()+"; want e.g. https://s3.eu-west-1.amazonaws.com"))
		}
	}
	return errs
}

// exampleEndpoint shows an endpoint for each store that requires one.
var exampleEndpoint = map[StorageType]string{
	StorageAzblob: "https://<account>.blob.core.windows.net",
	StorageOss:    "https://oss-cn-hangzhou.aliyuncs.com",
}

// validateEndpoint checks an object store's endpoint: an http(s) URL of a DNS
// name or IP address, an optional port and path, and nothing else (no user,
// query or fragment).
func validateEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("not an http(s) URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.ContainsAny(endpoint, "#?@") {
		return fmt.Errorf("an endpoint holds no user, query or fragment")
	}
	if !kube.ValidHost(u.Hostname()) || strings.HasSuffix(u.Host, ":") {
		return fmt.Errorf("the host is neither a DNS name nor an IP address")
	}
	if u.Port() != "" {
		if _, err := kube.HostPort(u.Host); err != nil {
			return fmt.Errorf("the port is not a number from 1 to 65535")
		}
	}
	if !endpointPath.MatchString(u.EscapedPath()) || u.RawPath != "" {
		return fmt.Errorf("the path may hold only letters, digits, '.', '_', '~', '-' and '/'")
	}
	return nil
}

func (o ObjectStorage) validateCredentials(p *field.Path, workloadIdentity bool) field.ErrorList {
	var errs field.ErrorList
	creds := credentials[o.Type]
	known := map[string]bool{}
	for _, c := range creds {
		known[c.key] = true
	}
	refs := make([]string, 0, len(o.SecretRefs))
	for k := range o.SecretRefs {
		refs = append(refs, k)
	}
	sort.Strings(refs)
	for _, k := range refs {
		if !known[k] {
			errs = append(errs, field.Invalid(p.Child("secretRefs", k), nil, fmt.Sprintf(
				"%s storage has no secret %q; its secrets: %s", o.Type, k, strings.Join(credentialKeys(creds), ", "))))
		}
	}
	anyGiven := false
	for _, c := range creds {
		anyGiven = anyGiven || o.given(c.key)
	}
	need := map[string]bool{}
	switch o.Type {
	case StorageS3:
		// Both keys, unless workload identity supplies credentials and no key is given.
		pair := !workloadIdentity || anyGiven
		need["accessKeyId"], need["secretAccessKey"] = pair, pair
	case StorageOss:
		need["accessKeyId"], need["accessKeySecret"] = true, true
	case StorageGcs:
		need["credential"] = !workloadIdentity
	}
	for _, c := range creds {
		key := p.Child(c.key)
		fix := fmt.Sprintf("required for %s storage; set it as a secret: `pulumi config set --secret --path '%s' <value>`", o.Type, key)
		errs = append(errs, kube.ValidateSecretInput(o.value(c.key), o.SecretRefs[c.key], need[c.key], key, p.Child("secretRefs", c.key), fix)...)
	}
	if o.Type == StorageAzblob && !o.given("accountKey") && !o.given("sasToken") {
		errs = append(errs, field.Required(p.Child("accountKey"), fmt.Sprintf(
			"Azblob storage needs the account key or a SAS token; set one as a secret: `pulumi config set --secret --path '%s' <key>` "+
				"(or %s), or name an existing Secret under %s", p.Child("accountKey"), p.Child("sasToken"), p.Child("secretRefs"))))
	}
	return errs
}

func credentialKeys(cs []credential) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.key
	}
	return out
}

// objectStorePort is the TCP port of the object store's endpoint (443 by default).
func objectStorePort(endpoint string) (int, error) {
	if endpoint == "" {
		return 443, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return 0, fmt.Errorf("%q is not an http(s) URL", endpoint)
	}
	if port := u.Port(); port != "" {
		return kube.HostPort(u.Host)
	}
	if u.Scheme == "http" {
		return 80, nil
	}
	return 443, nil
}

// storageConfig is the datanode's [storage] table: no secret ever goes in it.
type storageConfig struct {
	Type        string `toml:"type"`
	DataHome    string `toml:"data_home"`
	Bucket      string `toml:"bucket,omitempty"`
	Container   string `toml:"container,omitempty"`
	Root        string `toml:"root,omitempty"`
	Region      string `toml:"region,omitempty"`
	Endpoint    string `toml:"endpoint,omitempty"`
	AccountName string `toml:"account_name,omitempty"`
	Scope       string `toml:"scope,omitempty"`
}

func newStorageConfig(o ObjectStorage) storageConfig {
	s := storageConfig{Type: string(o.Type), DataHome: DataHome}
	if o.Type == StorageFile {
		return s
	}
	s.Root, s.Endpoint = o.Root, o.Endpoint
	switch o.Type {
	case StorageS3:
		// Only S3 has a region in v1.1.4 (src/object-store/src/config.rs
		// S3Connection; OssConnection, AzblobConnection and GcsConnection have none).
		s.Bucket, s.Region = o.Bucket, o.Region
	case StorageAzblob:
		s.Container, s.AccountName = o.Container, o.AccountName
	case StorageGcs:
		s.Bucket, s.Scope = o.Bucket, o.Scope
	default:
		s.Bucket = o.Bucket
	}
	return s
}

// objectStoreCredentials are the secret fields given by value: they go into the
// generated Secret, and their checksum rolls the pods.
func (o ObjectStorage) byValue() []credential {
	var out []credential
	for _, c := range credentials[o.Type] {
		if o.value(c.key) != "" {
			out = append(out, c)
		}
	}
	return out
}

// secretData is the generated Secret's data: the secret fields given by value.
func (o ObjectStorage) secretData() pulumi.StringMap {
	data := pulumi.StringMap{}
	for _, c := range o.byValue() {
		data[c.secretKey] = kube.Secret(pulumi.String(o.value(c.key)))
	}
	return data
}

// secretInputs are the values of secretData, for the pods' checksum.
func (o ObjectStorage) secretInputs() []pulumi.StringInput {
	var out []pulumi.StringInput
	for _, c := range o.byValue() {
		out = append(out, kube.Secret(pulumi.String(o.value(c.key))))
	}
	return out
}

// credentialEnv are the datanode's environment variables for the secret fields:
// from the generated Secret (by value) or from the referenced one.
func (o ObjectStorage) credentialEnv(generated *corev1.Secret) corev1.EnvVarArray {
	var env corev1.EnvVarArray
	for _, c := range credentials[o.Type] {
		if v, ok := o.envFrom(c, c.env, generated); ok {
			env = append(env, v)
		}
	}
	return env
}

// envFrom is the variable name carrying the secret field c: from the generated
// Secret when given by value, or from the referenced Secret; false when not given.
func (o ObjectStorage) envFrom(c credential, name string, generated *corev1.Secret) (corev1.EnvVarArgs, bool) {
	switch {
	case o.value(c.key) != "" && generated != nil:
		return kube.EnvFromSecret(name, generated.Metadata.Name().Elem(), c.secretKey), true
	case o.SecretRefs[c.key].IsSet():
		return kube.EnvFromSecretRef(name, o.SecretRefs[c.key]), true
	}
	return corev1.EnvVarArgs{}, false
}

// Environment variables that give the frontends the S3 keys for COPY DATABASE.
// GreptimeDB v1.1.4's COPY passes only what CONNECTION (...) names to opendal's
// S3 builder (src/common/datasource/src/object_store/s3.rs, build_s3_backend),
// and opendal v0.57.0 then loads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from
// the process's environment (core/services/s3/src/backend.rs: the default
// credential chain, unless disable_config_load). So the keys never appear in
// the SQL text, which the frontends may log as a slow query.
const (
	EnvAWSAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvAWSSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
)

// s3KeyEnv are the frontends' AWS_* variables for the S3 keys, from the
// datanodes' generated Secret (by value) or the referenced one.
func (o ObjectStorage) s3KeyEnv(generated *corev1.Secret) corev1.EnvVarArray {
	var env corev1.EnvVarArray
	for _, k := range []struct {
		c    credential
		name string
	}{{accessKeyID, EnvAWSAccessKeyID}, {secretAccessKey, EnvAWSSecretAccessKey}} {
		if v, ok := o.envFrom(k.c, k.name, generated); ok {
			env = append(env, v)
		}
	}
	return env
}
