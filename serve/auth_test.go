package serve

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/svtool/sv/auth"
)

const liveMPD = `<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" availabilityStartTime="2026-12-05T10:00:00.000Z" minimumUpdatePeriod="PT0.5S">
  <Period id="0" start="PT0S">
    <AdaptationSet contentType="video">
      <Representation id="0" bandwidth="1000000" codecs="avc1.42e01f">
        <SegmentTemplate timescale="90000" media="chunk-stream0-p0-$Number%05d$.m4s" initialization="init-stream0.m4s" startNumber="1" duration="90000"/>
      </Representation>
    </AdaptationSet>
  </Period>
  <UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-xsdate:2014" value="http://127.0.0.1:8080/time"/>
</MPD>
`

const livePlaylist = `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:1
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.4
#EXT-X-MAP:URI="init-stream0.m4s"
#EXTINF:1.0,
chunk-stream0-p0-00001.m4s
#EXT-X-PART:DURATION=0.2,URI="chunk-stream0-p0-00002.m4s",BYTERANGE="1000@0",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="chunk-stream0-p0-00002.m4s",BYTERANGE-START=1000
#EXT-X-RENDITION-REPORT:URI="media-1.m3u8?x=1",LAST-MSN=2
`

func TestWithToken(t *testing.T) {
	mpd := string(withToken([]byte(liveMPD), "a b&c", false))
	for _, want := range []string{
		`media="chunk-stream0-p0-$Number%05d$.m4s?token=a+b%26c"`,
		`initialization="init-stream0.m4s?token=a+b%26c"`,
		`value="http://127.0.0.1:8080/time"`, // the clock is no media
	} {
		if !strings.Contains(mpd, want) {
			t.Errorf("the MPD lacks %s:\n%s", want, mpd)
		}
	}
	pl := string(withToken([]byte(livePlaylist), "tok", true))
	for _, want := range []string{
		"\nchunk-stream0-p0-00001.m4s?token=tok\n",
		`#EXT-X-MAP:URI="init-stream0.m4s?token=tok"` + "\n",
		`URI="chunk-stream0-p0-00002.m4s?token=tok",BYTERANGE="1000@0",INDEPENDENT=YES`,
		`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="chunk-stream0-p0-00002.m4s?token=tok",BYTERANGE-START=1000`,
		`#EXT-X-RENDITION-REPORT:URI="media-1.m3u8?x=1&token=tok",LAST-MSN=2`,
		"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.4\n",
	} {
		if !strings.Contains(pl, want) {
			t.Errorf("the playlist lacks %q:\n%s", want, pl)
		}
	}
	if strings.Count(pl, "token=") != 5 || strings.Count(mpd, "token=") != 2 {
		t.Errorf("tokens: %d in the playlist, %d in the MPD", strings.Count(pl, "token="), strings.Count(mpd, "token="))
	}
}

// withoutToken takes back what withToken added.
func withoutToken(b []byte, param string, hls bool) []byte {
	amp := "&amp;"
	if hls {
		amp = "&"
	}
	b = bytes.ReplaceAll(b, []byte(amp+param), nil)
	return bytes.ReplaceAll(b, []byte("?"+param), nil)
}

func FuzzWithToken(f *testing.F) {
	f.Add([]byte(liveMPD), false)
	f.Add([]byte(livePlaylist), true)
	f.Add([]byte(`URI="x`), true)
	f.Fuzz(func(t *testing.T, b []byte, hls bool) {
		if bytes.Contains(b, []byte("zq9")) {
			return // the token itself
		}
		out := withToken(b, "zq9", hls)
		if back := withoutToken(out, "token=zq9", hls); !bytes.Equal(back, b) {
			t.Errorf("withToken changed more than its URLs:\n%q\n%q", b, out)
		}
	})
}

// With reads protected, every request under /live/{stream}/ needs a token that may
// watch that stream (401 without one, 403 with another), /streams.json lists only the
// streams the token may watch, and a manifest read with the token names it in every URL.
func TestReadAuth(t *testing.T) {
	keys := &auth.Keys{}
	keys.Add("cam", "viewer-key", auth.Read)
	az := auth.New(auth.Options{Methods: []auth.Method{keys}, Protect: []auth.Action{auth.Read}})
	ts := newTestServer(t, Options{Auth: az})
	ts.write(t, "manifest.mpd", []byte(liveMPD))
	ts.write(t, "media-0.m3u8", []byte(livePlaylist))
	ts.write(t, "init-stream0.m4s", pattern(100, 1))

	for _, tt := range []struct {
		path   string
		header http.Header
		status int
	}{
		{"/live/cam/manifest.mpd", nil, 401},
		{"/live/cam/manifest.mpd?token=nope-nope", nil, 403},
		{"/live/cam/init-stream0.m4s", nil, 401},
		{"/live/cam/media-0.m3u8?_HLS_msn=1", nil, 401},
		{"/live/cam/events", nil, 401},
		{"/live/cam/frames.jsonl", nil, 401},
		{"/streams.json?stream=cam", nil, 401},
		{"/live/cam/init-stream0.m4s?token=viewer-key", nil, 200},
		{"/live/cam/init-stream0.m4s", http.Header{"Authorization": {"Bearer viewer-key"}}, 200},
	} {
		resp, body := ts.get(t, "GET", tt.path, tt.header)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: %d %q, want %d", tt.path, resp.StatusCode, body, tt.status)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: no CORS header: a player in another page could not tell a refusal", tt.path)
		}
		if tt.status == 401 && resp.Header.Get("WWW-Authenticate") != `Bearer realm="sv"` {
			t.Errorf("%s: WWW-Authenticate %q", tt.path, resp.Header.Get("WWW-Authenticate"))
		}
		if tt.status == 200 && resp.Header.Get("Cache-Control") != "private, max-age=31536000, immutable" {
			t.Errorf("%s: Cache-Control %q: a shared cache could hand it to anyone", tt.path, resp.Header.Get("Cache-Control"))
		}
	}

	resp, mpd := ts.get(t, "GET", "/live/cam/manifest.mpd?token=viewer-key", nil)
	if resp.StatusCode != 200 || !bytes.Contains(mpd, []byte(`media="chunk-stream0-p0-$Number%05d$.m4s?token=viewer-key"`)) {
		t.Errorf("the MPD read with the token: %d\n%s", resp.StatusCode, mpd)
	}
	// Gzipped too, with the same token, and the bare file untouched for another.
	resp, gz := ts.get(t, "GET", "/live/cam/media-0.m3u8?token=viewer-key", http.Header{"Accept-Encoding": {"gzip"}})
	if resp.Header.Get("Content-Encoding") != "gzip" || len(gz) == 0 {
		t.Errorf("the playlist gzipped: %v", resp.Header)
	}
	resp, pl := ts.get(t, "GET", "/live/cam/media-0.m3u8", http.Header{"Authorization": {"Bearer viewer-key"}})
	if resp.StatusCode != 200 || !bytes.Equal(pl, []byte(livePlaylist)) {
		t.Errorf("a playlist read with a header token is rewritten:\n%s", pl)
	}

	// /streams.json shows a stream only to a token that may watch it.
	for _, tt := range []struct {
		query string
		n     int
	}{{"", 0}, {"?token=nope-nope", 0}, {"?token=viewer-key", 1}} {
		_, body := ts.get(t, "GET", "/streams.json"+tt.query, nil)
		var list struct{ Streams []StreamInfo }
		if err := json.Unmarshal(body, &list); err != nil || len(list.Streams) != tt.n {
			t.Errorf("/streams.json%s: %s (%v), want %d streams", tt.query, body, err, tt.n)
		}
	}
	if c := az.Counts()[auth.Read]; c.Refused < 8 || c.Allowed < 4 {
		t.Errorf("decisions: %+v", c)
	}
}

// BenchmarkReadAuth is the cost of deciding who may watch, on the media path: a
// finished 40 KB segment asked for over and over by 8 clients on loopback, with reads
// open, and protected by a key, by an HS256 JWT and by an application callback (its
// answer cached, as it is for every request of a player after its first).
func BenchmarkReadAuth(b *testing.B) {
	secret := []byte("a-secret-of-at-least-32-bytes!!!")
	jwtMethod, err := auth.NewJWTSecret(secret)
	if err != nil {
		b.Fatal(err)
	}
	callback := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer callback.Close()
	keys := &auth.Keys{}
	keys.Add("cam", "viewer-key", auth.Read)
	token := benchJWT(b, secret)
	for _, c := range []struct {
		name   string
		method auth.Method
		token  string
	}{
		{"open", nil, ""},
		{"keys", keys, "viewer-key"},
		{"jwt", jwtMethod, token},
		{"callback", &auth.Callback{URL: callback.URL}, "viewer-key"},
	} {
		b.Run(c.name, func(b *testing.B) {
			var o Options
			if c.method != nil {
				o.Auth = auth.New(auth.Options{Methods: []auth.Method{c.method}, Protect: []auth.Action{auth.Read}})
			}
			ts := newTestServer(b, o)
			ts.write(b, "chunk-stream0-00001.m4s", pattern(40<<10, 3))
			url := ts.url + "/live/cam/chunk-stream0-00001.m4s?token=" + c.token
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8, DisableCompression: true}}
			defer client.CloseIdleConnections()
			b.SetParallelism(4) // 8 clients on 2 cores
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(url)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}

// benchJWT is an HS256 token that may watch cam for an hour.
func benchJWT(b *testing.B, secret []byte) string {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, nil)
	if err != nil {
		b.Fatal(err)
	}
	s, err := jwt.Signed(sig).Claims(auth.Claims{Streams: []string{"cam"}, Actions: []auth.Action{auth.Read}}).
		Claims(jwt.Claims{Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour))}).Serialize()
	if err != nil {
		b.Fatal(err)
	}
	return s
}
