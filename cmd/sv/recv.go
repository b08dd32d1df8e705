package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/svtool/sv/ws"
)

func recvCommand() *cli.Command {
	return &cli.Command{
		Name:      "recv",
		Usage:     "receive one published stream over a WebSocket and write it to stdout",
		UsageText: "sv recv [options] > stream.webm",
		Description: `Listens for one publisher at ws://LISTEN/ingest/{stream} (a browser's capture page, or
sv send) and writes its media bytes, in order and unchanged, to stdout and to every --tee
file. Exits 0 once the publisher has closed normally and everything is flushed.

Examples:
   sv recv > received.webm
   sv recv --tee received.webm | sv dash --out output/live/cam
   sv recv --listen 0.0.0.0:8080 --token "$SV_TOKEN" | sv frames > frames.jsonl
   while sv recv --tee "rec-$(date +%s).webm" > /dev/null; do :; done   # one publisher after another`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8080", Usage: "address to listen on", EnvVars: []string{"SV_LISTEN"}},
			&cli.StringSliceFlag{Name: "tee", Usage: "also write the stream to `FILE` (repeatable)"},
			&cli.StringFlag{Name: "token", Usage: "require this token from publishers (?token= or Authorization: Bearer)", EnvVars: []string{"SV_TOKEN"}},
			&cli.StringSliceFlag{Name: "allow-origin", Usage: "also accept publishing pages from `ORIGIN` (repeatable; * for any)", EnvVars: []string{"SV_ALLOW_ORIGIN"}},
			&cli.StringFlag{Name: "max-message", Value: "16MiB", Usage: "largest message accepted", EnvVars: []string{"SV_MAX_MESSAGE"}},
			&cli.StringFlag{Name: "buffer", Value: "64MiB", Usage: "queue between the socket and stdout; past it, backpressure to the publisher", EnvVars: []string{"SV_BUFFER"}},
			&cli.DurationFlag{Name: "handshake-timeout", Value: ws.HandshakeTimeout, Usage: "drop a client that has not completed its upgrade request by then", EnvVars: []string{"SV_HANDSHAKE_TIMEOUT"}},
			&cli.DurationFlag{Name: "idle-timeout", Value: ws.DefaultIdleTimeout, Usage: "end a publisher silent for this long", EnvVars: []string{"SV_IDLE_TIMEOUT"}},
			quietFlag,
		},
		Action: recvAction,
	}
}

func recvAction(c *cli.Context) error {
	e := envOf(c)
	if c.NArg() > 0 {
		return usagef("sv recv takes no arguments, got %q", c.Args().First())
	}
	maxMsg, err := parseSize(c.String("max-message"))
	if err != nil {
		return usagef("--max-message: %v", err)
	}
	buffer, err := parseSize(c.String("buffer"))
	if err != nil {
		return usagef("--buffer: %v", err)
	}
	if isTerminal(e.stdout) {
		return errTerminalStdout("sv dash or sv frames")
	}
	out, err := openOutputs(e.stdout, c.StringSlice("tee"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		out.abort()
		return withHint(fmt.Errorf("listen: %w", err), "is another sv running? choose another address with --listen")
	}
	log := logger(c)
	token := c.String("token")
	addr := listenAddr(c.String("listen"), ln)
	if host, _, _ := net.SplitHostPort(addr); !ws.IsLoopback(host) && token == "" {
		warnf(e.stderr, "listening on %s without a token: anyone who can reach it can publish (set --token)", addr)
	}
	if !c.Bool("quiet") {
		infof(e.stderr, "waiting for a publisher on ws://%s/ingest/{stream}", addr)
	}

	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	one := &singleSession{out: out, done: make(chan struct{})}
	in := &ws.Ingest{
		Open:        one.open,
		AllowOrigin: ws.SameOrigin(c.StringSlice("allow-origin")...),
		MaxMessage:  maxMsg,
		Buffer:      buffer,
		IdleTimeout: c.Duration("idle-timeout"),
		Log:         log,
		Context:     ctx,
	}
	if token != "" {
		in.Authorize = func(_, got string) bool { return ws.TokenEqual(got, token) }
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ingest/", func(w http.ResponseWriter, r *http.Request) {
		in.ServeHTTP(w, r)
		// Exit only once the session's handler is done, close frame sent and all.
		one.handlerDone()
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: c.Duration("handshake-timeout"), ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go srv.Serve(ln)
	defer srv.Close()

	stopProgress := recvProgress(c, one)
	defer stopProgress()

	done := one.done
	select {
	case <-done:
	case <-e.ctx.Done():
		// Interrupted: a live session is ended with 1001 and flushed before we return.
		if one.started() {
			<-done
		} else {
			out.abort()
		}
		return context.Canceled
	}
	stopProgress()
	return one.err
}

// singleSession lets one publisher through and refuses the others with 409.
type singleSession struct {
	out      *outputs
	mu       sync.Mutex
	pub      *ws.Publisher
	closed   bool
	finished bool          // done is closed
	done     chan struct{} // closed when the session has ended and its handler returned
	err      error
}

func (s *singleSession) open(p *ws.Publisher) (ws.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pub != nil {
		return nil, ws.ErrBusy
	}
	s.pub = p
	return s, nil
}

func (s *singleSession) started() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pub != nil
}

func (s *singleSession) publisher() *ws.Publisher {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pub
}

func (s *singleSession) Write(p []byte) (int, error) { return s.out.Write(p) }

func (s *singleSession) Close(cause error) error {
	serr := s.out.close()
	switch {
	case serr != nil:
		s.err = serr
	case cause != nil:
		s.err = fmt.Errorf("publisher %s: %w", s.pub.Stream, cause)
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return serr
}

// handlerDone is called when an ingest request has been handled: if it was the session's,
// sv recv is done.
func (s *singleSession) handlerDone() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && !s.finished {
		s.finished = true
		close(s.done)
	}
}

// outputs is stdout plus the tee files: every byte goes to each, in order.
type outputs struct {
	stdout io.Writer
	tees   []*ws.Recording
	w      io.Writer
}

func openOutputs(stdout io.Writer, tees []string) (*outputs, error) {
	o := &outputs{stdout: stdout}
	dsts := []io.Writer{stdout}
	for _, name := range tees {
		f, err := os.Create(name)
		if err != nil {
			o.abort()
			return nil, fmt.Errorf("tee: %w", err)
		}
		tee := ws.NewRecording(f, 0) // unbuffered: a tee may be a FIFO read live
		o.tees = append(o.tees, tee)
		dsts = append(dsts, tee)
	}
	o.w = io.MultiWriter(dsts...)
	return o, nil
}

func (o *outputs) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if errors.Is(err, syscall.EPIPE) {
		err = errors.New("stdout closed: the command reading it has exited")
	}
	return n, err
}

// close flushes everything to stable storage: stdout when it is a file on disk, and the
// tee files, which it closes.
func (o *outputs) close() error {
	var errs []error
	if f, ok := o.stdout.(*os.File); ok {
		if err := ws.NewRecording(f, 0).Sync(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, tee := range o.tees {
		errs = append(errs, tee.Close())
	}
	o.tees = nil
	return errors.Join(errs...)
}

// abort closes the tee files without a session: they stay empty.
func (o *outputs) abort() {
	for _, tee := range o.tees {
		tee.Close()
	}
	o.tees = nil
}

// recvProgress shows bytes, rate, messages and queue depth on a terminal.
func recvProgress(c *cli.Context, s *singleSession) (stop func()) {
	bar := newProgress(c, "waiting for a publisher")
	if !progressVisible(c) {
		return func() {} // no bar: no ticker waking the process four times a second
	}
	done := make(chan struct{})
	var once sync.Once
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if p := s.publisher(); p != nil {
				st := p.Stats()
				bar.Describe(fmt.Sprintf("%s %s · %d msgs · queue %s", p.Stream, st.Kind, st.Messages, formatSize(st.Queued)))
				bar.Set64(st.Written)
			}
		}
	}()
	return func() {
		once.Do(func() {
			close(done)
			bar.Finish()
		})
	}
}

// listenAddr is the address as the user gave it, with the port the listener really got (for
// --listen HOST:0), and without the dual-stack [::] that Go reports for 0.0.0.0.
func listenAddr(flag string, ln net.Listener) string {
	host, _, err := net.SplitHostPort(flag)
	if err != nil {
		return ln.Addr().String()
	}
	return net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
}
