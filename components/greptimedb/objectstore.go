package greptimedb

import (
	"fmt"
	"net/url"
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
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	AccessKeySecret string `json:"accessKeySecret"`
	AccountKey      string `json:"accountKey"`
	SASToken        string `json:"sasToken"`
	Credential      string `json:"credential"`
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

// validate checks the object storage type and what it needs. With workload
// identity (a ServiceAccount with annotations) S3 and Gcs need no keys, but
// S3 keys must still come in pairs.
func (o ObjectStorage) validate(p *field.Path, workloadIdentity bool) field.ErrorList {
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
	required := func(key, value, why string) {
		if value == "" {
			errs = append(errs, field.Invalid(p.Child(key), nil, why))
		}
	}
	if o.Type == StorageAzblob {
		required("container", o.Container, "required for Azblob storage")
		required("accountName", o.AccountName, "required for Azblob storage: the storage account")
	} else {
		required("bucket", o.Bucket, fmt.Sprintf("required for %s storage", o.Type))
	}
	errs = append(errs, o.validateCredentials(p, workloadIdentity)...)
	if o.Endpoint != "" {
		if _, err := objectStorePort(o.Endpoint); err != nil {
			errs = append(errs, field.Invalid(p.Child("endpoint"), o.Endpoint, "not an http(s) URL; want e.g. https://s3.eu-west-1.amazonaws.com"))
		}
	}
	return errs
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
		switch {
		case o.value(c.key) != "" && generated != nil:
			env = append(env, kube.EnvFromSecret(c.env, generated.Metadata.Name().Elem(), c.secretKey))
		case o.SecretRefs[c.key].IsSet():
			env = append(env, kube.EnvFromSecretRef(c.env, o.SecretRefs[c.key]))
		}
	}
	return env
}
