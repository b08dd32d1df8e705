package queue

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/svtool/sv/internal/testenv"
)

// Bytes come out in order and unchanged, whatever the sizes pushed.
func TestOrder(t *testing.T) {
	q := New(4 * BufSize)
	var want bytes.Buffer
	go func() {
		r := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 300; i++ {
			buf := GetBuf()
			n := 1 + r.IntN(BufSize)
			for j := 0; j < n; j++ {
				(*buf)[j] = byte(r.Uint32())
			}
			want.Write((*buf)[:n])
			if err := q.Push(context.Background(), buf, n); err != nil {
				t.Error(err)
				return
			}
		}
		q.CloseWrite()
	}()
	var got bytes.Buffer
	n, err := q.WriteTo(context.Background(), &got)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(want.Len()) || !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("got %d bytes, want %d, equal %v", n, want.Len(), bytes.Equal(got.Bytes(), want.Bytes()))
	}
	if s := q.Stats(); s.Pushed != n || s.Written != n || s.Queued != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// blockingWriter blocks every Write until released.
type blockingWriter struct {
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// A full queue blocks Push (backpressure) without losing anything, and never holds more
// than its limit.
func TestBackpressure(t *testing.T) {
	q := New(4 * BufSize)
	w := &blockingWriter{release: make(chan struct{})}
	done := make(chan error, 1)
	go func() { _, err := q.WriteTo(context.Background(), w); done <- err }()

	pushed := make(chan int, 100)
	go func() {
		for i := 0; i < 20; i++ {
			buf := GetBuf()
			(*buf)[0] = byte(i)
			if err := q.Push(context.Background(), buf, half+1); err != nil { // two never fit in a buffer
				t.Error(err)
			}
			pushed <- i
		}
		q.CloseWrite()
	}()
	// The writer holds one chunk; the queue fills with 4, however long that takes, and
	// holds no more.
	testenv.WaitFor(t, "the queue to fill", func() bool { return len(pushed) >= 4 })
	if n := len(pushed); n > 5 {
		t.Fatalf("%d pushes went through a queue of 4 buffers with a stalled writer", n)
	}
	close(w.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if b := w.buf.Bytes()[i*(half+1)]; b != byte(i) {
			t.Fatalf("chunk %d starts with %d", i, b)
		}
	}
	if hw := q.Stats().HighWater; hw < 4*(half+1) || hw > 5*(half+1) {
		t.Fatalf("high water %d bytes, want 4 or 5 chunks of %d", hw, half+1)
	}
}

const half = BufSize / 2

// While the consumer stalls, small pushes are packed into the waiting buffers: a queue of
// 4 buffers holds about 4 buffers' worth of 15 KB messages, not 4 messages, and gives
// them back in order.
func TestPacking(t *testing.T) {
	const msg = 15_000
	q := New(4 * BufSize)
	w := &blockingWriter{release: make(chan struct{})}
	done := make(chan error, 1)
	go func() { _, err := q.WriteTo(context.Background(), w); done <- err }()

	var want bytes.Buffer
	pushed := make(chan int, 100)
	go func() {
		for i := 0; i < 40; i++ {
			buf := GetBuf()
			for j := range msg {
				(*buf)[j] = byte(i + j)
			}
			want.Write((*buf)[:msg])
			if err := q.Push(context.Background(), buf, msg); err != nil {
				t.Error(err)
			}
			pushed <- i
		}
		q.CloseWrite()
	}()
	// The writer holds the first buffer (1 to 4 messages, as many as were packed before
	// it took it); 4 buffers of 4 messages each wait behind it, once the queue has filled.
	perBuf := BufSize / msg
	testenv.WaitFor(t, "the queue to fill", func() bool {
		return q.Stats().Queued >= int64(4*perBuf*msg) && len(pushed) >= 1+4*perBuf
	})
	if n := len(pushed); n < 1+4*perBuf || n > 5*perBuf {
		t.Errorf("%d pushes of %d bytes went through a queue of 4 buffers with a stalled writer, want %d to %d", n, msg, 1+4*perBuf, 5*perBuf)
	}
	if q.Stats().Queued != int64(4*perBuf*msg) {
		t.Errorf("queued %d bytes, want %d", q.Stats().Queued, 4*perBuf*msg)
	}
	close(w.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.buf.Bytes(), want.Bytes()) {
		t.Fatalf("wrote %d bytes, not the %d pushed in order", w.buf.Len(), want.Len())
	}
	if s := q.Stats(); s.Pushed != int64(want.Len()) || s.Written != s.Pushed || s.Queued != 0 {
		t.Fatalf("stats %+v", s)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

// A failing writer makes pushes fail with its error, so the producer stops.
func TestWriterFails(t *testing.T) {
	q := New(4 * BufSize)
	boom := errors.New("boom")
	done := make(chan error, 1)
	go func() { _, err := q.WriteTo(context.Background(), failWriter{boom}); done <- err }()
	if err := q.Push(context.Background(), GetBuf(), 10); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, boom) {
		t.Fatalf("WriteTo: %v", err)
	}
	if err := q.Push(context.Background(), GetBuf(), 10); !errors.Is(err, boom) {
		t.Fatalf("Push after the writer failed: %v, want boom", err)
	}
}

// Push gives up when its context is done, even on a full queue.
func TestPushCancel(t *testing.T) {
	q := New(BufSize)
	if err := q.Push(context.Background(), GetBuf(), BufSize); err != nil { // full: nothing packs
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := q.Push(ctx, GetBuf(), 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Push on a full queue: %v", err)
	}
	q.CloseWrite()
	if err := q.Push(context.Background(), GetBuf(), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Push after CloseWrite: %v", err)
	}
}

// Copy moves a stream through the queue unchanged, reporting the reader's error.
func TestCopy(t *testing.T) {
	src := make([]byte, 1<<20+123)
	for i := range src {
		src[i] = byte(i * 7)
	}
	var dst bytes.Buffer
	n, err := Copy(context.Background(), &dst, iotest.HalfReader(bytes.NewReader(src)), 2*BufSize)
	if err != nil || n != int64(len(src)) || !bytes.Equal(dst.Bytes(), src) {
		t.Fatalf("Copy: %d, %v", n, err)
	}
	boom := errors.New("read failed")
	dst.Reset()
	_, err = Copy(context.Background(), &dst, io.MultiReader(bytes.NewReader(src[:1000]), iotest.ErrReader(boom)), 2*BufSize)
	if !errors.Is(err, boom) || !bytes.Equal(dst.Bytes(), src[:1000]) {
		t.Fatalf("Copy of a failing reader: %v, %d bytes", err, dst.Len())
	}
}

// BenchmarkHandoff is the cost of moving one 64 KiB chunk from a producer goroutine to a
// consumer goroutine, and the median and worst wait of a chunk in the queue.
func BenchmarkHandoff(b *testing.B) {
	q := New(16 * BufSize)
	done := make(chan struct{})
	go func() { q.WriteTo(context.Background(), io.Discard); close(done) }()
	b.SetBytes(BufSize)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := q.Push(context.Background(), GetBuf(), BufSize); err != nil {
			b.Fatal(err)
		}
	}
	q.CloseWrite()
	<-done
	b.ReportMetric(float64(q.Stats().MaxWait.Microseconds()), "max-wait-µs")
}
