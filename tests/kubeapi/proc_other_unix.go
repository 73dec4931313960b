//go:build unix && !linux

package kubeapi

import (
	"os/exec"
	"syscall"
)

// isolate puts cmd in its own process group, so that stopping it also stops
// anything it spawned.
func isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroup kills the process group led by cmd's process.
func killGroup(cmd *exec.Cmd) error {
	return killProcessGroup(cmd)
}
