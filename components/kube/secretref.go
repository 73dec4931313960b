package kube

import (
	"fmt"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// SecretRef names a key of an existing Secret in the stack's namespace: a secret
// input given by reference instead of by value, so the program never sees it
// and no rendered manifest holds it.
type SecretRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// IsSet reports whether the reference names a Secret.
func (r SecretRef) IsSet() bool { return r.Name != "" || r.Key != "" }

// Validate checks the Secret's name and key.
func (r SecretRef) Validate(p *field.Path) field.ErrorList {
	if !r.IsSet() {
		return nil
	}
	var errs field.ErrorList
	if msgs := validation.IsDNS1123Subdomain(r.Name); len(msgs) > 0 {
		errs = append(errs, field.Invalid(p.Child("name"), r.Name, "not a Secret name: "+strings.Join(msgs, "; ")))
	}
	if msgs := validation.IsConfigMapKey(r.Key); len(msgs) > 0 {
		errs = append(errs, field.Invalid(p.Child("key"), r.Key, "not a Secret key: "+strings.Join(msgs, "; ")))
	}
	return errs
}

// ValidateSecretInput checks one secret input that may be given by value (a
// Pulumi config secret at key value) or by reference (at key ref): never both,
// and, when required, one of them. fix is the command that sets the value.
func ValidateSecretInput(value string, ref SecretRef, required bool, p, refPath *field.Path, fix string) field.ErrorList {
	errs := ref.Validate(refPath)
	switch {
	case value != "" && ref.IsSet():
		errs = append(errs, field.Invalid(refPath, fmt.Sprintf("%s/%s", ref.Name, ref.Key), fmt.Sprintf(
			"%s is also set: give the secret either by value or by reference, not both; unset one with "+
				"`pulumi config rm --path '%s'`", p, p)))
	case required && value == "" && !ref.IsSet():
		errs = append(errs, field.Required(p, fmt.Sprintf("%s; or name an existing Secret with %s.name and %s.key", fix, refPath, refPath)))
	}
	return errs
}

// EnvFromSecretRef is an environment variable read from the referenced Secret's key.
func EnvFromSecretRef(name string, ref SecretRef) corev1.EnvVarArgs {
	return EnvFromSecret(name, pulumi.String(ref.Name), ref.Key)
}

// SecretTag is the struct tag (`secret:"true"`) that marks a spec field holding a
// secret value given in config (a license, a private key, a credential). It
// promises two things: the value is never echoed in an error (a rejected value
// shows as "[secret]"), and it reaches resources only as a Pulumi secret (through
// a Secret, never a ConfigMap or an env literal). The stack reads the tag to
// tell which config keys are secret.
const SecretTag = "secret"
