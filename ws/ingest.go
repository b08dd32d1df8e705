// Package ws is the WebSocket side of sv: Ingest, the endpoint that browsers (and sv send)
// publish a live media stream to; Receive, which serves one publisher into a writer; and
// Publish, which replays a recording to such an endpoint the way a browser's MediaRecorder
// does.
//
// # Wire protocol
//
// A publisher opens a WebSocket to /ingest/{stream}, where stream matches
// [A-Za-z0-9_-]{1,64}, optionally with ?token=T or an "Authorization: Bearer T" header. It
// then sends binary messages that are consecutive pieces of one media byte stream: WebM
// (Matroska) as Chrome and Firefox record it, or fragmented MP4 as Safari does. Message
// boundaries carry no meaning. The first message must begin with the stream's header (an
// EBML header, or an ftyp, styp or moof box). The publisher ends the stream with a close
// frame (1000); the server replies with its own close frame once every byte has been
// written and flushed, so a publisher that receives 1000 knows its stream is safe.
//
// Refusals before the upgrade are HTTP statuses: 400 a bad stream name, 401 a missing or
// wrong token, 403 an Origin that is not allowed, 409 a stream that already has a
// publisher, 426 a request that is not a WebSocket upgrade. After the upgrade they are close
// codes: 1003 a text message or a stream that is neither WebM nor MP4, 1009 a message over
// the size limit, 1008 a publisher silent for too long, 1001 the server shutting down, 1011
// the server failing to store the stream.
//
// # Reading without copying
//
// Frames are read with gobwas/ws's low-level reader straight from the upgraded connection
// into pooled 64 KiB buffers (unmasked in place), queued, written out by a second goroutine
// and returned to the pool: no allocation per message. A message is queued only once it has
// arrived whole and within the limits, so a refused message never reaches the output. The
// queue lets the socket keep reading while the consumer stalls; when it is full the reader
// stops reading, and TCP pushes back on the publisher.
package ws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/svtool/sv/internal/queue"
	"github.com/svtool/sv/media"
	"github.com/svtool/sv/stream"
)

// Defaults of Ingest's limits.
const (
	DefaultMaxMessage  = 16 << 20
	DefaultBuffer      = 64 << 20
	DefaultIdleTimeout = 30 * time.Second
	// DefaultMaxUnfinished bounds the bytes of unfinished messages all the publishers of
	// an Ingest may hold at once (Ingest.MaxUnfinished).
	DefaultMaxUnfinished = 64 << 20
	// HandshakeTimeout is how long a publisher may take to send its upgrade request; set it
	// as the http.Server's ReadHeaderTimeout.
	HandshakeTimeout = 10 * time.Second
)

// Errors that end a session. A Session's Close receives one of them, media.ErrNotMedia
// (the first message is neither WebM nor MP4), or another error describing what went
// wrong.
var (
	// ErrBusy is returned by Ingest.Open to refuse a second publisher with HTTP 409.
	ErrBusy = errors.New("stream already has a publisher")
	// ErrText: the publisher sent a text message.
	ErrText = errors.New("text messages are not accepted: send the media as binary messages")
	// ErrTooLarge: a message exceeded the size limit.
	ErrTooLarge = errors.New("message too large")
	// ErrIdle: the publisher sent no whole message for too long (bytes of one that does
	// not end, and pings, do not count).
	ErrIdle = errors.New("publisher silent for too long")
	// ErrUnfinished: the publishers' unfinished messages together held more than
	// Ingest.MaxUnfinished, and this one's took them past it.
	ErrUnfinished = errors.New("unfinished messages hold too much memory")
	// ErrBehind: the stream's media time fell too far behind the clock (a sink's
	// Publisher.Stop: sv all's Options.MaxBehind); closed with 1008.
	ErrBehind = errors.New("media time behind the clock")
	// ErrLost: the connection ended without a close frame.
	ErrLost = errors.New("publisher connection lost without a close frame")
	// ErrShutdown: the server is shutting down.
	ErrShutdown = errors.New("server shutting down")
	// ErrTakenOver: another publisher took the stream over (Publisher.Stop); the
	// publisher is closed with StatusTakenOver and should not reconnect.
	ErrTakenOver = errors.New("another publisher took over the stream")
	// ErrStopped: the server's operator stopped the publisher (Publisher.Stop; sv all's
	// API); it is closed with StatusStopped and should not reconnect.
	ErrStopped = errors.New("the server's operator stopped the stream")
)

// CloseError is a close frame with an abnormal code from the other side of a connection.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("closed with code %d", e.Code)
	}
	return fmt.Sprintf("closed with code %d: %s", e.Code, e.Reason)
}

// A Session receives one publisher's bytes, in order, from a single goroutine.
type Session interface {
	io.Writer
	// Close ends the session once every accepted byte has been written. err is nil when the
	// publisher closed normally. An error returned (a failed flush or fsync) is reported to
	// the publisher with close code 1011.
	Close(err error) error
}

// Ingest is the http.Handler publishers connect to, at /ingest/{stream}.
type Ingest struct {
	// Open is called for a publisher that passed every check, before the upgrade. It returns
	// where the session's bytes go, or ErrBusy (HTTP 409) or another error (HTTP 503).
	Open func(p *Publisher) (Session, error)
	// Check, if set, reports whether a publisher of stream would be admitted now, as Open
	// would answer (nil, ErrBusy or another error), without admitting one. It answers a
	// preflight (PreflightParam): a page asks before it connects, and learns why it
	// would be refused, which a browser's WebSocket never tells it.
	Check func(stream string) error
	// Authorize reports whether r may publish to stream (its token: auth.TokenFrom);
	// nil lets anyone publish. A refusal is a 401.
	Authorize func(r *http.Request, stream string) bool
	// AllowOrigin reports whether a browser page from origin may publish; nil means
	// SameOrigin.
	AllowOrigin func(r *http.Request, origin string) bool
	// AllowHost reports whether a publisher may reach the server by host, the name in
	// its request's Host header (without the port); nil allows any (see Hosts). It stops
	// DNS rebinding: a page on a name its owner points at this machine is of the same
	// origin as its requests, which the origin check alone lets through.
	AllowHost func(host string) bool
	// MaxMessage bounds one message (DefaultMaxMessage when 0).
	MaxMessage int64
	// Buffer bounds the queue between the socket and the session (DefaultBuffer when 0).
	Buffer int64
	// IdleTimeout ends a session whose publisher sends no whole message for this long
	// (DefaultIdleTimeout when 0): a message trickling in a byte at a time, or pings,
	// do not keep it alive.
	IdleTimeout time.Duration
	// MaxUnfinished bounds the bytes of unfinished messages all publishers hold at once
	// (DefaultMaxUnfinished when 0): a message is buffered whole before it is queued, and
	// publishers that each start a large one and never finish it would otherwise hold
	// MaxMessage each. The publisher whose message takes them past it is closed (1008).
	MaxUnfinished int64

	unfinished atomic.Int64
	// Log receives one line per session and refusal; nil discards them.
	Log *slog.Logger
	// Context, when set, ends live sessions with 1001 when it is done.
	Context context.Context
}

// PreflightParam, in the query of a plain GET (or HEAD) of /ingest/{stream}, asks
// whether a publisher could connect now with that request's token and origin: 204 if it
// could, otherwise the status and reason the WebSocket upgrade would be refused with (400
// a bad name, 401 a missing or wrong token, 403 an origin not allowed, 409 a stream
// already live, 503 full or stopping). The answer allows any origin to read it: it says
// nothing a refused upgrade would not, and a page refused for its origin must be able to
// read why.
const PreflightParam = "preflight"

// StatusTakenOver is the close code of a publisher stopped with ErrTakenOver, one of
// the codes RFC 6455 leaves to applications: sv's capture page stops rather than
// reconnecting when it gets it.
const StatusTakenOver ws.StatusCode = 4001

// StatusStopped is the close code of a publisher stopped with ErrStopped: the capture
// page stops rather than reconnecting.
const StatusStopped ws.StatusCode = 4002

// Publisher is one publishing connection. Its counters may be read from any goroutine.
type Publisher struct {
	Stream  string
	Remote  string
	Request *http.Request

	stop atomic.Pointer[func(error)] // set while the session runs

	kind     atomic.Int32
	bytes    atomic.Int64
	messages atomic.Int64
	started  time.Time
	q        *queue.Queue
}

// PublisherStats is a snapshot of a publisher's counters.
type PublisherStats struct {
	Kind      media.Kind
	Bytes     int64 // accepted bytes
	Messages  int64 // accepted messages
	Queued    int64 // bytes waiting for the session
	HighWater int64 // most bytes ever waiting
	Written   int64 // bytes the session took
	Duration  time.Duration
}

// Stop ends the publisher's session as if it had closed, except that the publisher is
// told reason (ErrTakenOver, ErrShutdown) in the close frame. Every byte already accepted
// is still written. It does nothing once the session has ended or before it has begun.
func (p *Publisher) Stop(reason error) {
	if f := p.stop.Load(); f != nil {
		(*f)(reason)
	}
}

// Stats returns the publisher's counters.
func (p *Publisher) Stats() PublisherStats {
	qs := p.q.Stats()
	return PublisherStats{
		Kind:      media.Kind(p.kind.Load()),
		Bytes:     p.bytes.Load(),
		Messages:  p.messages.Load(),
		Queued:    qs.Queued,
		HighWater: qs.HighWater,
		Written:   qs.Written,
		Duration:  time.Since(p.started),
	}
}

// SameOrigin allows a page served by the same host as the request, pages on loopback
// addresses, and any origin listed in extra (exact match, or "*" for all).
func SameOrigin(extra ...string) func(r *http.Request, origin string) bool {
	return func(r *http.Request, origin string) bool {
		for _, o := range extra {
			if o == "*" || strings.EqualFold(o, origin) {
				return true
			}
		}
		u, err := url.Parse(origin)
		if err != nil || u.Host == "" {
			return false
		}
		if strings.EqualFold(u.Host, r.Host) {
			return true
		}
		return IsLoopback(u.Hostname())
	}
}

// Hosts returns an Ingest.AllowHost that accepts loopback names and addresses
// (IsLoopback) and the names and addresses in hosts, compared without case; "*" accepts
// any.
func Hosts(hosts ...string) func(host string) bool {
	set := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		set[strings.ToLower(strings.Trim(h, "[]"))] = true
	}
	return func(host string) bool {
		host = strings.ToLower(strings.Trim(host, "[]"))
		return set["*"] || set[host] || IsLoopback(host)
	}
}

// HostName is the name in a Host header: without its port, and an IPv6 address without
// its brackets.
func HostName(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// IsLoopback reports whether host names this machine: localhost or a loopback address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func (in *Ingest) buffer() int64 {
	if in.Buffer <= 0 {
		return DefaultBuffer
	}
	return in.Buffer
}

func (in *Ingest) log() *slog.Logger {
	if in.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return in.Log
}

func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// ServeHTTP checks and upgrades a publisher, then runs its session until it ends.
func (in *Ingest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, stream.IngestPrefix)
	log := in.log().With("remote", r.RemoteAddr, "stream", name)
	if !ok || !stream.Valid(name) {
		log.Warn("refused publisher", "status", http.StatusBadRequest, "reason", "bad stream name")
		refuse(w, http.StatusBadRequest, "stream names are "+stream.NameRule+", at "+stream.IngestPrefix+stream.Placeholder)
		return
	}
	if in.AllowHost != nil && !in.AllowHost(HostName(r.Host)) {
		log.Warn("refused publisher", "status", http.StatusMisdirectedRequest, "host", r.Host)
		refuse(w, http.StatusMisdirectedRequest, "this server does not answer to the name "+HostName(r.Host))
		return
	}
	preflight := (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.URL.Query().Has(PreflightParam)
	if preflight {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Cache-Control", "no-store")
	} else if r.Method != http.MethodGet || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		w.Header().Set("Upgrade", "websocket")
		refuse(w, http.StatusUpgradeRequired, "this is a WebSocket endpoint: publish with a WebSocket client")
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		allow := in.AllowOrigin
		if allow == nil {
			allow = SameOrigin()
		}
		if !allow(r, origin) {
			if !preflight {
				log.Warn("refused publisher", "status", http.StatusForbidden, "origin", origin)
			}
			refuse(w, http.StatusForbidden, "origin "+origin+" may not publish here")
			return
		}
	}
	if in.Authorize != nil && !in.Authorize(r, name) {
		if !preflight {
			log.Warn("refused publisher", "status", http.StatusUnauthorized, "reason", "missing or wrong token")
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="sv"`)
		refuse(w, http.StatusUnauthorized, "a valid token is required to publish")
		return
	}
	if preflight {
		in.preflight(w, name)
		return
	}
	p := &Publisher{Stream: name, Remote: r.RemoteAddr, Request: r, started: time.Now(), q: queue.New(in.buffer())}
	sess, err := in.Open(p)
	if errors.Is(err, ErrBusy) {
		log.Warn("refused publisher", "status", http.StatusConflict, "reason", err)
		refuse(w, http.StatusConflict, "stream "+name+" already has a publisher")
		return
	}
	if err != nil {
		log.Warn("refused publisher", "status", http.StatusServiceUnavailable, "err", err)
		w.Header().Set("Retry-After", "5")
		refuse(w, http.StatusServiceUnavailable, "cannot publish: "+err.Error())
		return
	}
	conn, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		log.Warn("upgrade failed", "err", err)
		sess.Close(fmt.Errorf("websocket upgrade: %w", err))
		return
	}
	log.Info("publisher connected")
	err = in.session(p, conn, rw.Reader, sess)
	st := p.Stats()
	if err != nil {
		log.Warn("publisher session ended", "err", err, "bytes", st.Bytes, "messages", st.Messages)
	} else {
		log.Info("publisher closed", "bytes", st.Bytes, "messages", st.Messages)
	}
}

// preflight answers whether a publisher of stream would be admitted now, all other
// checks passed.
func (in *Ingest) preflight(w http.ResponseWriter, name string) {
	var err error
	if in.Check != nil {
		err = in.Check(name)
	}
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, ErrBusy):
		refuse(w, http.StatusConflict, "stream "+name+" already has a publisher")
	default:
		w.Header().Set("Retry-After", "5")
		refuse(w, http.StatusServiceUnavailable, "cannot publish: "+err.Error())
	}
}

// session reads one publisher's messages until it closes, fails or is refused, and returns
// what Session.Close returned.
func (in *Ingest) session(p *Publisher, conn net.Conn, src io.Reader, sess Session) error {
	defer conn.Close()
	limit := in.MaxMessage
	if limit <= 0 {
		limit = DefaultMaxMessage
	}
	idle := in.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	if p.q == nil {
		p.q = queue.New(in.buffer())
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The writer drains the queue into the session. When it fails, or the server shuts
	// down, the reader is woken from its blocking read by an expired deadline.
	var stopReason atomic.Value
	wake := func(reason error) {
		stopReason.CompareAndSwap(nil, reason)
		conn.SetReadDeadline(time.Now())
	}
	written := make(chan error, 1)
	go func() {
		_, err := p.q.WriteTo(ctx, sess)
		if err != nil {
			wake(fmt.Errorf("cannot store the stream: %w", err))
		}
		written <- err
	}()
	if in.Context != nil {
		stop := context.AfterFunc(in.Context, func() { wake(ErrShutdown) })
		defer stop()
	}
	p.stop.Store(&wake)
	defer p.stop.Store(nil)

	unfinished := in.MaxUnfinished
	if unfinished <= 0 {
		unfinished = DefaultMaxUnfinished
	}
	r := &reader{
		p:           p,
		conn:        conn,
		idle:        idle,
		limit:       limit,
		lastMessage: time.Now(),
		unfinished:  &in.unfinished,
		maxHeld:     unfinished,
		rd: wsutil.Reader{
			Source:         src,
			State:          ws.StateServerSide,
			MaxMessageSize: limit,
			OnIntermediate: wsutil.ControlFrameHandler(conn, ws.StateServerSide),
		},
		stop: func() error {
			if v := stopReason.Load(); v != nil {
				return v.(error)
			}
			return nil
		},
	}
	cause := r.run()
	r.releaseHeld()

	// Every accepted byte is written before the session is closed and the publisher told.
	p.q.CloseWrite()
	werr := <-written
	if cause == nil && werr != nil {
		cause = fmt.Errorf("cannot store the stream: %w", werr)
	}
	serr := sess.Close(cause)
	code, reason := closeCode(cause, serr)
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if !r.peerGone {
		// One write for header and payload: a process that exits right after the session
		// must not leave the publisher a close frame without its code.
		if b, err := ws.CompileFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(code, reason))); err == nil {
			if _, err := conn.Write(b); err == nil {
				awaitCloseReply(conn, &r.rd)
			}
		}
	}
	if serr != nil {
		return serr
	}
	return cause
}

// closeLinger bounds how long a session waits for the publisher's reply to its close frame.
const closeLinger = 2 * time.Second

// awaitCloseReply reads what the publisher still sends, discarding it, until its close
// frame or closeLinger. Closing a socket with unread bytes resets the connection, and a
// publisher still sending media when the close frame arrived would lose that frame, and
// the code saying why, to the reset. It goes on with the session's frame reader, which
// may have stopped in the middle of a frame (a shutdown wakes it with a deadline): read
// from the socket alone, the rest of that frame would be taken for a header.
func awaitCloseReply(conn net.Conn, rd *wsutil.Reader) {
	conn.SetReadDeadline(time.Now().Add(closeLinger))
	rd.MaxMessageSize = 0 // what is discarded may be as large as it likes
	for {
		if err := rd.Discard(); err != nil {
			return
		}
		h, err := rd.NextFrame()
		if err != nil || h.OpCode == ws.OpClose {
			return
		}
	}
}

func closeCode(cause, serr error) (ws.StatusCode, string) {
	var ce *CloseError
	switch {
	case serr != nil:
		return ws.StatusInternalServerError, truncate(serr.Error())
	case cause == nil:
		return ws.StatusNormalClosure, ""
	case errors.Is(cause, media.ErrNotMedia), errors.Is(cause, ErrText):
		return ws.StatusUnsupportedData, truncate(cause.Error())
	case errors.Is(cause, ErrTooLarge):
		return ws.StatusMessageTooBig, truncate(cause.Error())
	case errors.Is(cause, ErrIdle), errors.Is(cause, ErrUnfinished), errors.Is(cause, ErrBehind):
		return ws.StatusPolicyViolation, truncate(cause.Error())
	case errors.Is(cause, ErrShutdown):
		return ws.StatusGoingAway, truncate(cause.Error())
	case errors.Is(cause, ErrTakenOver):
		return StatusTakenOver, truncate(cause.Error())
	case errors.Is(cause, ErrStopped):
		return StatusStopped, truncate(cause.Error())
	case errors.As(cause, &ce):
		return ws.StatusNormalClosure, ""
	}
	return ws.StatusInternalServerError, truncate(cause.Error())
}

// truncate keeps a close reason within the 123 bytes a close frame allows.
func truncate(s string) string {
	if len(s) <= 123 {
		return s
	}
	s = s[:123]
	for len(s) > 0 && s[len(s)-1]&0xC0 == 0x80 { // do not cut a UTF-8 sequence
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] >= 0xC0 {
		s = s[:len(s)-1]
	}
	return s
}

// reader is the read loop of one session.
type reader struct {
	p       *Publisher
	conn    net.Conn
	rd      wsutil.Reader
	idle    time.Duration
	limit   int64
	stop    func() error
	pending []*[]byte // buffers of the message being read
	sizes   []int
	first   bool // the container is known: messages are queued as they arrive
	// Until then (a browser's first message can be a single byte), whole messages are
	// held, not queued, and their first bytes gathered to sniff: a stream that proves
	// not to be media must leave nothing behind.
	held      []*[]byte
	heldSizes []int
	head      [sniffLen]byte
	headN     int
	peerGone  bool // the peer closed or vanished: no close frame to send
	ctl       [125]byte
	// lastMessage is when the last whole message ended (or the session began): the idle
	// timeout runs from it.
	lastMessage time.Time
	// holding is the bytes of pending and held; unfinished, what every reader of the
	// Ingest holds, up to maxHeld.
	holding    int64
	unfinished *atomic.Int64
	maxHeld    int64
}

// hold counts n more bytes of an unfinished message, and fails when they take every
// publisher's past the bound.
func (r *reader) hold(n int) error {
	r.holding += int64(n)
	if r.unfinished.Add(int64(n)) > r.maxHeld {
		return fmt.Errorf("%w: over %d bytes across publishers", ErrUnfinished, r.maxHeld)
	}
	return nil
}

// unhold counts n bytes as no longer held.
func (r *reader) unhold(n int) {
	r.holding -= int64(n)
	r.unfinished.Add(-int64(n))
}

// run returns nil when the publisher closed normally, or why the session ended.
func (r *reader) run() error {
	for {
		if err := r.deadline(); err != nil {
			return err
		}
		hdr, err := r.rd.NextFrame()
		if err != nil {
			return r.readError(err)
		}
		switch hdr.OpCode {
		case ws.OpBinary:
			if err := r.message(); err != nil {
				return err
			}
		case ws.OpText:
			return ErrText
		case ws.OpClose:
			err := r.closed(hdr)
			if err == nil && len(r.held) > 0 {
				err = media.ErrNotMedia // it ended before it could be told apart from media
			}
			return err
		case ws.OpPing:
			n, err := io.ReadFull(&r.rd, r.ctl[:hdr.Length])
			if err != nil && err != io.EOF {
				return r.readError(err)
			}
			r.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := ws.WriteFrame(r.conn, ws.NewPongFrame(r.ctl[:n])); err != nil {
				r.peerGone = true
				return fmt.Errorf("write pong: %w", err)
			}
		default: // pong, or a continuation with no message: ignore its payload
			if err := r.rd.Discard(); err != nil {
				return r.readError(err)
			}
		}
	}
}

// message reads one binary message into pooled buffers and queues it once it is whole.
func (r *reader) message() error {
	defer r.release()
	var size int
	for end := false; !end; {
		buf := queue.GetBuf()
		n := 0
		// Fill the buffer, or stop at the end of the message: Read returns io.EOF exactly
		// there, and io.ErrUnexpectedEOF when the connection ends inside a frame.
		for n < len(*buf) {
			if err := r.deadline(); err != nil {
				queue.PutBuf(buf)
				return err
			}
			m, err := r.rd.Read((*buf)[n:])
			n += m
			if errors.Is(err, io.EOF) {
				end = true
				break
			}
			if err != nil {
				queue.PutBuf(buf)
				return r.readError(err)
			}
		}
		if n == 0 {
			queue.PutBuf(buf)
			continue
		}
		r.pending = append(r.pending, buf)
		r.sizes = append(r.sizes, n)
		size += n
		if err := r.hold(n); err != nil {
			return err
		}
	}
	r.lastMessage = time.Now()
	if size == 0 {
		return nil
	}
	if !r.first {
		return r.sniff(size)
	}
	return r.queue(r.pending, r.sizes, size, 1)
}

// sniffLen is how many bytes tell WebM from MP4 (media.Sniff).
const sniffLen = 8

// sniff holds the message just read until the stream's first bytes show its container,
// then queues every held message; it refuses a stream that shows none.
func (r *reader) sniff(size int) error {
	for i, buf := range r.pending {
		r.headN += copy(r.head[r.headN:], (*buf)[:r.sizes[i]])
		r.held = append(r.held, buf)
		r.heldSizes = append(r.heldSizes, r.sizes[i])
		r.pending[i] = nil
	}
	r.pending, r.sizes = r.pending[:0], r.sizes[:0]
	kind := media.Sniff(r.head[:r.headN])
	if kind == media.Unknown {
		if r.headN < sniffLen {
			return nil // wait for more
		}
		r.releaseHeld()
		return media.ErrNotMedia
	}
	r.p.kind.Store(int32(kind))
	r.first = true
	total := 0
	for _, n := range r.heldSizes {
		total += n
	}
	err := r.queue(r.held, r.heldSizes, total, len(r.held))
	r.releaseHeld()
	return err
}

// queue pushes whole messages' buffers (taking them out of bufs) and counts them.
func (r *reader) queue(bufs []*[]byte, sizes []int, size, messages int) error {
	ctx := context.Background()
	for i, buf := range bufs {
		bufs[i] = nil
		if err := r.p.q.Push(ctx, buf, sizes[i]); err != nil {
			return fmt.Errorf("cannot store the stream: %w", err)
		}
	}
	r.unhold(size)
	r.p.bytes.Add(int64(size))
	r.p.messages.Add(int64(messages))
	return nil
}

// releaseHeld returns the held buffers that were not queued to the pool.
func (r *reader) releaseHeld() {
	for i, buf := range r.held {
		if buf != nil {
			queue.PutBuf(buf)
			r.held[i] = nil
			r.unhold(r.heldSizes[i])
		}
	}
	r.held, r.heldSizes = r.held[:0], r.heldSizes[:0]
}

// release returns the buffers of a message that was not queued to the pool.
func (r *reader) release() {
	for i, buf := range r.pending {
		if buf != nil {
			queue.PutBuf(buf)
			r.pending[i] = nil
			r.unhold(r.sizes[i])
		}
	}
	r.pending, r.sizes = r.pending[:0], r.sizes[:0]
}

// deadline arms the idle timeout before a read, unless the session is being stopped: the
// stop reason is set before the deadline that wakes the reader, so checking it after arming
// the timeout cannot miss a wake-up.
func (r *reader) deadline() error {
	r.conn.SetReadDeadline(r.lastMessage.Add(r.idle))
	return r.stop()
}

// closed handles the publisher's close frame.
func (r *reader) closed(hdr ws.Header) error {
	n, _ := io.ReadFull(&r.rd, r.ctl[:min(hdr.Length, int64(len(r.ctl)))])
	code, reason := ws.ParseCloseFrameData(r.ctl[:n])
	switch code {
	case 0, ws.StatusNormalClosure, ws.StatusGoingAway, ws.StatusNoStatusRcvd:
		return nil
	}
	return &CloseError{Code: int(code), Reason: reason}
}

func (r *reader) readError(err error) error {
	if stop := r.stop(); stop != nil {
		return stop
	}
	var ce wsutil.ClosedError
	switch {
	case errors.Is(err, wsutil.ErrMessageTooLarge), errors.Is(err, wsutil.ErrFrameTooLarge):
		return fmt.Errorf("%w: over %d bytes", ErrTooLarge, r.limit)
	case errors.As(err, &ce):
		// A close frame in the middle of a fragmented message: the handler replied already.
		r.peerGone = true
		if ce.Code == ws.StatusNormalClosure || ce.Code == ws.StatusGoingAway {
			return ErrLost
		}
		return &CloseError{Code: int(ce.Code), Reason: ce.Reason}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		r.peerGone = true
		return ErrLost
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: no whole message for %s", ErrIdle, r.idle)
	}
	var pe ws.ProtocolError
	if errors.As(err, &pe) {
		return fmt.Errorf("websocket protocol error: %w", err)
	}
	r.peerGone = true
	return fmt.Errorf("%w: %w", ErrLost, err)
}
