package frames

import (
	"os"
	"syscall"
)

// growPipe asks for a pipe buffer of a few frames, so that FFmpeg writes a frame
// without waiting for us to read the previous one and each of our reads takes more.
// Failing is harmless: the pipe keeps its default 64 KiB.
func growPipe(f *os.File, size int) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETPIPE_SZ, uintptr(size))
	})
}

// blockingPipe returns a pipe whose read end is in blocking mode: reads sleep in the kernel
// instead of going through Go's poller, one wake-up per read instead of several.
func blockingPipe() (r, w *os.File, err error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		return nil, nil, os.NewSyscallError("pipe2", err)
	}
	return os.NewFile(uintptr(fds[0]), "|0"), os.NewFile(uintptr(fds[1]), "|1"), nil
}
