package queue

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// slowWriter takes a while for every write, as a busy FFmpeg would.
type slowWriter struct{ bytes.Buffer }

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(2 * time.Millisecond)
	return w.Buffer.Write(p)
}

func TestOnWrite(t *testing.T) {
	q := New(1 << 20)
	var waits []time.Duration
	q.OnWrite(func(d time.Duration) { waits = append(waits, d) })
	in := strings.Repeat("x", 3*BufSize)
	done := make(chan error, 1)
	go func() {
		_, err := q.ReadFrom(context.Background(), io.LimitReader(strings.NewReader(in), int64(len(in))))
		done <- err
	}()
	var out slowWriter
	if _, err := q.WriteTo(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if out.String() != in {
		t.Fatalf("wrote %d bytes, want %d", out.Len(), len(in))
	}
	if len(waits) != 3 {
		t.Fatalf("OnWrite called %d times, want once per chunk (3)", len(waits))
	}
	for _, d := range waits {
		if d < 2*time.Millisecond {
			t.Errorf("handoff %v does not include the write", d)
		}
	}
}
