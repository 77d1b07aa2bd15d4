//go:build !linux

package testutil

import "os/exec"

// dieWithParent: only Linux ties a child's life to its parent's.
func dieWithParent(*exec.Cmd) {}
