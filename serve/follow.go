package serve

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/crc64"
	"io"
	"io/fs"
	"net/http"
	"os"
	"sync"
	"time"
)

// Errors that end a segment in progress before it is complete.
var (
	// errAbandoned: the file being written went away without becoming the segment.
	errAbandoned = errors.New("segment in progress abandoned by its writer")
	// errRewritten: the writer changed bytes already sent, or shrank the file.
	errRewritten = errors.New("segment in progress rewritten by its writer")
	// errStalled: the file stopped growing for Options.Stall.
	errStalled = errors.New("segment in progress stopped growing")
	// errWrite wraps a failed write to the client.
	errWrite = errors.New("write to client")
)

var crcTable = crc64.MakeTable(crc64.ECMA)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// tail follows a segment that is being written as NAME.tmp until it is renamed to NAME.
type tail struct {
	s         *Server
	fw        *fileWatch // wakes the tail when the file changes
	root      *os.Root
	name, tmp string      // paths under root
	f         *os.File    // NAME.tmp, opened while it was being written
	id        fs.FileInfo // its identity: the rename keeps it, a new file does not
	sent      int64
	sum       hash.Hash64
}

// openTail opens rel+".tmp" if it exists.
func (s *Server) openTail(rel string) (*tail, error) {
	tmp := rel + ".tmp"
	f, fi, err := s.open(tmp)
	if err != nil {
		return nil, err
	}
	return &tail{s: s, fw: s.watch(rel), root: s.root, name: rel, tmp: tmp, f: f, id: fi, sum: crc64.New(crcTable)}, nil
}

func (t *tail) close() {
	t.f.Close()
	t.s.release(t.fw)
}

// safetyWake bounds a tail's wait for a change its watch would have missed.
const safetyWake = 250 * time.Millisecond

// complete reports whether the file has become the segment: NAME is our file. While
// NAME.tmp is still our file, it is not complete yet; anything else is an error.
func (t *tail) complete() (bool, error) {
	fi, err := t.root.Stat(t.name)
	if err == nil {
		if os.SameFile(fi, t.id) {
			return true, nil
		}
		return false, fmt.Errorf("%w: another file took its name", errAbandoned)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	fi, err = t.root.Stat(t.tmp)
	if err != nil {
		// The rename may have come between the two looks: then NAME is our file now.
		if nfi, nerr := t.root.Stat(t.name); nerr == nil && os.SameFile(nfi, t.id) {
			return true, nil
		}
		return false, fmt.Errorf("%w: %w", errAbandoned, err)
	}
	if !os.SameFile(fi, t.id) {
		return false, fmt.Errorf("%w: replaced by another file", errAbandoned)
	}
	return false, nil
}

// copyTo writes the segment to w as it grows, calling flush after each burst, until the
// file is complete and everything is written. It returns nil only when the bytes written
// are exactly those of the final file.
func (t *tail) copyTo(ctx context.Context, w io.Writer, flush func() error, stall time.Duration) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	timer := time.NewTimer(safetyWake)
	defer timer.Stop()
	lastGrowth := time.Now()
	pending := false // written, not flushed
	for {
		changed := t.fw.next() // before looking: a change after the look closes it
		n, err := t.f.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return fmt.Errorf("%w: %w", errWrite, werr)
			}
			t.sum.Write(buf[:n])
			t.sent += int64(n)
			pending = true
			lastGrowth = time.Now()
			continue // read on to the current end before flushing
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if pending {
			if err := flush(); err != nil {
				return fmt.Errorf("%w: %w", errWrite, err)
			}
			pending = false
		}
		done, err := t.complete()
		if err != nil {
			return err
		}
		if done {
			// The rename follows the writer's last write: what is left is the end.
			if err := t.drain(w, buf); err != nil {
				return err
			}
			if err := t.verify(buf); err != nil {
				return err
			}
			if err := flush(); err != nil {
				return fmt.Errorf("%w: %w", errWrite, err)
			}
			return nil
		}
		if time.Since(lastGrowth) > stall {
			return fmt.Errorf("%w for %s", errStalled, stall)
		}
		timer.Reset(safetyWake)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-timer.C:
		}
	}
}

// drain writes what remains of the complete file.
func (t *tail) drain(w io.Writer, buf []byte) error {
	for {
		n, err := t.f.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return fmt.Errorf("%w: %w", errWrite, err)
			}
			t.sum.Write(buf[:n])
			t.sent += int64(n)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// verify checks that the complete file holds exactly the bytes sent: a writer that seeks
// back to patch a header, or truncates, would otherwise leave the client with a segment
// that never existed.
func (t *tail) verify(buf []byte) error {
	fi, err := t.f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != t.sent {
		return fmt.Errorf("%w: %d bytes sent, the file has %d", errRewritten, t.sent, fi.Size())
	}
	sum := crc64.New(crcTable)
	if _, err := io.CopyBuffer(sum, io.NewSectionReader(t.f, 0, t.sent), buf); err != nil {
		return err
	}
	if sum.Sum64() != t.sum.Sum64() {
		return fmt.Errorf("%w: bytes changed after they were sent", errRewritten)
	}
	return nil
}

// serveTail answers a request for a segment in progress. A plain GET is answered at once
// and streamed; HEAD gets the headers; a Range request waits for the complete file and
// is served from it.
func (s *Server) serveTail(w http.ResponseWriter, r *http.Request, t *tail, mt mediaType) {
	if r.Method == http.MethodHead {
		s.mediaHeaders(w, mt)
		w.WriteHeader(http.StatusOK)
		return
	}
	if r.Header.Get("Range") != "" {
		err := t.copyTo(r.Context(), io.Discard, func() error { return nil }, s.o.Stall)
		if err != nil {
			s.o.Log.Debug("segment in progress not completed", "path", r.URL.Path, "err", err)
			s.stats.missing.Add(1)
			notFound(w)
			return
		}
		f, fi, err := s.open(t.name)
		if err != nil {
			notFound(w)
			return
		}
		defer f.Close()
		s.serveFile(w, r, f, fi, mt)
		return
	}

	s.stats.inProgress.Add(1)
	s.mediaHeaders(w, mt)
	w.WriteHeader(http.StatusOK) // no Content-Length: chunked (HTTP/1.1) or DATA frames (HTTP/2)
	rc := http.NewResponseController(w)
	flush := rc.Flush
	if err := flush(); err != nil {
		return
	}
	err := t.copyTo(r.Context(), w, flush, s.o.Stall)
	if err == nil {
		return
	}
	if r.Context().Err() == nil && !isClientGone(err) {
		s.stats.aborted.Add(1)
		s.o.Log.Warn("segment in progress aborted", "path", r.URL.Path, "sent", t.sent, "err", err)
	}
	// The response must not end like a complete one: a client would take the bytes sent
	// for the whole segment. Aborting is how net/http cuts a response short (the chunked
	// body gets no terminator; an HTTP/2 stream is reset).
	panic(http.ErrAbortHandler) //nolint:forbidigo // net/http's documented way to cut a response short
}

// isClientGone reports whether a write failed because the client went away.
func isClientGone(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, errWrite)
}
