//go:build !linux

package serve

import "net"

// cork is TCP_CORK's, on Linux; elsewhere headers and body leave as they are written.
func cork(*net.TCPConn, bool) {}
