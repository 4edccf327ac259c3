//go:build !unix

package builtin

import "os/exec"

// killGroupOnCancel leaves exec.CommandContext's default: cancellation
// kills the process itself, and WaitDelay bounds the wait for its children.
func killGroupOnCancel(*exec.Cmd) {}
