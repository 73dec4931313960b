package stacks_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"tsdb-platform/components/kube"
	"tsdb-platform/stacks"
)

// TestIsSecretKey: a config path is secret when the spec field it ends at is
// tagged secret, and only then.
func TestIsSecretKey(t *testing.T) {
	const store = "greptimedb[0].datanode.objectStorage."
	for key, want := range map[string]bool{
		// Every secret field, at its path.
		store + "accessKeyId":                             true,
		store + "secretAccessKey":                         true,
		store + "accessKeySecret":                         true,
		store + "accountKey":                              true,
		store + "sasToken":                                true,
		store + "credential":                              true,
		"greptimedb[3].datanode.objectStorage.accountKey": true,
		"quasardb[0].license":                             true,
		"quasardb[1].security.clusterPrivateKey":          true,
		"quasardb[1].security.userList":                   true,
		// The other spellings `pulumi config set --path` accepts.
		`quasardb[0]["license"]`:                            true,
		`quasardb[1]["security"]["userList"]`:               true,
		`["greptimedb"][0].datanode.objectStorage.sasToken`: true,

		// Their neighbours.
		store + "bucket":                       false,
		store + "region":                       false,
		store + "type":                         false,
		store + "accountName":                  false,
		"greptimedb[0].frontend.auth.username": false,
		"greptimedb[0].frontend.auth.usersSecretRef.name": false,
		"quasardb[0].licenseFile":                         false,
		"quasardb[0].requireLicense":                      false,
		"quasardb[1].security.enabled":                    false,
		"quasardb[1].security.clusterPublicKey":           false,
		"quasardb[0].name":                                false,
		"quasardb[0]":                                     false,
		"quasardb":                                        false,
		"greptimedb[0].datanode.objectStorage":            false,
		// secretRefs hold the names of existing Secrets, not secrets.
		store + "secretRefs":                  false,
		store + "secretRefs.accessKeyId":      false,
		store + "secretRefs.accessKeyId.name": false,
		store + "secretRefs.accessKeyId.key":  false,
		"quasardb[0].secretRefs.license":      false,
		"quasardb[0].secretRefs.userList.key": false,

		// Paths the config does not have.
		"":                             false,
		"license":                      false,
		"userList":                     false,
		"namespace":                    false,
		"quasardb.license":             false,
		"quasardb[0].license.value":    false,
		"quasardb[0].security.license": false,
		"quasardb[0].secretAccessKey":  false,
		"greptimedb[0].objectStorage.secretAccessKey": false,
		"greptimedb[0].datanode.nope.secretAccessKey": false,
		"greptimedb[0].nope":                          false,
		"quasardb[x].license":                         false,
		"quasardb[0.license":                          false,
		".quasardb[0].license":                        false,
	} {
		if got := stacks.IsSecretKey(key); got != want {
			t.Errorf("IsSecretKey(%q) = %v, want %v", key, got, want)
		}
	}
}

// TestSecretValueShowsAsSecret: a rejected secret value shows as [secret] in the
// problem at its key; a rejected Secret reference shows, as it names a Secret
// and holds none.
func TestSecretValueShowsAsSecret(t *testing.T) {
	_, err := stacks.Load(stacks.MapLookup(map[string]string{
		"greptimedb": `[{"name":"m","datanode":{"objectStorage":{"type":"S3","bucket":"bkt","region":"us-east-1",` +
			`"accessKeyId":"AKID-VALUE-42","secretAccessKey":987654321,` +
			`"secretRefs":{"accessKeyId":{"name":"s3-keys","key":"id"}}}}}]`,
	}))
	var ce *stacks.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Load: %v, want a *ConfigError", err)
	}
	got := map[string]string{}
	for _, p := range ce.Problems {
		got[p.Key] = p.Value
	}
	const store = "greptimedb[0].datanode.objectStorage."
	if v, ok := got[store+"secretAccessKey"]; !ok || v != "[secret]" {
		t.Errorf("problem at %ssecretAccessKey shows %q (reported: %v), want [secret]; all: %v", store, v, ok, err)
	}
	if v := got[store+"secretRefs.accessKeyId"]; v != `"s3-keys/id"` {
		t.Errorf("problem at %ssecretRefs.accessKeyId shows %q, want the reference; all: %v", store, v, err)
	}
	for _, leaked := range []string{"987654321", "AKID-VALUE-42"} {
		if strings.Contains(err.Error(), leaked) {
			t.Errorf("the error echoes a secret value %s:\n%v", leaked, err)
		}
	}
}

// formerlySecretNames are the JSON names the stack once held to be secret by
// name alone. Every field by one of these names must carry the secret tag.
var formerlySecretNames = []string{"license", "clusterPrivateKey", "userList", "accessKeyId", "secretAccessKey",
	"accessKeySecret", "accountKey", "sasToken", "credential"}

// TestSecretFieldsAreTagged walks every struct type reachable from the stack's
// config type and fails on a field by one of the formerly secret names that
// lacks the secret tag: no secret lost its masking when the names went.
func TestSecretFieldsAreTagged(t *testing.T) {
	found := map[string]int{}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			walk(typ.Elem())
			return
		case reflect.Map:
			walk(typ.Key())
			walk(typ.Elem())
			return
		case reflect.Struct:
		default:
			return
		}
		if seen[typ] {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			walk(f.Type)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" && !f.Anonymous {
				name = f.Name
			}
			if !slices.Contains(formerlySecretNames, name) {
				continue
			}
			found[name]++
			if f.Tag.Get(kube.SecretTag) != "true" {
				t.Errorf("%s.%s (config key %q) holds a secret but is not tagged `%s:\"true\"`", typ, f.Name, name, kube.SecretTag)
			}
		}
	}
	walk(reflect.TypeFor[stacks.Spec]())
	for _, name := range formerlySecretNames {
		if found[name] == 0 {
			t.Errorf("no field named %q is reachable from stacks.Spec; the walk missed it", name)
		}
	}
}
