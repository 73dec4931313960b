package plan_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/plan"
)

var update = flag.Bool("update", false, "rewrite docs/startup-order.md from the program")

// TestStartupOrderDoc keeps docs/startup-order.md equal to what the program does.
func TestStartupOrderDoc(t *testing.T) {
	root, err := mockrun.RepoRoot()
	require.NoError(t, err)
	path := filepath.Join(root, plan.DocPath)
	want, err := plan.DocumentStacks()
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
		return
	}
	got, err := os.ReadFile(path)
	require.NoError(t, err, "run: go test ./plan/ -update")
	if string(got) != want {
		t.Errorf("%s is out of date with the program; regenerate it with: go test ./plan/ -update\n%s", plan.DocPath, firstDiff(string(got), want))
	}
	assert.Equal(t, 2, strings.Count(want, "```mermaid"), "the dev stack's and the example's diagrams")
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("first difference at line %d:\n  file:    %q\n  program: %q", i+1, x, y)
		}
	}
	return ""
}
