package live

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/svtool/sv/ffmpeg"
	"github.com/svtool/sv/internal/queue"
)

// Restart backoff: the first restart waits minBackoff, each next one twice as long up to
// maxBackoff; a run that lasted stableRun starts the count again.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 8 * time.Second
	stableRun  = 30 * time.Second
)

// errStageEnded fails the pushes into a run whose stage has returned.
var errStageEnded = errors.New("stage has ended")

// noWait is a done context: Push with it never blocks, it fails when the queue is full.
var noWait = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// A branch is one consumer of a session's stream: a stage function (dash.Run,
// frames.Run) reading its own bounded queue. A branch can lose its place in the stream:
// the packager when its FFmpeg dies, the analysis when it falls behind (a lossy branch
// never blocks the session: when its queue is full, its run is stopped and its backlog
// dropped). It then starts a new run of the stage, fed from the next cluster that opens
// with a keyframe, with the stream's header in front: a stream that every stage accepts
// from its start. A branch that is not lossy never loses a byte while its run lives:
// Push blocks, which is backpressure on the publisher.
type branch struct {
	name  string
	lossy bool
	limit int64
	// maxLag, for a lossy branch, is how long its input may wait in its queue before
	// the run counts as fallen behind, full or not; 0 means no bound.
	maxLag time.Duration
	// stage runs the n-th run (from 0) over in until in ends or ctx is done.
	stage func(ctx context.Context, in io.Reader, n int) error
	// ended, if set, is called after each run with the video frames pushed into it.
	ended func(n int, frames int64, skipped bool)
	// restarted, if set, is told of each restart after a death, with its cause; failed,
	// of the failure that ended the branch for good while its input went on; lost counts
	// the video frames the stage never got.
	restarted func(err error)
	failed    func(err error)
	lost      func(frames int64)
	ctx       context.Context
	log       *slog.Logger
	joinBuf   []byte // writer only

	mu      sync.Mutex
	cur     *run // the run taking input; nil between runs and after the last
	closing bool
	wake    chan struct{} // closed by closeInput: a backoff ends at once

	given      atomic.Int64 // stream bytes pushed (headers replayed at joins not counted)
	dropped    atomic.Int64 // of those, bytes dropped unread with the backlog of a run that fell behind
	lostBytes  atomic.Int64 // bytes the stage never got (not pushed, or dropped with a backlog)
	lostFrames atomic.Int64 // video frames never pushed
	restarts   atomic.Int64 // runs started again after their FFmpeg died
	skips      atomic.Int64 // runs stopped because they fell behind
	highWater  atomic.Int64 // the largest backlog of any run
	gaveUp     atomic.Bool  // failed told of the failure that ended the branch
}

// A run is one run of a branch's stage.
type run struct {
	n       int
	q       *queue.Queue
	ctx     context.Context
	cancel  context.CancelFunc
	joined  bool         // it has its header: the stream goes straight in (writer only)
	frames  atomic.Int64 // video frames pushed
	skipped atomic.Bool  // it fell behind and was stopped
}

func newBranch(name string, lossy bool, limit int64, ctx context.Context, log *slog.Logger) *branch {
	return &branch{name: name, lossy: lossy, limit: limit, ctx: ctx, log: log, wake: make(chan struct{})}
}

func (b *branch) newRun(n int) *run {
	r := &run{n: n, q: queue.New(b.limit), joined: n == 0}
	r.ctx, r.cancel = context.WithCancel(b.ctx)
	return r
}

// start makes the first run take input at once and runs the stage from another goroutine
// until the input ends; the branch's outcome is sent to done.
func (b *branch) start(done chan<- error) {
	r := b.newRun(0)
	b.cur = r
	go func() { done <- b.loop(r) }()
}

// loop runs the stage again and again until the input ends. It returns the error of the
// last run, or the error that ended the branch for good: a stage that failed other than
// by its FFmpeg dying.
func (b *branch) loop(r *run) error {
	backoff := minBackoff
	for {
		started := time.Now()
		err := b.runStage(r)
		b.mu.Lock()
		if b.cur == r {
			b.cur = nil
		}
		closing := b.closing
		b.mu.Unlock()
		if b.ended != nil {
			b.ended(r.n, r.frames.Load(), r.skipped.Load())
		}

		switch {
		case r.skipped.Load():
			b.skips.Add(1)
			// Fell behind: start again at once, at the next keyframe.
		case closing || b.ctx.Err() != nil:
			if r.n > 0 && r.q.Stats().Pushed == 0 {
				return nil // a run that never got its keyframe: the stream ended first
			}
			return err
		case !ffmpegDied(err, time.Since(started)):
			if err == nil {
				err = errors.New("stage ended before its input")
			}
			b.log.Error(b.name+" failed; the stream goes on without it", "err", err)
			b.gaveUp.Store(true)
			if b.failed != nil {
				b.failed(err)
			}
			return err
		default:
			if time.Since(started) >= stableRun {
				backoff = minBackoff
			}
			b.restarts.Add(1)
			if b.restarted != nil {
				b.restarted(err)
			}
			b.log.Warn(b.name+": FFmpeg died; restarting at the next keyframe", "err", err, "after", backoff)
			select {
			case <-time.After(backoff):
			case <-b.wake:
			case <-b.ctx.Done():
			}
			backoff = min(2*backoff, maxBackoff)
		}

		skipped := r.skipped.Load()
		r = b.newRun(r.n + 1)
		b.mu.Lock()
		if b.closing || b.ctx.Err() != nil {
			b.mu.Unlock()
			r.cancel()
			if skipped {
				return nil // the stream ended while skipping ahead: the counters tell
			}
			return err
		}
		b.cur = r
		b.mu.Unlock()
	}
}

// runStage runs the stage once over r's queue.
func (b *branch) runStage(r *run) error {
	defer r.cancel()
	pr, pw := io.Pipe()
	go func() {
		_, err := r.q.WriteTo(r.ctx, pw)
		pw.CloseWithError(err)
	}()
	err := b.stage(r.ctx, pr, r.n)
	pr.CloseWithError(errStageEnded) // pushes fail: the writer stops feeding this run
	b.raise(r.q.Stats().HighWater)
	return err
}

func (b *branch) raise(v int64) {
	for {
		old := b.highWater.Load()
		if v <= old || b.highWater.CompareAndSwap(old, v) {
			return
		}
	}
}

// ffmpegDied reports whether err says the stage's FFmpeg died mid-stream, the failure a
// new run can cure: killed by a signal (a crash, the OOM killer, an operator), or failed
// after working for a while. An FFmpeg that fails at once, or input the stage refuses,
// would only fail again.
func ffmpegDied(err error, ran time.Duration) bool {
	var e *ffmpeg.ExitError
	if !errors.As(err, &e) || e.Killed {
		return false
	}
	return ran >= workedFor || e.State != nil && !e.State.Exited()
}

// workedFor is how long a stage's FFmpeg must have run for its failure to be worth a
// restart.
const workedFor = 3 * time.Second

// feed gives the branch the stream's next bytes p, which c has just scanned. It is
// called from the session's writer goroutine only.
func (b *branch) feed(p []byte, c *cursor) {
	b.mu.Lock()
	r := b.cur
	b.mu.Unlock()
	if r == nil {
		b.lose(int64(len(p)), int64(len(c.frames)))
		return
	}
	if !r.joined {
		from, ok := c.since(c.joinAt)
		if c.joinAt < 0 || !ok {
			b.lose(int64(len(p)), int64(len(c.frames)))
			return
		}
		switch before := int64(len(p)) - int64(len(from)); {
		case before > 0:
			b.lose(before, int64(len(c.frames))-c.framesFrom(c.joinAt))
		case before < 0:
			// The cluster began in an earlier write, whose bytes were counted lost when
			// they went by: the stage gets them now. (Its first video frame, which made
			// the scanner report it, is in this write: no video frame was lost with them.)
			b.lostBytes.Add(before)
		}
		// One push of header and cluster: the header alone must not take a buffer of a
		// small queue.
		b.joinBuf = append(append(b.joinBuf[:0], c.header...), from...)
		if !b.push(r, b.joinBuf, len(c.header)) {
			b.loseFrames(c.framesFrom(c.joinAt))
			return
		}
		r.joined = true
		r.frames.Add(c.framesFrom(c.joinAt))
		b.log.Info(b.name+": rejoined the stream at a keyframe", "run", r.n, "at", c.joinTime.Round(time.Millisecond))
		return
	}
	if b.push(r, p, 0) {
		r.frames.Add(int64(len(c.frames)))
	} else {
		b.loseFrames(int64(len(c.frames)))
	}
}

// push queues p for r; its first replayed bytes are a header replayed for a join, the
// rest stream bytes, counted as given or lost. It reports false when r takes no more
// input: its stage has ended, or (lossy) it has fallen behind and is stopped.
func (b *branch) push(r *run, p []byte, replayed int) bool {
	ctx := r.ctx
	if b.lossy {
		ctx = noWait
	}
	for len(p) > 0 {
		buf := queue.GetBuf()
		n := copy(*buf, p)
		var err error
		if b.lossy && b.maxLag > 0 && r.q.Stats().LastWait > b.maxLag {
			queue.PutBuf(buf)
			err = context.Canceled // as behind as a full queue
		} else {
			err = r.q.Push(ctx, buf, n)
		}
		if err != nil {
			if b.lossy && errors.Is(err, context.Canceled) && r.ctx.Err() == nil {
				r.skipped.Store(true)
				st := r.q.Stats()
				b.raise(st.Queued)
				b.lostBytes.Add(st.Queued)
				b.dropped.Add(st.Queued)
				b.log.Warn(b.name+" fell behind the live stream: skipping ahead to the next keyframe",
					"run", r.n, "backlog", st.Queued)
				r.cancel()
			}
			b.lose(int64(max(0, len(p)-replayed)), 0)
			b.mu.Lock()
			if b.cur == r {
				b.cur = nil
			}
			b.mu.Unlock()
			return false
		}
		b.given.Add(int64(n - min(n, replayed)))
		replayed = max(0, replayed-n)
		p = p[n:]
	}
	return true
}

func (b *branch) lose(bytes, frames int64) {
	b.lostBytes.Add(bytes)
	b.loseFrames(frames)
}

// loseFrames counts video frames the stage never got or dropped unread.
func (b *branch) loseFrames(n int64) {
	if n <= 0 {
		return
	}
	b.lostFrames.Add(n)
	if b.lost != nil {
		b.lost(n)
	}
}

// closeInput tells the branch the stream has ended: the current run gets the end of its
// input, and no other run starts.
func (b *branch) closeInput() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return
	}
	b.closing = true
	close(b.wake)
	if b.cur != nil {
		b.cur.q.CloseWrite()
	}
}
