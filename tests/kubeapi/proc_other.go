//go:build !unix

package kubeapi

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

func isolate(*exec.Cmd) {}

// killGroup kills cmd's process; there are no process groups here.
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing process %d: %w", cmd.Process.Pid, err)
	}
	return nil
}
