package greptimedb

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/kube"
)

// The frontends' users: their spec, the static user provider's file and where
// it is mounted. The frontends authenticate with it; the database export
// signs in with it.

// AuthSpec is the frontends' static user authentication.
type AuthSpec struct {
	// Enabled turns on authentication with a generated password.
	Enabled bool `json:"enabled"`
	// Username is the user the generated password belongs to.
	Username string `json:"username"`
	// UsersSecretRef names an existing Secret key holding the user file
	// ("user=password" lines) instead: no password is generated, and the
	// frontends watch the mounted file, so edits to the Secret apply without a
	// restart (watch_file_user_provider, v1.1.4 src/auth/src/common.rs).
	UsersSecretRef kube.SecretRef `json:"usersSecretRef"`
}

// Validate checks the users' source and names, at p (frontend.auth).
func (a AuthSpec) Validate(p *field.Path) field.ErrorList {
	errs := a.UsersSecretRef.Validate(p.Child("usersSecretRef"))
	if a.UsersSecretRef.IsSet() && !a.Enabled {
		errs = append(errs, field.Invalid(p.Child("usersSecretRef"), nil, fmt.Sprintf(
			"authentication is off; set %s to true, or unset usersSecretRef", p.Child("enabled"))))
	}
	if a.Enabled && !a.UsersSecretRef.IsSet() && !ValidUsername(a.Username) {
		errs = append(errs, field.Invalid(p.Child("username"), a.Username,
			"required when auth is enabled; letters, digits, '-' and '_' only (no '=', ':' or spaces)"))
	}
	return errs
}

// ValidUsername reports whether u can own a line of the static user provider's file
// ("user=password"): letters, digits, '-' and '_', at least one.
func ValidUsername(u string) bool {
	if u == "" {
		return false
	}
	for _, r := range u {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// Static user provider file: mounted read-only from the auth Secret.
const (
	AuthDir      = "/etc/greptimedb/auth"
	AuthKey      = "passwd"
	AuthFile     = AuthDir + "/" + AuthKey
	UserProvider = "static_user_provider:file:" + AuthFile
	// WatchUserProvider reads the user file from an existing Secret and reloads
	// it when the Secret changes.
	WatchUserProvider = "watch_file_user_provider:" + AuthFile
	// PasswordLength is the length of the generated password.
	PasswordLength = 32
)

// newAuth generates the password and stores the static user provider file in a
// Secret. It returns the file's content (secret) for the pods' checksum.
func (b *frontendBuilder) newAuth(f *Frontend) (pulumi.StringOutput, error) {
	username := b.spec.Frontend.Auth.Username
	pw, err := random.NewRandomPassword(b.Ctx, b.Name+"-password", &random.RandomPasswordArgs{
		Length:  pulumi.Int(PasswordLength),
		Special: pulumi.Bool(false),
	}, b.Parent)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("password: %w", err)
	}
	f.Username = pulumi.String(username).ToStringOutput()
	f.Password = kube.Secret(pw.Result)
	file := kube.Secret(pulumi.Sprintf("%s=%s\n", username, f.Password))
	if f.AuthSecret, err = b.NewSecret(b.Name+"-auth", pulumi.StringMap{AuthKey: file}); err != nil {
		return pulumi.StringOutput{}, err
	}
	return file, nil
}

// usersVolume is the volume holding the user file at AuthKey: the generated
// Secret, or the referenced key; nil without authentication. Readable by the
// pod's group (fsGroup) only. The frontends and the database export mount it.
func usersVolume(auth AuthSpec, generated *corev1.Secret) *corev1.VolumeArgs {
	source := &corev1.SecretVolumeSourceArgs{DefaultMode: pulumi.Int(0o440)}
	switch {
	case generated != nil:
		source.SecretName = generated.Metadata.Name().Elem()
	case auth.UsersSecretRef.IsSet():
		ref := auth.UsersSecretRef
		source.SecretName = pulumi.String(ref.Name)
		source.Items = corev1.KeyToPathArray{corev1.KeyToPathArgs{Key: pulumi.String(ref.Key), Path: pulumi.String(AuthKey)}}
	default:
		return nil
	}
	return &corev1.VolumeArgs{Name: pulumi.String("auth"), Secret: source}
}
