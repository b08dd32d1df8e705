package serve

import (
	"net"
	"syscall"
)

// cork holds (on) or sends (off) a TCP connection's partial frames, as nginx's
// tcp_nopush does around sendfile: a response's headers, written on their own, then
// leave with its first bytes of body instead of in a frame of their own. Errors are
// ignored: a connection that cannot be corked is only a little slower.
func cork(c *net.TCPConn, on bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	v := 0
	if on {
		v = 1
	}
	rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, v)
	})
}
