//go:build !linux

package ffmpeg

import "syscall"

// sysProcAttr: outside Linux there is no parent-death signal; the child is still stopped on
// context cancellation and always waited for.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// renice is Linux only.
func renice(pid, n int) {}
