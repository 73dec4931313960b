package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestCommand(t *testing.T) {
	for _, tc := range []struct {
		args        []string
		code        int
		out, errOut string
	}{
		{args: []string{"--stack", "dev"}, code: 0, out: "critical path: "},
		{args: []string{"--stack", "dev", "--mermaid"}, code: 0, out: "flowchart LR\n"},
		{args: []string{"--stack", "dev", "--detail"}, code: 0, out: "not awaited (never add a stage):"},
		{args: []string{"--stack", "nope"}, code: 1, errOut: `plan: unknown stack "nope": no Pulumi.nope.yaml at the repository root; committed stacks: dev`},
		{args: []string{"--stack", "dev", "extra"}, code: 2, errOut: "unexpected arguments"},
		{args: []string{"--bogus"}, code: 2, errOut: "flag provided but not defined"},
	} {
		var out, errOut bytes.Buffer
		code := run(tc.args, &out, &errOut)
		if code != tc.code || !strings.Contains(out.String(), tc.out) || !strings.Contains(errOut.String(), tc.errOut) {
			t.Errorf("plan %v: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tc.args, code, out.String(), errOut.String(), tc.code, tc.out, tc.errOut)
		}
	}
}
