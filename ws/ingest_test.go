package ws

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/svtool/sv/media"
)

// sink is a Session that keeps what it receives.
type sink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	gate   chan struct{} // when set, each Write waits for it
	fail   error         // when set, Write returns it
	closed chan error
}

func newSink() *sink { return &sink{closed: make(chan error, 1)} }

func (s *sink) Write(p []byte) (int, error) {
	if s.gate != nil {
		<-s.gate
	}
	if s.fail != nil {
		return 0, s.fail
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *sink) Close(err error) error { s.closed <- err; return nil }

func (s *sink) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.buf.Bytes())
}

// serve runs in on a loopback listener and returns its ws:// base URL.
func serve(t testing.TB, in *Ingest) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: in, ReadHeaderTimeout: HandshakeTimeout}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "ws://" + ln.Addr().String()
}

func recording(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawClient is a publisher that writes frames by hand.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	src  io.Reader
}

func dialRaw(t testing.TB, url string) *rawClient {
	t.Helper()
	conn, br, _, err := ws.Dial(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var src io.Reader = conn
	if br != nil {
		src = io.MultiReader(br, conn)
	}
	return &rawClient{t: t, conn: conn, src: src}
}

func (c *rawClient) frame(op ws.OpCode, fin bool, p []byte) {
	c.t.Helper()
	f := ws.MaskFrameInPlace(ws.NewFrame(op, fin, bytes.Clone(p)))
	if err := ws.WriteFrame(c.conn, f); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the server's next frame.
func (c *rawClient) next() (ws.Header, []byte) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, err := ws.ReadHeader(c.src)
	if err != nil {
		c.t.Fatal(err)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.src, p); err != nil {
		c.t.Fatal(err)
	}
	return h, p
}

// closeCode reads frames until the server's close frame and returns its code and reason.
func (c *rawClient) closeCode() (ws.StatusCode, string) {
	c.t.Helper()
	for {
		h, p := c.next()
		if h.OpCode == ws.OpClose {
			return ws.ParseCloseFrameData(p)
		}
	}
}

func TestIngestRoundTrip(t *testing.T) {
	for _, name := range []string{"h264-opus-kf1s.webm", "vp9-opus.mp4"} {
		t.Run(name, func(t *testing.T) {
			rec := recording(t, name)
			s := newSink()
			var pub atomic.Pointer[Publisher]
			in := &Ingest{Open: func(p *Publisher) (Session, error) { pub.Store(p); return s, nil }}
			url := serve(t, in) + "/ingest/cam"
			// Counters are read from another goroutine while the session runs, as a
			// progress display does (the race detector watches this).
			stop := make(chan struct{})
			polled := make(chan struct{})
			go func() {
				defer close(polled)
				for {
					select {
					case <-stop:
						return
					default:
					}
					if p := pub.Load(); p != nil {
						p.Stats()
					}
					time.Sleep(time.Millisecond)
				}
			}()
			err := Publish(context.Background(), url, bytes.NewReader(rec), PublishOptions{})
			close(stop)
			<-polled
			if err != nil {
				t.Fatal(err)
			}
			if err := <-s.closed; err != nil {
				t.Fatalf("session closed with %v", err)
			}
			if !bytes.Equal(s.bytes(), rec) {
				t.Fatalf("received %d bytes that differ from the %d sent", len(s.bytes()), len(rec))
			}
			st := pub.Load().Stats()
			if st.Bytes != int64(len(rec)) || st.Written != int64(len(rec)) || st.Messages < 10 {
				t.Errorf("stats %+v, want %d bytes in more than 10 messages", st, len(rec))
			}
			if pub.Load().Stream != "cam" {
				t.Errorf("stream %q", pub.Load().Stream)
			}
		})
	}
}

// A message split into fragments, with a ping between them, arrives whole, and the ping is
// answered.
func TestIngestFragmentsAndPing(t *testing.T) {
	rec := recording(t, "h264-opus-kf1s.webm")
	s := newSink()
	url := serve(t, &Ingest{Open: func(*Publisher) (Session, error) { return s, nil }}) + "/ingest/cam"
	c := dialRaw(t, url)
	a, b, d := rec[:1000], rec[1000:200000], rec[200000:]
	c.frame(ws.OpBinary, false, a)
	c.frame(ws.OpPing, true, []byte("hi"))
	c.frame(ws.OpContinuation, false, b)
	c.frame(ws.OpContinuation, true, d)
	if h, p := c.next(); h.OpCode != ws.OpPong || string(p) != "hi" {
		t.Fatalf("got %v %q, want a pong", h.OpCode, p)
	}
	c.frame(ws.OpPing, true, []byte("again"))
	if h, p := c.next(); h.OpCode != ws.OpPong || string(p) != "again" {
		t.Fatalf("got %v %q, want a pong", h.OpCode, p)
	}
	c.frame(ws.OpClose, true, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	if code, _ := c.closeCode(); code != ws.StatusNormalClosure {
		t.Fatalf("close code %d", code)
	}
	if err := <-s.closed; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.bytes(), rec) {
		t.Fatal("fragmented message corrupted")
	}
}

// Refusals after the upgrade: the close code and reason, the session's error, and nothing
// of the refused message in the output.
func TestIngestRefusals(t *testing.T) {
	rec := recording(t, "h264-opus-kf1s.webm")
	ebml := []byte{0x1A, 0x45, 0xDF, 0xA3}
	tests := []struct {
		name   string
		in     *Ingest
		frames func(c *rawClient)
		code   ws.StatusCode
		err    error
		want   []byte
	}{
		{"not media", &Ingest{}, func(c *rawClient) { c.frame(ws.OpBinary, true, []byte("GIF89a....")) }, ws.StatusUnsupportedData, media.ErrNotMedia, nil},
		{"text first", &Ingest{}, func(c *rawClient) { c.frame(ws.OpText, true, []byte("hello")) }, ws.StatusUnsupportedData, ErrText, nil},
		{"text later", &Ingest{}, func(c *rawClient) {
			c.frame(ws.OpBinary, true, rec[:5000])
			c.frame(ws.OpText, true, []byte("hello"))
		}, ws.StatusUnsupportedData, ErrText, rec[:5000]},
		{"too large", &Ingest{MaxMessage: 4096}, func(c *rawClient) {
			c.frame(ws.OpBinary, true, rec[:4096])
			c.frame(ws.OpBinary, true, rec[4096:8193])
		}, ws.StatusMessageTooBig, ErrTooLarge, rec[:4096]},
		{"too large in fragments", &Ingest{MaxMessage: 4096}, func(c *rawClient) {
			c.frame(ws.OpBinary, false, append(ebml, make([]byte, 3000)...))
			c.frame(ws.OpContinuation, true, make([]byte, 3000))
		}, ws.StatusMessageTooBig, ErrTooLarge, nil},
		{"idle", &Ingest{IdleTimeout: 200 * time.Millisecond}, func(c *rawClient) { c.frame(ws.OpBinary, true, rec[:100]) }, ws.StatusPolicyViolation, ErrIdle, rec[:100]},
		{"error close", &Ingest{}, func(c *rawClient) {
			c.frame(ws.OpBinary, true, rec[:100])
			c.frame(ws.OpClose, true, ws.NewCloseFrameBody(ws.StatusInternalServerError, "camera lost"))
		}, ws.StatusNormalClosure, &CloseError{}, rec[:100]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink()
			in := tt.in
			in.Open = func(*Publisher) (Session, error) { return s, nil }
			c := dialRaw(t, serve(t, in)+"/ingest/cam")
			tt.frames(c)
			code, reason := c.closeCode()
			if code != tt.code {
				t.Errorf("close code %d %q, want %d", code, reason, tt.code)
			}
			err := <-s.closed
			var ce *CloseError
			if errors.As(tt.err, &ce) {
				if !errors.As(err, &ce) || ce.Code != 1011 || ce.Reason != "camera lost" {
					t.Errorf("session error %v, want the publisher's close", err)
				}
			} else if !errors.Is(err, tt.err) {
				t.Errorf("session error %v, want %v", err, tt.err)
			}
			if !errors.Is(tt.err, ErrIdle) && code != ws.StatusNormalClosure && reason != truncate(err.Error()) {
				t.Errorf("close reason %q, want %q", reason, err.Error())
			}
			if !bytes.Equal(s.bytes(), tt.want) {
				t.Errorf("session got %d bytes, want %d", len(s.bytes()), len(tt.want))
			}
		})
	}
}

// A preflight answers as the upgrade would, and admits no one: a page learns why it
// would be refused, whatever its origin, and a plain GET without it is still told to
// use a WebSocket.
func TestPreflight(t *testing.T) {
	busy := map[string]bool{"live": true}
	opened := 0
	in := &Ingest{
		AllowHost: Hosts("sv.example", "[2001:db8::1]"),
		Open:      func(*Publisher) (Session, error) { opened++; return newSink(), nil },
		Authorize: func(r *http.Request, stream string) bool { return r.URL.Query().Get("token") == "k" },
		Check: func(stream string) error {
			switch {
			case busy[stream]:
				return ErrBusy
			case stream == "full":
				return errors.New("too many live streams: 16")
			}
			return nil
		},
	}
	base := "http" + strings.TrimPrefix(serve(t, in), "ws")
	for _, tt := range []struct {
		path, origin string
		status       int
		body         string
		host         string
	}{
		{"/ingest/cam?preflight&token=k", "", 204, "", ""},
		{"/ingest/cam?preflight=1&token=k", "", 204, "", ""},
		{"/ingest/cam?preflight", "", 401, "a valid token is required to publish\n", ""},
		{"/ingest/cam?preflight&token=wrong", "", 401, "a valid token is required to publish\n", ""},
		{"/ingest/live?preflight&token=k", "", 409, "stream live already has a publisher\n", ""},
		{"/ingest/full?preflight&token=k", "", 503, "cannot publish: too many live streams: 16\n", ""},
		{"/ingest/cam?preflight&token=k", "https://elsewhere.example", 403, "origin https://elsewhere.example may not publish here\n", ""},
		{"/ingest/bad%20name?preflight&token=k", "", 400, "", ""},
		{"/ingest/cam?token=k", "", 426, "this is a WebSocket endpoint: publish with a WebSocket client\n", ""},
		// DNS rebinding: a name that is not this server's is refused, whatever the origin.
		{"/ingest/cam?preflight&token=k", "http://rebound.example:8080", 421, "this server does not answer to the name rebound.example\n", "rebound.example:8080"},
		{"/ingest/cam?token=k", "", 421, "", "rebound.example"},
		{"/ingest/cam?preflight&token=k", "", 204, "", "SV.example:8080"},
		{"/ingest/cam?preflight&token=k", "", 204, "", "[2001:db8::1]:8080"},
		{"/ingest/cam?preflight&token=k", "", 204, "", "localhost"},
		{"/ingest/cam?preflight&token=k", "", 204, "", "[::1]:8080"},
	} {
		req, _ := http.NewRequest("GET", base+tt.path, nil)
		if tt.host != "" {
			req.Host = tt.host
		}
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || (tt.body != "" && string(body) != tt.body) {
			t.Errorf("%s (origin %q): %d %q, want %d %q", tt.path, tt.origin, resp.StatusCode, body, tt.status, tt.body)
		}
		preflight := strings.Contains(tt.path, "preflight") && tt.status != 400 && tt.status != 421
		if got := resp.Header.Get("Access-Control-Allow-Origin"); preflight != (got == "*") {
			t.Errorf("%s: Access-Control-Allow-Origin %q", tt.path, got)
		}
	}
	if opened != 0 {
		t.Errorf("preflights opened %d sessions", opened)
	}
}

// partial starts a binary message of length bytes and sends the first of them, p.
func (c *rawClient) partial(length int, p []byte) (more func(p []byte) error) {
	c.t.Helper()
	mask := ws.NewMask()
	if err := ws.WriteHeader(c.conn, ws.Header{Fin: true, OpCode: ws.OpBinary, Length: int64(length), Masked: true, Mask: mask}); err != nil {
		c.t.Fatal(err)
	}
	off := 0
	more = func(p []byte) error {
		b := bytes.Clone(p)
		ws.Cipher(b, mask, off)
		off += len(b)
		_, err := c.conn.Write(b)
		return err
	}
	if err := more(p); err != nil {
		c.t.Fatal(err)
	}
	return more
}

// A message trickling in a byte at a time does not keep a publisher alive: the idle
// timeout runs from the last whole message. What came whole before is kept.
func TestIngestTrickle(t *testing.T) {
	rec := recording(t, "h264-opus-kf1s.webm")
	s := newSink()
	in := &Ingest{IdleTimeout: 300 * time.Millisecond, Open: func(*Publisher) (Session, error) { return s, nil }}
	c := dialRaw(t, serve(t, in)+"/ingest/cam")
	c.frame(ws.OpBinary, true, rec[:100])
	more := c.partial(1000, rec[100:101])
	done := make(chan struct{})
	go func() {
		for i := 102; i < 1100; i++ {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if more(rec[i-1:i]) != nil {
				return
			}
		}
	}()
	code, reason := c.closeCode()
	close(done)
	if code != ws.StatusPolicyViolation || !strings.Contains(reason, "no whole message for 300ms") {
		t.Errorf("close %d %q, want 1008 and the idle timeout", code, reason)
	}
	if err := <-s.closed; !errors.Is(err, ErrIdle) {
		t.Errorf("session error %v", err)
	}
	if !bytes.Equal(s.bytes(), rec[:100]) {
		t.Errorf("the session got %d bytes, want the 100 of the whole message", len(s.bytes()))
	}
}

// Unfinished messages are bounded across publishers: the one that takes them past
// MaxUnfinished is closed, the others go on, and what they held is given back.
func TestIngestUnfinished(t *testing.T) {
	rec := recording(t, "h264-opus-kf1s.webm")
	sinks := map[string]*sink{"a": newSink(), "b": newSink()}
	in := &Ingest{MaxUnfinished: 100 << 10, Open: func(p *Publisher) (Session, error) { return sinks[p.Stream], nil }}
	base := serve(t, in)
	a := dialRaw(t, base+"/ingest/a")
	// Held a buffer (64 KiB) at a time: a's first is full, b's first takes them past.
	moreA := a.partial(80<<10, rec[:70<<10])
	testenv.WaitFor(t, "a's first 64 KiB held", func() bool { return in.unfinished.Load() == 64<<10 })
	b := dialRaw(t, base+"/ingest/b")
	b.partial(100<<10, rec[:70<<10])
	if code, reason := b.closeCode(); code != ws.StatusPolicyViolation || !strings.Contains(reason, "unfinished messages hold too much memory") {
		t.Errorf("b: close %d %q, want 1008", code, reason)
	}
	if err := <-sinks["b"].closed; !errors.Is(err, ErrUnfinished) {
		t.Errorf("b's session: %v", err)
	}
	if err := moreA(rec[70<<10 : 80<<10]); err != nil {
		t.Fatal(err)
	}
	a.frame(ws.OpClose, true, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	if code, _ := a.closeCode(); code != ws.StatusNormalClosure {
		t.Errorf("a: close %d", code)
	}
	if err := <-sinks["a"].closed; err != nil || !bytes.Equal(sinks["a"].bytes(), rec[:80<<10]) {
		t.Errorf("a's session: %v, %d bytes", err, len(sinks["a"].bytes()))
	}
	testenv.WaitFor(t, "every unfinished byte given back", func() bool { return in.unfinished.Load() == 0 })
}

// A session that cannot store the stream ends the publisher with 1011 and the reason.
func TestIngestSessionFails(t *testing.T) {
	rec := recording(t, "h264-opus-kf1s.webm")
	s := newSink()
	s.fail = errors.New("disk full")
	url := serve(t, &Ingest{Open: func(*Publisher) (Session, error) { return s, nil }}) + "/ingest/cam"
	err := Publish(context.Background(), url, bytes.NewReader(rec), PublishOptions{})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("1011: cannot store the stream: disk full")) {
		t.Fatalf("Publish: %v, want the server's 1011 with its reason", err)
	}
	if err := <-s.closed; err == nil {
		t.Fatal("session closed without error")
	}
}

// A stalled session does not stop the socket until the queue is full; then the publisher
// is held back, and once the session moves again every byte arrives in order.
func TestIngestBackpressure(t *testing.T) {
	s := newSink()
	s.gate = make(chan struct{})
	var pub atomic.Pointer[Publisher]
	in := &Ingest{Buffer: 1 << 20, Open: func(p *Publisher) (Session, error) { pub.Store(p); return s, nil }}
	c := dialRaw(t, serve(t, in)+"/ingest/cam")
	msg := make([]byte, 60<<10)
	copy(msg, []byte{0x1A, 0x45, 0xDF, 0xA3})
	var want bytes.Buffer
	sent := make(chan int, 1)
	go func() {
		n := 0
		for i := 0; i < 200; i++ { // 12 MB: far more than the queue and the socket buffers
			msg[100] = byte(i)
			if ws.WriteFrame(c.conn, ws.MaskFrame(ws.NewBinaryFrame(msg))) != nil {
				break
			}
			want.Write(msg)
			n++
		}
		sent <- n
	}()
	// The reader goes on until the queue is about full, however long that takes.
	var st PublisherStats
	testenv.WaitFor(t, "half a MiB queued while the session is stalled", func() bool {
		if p := pub.Load(); p != nil {
			st = p.Stats()
		}
		return st.Queued >= 512<<10
	})
	if st.Queued > 1<<20 || st.HighWater > 1<<20 {
		t.Errorf("queue holds %d bytes (high water %d), over its 1 MiB bound", st.Queued, st.HighWater)
	}
	if st.Bytes >= 200*int64(len(msg)) {
		t.Errorf("all %d bytes were accepted while the session was stalled", st.Bytes)
	}
	close(s.gate)
	n := <-sent
	c.frame(ws.OpClose, true, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	if code, _ := c.closeCode(); code != ws.StatusNormalClosure {
		t.Fatalf("close code %d", code)
	}
	<-s.closed
	if n != 200 || !bytes.Equal(s.bytes(), want.Bytes()) {
		t.Fatalf("sent %d messages; received %d bytes, want %d in order", n, len(s.bytes()), want.Len())
	}
}

// Shutting the server down ends a live session with 1001 after writing what arrived.
func TestIngestShutdown(t *testing.T) {
	rec := recording(t, "h264-opus-kf1s.webm")
	s := newSink()
	var pub atomic.Pointer[Publisher]
	ctx, cancel := context.WithCancel(context.Background())
	c := dialRaw(t, serve(t, &Ingest{Context: ctx, Open: func(p *Publisher) (Session, error) { pub.Store(p); return s, nil }})+"/ingest/cam")
	c.frame(ws.OpBinary, true, rec[:3000])
	testenv.WaitFor(t, "the message to arrive", func() bool { p := pub.Load(); return p != nil && p.Stats().Bytes == 3000 })
	cancel()
	if code, _ := c.closeCode(); code != ws.StatusGoingAway {
		t.Fatalf("close code %d, want 1001", code)
	}
	if err := <-s.closed; !errors.Is(err, ErrShutdown) {
		t.Fatalf("session error %v", err)
	}
	if !bytes.Equal(s.bytes(), rec[:3000]) {
		t.Fatal("accepted bytes lost on shutdown")
	}
}

// A connection that drops without a close frame ends the session with ErrLost, keeping
// what arrived whole.
func TestIngestLost(t *testing.T) {
	rec := recording(t, "h264-opus-kf1s.webm")
	s := newSink()
	c := dialRaw(t, serve(t, &Ingest{Open: func(*Publisher) (Session, error) { return s, nil }})+"/ingest/cam")
	c.frame(ws.OpBinary, true, rec[:3000])
	// Half a frame, then the connection ends.
	f, _ := ws.CompileFrame(ws.MaskFrame(ws.NewBinaryFrame(rec[3000:6000])))
	c.conn.Write(f[:1000])
	c.conn.Close()
	if err := <-s.closed; !errors.Is(err, ErrLost) {
		t.Fatalf("session error %v, want ErrLost", err)
	}
	if !bytes.Equal(s.bytes(), rec[:3000]) {
		t.Fatalf("got %d bytes, want the 3000 of the whole message", len(s.bytes()))
	}
}

func TestOrigin(t *testing.T) {
	r, _ := http.NewRequest("GET", "http://media.example:8080/ingest/cam", nil)
	tests := []struct {
		origin string
		extra  []string
		ok     bool
	}{
		{"http://media.example:8080", nil, true},
		{"http://localhost:3000", nil, true},
		{"http://127.0.0.1", nil, true},
		{"http://[::1]:8000", nil, true},
		{"http://evil.example", nil, false},
		{"http://media.example.evil.example:8080", nil, false},
		{"null", nil, false},
		{"https://studio.example", []string{"https://studio.example"}, true},
		{"https://other.example", []string{"*"}, true},
	}
	for _, tt := range tests {
		if got := SameOrigin(tt.extra...)(r, tt.origin); got != tt.ok {
			t.Errorf("SameOrigin(%v)(%q) = %v, want %v", tt.extra, tt.origin, got, tt.ok)
		}
	}
}

func TestTruncate(t *testing.T) {
	long := string(bytes.Repeat([]byte("é"), 100))
	got := truncate(long)
	if len(got) > 123 || !utf8Valid(got) {
		t.Fatalf("truncate gave %d bytes, valid %v", len(got), utf8Valid(got))
	}
}

func utf8Valid(s string) bool { return bytes.Equal([]byte(s), []byte(string([]rune(s)))) }

// FuzzIngest feeds arbitrary bytes to a session after the upgrade: it must end without
// panicking or hanging, and write only bytes that the input carried in binary messages.
func FuzzIngest(f *testing.F) {
	frame := func(op ws.OpCode, fin bool, p []byte) []byte {
		b, _ := ws.CompileFrame(ws.MaskFrameWith(ws.NewFrame(op, fin, p), [4]byte{1, 2, 3, 4}))
		return b
	}
	webm := []byte{0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01}
	f.Add(frame(ws.OpBinary, true, webm))
	f.Add(append(frame(ws.OpBinary, false, webm), frame(ws.OpContinuation, true, webm)...))
	f.Add(append(frame(ws.OpBinary, true, webm), frame(ws.OpText, true, []byte("x"))...))
	f.Add(append(frame(ws.OpPing, true, []byte("p")), frame(ws.OpClose, true, []byte{3, 232})...))
	f.Add([]byte{0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, data []byte) {
		server, client := net.Pipe()
		go func() {
			client.Write(data)
			client.Close()
		}()
		go io.Copy(io.Discard, client)
		s := newSink()
		in := &Ingest{MaxMessage: 1 << 16, IdleTimeout: time.Second}
		p := &Publisher{Stream: "fuzz", started: time.Now()}
		done := make(chan struct{})
		go func() {
			in.session(p, server, server, s)
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(testenv.Hang):
			t.Fatal("session did not end")
		}
		if got := s.bytes(); len(got) > len(data) {
			t.Fatalf("wrote %d bytes from %d of input", len(got), len(data))
		}
	})
}

// BenchmarkRecv measures the ingest over loopback: one op is one 64 KiB message received,
// queued and handed to the session. allocs/op counts both ends; the publisher here writes
// pre-masked frames and allocates nothing, so they are the ingest's.
func BenchmarkRecv(b *testing.B) {
	for _, size := range []int{4 << 10, 64 << 10} {
		b.Run(byteSize(size), func(b *testing.B) { benchIngest(b, size) })
	}
}

// benchIngest publishes b.N messages of size bytes to an Ingest and checks that they all
// reached its session.
func benchIngest(b *testing.B, size int) {
	var got atomic.Int64
	s := &countSink{n: &got, closed: make(chan error, 1)}
	url := serve(b, &Ingest{Open: func(*Publisher) (Session, error) { return s, nil }}) + "/ingest/bench"
	publishMessages(b, url, size)
	if err := <-s.closed; err != nil {
		b.Fatalf("session ended with %v", err)
	}
	if got.Load() != int64(b.N)*int64(size) {
		b.Fatalf("received %d bytes, want %d", got.Load(), b.N*size)
	}
}

// publishMessages sends b.N binary messages of size bytes, the first a WebM header's start,
// then closes normally and waits for the server's close frame: by then every message has
// been handed on.
func publishMessages(b *testing.B, url string, size int) {
	b.Helper()
	c := dialRaw(b, url)
	payload := make([]byte, size)
	copy(payload, []byte{0x1A, 0x45, 0xDF, 0xA3})
	frame, _ := ws.CompileFrame(ws.MaskFrameWith(ws.NewBinaryFrame(payload), [4]byte{9, 8, 7, 6}))
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.conn.Write(frame); err != nil {
			b.Fatal(err)
		}
	}
	wsutil.WriteClientMessage(c.conn, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	if code, _ := c.closeCode(); code != ws.StatusNormalClosure {
		b.Fatalf("close code %d", code)
	}
	b.StopTimer()
}

type countSink struct {
	n      *atomic.Int64
	closed chan error
}

func (s *countSink) Write(p []byte) (int, error) { s.n.Add(int64(len(p))); return len(p), nil }
func (s *countSink) Close(err error) error       { s.closed <- err; return nil }

func byteSize(n int) string { return strconv.Itoa(n>>10) + "KiB" }
