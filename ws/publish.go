package ws

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/svtool/sv/media"
)

// DefaultChunk is how much media a publisher puts in one message, as a browser recording
// with a 250 ms timeslice does.
const DefaultChunk = 250 * time.Millisecond

// PublishOptions configure Publish.
type PublishOptions struct {
	// Token is sent as "Authorization: Bearer" when set.
	Token string
	// Origin is sent as the Origin header when set, as a browser would.
	Origin string
	// Chunk is the media duration per message (DefaultChunk when 0).
	Chunk time.Duration
	// Realtime paces the messages by the stream's own timestamps: a message leaves when the
	// wall clock since the first one reaches the media time it covers. Otherwise messages
	// go as fast as the connection takes them.
	Realtime bool
	// OnSend is called after each message is sent.
	OnSend func(Sent)
	// TLS configures a wss:// connection; nil means the system's roots.
	TLS *tls.Config
	// Reconnect, when positive, lets the stream outlive its connection, as the capture
	// page does: when the connection is lost, or the server closes it with a code that
	// allows a return (see Retryable), Publish connects again, after 250 ms and twice as
	// long at each failure up to 4 s, for as long as Reconnect from the loss. The new
	// session is a new recorder's: the stream's header again, then the media from the
	// next cluster that opens with a keyframe (with Realtime, the next one not yet due:
	// the media of the time without a connection is skipped, as a camera's would be).
	// The first connection is not retried: a refusal there is an answer.
	Reconnect time.Duration
	// OnRetry is told of each lost connection and each failed attempt to connect again,
	// before the wait.
	OnRetry func(Retry)
	// OnResume is told where each new session starts, before its first message.
	OnResume func(Resume)
}

// Retry describes a connection lost, or an attempt to connect again that failed.
type Retry struct {
	Err     error         // why
	Attempt int           // attempts made since the loss: 0 for the loss itself
	Wait    time.Duration // before the next attempt
	Sent    int64         // input bytes handed to the lost connection, all sessions
}

// Resume describes a session that continues a stream after a lost connection.
type Resume struct {
	Session  int           // 2 for the first reconnection
	Attempts int           // attempts it took to connect
	Down     time.Duration // from the loss to the first message of the new session
	From     int64         // the input's byte offset of the cluster the session starts with
	Media    time.Duration // that cluster's media time, from the stream's first timestamp
	Skipped  int64         // input bytes between the loss and From that were never sent
}

// Sent describes one message Publish sent.
type Sent struct {
	Session  int           // the connection it went on: 1, then 2 after a reconnection ...
	Offset   int64         // the input's byte offset this message's media reaches
	Size     int           // bytes in this message
	Total    int64         // bytes sent so far
	Messages int64         // messages sent so far
	Media    time.Duration // media time this message reaches, from the stream's first timestamp
	Wall     time.Duration // wall time since the first message left
}

// Publish sends the media stream read from r to the ingest endpoint at url, the way a
// browser's MediaRecorder does: the header with the first chunk, then a message per Chunk of
// media, cut where frames start. It returns nil once the server has acknowledged the end of
// the stream with a normal close; a refusal or an error close comes back as an error
// carrying the server's reason.
func Publish(ctx context.Context, url string, r io.Reader, opts PublishOptions) error {
	if opts.Chunk <= 0 {
		opts.Chunk = DefaultChunk
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(8)
	if len(head) == 0 && err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty input: nothing to publish")
		}
		return fmt.Errorf("read input: %w", err)
	}
	kind := media.Sniff(head)
	if kind == media.Unknown {
		return fmt.Errorf("input: %w", media.ErrNotMedia)
	}

	c, err := dial(ctx, url, opts)
	if err != nil {
		return err
	}
	ch := &chunker{kind: kind, every: opts.Chunk, realtime: opts.Realtime, ctx: ctx, onSend: opts.OnSend, onResume: opts.OnResume}
	if opts.Reconnect > 0 {
		ch.link = &link{url: url, opts: opts, ctx: ctx, since: time.Now()}
	}
	ch.attach(c)
	defer func() { ch.c.conn.Close() }()
	defer func() { ch.stop() }()

	if err := ch.run(br); err != nil {
		if cerr := ch.c.closeErr(); cerr != nil {
			return cerr
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return ch.c.finish(ctx)
}

// Retryable reports whether a publisher whose connection ended with err should connect
// again: a connection lost, a server going away (1001), failing (1011), restarting
// (1012), busy (1013) or behind a gateway that failed (1014), or an upgrade refused with
// 409 (the server still holds the lost session), 429, 502, 503 or 504. A refusal or a
// close that says what is wrong with the stream or the publisher (a bad token, media that
// is not WebM or MP4, another publisher taking over, the operator stopping it) is final.
func Retryable(err error) bool {
	var ce *CloseError
	if errors.As(err, &ce) {
		switch ws.StatusCode(ce.Code) {
		case ws.StatusGoingAway, ws.StatusInternalServerError, statusServiceRestart, statusTryAgainLater, statusBadGateway:
			return true
		}
		return false
	}
	var re *RefusedError
	if errors.As(err, &re) {
		switch re.Status {
		case http.StatusConflict, http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	return err != nil
}

// Close codes of the IANA registry that gobwas/ws does not name.
const (
	statusServiceRestart ws.StatusCode = 1012
	statusTryAgainLater  ws.StatusCode = 1013
	statusBadGateway     ws.StatusCode = 1014
)

// RefusedError is an upgrade the server answered with an HTTP status instead.
type RefusedError struct {
	Status int
	Reason string // the status line's reason phrase
	Body   string // the start of the response's body: the server's reason
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("server refused the stream: %d %s: %s", e.Status, e.Reason, e.Body)
}

// A link connects again, for a publisher with PublishOptions.Reconnect.
type link struct {
	url     string
	opts    PublishOptions
	ctx     context.Context
	backoff time.Duration // the first wait of the next loss
	since   time.Time     // when the current session's connection was made
}

// Backoff of the reconnections; a session that lasted stableSession starts again from
// minRetry.
const (
	minRetry      = 250 * time.Millisecond
	maxRetry      = 4 * time.Second
	stableSession = 10 * time.Second
)

// redial connects again after the loss of a connection with err, waiting between
// attempts, until it succeeds, an attempt gets a final answer, ctx ends or the time for
// reconnecting is up. sent is for OnRetry.
func (l *link) redial(err error, sent int64) (*client, int, error) {
	lost := time.Now()
	wait := minRetry
	if time.Since(l.since) < stableSession {
		wait = max(l.backoff, minRetry)
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 && !Retryable(err) {
			return nil, attempt, err
		}
		left := l.opts.Reconnect - time.Since(lost)
		if left <= 0 {
			return nil, attempt, fmt.Errorf("no connection for %s: %w", l.opts.Reconnect.Round(time.Millisecond), err)
		}
		d := min(jitter(wait), left)
		if l.opts.OnRetry != nil {
			l.opts.OnRetry(Retry{Err: err, Attempt: attempt, Wait: d, Sent: sent})
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-l.ctx.Done():
			t.Stop()
			return nil, attempt, l.ctx.Err()
		}
		wait = min(2*wait, maxRetry)
		c, derr := dial(l.ctx, l.url, l.opts)
		if derr == nil {
			l.backoff, l.since = wait, time.Now()
			return c, attempt + 1, nil
		}
		if l.ctx.Err() != nil {
			return nil, attempt + 1, l.ctx.Err()
		}
		err = derr
	}
}

// jitter spreads d by up to 20% either way, so that the publishers of a failed server do
// not all come back at the same instant.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

// client is a publishing connection: the caller sends, a goroutine reads the server's frames.
type client struct {
	conn net.Conn
	mu   sync.Mutex // writes: the sender and the pong replies

	done   chan struct{} // closed when the server's close frame or the connection's end arrived
	closed *CloseError   // the server's close frame, if it sent one
	rerr   error         // why the read side ended otherwise
}

func dial(ctx context.Context, url string, opts PublishOptions) (*client, error) {
	h := http.Header{}
	if opts.Token != "" {
		h.Set("Authorization", "Bearer "+opts.Token)
	}
	if opts.Origin != "" {
		h.Set("Origin", opts.Origin)
	}
	var refusal error
	d := ws.Dialer{
		TLSConfig: opts.TLS,
		Timeout:   HandshakeTimeout,
		Header:    ws.HandshakeHeaderHTTP(h),
		OnStatusError: func(status int, reason []byte, resp io.Reader) {
			refusal = &RefusedError{Status: status, Reason: string(reason), Body: responseBody(resp)}
		},
	}
	conn, br, _, err := d.Dial(ctx, url)
	if refusal != nil {
		if conn != nil {
			conn.Close()
		}
		return nil, refusal
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", url, err)
	}
	c := &client{conn: conn, done: make(chan struct{})}
	var src io.Reader = conn
	if br != nil {
		src = io.MultiReader(br, conn)
	}
	go c.readLoop(src, br)
	return c, nil
}

// responseBody returns the start of the body of a refused upgrade's response: the server's
// reason.
func responseBody(resp io.Reader) string {
	r, err := http.ReadResponse(bufio.NewReader(io.LimitReader(resp, 8<<10)), nil)
	if err != nil {
		return "(unreadable response)"
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(r.Body, 512))
	return strings.TrimSpace(string(b))
}

// readLoop reads the server's frames: pongs for pings, and the close frame.
func (c *client) readLoop(src io.Reader, br *bufio.Reader) {
	defer close(c.done)
	rd := wsutil.Reader{Source: src, State: ws.StateClientSide, MaxMessageSize: 1 << 20}
	var ctl [125]byte
	for {
		hdr, err := rd.NextFrame()
		if err != nil {
			c.rerr = err
			return
		}
		switch hdr.OpCode {
		case ws.OpClose:
			n, _ := io.ReadFull(&rd, ctl[:min(hdr.Length, 125)])
			code, reason := ws.ParseCloseFrameData(ctl[:n])
			c.closed = &CloseError{Code: int(code), Reason: reason}
			c.mu.Lock()
			ws.WriteFrame(c.conn, ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(code, ""))))
			c.mu.Unlock()
			if br != nil {
				ws.PutReader(br)
			}
			return
		case ws.OpPing:
			n, _ := io.ReadFull(&rd, ctl[:min(hdr.Length, 125)])
			c.mu.Lock()
			ws.WriteFrame(c.conn, ws.MaskFrameInPlace(ws.NewPongFrame(ctl[:n])))
			c.mu.Unlock()
		default:
			if err := rd.Discard(); err != nil {
				c.rerr = err
				return
			}
		}
	}
}

// send writes p as one masked binary message, masking p in place.
func (c *client) send(p []byte) error {
	h := ws.Header{Fin: true, OpCode: ws.OpBinary, Masked: true, Length: int64(len(p)), Mask: ws.NewMask()}
	ws.Cipher(p, h.Mask, 0)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ws.WriteHeader(c.conn, h); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if _, err := c.conn.Write(p); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// closeErr returns the server's close as an error, if it closed with a code other than 1000.
func (c *client) closeErr() error {
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
		return nil
	}
	if c.closed != nil && c.closed.Code != int(ws.StatusNormalClosure) {
		return fmt.Errorf("server closed the stream: %w", c.closed)
	}
	return nil
}

// finish ends the stream with a normal close and waits for the server to confirm that it has
// stored every byte.
func (c *client) finish(ctx context.Context) error {
	c.mu.Lock()
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	err := ws.WriteFrame(c.conn, ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))))
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("close: %w", err)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Minute):
		return errors.New("the server did not confirm the end of the stream within a minute")
	}
	switch {
	case c.closed == nil:
		return fmt.Errorf("connection lost before the server confirmed the end of the stream: %w", c.rerr)
	case c.closed.Code != int(ws.StatusNormalClosure):
		return fmt.Errorf("server closed the stream: %w", c.closed)
	}
	return nil
}

// chunker cuts a media stream into messages of about every media time each, at the start of
// a frame (WebM) or a fragment (MP4), and paces them. With a link, it survives the loss of
// its connection: it connects again and starts a new session at a keyframe cluster, with
// the stream's header in front.
type chunker struct {
	kind     media.Kind
	every    time.Duration
	realtime bool
	ctx      context.Context
	send     func([]byte) error // nil: the client's
	onSend   func(Sent)
	onResume func(Resume)

	c       *client
	release func() bool // of the AfterFunc that unblocks c when ctx ends
	link    *link       // nil: a lost connection ends the stream

	pend   []byte // bytes read and not yet sent, from stream offset sent
	sent   int64
	cuts   []cut
	header []byte        // the latest stream header, replayed at the start of a new session
	first  time.Duration // the stream's first timestamp
	next   time.Duration // media time of the next cut, from first
	latest time.Duration // the latest timestamp seen, from first
	seen   bool
	start  time.Time
	total  int64
	count  int64

	session  int
	resuming bool      // lost its connection: skipping to a keyframe cluster
	lostAt   time.Time // when
	lostOff  int64     // the input offset sent when it was lost
	attempts int       // that the new connection took
	replay   bool      // the next message starts with the header
}

// A cut is where the chunker may end a message (a frame or fragment start), or, join, where
// a new session may start (a cluster that opens with a keyframe).
type cut struct {
	off  int64
	at   time.Duration // media time when the bytes before off are complete, from first
	join bool
}

// attach makes c the connection the messages go to.
func (ch *chunker) attach(c *client) {
	ch.stop()
	ch.c = c
	ch.session++
	ch.release = context.AfterFunc(ch.ctx, func() { c.conn.SetDeadline(time.Now()) })
}

func (ch *chunker) stop() {
	if ch.release != nil {
		ch.release()
	}
}

func (ch *chunker) event(e media.Event) error {
	if e.Kind == media.EventHeader && e.Offset-e.Size >= ch.sent && e.Offset <= ch.sent+int64(len(ch.pend)) {
		ch.header = append(ch.header[:0], ch.pend[e.Offset-e.Size-ch.sent:e.Offset-ch.sent]...)
	}
	if e.Kind == media.EventCluster && e.Keyframe && ch.seen {
		ch.cuts = append(ch.cuts, cut{off: e.Offset, at: max(e.Time-ch.first, 0), join: true})
	}
	if ch.kind == media.WebM && e.Kind != media.EventBlock || ch.kind == media.MP4 && e.Kind != media.EventCluster {
		return nil
	}
	if !ch.seen {
		ch.seen, ch.first, ch.next = true, e.Time, ch.every
		return nil
	}
	t := e.Time - ch.first
	if t < ch.latest-time.Second {
		// Time jumped back: a second recording follows the first. Carry on from where the
		// first one ended.
		ch.first = e.Time - ch.latest
		t = ch.latest
	}
	if t > ch.latest {
		ch.latest = t
	}
	if t >= ch.next {
		ch.cuts = append(ch.cuts, cut{off: e.Offset, at: ch.latest})
		for ch.next <= ch.latest {
			ch.next += ch.every
		}
	}
	return nil
}

func (ch *chunker) run(r io.Reader) error {
	sc := media.NewScanner(ch.kind, ch.event)
	buf := make([]byte, 64<<10)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			ch.pend = append(ch.pend, buf[:n]...)
			if _, err := sc.Write(buf[:n]); err != nil {
				return fmt.Errorf("input: %w", err)
			}
			for _, c := range ch.cuts {
				var err error
				if c.join {
					ch.join(c.off, c.at)
				} else {
					err = ch.flush(c.off, c.at)
				}
				if err != nil {
					return err
				}
			}
			ch.cuts = ch.cuts[:0]
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("read input: %w", rerr)
		}
	}
	if err := sc.Close(); err != nil {
		return fmt.Errorf("input: %w", err)
	}
	if ch.resuming {
		return nil // the input ended before a keyframe: the new session has nothing to send
	}
	return ch.flush(ch.sent+int64(len(ch.pend)), ch.latest)
}

// join starts the new session at the cluster at off, if one is wanted: a keyframe after
// what the lost connection took and, in real time, not yet due.
func (ch *chunker) join(off int64, at time.Duration) {
	if !ch.resuming || off < ch.sent || ch.realtime && ch.start.Add(at).Before(time.Now()) {
		return
	}
	ch.drop(off)
	ch.resuming, ch.replay = false, true
	if ch.onResume != nil {
		ch.onResume(Resume{Session: ch.session, Attempts: ch.attempts, Down: time.Since(ch.lostAt),
			From: off, Media: at, Skipped: off - ch.lostOff})
	}
}

// drop forgets the pending bytes before stream offset off.
func (ch *chunker) drop(off int64) {
	n := int(off - ch.sent)
	ch.pend = append(ch.pend[:0], ch.pend[n:]...)
	ch.sent = off
}

// flush sends the pending bytes before stream offset off, once the media time at has come.
// While the chunker resumes, they are dropped.
func (ch *chunker) flush(off int64, at time.Duration) error {
	n := int(off - ch.sent)
	if n <= 0 {
		return nil
	}
	if ch.resuming {
		ch.drop(off)
		return nil
	}
	if ch.start.IsZero() {
		// The first message leaves at once, as if its media had just been captured.
		ch.start = time.Now().Add(-at)
	} else if ch.realtime {
		if d := time.Until(ch.start.Add(at)); d > 0 {
			if err := ch.wait(d); err != nil {
				return ch.lost(err)
			}
		}
	}
	msg := ch.pend[:n]
	if ch.replay {
		msg = append(bytes.Clone(ch.header), msg...)
	}
	if err := ch.sendMsg(msg); err != nil {
		return ch.lost(err)
	}
	ch.replay = false
	ch.drop(off)
	ch.total += int64(len(msg))
	ch.count++
	if ch.onSend != nil {
		ch.onSend(Sent{Session: max(ch.session, 1), Offset: off, Size: len(msg), Total: ch.total, Messages: ch.count,
			Media: at, Wall: time.Since(ch.start)})
	}
	return nil
}

func (ch *chunker) sendMsg(p []byte) error {
	if ch.send != nil {
		return ch.send(p)
	}
	if ch.link != nil {
		// A connection the server closed or that broke while the chunker waited: writing
		// on would often succeed, into a socket nobody reads.
		select {
		case <-ch.c.done:
			return errConnEnded
		default:
		}
	}
	return ch.c.send(p)
}

var errConnEnded = errors.New("connection ended")

// wait waits d, or less if the connection ends (with a link) or ctx is done.
func (ch *chunker) wait(d time.Duration) error {
	var done <-chan struct{}
	if ch.link != nil && ch.c != nil {
		done = ch.c.done
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-done:
		return errConnEnded
	case <-ch.ctx.Done():
		return ch.ctx.Err()
	}
}

// lost handles the failure err of the connection: without a link, or when the failure is
// final, it is returned; otherwise the chunker connects again and resumes.
func (ch *chunker) lost(err error) error {
	if ch.link == nil || ch.ctx.Err() != nil {
		return err
	}
	if cerr := ch.c.closeErr(); cerr != nil {
		err = cerr
	} else if ch.c.closed != nil {
		// Closed normally in the middle of the stream: the server ended it on purpose.
		return fmt.Errorf("server ended the stream: %w", err)
	} else if ch.c.rerr != nil && errors.Is(err, errConnEnded) {
		err = fmt.Errorf("connection lost: %w", ch.c.rerr)
	}
	if !Retryable(err) {
		return err
	}
	ch.c.conn.Close()
	ch.lostAt, ch.lostOff = time.Now(), ch.sent
	c, attempts, rerr := ch.link.redial(err, ch.sent)
	if rerr != nil {
		return rerr
	}
	ch.attach(c)
	ch.attempts, ch.resuming = attempts, true
	return nil
}
