// Package queue carries a media byte stream from one goroutine to another without copying
// and without letting a short stall of the consumer stall the producer: a bounded FIFO of
// pooled buffers. The producer fills a buffer from the pool (a socket read, a stdin read),
// pushes it, and the consumer writes it out and returns it to the pool. Bytes are never
// dropped or reordered; when the queue holds its limit, Push blocks, which is backpressure
// to whoever feeds the producer.
//
// Every stage of sv that moves bytes between a reader and a writer that may stall (the
// WebSocket ingest, the FFmpeg feeder) uses it, which is why it lives here and not in one
// of them.
package queue

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// BufSize is the size of every pooled buffer.
const BufSize = 64 << 10

var pool = sync.Pool{New: func() any { b := make([]byte, BufSize); return &b }}

// GetBuf takes a BufSize buffer from the pool. Hand it to Push, or give it back with PutBuf.
func GetBuf() *[]byte { return pool.Get().(*[]byte) }

// PutBuf returns a buffer taken with GetBuf to the pool.
func PutBuf(b *[]byte) { pool.Put(b) }

// ErrClosed is returned by Push after CloseWrite.
var ErrClosed = errors.New("queue: push after close")

type chunk struct {
	buf *[]byte
	n   int
	at  int64 // monotonic nanoseconds when pushed
}

// Queue is a bounded FIFO of pooled buffers between one producer and one consumer.
type Queue struct {
	limit int64

	mu       sync.Mutex
	items    []chunk // ring
	head     int
	count    int
	bytes    int64 // pooled capacity held: what the queue costs in memory
	closed   bool  // no more pushes
	failed   error // the consumer gave up: pushes fail with this
	notEmpty chan struct{}
	notFull  chan struct{}

	queued    atomic.Int64 // payload bytes queued, for progress
	highWater atomic.Int64
	pushed    atomic.Int64
	written   atomic.Int64
	lastWait  atomic.Int64
	maxWait   atomic.Int64

	onWrite func(time.Duration) // see OnWrite
}

// New returns a queue that holds at most limit bytes of buffers (at least one buffer).
func New(limit int64) *Queue {
	if limit < BufSize {
		limit = BufSize
	}
	return &Queue{
		limit:    limit,
		items:    make([]chunk, 64),
		notEmpty: make(chan struct{}, 1),
		notFull:  make(chan struct{}, 1),
	}
}

var epoch = time.Now()

func now() int64 { return int64(time.Since(epoch)) }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Push appends (*buf)[:n] to the queue, taking ownership of buf. It blocks while the queue is
// full, until ctx is done (then it returns ctx's error and buf goes back to the pool).
//
// While chunks wait, small pushes are packed: when the newest waiting chunk's buffer has
// room for (*buf)[:n], the bytes are copied there and buf goes back to the pool. The limit
// counts buffers' capacity, which is what the queue costs in memory; without packing, a
// backlog of a browser's 15 KB messages would fill only a quarter of it with media. A
// consumer that keeps up finds the queue empty at each push: nothing is copied then.
func (q *Queue) Push(ctx context.Context, buf *[]byte, n int) error {
	size := int64(cap(*buf))
	for {
		q.mu.Lock()
		if q.failed != nil || q.closed {
			err := q.failed
			if err == nil {
				err = ErrClosed
			}
			q.mu.Unlock()
			PutBuf(buf)
			return err
		}
		if q.count > 0 {
			if t := &q.items[(q.head+q.count-1)%len(q.items)]; n <= len(*t.buf)-t.n {
				copy((*t.buf)[t.n:], (*buf)[:n])
				t.n += n
				q.mu.Unlock()
				PutBuf(buf)
				q.pushed.Add(int64(n))
				q.addQueued(int64(n))
				return nil
			}
		}
		if q.count == 0 || q.bytes+size <= q.limit {
			if q.count == len(q.items) {
				q.grow()
			}
			q.items[(q.head+q.count)%len(q.items)] = chunk{buf: buf, n: n, at: now()}
			q.count++
			q.bytes += size
			q.mu.Unlock()
			q.addQueued(int64(n))
			q.pushed.Add(int64(n))
			signal(q.notEmpty)
			return nil
		}
		q.mu.Unlock()
		select {
		case <-q.notFull:
		case <-ctx.Done():
			PutBuf(buf)
			return ctx.Err()
		}
	}
}

func (q *Queue) addQueued(n int64) {
	if v := q.queued.Add(n); v > q.highWater.Load() {
		q.highWater.Store(v)
	}
}

func (q *Queue) grow() {
	items := make([]chunk, 2*len(q.items))
	for i := 0; i < q.count; i++ {
		items[i] = q.items[(q.head+i)%len(q.items)]
	}
	q.items, q.head = items, 0
}

// CloseWrite tells the consumer that nothing more will be pushed: WriteTo returns once the
// queue is drained.
func (q *Queue) CloseWrite() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	signal(q.notEmpty)
}

// fail records the consumer's error: later pushes return it and queued buffers are freed.
func (q *Queue) fail(err error) {
	q.mu.Lock()
	if q.failed == nil {
		q.failed = err
	}
	for q.count > 0 {
		c := q.items[q.head]
		q.items[q.head] = chunk{}
		q.head = (q.head + 1) % len(q.items)
		q.count--
		PutBuf(c.buf)
	}
	q.bytes = 0
	q.mu.Unlock()
	q.queued.Store(0)
	signal(q.notFull)
}

// pop returns the oldest chunk, blocking until there is one, or io.EOF once the queue is
// closed and empty.
func (q *Queue) pop(ctx context.Context) (chunk, error) {
	for {
		q.mu.Lock()
		if q.count > 0 {
			c := q.items[q.head]
			q.items[q.head] = chunk{}
			q.head = (q.head + 1) % len(q.items)
			q.count--
			q.bytes -= int64(cap(*c.buf))
			q.mu.Unlock()
			q.queued.Add(-int64(c.n))
			signal(q.notFull)
			return c, nil
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return chunk{}, io.EOF
		}
		select {
		case <-q.notEmpty:
		case <-ctx.Done():
			return chunk{}, ctx.Err()
		}
	}
}

// WriteTo writes every pushed chunk to w in order, returning each buffer to the pool, until
// CloseWrite (then it returns the count and nil once all is written), a write error, or ctx
// is done. After an error, pushes fail with it, so the producer stops too.
func (q *Queue) WriteTo(ctx context.Context, w io.Writer) (int64, error) {
	var total int64
	for {
		c, err := q.pop(ctx)
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			q.fail(err)
			return total, err
		}
		wait := now() - c.at
		q.lastWait.Store(wait)
		if wait > q.maxWait.Load() {
			q.maxWait.Store(wait)
		}
		n, err := w.Write((*c.buf)[:c.n])
		PutBuf(c.buf)
		if q.onWrite != nil {
			q.onWrite(time.Duration(now() - c.at))
		}
		total += int64(n)
		q.written.Add(int64(n))
		if err != nil {
			q.fail(err)
			return total, err
		}
	}
}

// OnWrite sets a function that WriteTo calls after writing each chunk with the time since
// the chunk was pushed: the whole handoff, queueing and the write itself, which is what a
// latency benchmark wants to see. Set it before WriteTo starts; f runs in WriteTo's
// goroutine and must be quick.
func (q *Queue) OnWrite(f func(handoff time.Duration)) { q.onWrite = f }

// Stats is a snapshot of a queue's counters, safe to take from any goroutine.
type Stats struct {
	Queued    int64         // payload bytes waiting
	HighWater int64         // most payload bytes ever waiting
	Pushed    int64         // payload bytes pushed
	Written   int64         // payload bytes written by WriteTo
	LastWait  time.Duration // how long the last chunk waited between Push and its write
	MaxWait   time.Duration // the longest any chunk waited
}

// Stats returns the queue's counters.
func (q *Queue) Stats() Stats {
	return Stats{
		Queued:    q.queued.Load(),
		HighWater: q.highWater.Load(),
		Pushed:    q.pushed.Load(),
		Written:   q.written.Load(),
		LastWait:  time.Duration(q.lastWait.Load()),
		MaxWait:   time.Duration(q.maxWait.Load()),
	}
}

// ReadFrom reads r into pooled buffers and pushes each read until r ends (then it closes the
// queue for writing and returns nil), a read error, or a push fails.
func (q *Queue) ReadFrom(ctx context.Context, r io.Reader) (int64, error) {
	var total int64
	defer q.CloseWrite()
	for {
		buf := GetBuf()
		n, err := r.Read(*buf)
		if n > 0 {
			total += int64(n)
			if perr := q.Push(ctx, buf, n); perr != nil {
				return total, perr
			}
		} else {
			PutBuf(buf)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Copy copies src to dst through a queue of at most limit bytes, one goroutine reading and
// one writing, so that a stalled dst does not stall reads from src until the queue is full.
// It returns the bytes written and the first error of either side.
func Copy(ctx context.Context, dst io.Writer, src io.Reader, limit int64) (int64, error) {
	q := New(limit)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rerr := make(chan error, 1)
	go func() {
		_, err := q.ReadFrom(ctx, src)
		rerr <- err
	}()
	n, werr := q.WriteTo(ctx, dst)
	if werr != nil {
		cancel()
		// The reader may be blocked in src.Read; its error no longer matters.
		return n, werr
	}
	return n, <-rerr
}
