package greptimedb

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

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
	// Users are more users beside Username, each with a permission and a
	// generated password or one from an existing Secret (not with UsersSecretRef).
	Users []UserSpec `json:"users"`
}

// UserSpec is one more user of the frontends.
type UserSpec struct {
	Username string `json:"username"`
	// Permission is one of Permissions.
	Permission string `json:"permission"`
	// PasswordSecret names an existing Secret key holding the password; unset,
	// the password is generated.
	PasswordSecret kube.SecretRef `json:"passwordSecret"`
}

// Permissions are the permission modes GreptimeDB v1.1.4's user file accepts
// (src/auth/src/user_info.rs, PermissionMode::from_str, which lower-cases its
// input). It reads any other name as readwrite, so the program refuses one.
var Permissions = []string{"readwrite", "read_write", "rw", "readonly", "read_only", "ro", "writeonly", "write_only", "wo"}

// permissionMode is a permission's canonical name in the user file.
func permissionMode(p string) string {
	switch strings.ToLower(p) {
	case "readonly", "read_only", "ro":
		return "readonly"
	case "writeonly", "write_only", "wo":
		return "writeonly"
	}
	return "readwrite"
}

// referenced reports whether any user's password is in an existing Secret.
func (a AuthSpec) referenced() bool {
	for _, u := range a.Users {
		if u.PasswordSecret.IsSet() {
			return true
		}
	}
	return false
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
	if len(a.Users) == 0 {
		return errs
	}
	switch {
	case !a.Enabled:
		errs = append(errs, field.Invalid(p.Child("users"), fmt.Sprintf("%d users", len(a.Users)), fmt.Sprintf(
			"authentication is off; set %s to true, or remove the users", p.Child("enabled"))))
	case a.UsersSecretRef.IsSet():
		errs = append(errs, field.Invalid(p.Child("users"), fmt.Sprintf("%d users", len(a.Users)), fmt.Sprintf(
			"%s is also set, and the user file comes from that Secret; list the users there (`user:permission=password` lines), or unset usersSecretRef",
			p.Child("usersSecretRef"))))
	}
	seen := map[string]bool{a.Username: true}
	for i, u := range a.Users {
		up := p.Child("users").Index(i)
		switch {
		case !ValidUsername(u.Username):
			errs = append(errs, field.Invalid(up.Child("username"), u.Username,
				"required; letters, digits, '-' and '_' only (no '=', ':' or spaces)"))
		case seen[u.Username]:
			errs = append(errs, field.Invalid(up.Child("username"), u.Username, fmt.Sprintf(
				"already a user (%s or an earlier entry of users); name each user once", p.Child("username"))))
		}
		seen[u.Username] = true
		if !slices.Contains(Permissions, strings.ToLower(u.Permission)) {
			errs = append(errs, field.Invalid(up.Child("permission"), u.Permission, "allowed (GreptimeDB v1.1.4): "+strings.Join(Permissions, ", ")))
		}
		errs = append(errs, u.PasswordSecret.Validate(up.Child("passwordSecret"))...)
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

// newAuth generates the passwords of Username and of the users without a
// passwordSecret, and stores their lines of the static user provider's file
// in a Secret: `user=password` for Username (readwrite, as before users
// existed), `user:permission=password` for the others. It returns the file
// (secret) for the pods' checksum.
//
// The line format is GreptimeDB v1.1.4's src/auth/src/user_provider.rs
// (load_credential_from_file, parse_credential_line: `username=password` or
// `username:permission_mode=password`, split at the one '='), with the
// permission names of src/auth/src/user_info.rs (PermissionMode::from_str).
func (b *frontendBuilder) newAuth(f *Frontend) (pulumi.StringOutput, error) {
	auth := b.spec.Frontend.Auth
	pw, err := b.newPassword(b.Name + "-password")
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	f.Username = pulumi.String(auth.Username).ToStringOutput()
	f.Password = pw
	lines := []any{pulumi.Sprintf("%s=%s\n", auth.Username, pw)}
	f.Users = pulumi.StringMap{}
	for _, u := range auth.Users {
		if u.PasswordSecret.IsSet() {
			continue
		}
		pw, err := b.newPassword(b.Name + "-password-" + u.Username)
		if err != nil {
			return pulumi.StringOutput{}, err
		}
		f.Users[u.Username] = pw
		lines = append(lines, pulumi.Sprintf("%s:%s=%s\n", u.Username, permissionMode(u.Permission), pw))
	}
	file := kube.Secret(pulumi.All(lines...).ApplyT(func(ls []any) string {
		var sb strings.Builder
		for _, l := range ls {
			s, _ := l.(string)
			sb.WriteString(s)
		}
		return sb.String()
	}).(pulumi.StringOutput))
	if f.AuthSecret, err = b.NewSecret(b.Name+"-auth", pulumi.StringMap{AuthKey: file}); err != nil {
		return pulumi.StringOutput{}, err
	}
	return file, nil
}

// newPassword generates a password (secret) of PasswordLength letters and digits.
func (b *frontendBuilder) newPassword(name string) (pulumi.StringOutput, error) {
	pw, err := random.NewRandomPassword(b.Ctx, name, &random.RandomPasswordArgs{
		Length:  pulumi.Int(PasswordLength),
		Special: pulumi.Bool(false),
	}, b.Parent)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("password %q: %w", name, err)
	}
	return kube.Secret(pw.Result), nil
}

// Where the users init container assembles the user file, when a user's
// password is in an existing Secret: the program never reads it, so the pod
// joins it to the generated lines, in memory.
const (
	// GeneratedAuthDir holds the generated Secret's user file.
	GeneratedAuthDir = "/etc/greptimedb/auth-generated"
	// PasswordsDir holds each referenced password, as a file named by its
	// user's index among the referenced users.
	PasswordsDir = "/etc/greptimedb/passwords"
	// EnvUsersGenerated is the generated user file.
	EnvUsersGenerated = "USERS_GENERATED"
	// EnvUsersReferenced are the referenced users' `user:permission`, in
	// PasswordsDir's order, separated by spaces (names hold none).
	EnvUsersReferenced = "USERS_REFERENCED"
	// EnvPasswordsDir is PasswordsDir.
	EnvPasswordsDir = "PASSWORDS_DIR"
)

// UsersScript writes the user file at $USERS_FILE: the generated lines, then
// `user:permission=password` for each referenced user. It refuses a password
// GreptimeDB would misread: empty, holding '=' or a line break (a line splits
// at its one '='), or with white space at either end (a line is trimmed). The
// password never reaches an argv: it is read by command substitution and
// written by the printf builtin.
const UsersScript = `set -euf
umask 077
out="$USERS_FILE.new"
cat "$USERS_GENERATED" > "$out"
i=0
for entry in $USERS_REFERENCED; do
  pw=$(cat "$PASSWORDS_DIR/$i")
  case $pw in
    '') echo "user ${entry%%:*}: the password in its Secret is empty" >&2; exit 1 ;;
    *=*|*'
'*) echo "user ${entry%%:*}: the password in its Secret holds '=' or a line break, which GreptimeDB's user file cannot hold" >&2; exit 1 ;;
    [[:space:]]*|*[[:space:]]) echo "user ${entry%%:*}: the password in its Secret starts or ends with white space, which GreptimeDB trims" >&2; exit 1 ;;
  esac
  printf '%s=%s\n' "$entry" "$pw" >> "$out"
  i=$((i + 1))
done
unset pw
mv "$out" "$USERS_FILE"`

// usersContainer is the init container that assembles the user file in the
// "auth" memory volume from the generated one and the referenced passwords.
func (b *frontendBuilder) usersContainer() corev1.ContainerArgs {
	var entries []string
	for _, u := range b.spec.Frontend.Auth.Users {
		if u.PasswordSecret.IsSet() {
			entries = append(entries, u.Username+":"+permissionMode(u.Permission))
		}
	}
	plain := func(name, value string) corev1.EnvVarArgs {
		return corev1.EnvVarArgs{Name: pulumi.String(name), Value: pulumi.String(value)}
	}
	c := scriptContainer("users", b.Registry, b.spec, UsersScript, corev1.EnvVarArray{
		plain(EnvUsersGenerated, GeneratedAuthDir+"/"+AuthKey),
		plain(EnvUsersReferenced, strings.Join(entries, " ")),
		plain(EnvPasswordsDir, PasswordsDir),
		plain(EnvUsersFile, AuthFile),
	})
	c.VolumeMounts = corev1.VolumeMountArray{
		corev1.VolumeMountArgs{Name: pulumi.String("auth-generated"), MountPath: pulumi.String(GeneratedAuthDir), ReadOnly: pulumi.Bool(true)},
		corev1.VolumeMountArgs{Name: pulumi.String("passwords"), MountPath: pulumi.String(PasswordsDir), ReadOnly: pulumi.Bool(true)},
		corev1.VolumeMountArgs{Name: pulumi.String("auth"), MountPath: pulumi.String(AuthDir)},
	}
	return c
}

// passwordsVolume projects each referenced password to PasswordsDir/<index>,
// readable by the pod's group only.
func (b *frontendBuilder) passwordsVolume() corev1.VolumeArgs {
	var sources corev1.VolumeProjectionArray
	i := 0
	for _, u := range b.spec.Frontend.Auth.Users {
		if !u.PasswordSecret.IsSet() {
			continue
		}
		sources = append(sources, corev1.VolumeProjectionArgs{Secret: &corev1.SecretProjectionArgs{
			Name:  pulumi.String(u.PasswordSecret.Name),
			Items: corev1.KeyToPathArray{corev1.KeyToPathArgs{Key: pulumi.String(u.PasswordSecret.Key), Path: pulumi.String(strconv.Itoa(i))}},
		}})
		i++
	}
	return corev1.VolumeArgs{Name: pulumi.String("passwords"), Projected: &corev1.ProjectedVolumeSourceArgs{
		Sources: sources, DefaultMode: pulumi.Int(0o440),
	}}
}

// frontendUsersVolumes are the frontends' user file volumes and the init
// containers that prepare them: the generated or referenced file as it is,
// or, with referenced passwords, the file the users container assembles in
// memory from the generated one. None without authentication.
func (b *frontendBuilder) frontendUsersVolumes(generated *corev1.Secret) (corev1.VolumeArray, []corev1.ContainerArgs) {
	auth := usersVolume(b.spec.Frontend.Auth, generated)
	if auth == nil {
		return nil, nil
	}
	if !b.spec.Frontend.Auth.referenced() {
		return corev1.VolumeArray{*auth}, nil
	}
	gen := *auth
	gen.Name = pulumi.String("auth-generated")
	return corev1.VolumeArray{gen, b.passwordsVolume(), kube.MemoryDir("auth", "1Mi")}, []corev1.ContainerArgs{b.usersContainer()}
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
