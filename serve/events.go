package serve

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/svtool/sv/stream"
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

const (
	// eventsBacklog is how much of the file's end a new client gets first: the last
	// half minute or so of frames, for the viewer's chart.
	eventsBacklog = 256 << 10
	eventsPoll    = 100 * time.Millisecond
	keepAlive     = 15 * time.Second
	// maxEventLine is the longest line sent; longer ones are skipped.
	maxEventLine = 64 << 10
)

// serveEvents streams the lines appended to the stream's frames.jsonl as Server-Sent
// Events, one "message" per line, its data the JSON object as written. Each event's id
// is the file offset after its line, so that a client reconnecting with Last-Event-ID
// resumes where it left off. When the file is replaced (a new session) or truncated, an
// event "reset" is sent and the new file is streamed from its start. While there is no
// file, the stream stays open and waits for one, with a comment every 15 s. A stream with
// no folder is a 404: anyone could otherwise hold every slot with names that do not exist.
// ?types=scene_cut,black_start (comma-separated, or repeated) sends only the lines of
// those types ("frame", "summary", an event's type): an application that wants the
// events need not take 30 frames a second.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request, name string) {
	if fi, err := s.root.Stat(stream.LiveDir + "/" + name); err != nil || !fi.IsDir() {
		notFound(w)
		return
	}
	if s.events.Add(1) > MaxEventClients {
		s.events.Add(-1)
		w.Header().Set("Retry-After", "10")
		httpError(w, http.StatusServiceUnavailable, "too many event streams")
		return
	}
	defer s.events.Add(-1)
	s.stats.events.Add(1)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store") // a stream that does not end: no cache may keep it
	h.Set("X-Accel-Buffering", "no")   // a proxy in front must not buffer the stream
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	if _, err := io.WriteString(w, "retry: 2000\n\n"); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}
	resume := int64(-1)
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		if n, err := strconv.ParseInt(id, 10, 64); err == nil && n >= 0 {
			resume = n
		}
	}
	e := &eventTail{s: s, rel: stream.LiveFile(name, stream.Analysis), resume: resume, types: lineTypes(r.URL.Query()["types"])}
	defer e.close()
	if err := e.run(r.Context(), w, rc.Flush); err != nil && !errors.Is(err, context.Canceled) {
		s.o.Log.Debug("events stream ended", "stream", name, "err", err)
	}
}

// eventTail follows one client's view of a frames.jsonl.
type eventTail struct {
	s       *Server
	rel     string
	resume  int64 // Last-Event-ID offset, or -1
	f       *os.File
	fi      fs.FileInfo
	off     int64 // bytes of f consumed
	partial []byte
	skip    bool            // dropping the rest of an overlong line
	opened  bool            // a file was streamed before: the next one is a new session
	types   map[string]bool // the lines' types to send; nil: all
}

// lineTypes is the set of types that ?types= names, nil for none.
func lineTypes(params []string) map[string]bool {
	var set map[string]bool
	for _, p := range params {
		for t := range strings.SplitSeq(p, ",") {
			if t = strings.TrimSpace(t); t != "" {
				if set == nil {
					set = map[string]bool{}
				}
				set[t] = true
			}
		}
	}
	return set
}

// typePrefix begins every line of frames.jsonl: its type comes first (frames.Writer).
const typePrefix = `{"type":"`

// wanted reports whether a line is of a type the client asked for.
func (e *eventTail) wanted(line []byte) bool {
	if e.types == nil {
		return true
	}
	rest, ok := bytes.CutPrefix(line, []byte(typePrefix))
	if !ok {
		return false
	}
	end := bytes.IndexByte(rest, '"')
	return end >= 0 && e.types[string(rest[:end])]
}

func (e *eventTail) close() {
	if e.f != nil {
		e.s.closeFile(e.f)
		e.f = nil
	}
}

func (e *eventTail) run(ctx context.Context, w io.Writer, flush func() error) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var out []byte
	lastWrite := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		out = out[:0]
		if e.f == nil {
			var err error
			if out, err = e.open(out, buf); err != nil {
				return err
			}
		}
		if e.f != nil {
			var err error
			if out, err = e.read(out, buf); err != nil {
				return err
			}
			e.checkReplaced()
		}
		if len(out) == 0 && time.Since(lastWrite) >= keepAlive {
			out = append(out, ": keep-alive\n\n"...)
		}
		if len(out) > 0 {
			if _, err := w.Write(out); err != nil {
				return err
			}
			if err := flush(); err != nil {
				return err
			}
			lastWrite = time.Now()
		}
		timer.Reset(eventsPoll)
	}
}

// open opens the file if it exists and chooses where to start: where the client left
// off, the backlog's first whole line, or the beginning of a new session's file.
func (e *eventTail) open(out, buf []byte) ([]byte, error) {
	f, fi, err := e.s.open(e.rel)
	if err != nil {
		return out, nil // not there (yet)
	}
	e.f, e.fi, e.partial, e.skip = f, fi, e.partial[:0], false
	switch {
	case e.opened:
		e.off = 0
		out = append(out, "event: reset\ndata: {}\n\n"...)
	case e.resume >= 0 && e.resume <= fi.Size() && e.atLineStart(e.resume):
		e.off = e.resume
	case fi.Size() > eventsBacklog:
		e.off = fi.Size() - eventsBacklog
		e.skip = !e.atLineStart(e.off) // the first line is cut: drop it
	default:
		e.off = 0
	}
	e.opened = true
	return out, nil
}

// atLineStart reports whether offset off starts a line.
func (e *eventTail) atLineStart(off int64) bool {
	if off == 0 {
		return true
	}
	var b [1]byte
	_, err := e.f.ReadAt(b[:], off-1)
	return err == nil && b[0] == '\n'
}

// read appends an event for each whole line appended since the last read.
func (e *eventTail) read(out, buf []byte) ([]byte, error) {
	for {
		n, err := e.f.ReadAt(buf, e.off)
		chunk := buf[:n]
		e.off += int64(n)
		for len(chunk) > 0 {
			i := bytes.IndexByte(chunk, '\n')
			if i < 0 {
				if !e.skip {
					e.partial = append(e.partial, chunk...)
					if len(e.partial) > maxEventLine {
						e.partial, e.skip = e.partial[:0], true
					}
				}
				break
			}
			line := chunk[:i]
			chunk = chunk[i+1:]
			if e.skip {
				e.skip = false
				continue
			}
			if len(e.partial) > 0 {
				e.partial = append(e.partial, line...)
				line = e.partial
			}
			line = bytes.TrimSpace(line)
			if len(line) > 0 && len(line) <= maxEventLine && e.wanted(line) {
				out = append(out, "id: "...)
				out = strconv.AppendInt(out, e.off-int64(len(chunk)), 10)
				out = append(out, "\ndata: "...)
				out = append(out, line...)
				out = append(out, "\n\n"...)
			}
			e.partial = e.partial[:0]
		}
		if err == io.EOF || n < len(buf) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// checkReplaced closes the file when it is gone, another has taken its name, or it
// shrank: the next file that appears is a new session, streamed from its start.
func (e *eventTail) checkReplaced() {
	fi, err := e.s.root.Stat(e.rel)
	if err != nil || !os.SameFile(fi, e.fi) || fi.Size() < e.off {
		e.close()
	}
}
