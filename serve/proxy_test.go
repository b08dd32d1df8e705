package serve

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"

	"github.com/svtool/sv/auth"
)

func TestTrustProxies(t *testing.T) {
	proxies, err := ParseProxies([]string{"127.0.0.0/8", "10.0.0.2,::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, peer string
		hdr        map[string]string
		want       string // the client's host
		kept       bool   // the forwarding headers left as they were
	}{
		{"X-Forwarded-For", "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.7"}, "203.0.113.7", false},
		{"a hop written by the client is not taken", "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}, "203.0.113.7", false},
		{"trusted hops are passed over", "[::1]:5000", map[string]string{"X-Forwarded-For": "203.0.113.7, 10.0.0.2"}, "203.0.113.7", false},
		{"all trusted: the first", "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "127.0.0.5, 10.0.0.2"}, "127.0.0.5", false},
		{"X-Real-IP", "127.0.0.1:5000", map[string]string{"X-Real-Ip": "2001:db8::7"}, "2001:db8::7", false},
		{"Forwarded", "127.0.0.1:5000", map[string]string{"Forwarded": `for="[2001:db8::1]:4711", for=192.0.2.60;proto=https`}, "192.0.2.60", false},
		{"Forwarded with a port", "127.0.0.1:5000", map[string]string{"Forwarded": `for=192.0.2.43:80`}, "192.0.2.43", false},
		{"an untrusted peer", "192.0.2.9:5000", map[string]string{"X-Forwarded-For": "203.0.113.7"}, "192.0.2.9", true},
		{"no address in the header", "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "not-an-ip"}, "127.0.0.1", true},
		{"no header", "127.0.0.1:5000", nil, "127.0.0.1", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got *http.Request
			h := trustProxies(proxies, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r }))
			r := httptest.NewRequest("GET", "/live/cam/manifest.mpd", nil)
			r.RemoteAddr = c.peer
			for k, v := range c.hdr {
				r.Header.Set(k, v)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if host := hostOf(got.RemoteAddr); host != c.want {
				t.Errorf("client %s, want %s", host, c.want)
			}
			for k, v := range c.hdr {
				if kept := got.Header.Get(k) == v; kept != c.kept {
					t.Errorf("%s kept: %v, want %v", k, kept, c.kept)
				}
			}
		})
	}
	for _, bad := range []string{"10.0.0.300", "example.org", "10.0.0.0/33"} {
		if _, err := ParseProxies([]string{bad}); err == nil {
			t.Errorf("proxy %q accepted", bad)
		}
	}
}

// TestTrustedProxyCallback: behind a trusted proxy the authorization callback is told the
// client's address, not the proxy's.
func TestTrustedProxyCallback(t *testing.T) {
	var mu sync.Mutex
	var remotes []string
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req auth.Request
		json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		remotes = append(remotes, req.Remote)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer cb.Close()
	for _, c := range []struct {
		proxies []netip.Prefix
		want    string
	}{
		{[]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "203.0.113.7"},
		{nil, "127.0.0.1"},
	} {
		mu.Lock()
		remotes = nil
		mu.Unlock()
		az := auth.New(auth.Options{Methods: []auth.Method{&auth.Callback{URL: cb.URL}}, Protect: []auth.Action{auth.Read}})
		ts := newTestServer(t, Options{Auth: az, TrustedProxies: c.proxies})
		ts.write(t, "manifest.mpd", []byte(`<MPD type="static"></MPD>`))
		resp, _ := ts.get(t, "GET", "/live/cam/manifest.mpd", http.Header{"X-Forwarded-For": {"203.0.113.7"}})
		mu.Lock()
		got := remotes
		mu.Unlock()
		if resp.StatusCode != 200 || len(got) != 1 || got[0] != c.want {
			t.Errorf("proxies %v: status %d, the callback was told %v; want %s", c.proxies, resp.StatusCode, got, c.want)
		}
	}
}

func FuzzForwardedClient(f *testing.F) {
	f.Add("203.0.113.7, 10.0.0.2", "", `for="[2001:db8::1]:4711"`)
	f.Add("", "2001:db8::7", "")
	f.Add("", "", `for=192.0.2.43:80;proto=https, for="_hidden"`)
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, xff, real, fwd string) {
		hdr := http.Header{}
		for k, v := range map[string]string{"X-Forwarded-For": xff, "X-Real-Ip": real, "Forwarded": fwd} {
			if v != "" {
				hdr.Set(k, v)
			}
		}
		a, ok := forwardedClient(proxies, hdr)
		if ok && (!a.IsValid() || a.Is4In6()) {
			t.Errorf("%q %q %q: client %v", xff, real, fwd, a)
		}
	})
}
