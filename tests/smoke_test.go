package tests

import (
	"testing"

	"github.com/stretchr/testify/require"

	"tsdb-platform/tests/harness"
)

func TestSmoke(t *testing.T) {
	for _, stack := range []string{"dev", "staging", "prod"} {
		res, sc, err := harness.RunStack(stack, false)
		require.NoError(t, err, stack)
		t.Logf("%s: %d resources, config keys %v secret %v", stack, len(res.Resources), len(sc.Config), sc.SecretKeys)
		for _, r := range res.Resources {
			t.Logf("  %s %s parent=%s deps=%v provider=%q", r.Type, r.Name, r.Parent, r.Dependencies, r.Provider)
		}
		t.Logf("exports %v", res.Exports)
	}
}
