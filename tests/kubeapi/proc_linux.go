//go:build linux

package kubeapi

import (
	"os/exec"
	"syscall"
)

// isolate puts cmd in its own process group, so that stopping it also stops
// anything it spawned, and has the kernel kill it if the test binary dies
// without running its cleanups (for example on a `go test -timeout` panic).
func isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills the process group led by cmd's process.
func killGroup(cmd *exec.Cmd) error {
	return killProcessGroup(cmd)
}
