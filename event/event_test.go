package event

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// hang bounds the waits for what must happen: only a hang takes this long.
const hang = 30 * time.Second

func fast() Options {
	return Options{MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
}

func closeBus(t *testing.T, b *Bus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the bus's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func TestLines(t *testing.T) {
	var buf syncBuffer
	b := New(fast(), &Lines{W: &buf, Name: "test"})
	at := time.Date(2026, 12, 5, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	b.Emit(Event{Type: PublishStart, Stream: "cam", Session: "s1", Remote: "127.0.0.1:1", Time: at})
	b.Emit(Event{Type: SceneCut, Stream: "cam", Session: "s1", Media: &Media{Frame: 0, PTSMs: 0, Score: 0.5}})
	b.Emit(Event{Type: PublishEnd, Stream: "cam", Session: "s1", Bytes: 10, DurationMs: 1500, Cause: CauseStopped})
	closeBus(t, b)

	lines := strings.Split(strings.TrimSuffix(buf.b.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.b.String())
	}
	// The first line, whole: the schema is a contract.
	want := `{"id":"` + b.prefix + `1","type":"publish_start","time":"2026-12-05T09:00:00.123Z","stream":"cam","session":"s1","remote":"127.0.0.1:1"}`
	if lines[0] != want {
		t.Errorf("first line\n got %s\nwant %s", lines[0], want)
	}
	// An analysis event at frame 0 and time 0 keeps both.
	if !strings.Contains(lines[1], `"frame":0,"pts_ms":0,"score":0.5}`) {
		t.Errorf("scene cut: %s", lines[1])
	}
	var e Event
	if err := json.Unmarshal([]byte(lines[2]), &e); err != nil {
		t.Fatal(err)
	}
	if e.Type != PublishEnd || e.Cause != CauseStopped || e.Bytes != 10 || e.ID != b.prefix+"3" || time.Since(e.Time) > hang || e.Media != nil {
		t.Errorf("publish_end: %+v", e)
	}
	if got := b.Emitted(); got[PublishStart] != 1 || got[SceneCut] != 1 || got[PublishEnd] != 1 {
		t.Errorf("emitted: %v", got)
	}
	if st := b.Stats()[0]; st.Delivered != 3 || st.Dropped != 0 || st.Failures != 0 || st.Sink != "events test" {
		t.Errorf("stats: %+v", st)
	}
	// After Close, an event is dropped, not delivered.
	b.Emit(Event{Type: PublishStart, Stream: "late"})
	if st := b.Stats()[0]; st.Delivered != 3 || st.Dropped != 1 {
		t.Errorf("after close: %+v", st)
	}
}

// receiver is a webhook receiver on loopback that records what it gets, answering with
// status (200 when 0).
type receiver struct {
	t        *testing.T
	mu       sync.Mutex
	status   int
	hold     chan struct{} // when set, each request waits for it
	arrivals int
	got      []Event
	bodies   [][]byte
	heads    []http.Header
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.arrivals++
	rc.mu.Unlock()
	if rc.hold != nil {
		<-rc.hold
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.status != 0 && rc.status != http.StatusOK {
		w.WriteHeader(rc.status)
		return
	}
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		rc.t.Errorf("webhook body %q: %v", body, err)
	}
	rc.got = append(rc.got, e)
	rc.bodies = append(rc.bodies, body)
	rc.heads = append(rc.heads, r.Header.Clone())
}

func (rc *receiver) events() []Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Event(nil), rc.got...)
}

func serveOn(t *testing.T, ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(hang); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// A receiver that is down, then answers 503, then comes back gets every event, in
// order, each signed; Emit never waits for it.
func TestWebhookDownThenUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // down: connections are refused

	const secret = "s3cret"
	b := New(fast(), &Webhook{URL: "http://" + addr + "/hook?token=x", Secret: secret})
	const n = 20
	for i := range n {
		b.Emit(Event{Type: SceneCut, Stream: "cam", Media: &Media{Frame: int64(i)}})
	}
	waitFor(t, "failed deliveries", func() bool { return b.Stats()[0].Failures >= 2 })

	rc := &receiver{t: t, status: http.StatusServiceUnavailable}
	if ln, err = net.Listen("tcp", addr); err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	serveOn(t, ln, rc)
	waitFor(t, "503 answers", func() bool { return b.Stats()[0].Failures >= 4 })
	rc.mu.Lock()
	rc.status = 0
	rc.mu.Unlock()
	closeBus(t, b)

	got := rc.events()
	if len(got) != n {
		t.Fatalf("received %d events, want %d", len(got), n)
	}
	for i, e := range got {
		if e.Media == nil || e.Media.Frame != int64(i) {
			t.Fatalf("event %d out of order: %+v", i, e)
		}
		h := rc.heads[i]
		if !Verify(secret, rc.bodies[i], h.Get(SignatureHeader)) || Verify("other", rc.bodies[i], h.Get(SignatureHeader)) {
			t.Errorf("event %d: signature %q does not verify", i, h.Get(SignatureHeader))
		}
		if h.Get(EventIDHeader) != e.ID || h.Get(EventHeader) != string(SceneCut) || h.Get("Content-Type") != "application/json" {
			t.Errorf("event %d: headers %v", i, h)
		}
	}
	st := b.Stats()[0]
	if st.Delivered != n || st.Dropped != 0 || st.Queued != 0 {
		t.Errorf("stats: %+v", st)
	}
	if strings.Contains(st.Sink, "token") {
		t.Errorf("the sink's name shows the query: %q", st.Sink)
	}
}

// A full queue drops its oldest events, not the newest, and Emit does not wait for a
// receiver that hangs.
func TestQueueBound(t *testing.T) {
	rc := &receiver{t: t, hold: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, ln, rc)
	o := fast()
	o.Queue = 4
	b := New(o, &Webhook{URL: "http://" + ln.Addr().String()})
	b.Emit(Event{Type: SceneCut, Stream: "cam", Media: &Media{Frame: 0}})
	waitFor(t, "the first delivery to arrive", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return rc.arrivals == 1
	})
	for i := 1; i < 10; i++ { // returns although the receiver holds the first
		b.Emit(Event{Type: SceneCut, Stream: "cam", Media: &Media{Frame: int64(i)}})
	}
	if st := b.Stats()[0]; st.Dropped != 5 || st.Queued != 5 {
		t.Errorf("with the receiver holding: %+v", st)
	}
	close(rc.hold)
	closeBus(t, b)
	var frames []int64
	for _, e := range rc.events() {
		frames = append(frames, e.Media.Frame)
	}
	if want := []int64{0, 6, 7, 8, 9}; !slices.Equal(frames, want) {
		t.Errorf("delivered frames %v, want %v", frames, want)
	}
}

// An answer that retrying cannot change gives the event up after one try; Close gives
// up what a receiver that stays down never took, and says so.
func TestGiveUp(t *testing.T) {
	rc := &receiver{t: t, status: http.StatusBadRequest}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, ln, rc)
	b := New(fast(), &Webhook{URL: "http://" + ln.Addr().String()})
	b.Emit(Event{Type: PublishStart, Stream: "cam"})
	closeBus(t, b)
	if st := b.Stats()[0]; st.Failures != 1 || st.Dropped != 1 || st.Delivered != 0 {
		t.Errorf("400: %+v", st)
	}

	rc.mu.Lock()
	rc.status = http.StatusBadGateway
	rc.mu.Unlock()
	b = New(fast(), &Webhook{URL: "http://" + ln.Addr().String()})
	for range 3 {
		b.Emit(Event{Type: PublishStart, Stream: "cam"})
	}
	waitFor(t, "retries", func() bool { return b.Stats()[0].Failures >= 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = b.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "2 events not delivered") {
		t.Errorf("close with a receiver down: %v", err)
	}
	if st := b.Stats()[0]; st.Dropped != 3 || st.Delivered != 0 || st.Queued != 0 {
		t.Errorf("502: %+v", st)
	}
}

func TestCommand(t *testing.T) {
	dir := t.TempDir()
	b := New(fast(), &Command{Cmd: `cat > "$DIR/$SV_EVENT_ID.json" && echo "$SV_EVENT $SV_STREAM $SV_SESSION" >> "$DIR/env"`})
	t.Setenv("DIR", dir)
	b.Emit(Event{Type: PublishStart, Stream: "cam", Session: "s1"})
	b.Emit(Event{Type: PublishEnd, Stream: "cam", Session: "s1", Cause: CauseDropped})
	closeBus(t, b)
	env, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	if string(env) != "publish_start cam s1\npublish_end cam s1\n" {
		t.Errorf("the commands saw %q", env)
	}
	body, err := os.ReadFile(filepath.Join(dir, b.prefix+"2.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e Event
	if err := json.Unmarshal(body, &e); err != nil || e.Cause != CauseDropped || !bytes.HasSuffix(body, []byte("}\n")) {
		t.Errorf("stdin %q: %+v, %v", body, e, err)
	}

	// A command that fails is not run again; one that hangs is killed, its children too.
	var logs syncBuffer
	o := fast()
	o.Log = slogTo(&logs)
	b = New(o, &Command{Cmd: `echo "no such thing" >&2; exit 3`}, &Command{Cmd: `sleep 60 & sleep 60`, Timeout: 100 * time.Millisecond})
	b.Emit(Event{Type: PublishStart, Stream: "cam"})
	closeBus(t, b)
	for i, st := range b.Stats() {
		if st.Failures != 1 || st.Dropped != 1 {
			t.Errorf("command %d: %+v", i, st)
		}
	}
	for _, want := range []string{"exit status 3: no such thing", "killed after 100ms"} {
		if !strings.Contains(logs.b.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, logs.b.String())
		}
	}
}

func TestSign(t *testing.T) {
	// RFC 4231-style vector, as computed by openssl dgst -sha256 -hmac key.
	const want = "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
	body := []byte("The quick brown fox jumps over the lazy dog")
	if got := Sign("key", body); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	if !Verify("key", body, want) || Verify("key", append(body, '.'), want) || Verify("key", body, "") {
		t.Error("Verify")
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pw@hooks.example/a?token=1": "https://hooks.example/a",
		"http://127.0.0.1:9/x#frag":               "http://127.0.0.1:9/x",
		"http://h/p@q":                            "http://h/p@q",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// slogTo is a logger writing text to w.
func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
