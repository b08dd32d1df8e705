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
	"slices"
	"sync"
	"sync/atomic"
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
	// errCacheFull: Options.Cache is reached, and the segment is not held yet.
	errCacheFull = errors.New("segment cache full")
)

var crcTable = crc64.MakeTable(crc64.ECMA)

// tail is one client's view of a segment that is being written as NAME.tmp until it is
// renamed to NAME: how much of the shared bytes it has sent.
type tail struct {
	s    *Server
	fw   *fileWatch // wakes the tail when the file changes
	seg  *sharedSegment
	sent int
}

// sharedSegment is a segment in progress as all its clients see it. Its file is read
// once, by whichever client finds new bytes first, into one buffer that every client
// writes to its socket, and it is verified once when complete: a thousand viewers of a
// stream cost one reader of each segment, not a thousand.
type sharedSegment struct {
	root      *os.Root
	name, tmp string // paths under root
	stats     *followStats
	closeFile func(*os.File) // the Server's: f counts among the requests' descriptors

	mu         sync.Mutex
	f          *os.File    // NAME.tmp, opened while it was being written
	id         fs.FileInfo // its identity: the rename keeps it, a new file does not
	data       []byte      // every byte read so far; only ever appended to
	sum        hash.Hash64 // of data
	lastGrowth time.Time
	held       int64  // the bytes of data's array, counted in followStats.cached
	looked     bool   // the file has been looked at
	seen       uint64 // the watch's change count at the last look
	done       bool   // complete, and data is exactly the final file
	err        error  // failed for good
}

// followStats counts the work of following segments in progress.
type followStats struct {
	read   atomic.Int64 // bytes read: Stats.InProgressRead
	looks  atomic.Int64 // looks at the files: Stats.InProgressLooks
	forced atomic.Int64 // those of them made with no change seen, after safetyWake
	cached atomic.Int64 // bytes of the shared segments' buffers: Stats.CacheBytes
}

// openTail follows rel+".tmp" if it exists: it joins the segment's shared reader, or
// starts one.
func (s *Server) openTail(rel string) (*tail, error) {
	fw := s.watch(rel)
	seg, err := fw.sharedSegment(func() (*sharedSegment, error) {
		if s.o.Cache > 0 && s.stats.follow.cached.Load() >= s.o.Cache {
			return nil, errCacheFull
		}
		tmp := rel + ".tmp"
		f, fi, err := s.open(tmp)
		if err != nil {
			return nil, err
		}
		root, name := s.under(rel)
		return &sharedSegment{root: root, name: name, tmp: name + ".tmp", stats: &s.stats.follow, closeFile: s.closeFile, f: f, id: fi, sum: crc64.New(crcTable), lastGrowth: time.Now()}, nil
	})
	if err != nil {
		s.release(fw)
		return nil, err
	}
	return &tail{s: s, fw: fw, seg: seg}, nil
}

func (t *tail) close() { t.s.release(t.fw) }

// close closes the segment's file and lets go of its bytes: its last client is gone.
func (g *sharedSegment) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.f != nil {
		g.closeFile(g.f)
		g.f = nil
	}
	if !g.done && g.err == nil {
		g.err = errAbandoned // nobody reads it any more; a new client starts again
	}
	g.uncount()
}

// uncount takes the segment's buffer out of the cache's count: it has no client to come
// (closed), or has failed and been replaced; the clients still writing from it keep the
// bytes they have until they are done. Called with g.mu held.
func (g *sharedSegment) uncount() {
	g.stats.cached.Add(-g.held)
	g.held = 0
	g.data = nil
}

// safetyWake bounds a tail's wait for a change its watch would have missed.
const safetyWake = 250 * time.Millisecond

// readChunk is the most read from the file at once.
const readChunk = 64 << 10

// advance reads what the writer has appended since the last look, or, when there is
// nothing new, checks whether the file has become the segment, and returns the bytes
// read so far (a prefix of the segment that will not change), whether they are the whole
// segment, and the error that ended it.
//
// The file is looked at only when its watch has seen a change since the last look
// (changes, the watch's count), or when force is set: however many clients a change
// wakes, one of them reads and stats the file and the others take what it read.
//
// named says that the watch has seen the segment's final name: the look that reads the
// last bytes then also finds the segment complete. Otherwise, when the writer's last
// write and its rename come as one change, that look would take the change and report
// bytes read, and the clients would wait for a change that never comes.
func (g *sharedSegment) advance(changes uint64, named, force bool, stall time.Duration) ([]byte, bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done || g.err != nil {
		return g.data, g.done, g.err
	}
	if g.f == nil {
		g.err = errAbandoned
		return g.data, false, g.err
	}
	if g.looked && changes <= g.seen && !force {
		if time.Since(g.lastGrowth) > stall {
			g.err = fmt.Errorf("%w for %s", errStalled, stall)
		}
		return g.data, false, g.err
	}
	g.looked, g.seen = true, max(g.seen, changes)
	g.stats.looks.Add(1)
	if force {
		g.stats.forced.Add(1)
	}
	grew, err := g.read()
	if err != nil {
		g.err = err
		return g.data, false, err
	}
	if grew {
		g.lastGrowth = time.Now()
		if !named {
			return g.data, false, nil
		}
	}
	done, err := g.complete()
	switch {
	case err != nil:
		g.err = err
	case done:
		// The rename follows the writer's last write: what is left is the end.
		if _, err := g.read(); err != nil {
			g.err = err
		} else if err := g.verify(); err != nil {
			g.err = err
		} else {
			g.done = true
		}
	case time.Since(g.lastGrowth) > stall:
		g.err = fmt.Errorf("%w for %s", errStalled, stall)
	}
	return g.data, g.done, g.err
}

// read appends what the file has past the bytes read so far, and reports whether there
// was any.
func (g *sharedSegment) read() (bool, error) {
	grew := false
	for {
		if cap(g.data)-len(g.data) < readChunk {
			// A new array: the bytes already handed out stay as they were.
			g.data = slices.Grow(g.data, readChunk)
			g.stats.cached.Add(int64(cap(g.data)) - g.held)
			g.held = int64(cap(g.data))
		}
		n, err := g.f.Read(g.data[len(g.data):cap(g.data)])
		if n > 0 {
			g.sum.Write(g.data[len(g.data) : len(g.data)+n])
			g.data = g.data[:len(g.data)+n]
			g.stats.read.Add(int64(n))
			grew = true
		}
		if errors.Is(err, io.EOF) || n == 0 && err == nil {
			return grew, nil
		}
		if err != nil {
			return grew, err
		}
	}
}

// complete reports whether the file has become the segment: NAME is our file. While
// NAME.tmp is still our file, it is not complete yet; anything else is an error.
func (g *sharedSegment) complete() (bool, error) {
	fi, err := g.root.Stat(g.name)
	if err == nil {
		if os.SameFile(fi, g.id) {
			return true, nil
		}
		return false, fmt.Errorf("%w: another file took its name", errAbandoned)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	fi, err = g.root.Stat(g.tmp)
	if err != nil {
		// The rename may have come between the two looks: then NAME is our file now.
		if nfi, nerr := g.root.Stat(g.name); nerr == nil && os.SameFile(nfi, g.id) {
			return true, nil
		}
		return false, fmt.Errorf("%w: %w", errAbandoned, err)
	}
	if !os.SameFile(fi, g.id) {
		return false, fmt.Errorf("%w: replaced by another file", errAbandoned)
	}
	return false, nil
}

// verify checks that the complete file holds exactly the bytes read: a writer that seeks
// back to patch a header, or truncates, would otherwise leave the clients with a segment
// that never existed.
func (g *sharedSegment) verify() error {
	fi, err := g.f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != int64(len(g.data)) {
		return fmt.Errorf("%w: %d bytes sent, the file has %d", errRewritten, len(g.data), fi.Size())
	}
	sum := crc64.New(crcTable)
	if _, err := io.Copy(sum, io.NewSectionReader(g.f, 0, fi.Size())); err != nil {
		return err
	}
	if sum.Sum64() != g.sum.Sum64() {
		return fmt.Errorf("%w: bytes changed after they were sent", errRewritten)
	}
	return nil
}

// copyTo writes the segment to w as it grows, calling flush after each burst, until the
// file is complete and everything is written. It returns nil only when the bytes written
// are exactly those of the final file.
func (t *tail) copyTo(ctx context.Context, w io.Writer, flush func() error, stall time.Duration) error {
	timer := time.NewTimer(safetyWake)
	defer timer.Stop()
	force := false
	for {
		changed := t.fw.next() // before looking: a change after the look closes it
		changes := t.fw.changes.Load()
		data, done, err := t.seg.advance(changes, t.fw.named.Load(), force, stall)
		force = false
		if len(data) > t.sent {
			if _, werr := w.Write(data[t.sent:]); werr != nil {
				return fmt.Errorf("%w: %w", errWrite, werr)
			}
			t.sent = len(data)
			if err := flush(); err != nil {
				return fmt.Errorf("%w: %w", errWrite, err)
			}
			if !done && err == nil {
				continue // look again at once: more may have come while writing
			}
		}
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		timer.Reset(safetyWake)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-timer.C:
			force = true // a change the watch would have missed
		}
	}
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
		s.serveWritten(w, r, t.fw.rel, mt)
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

// serveWhenWritten answers a request for a segment in progress that the cache has no room
// for: it waits, with the segment's watch, until the file is the segment, and serves it
// whole from the file. A segment that is abandoned or stops growing for Options.Stall is
// a 404, as one never written.
func (s *Server) serveWhenWritten(w http.ResponseWriter, r *http.Request, rel string, mt mediaType) {
	s.stats.uncached.Add(1)
	fw := s.watch(rel)
	defer s.release(fw)
	timer := time.NewTimer(safetyWake)
	defer timer.Stop()
	var last fileState
	grew := time.Now()
	for {
		changed := fw.next()
		st := s.stateOf(rel)
		switch {
		case st.nameThere && !st.tmpThere:
			s.serveWritten(w, r, rel, mt)
			return
		case !st.nameThere && !st.tmpThere:
			s.stats.missing.Add(1)
			notFound(w)
			return
		case st.tmpSize != last.tmpSize || st.tmpMod != last.tmpMod:
			last, grew = st, time.Now()
		case time.Since(grew) > s.o.Stall:
			s.stats.missing.Add(1)
			notFound(w)
			return
		}
		timer.Reset(safetyWake)
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		case <-timer.C:
		}
	}
}

// serveWritten serves segment rel, now written, from its file; 404 if it cannot be opened.
func (s *Server) serveWritten(w http.ResponseWriter, r *http.Request, rel string, mt mediaType) {
	f, fi, err := s.open(rel)
	if err != nil {
		notFound(w)
		return
	}
	defer s.closeFile(f)
	s.serveFile(w, r, f, fi, mt)
}

// isClientGone reports whether a write failed because the client went away.
func isClientGone(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, errWrite)
}
