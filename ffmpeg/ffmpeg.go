// Package ffmpeg runs FFmpeg as a supervised child process: it finds the binary, adds the
// plumbing every caller needs (no banner, machine-readable progress on its own pipe, a tail
// of the log kept for error messages), and makes sure the child never outlives sv.
//
// The child gets SIGKILL if sv dies (Pdeathsig), runs in its own process group so that a
// Ctrl-C on the terminal reaches sv only and sv decides how FFmpeg stops, and is stopped
// gracefully when the context ends: its stdin is closed first (a muxer such as dash then
// writes its trailer and finalizes the manifest), then SIGINT, then SIGKILL. It is always
// waited for.
//
// A Process is one run. Restarting is a loop around Start with the same Config (the caller
// decides the backoff), which is why Config holds no state.
package ffmpeg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotFound is returned by Start and LookPath when the FFmpeg binary cannot be found.
var ErrNotFound = errors.New("ffmpeg not found")

// DefaultGrace is how long a context cancellation waits after closing FFmpeg's stdin, and
// again after SIGINT, before escalating.
const DefaultGrace = 2 * time.Second

// tailLines is how many log lines a Process keeps for Tail and for its exit error.
const tailLines = 20

// Config describes one FFmpeg run. The zero value of each optional field means "not used".
type Config struct {
	// Path is the FFmpeg binary: a path, or a name looked up on PATH. "" means "ffmpeg".
	Path string
	// Args are FFmpeg's arguments, inputs and outputs included. Start prepends
	// -hide_banner -nostats and, with Progress set, -progress pipe:3 -stats_period.
	Args []string
	// Stdin, if set, is copied to FFmpeg's stdin, which is closed when Stdin ends. If nil,
	// write the input through Process.Stdin.
	Stdin io.Reader
	// Stdout receives FFmpeg's stdout; nil discards it.
	Stdout io.Writer
	// Log receives FFmpeg's log (stderr): each line a debug record marked as FFmpeg's
	// (see IsLog), with the attributes the logger carries, such as the stage that runs
	// FFmpeg. nil discards the log; its last lines are kept for errors either way.
	Log *slog.Logger
	// Progress is called with each -progress report, from one goroutine, in order. It must
	// not block for long: FFmpeg waits when the pipe is full.
	Progress func(Progress)
	// ProgressPeriod is the -stats_period; 0 means 500 ms.
	ProgressPeriod time.Duration
	// Grace is how long a context cancellation waits for each step of a graceful stop
	// (stdin closed, then SIGINT) before the next; 0 means DefaultGrace.
	Grace time.Duration
	// Pipes is how many outputs FFmpeg writes to pipes of their own: output i is
	// PipeURL(i), and Process.Pipe(i) reads it. Each must be read to its end (FFmpeg
	// blocks on a full pipe) and then closed.
	Pipes int
	// Nice lowers FFmpeg's scheduling priority by this much below sv's (0..19), so that an
	// encoder busy on every core cannot delay sv's own I/O: the goroutine feeding FFmpeg,
	// a WebSocket ingest in the same process. It is applied as FFmpeg starts, before it
	// creates its encoding threads, which inherit it.
	Nice int
}

// Progress is one report of FFmpeg's -progress output. Fields FFmpeg reports as N/A are 0.
type Progress struct {
	Frame      int64         // frames output so far (first output's video)
	FPS        float64       // output frame rate
	OutTime    time.Duration // timestamp of the output, from out_time_us
	Speed      float64       // output time / wall time; 1 is real time
	TotalSize  int64         // bytes written to the first output so far
	DupFrames  int64         // frames duplicated to meet -r
	DropFrames int64         // frames dropped to meet -r
	End        bool          // the last report: progress=end
}

// Process is a running FFmpeg child.
type Process struct {
	cmd      *exec.Cmd
	stdin    *os.File // FFmpeg's stdin
	pipes    []*os.File
	ownStdin bool // the caller writes stdin through Stdin (Config.Stdin is nil)
	grace    time.Duration

	stdinOnce sync.Once

	mu       sync.Mutex
	copyErr  error // the Config.Stdin copier's read error
	tail     []string
	stopping bool // we sent SIGINT: exit status 255 is then a clean stop
	killed   bool // we sent SIGKILL
	ctxErr   error

	stopOnce sync.Once
	stopReq  chan time.Duration // Stop asks the supervisor to stop with this grace
	done     chan struct{}      // closed when the child is waited for
	err      error              // the result of Wait, valid after done
}

// ExitError is returned by Wait when FFmpeg failed.
type ExitError struct {
	State *os.ProcessState
	// Killed is true when sv had to kill FFmpeg because it did not stop in time.
	Killed bool
	// Tail holds FFmpeg's last log lines.
	Tail []string
}

func (e *ExitError) Error() string {
	var b strings.Builder
	switch {
	case e.Killed:
		b.WriteString("ffmpeg did not stop in time and was killed")
	case e.State != nil && e.State.Exited():
		fmt.Fprintf(&b, "ffmpeg exited with status %d", e.State.ExitCode())
	case e.State != nil:
		fmt.Fprintf(&b, "ffmpeg was killed: %v", e.State)
	default:
		b.WriteString("ffmpeg failed")
	}
	switch len(e.Tail) {
	case 0:
	case 1:
		b.WriteString(": ")
		b.WriteString(e.Tail[0])
	default:
		b.WriteString(":")
		for _, l := range e.Tail {
			b.WriteString("\n    ")
			b.WriteString(l)
		}
	}
	return b.String()
}

// LookPath returns the path of the FFmpeg binary named by path ("" = "ffmpeg"), or an error
// wrapping ErrNotFound.
func LookPath(path string) (string, error) {
	if path == "" {
		path = "ffmpeg"
	}
	p, err := exec.LookPath(path)
	if err != nil {
		return "", fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	return p, nil
}

// Start starts FFmpeg. When ctx ends, FFmpeg is stopped gracefully (see Stop) and Wait
// returns ctx's error if it stopped cleanly. The caller must call Wait or Stop.
func Start(ctx context.Context, cfg Config) (*Process, error) {
	path, err := LookPath(cfg.Path)
	if err != nil {
		return nil, err
	}
	args := []string{"-hide_banner", "-nostats"}
	var progR, progW *os.File
	if cfg.Progress != nil {
		period := cfg.ProgressPeriod
		if period <= 0 {
			period = 500 * time.Millisecond
		}
		args = append(args, "-progress", "pipe:3",
			"-stats_period", strconv.FormatFloat(period.Seconds(), 'f', -1, 64))
		if progR, progW, err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("start ffmpeg: %w", err)
		}
	}
	args = append(args, cfg.Args...)

	cmd := exec.Command(path, args...)
	cmd.SysProcAttr = sysProcAttr()
	cmd.Stdout = cfg.Stdout
	// fd 3 is the progress pipe (closed in the child without Progress), the outputs follow.
	cmd.ExtraFiles = []*os.File{progW}
	var pipeR, pipeW []*os.File
	for range cfg.Pipes {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(progR, progW)
			closeAll(pipeR...)
			closeAll(pipeW...)
			return nil, fmt.Errorf("start ffmpeg: %w", err)
		}
		pipeR, pipeW = append(pipeR, r), append(pipeW, w)
		cmd.ExtraFiles = append(cmd.ExtraFiles, w)
	}
	closePipes := func() { closeAll(pipeR...); closeAll(pipeW...) }
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		closeAll(progR, progW)
		closePipes()
		return nil, fmt.Errorf("start ffmpeg: %w", err)
	}
	cmd.Stdin = stdinR
	logR, logW, err := os.Pipe()
	if err != nil {
		closeAll(progR, progW, stdinR, stdinW)
		closePipes()
		return nil, fmt.Errorf("start ffmpeg: %w", err)
	}
	cmd.Stderr = logW
	if err := cmd.Start(); err != nil {
		closeAll(progR, progW, stdinR, stdinW, logR, logW)
		closePipes()
		return nil, fmt.Errorf("start ffmpeg: %w", err)
	}
	// The child holds its own copies now.
	closeAll(stdinR, logW, progW)
	closeAll(pipeW...)
	if cfg.Nice > 0 {
		renice(cmd.Process.Pid, cfg.Nice)
	}

	grace := cfg.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	p := &Process{
		cmd:      cmd,
		stdin:    stdinW,
		ownStdin: cfg.Stdin == nil,
		grace:    grace,
		pipes:    pipeR,
		stopReq:  make(chan time.Duration, 1),
		done:     make(chan struct{}),
	}

	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		p.readLog(logR, cfg.Log)
		logR.Close()
	}()
	if progR != nil {
		readers.Add(1)
		go func() {
			defer readers.Done()
			parseProgress(progR, cfg.Progress)
			progR.Close()
		}()
	}
	if cfg.Stdin != nil {
		// Not waited for: a Read that blocks forever must not block Wait. It ends at its
		// next Read or Write after FFmpeg exits.
		go p.copyStdin(cfg.Stdin)
	}

	exited := make(chan struct{})
	go p.supervise(ctx, exited)
	go func() {
		werr := cmd.Wait()
		close(exited)
		readers.Wait()
		p.err = p.result(werr)
		close(p.done)
	}()
	return p, nil
}

// PipeURL is the URL of output pipe i (see Config.Pipes) in FFmpeg's arguments.
func PipeURL(i int) string { return "pipe:" + strconv.Itoa(4+i) }

// Pipe returns the reading end of output pipe i (see Config.Pipes). It ends when FFmpeg
// closes the output or exits; the caller closes it.
func (p *Process) Pipe(i int) *os.File { return p.pipes[i] }

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

func (p *Process) copyStdin(r io.Reader) {
	_, err := io.Copy(p.stdin, r)
	if err != nil && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, os.ErrClosed) {
		p.mu.Lock()
		p.copyErr = fmt.Errorf("read ffmpeg input: %w", err)
		p.mu.Unlock()
	}
	p.closeStdin()
}

func (p *Process) closeStdin() { p.stdinOnce.Do(func() { p.stdin.Close() }) }

// supervise stops the child when ctx ends or Stop is called: close stdin, wait, SIGINT,
// wait, SIGKILL.
func (p *Process) supervise(ctx context.Context, exited <-chan struct{}) {
	var grace time.Duration
	select {
	case <-exited:
		return
	case <-ctx.Done():
		p.mu.Lock()
		p.ctxErr = ctx.Err()
		p.mu.Unlock()
		grace = p.grace
	case grace = <-p.stopReq:
	}
	p.closeStdin()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-exited:
		return
	case <-t.C:
	}
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	_ = p.cmd.Process.Signal(os.Interrupt)
	t.Reset(grace)
	select {
	case <-exited:
		return
	case <-t.C:
	}
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
	_ = p.cmd.Process.Kill()
}

func (p *Process) result(werr error) error {
	p.closeStdin() // a writer blocked on a full pipe gets an error now, not never
	p.mu.Lock()
	defer p.mu.Unlock()
	var exitErr *exec.ExitError
	if werr != nil && !errors.As(werr, &exitErr) {
		return fmt.Errorf("wait for ffmpeg: %w", werr)
	}
	state := p.cmd.ProcessState
	// FFmpeg exits with 255 after SIGINT once it has written its trailers: a clean stop.
	clean := state.Success() || (p.stopping && !p.killed && state.Exited() && state.ExitCode() == 255)
	var err error
	if !clean {
		err = &ExitError{State: state, Killed: p.killed, Tail: append([]string(nil), p.tail...)}
	}
	switch {
	case p.ctxErr != nil && err != nil:
		return fmt.Errorf("%w: %w", p.ctxErr, err)
	case p.ctxErr != nil:
		return p.ctxErr
	case err == nil && p.copyErr != nil:
		return p.copyErr
	}
	return err
}

// Stdin is FFmpeg's standard input when Config.Stdin is nil (nil otherwise). Closing it ends
// FFmpeg's input; writes fail once FFmpeg has exited.
func (p *Process) Stdin() io.WriteCloser {
	if !p.ownStdin {
		return nil
	}
	return stdinWriter{p}
}

type stdinWriter struct{ p *Process }

func (w stdinWriter) Write(b []byte) (int, error) { return w.p.stdin.Write(b) }
func (w stdinWriter) Close() error                { w.p.closeStdin(); return nil }

// Wait waits for FFmpeg to exit and returns nil if it succeeded or was stopped cleanly by
// Stop; an *ExitError (carrying the last log lines) if it failed; ctx's error, possibly
// wrapping an *ExitError, if it was stopped because ctx ended. Wait may be called several
// times and from several goroutines.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Stop ends FFmpeg: it closes stdin (FFmpeg finishes its input and writes its trailers),
// waits up to grace, sends SIGINT, waits up to grace again, then kills it. It returns
// what Wait returns.
func (p *Process) Stop(grace time.Duration) error {
	p.stopOnce.Do(func() {
		select {
		case p.stopReq <- grace:
		default:
		}
	})
	return p.Wait()
}

// Tail returns FFmpeg's last log lines (at most 20), oldest first.
func (p *Process) Tail() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.tail...)
}

// Pid is the process id of the child.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// maxLine bounds one log line in the tail; longer lines are cut.
const maxLine = 1024

// logFrom is the attribute that marks the records of FFmpeg's log lines.
const logFrom = "from"

// IsLog reports whether r is a line of FFmpeg's log, as a Process logs them (Config.Log):
// a handler can send those lines elsewhere than the other records.
func IsLog(r slog.Record) bool {
	is := false
	r.Attrs(func(a slog.Attr) bool {
		is = a.Key == logFrom && a.Value.Kind() == slog.KindString && a.Value.String() == "ffmpeg"
		return !is
	})
	return is
}

// readLog turns FFmpeg's log, line by line, into debug records of log and keeps the last
// lines. It reads to EOF whatever happens, so that FFmpeg never blocks on a full stderr
// pipe.
func (p *Process) readLog(r io.Reader, log *slog.Logger) {
	buf := make([]byte, 32<<10)
	var line []byte
	ctx := context.Background()
	flush := func() {
		if len(line) == 0 {
			return
		}
		if log != nil && log.Enabled(ctx, slog.LevelDebug) {
			log.Debug(string(line), logFrom, "ffmpeg")
		}
		s := strings.TrimRight(string(line), " \r")
		if len(s) > maxLine {
			s = s[:maxLine] + "..."
		}
		if s != "" {
			p.mu.Lock()
			if len(p.tail) == tailLines {
				copy(p.tail, p.tail[1:])
				p.tail = p.tail[:tailLines-1]
			}
			p.tail = append(p.tail, s)
			p.mu.Unlock()
		}
		line = line[:0]
	}
	for {
		n, err := r.Read(buf)
		for _, c := range buf[:n] {
			if c == '\n' || c == '\r' {
				flush()
				continue
			}
			if len(line) < 4*maxLine {
				line = append(line, c)
			}
		}
		if err != nil {
			flush()
			return
		}
	}
}
