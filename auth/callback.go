package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Defaults of Callback.
const (
	DefaultCallbackTimeout = 2 * time.Second
	DefaultCallbackTTL     = 10 * time.Second
	// maxCached bounds the decisions a Callback keeps: past it, the expired ones are
	// dropped, and if none had, all of them.
	maxCached = 1 << 16
)

// Callback asks the application: it POSTs the Request as JSON to URL and allows it on a
// 2xx answer, denies it on any other. An answer that does not come within Timeout, or a
// failed connection, is an error: the request is denied. Decisions are kept for TTL per
// action, stream and token (and client address, for a request with no token), so that a
// player's requests for segments do not each call out; requests that miss at once wait
// for one call.
type Callback struct {
	URL     string
	Timeout time.Duration // 0 means DefaultCallbackTimeout
	TTL     time.Duration // 0 means DefaultCallbackTTL; negative keeps nothing
	Client  *http.Client  // nil means http.DefaultClient (with Timeout)

	mu       sync.Mutex
	cache    map[cacheKey]cached
	inFlight map[cacheKey]*call
	calls    int64
}

type cacheKey struct {
	action        Action
	stream, token string
	remote        string // only when there is no token
}

type cached struct {
	ok      bool
	expires time.Time
}

type call struct {
	done chan struct{}
	ok   bool
	err  error
}

// Calls is how many requests the callback was sent.
func (c *Callback) Calls() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// Allow asks the callback, or remembers its answer.
func (c *Callback) Allow(ctx context.Context, r *Request) (bool, error) {
	k := cacheKey{action: r.Action, stream: r.Stream, token: r.Token}
	if r.Token == "" {
		k.remote = r.Remote
	}
	now := time.Now()
	c.mu.Lock()
	if e, ok := c.cache[k]; ok && now.Before(e.expires) {
		c.mu.Unlock()
		return e.ok, nil
	}
	if f, ok := c.inFlight[k]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.ok, f.err
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	f := &call{done: make(chan struct{})}
	if c.inFlight == nil {
		c.inFlight = map[cacheKey]*call{}
	}
	c.inFlight[k] = f
	c.calls++
	c.mu.Unlock()

	f.ok, f.err = c.ask(ctx, r)
	c.mu.Lock()
	delete(c.inFlight, k)
	if ttl := c.ttl(); f.err == nil && ttl > 0 {
		if c.cache == nil {
			c.cache = map[cacheKey]cached{}
		}
		if len(c.cache) >= maxCached {
			c.sweep(now)
		}
		c.cache[k] = cached{ok: f.ok, expires: time.Now().Add(ttl)}
	}
	c.mu.Unlock()
	close(f.done)
	return f.ok, f.err
}

func (c *Callback) ttl() time.Duration {
	if c.TTL == 0 {
		return DefaultCallbackTTL
	}
	return c.TTL
}

// sweep drops the expired decisions, or all of them if none had expired. c.mu is held.
func (c *Callback) sweep(now time.Time) {
	for k, e := range c.cache {
		if !now.Before(e.expires) {
			delete(c.cache, k)
		}
	}
	if len(c.cache) >= maxCached {
		clear(c.cache)
	}
}

// ask sends one request to the callback.
func (c *Callback) ask(ctx context.Context, r *Request) (bool, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultCallbackTimeout
	}
	// The caller's request may end first (a player that moved on); the answer is still
	// worth keeping for the next one.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	body, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sv")
	client := c.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Errorf("auth callback: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return false, fmt.Errorf("auth callback answered %s", resp.Status)
	}
	return resp.StatusCode >= 200 && resp.StatusCode < 300, nil
}

func (c *Callback) String() string { return "callback" }
