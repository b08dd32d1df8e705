package ws

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/gorilla/websocket"
)

// BenchmarkIngestAllocs compares what receiving a message allocates in Ingest and in the
// gorilla/websocket read loop most Go receivers are written with (Upgrader, ReadMessage),
// over loopback with 16 KiB messages, about what a browser sends per 120 ms chunk. One op
// is one message; the publisher writes pre-masked frames and allocates nothing, so
// allocs/op and B/op are the receiver's.
func BenchmarkIngestAllocs(b *testing.B) {
	const size = 16 << 10
	b.Run("sv", func(b *testing.B) { benchIngest(b, size) })
	b.Run("gorilla", func(b *testing.B) {
		var got atomic.Int64
		ended := make(chan error, 1)
		url := serveGorilla(b, &got, ended) + "/ingest/bench"
		publishMessages(b, url, size)
		if err := <-ended; err != nil {
			b.Fatalf("session ended with %v", err)
		}
		if got.Load() != int64(b.N)*size {
			b.Fatalf("received %d bytes, want %d", got.Load(), b.N*size)
		}
	})
}

// publishMessages sends b.N binary messages of size bytes, the first a WebM header's start,
// then closes normally and waits for the server's close frame: by then every message has
// been handed on, by either server.
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

// serveGorilla runs a gorilla/websocket receiver on a loopback listener, written as
// gorilla's examples teach, that counts the bytes it writes to io.Discard; ended gets how
// the session ended. It returns the ws:// base URL.
func serveGorilla(b *testing.B, got *atomic.Int64, ended chan<- error) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	upgrader := websocket.Upgrader{}
	srv := &http.Server{ReadHeaderTimeout: HandshakeTimeout, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "ws://" + ln.Addr().String()
}
