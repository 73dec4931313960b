package kube

import (
	"fmt"
	"regexp"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// EnvVar is an extra environment variable of a component's main container:
// a literal value, or a key of an existing Secret (never a secret literal).
type EnvVar struct {
	Name      string    `json:"name"`
	Value     string    `json:"value"`
	SecretRef SecretRef `json:"secretRef"`
}

// envName is a C identifier, the names every shell and program can read.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidateEnv checks extra variables: C identifiers, each once, a value or a
// Secret reference but not both, and no name the program sets itself
// (reserved returns why a name is the program's, "" when it is not).
func ValidateEnv(env []EnvVar, reserved func(name string) string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, e := range env {
		at := p.Index(i)
		switch {
		case !envName.MatchString(e.Name):
			errs = append(errs, field.Invalid(at.Child("name"), e.Name,
				"not a variable name: letters, digits and '_', not starting with a digit (a C identifier)"))
		case seen[e.Name]:
			errs = append(errs, field.Duplicate(at.Child("name"), e.Name))
		default:
			if why := reserved(e.Name); why != "" {
				errs = append(errs, field.Invalid(at.Child("name"), e.Name, why))
			}
		}
		seen[e.Name] = true
		errs = append(errs, e.SecretRef.Validate(at.Child("secretRef"))...)
		if e.Value != "" && e.SecretRef.IsSet() {
			errs = append(errs, field.Invalid(at.Child("value"), e.Value, fmt.Sprintf(
				"%s is also set: give either a value or a Secret reference, not both", at.Child("secretRef"))))
		}
	}
	return errs
}

// EnvArgs are the variables as a container's env entries: a Secret
// reference becomes a secretKeyRef, so the value never appears in an object.
func EnvArgs(env []EnvVar) corev1.EnvVarArray {
	var out corev1.EnvVarArray
	for _, e := range env {
		if e.SecretRef.IsSet() {
			out = append(out, EnvFromSecretRef(e.Name, e.SecretRef))
			continue
		}
		out = append(out, corev1.EnvVarArgs{Name: pulumi.String(e.Name), Value: pulumi.String(e.Value)})
	}
	return out
}
