package event

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Lines writes each event as one line of JSON to W: sv all --events. A failed write is
// not retried (a file or a pipe that failed once rarely recovers): the event is given up.
type Lines struct {
	W    io.Writer
	Name string // for logs: the file's name, or "stdout"

	buf []byte
}

// Deliver writes e's line in one Write.
func (l *Lines) Deliver(_ context.Context, _ *Event, body []byte) error {
	l.buf = append(append(l.buf[:0], body...), '\n')
	if _, err := l.W.Write(l.buf); err != nil {
		return Permanent(err)
	}
	return nil
}

func (l *Lines) String() string { return "events " + l.Name }

// Webhook headers. The signature is "sha256=" and the hex HMAC-SHA256 of the body with
// the secret as key, as GitHub signs its webhooks: a receiver computes it over the raw
// body and compares in constant time (Verify). The event's time, in the body, lets it
// refuse old events replayed.
const (
	SignatureHeader = "X-Sv-Signature"
	EventHeader     = "X-Sv-Event"    // the event's type
	EventIDHeader   = "X-Sv-Event-Id" // the event's id, the same on every retry
)

// DefaultWebhookTimeout bounds one delivery to a webhook.
const DefaultWebhookTimeout = 10 * time.Second

// Webhook POSTs each event as JSON to URL: sv all --webhook. A 2xx answer delivers it;
// a network error, a timeout, 408, 425, 429 or a 5xx is retried (Bus backoff); any
// other answer gives the event up, as retrying would not change it.
type Webhook struct {
	URL    string
	Secret string       // signs each body (SignatureHeader); "" sends no signature
	Client *http.Client // nil: a client with DefaultWebhookTimeout
}

// Deliver POSTs e.
func (w *Webhook) Deliver(ctx context.Context, e *Event, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return Permanent(err)
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "sv")
	h.Set(EventHeader, string(e.Type))
	h.Set(EventIDHeader, e.ID)
	if w.Secret != "" {
		h.Set(SignatureHeader, Sign(w.Secret, body))
	}
	c := w.Client
	if c == nil {
		c = defaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // the connection can be reused
	resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests, code >= 500:
		return fmt.Errorf("webhook answered %s", resp.Status)
	default:
		return Permanent(fmt.Errorf("webhook answered %s", resp.Status))
	}
}

func (w *Webhook) String() string { return "webhook " + redact(w.URL) }

var defaultClient = &http.Client{Timeout: DefaultWebhookTimeout}

// redact leaves a URL's user information and query out of logs: they may hold secrets.
func redact(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.LastIndexByte(u[i+3:], '@'); j >= 0 && !strings.Contains(u[i+3:i+3+j], "/") {
			u = u[:i+3] + u[i+4+j:]
		}
	}
	return u
}

// Sign returns the SignatureHeader value for body.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature is body's, signed with secret.
func Verify(secret string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(signature))
}

// DefaultCommandTimeout bounds one run of a Command.
const DefaultCommandTimeout = 30 * time.Second

// Command runs a shell command for each event: sv all --on-event. The command gets the
// event's JSON, and a newline, on its stdin, and these variables besides sv's own
// environment: SV_EVENT (the type), SV_EVENT_ID, SV_STREAM, SV_SESSION and SV_EVENT_TIME.
// It runs in a process group of its own, which is killed after Timeout or with sv.
// A command that fails is not run again for the same event: the failure is logged, with
// the end of its output, and counted.
type Command struct {
	Cmd     string        // run with /bin/sh -c
	Timeout time.Duration // 0 means DefaultCommandTimeout
}

// Deliver runs the command for e and waits for it.
func (c *Command) Deliver(ctx context.Context, e *Event, body []byte) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultCommandTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c.Cmd)
	cmd.Stdin = bytes.NewReader(append(body[:len(body):len(body)], '\n'))
	cmd.Env = append(os.Environ(),
		"SV_EVENT="+string(e.Type),
		"SV_EVENT_ID="+e.ID,
		"SV_STREAM="+e.Stream,
		"SV_SESSION="+e.Session,
		"SV_EVENT_TIME="+e.Time.UTC().Format(time.RFC3339Nano),
	)
	var tail tailBuffer
	cmd.Stdout, cmd.Stderr = &tail, &tail
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return killGroup(cmd.Process) }
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("killed after %s", timeout)
	}
	if out := strings.TrimSpace(tail.String()); out != "" {
		err = fmt.Errorf("%w: %s", err, out)
	}
	return Permanent(fmt.Errorf("on-event command: %w", err))
}

func (c *Command) String() string { return "command" }

// tailBuffer keeps the last tailBytes of what is written to it.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

const tailBytes = 512

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > tailBytes {
		t.b = append(t.b[:0], t.b[len(t.b)-tailBytes:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
