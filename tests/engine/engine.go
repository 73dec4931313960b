// Package engine says whether the real Pulumi engine is on PATH: the CLI, the Go
// language host and the two provider plugins the program uses. The real-engine
// tests and the peer benchmark skip, with a message, without it.
package engine

import "os/exec"

// Binaries are what a real `pulumi up` of the program needs on PATH.
var Binaries = []string{"pulumi", "pulumi-language-go", "pulumi-resource-kubernetes", "pulumi-resource-random"}

// Missing lists the binaries that are not on PATH (none when the engine is there).
func Missing() []string {
	var missing []string
	for _, bin := range Binaries {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	return missing
}
