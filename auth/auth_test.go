package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

var ctx = context.Background()

func validName(s string) bool { return s != "" && !strings.ContainsAny(s, " /") }

func TestKeys(t *testing.T) {
	k, err := ParseKeys(strings.NewReader(`# publishers and viewers
cam   cam-publish-key
cam   cam-viewer-key    read
*     admin-key-12345   publish,read,metrics
`), validName)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		action        Action
		stream, token string
		want          bool
	}{
		{Publish, "cam", "cam-publish-key", true},
		{Read, "cam", "cam-publish-key", false},
		{Read, "cam", "cam-viewer-key", true},
		{Publish, "cam", "cam-viewer-key", false},
		{Read, "other", "cam-viewer-key", false},
		{Read, "other", "admin-key-12345", true},
		{Metrics, "", "admin-key-12345", true},
		{Publish, "cam", "", false},
		{Publish, "cam", "cam-publish-ke", false},
	} {
		if got, _ := k.Allow(ctx, &Request{Action: tt.action, Stream: tt.stream, Token: tt.token}); got != tt.want {
			t.Errorf("%s %s with %q: %v, want %v", tt.action, tt.stream, tt.token, got, tt.want)
		}
	}
	for _, bad := range []struct{ in, err string }{
		{"cam\n", "line 1: want \"STREAM KEY [ACTION,...]\", got 1 fields"},
		{"cam short", "line 1: the key of cam is shorter than 8 characters"},
		{"bad/name long-enough", `line 1: "bad/name" is not a stream name`},
		{"cam long-enough watch", `line 1: "watch" is not an action (publish, read, metrics, api)`},
		{"cam long-enough\ncam other-long-key", "line 2: stream cam has a publishing key already"},
		{"# nothing\n", "no keys in it"},
	} {
		if _, err := ParseKeys(strings.NewReader(bad.in), validName); err == nil || err.Error() != bad.err {
			t.Errorf("ParseKeys(%q): %v, want %q", bad.in, err, bad.err)
		}
	}
}

// An Authorizer asks its methods only for the actions it protects, and tells a request
// with no token (401) from one whose token is refused (403).
func TestAuthorizer(t *testing.T) {
	k := &Keys{}
	k.Add("cam", "viewer-key", Read)
	a := New(Options{Methods: []Method{k}, Protect: []Action{Read}})
	for _, tt := range []struct {
		r    Request
		want Decision
	}{
		{Request{Action: Read, Stream: "cam", Token: "viewer-key"}, Allowed},
		{Request{Action: Read, Stream: "cam"}, NoCredentials},
		{Request{Action: Read, Stream: "cam", Token: "nope-nope"}, Denied},
		{Request{Action: Publish, Stream: "cam"}, Allowed}, // not protected
	} {
		if got := a.Allow(ctx, &tt.r); got != tt.want {
			t.Errorf("%+v: %v, want %v", tt.r, got, tt.want)
		}
	}
	if c := a.Counts()[Read]; c.Allowed != 1 || c.Refused != 2 || c.Errors != 0 {
		t.Errorf("counts: %+v", c)
	}
	if NoCredentials.Status() != 401 || Denied.Status() != 403 {
		t.Error("statuses")
	}
	var none *Authorizer
	if none.Allow(ctx, &Request{Action: Read}) != Allowed || none.Protects(Read) {
		t.Error("a nil Authorizer refuses")
	}
}

func TestTokenFrom(t *testing.T) {
	r, _ := http.NewRequest("GET", "http://h/live/cam/manifest.mpd?token=q", nil)
	r.Header.Set("Authorization", "Bearer h")
	if got := TokenFrom(r); got != "q" {
		t.Errorf("query and header: %q", got)
	}
	r, _ = http.NewRequest("GET", "http://h/x", nil)
	r.Header.Set("Authorization", "bearer  h ")
	if got := TokenFrom(r); got != "h" {
		t.Errorf("header: %q", got)
	}
	r.RemoteAddr = "192.0.2.1:5000"
	r.Header.Set("User-Agent", "ua")
	if got := FromHTTP(r, Read, "cam"); got.Remote != "192.0.2.1" || got.UserAgent != "ua" || got.Token != "h" || got.Path != "/x" {
		t.Errorf("FromHTTP: %+v", got)
	}
}

// callbackServer is an application's auth endpoint on loopback: it allows the token
// "good", counts its calls and can be slowed down or made to fail.
type callbackServer struct {
	url   string
	calls atomic.Int64
	delay atomic.Int64 // ns
	fail  atomic.Bool
	mu    sync.Mutex
	last  Request
}

func newCallbackServer(t *testing.T) *callbackServer {
	cs := &callbackServer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.calls.Add(1)
		var req Request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("callback request: %v %s %q", err, r.Method, r.Header.Get("Content-Type"))
		}
		cs.mu.Lock()
		cs.last = req
		cs.mu.Unlock()
		time.Sleep(time.Duration(cs.delay.Load()))
		switch {
		case cs.fail.Load():
			w.WriteHeader(http.StatusBadGateway)
		case req.Token == "good":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusForbidden)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	cs.url = "http://" + ln.Addr().String() + "/auth"
	return cs
}

func TestCallback(t *testing.T) {
	cs := newCallbackServer(t)
	cb := &Callback{URL: cs.url, Timeout: 200 * time.Millisecond}
	a := New(Options{Methods: []Method{cb}, Protect: []Action{Read, Publish}})
	good := &Request{Action: Read, Stream: "cam", Token: "good", Remote: "192.0.2.1", UserAgent: "ua", Query: "token=good"}

	// Many segment requests at once: one call, then the cached answer.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if d := a.Allow(ctx, good); d != Allowed {
				t.Errorf("good token: %v", d)
			}
		})
	}
	wg.Wait()
	if n := cs.calls.Load(); n != 1 {
		t.Errorf("%d calls for 20 requests, want 1", n)
	}
	cs.mu.Lock()
	if cs.last != *good {
		t.Errorf("the callback got %+v, want %+v", cs.last, *good)
	}
	cs.mu.Unlock()
	// Another stream, another action, another token: each is asked.
	if d := a.Allow(ctx, &Request{Action: Read, Stream: "other", Token: "good"}); d != Allowed {
		t.Errorf("other stream: %v", d)
	}
	if d := a.Allow(ctx, &Request{Action: Publish, Stream: "cam", Token: "bad"}); d != Denied {
		t.Errorf("bad token: %v", d)
	}
	if d := a.Allow(ctx, &Request{Action: Publish, Stream: "cam", Remote: "192.0.2.9"}); d != NoCredentials {
		t.Errorf("no token: %v", d)
	}
	if n := cs.calls.Load(); n != 4 {
		t.Errorf("%d calls, want 4", n)
	}

	// Down or slow: denied, counted, not cached.
	cs.fail.Store(true)
	fresh := &Request{Action: Read, Stream: "third", Token: "good"}
	if d := a.Allow(ctx, fresh); d != Denied {
		t.Errorf("callback failing: %v", d)
	}
	cs.fail.Store(false)
	cs.delay.Store(int64(time.Second))
	if d := a.Allow(ctx, fresh); d != Denied {
		t.Errorf("callback slow: %v", d)
	}
	cs.delay.Store(0)
	if d := a.Allow(ctx, fresh); d != Allowed {
		t.Errorf("callback back: %v", d)
	}
	if c := a.Counts()[Read]; c.Errors != 2 || c.Allowed != 22 {
		t.Errorf("read counts: %+v", c)
	}
}

// jwtToken signs claims with key under alg, naming kid.
func jwtToken(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, exp time.Time, sv Claims) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	b := jwt.Signed(sig).Claims(sv)
	if !exp.IsZero() {
		b = b.Claims(jwt.Claims{Expiry: jwt.NewNumericDate(exp), Subject: "alice"})
	}
	s, err := b.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWT(t *testing.T) {
	secret := []byte("a-secret-of-at-least-32-bytes!!!")
	hs, err := NewJWTSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: rsaKey.Public(), KeyID: "r1", Algorithm: "RS256", Use: "sig"},
		{Key: ecKey.Public(), KeyID: "e1", Algorithm: "ES256", Use: "sig"},
	}})
	pk, err := ParseJWKS(jwks)
	if err != nil {
		t.Fatal(err)
	}
	later, past := time.Now().Add(time.Hour), time.Now().Add(-time.Minute)
	readCam := Claims{Streams: []string{"cam"}, Actions: []Action{Read}}
	for _, tt := range []struct {
		name   string
		m      *JWT
		token  string
		action Action
		stream string
		want   bool
	}{
		{"HS256", hs, jwtToken(t, jose.HS256, secret, "", later, readCam), Read, "cam", true},
		{"HS256, another stream", hs, jwtToken(t, jose.HS256, secret, "", later, readCam), Read, "lobby", false},
		{"HS256, another action", hs, jwtToken(t, jose.HS256, secret, "", later, readCam), Publish, "cam", false},
		{"HS256, every stream", hs, jwtToken(t, jose.HS256, secret, "", later, Claims{Streams: []string{"*"}, Actions: []Action{Publish}}), Publish, "lobby", true},
		{"HS256, expired", hs, jwtToken(t, jose.HS256, secret, "", past, readCam), Read, "cam", false},
		{"HS256, no exp", hs, jwtToken(t, jose.HS256, secret, "", time.Time{}, readCam), Read, "cam", false},
		{"HS256, another secret", hs, jwtToken(t, jose.HS256, []byte("another-secret-of-32-bytes-or-so"), "", later, readCam), Read, "cam", false},
		{"RS256", pk, jwtToken(t, jose.RS256, rsaKey, "r1", later, readCam), Read, "cam", true},
		{"ES256", pk, jwtToken(t, jose.ES256, ecKey, "e1", later, readCam), Read, "cam", true},
		{"ES256, wrong kid", pk, jwtToken(t, jose.ES256, ecKey, "r1", later, readCam), Read, "cam", false},
		{"ES256, unknown kid", pk, jwtToken(t, jose.ES256, ecKey, "x", later, readCam), Read, "cam", false},
		// Algorithm confusion: an HS256 token keyed with the public key's bytes.
		{"HS256 against the JWKS", pk, jwtToken(t, jose.HS256, secret, "r1", later, readCam), Read, "cam", false},
		{"RS256 against the secret", hs, jwtToken(t, jose.RS256, rsaKey, "r1", later, readCam), Read, "cam", false},
		{"not a JWT", hs, "plain-token", Read, "cam", false},
		{"metrics, no stream", hs, jwtToken(t, jose.HS256, secret, "", later, Claims{Actions: []Action{Metrics}}), Metrics, "", true},
	} {
		got, err := tt.m.Allow(ctx, &Request{Action: tt.action, Stream: tt.stream, Token: tt.token})
		if got != tt.want || err != nil {
			t.Errorf("%s: %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	// A token checked once is not checked again, but its exp still is.
	short := jwtToken(t, jose.HS256, secret, "", time.Now().Add(time.Minute), readCam)
	for range 2 {
		if ok, _ := hs.Allow(ctx, &Request{Action: Read, Stream: "cam", Token: short}); !ok {
			t.Error("a valid token refused")
		}
	}
	hs.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if ok, _ := hs.Allow(ctx, &Request{Action: Read, Stream: "cam", Token: short}); ok {
		t.Error("a token verified before it expired is allowed after")
	}
	hs.now = time.Now
	if _, err := NewJWTSecret([]byte("short")); err == nil {
		t.Error("a 5-byte HS256 secret accepted")
	}
	if _, err := ParseJWKS([]byte(`{"keys":[]}`)); err == nil {
		t.Error("an empty JWKS accepted")
	}
}

func FuzzParseKeys(f *testing.F) {
	f.Add("cam key-12345678\n* other-key-123 read,publish\n# c\n")
	f.Add("cam\tk\n")
	f.Fuzz(func(t *testing.T, in string) {
		k, err := ParseKeys(strings.NewReader(in), validName)
		if err == nil && k.Len() == 0 {
			t.Error("no error and no keys")
		}
	})
}

func FuzzJWT(f *testing.F) {
	f.Add("eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.x")
	f.Add("a.b.c")
	m, _ := NewJWTSecret([]byte("a-secret-of-at-least-32-bytes!!!"))
	f.Fuzz(func(t *testing.T, token string) {
		if ok, err := m.Allow(ctx, &Request{Action: Read, Stream: "cam", Token: token}); ok || err != nil {
			t.Errorf("%q: %v, %v", token, ok, err)
		}
	})
}

// Replace swaps the keys while requests are decided; the counts go on.
func TestReplace(t *testing.T) {
	old, fresh := &Keys{}, &Keys{}
	old.Add("cam", "old-key-123", Publish)
	fresh.Add("cam", "new-key-123", Publish)
	a := New(Options{Methods: []Method{old}, Protect: []Action{Publish}})
	pub := func(token string) Decision {
		return a.Allow(ctx, &Request{Action: Publish, Stream: "cam", Token: token})
	}
	if pub("old-key-123") != Allowed || pub("new-key-123") != Denied {
		t.Error("before")
	}
	a.Replace(Options{Methods: []Method{fresh}, Protect: []Action{Publish, Read}})
	if pub("old-key-123") != Denied || pub("new-key-123") != Allowed || !a.Protects(Read) {
		t.Error("after")
	}
	if c := a.Counts()[Publish]; c.Allowed != 2 || c.Refused != 2 {
		t.Errorf("counts: %+v", c)
	}
}
