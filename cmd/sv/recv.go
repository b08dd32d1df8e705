package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/svtool/sv/auth"
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
			listenFlag("127.0.0.1:8080", "SV_LISTEN"),
			&cli.StringSliceFlag{Name: "tee", Usage: "also write the stream to `FILE` (repeatable)"},
			tokenFlag,
			allowOriginFlag,
			allowHostFlag,
			&cli.StringFlag{Name: "max-message", Value: "16MiB", Usage: "largest message accepted", EnvVars: []string{"SV_MAX_MESSAGE"}},
			&cli.StringFlag{Name: "buffer", Value: "64MiB", Usage: "queue between the socket and stdout; past it, backpressure to the publisher", EnvVars: []string{"SV_BUFFER"}},
			&cli.DurationFlag{Name: "handshake-timeout", Value: ws.HandshakeTimeout, Usage: "drop a client that has not completed its upgrade request by then", EnvVars: []string{"SV_HANDSHAKE_TIMEOUT"}},
			&cli.DurationFlag{Name: "idle-timeout", Value: ws.DefaultIdleTimeout, Usage: "end a publisher that sends no whole message for this long (a message trickling in, or pings, do not count)", EnvVars: []string{"SV_IDLE_TIMEOUT"}},
			quietFlag,
			progressFlag,
			logFormatFlag,
		},
		Action: recvAction,
	}
}

func recvAction(c *cli.Context) error {
	e := envOf(c)
	if err := noArgs(c, ""); err != nil {
		return err
	}
	o, err := recvOptions(c)
	if err != nil {
		return err
	}
	if isTerminal(e.stdout) {
		return errTerminalStdout("sv dash or sv frames")
	}
	out, err := openOutputs(e.stdout, c.StringSlice("tee"))
	if err != nil {
		return err
	}
	ln, err := listen(c, "is another sv running? choose another address with --listen")
	if err != nil {
		out.abort()
		return err
	}
	addr := listenAddr(c.String("listen"), ln)
	warnOpen(c, addr, o.Authorize != nil, "--token")
	if !c.Bool("quiet") {
		infof(c, "waiting for a publisher on ws://%s/ingest/{stream}", addr)
	}
	var pub atomic.Pointer[ws.Publisher]
	o.OnPublisher = pub.Store
	stopProgress := recvProgress(c, &pub)
	defer stopProgress()
	err = ws.Receive(e.ctx, ln, out, o)
	stopProgress()
	return err
}

// recvOptions turns the flags into ws.ReceiveOptions; mistakes are usage errors.
func recvOptions(c *cli.Context) (ws.ReceiveOptions, error) {
	o := ws.ReceiveOptions{
		AllowOrigin:      ws.SameOrigin(c.StringSlice("allow-origin")...),
		AllowHost:        ws.Hosts(allowedHosts(c)...),
		IdleTimeout:      c.Duration("idle-timeout"),
		HandshakeTimeout: c.Duration("handshake-timeout"),
		Log:              logger(c),
	}
	var err error
	if o.MaxMessage, err = parseSize(c.String("max-message")); err != nil {
		return o, usagef("--max-message: %v", err)
	}
	if o.Buffer, err = parseSize(c.String("buffer")); err != nil {
		return o, usagef("--buffer: %v", err)
	}
	if token := c.String("token"); token != "" {
		keys := &auth.Keys{}
		keys.Add(auth.AnyStream, token, auth.Publish)
		o.Authorize = func(r *http.Request, stream string) bool {
			ok, _ := keys.Allow(r.Context(), auth.FromHTTP(r, auth.Publish, stream))
			return ok
		}
	}
	return o, nil
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

// Close flushes everything to stable storage: stdout when it is a file on disk, and the
// tee files, which it closes.
func (o *outputs) Close() error {
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
func recvProgress(c *cli.Context, pub *atomic.Pointer[ws.Publisher]) (stop func()) {
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
			if p := pub.Load(); p != nil {
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
