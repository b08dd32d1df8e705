//go:build !linux

package testenv

import "syscall"

// childAttr: outside Linux there is no parent-death signal; the tests stop the tool.
func childAttr() *syscall.SysProcAttr { return nil }
