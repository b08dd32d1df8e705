package bench

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/gorilla/websocket"

	svws "github.com/svtool/sv/ws"
)

// BenchmarkIngestAllocs compares what receiving a message allocates in sv's ws.Ingest and
// in the gorilla/websocket read loop most Go receivers are written with (Upgrader,
// ReadMessage), in this process, over loopback with 16 KiB messages, about what a browser
// sends per 120 ms chunk. One op is one message; the publisher writes pre-masked frames
// and allocates nothing, so allocs/op and B/op are the receiver's.
func BenchmarkIngestAllocs(b *testing.B) {
	const size = 16 << 10
	b.Run("sv", func(b *testing.B) {
		var got atomic.Int64
		s := &countSession{n: &got, closed: make(chan error, 1)}
		url := serveLoopback(b, &svws.Ingest{Open: func(*svws.Publisher) (svws.Session, error) { return s, nil }}) + "/ingest/bench"
		publishMessages(b, url, size)
		if err := <-s.closed; err != nil {
			b.Fatalf("session ended with %v", err)
		}
		if got.Load() != int64(b.N)*size {
			b.Fatalf("received %d bytes, want %d", got.Load(), b.N*size)
		}
	})
	b.Run("gorilla", func(b *testing.B) {
		var got atomic.Int64
		ended := make(chan error, 1)
		url := serveLoopback(b, gorillaHandler(&got, ended)) + "/ingest/bench"
		publishMessages(b, url, size)
		if err := <-ended; err != nil {
			b.Fatalf("session ended with %v", err)
		}
		if got.Load() != int64(b.N)*size {
			b.Fatalf("received %d bytes, want %d", got.Load(), b.N*size)
		}
	})
}

// countSession is a ws.Session that counts the bytes it is given.
type countSession struct {
	n      *atomic.Int64
	closed chan error
}

func (s *countSession) Write(p []byte) (int, error) { s.n.Add(int64(len(p))); return len(p), nil }
func (s *countSession) Close(err error) error       { s.closed <- err; return nil }

// serveLoopback serves h on a loopback listener until the benchmark ends, and returns its
// ws:// base URL.
func serveLoopback(b *testing.B, h http.Handler) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: svws.HandshakeTimeout}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "ws://" + ln.Addr().String()
}

// gorillaHandler is a gorilla/websocket receiver written as gorilla's examples teach, that
// counts the bytes it writes to io.Discard; ended gets how the session ended.
func gorillaHandler(got *atomic.Int64, ended chan<- error) http.Handler {
	upgrader := websocket.Upgrader{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			ended <- err
			return
		}
		defer conn.Close()
		for {
			kind, msg, err := conn.ReadMessage()
			if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				ended <- nil
				return
			}
			if err != nil {
				ended <- err
				return
			}
			if kind != websocket.BinaryMessage {
				ended <- errors.New("text message")
				return
			}
			n, _ := io.Discard.Write(msg)
			got.Add(int64(n))
		}
	})
}

// publishMessages sends b.N binary messages of size bytes, the first a WebM header's start,
// then closes normally and waits for the server's close frame: by then every message has
// been handed on, by either server.
func publishMessages(b *testing.B, url string, size int) {
	b.Helper()
	pub := dialIngest(b, url)
	payload := make([]byte, size)
	copy(payload, []byte{0x1A, 0x45, 0xDF, 0xA3})
	frame := clientFrame(ws.OpBinary, payload, [4]byte{9, 8, 7, 6})
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := pub.conn.Write(frame); err != nil {
			b.Fatal(err)
		}
	}
	pub.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := wsutil.WriteClientMessage(pub.conn, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "")); err != nil {
		b.Fatal(err)
	}
	for {
		h, err := ws.ReadHeader(pub.src)
		if err != nil {
			b.Fatalf("waiting for the close frame: %v", err)
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(pub.src, p); err != nil {
			b.Fatalf("waiting for the close frame: %v", err)
		}
		if h.OpCode == ws.OpClose {
			if code, _ := ws.ParseCloseFrameData(p); code != ws.StatusNormalClosure {
				b.Fatalf("close code %d", code)
			}
			break
		}
	}
	b.StopTimer()
}
