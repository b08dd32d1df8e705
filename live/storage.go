package live

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/svtool/sv/stream"
)

// storageError is a failure to store what a publisher sent. Its text puts the cause
// first, so that a close reason cut at 123 bytes still says it: "recording: no space left
// on device (write OUT/recordings/cam/...)".
type storageError struct {
	what string // recording
	err  error
}

func (e *storageError) Error() string {
	var pe *fs.PathError
	if errors.As(e.err, &pe) {
		return fmt.Sprintf("%s: %v (%s %s)", e.what, pe.Err, pe.Op, pe.Path)
	}
	return e.what + ": " + e.err.Error()
}

func (e *storageError) Unwrap() error { return e.err }

// storage is the health of Options.Out: whether what publishers send can be stored.
// A failure to store (a full or failing disk) makes /healthz answer 503 and new
// publishers be refused (503, which the capture page retries) until a probe (a small
// file written and synced under OUT/recordings) succeeds again, at most once a second.
type storage struct {
	dir string

	mu       sync.Mutex
	failed   error     // the last failure, nil while storing works
	probed   time.Time // when the probe last ran
	failures int64
}

// probeSize is what the probe writes: a little more than a message of a browser's.
const probeSize = 64 << 10

// fail records a failure to store.
func (st *storage) fail(err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.failed = err
	st.failures++
	st.probed = time.Now()
}

// check returns why storing fails, nil if it works. While it has failed, it probes again,
// at most once a second.
func (st *storage) check() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.failed == nil || time.Since(st.probed) < time.Second {
		return st.failed
	}
	st.probed = time.Now()
	if err := st.probe(); err != nil {
		st.failed = &storageError{what: "recordings", err: err}
		return st.failed
	}
	st.failed = nil
	return nil
}

// probe writes, syncs and removes a file of probeSize under OUT/recordings.
func (st *storage) probe() error {
	f, err := os.CreateTemp(filepath.Join(st.dir, stream.RecordingsDir), ".probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(make([]byte, probeSize))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Failures counts the failures to store so far.
func (st *storage) Failures() int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.failures
}

// storageFailed records err, a failure to store a recording, and returns it as a
// storageError.
func (s *Server) storageFailed(err error) error {
	serr := &storageError{what: "recording", err: err}
	s.storage.fail(serr)
	s.log.Error("cannot store a recording", "err", err)
	return serr
}
