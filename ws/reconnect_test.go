package ws

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/svtool/sv/media"
)

// A killable is an ingest server on a fixed loopback address that can die as a killed
// process does (every connection dropped at once, no close frame) and start again on the
// same address.
type killable struct {
	t    *testing.T
	addr string
	in   *Ingest

	mu    sync.Mutex
	ln    net.Listener
	srv   *http.Server
	conns []net.Conn
}

func startKillable(t *testing.T, in *Ingest) *killable {
	k := &killable{t: t, addr: "127.0.0.1:0", in: in}
	k.start()
	k.addr = k.ln.Addr().String()
	t.Cleanup(k.kill)
	return k
}

func (k *killable) start() {
	ln, err := net.Listen("tcp", k.addr)
	if err != nil {
		k.t.Fatal(err)
	}
	srv := &http.Server{Handler: k.in, ReadHeaderTimeout: HandshakeTimeout, ConnState: func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			k.mu.Lock()
			k.conns = append(k.conns, c)
			k.mu.Unlock()
		}
	}}
	k.mu.Lock()
	k.ln, k.srv = ln, srv
	k.mu.Unlock()
	go srv.Serve(ln)
}

// kill drops the listener and every connection, hijacked ones (the publishers') included.
func (k *killable) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.srv.Close()
	for _, c := range k.conns {
		c.Close()
	}
	k.conns = nil
}

func (k *killable) url() string { return "ws://" + k.addr + "/ingest/cam" }

// firstSeconds is the recording up to the first cluster at or after d, and where its
// header ends and its keyframe clusters start.
func firstSeconds(t *testing.T, name string, d time.Duration) (rec []byte, header int64, joins []int64) {
	t.Helper()
	rec = recording(t, name)
	var end int64
	media.Scan(bytes.NewReader(rec), func(e media.Event) error {
		switch {
		case e.Kind == media.EventHeader && header == 0:
			header = e.Offset
		case e.Kind == media.EventCluster && end == 0 && e.Time >= d:
			end = e.Offset
		case e.Kind == media.EventCluster && e.Keyframe && end == 0:
			joins = append(joins, e.Offset)
		}
		return nil
	})
	if end == 0 || header == 0 {
		t.Fatalf("%s: no header or no cluster after %s", name, d)
	}
	return rec[:end], header, joins
}

// A publisher with Reconnect whose server is killed mid-stream and started again on the
// same address goes on in a new session: what the dead server got is a prefix of the
// input, and the new session is the header and the input from a keyframe cluster on, to
// the end, confirmed by the server. Without Reconnect the same kill ends Publish with an
// error.
func TestPublishReconnects(t *testing.T) {
	for _, reconnect := range []bool{true, false} {
		t.Run(map[bool]string{true: "reconnect", false: "no-reconnect"}[reconnect], func(t *testing.T) {
			rec, header, joins := firstSeconds(t, "h264-opus-kf1s.webm", 6*time.Second)
			var mu sync.Mutex
			var sinks []*sink
			k := startKillable(t, &Ingest{Open: func(*Publisher) (Session, error) {
				mu.Lock()
				defer mu.Unlock()
				s := newSink()
				sinks = append(sinks, s)
				return s, nil
			}})
			var resumes []Resume
			var retries []Retry
			var sessions []int
			o := PublishOptions{Realtime: true, OnResume: func(r Resume) { resumes = append(resumes, r) },
				OnRetry: func(r Retry) { retries = append(retries, r) },
				OnSend:  func(s Sent) { sessions = append(sessions, s.Session) }}
			if reconnect {
				o.Reconnect = 30 * time.Second
			}
			done := make(chan error, 1)
			go func() { done <- Publish(context.Background(), k.url(), bytes.NewReader(rec), o) }()

			// Kill once a third of the input has arrived, start again half a second later.
			deadline := time.Now().Add(time.Minute)
			for {
				mu.Lock()
				n := 0
				if len(sinks) > 0 {
					n = len(sinks[0].bytes())
				}
				mu.Unlock()
				if n > len(rec)/3 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the publisher sent nothing for a minute")
				}
				time.Sleep(20 * time.Millisecond)
			}
			k.kill()
			time.Sleep(500 * time.Millisecond)
			k.start()

			err := <-done
			if !reconnect {
				if err == nil {
					t.Fatal("Publish without Reconnect returned nil after its server was killed")
				}
				if len(sinks) != 1 || len(retries) != 0 {
					t.Errorf("without Reconnect: %d sessions, %d retries", len(sinks), len(retries))
				}
				return
			}
			if err != nil {
				t.Fatalf("Publish: %v (retries %+v)", err, retries)
			}
			if len(sinks) != 2 || len(resumes) != 1 {
				t.Fatalf("%d sessions and %d resumes, want 2 and 1", len(sinks), len(resumes))
			}
			dead, alive := sinks[0].bytes(), sinks[1].bytes()
			if !bytes.HasPrefix(rec, dead) {
				t.Errorf("the killed server's %d bytes are not a prefix of the input", len(dead))
			}
			r := resumes[0]
			t.Logf("killed at input byte %d; resumed %+v; retries %d", len(dead), r, len(retries))
			if !slices.Contains(joins, r.From) {
				t.Errorf("resumed at %d, not where a cluster opening with a keyframe starts (%v)", r.From, joins)
			}
			if r.From < int64(len(dead)) || r.Session != 2 {
				t.Errorf("resumed at %d in session %d, want at or after the %d bytes of session 1, in session 2", r.From, r.Session, len(dead))
			}
			want := append(bytes.Clone(rec[:header]), rec[r.From:]...)
			if !bytes.Equal(alive, want) {
				t.Errorf("the new session got %d bytes, want the %d-byte header and the input from %d on (%d bytes)",
					len(alive), header, r.From, len(want))
			}
			if len(retries) == 0 || retries[0].Attempt != 0 {
				t.Errorf("retries %+v: the loss was not reported first", retries)
			}
			if sessions[len(sessions)-1] != 2 || sessions[0] != 1 {
				t.Errorf("messages went on sessions %v", sessions)
			}
			if <-sinks[1].closed != nil {
				t.Error("the new session did not end normally")
			}
		})
	}
}

// A server that stops the publisher with a code that says not to come back (the operator
// stopped it, another publisher took over) ends Publish with that close, with no new
// connection; one going away (shutting down) is connected to again.
func TestPublishReconnectFinal(t *testing.T) {
	for _, c := range []struct {
		reason error
		again  bool
	}{{ErrStopped, false}, {ErrTakenOver, false}, {ErrShutdown, true}} {
		t.Run(c.reason.Error(), func(t *testing.T) {
			rec, _, _ := firstSeconds(t, "h264-opus-kf1s.webm", 4*time.Second)
			var mu sync.Mutex
			opened := 0
			url := serve(t, &Ingest{Open: func(p *Publisher) (Session, error) {
				mu.Lock()
				defer mu.Unlock()
				opened++
				if opened == 1 {
					time.AfterFunc(time.Second, func() { p.Stop(c.reason) })
				}
				return newSink(), nil
			}}) + "/ingest/cam"
			err := Publish(context.Background(), url, bytes.NewReader(rec), PublishOptions{Realtime: true, Reconnect: 30 * time.Second})
			var ce *CloseError
			switch {
			case c.again && (err != nil || opened != 2):
				t.Errorf("Publish returned %v after %d sessions; want nil after 2", err, opened)
			case !c.again && (!errors.As(err, &ce) || opened != 1):
				t.Errorf("Publish returned %v after %d sessions; want the server's close after 1", err, opened)
			}
		})
	}
}

func TestRetryable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{errors.New("connection reset by peer"), true},
		{&CloseError{Code: int(ws.StatusGoingAway)}, true},
		{&CloseError{Code: int(ws.StatusInternalServerError)}, true},
		{&CloseError{Code: 1013}, true},
		{&CloseError{Code: int(StatusStopped)}, false},
		{&CloseError{Code: int(StatusTakenOver)}, false},
		{&CloseError{Code: int(ws.StatusUnsupportedData)}, false},
		{&CloseError{Code: int(ws.StatusPolicyViolation)}, false},
		{&CloseError{Code: int(ws.StatusMessageTooBig)}, false},
		{&RefusedError{Status: http.StatusServiceUnavailable}, true},
		{&RefusedError{Status: http.StatusConflict}, true},
		{&RefusedError{Status: http.StatusBadGateway}, true},
		{&RefusedError{Status: http.StatusUnauthorized}, false},
		{&RefusedError{Status: http.StatusForbidden}, false},
		{&RefusedError{Status: http.StatusBadRequest}, false},
		{nil, false},
	} {
		if got := Retryable(c.err); got != c.want {
			t.Errorf("Retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
