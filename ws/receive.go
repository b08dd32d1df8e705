package ws

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/svtool/sv/stream"
)

// ReceiveOptions configures Receive. The fields it shares with Ingest mean the same.
type ReceiveOptions struct {
	Authorize   func(r *http.Request, stream string) bool
	AllowOrigin func(r *http.Request, origin string) bool
	// AllowHost: see Ingest.
	AllowHost   func(host string) bool
	MaxMessage  int64
	Buffer      int64
	IdleTimeout time.Duration
	// HandshakeTimeout drops a client that has not sent its upgrade request by then; 0
	// means HandshakeTimeout.
	HandshakeTimeout time.Duration
	Log              *slog.Logger
	// OnPublisher, if set, is called with the publisher once it is admitted, before its
	// first byte is written: its Stats show how the session goes.
	OnPublisher func(*Publisher)
}

// Receive serves one publisher on ln, at /ingest/{stream}: it writes the publisher's
// bytes, in order, to dst and refuses every other publisher with HTTP 409. When the
// session ends, dst is closed (an error there, such as a failed fsync, is reported to the
// publisher with 1011) and Receive returns once the publisher has been answered with its
// close frame: nil if the publisher closed normally, or why the session failed. When ctx
// ends, a live session is ended with 1001 and finished as if the publisher had closed,
// and Receive returns ctx's error. dst is closed in every case.
func Receive(ctx context.Context, ln net.Listener, dst io.WriteCloser, o ReceiveOptions) error {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	one := &single{dst: dst, onPublisher: o.OnPublisher, done: make(chan struct{})}
	in := &Ingest{
		Open:        one.open,
		Check:       one.check,
		Authorize:   o.Authorize,
		AllowOrigin: o.AllowOrigin,
		AllowHost:   o.AllowHost,
		MaxMessage:  o.MaxMessage,
		Buffer:      o.Buffer,
		IdleTimeout: o.IdleTimeout,
		Log:         log,
		Context:     ctx,
	}
	handshake := o.HandshakeTimeout
	if handshake <= 0 {
		handshake = HandshakeTimeout
	}
	mux := http.NewServeMux()
	mux.HandleFunc(stream.IngestPrefix, func(w http.ResponseWriter, r *http.Request) {
		in.ServeHTTP(w, r)
		// Return only once the session's handler is done, close frame sent and all.
		one.handlerDone()
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: handshake, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go srv.Serve(ln)
	defer srv.Close()

	select {
	case <-one.done:
		return one.err
	case <-ctx.Done():
	}
	// A live session is ended with 1001 and finished before we return.
	if !one.closeUnstarted() {
		<-one.done
	}
	return ctx.Err()
}

// single lets one publisher through and refuses the others with ErrBusy.
type single struct {
	dst         io.WriteCloser
	onPublisher func(*Publisher)

	mu       sync.Mutex
	pub      *Publisher
	closed   bool          // dst is closed
	finished bool          // done is closed
	done     chan struct{} // closed when the session has ended and its handler returned
	err      error
}

func (s *single) open(p *Publisher) (Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pub != nil || s.closed {
		return nil, ErrBusy
	}
	s.pub = p
	if s.onPublisher != nil {
		s.onPublisher(p)
	}
	return s, nil
}

// check reports whether open would admit a publisher now.
func (s *single) check(string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pub != nil || s.closed {
		return ErrBusy
	}
	return nil
}

// closeUnstarted closes dst if no publisher was admitted, and then admits none.
func (s *single) closeUnstarted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pub != nil {
		return false
	}
	s.closed = true
	s.dst.Close()
	return true
}

func (s *single) Write(p []byte) (int, error) { return s.dst.Write(p) }

func (s *single) Close(cause error) error {
	serr := s.dst.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case serr != nil:
		s.err = serr
	case cause != nil:
		s.err = fmt.Errorf("publisher %s: %w", s.pub.Stream, cause)
	}
	s.closed = true
	return serr
}

// handlerDone is called when an ingest request has been handled: if it was the session's,
// Receive is done.
func (s *single) handlerDone() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && s.pub != nil && !s.finished {
		s.finished = true
		close(s.done)
	}
}
