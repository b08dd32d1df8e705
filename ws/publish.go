package ws

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
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
}

// Sent describes one message Publish sent.
type Sent struct {
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
	defer c.conn.Close()
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Now()) })
	defer stop()

	ch := &chunker{kind: kind, every: opts.Chunk, send: c.send, realtime: opts.Realtime, ctx: ctx, onSend: opts.OnSend}
	if err := ch.run(br); err != nil {
		if cerr := c.closeErr(); cerr != nil {
			return cerr
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return c.finish(ctx)
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
			refusal = fmt.Errorf("server refused the stream: %d %s: %s", status, reason, responseBody(resp))
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
// a frame (WebM) or a fragment (MP4), and paces them.
type chunker struct {
	kind     media.Kind
	every    time.Duration
	realtime bool
	ctx      context.Context
	send     func([]byte) error
	onSend   func(Sent)

	pend   []byte // bytes read and not yet sent, from stream offset sent
	sent   int64
	cuts   []cut
	first  time.Duration // the stream's first timestamp
	next   time.Duration // media time of the next cut, from first
	latest time.Duration // the latest timestamp seen, from first
	seen   bool
	start  time.Time
	total  int64
	count  int64
}

type cut struct {
	off int64
	at  time.Duration // media time when the bytes before off are complete, from first
}

func (ch *chunker) event(e media.Event) error {
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
				if err := ch.flush(c.off, c.at); err != nil {
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
	return ch.flush(ch.sent+int64(len(ch.pend)), ch.latest)
}

// flush sends the pending bytes before stream offset off, once the media time at has come.
func (ch *chunker) flush(off int64, at time.Duration) error {
	n := int(off - ch.sent)
	if n <= 0 {
		return nil
	}
	if ch.start.IsZero() {
		// The first message leaves at once, as if its media had just been captured.
		ch.start = time.Now().Add(-at)
	} else if ch.realtime {
		if d := time.Until(ch.start.Add(at)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ch.ctx.Done():
				t.Stop()
				return ch.ctx.Err()
			}
		}
	}
	if err := ch.send(ch.pend[:n]); err != nil {
		return err
	}
	ch.pend = append(ch.pend[:0], ch.pend[n:]...)
	ch.sent = off
	ch.total += int64(n)
	ch.count++
	if ch.onSend != nil {
		ch.onSend(Sent{Size: n, Total: ch.total, Messages: ch.count, Media: at, Wall: time.Since(ch.start)})
	}
	return nil
}
