package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"
)

// Timeouts of NewHTTPServer and Serve.
const (
	// ReadHeaderTimeout drops a client that has not sent its request's headers by then.
	ReadHeaderTimeout = 10 * time.Second
	// IdleTimeout closes a kept-alive connection with no request for that long.
	IdleTimeout = 120 * time.Second
	// ShutdownGrace is how long Serve lets responses finish when its context ends.
	ShutdownGrace = 2 * time.Second
)

// NewHTTPServer returns an http.Server for h with timeouts fit for the open network:
// request headers within ReadHeaderTimeout, idle connections closed after IdleTimeout.
// It has no ReadTimeout or WriteTimeout, which would cut the long responses (events,
// segments in progress) short: requests have no body, and a Server's handlers bound
// each write with Options.WriteTimeout instead, so a client that stops reading is
// dropped without limiting how long a response may last.
func NewHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ConnContext:       withConn,
		// TLS handshake failures (a browser that does not trust a self-signed
		// certificate yet) and the like: not worth more than a debug line.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// connKey is the context key of a request's connection.
type connKey struct{}

// withConn is NewHTTPServer's ConnContext: it puts the connection in its requests'
// context, where a response that sends a file finds it to cork it.
func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// Serve serves h on ln, over TLS when tlsConfig is not nil, until ctx ends. It then
// cancels the requests still running (events streams never end on their own), waits up
// to ShutdownGrace for them and returns nil. It returns an error only when serving
// fails.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, tlsConfig *tls.Config, log *slog.Logger) error {
	reqCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	srv := NewHTTPServer(h, log)
	srv.BaseContext = func(net.Listener) context.Context { return reqCtx }
	srv.TLSConfig = tlsConfig

	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	cancel()
	sctx, stop := context.WithTimeout(context.Background(), ShutdownGrace)
	defer stop()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// deadlineWriter bounds every write of a response to a fixed time from its start,
// rather than the whole response: each write has between 7/8 of the timeout and all of
// it. The deadline is moved only when it has come nearer than that, so that the many
// small writes of a segment in progress do not each reset a timer.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	conn    *net.TCPConn // the request's connection, if NewHTTPServer's and plain TCP
	timeout time.Duration
	until   time.Time // the deadline set
}

// extend moves the deadline to a timeout from now, if it is nearer than 7/8 of that.
func (w *deadlineWriter) extend() {
	now := time.Now()
	if w.until.Sub(now) >= w.timeout-w.timeout/8 {
		return
	}
	w.until = now.Add(w.timeout)
	w.rc.SetWriteDeadline(w.until)
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.extend()
	return w.ResponseWriter.Write(p)
}

// FlushError is what http.ResponseController.Flush calls.
func (w *deadlineWriter) FlushError() error {
	w.extend()
	return w.rc.Flush()
}

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// sendChunk is how much of a file ReadFrom sends under one write deadline.
const sendChunk = 256 << 10

// ReadFrom keeps the response's own ReadFrom reachable for a file, which it sends with
// sendfile (http.ServeContent copies a file through it, as an *io.LimitedReader of the
// *os.File), a chunk at a time, each chunk bounded like a write: the kernel copies
// finished segments to the socket, never through the server's memory. The connection
// is corked meanwhile, so that the headers, which the response writes first, leave with
// the body: one frame fewer per response, which on loopback is a fifth of the server's
// CPU per segment. Anything else (a manifest from memory) is written through the
// response's buffer, where the headers and a small body leave in one write.
func (w *deadlineWriter) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok || !isFile(src) {
		return io.Copy(writerOnly{w}, src)
	}
	if w.conn != nil {
		cork(w.conn, true)
		defer cork(w.conn, false)
	}
	if w.Header().Get("Content-Length") != "" {
		// The headers now, rather than with the first 512 bytes of the body, which the
		// response would otherwise read through memory to sniff a type it has.
		w.rc.Flush()
	}
	// sendfile applies to an *os.File or one *io.LimitedReader of one: keep that shape.
	r, limit := src, int64(-1)
	lr, limited := src.(*io.LimitedReader)
	if limited {
		r, limit = lr.R, lr.N
	}
	var total int64
	for limit != 0 {
		n := int64(sendChunk)
		if limit > 0 {
			n = min(n, limit)
		}
		w.extend()
		m, err := rf.ReadFrom(&io.LimitedReader{R: r, N: n})
		total += m
		if limit > 0 {
			limit -= m
		}
		if limited {
			lr.N = limit
		}
		if err != nil || m < n {
			return total, err
		}
	}
	return total, nil
}

// isFile reports whether r is an *os.File, or an *io.LimitedReader of one: what
// sendfile sends.
func isFile(r io.Reader) bool {
	if lr, ok := r.(*io.LimitedReader); ok {
		r = lr.R
	}
	_, ok := r.(*os.File)
	return ok
}

// writerOnly hides every method of a writer but Write, so that io.Copy does not call
// ReadFrom again.
type writerOnly struct{ io.Writer }

// withWriteDeadlines wraps each response in a deadlineWriter.
func (s *Server) withWriteDeadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _ := r.Context().Value(connKey{}).(*net.TCPConn)
		next.ServeHTTP(&deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), conn: conn, timeout: s.o.WriteTimeout}, r)
	})
}
