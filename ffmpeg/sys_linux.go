package ffmpeg

import "syscall"

// sysProcAttr makes the child die with sv (SIGKILL when the parent goes away, whatever the
// reason) and puts it in its own process group, so that a terminal's Ctrl-C reaches sv only
// and sv runs the graceful stop.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// renice lowers the priority of pid by n below ours. Failing is harmless: FFmpeg then
// just competes with sv on equal terms.
func renice(pid, n int) {
	// The raw getpriority returns 20 - nice.
	cur, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		return
	}
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, pid, min(20-cur+n, 19))
}
