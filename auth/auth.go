// Package auth decides who may do what with sv's streams: publish one, read one (its
// manifests, playlists, segments and events), reach /metrics, and use the control API. A request is described
// once (Request: the action, the stream, the token it carries, where it comes from) and
// decided by an Authorizer from up to three methods, any of which may allow it:
//
//   - Keys: static secrets, each allowing some actions on one stream or on all;
//   - JWT: signed tokens (HS256 with a shared secret, RS256 or ES256 with a JWKS file)
//     whose claims name the streams and actions allowed, and when they expire;
//   - Callback: the application's own endpoint, asked with a JSON description of the
//     request; its answers are cached for a short while, so that a player's segment
//     requests do not each call out, and one that is down or slow denies.
//
// Only the actions an Authorizer protects need a credential; the others are open to
// anyone. The token comes from the request's ?token= parameter or its Authorization:
// Bearer header (TokenFrom): players such as Apple's do not resend headers, so a token
// on a manifest's URL is carried to every URL that manifest names (package serve).
package auth

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Action is what a request wants to do.
type Action string

// The actions.
const (
	Publish Action = "publish" // send a stream (the ingest)
	Read    Action = "read"    // watch one: manifests, playlists, segments, events, its /streams.json entry
	Metrics Action = "metrics" // /metrics
	API     Action = "api"     // sv all's control API, /api/
)

// Actions are every action, in the order they are documented.
var Actions = []Action{Publish, Read, Metrics, API}

// ParseAction returns the action named s.
func ParseAction(s string) (Action, bool) {
	for _, a := range Actions {
		if string(a) == s {
			return a, true
		}
	}
	return "", false
}

// Request describes one request to decide. It is also what a Callback is sent, as JSON.
type Request struct {
	Action    Action `json:"action"`
	Stream    string `json:"stream,omitempty"` // "" for actions on no stream (metrics)
	Token     string `json:"token,omitempty"`
	Remote    string `json:"remote"` // the client's IP address
	UserAgent string `json:"user_agent,omitempty"`
	Path      string `json:"path,omitempty"`
	Query     string `json:"query,omitempty"` // the raw query, token included
}

// FromHTTP describes r, which asks for action on stream.
func FromHTTP(r *http.Request, action Action, stream string) *Request {
	remote, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		remote = r.RemoteAddr
	}
	return &Request{
		Action:    action,
		Stream:    stream,
		Token:     TokenFrom(r),
		Remote:    remote,
		UserAgent: r.UserAgent(),
		Path:      r.URL.Path,
		Query:     r.URL.RawQuery,
	}
}

// TokenParam is the query parameter that carries a token.
const TokenParam = "token"

// TokenFrom returns the token a request carries: its ?token= parameter, or else its
// Authorization: Bearer header (browsers cannot set headers on a WebSocket or on a
// media element's requests, so the parameter comes first).
func TokenFrom(r *http.Request) string {
	if t := r.URL.Query().Get(TokenParam); t != "" {
		return t
	}
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// A Method is one way of deciding. Allow reports whether it allows r; an error means it
// could not decide (the request is then denied, and the error logged and counted).
type Method interface {
	Allow(ctx context.Context, r *Request) (bool, error)
	String() string
}

// Decision is an Authorizer's answer.
type Decision int

// The decisions.
const (
	Allowed       Decision = iota
	NoCredentials          // the request carried no token, and the action needs one (401)
	Denied                 // its token does not allow it, or no method could decide (403)
)

// Status is the HTTP status of a refusal: 401 or 403 (200 for Allowed).
func (d Decision) Status() int {
	switch d {
	case NoCredentials:
		return http.StatusUnauthorized
	case Denied:
		return http.StatusForbidden
	}
	return http.StatusOK
}

// Options configures an Authorizer.
type Options struct {
	// Methods decide the protected actions, in order: the first that allows a request
	// settles it. Put the cheap ones first (Keys, then JWT, then Callback).
	Methods []Method
	// Protect are the actions that need a credential; the others are allowed to anyone.
	Protect []Action
	// Log receives a warning when a method cannot decide (at most one a second per
	// method); nil discards them.
	Log *slog.Logger
}

// Counts are an Authorizer's decisions about one action.
type Counts struct {
	Allowed, Refused int64
	Errors           int64 // a method could not decide: a callback down or slow
}

// Authorizer decides requests. Its methods are safe for concurrent use.
type Authorizer struct {
	rules  atomic.Pointer[rules]
	log    *slog.Logger
	counts sync.Map // Action -> *counts
	warned sync.Map // Method -> *atomic.Int64: unix seconds of the last warning
}

// rules are what an Authorizer decides by, replaced whole (Replace).
type rules struct {
	methods []Method
	protect map[Action]bool
}

func newRules(o Options) *rules {
	r := &rules{methods: o.Methods, protect: map[Action]bool{}}
	for _, act := range o.Protect {
		r.protect[act] = true
	}
	return r
}

type counts struct{ allowed, refused, errors atomic.Int64 }

// New makes an Authorizer.
func New(o Options) *Authorizer {
	a := &Authorizer{log: o.Log}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.rules.Store(newRules(o))
	return a
}

// Replace makes the Authorizer decide by o's methods and protected actions from now on
// (o.Log is not used): keys reloaded while requests are decided. The counts go on.
func (a *Authorizer) Replace(o Options) { a.rules.Store(newRules(o)) }

// Protects reports whether action needs a credential. A nil Authorizer protects nothing.
func (a *Authorizer) Protects(action Action) bool { return a != nil && a.rules.Load().protect[action] }

// Allow decides r. A nil Authorizer allows everything.
func (a *Authorizer) Allow(ctx context.Context, r *Request) Decision {
	if a == nil {
		return Allowed
	}
	rs := a.rules.Load()
	if !rs.protect[r.Action] {
		return Allowed
	}
	c := a.countsOf(r.Action)
	for _, m := range rs.methods {
		ok, err := m.Allow(ctx, r)
		if err != nil {
			c.errors.Add(1)
			a.warn(m, r, err)
			continue
		}
		if ok {
			c.allowed.Add(1)
			return Allowed
		}
	}
	c.refused.Add(1)
	if r.Token == "" {
		return NoCredentials
	}
	return Denied
}

// Counts returns the decisions so far about each protected action.
func (a *Authorizer) Counts() map[Action]Counts {
	m := map[Action]Counts{}
	if a == nil {
		return m
	}
	for act := range a.rules.Load().protect {
		c := a.countsOf(act)
		m[act] = Counts{Allowed: c.allowed.Load(), Refused: c.refused.Load(), Errors: c.errors.Load()}
	}
	return m
}

func (a *Authorizer) countsOf(act Action) *counts {
	c, _ := a.counts.LoadOrStore(act, new(counts))
	return c.(*counts)
}

// warn logs that m could not decide, at most once a second per method.
func (a *Authorizer) warn(m Method, r *Request, err error) {
	v, _ := a.warned.LoadOrStore(m, new(atomic.Int64))
	last, now := v.(*atomic.Int64), time.Now().Unix()
	if prev := last.Load(); prev == now || !last.CompareAndSwap(prev, now) {
		return
	}
	a.log.Warn("cannot authorize: denied", "method", m.String(), "action", r.Action, "stream", r.Stream, "remote", r.Remote, "err", err)
}
