package serve

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"
	"github.com/svtool/sv/stream"
)

// sseEvent is one Server-Sent Event.
type sseEvent struct{ id, event, data string }

// sseClient reads events from an /events stream.
type sseClient struct {
	resp   *http.Response
	events chan sseEvent
	cancel context.CancelFunc
	end    error // how the stream ended, once events is closed
}

func openEvents(t *testing.T, url string, lastID string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		cancel()
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	c := &sseClient{resp: resp, events: make(chan sseEvent, 1000), cancel: cancel}
	go func() {
		sc := bufio.NewScanner(resp.Body)
		defer func() {
			c.end = sc.Err()
			close(c.events)
		}()
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.data != "" || ev.event != "" {
					c.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	t.Cleanup(c.close)
	return c
}

func (c *sseClient) close() {
	c.cancel()
	c.resp.Body.Close()
}

func (c *sseClient) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			t.Fatal("the event stream ended")
		}
		return ev
	case <-time.After(testenv.Hang):
		t.Fatalf("no event within %s", testenv.Hang)
	}
	return sseEvent{}
}

func appendFile(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func TestEvents(t *testing.T) {
	ts := newTestServer(t, Options{})
	p := filepath.Join(ts.dir, stream.Analysis)
	url := ts.url + "/live/cam/events"

	// No file yet: the stream waits for one.
	c := openEvents(t, url, "")
	if got := c.resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q", got)
	}
	appendFile(t, p, `{"type":"frame","n":0}`+"\n"+`{"type":"frame","n":1}`+"\n")
	for i := range 2 {
		if ev := c.next(t); ev.data != fmt.Sprintf(`{"type":"frame","n":%d}`, i) {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	// A line written in two parts is sent once whole.
	appendFile(t, p, `{"type":"scene_cut",`)
	time.Sleep(3 * eventsPoll)
	appendFile(t, p, `"n":2}`+"\n")
	ev := c.next(t)
	if ev.data != `{"type":"scene_cut","n":2}` {
		t.Fatalf("split line: %+v", ev)
	}
	fi, _ := os.Stat(p)
	if ev.id != fmt.Sprint(fi.Size()) {
		t.Errorf("id %q, want the offset after the line, %d", ev.id, fi.Size())
	}

	// A client that reconnects with Last-Event-ID resumes after it.
	appendFile(t, p, `{"type":"frame","n":3}`+"\n")
	r := openEvents(t, url, ev.id)
	if ev := r.next(t); ev.data != `{"type":"frame","n":3}` {
		t.Errorf("resumed: %+v", ev)
	}
	// A new client gets the backlog from the start (the file is small).
	n := openEvents(t, url, "")
	if ev := n.next(t); ev.data != `{"type":"frame","n":0}` {
		t.Errorf("new client: %+v", ev)
	}

	// A new session replaces the file: reset, then the new file from its start.
	c.next(t) // n=3
	tmp := p + ".new"
	os.WriteFile(tmp, []byte(`{"type":"frame","n":100}`+"\n"), 0o644)
	os.Rename(tmp, p)
	if ev := c.next(t); ev.event != "reset" {
		t.Fatalf("after the file was replaced: %+v", ev)
	}
	if ev := c.next(t); ev.data != `{"type":"frame","n":100}` {
		t.Fatalf("the new file: %+v", ev)
	}
	// A stream with no folder: a 404 at once, and no slot taken.
	resp, _ := ts.get(t, "GET", "/live/nocam/events", nil)
	if resp.StatusCode != 404 {
		t.Errorf("events of a stream with no folder: status %d", resp.StatusCode)
	}
	if st := ts.Stats(); st.Events != 3 || ts.events.Load() != 3 {
		t.Errorf("stats %+v, %d event streams open, want 3", st, ts.events.Load())
	}
}

// TestEventsTypes: ?types= sends the lines of those types only, with the ids of the
// whole stream, so that Last-Event-ID resumes a filtered stream too.
func TestEventsTypes(t *testing.T) {
	ts := newTestServer(t, Options{})
	p := filepath.Join(ts.dir, stream.Analysis)
	lines := `{"type":"frame","n":0}` + "\n" + `{"type":"scene_cut","n":1,"score":0.5}` + "\n" +
		`{"type":"frame","n":1}` + "\n" + `{"type":"black_start","n":2}` + "\n" + `{"type":"frame","n":2}` + "\n"
	appendFile(t, p, lines)
	c := openEvents(t, ts.url+"/live/cam/events?types=scene_cut&types=summary,black_start", "")
	first := c.next(t)
	if first.data != `{"type":"scene_cut","n":1,"score":0.5}` {
		t.Fatalf("first: %+v", first)
	}
	if want := fmt.Sprint(strings.Index(lines, `{"type":"frame","n":1}`)); first.id != want {
		t.Errorf("id %s, want %s", first.id, want)
	}
	if ev := c.next(t); ev.data != `{"type":"black_start","n":2}` {
		t.Fatalf("second: %+v", ev)
	}
	appendFile(t, p, `{"type":"frame","n":3}`+"\n"+`{"type":"summary","frames":4}`+"\n")
	if ev := c.next(t); ev.data != `{"type":"summary","frames":4}` {
		t.Fatalf("third: %+v", ev)
	}
	// Resumed after the first, filtered: the black stretch comes next, no frame.
	r := openEvents(t, ts.url+"/live/cam/events?types=black_start", first.id)
	if ev := r.next(t); ev.data != `{"type":"black_start","n":2}` {
		t.Errorf("resumed: %+v", ev)
	}
}

// TestEventsBacklog: a client joining a long file gets only its last lines, whole.
func TestEventsBacklog(t *testing.T) {
	ts := newTestServer(t, Options{})
	var b strings.Builder
	const lines = 10000
	for i := range lines {
		fmt.Fprintf(&b, `{"type":"frame","n":%d,"pad":"%s"}`+"\n", i, strings.Repeat("x", i%50))
	}
	ts.write(t, stream.Analysis, []byte(b.String()))
	c := openEvents(t, ts.url+"/live/cam/events", "")
	ev := c.next(t)
	if !strings.HasPrefix(ev.data, `{"type":"frame","n":`) || !strings.HasSuffix(ev.data, `"}`) {
		t.Fatalf("first event is not a whole line: %q", ev.data)
	}
	var n int
	fmt.Sscanf(ev.data, `{"type":"frame","n":%d`, &n)
	if n == 0 || lines-n > eventsBacklog/40 {
		t.Errorf("the backlog starts at line %d of %d", n, lines)
	}
}

// TestServeShutdown: an events stream does not hold up the end of Serve: it ends, as a
// complete response, when Serve's context does, rather than being cut when the grace
// for responses to finish (ShutdownGrace) runs out.
func TestServeShutdown(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "live", "cam"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, s.Handler(), nil, nil) }()
	c := openEvents(t, "http://"+ln.Addr().String()+"/live/cam/events", "")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(testenv.Hang):
		t.Fatal("Serve did not return")
	}
	for range c.events {
	}
	if c.end != nil {
		t.Errorf("the events stream was cut (%v), not ended", c.end)
	}
}
