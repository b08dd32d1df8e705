package ws

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/svtool/sv/media"
)

// closeBuffer is a receiving end that keeps its bytes and counts its closes.
type closeBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	closes int
}

func (b *closeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *closeBuffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closes++
	return nil
}

func receive(t *testing.T, ctx context.Context, dst *closeBuffer, o ReceiveOptions) (url string, done <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	go func() { ch <- Receive(ctx, ln, dst, o) }()
	return "ws://" + ln.Addr().String(), ch
}

// One publisher is let through, a second refused with 409, and Receive returns once the
// first has been answered with 1000, everything written and dst closed.
func TestReceive(t *testing.T) {
	rec := recording(t, "h264-opus-kf1s.webm")
	dst := &closeBuffer{}
	var pub *Publisher
	url, done := receive(t, context.Background(), dst, ReceiveOptions{OnPublisher: func(p *Publisher) { pub = p }})
	c := dialRaw(t, url+"/ingest/cam")
	c.frame(ws.OpBinary, true, rec[:5000])
	c.frame(ws.OpBinary, true, rec[5000:])

	_, _, _, err := ws.Dial(context.Background(), url+"/ingest/other")
	var status ws.StatusError
	if !errors.As(err, &status) || int(status) != http.StatusConflict {
		t.Errorf("second publisher: %v, want HTTP 409", err)
	}

	c.frame(ws.OpClose, true, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	if code, _ := c.closeCode(); code != ws.StatusNormalClosure {
		t.Errorf("close code %d, want 1000", code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Receive = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Receive has not returned")
	}
	if !bytes.Equal(dst.buf.Bytes(), rec) || dst.closes != 1 {
		t.Errorf("received %d bytes of %d, closed %d times", dst.buf.Len(), len(rec), dst.closes)
	}
	if pub == nil || pub.Stream != "cam" || pub.Stats().Bytes != int64(len(rec)) {
		t.Errorf("OnPublisher got %+v", pub)
	}
}

// A publisher refused after the upgrade ends Receive with its reason.
func TestReceiveNotMedia(t *testing.T) {
	dst := &closeBuffer{}
	url, done := receive(t, context.Background(), dst, ReceiveOptions{})
	c := dialRaw(t, url+"/ingest/cam")
	c.frame(ws.OpBinary, true, []byte("GIF89a...."))
	if code, _ := c.closeCode(); code != ws.StatusUnsupportedData {
		t.Errorf("close code %d, want 1003", code)
	}
	if err := <-done; !errors.Is(err, media.ErrNotMedia) || err.Error() != "publisher cam: not a WebM or MP4 stream" {
		t.Errorf("Receive = %v", err)
	}
}

// When ctx ends, a live session is ended with 1001 and finished before Receive returns;
// without one, Receive returns at once. dst is closed either way.
func TestReceiveCancel(t *testing.T) {
	rec := recording(t, "h264-opus-kf1s.webm")
	t.Run("live", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		dst := &closeBuffer{}
		url, done := receive(t, ctx, dst, ReceiveOptions{})
		c := dialRaw(t, url+"/ingest/cam")
		c.frame(ws.OpBinary, true, rec[:3000])
		time.Sleep(100 * time.Millisecond)
		cancel()
		if code, _ := c.closeCode(); code != ws.StatusGoingAway {
			t.Errorf("close code %d, want 1001", code)
		}
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Receive = %v", err)
		}
		if !bytes.Equal(dst.buf.Bytes(), rec[:3000]) || dst.closes != 1 {
			t.Errorf("received %d bytes of 3000, closed %d times", dst.buf.Len(), dst.closes)
		}
	})
	t.Run("idle", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		dst := &closeBuffer{}
		_, done := receive(t, ctx, dst, ReceiveOptions{})
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) || dst.closes != 1 {
			t.Errorf("Receive = %v, closed %d times", err, dst.closes)
		}
	})
}
