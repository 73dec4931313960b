package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"tsdb-platform/stacks"
)

// TestProfilesSetEveryKey: the profiles are the only source of defaults, so each
// one names every key of every cluster spec. A field added to a component's spec
// without a profile default fails here, instead of silently taking Go's zero
// value (the components themselves default nothing: an empty spec is rejected
// key by key, see TestComponentsValidateArgs).
func TestProfilesSetEveryKey(t *testing.T) {
	for _, profile := range stacks.Profiles() {
		t.Run(profile, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "stacks", "profiles", profile+".yaml"))
			require.NoError(t, err)
			var file map[string]any
			require.NoError(t, yaml.Unmarshal(raw, &file))

			greptime, err := stacks.GreptimeDBDefaults(profile)
			require.NoError(t, err)
			quasar, err := stacks.QuasarDBDefaults(profile)
			require.NoError(t, err)
			for key, spec := range map[string]any{stacks.KeyGreptimeDB: greptime, stacks.KeyQuasarDB: quasar} {
				given, ok := file[key].(map[string]any)
				require.True(t, ok, "%s.yaml has no %s defaults", profile, key)
				assert.Empty(t, missingKeys(t, key, given, specKeys(t, spec)),
					"%s.yaml must set every key of the %s spec", profile, key)
			}
		})
	}
}

// specKeys is a spec's keys as JSON names, nested objects as maps.
func specKeys(t *testing.T, spec any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(spec)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

// missingKeys lists the config paths the spec has and the profile does not set;
// a cluster's name is per cluster, never a default.
func missingKeys(t *testing.T, path string, given, want map[string]any) []string {
	t.Helper()
	var missing []string
	for k, v := range want {
		if path == stacks.KeyGreptimeDB && k == "name" || path == stacks.KeyQuasarDB && k == "name" {
			continue
		}
		g, ok := given[k]
		if !ok {
			missing = append(missing, path+"."+k)
			continue
		}
		if wm, ok := v.(map[string]any); ok {
			gm, _ := g.(map[string]any)
			missing = append(missing, missingKeys(t, path+"."+k, gm, wm)...)
		}
	}
	sort.Strings(missing)
	return missing
}
