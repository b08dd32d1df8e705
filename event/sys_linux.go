package event

import (
	"os"
	"syscall"
)

// sysProcAttr puts a command in a process group of its own, killed with sv.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// killGroup kills the command's whole process group: a shell's children too.
func killGroup(p *os.Process) error { return syscall.Kill(-p.Pid, syscall.SIGKILL) }
