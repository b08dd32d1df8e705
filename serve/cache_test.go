package serve

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/svtool/sv/auth"
)

// cachePolicy is what a Cache-Control header allows a cache, as RFC 9111 reads it.
type cachePolicy struct {
	sharedStore bool // a shared cache (a CDN, Varnish) may store the response
	shared      int  // seconds a shared cache may use it without asking the origin
	browser     int  // seconds a browser's cache may
	immutable   bool
}

func policyOf(cc string) cachePolicy {
	p := cachePolicy{sharedStore: cc != ""} // no heuristic freshness for live media: say it, or it is not kept
	maxAge, sMaxAge, noCache := 0, -1, false
	for d := range strings.SplitSeq(cc, ",") {
		name, value, _ := strings.Cut(strings.ToLower(strings.TrimSpace(d)), "=")
		n, _ := strconv.Atoi(value)
		switch name {
		case "no-store", "private":
			p.sharedStore = false
		case "no-cache":
			noCache = true
		case "immutable":
			p.immutable = true
		case "max-age":
			maxAge = n
		case "s-maxage":
			sMaxAge = n
		}
	}
	if noCache {
		return p
	}
	p.browser, p.shared = maxAge, maxAge
	if sMaxAge >= 0 {
		p.shared = sMaxAge
	}
	if !p.sharedStore {
		p.shared = 0
	}
	return p
}

// TestSharedCaches: what each response allows a shared cache in front of sv (a CDN,
// deploy/varnish) and a browser's: finished segments and parts for good; the MPD and
// the playlists a second in a shared cache, and not at all in a browser's; an LL-HLS
// media playlist's first load nowhere (its freshness is the player's start); a blocking
// reload a target duration; the 204 after the end briefly; errors and event streams
// never. With reads protected, nothing is kept by a shared cache.
func TestSharedCaches(t *testing.T) {
	type want struct {
		status      int
		sharedStore bool
		shared      [2]int // at least, at most
		browser     int    // at most
		immutable   bool
	}
	const year = 31536000
	cases := []struct {
		path string
		want want
	}{
		{"/live/cam/manifest.mpd", want{200, true, [2]int{1, 1}, 0, false}},
		{"/live/cam/master.m3u8", want{200, true, [2]int{1, 1}, 0, false}},
		{"/live/cam/media_0.m3u8", want{200, true, [2]int{0, 0}, 0, false}},
		{"/live/cam/media_0.m3u8?_HLS_msn=51&_HLS_part=1", want{200, true, [2]int{1, 1}, 1, false}},
		{"/live/cam/media_1.m3u8", want{200, true, [2]int{1, 1}, 0, false}}, // no parts: not low latency
		{"/live/cam/init-stream0-abc.m4s", want{200, true, [2]int{year, year}, year, true}},
		{"/live/cam/" + segmentName(50), want{200, true, [2]int{year, year}, year, true}},
		{"/live/cam/" + partName(51, 1), want{200, true, [2]int{year, year}, year, true}},
		{"/live/cam/chunk-stream9-00004.m4s", want{204, true, [2]int{1, 2}, 2, false}}, // after the last of an ended presentation
		{"/live/cam/chunk-stream9-00000.m4s", want{404, false, [2]int{0, 0}, 0, false}},
		{"/live/cam/media_0.m3u8?_HLS_msn=99", want{400, false, [2]int{0, 0}, 0, false}},
		{"/live/cam/events", want{200, false, [2]int{0, 0}, 0, false}},
	}
	setup := func(ts *testServer) {
		newPackager(t, ts.dir)
		ts.write(t, "master.m3u8", []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000000\nmedia_0.m3u8\n"))
		ts.write(t, "media_1.m3u8", []byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2.0,\nchunk-stream1-00001.m4s\n"))
		ts.write(t, "manifest.mpd", []byte(`<MPD type="dynamic" availabilityStartTime="2026-12-04T21:00:00Z" mediaPresentationDuration="PT3S"></MPD>`))
		ts.write(t, "chunk-stream9-00001.m4s", pattern(100, 9))
		ts.write(t, "frames.jsonl", []byte("{}\n"))
	}

	ts := newTestServer(t, Options{}) // the presentation is over: nothing is held
	setup(ts)
	for _, c := range cases {
		get := ts.get
		if c.path == "/live/cam/events" {
			get = headOnly(ts)
		}
		resp, _ := get(t, "GET", c.path, nil)
		cc := resp.Header.Get("Cache-Control")
		p, w := policyOf(cc), c.want
		if resp.StatusCode != w.status || p.sharedStore != w.sharedStore || p.shared < w.shared[0] || p.shared > w.shared[1] ||
			p.browser > w.browser || p.immutable != w.immutable {
			t.Errorf("%s: %d, Cache-Control %q (%+v); want %d, %+v", c.path, resp.StatusCode, cc, p, w.status, w)
		}
	}

	// Protected: whatever needed the token is for its viewer alone.
	keys := &auth.Keys{}
	keys.Add("cam", "viewer-key", auth.Read)
	az := auth.New(auth.Options{Methods: []auth.Method{keys}, Protect: []auth.Action{auth.Read}})
	ts = newTestServer(t, Options{Auth: az})
	setup(ts)
	for _, c := range cases {
		for _, how := range []string{"query", "header"} {
			p, h := c.path, http.Header{}
			if how == "query" {
				sep := "?"
				if strings.Contains(p, "?") {
					sep = "&"
				}
				p += sep + "token=viewer-key"
			} else {
				h.Set("Authorization", "Bearer viewer-key")
			}
			get := ts.get
			if c.path == "/live/cam/events" {
				get = headOnly(ts)
			}
			resp, _ := get(t, "GET", p, h)
			cc := resp.Header.Get("Cache-Control")
			if resp.StatusCode != c.want.status || policyOf(cc).sharedStore {
				t.Errorf("protected, token in the %s: %s: %d, Cache-Control %q: a shared cache may hand it to anyone", how, p, resp.StatusCode, cc)
			}
		}
	}
}

// headOnly is testServer.get for a response that does not end (an event stream): its
// headers, with the request cut once they have come.
func headOnly(ts *testServer) func(*testing.T, string, string, http.Header) (*http.Response, []byte) {
	return func(t *testing.T, method, path string, header http.Header) (*http.Response, []byte) {
		t.Helper()
		resp := ts.do(t, method, path, header)
		resp.Body.Close()
		return resp, nil
	}
}

// TestValidators: a cache revalidates, and asks for ranges of, what it holds, by the
// ETag and Last-Modified it was given: they are the same for a file whole, a range of
// it, its HEAD and a second request, and differ between the gzipped and the plain body
// of a manifest, which vary by Accept-Encoding (and by nothing else: the CORS headers
// are the same for every origin).
func TestValidators(t *testing.T) {
	ts := newTestServer(t, Options{Hold: -1})
	newPackager(t, ts.dir)
	ts.write(t, "manifest.mpd", []byte(liveMPD))
	for _, path := range []string{"/live/cam/" + segmentName(50), "/live/cam/manifest.mpd", "/live/cam/media_0.m3u8?_HLS_msn=50"} {
		whole, _ := ts.get(t, "GET", path, nil)
		again, _ := ts.get(t, "GET", path, nil)
		head, _ := ts.get(t, "HEAD", path, nil)
		part, body := ts.get(t, "GET", path, http.Header{"Range": {"bytes=10-19"}})
		gz, _ := ts.get(t, "GET", path, http.Header{"Accept-Encoding": {"gzip"}})
		etag, modified := whole.Header.Get("ETag"), whole.Header.Get("Last-Modified")
		if etag == "" || part.StatusCode != http.StatusPartialContent || len(body) != 10 {
			t.Errorf("%s: ETag %q, range: %d, %d bytes", path, etag, part.StatusCode, len(body))
		}
		for name, r := range map[string]*http.Response{"again": again, "HEAD": head, "range": part} {
			if r.Header.Get("ETag") != etag || r.Header.Get("Last-Modified") != modified {
				t.Errorf("%s: %s: ETag %q, Last-Modified %q; the whole file's %q, %q", path, name, r.Header.Get("ETag"), r.Header.Get("Last-Modified"), etag, modified)
			}
		}
		if cond, _ := ts.get(t, "GET", path, http.Header{"If-None-Match": {etag}}); cond.StatusCode != http.StatusNotModified {
			t.Errorf("%s: revalidated with its ETag: %d", path, cond.StatusCode)
		}
		gzipped := gz.Header.Get("Content-Encoding") == "gzip"
		if gzipped == strings.HasSuffix(path, ".m4s") {
			t.Errorf("%s: Content-Encoding %q", path, gz.Header.Get("Content-Encoding"))
		}
		vary := fmt.Sprint(whole.Header.Values("Vary"))
		if gzipped && (gz.Header.Get("ETag") == etag || !strings.Contains(vary, "Accept-Encoding")) {
			t.Errorf("%s: gzipped ETag %q, plain %q, Vary %s", path, gz.Header.Get("ETag"), etag, vary)
		}
		if strings.Contains(vary, "Origin") {
			t.Errorf("%s: Vary %s with the same CORS headers for every origin", path, vary)
		}
	}
}
