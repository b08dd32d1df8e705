package ws

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Recording is a file that keeps a publisher's stream: what a Session writes, stored for
// good by Close (flushed, fsynced, closed) before the publisher is told its stream is
// safe. A file that is not on disk (a FIFO, a pipe) has nothing to fsync: it is only
// flushed.
type Recording struct {
	f       *os.File
	buf     *bufio.Writer // nil: unbuffered
	regular bool
}

// NewRecording makes a Recording of f, which it then owns. With buffer > 0, writes go
// through a buffer of that size; otherwise straight to f, for a reader following it live.
func NewRecording(f *os.File, buffer int) *Recording {
	r := &Recording{f: f}
	if fi, err := f.Stat(); err == nil {
		r.regular = fi.Mode().IsRegular()
	}
	if buffer > 0 {
		r.buf = bufio.NewWriterSize(f, buffer)
	}
	return r
}

// CreateRecording creates a new file in dir named base+ext, or base-2+ext, base-3+ext ...
// when that name is taken: a recording never overwrites another.
func CreateRecording(dir, base, ext string, buffer int) (*Recording, error) {
	for i := 1; ; i++ {
		name := base + ext
		if i > 1 {
			name = fmt.Sprintf("%s-%d%s", base, i, ext)
		}
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) && i < 100 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return NewRecording(f, buffer), nil
	}
}

// Name is the file's name.
func (r *Recording) Name() string { return r.f.Name() }

func (r *Recording) Write(p []byte) (int, error) {
	if r.buf != nil {
		return r.buf.Write(p)
	}
	return r.f.Write(p)
}

// Sync flushes what was written to stable storage, and leaves the file open.
func (r *Recording) Sync() error {
	if r.buf != nil {
		if err := r.buf.Flush(); err != nil {
			return fmt.Errorf("write %s: %w", r.Name(), err)
		}
	}
	if r.regular {
		if err := r.f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", r.Name(), err)
		}
	}
	return nil
}

// Close syncs and closes the file.
func (r *Recording) Close() error {
	err := r.Sync()
	if cerr := r.f.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close %s: %w", r.Name(), cerr))
	}
	return err
}
