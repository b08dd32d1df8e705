package event

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultQueue      = 1024
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
)

// A Sink delivers events to one receiver. The Bus calls Deliver from one goroutine per
// sink, one event at a time, in order.
type Sink interface {
	// Deliver delivers one event; body is its JSON, without a newline. An error is
	// retried with backoff unless it is Permanent or ctx has ended.
	Deliver(ctx context.Context, e *Event, body []byte) error
	// String names the sink in logs and Stats.
	String() string
}

// Permanent marks err as one that retrying cannot cure: the event is given up.
func Permanent(err error) error { return permanentError{err} }

type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool { return errors.As(err, new(permanentError)) }

// Options configures a Bus.
type Options struct {
	// Queue bounds the events each sink may have waiting; 0 means DefaultQueue. Past
	// it, the oldest waiting event is dropped.
	Queue int
	// MinBackoff and MaxBackoff bound the wait before a failed delivery is tried again:
	// it doubles from the one to the other; 0 means the defaults.
	MinBackoff, MaxBackoff time.Duration
	// Log receives a warning when a sink starts failing and when it recovers, and each
	// event given up; nil discards them.
	Log *slog.Logger
}

// SinkStats counts what happened to one sink's events.
type SinkStats struct {
	Sink      string
	Delivered int64 // events delivered
	Failures  int64 // failed attempts, retries included
	Dropped   int64 // events dropped: the queue was full, or given up (Permanent, or at Close)
	Queued    int   // events waiting now, the one being delivered included
}

// Bus hands events to its sinks. Use New, then Emit; Close when done.
type Bus struct {
	o       Options
	log     *slog.Logger
	prefix  string
	seq     atomic.Int64
	emitted sync.Map // Type -> *atomic.Int64
	outs    []*out
	ctx     context.Context // deliveries; cancelled when Close gives up
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New starts a Bus delivering to sinks.
func New(o Options, sinks ...Sink) *Bus {
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bus{o: o, log: log, prefix: strconv.FormatInt(time.Now().UnixMilli(), 36) + "-"}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	for _, s := range sinks {
		q := &out{sink: s, wake: make(chan struct{}, 1)}
		b.outs = append(b.outs, q)
		b.wg.Go(func() { b.deliver(q) })
	}
	return b
}

// out is one sink's queue.
type out struct {
	sink Sink
	wake chan struct{}

	mu       sync.Mutex
	queue    []queued
	inFlight bool
	closed   bool
	st       SinkStats
}

type queued struct {
	e    *Event
	body []byte
}

// Emit gives e to every sink and returns at once. It sets e's ID, and its Time when
// zero (to now). Safe for concurrent use; an Emit after Close is dropped.
func (b *Bus) Emit(e Event) {
	e.ID = b.prefix + strconv.FormatInt(b.seq.Add(1), 10)
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC().Truncate(time.Millisecond)
	n, _ := b.emitted.LoadOrStore(e.Type, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	body, err := json.Marshal(&e)
	if err != nil { // cannot happen: every field encodes
		b.log.Error("cannot encode an event", "type", e.Type, "err", err)
		return
	}
	for _, q := range b.outs {
		q.mu.Lock()
		if q.closed {
			q.st.Dropped++
			q.mu.Unlock()
			continue
		}
		if len(q.queue) >= b.o.Queue {
			q.queue[0] = queued{}
			q.queue = q.queue[1:]
			q.st.Dropped++
			if q.st.Dropped&(q.st.Dropped-1) == 0 { // 1, 2, 4, 8...: a log line, not a flood
				b.log.Warn("event queue full: dropping the oldest event", "sink", q.sink.String(), "dropped", q.st.Dropped)
			}
		}
		q.queue = append(q.queue, queued{&e, body})
		q.mu.Unlock()
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// Emitted returns how many events of each type were emitted.
func (b *Bus) Emitted() map[Type]int64 {
	m := map[Type]int64{}
	b.emitted.Range(func(k, v any) bool {
		m[k.(Type)] = v.(*atomic.Int64).Load()
		return true
	})
	return m
}

// Stats returns each sink's counts, in the order the sinks were given.
func (b *Bus) Stats() []SinkStats {
	st := make([]SinkStats, len(b.outs))
	for i, q := range b.outs {
		q.mu.Lock()
		st[i] = q.st
		st[i].Sink = q.sink.String()
		st[i].Queued = len(q.queue)
		if q.inFlight {
			st[i].Queued++
		}
		q.mu.Unlock()
	}
	return st
}

// Close stops taking events and delivers those waiting, retrying as before, until ctx
// ends; then it gives up the rest and returns an error saying how many. It returns once
// no delivery is under way.
func (b *Bus) Close(ctx context.Context) error {
	for _, q := range b.outs {
		q.mu.Lock()
		q.closed = true
		q.mu.Unlock()
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		b.cancel()
		<-done
	}
	b.cancel()
	lost := 0
	for _, q := range b.outs {
		q.mu.Lock()
		lost += len(q.queue)
		q.st.Dropped += int64(len(q.queue))
		q.queue = nil
		q.mu.Unlock()
	}
	if lost > 0 {
		return fmt.Errorf("%d events not delivered", lost)
	}
	return nil
}

// deliver is q's goroutine: it delivers q's events in order until Close.
func (b *Bus) deliver(q *out) {
	failing := false
	for {
		q.mu.Lock()
		for len(q.queue) == 0 || b.ctx.Err() != nil {
			if q.closed || b.ctx.Err() != nil {
				q.mu.Unlock()
				return // Close counts what is left
			}
			q.mu.Unlock()
			<-q.wake
			q.mu.Lock()
		}
		next := q.queue[0]
		q.queue[0] = queued{}
		q.queue = q.queue[1:]
		q.inFlight = true
		q.mu.Unlock()

		backoff := b.o.MinBackoff
		for {
			err := q.sink.Deliver(b.ctx, next.e, next.body)
			q.mu.Lock()
			if err == nil {
				q.st.Delivered++
			} else {
				q.st.Failures++
			}
			q.mu.Unlock()
			if err == nil {
				if failing {
					b.log.Info("events delivered again", "sink", q.sink.String())
					failing = false
				}
				break
			}
			if IsPermanent(err) || b.ctx.Err() != nil {
				q.mu.Lock()
				q.st.Dropped++
				q.mu.Unlock()
				b.log.Warn("event not delivered: giving it up", "sink", q.sink.String(), "type", next.e.Type, "id", next.e.ID, "err", err)
				break
			}
			if !failing {
				b.log.Warn("cannot deliver events: retrying", "sink", q.sink.String(), "err", err)
				failing = true
			}
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-b.ctx.Done():
				t.Stop()
			}
			backoff = min(2*backoff, b.o.MaxBackoff)
		}
		q.mu.Lock()
		q.inFlight = false
		q.mu.Unlock()
	}
}
