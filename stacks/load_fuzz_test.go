package stacks_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
)

// FuzzLoad feeds arbitrary stack configuration to the loader. Whatever a user writes,
// Load must never panic, and every rejection must be a *ConfigError whose problems
// each name a key the program reads (or a path below one). The seed corpus is the
// committed stack files. CI runs it for a short fixed time (see the Makefile).
func FuzzLoad(f *testing.F) {
	for _, stack := range []string{"dev", "staging", "prod"} {
		sc, err := mockrun.LoadStackFile(filepath.Join("..", "Pulumi."+stack+".yaml"))
		if err != nil {
			f.Fatalf("seed %s: %v", stack, err)
		}
		c := sc.Config
		f.Add(c["profile"], c["namespace"], c["kubeContext"], c["renderDir"], c["createNamespace"],
			c["dataSafety"], c["networkPolicy"], c["greptimedb"], c["quasardb"])
	}
	f.Add("prod", "x", "", "", "maybe", "[]", "{", `[{"name":"a","etcd":{"replicas":2.5}}]`, `[null]`)
	f.Add("dev", "", "ctx", "dir", "true", "{}", `{"clientCidrs":[1]}`, `[{"name":"a","datanode":{"objectStorage":{"type":"S3"}}}]`,
		`[{"name":"q","licenseFile":"/dev/zero"}]`)

	known := stacks.Keys()
	f.Fuzz(func(t *testing.T, profile, namespace, kubeContext, renderDir, createNamespace,
		dataSafety, networkPolicy, greptimedb, quasardb string,
	) {
		cfg := map[string]string{
			"profile": profile, "namespace": namespace, "kubeContext": kubeContext,
			"renderDir": renderDir, "createNamespace": createNamespace, "dataSafety": dataSafety,
			"networkPolicy": networkPolicy, "greptimedb": greptimedb, "quasardb": quasardb,
		}
		spec, err := stacks.Load(stacks.MapLookup(cfg))
		if err == nil {
			if spec == nil {
				t.Fatal("Load returned neither a spec nor an error")
			}
			return
		}
		var cfgErr *stacks.ConfigError
		if !errors.As(err, &cfgErr) {
			t.Fatalf("Load returned %T, want *stacks.ConfigError: %v", err, err)
		}
		if len(cfgErr.Problems) == 0 {
			t.Fatal("a ConfigError with no problems")
		}
		for _, p := range cfgErr.Problems {
			if !namesKnownKey(p.Key, known) {
				t.Fatalf("problem %q does not name a config key", p.String())
			}
			if p.Message == "" {
				t.Fatalf("problem at %s says nothing", p.Key)
			}
		}
	})
}

func namesKnownKey(key string, known []string) bool {
	for _, k := range known {
		if key == k || strings.HasPrefix(key, k+".") || strings.HasPrefix(key, k+"[") {
			return true
		}
	}
	return false
}
