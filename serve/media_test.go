package serve

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"
)

func TestMediaHeaders(t *testing.T) {
	ts := newTestServer(t, Options{})
	seg := pattern(5000, 1)
	ts.write(t, "manifest.mpd", []byte(`<MPD type="static"></MPD>`))
	ts.write(t, "master.m3u8", []byte("#EXTM3U\n"))
	ts.write(t, "media_0.m3u8", []byte("#EXTM3U\n"))
	ts.write(t, "init-stream0.m4s", seg[:100])
	ts.write(t, "chunk-stream0-00001.m4s", seg)
	ts.write(t, "rec.mp4", seg)
	ts.write(t, "rec.webm", seg)
	ts.write(t, "sound.m4a", seg)
	ts.write(t, "thumbs/000001.jpg", seg)
	ts.write(t, "frames.jsonl", []byte("{}\n"))
	ts.write(t, ".sv-dash", []byte("marker"))
	ts.write(t, "notes.txt", []byte("not media"))
	ts.write(t, "chunk-stream0-00002.m4s.tmp", seg)
	ts.write(t, "index.html", []byte("<p>not here</p>"))

	const immutable = "public, max-age=31536000, immutable"
	for _, c := range []struct {
		path, ctype, cache string
		status             int
	}{
		{"/live/cam/manifest.mpd", "application/dash+xml", liveCache, 200},
		{"/live/cam/master.m3u8", "application/vnd.apple.mpegurl", liveCache, 200},
		{"/live/cam/media_0.m3u8", "application/vnd.apple.mpegurl", liveCache, 200},
		{"/live/cam/init-stream0.m4s", "video/iso.segment", immutable, 200},
		{"/live/cam/chunk-stream0-00001.m4s", "video/iso.segment", immutable, 200},
		{"/live/cam/rec.mp4", "video/mp4", immutable, 200},
		{"/live/cam/rec.webm", "video/webm", immutable, 200},
		{"/live/cam/sound.m4a", "audio/mp4", immutable, 200},
		{"/live/cam/thumbs/000001.jpg", "image/jpeg", "no-cache", 200},
		{"/live/cam/frames.jsonl", "application/x-ndjson", "no-cache", 200},
		{"/live/cam/.sv-dash", "", "", 404},
		{"/live/cam/notes.txt", "", "", 404},
		{"/live/cam/index.html", "", "", 404},
		{"/live/cam/chunk-stream0-00002.m4s.tmp", "", "", 404},
		{"/live/cam/chunk-stream3-00099.m4s", "", "", 404}, // after the end of chunk-stream0 is 204 (TestAfterTheEnd)
		{"/live/nope/manifest.mpd", "", "", 404},
		{"/live/cam/", "", "", 404},
		{"/live/cam", "", "", 404},
		{"/live/", "", "", 404},
		{"/live/cam/thumbs", "", "", 404},
		{"/live/cam/thumbs/", "", "", 404},
	} {
		t.Run(c.path, func(t *testing.T) {
			resp, body := ts.get(t, "GET", c.path, nil)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if c.status != 200 {
				if resp.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("a 404 has Cache-Control %q", resp.Header.Get("Cache-Control"))
				}
				return
			}
			h := resp.Header
			if got := h.Get("Content-Type"); got != c.ctype {
				t.Errorf("Content-Type %q, want %q", got, c.ctype)
			}
			if got := h.Get("Cache-Control"); got != c.cache {
				t.Errorf("Cache-Control %q, want %q", got, c.cache)
			}
			if h.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("Access-Control-Allow-Origin %q", h.Get("Access-Control-Allow-Origin"))
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("ETag") == "" {
				t.Errorf("headers %v", h)
			}
			if c.cache != immutable && h.Get("Last-Modified") != "" {
				t.Errorf("a file that changes often has Last-Modified (1 s resolution): %q", h.Get("Last-Modified"))
			}
			want, _ := os.ReadFile(filepath.Join(ts.root, filepath.FromSlash(strings.TrimPrefix(c.path, "/"))))
			if !bytes.Equal(body, want) {
				t.Errorf("body of %d bytes, want the file's %d", len(body), len(want))
			}
		})
	}
}

func TestCORSOrigin(t *testing.T) {
	ts := newTestServer(t, Options{CORSOrigin: "https://player.example"})
	ts.write(t, "manifest.mpd", []byte(`<MPD/>`))
	resp, _ := ts.get(t, "GET", "/live/cam/manifest.mpd", http.Header{"Origin": {"https://player.example"}})
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://player.example" {
		t.Errorf("Access-Control-Allow-Origin %q", got)
	}
	if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
		t.Errorf("Vary %q lacks Origin", resp.Header.Values("Vary"))
	}
	resp, _ = ts.get(t, "GET", "/time", nil)
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://player.example" {
		t.Errorf("/time: Access-Control-Allow-Origin %q", got)
	}
}

func TestRangeAndConditional(t *testing.T) {
	ts := newTestServer(t, Options{})
	seg := pattern(10000, 2)
	ts.write(t, "chunk-stream0-00001.m4s", seg)
	const p = "/live/cam/chunk-stream0-00001.m4s"

	resp, body := ts.get(t, "GET", p, http.Header{"Range": {"bytes=100-199"}})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, seg[100:200]) {
		t.Fatalf("range: status %d, %d bytes", resp.StatusCode, len(body))
	}
	if got := resp.Header.Get("Content-Range"); got != "bytes 100-199/10000" {
		t.Errorf("Content-Range %q", got)
	}
	resp, body = ts.get(t, "GET", p, http.Header{"Range": {"bytes=-10"}})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, seg[9990:]) {
		t.Errorf("suffix range: status %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, _ = ts.get(t, "GET", p, http.Header{"Range": {"bytes=20000-"}})
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("range past the end: status %d", resp.StatusCode)
	}
	resp, body = ts.get(t, "HEAD", p, nil)
	if resp.StatusCode != 200 || resp.ContentLength != 10000 || len(body) != 0 || resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("HEAD: status %d, length %d, %d body bytes, Accept-Ranges %q", resp.StatusCode, resp.ContentLength, len(body), resp.Header.Get("Accept-Ranges"))
	}
	etag := resp.Header.Get("ETag")
	resp, _ = ts.get(t, "GET", p, http.Header{"If-None-Match": {etag}})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d", resp.StatusCode)
	}
}

// TestWholeSegment checks that a request for a whole segment, which sendWhole answers,
// gets what http.ServeContent gives a request it answers in full: the same body and
// headers. The segment is larger than ReadFrom's sendChunk, so that it leaves in several
// sendfiles under one cork.
func TestWholeSegment(t *testing.T) {
	ts := newTestServer(t, Options{})
	seg := pattern(sendChunk*2+1000, 3)
	ts.write(t, "chunk-stream0-00001.m4s", seg)
	const p = "/live/cam/chunk-stream0-00001.m4s"

	resp, body := ts.get(t, "GET", p, nil)
	// An If-None-Match that matches nothing goes through http.ServeContent, and is
	// answered in full.
	full, fullBody := ts.get(t, "GET", p, http.Header{"If-None-Match": {`"other"`}})
	if resp.StatusCode != 200 || full.StatusCode != 200 {
		t.Fatalf("status %d, and %d through ServeContent", resp.StatusCode, full.StatusCode)
	}
	if !bytes.Equal(body, seg) || !bytes.Equal(fullBody, seg) {
		t.Fatalf("%d and %d bytes through ServeContent, of %d", len(body), len(fullBody), len(seg))
	}
	for k := range full.Header {
		if k == "Date" {
			continue
		}
		if got, want := resp.Header.Values(k), full.Header.Values(k); !slices.Equal(got, want) {
			t.Errorf("%s: %q, through ServeContent %q", k, got, want)
		}
	}
	if len(resp.Header) != len(full.Header) {
		t.Errorf("headers %v, through ServeContent %v", resp.Header, full.Header)
	}
	if resp.ContentLength != int64(len(seg)) {
		t.Errorf("Content-Length %d", resp.ContentLength)
	}
	resp, body = ts.get(t, "HEAD", p, nil)
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(seg)) || len(body) != 0 {
		t.Errorf("HEAD: status %d, length %d, %d body bytes", resp.StatusCode, resp.ContentLength, len(body))
	}
}

func TestGzipManifest(t *testing.T) {
	ts := newTestServer(t, Options{})
	mpd := bytes.Repeat([]byte(`<Representation id="0" bandwidth="1000000"/>`+"\n"), 50)
	ts.write(t, "manifest.mpd", mpd)
	ts.write(t, "chunk-stream0-00001.m4s", mpd) // compressible, but a segment: never gzipped

	resp, body := ts.get(t, "GET", "/live/cam/manifest.mpd", http.Header{"Accept-Encoding": {"br, gzip;q=0.8"}})
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	if resp.ContentLength != int64(len(body)) || len(body) >= len(mpd)/4 {
		t.Errorf("gzipped: Content-Length %d, %d bytes of %d", resp.ContentLength, len(body), len(mpd))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(plain, mpd) {
		t.Errorf("gunzipped manifest differs (%v)", err)
	}
	gzETag := resp.Header.Get("ETag")
	if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Accept-Encoding") {
		t.Errorf("Vary %q", resp.Header.Values("Vary"))
	}
	resp, _ = ts.get(t, "GET", "/live/cam/manifest.mpd", http.Header{"Accept-Encoding": {"gzip"}, "If-None-Match": {gzETag}})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match on the gzipped manifest: status %d", resp.StatusCode)
	}

	for _, h := range []http.Header{
		{"Accept-Encoding": {"gzip;q=0"}},
		{"Accept-Encoding": {"identity"}},
		{"Accept-Encoding": {"gzip"}, "Range": {"bytes=0-9"}},
	} {
		resp, body := ts.get(t, "GET", "/live/cam/manifest.mpd", h)
		if resp.Header.Get("Content-Encoding") != "" || !bytes.HasPrefix(mpd, body) {
			t.Errorf("%v: Content-Encoding %q, %d bytes", h, resp.Header.Get("Content-Encoding"), len(body))
		}
	}
	resp, _ = ts.get(t, "GET", "/live/cam/chunk-stream0-00001.m4s", http.Header{"Accept-Encoding": {"gzip"}})
	if resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("a segment was gzipped")
	}
}

func TestMethods(t *testing.T) {
	ts := newTestServer(t, Options{})
	ts.write(t, "manifest.mpd", []byte(`<MPD/>`))
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"} {
		for _, p := range []string{"/", "/live/cam/manifest.mpd", "/time"} {
			resp, _ := ts.get(t, m, p, nil)
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: status %d, Allow %q", m, p, resp.StatusCode, resp.Header.Get("Allow"))
			}
		}
	}
	// A CORS preflight (a cross-origin Range request makes one) is answered.
	resp, _ := ts.get(t, "OPTIONS", "/live/cam/manifest.mpd", http.Header{
		"Origin":                         {"https://player.example"},
		"Access-Control-Request-Method":  {"GET"},
		"Access-Control-Request-Headers": {"range"},
	})
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Range") {
		t.Errorf("preflight: status %d, headers %v", resp.StatusCode, resp.Header)
	}
	resp, _ = ts.get(t, "OPTIONS", "/live/cam/manifest.mpd", http.Header{
		"Origin":                        {"https://player.example"},
		"Access-Control-Request-Method": {"DELETE"},
	})
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("preflight for DELETE: status %d", resp.StatusCode)
	}
}

// TestTraversal asks for files outside the root in every way we could think of, through
// a real connection (no client-side cleaning of the path): none may be served.
func TestTraversal(t *testing.T) {
	ts := newTestServer(t, Options{})
	base := filepath.Dir(ts.root)
	secret := []byte("TOP-SECRET-CONTENT")
	for _, name := range []string{"secret.m4s", "secret.mpd", "secret"} {
		if err := os.WriteFile(filepath.Join(base, name), secret, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(base, "outside")
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "secret.m4s"), secret, 0o644)
	// Symbolic links in the stream folder: out of the root (refused), and within it
	// (served: that is the root's own content).
	os.Symlink(filepath.Join(base, "secret.m4s"), filepath.Join(ts.dir, "escape.m4s"))
	os.Symlink("../../../secret.m4s", filepath.Join(ts.dir, "relescape.m4s"))
	os.Symlink(outside, filepath.Join(ts.dir, "escapedir"))
	os.Symlink(base, filepath.Join(ts.root, "live", "up"))
	ts.write(t, "inside.m4s", []byte("inside"))
	os.Symlink("inside.m4s", filepath.Join(ts.dir, "alias.m4s"))
	if err := syscall.Mkfifo(filepath.Join(ts.dir, "fifo.m4s"), 0o644); err != nil {
		t.Fatal(err)
	}

	nasty := []string{
		"/live/cam/../../../secret.m4s",
		"/live/cam/../../secret.m4s",
		"/live/cam/%2e%2e/%2e%2e/%2e%2e/secret.m4s",
		"/live/cam/%2E%2E/%2E%2E/%2E%2E/secret.m4s",
		"/live/cam/..%2f..%2f..%2fsecret.m4s",
		"/live/cam/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.m4s",
		"/live/..%2f..%2fsecret.m4s",
		"/live/cam/..%5c..%5c..%5csecret.m4s",
		`/live/cam/..\..\..\secret.m4s`,
		"/live/cam/%252e%252e/%252e%252e/secret.m4s",
		"/live/cam/.%2e/.%2e/.%2e/secret.m4s",
		"/live/cam/./../../../secret.m4s",
		"//live/cam/../../../secret.m4s",
		"/live/cam//../../../secret.m4s",
		"/live/cam/escape.m4s",
		"/live/cam/relescape.m4s",
		"/live/cam/escapedir/secret.m4s",
		"/live/up/secret.m4s",
		"/live/up/outside/secret.m4s",
		"/live/cam/secret.m4s%00.m4s",
		"/live/cam/%00/../../../secret.m4s",
		"/live/cam/" + strings.Repeat("../", 20) + "secret.m4s",
		"/live/cam/fifo.m4s",
		"/live/cam/" + base + "/secret.m4s",
		"/live/cam/%2f" + strings.TrimPrefix(base, "/") + "/secret.m4s",
		"/../secret.m4s",
		"/%2e%2e/secret.m4s",
		"/assets/../../secret",
		"/assets/%2e%2e/%2e%2e/secret",
		"/assets/..%2f..%2fsecret",
		"/live/cam/events/../../../../secret.m4s",
		"/live/%2e%2e/events",
		"/live/../../events",
	}
	for _, p := range nasty {
		t.Run(p, func(t *testing.T) {
			status, body := rawGet(t, ts.url, p)
			if bytes.Contains(body, secret) {
				t.Fatalf("status %d: the secret was served", status)
			}
			if status == 200 {
				t.Fatalf("status 200 (%q)", body)
			}
		})
	}
	// What is inside the root is served, through a link or not.
	for _, p := range []string{"/live/cam/inside.m4s", "/live/cam/alias.m4s"} {
		if status, body := rawGet(t, ts.url, p); status != 200 || string(body) != "inside" {
			t.Errorf("%s: status %d, %q", p, status, body)
		}
	}
}

// rawGet sends a request line with the path exactly as given and reads the response.
func rawGet(t *testing.T, base, p string) (int, []byte) {
	t.Helper()
	u, _ := url.Parse(base)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", p, u.Host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func FuzzMediaPath(f *testing.F) {
	for _, s := range []string{"/live/cam/manifest.mpd", "/live/cam/../x.m4s", "/live/a/b/c.jpg", "/live/cam/%2e.m4s", "/live/-/x.m4s", "/live/cam/.x.m4s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		stream, rel, _, ok := mediaPath(p)
		if !ok {
			return
		}
		if path.Clean(rel) != rel || strings.Contains(rel, "..") || strings.ContainsAny(rel, "\\\x00") ||
			!strings.HasPrefix(rel, "live/"+stream+"/") || !filepath.IsLocal(rel) {
			t.Fatalf("mediaPath(%q) = %q: not a plain path under live/%s", p, rel, stream)
		}
		for _, part := range strings.Split(rel, "/") {
			if part == "" || part[0] == '.' {
				t.Fatalf("mediaPath(%q) = %q: empty or hidden element", p, rel)
			}
		}
	})
}

func TestNumbered(t *testing.T) {
	for _, c := range []struct {
		name  string
		delta int64
		want  []string
	}{
		{"chunk-stream0-00012.m4s", -1, []string{"chunk-stream0-00011.m4s"}},
		{"chunk-stream0-00012.m4s", 1, []string{"chunk-stream0-00013.m4s"}},
		{"chunk-stream0-00001.m4s", -2, nil},
		{"chunk-stream0-99999.m4s", 1, []string{"chunk-stream0-100000.m4s"}},
		{"seg10.m4s", -1, []string{"seg09.m4s", "seg9.m4s"}},
		{"seg100.mp4", -2, []string{"seg098.mp4", "seg98.mp4"}},
		{"seg9.mp4", 1, []string{"seg10.mp4"}},
		{"init.m4s", -1, nil},
		{"seg0.m4s", -1, nil},
	} {
		if got := numbered(c.name, c.delta); strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("numbered(%q, %d) = %q, want %q", c.name, c.delta, got, c.want)
		}
	}
}

// failReader fails the test that reads it.
type failReader struct{ t *testing.T }

func (f failReader) Read([]byte) (int, error) {
	f.t.Error("the cache read a version it has")
	return 0, io.EOF
}

// TestGzipCache: a version of a manifest is compressed once, a new version again, and
// the cache stays within its bounds.
func TestGzipCache(t *testing.T) {
	var c gzipCache
	mpd := bytes.Repeat([]byte("<S t=\"1\" d=\"2\"/>"), 100)
	gz, err := c.get("/live/cam/manifest.mpd", `"1"`, bytes.NewReader(mpd))
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.get("/live/cam/manifest.mpd", `"1"`, failReader{t})
	if err != nil || !bytes.Equal(gz, again) {
		t.Errorf("the same version: %v, %d bytes against %d", err, len(again), len(gz))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := io.ReadAll(zr); err != nil || !bytes.Equal(plain, mpd) {
		t.Errorf("gunzipped: %v, %d bytes of %d", err, len(plain), len(mpd))
	}
	next, err := c.get("/live/cam/manifest.mpd", `"2"`, bytes.NewReader([]byte("<MPD/>")))
	if err != nil || bytes.Equal(next, gz) {
		t.Errorf("a new version: %v, the old one's body", err)
	}
	for i := range maxGzipped + 10 {
		c.get(fmt.Sprintf("/live/s%d/manifest.mpd", i), `"1"`, bytes.NewReader(mpd))
	}
	if len(c.m) > maxGzipped || c.bytes > maxGzippedBytes {
		t.Errorf("%d versions kept, %d bytes: over the bounds", len(c.m), c.bytes)
	}
}

// TestOutOfFiles: out of file descriptors, a manifest or segment that exists is a 503
// with Retry-After, which players retry, not a 404, which is the end to them.
func TestOutOfFiles(t *testing.T) {
	ts := newTestServer(t, Options{})
	ts.write(t, "manifest.mpd", []byte(`<MPD type="dynamic"/>`))
	ts.write(t, "chunk-stream0-00001.m4s", pattern(1000, 1))
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	// Lower the limit to what is open now and a few more, and take those few.
	low := lim
	low.Cur = 64
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		fd := f.Fd()
		f.Close()
		if uint64(fd)+16 < low.Cur {
			break
		}
		low.Cur *= 2
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("cannot lower the open-file limit: %v", err)
	}
	var held []*os.File
	defer func() {
		for _, f := range held {
			f.Close()
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
	}()
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				t.Fatal(err)
			}
			break
		}
		held = append(held, f)
	}
	for _, p := range []string{"/live/cam/manifest.mpd", "/live/cam/chunk-stream0-00001.m4s"} {
		rec := httptest.NewRecorder()
		ts.Handler().ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s out of file descriptors: status %d, Retry-After %q", p, rec.Code, rec.Header().Get("Retry-After"))
		}
	}
}

// TestManifestVersions: two versions of a playlist with as many bytes and the same
// modification time (the file clock ticks every few milliseconds) are two versions: each
// is sent as it is, gzipped or not, and the first one's ETag does not validate the second.
func TestManifestVersions(t *testing.T) {
	ts := newTestServer(t, Options{})
	stamp := time.Now().Add(-time.Minute).Truncate(time.Second)
	write := func(body string) {
		p := ts.write(t, "media_0.m3u8.new", []byte(body))
		if err := os.Chtimes(p, stamp, stamp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p, filepath.Join(ts.dir, "media_0.m3u8")); err != nil {
			t.Fatal(err)
		}
	}
	gz := http.Header{"Accept-Encoding": {"gzip"}}
	get := func(h http.Header) (*http.Response, string) {
		resp, body := ts.get(t, "GET", "/live/cam/media_0.m3u8", h)
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		return resp, string(body)
	}
	write("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nchunk-1.m4s\n")
	first, body := get(gz)
	if first.StatusCode != 200 || !strings.Contains(body, "chunk-1") {
		t.Fatalf("first version: status %d, %q", first.StatusCode, body)
	}
	write("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nchunk-2.m4s\n")
	for _, h := range []http.Header{gz, nil} {
		resp, body := get(h)
		if resp.StatusCode != 200 || !strings.Contains(body, "chunk-2") {
			t.Errorf("second version (Accept-Encoding %q): status %d, %q", h.Get("Accept-Encoding"), resp.StatusCode, body)
		}
	}
	resp, _ := ts.get(t, "GET", "/live/cam/media_0.m3u8", http.Header{"Accept-Encoding": {"gzip"}, "If-None-Match": {first.Header.Get("ETag")}})
	if resp.StatusCode != 200 {
		t.Errorf("the first version's ETag validated the second: status %d", resp.StatusCode)
	}
}

// TestFolderReplaced: a stream folder is opened once and kept; removed and made again
// (a stream started over from scratch), the new folder's files are served, and the old
// one's are not, once the kept folder has been checked again.
func TestFolderReplaced(t *testing.T) {
	ts := newTestServer(t, Options{Hold: -1})
	ts.write(t, "old-00001.m4s", pattern(100, 1))
	if resp, _ := ts.get(t, "GET", "/live/cam/old-00001.m4s", nil); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if err := os.Rename(ts.dir, ts.dir+".gone"); err != nil {
		t.Fatal(err)
	}
	ts.write(t, "new-00001.m4s", pattern(200, 2))
	status := func(p string) int {
		resp, _ := ts.get(t, "GET", p, nil)
		return resp.StatusCode
	}
	if !eventually(func() bool {
		return status("/live/cam/new-00001.m4s") == 200 && status("/live/cam/old-00001.m4s") == 404
	}) {
		t.Errorf("after the folder was made again: new file %d, old file %d; want 200 and 404",
			status("/live/cam/new-00001.m4s"), status("/live/cam/old-00001.m4s"))
	}
}

// TestReadFile: readFile reads a file whole up to its limit, whether the size it is told
// is right, short (the file grew) or long (it shrank).
func TestReadFile(t *testing.T) {
	data := pattern(5000, 7)
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ size, limit, want int64 }{
		{5000, 5001, 5000},
		{100, 5001, 5000},
		{0, 5001, 5000},
		{9000, 5001, 5000},
		{5000, 1000, 1000},
		{5000, 5000, 5000},
	} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := readFile(f, c.size, c.limit)
		f.Close()
		if err != nil || !bytes.Equal(b, data[:c.want]) {
			t.Errorf("size %d, limit %d: %d bytes, %v; want %d", c.size, c.limit, len(b), err, c.want)
		}
	}
}

// TestAfterTheEnd: a request for a segment after the last of a presentation that is
// over (its MPD has a duration, or is static), however far after, is answered 204, no
// content, and one held while it was live is answered so the moment the MPD says it is
// over. Shaka asks for them, and a 404 once the MPD is static, or a request held until
// it times out, stops it for good. Any other missing segment is still a 404: one before
// the window, one of a kind never written.
func TestAfterTheEnd(t *testing.T) {
	ts := newTestServer(t, Options{Hold: testenv.Hang})
	for i := 1; i <= 3; i++ {
		ts.write(t, fmt.Sprintf("chunk-stream0-%05d.m4s", i), pattern(100, byte(i)))
	}
	ts.write(t, "manifest.mpd", []byte(`<MPD type="dynamic" availabilityStartTime="2026-12-04T21:00:00Z"></MPD>`))
	const next = "/live/cam/chunk-stream0-00004.m4s"
	held := make(chan int, 1)
	go func() {
		resp, _, err := ts.fetch("GET", next, nil)
		if err != nil {
			t.Error(err)
			held <- 0
			return
		}
		held <- resp.StatusCode
	}()
	if !eventually(func() bool { return ts.Stats().Waited == 1 }) {
		t.Fatal("the request for the next segment of a live presentation was not held")
	}
	ts.write(t, "manifest.mpd", []byte(`<MPD type="dynamic" availabilityStartTime="2026-12-04T21:00:00Z" mediaPresentationDuration="PT3S"></MPD>`))
	if status := <-held; status != http.StatusNoContent {
		t.Errorf("the held request, once the presentation ended: status %d", status)
	}
	for _, mpd := range []string{
		`<MPD type="dynamic" availabilityStartTime="2026-12-04T21:00:00Z" mediaPresentationDuration="PT3S"></MPD>`,
		`<MPD type="static" mediaPresentationDuration="PT3S"></MPD>`,
	} {
		ts.write(t, "manifest.mpd", []byte(mpd))
		for p, want := range map[string]int{
			next:                                http.StatusNoContent,
			"/live/cam/chunk-stream0-00008.m4s": http.StatusNoContent,
			"/live/cam/chunk-stream0-00012.m4s": http.StatusNoContent, // past nearEnd: the folder listed
			"/live/cam/chunk-stream0-00420.m4s": http.StatusNoContent,
			"/live/cam/chunk-stream0-00000.m4s": http.StatusNotFound, // before the window
			"/live/cam/chunk-stream1-00004.m4s": http.StatusNotFound,
			"/live/cam/chunk-stream1-00420.m4s": http.StatusNotFound,
			"/live/cam/chunk-stream0-00004.mp4": http.StatusNotFound,
			"/live/cam/chunk-stream0-00001.m4s": http.StatusOK,
		} {
			if resp, body := ts.get(t, "GET", p, nil); resp.StatusCode != want || want == http.StatusNoContent && len(body) != 0 {
				t.Errorf("%s, with %s: status %d, %d bytes; want %d", p, mpd, resp.StatusCode, len(body), want)
			}
		}
	}
}
