package testenv

import "syscall"

// childAttr makes a tool the tests start die with them (Pdeathsig), in a process group of
// its own.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
