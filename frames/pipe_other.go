//go:build !linux

package frames

import "os"

func growPipe(*os.File, int) {}

func blockingPipe() (r, w *os.File, err error) { return os.Pipe() }
