package serve

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"
	"github.com/svtool/sv/media"

	"github.com/svtool/sv/stream"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func TestTime(t *testing.T) {
	fixed := time.Date(2026, 3, 4, 5, 6, 7, 891_500_000, time.FixedZone("CET", 3600))
	ts := newTestServer(t, Options{now: func() time.Time { return fixed }})
	resp, body := ts.get(t, "GET", "/time", nil)
	if string(body) != "2026-03-04T04:06:07.891Z" {
		t.Errorf("/time = %q", body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("headers %v", resp.Header)
	}

	// The real clock, in the format dash.js's http-xsdate parser reads.
	ts = newTestServer(t, Options{})
	before := time.Now()
	_, body = ts.get(t, "GET", "/time", nil)
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).Match(body) {
		t.Fatalf("/time = %q", body)
	}
	got, err := time.Parse(time.RFC3339Nano, string(body))
	if err != nil || got.Before(before.Truncate(time.Millisecond)) || got.After(time.Now()) {
		t.Errorf("/time = %q (%v), not between %v and now", body, err, before)
	}
}

func TestConfig(t *testing.T) {
	ts := newTestServer(t, Options{Ingest: SameOriginIngest, TokenRequired: true, Version: "v1.2.3"})
	resp, body := ts.get(t, "GET", "/config.json", nil)
	if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", resp.Header)
	}
	var c Config
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	want := Config{Ingest: "{ws}://{host}/ingest/{stream}", TokenRequired: true, Time: "/time", Media: "/live/{stream}/",
		Manifest: "/live/{stream}/manifest.mpd", Playlist: "/live/{stream}/master.m3u8", Events: "/live/{stream}/events", Version: "v1.2.3"}
	if c != want {
		t.Errorf("config %+v, want %+v", c, want)
	}
}

func TestNewErrors(t *testing.T) {
	for _, o := range []Options{
		{Ingest: "http://x/ingest/{stream}"},
		{Ingest: "ws://x/ingest/cam"},
		{Root: filepath.Join(t.TempDir(), "missing")},
	} {
		if s, err := New(o); err == nil {
			s.Close()
			t.Errorf("New(%+v) = nil error", o)
		}
	}
	if _, err := New(Options{Root: filepath.Join(t.TempDir(), "missing")}); !errors.Is(err, ErrRoot) {
		t.Errorf("a missing root: %v, want ErrRoot", err)
	}
	// Without a root, pages only.
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln := listen(t)
	go http.Serve(ln, s.Handler())
	defer ln.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + "/live/cam/manifest.mpd")
	if err != nil || resp.StatusCode != 404 {
		t.Errorf("media without a root: %v %v", resp.StatusCode, err)
	}
}

func TestPages(t *testing.T) {
	ts := newTestServer(t, Options{})
	for _, c := range []struct {
		path, ctype, contains string
	}{
		{"/", "text/html; charset=utf-8", "live streams"},
		{"/capture", "text/html; charset=utf-8", "capture.js"},
		{"/view", "text/html; charset=utf-8", "view.js"},
		{"/assets/capture.js", "text/javascript; charset=utf-8", "MediaRecorder"},
		{"/assets/timecode.js", "text/javascript; charset=utf-8", "crc16"},
		{"/assets/sv.css", "text/css; charset=utf-8", "body"},
		{"/assets/vendor/dash.all.min.js", "text/javascript; charset=utf-8", "dashjs"},
		{"/assets/vendor/hls.min.js", "text/javascript; charset=utf-8", "Hls"},
		{"/assets/vendor/dash.js-LICENSE.md", "text/plain; charset=utf-8", "BSD"},
		{"/assets/vendor/hls.js-LICENSE", "text/plain; charset=utf-8", "Apache"},
	} {
		resp, body := ts.get(t, "GET", c.path, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != c.ctype || !bytes.Contains(body, []byte(c.contains)) {
			t.Errorf("%s: status %d, Content-Type %q, %d bytes", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
			continue
		}
		if resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("ETag") == "" {
			t.Errorf("%s: Cache-Control %q, ETag %q", c.path, resp.Header.Get("Cache-Control"), resp.Header.Get("ETag"))
		}
		if strings.HasPrefix(c.ctype, "text/html") && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("%s: CSP %q", c.path, resp.Header.Get("Content-Security-Policy"))
		}
		// Gzipped on request, with its own ETag.
		resp, gz := ts.get(t, "GET", c.path, http.Header{"Accept-Encoding": {"gzip"}})
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(gz))
			if err != nil {
				t.Fatal(err)
			}
			plain, _ := io.ReadAll(zr)
			if !bytes.Equal(plain, body) || resp.ContentLength != int64(len(gz)) {
				t.Errorf("%s: gzipped body differs", c.path)
			}
		} else if len(body) > 4096 {
			t.Errorf("%s: %d bytes not gzipped", c.path, len(body))
		}
	}
	for _, p := range []string{"/index.html", "/assets/index.html", "/assets/", "/assets/nope.js", "/capture/", "/nope", "/view.html"} {
		if resp, _ := ts.get(t, "GET", p, nil); resp.StatusCode != 404 {
			t.Errorf("%s: status %d", p, resp.StatusCode)
		}
	}
}

func TestStreams(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 10, 0, time.UTC)
	ts := newTestServer(t, Options{now: func() time.Time { return now }})
	ast := writeLiveStream(t, ts.dir, now)
	os.MkdirAll(filepath.Join(ts.root, "live", "old"), 0o755)
	os.WriteFile(filepath.Join(ts.root, "live", "old", "manifest.mpd"), []byte(`<MPD type="static" availabilityStartTime="2020-01-01T00:00:00Z"></MPD>`), 0o644)
	os.MkdirAll(filepath.Join(ts.root, "live", "analysis-only"), 0o755)
	os.WriteFile(filepath.Join(ts.root, "live", "analysis-only", stream.Analysis), []byte("{}\n"), 0o644)
	os.MkdirAll(filepath.Join(ts.root, "live", "ll"), 0o755)
	os.WriteFile(filepath.Join(ts.root, "live", "ll", "manifest.mpd"), []byte(`<MPD type="dynamic" availabilityStartTime="2026-05-01T12:00:00Z"><Period><AdaptationSet><SegmentTemplate availabilityTimeOffset="0.9" availabilityTimeComplete="false"/></AdaptationSet></Period></MPD>`), 0o644)
	os.MkdirAll(filepath.Join(ts.root, "live", "empty"), 0o755)
	os.MkdirAll(filepath.Join(ts.root, "live", "bad.name"), 0o755)
	os.WriteFile(filepath.Join(ts.root, "live", "bad.name", "manifest.mpd"), []byte(`<MPD/>`), 0o644)

	for range 2 { // the second time from the cache
		_, body := ts.get(t, "GET", "/streams.json", nil)
		got, names := decodeStreams(t, body)
		if names != "analysis-only cam ll old" {
			t.Fatalf("streams %q: %s", names, body)
		}
		cam := got.Streams[1]
		if !cam.Live || !cam.DASH || !cam.HLS || cam.Events || !cam.LowLatency || cam.Session != ast.Format("2006-01-02T15:04:05.000Z") {
			t.Errorf("cam: %+v", cam)
		}
		if ll := got.Streams[2]; !ll.Live || !ll.LowLatency {
			t.Errorf("ll: %+v", ll)
		}
		if old := got.Streams[3]; old.Live || old.LowLatency {
			t.Errorf("old: %+v", old)
		}
		if a := got.Streams[0]; a.Live || a.DASH || !a.Events {
			t.Errorf("analysis-only: %+v", a)
		}
	}

	// ?stream=NAME: just that stream, described as in the list; none for one without
	// anything to show; 400 for a name that cannot be a stream's.
	for _, c := range []struct {
		name, want string
		status     int
	}{
		{"cam", "cam", 200},
		{"old", "old", 200},
		{"empty", "", 200},
		{"nosuch", "", 200},
		{"bad.name", "", 400},
	} {
		resp, body := ts.get(t, "GET", "/streams.json?stream="+c.name, nil)
		if resp.StatusCode != c.status {
			t.Errorf("?stream=%s: status %d, want %d: %s", c.name, resp.StatusCode, c.status, body)
			continue
		}
		if c.status != 200 {
			continue
		}
		got, names := decodeStreams(t, body)
		if names != c.want {
			t.Errorf("?stream=%s: streams %q, want %q", c.name, names, c.want)
		}
		if c.name == "cam" && (len(got.Streams) != 1 || !got.Streams[0].Live) {
			t.Errorf("?stream=cam: %s", body)
		}
	}

	// Descriptions are kept until the manifest changes.
	one := func(name string) StreamInfo {
		t.Helper()
		info, ok := ts.stream(name)
		if !ok {
			t.Fatalf("no stream %s", name)
		}
		return info
	}
	now = now.Add(time.Minute)
	ast = writeLiveStream(t, ts.dir, now) // a new session
	if cam := one("cam"); cam.Session != ast.Format("2006-01-02T15:04:05.000Z") || !cam.Live {
		t.Errorf("cam after a new session: %+v", cam)
	}
	// A live presentation that has ended (a duration, no update period) is not live.
	mpd := filepath.Join(ts.root, "live", "cam", "manifest.mpd")
	b, err := os.ReadFile(mpd)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte(`type="dynamic"`), []byte(`type="dynamic" mediaPresentationDuration="PT9S"`), 1)
	if err := os.WriteFile(mpd, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if cam := one("cam"); cam.Live || !cam.DASH {
		t.Errorf("cam after its end: %+v", cam)
	}
}

func TestSelfSigned(t *testing.T) {
	cert, err := SelfSigned([]string{"localhost", "127.0.0.1", "::1", "sv.example"})
	if err != nil {
		t.Fatal(err)
	}
	fp := Fingerprint(cert)
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp) {
		t.Errorf("fingerprint %q", fp)
	}
	if got := cert.Leaf.DNSNames; strings.Join(got, " ") != "localhost sv.example" || len(cert.Leaf.IPAddresses) != 2 {
		t.Errorf("names %q, addresses %v", got, cert.Leaf.IPAddresses)
	}

	s, err := New(Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, s.Handler(), TLSConfig(cert), nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	// A client that trusts the certificate (as a browser does once the user accepts it)
	// gets HTTP/2; one that does not is refused.
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: "localhost"},
		ForceAttemptHTTP2: true,
	}}
	resp, err := client.Get("https://" + ln.Addr().String() + "/time")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Errorf("status %d over %s", resp.StatusCode, resp.Proto)
	}
	sum := resp.TLS.PeerCertificates[0]
	if Fingerprint(tls.Certificate{Certificate: [][]byte{sum.Raw}}) != fp {
		t.Error("the server's certificate has another fingerprint")
	}
	if _, err := http.Get("https://" + ln.Addr().String() + "/time"); err == nil {
		t.Error("an untrusting client was served")
	}
}

func TestLoadCertificate(t *testing.T) {
	if _, err := LoadCertificate("missing.pem", "missing.key"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing files: %v", err)
	}
}

// TestWriteDeadline: a client that stops reading is dropped after WriteTimeout, while a
// response that keeps being read may last longer than that.
func TestWriteDeadline(t *testing.T) {
	ts := newTestServer(t, Options{WriteTimeout: 300 * time.Millisecond})
	w := newSegmentWriter(t, filepath.Join(ts.dir, "chunk-stream0-00001.m4s"))
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				w.write(pattern(64<<10, 1))
			}
		}
	}()
	defer func() {
		close(stop)
		<-stopped // no write after finish closes the file
		w.finish()
	}()
	resp, err := noGzipClient.Get(ts.url + "/live/cam/chunk-stream0-00001.m4s")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Read for longer than WriteTimeout: fine.
	deadline := time.Now().Add(600 * time.Millisecond)
	buf := make([]byte, 64<<10)
	for time.Now().Before(deadline) {
		if _, err := resp.Body.Read(buf); err != nil {
			t.Fatalf("a client that reads was dropped: %v", err)
		}
	}
	// Stop reading: the server gives up once its writes block for WriteTimeout, and lets
	// go of the segment.
	testenv.WaitFor(t, "the server to give up on a client that stopped reading", func() bool {
		ts.watchers.mu.Lock()
		defer ts.watchers.mu.Unlock()
		return len(ts.watchers.files) == 0
	})
	if _, err := io.Copy(io.Discard, resp.Body); err == nil {
		t.Error("a client that stopped reading got the whole response")
	}
}

// decodeStreams decodes a /streams.json body and returns its streams' names, space-separated.
func decodeStreams(t *testing.T, body []byte) (got struct{ Streams []StreamInfo }, names string) {
	t.Helper()
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, s := range got.Streams {
		ns = append(ns, s.Name)
	}
	return got, strings.Join(ns, " ")
}

// writeLiveStream writes a live low-latency presentation into dir as it is at now: an
// MPD that started 6 s ago, and 8 finished segments and one in progress per
// representation. It returns the MPD's availabilityStartTime.
func writeLiveStream(t testing.TB, dir string, now time.Time) (ast time.Time) {
	t.Helper()
	write := func(name string, b []byte, at time.Time) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	ast = now.Add(-6 * time.Second)
	mpd := fmt.Sprintf(`<?xml version="1.0"?>
<MPD type="dynamic" availabilityStartTime="%s">
 <Period id="0" start="PT0.0S">
  <AdaptationSet id="0" contentType="video">
   <Representation id="0" bandwidth="1000000">
    <SegmentTemplate timescale="1000000" duration="600000" availabilityTimeOffset="0.567" availabilityTimeComplete="false" initialization="init-stream$RepresentationID$.m4s" media="chunk-stream$RepresentationID$-$Number%%05d$.m4s" startNumber="1"/>
   </Representation>
  </AdaptationSet>
  <AdaptationSet id="1" contentType="audio">
   <SegmentTemplate timescale="48000" duration="28800" availabilityTimeOffset="0.58" availabilityTimeComplete="false" initialization="init-stream$RepresentationID$.m4s" media="chunk-stream$RepresentationID$-$Number%%05d$.m4s" startNumber="1"/>
   <Representation id="1" bandwidth="64000"/>
  </AdaptationSet>
 </Period>
</MPD>`, ast.Format("2006-01-02T15:04:05.000Z"))
	write("manifest.mpd", []byte(mpd), now)
	write("master.m3u8", []byte("#EXTM3U\n"), now)

	// Segments cut from a real fragmented MP4 (Chrome's), one fragment each: segment n
	// is fragment n-1, and the tfdt of the next says when segment n ended.
	rec, err := os.ReadFile("../testdata/vp9-opus.mp4")
	if err != nil {
		t.Fatal(err)
	}
	var offsets []int64
	var starts []time.Duration
	media.Scan(bytes.NewReader(rec), func(e media.Event) error {
		if e.Kind == media.EventCluster {
			offsets, starts = append(offsets, e.Offset), append(starts, e.Time)
		}
		return nil
	})
	offsets = append(offsets, int64(len(rec)))
	frag := func(i int) []byte { return rec[offsets[i]:offsets[i+1]] }
	for rep, lead := range []time.Duration{500 * time.Millisecond, 450 * time.Millisecond} {
		write(fmt.Sprintf("init-stream%d.m4s", rep), rec[:offsets[0]], ast)
		for n := 1; n <= 8; n++ {
			l := lead
			if rep == 0 && n == 5 {
				l = 300 * time.Millisecond
			}
			write(fmt.Sprintf("chunk-stream%d-%05d.m4s", rep, n), frag(n-1), ast.Add(starts[n]-l))
		}
		write(fmt.Sprintf("chunk-stream%d-%05d.m4s.tmp", rep, 9), frag(8), now)
	}
	return ast
}

// BenchmarkStreams lists 60 live low-latency streams, as the index page's /streams.json
// does, at the same moment of each stream's life.
func BenchmarkStreams(b *testing.B) {
	now := time.Date(2026, 5, 1, 12, 0, 10, 0, time.UTC)
	ts := newTestServer(b, Options{now: func() time.Time { return now }})
	const streams = 60
	for i := range streams {
		writeLiveStream(b, filepath.Join(ts.root, "live", fmt.Sprintf("cam%02d", i)), now)
	}
	os.RemoveAll(ts.dir) // the empty folder newTestServer made
	if got := ts.Streams(); len(got) != streams || !got[0].Live {
		b.Fatalf("%d streams, the first %+v", len(got), got[0])
	}
	b.ResetTimer()
	for b.Loop() {
		ts.Streams()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/streams, "µs/stream")
}

// ?wait=S holds the answer for a stream that is not live until it is, up to S seconds.
func TestStreamsWait(t *testing.T) {
	ts := newTestServer(t, Options{})
	live := `<MPD type="dynamic" availabilityStartTime="2026-05-01T12:00:00Z"></MPD>`
	os.MkdirAll(filepath.Join(ts.root, "live", "old"), 0o755)
	os.WriteFile(filepath.Join(ts.root, "live", "old", "manifest.mpd"), []byte(`<MPD type="static" availabilityStartTime="2020-01-01T00:00:00Z"></MPD>`), 0o644)

	for _, bad := range []string{"0", "61", "x", "1.5", ""} {
		if resp, body := ts.get(t, "GET", "/streams.json?stream=old&wait="+bad, nil); resp.StatusCode != 400 {
			t.Errorf("wait=%q: status %d, want 400: %s", bad, resp.StatusCode, body)
		}
	}

	// Not live within the wait: the answer after it, as it is.
	start := time.Now()
	_, body := ts.get(t, "GET", "/streams.json?stream=old&wait=1", nil)
	if got, names := decodeStreams(t, body); names != "old" || got.Streams[0].Live {
		t.Errorf("old: %s", body)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("old answered after %v, not the second asked for", d)
	}

	// A stream that starts while the request waits: answered live.
	go func() {
		time.Sleep(200 * time.Millisecond)
		dir := filepath.Join(ts.root, "live", "soon")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "manifest.mpd.tmp"), []byte(live), 0o644)
		os.Rename(filepath.Join(dir, "manifest.mpd.tmp"), filepath.Join(dir, "manifest.mpd"))
	}()
	_, body = ts.get(t, "GET", "/streams.json?stream=soon&wait=60", nil)
	if got, names := decodeStreams(t, body); names != "soon" || !got.Streams[0].Live {
		t.Errorf("soon: %s", body)
	}
	// Live already: at once.
	_, body = ts.get(t, "GET", "/streams.json?stream=soon&wait=60", nil)
	if got, _ := decodeStreams(t, body); len(got.Streams) != 1 || !got.Streams[0].Live {
		t.Errorf("soon again: %s", body)
	}
}

// readFromRecorder is a response recorder that, like net/http's responses, takes a
// reader with ReadFrom (where a TCP connection sends an *os.File with sendfile), and
// records what it was given.
type readFromRecorder struct {
	*httptest.ResponseRecorder
	srcs []io.Reader
}

func (r *readFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.srcs = append(r.srcs, src)
	return io.Copy(r.ResponseRecorder, src)
}

// TestSendfile: a finished segment is handed to the response's ReadFrom in chunks of an
// *io.LimitedReader of its *os.File, the shape net's sendfile takes, each chunk under a
// write deadline of its own; its bytes arrive whole.
func TestSendfile(t *testing.T) {
	ts := newTestServer(t, Options{})
	body := pattern(sendChunk*2+1000, 3)
	ts.write(t, "chunk-stream0-00001.m4s", body)
	rec := &readFromRecorder{ResponseRecorder: httptest.NewRecorder()}
	ts.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/live/cam/chunk-stream0-00001.m4s", nil))
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), body) {
		t.Fatalf("status %d, %d bytes of %d", rec.Code, rec.Body.Len(), len(body))
	}
	if len(rec.srcs) != 3 {
		t.Fatalf("%d calls of ReadFrom for %d bytes, want 3 of at most %d", len(rec.srcs), len(body), sendChunk)
	}
	for i, src := range rec.srcs {
		lr, ok := src.(*io.LimitedReader)
		if !ok {
			t.Fatalf("call %d: ReadFrom got a %T, want an *io.LimitedReader", i, src)
		}
		if _, ok := lr.R.(*os.File); !ok {
			t.Errorf("call %d: ReadFrom got a limited %T, want an *os.File", i, lr.R)
		}
	}
}

// TestEmbed: /embed is the viewer's page, which frames of sv's own origin may show, and
// those of the origins given.
func TestEmbed(t *testing.T) {
	for _, c := range []struct {
		ancestors []string
		want      string
	}{
		{nil, "frame-ancestors 'self'"},
		{[]string{"https://app.example", "http://localhost:3000"}, "frame-ancestors 'self' https://app.example http://localhost:3000"},
	} {
		ts := newTestServer(t, Options{FrameAncestors: c.ancestors})
		resp, body := ts.get(t, "GET", "/embed?stream=cam", nil)
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte("view.js")) || !strings.HasSuffix(resp.Header.Get("Content-Security-Policy"), c.want) {
			t.Errorf("%v: %d, CSP %q", c.ancestors, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
		}
	}
	for _, bad := range []string{"app.example", "https://app.example/path", "https://a.example; script-src *", "'none'"} {
		if _, err := New(Options{FrameAncestors: []string{bad}}); err == nil {
			t.Errorf("frame ancestor %q accepted", bad)
		}
	}
}

func TestMPDTracks(t *testing.T) {
	mpd := []byte(`<MPD><Period id="0"><AdaptationSet contentType="video"><Representation id="0" codecs="avc1.42e01f" width="320" height="240" bandwidth="100"/></AdaptationSet></Period>
<Period id="1">
 <AdaptationSet contentType="video" mimeType="video/mp4"><Representation id="0" codecs="avc1.64001f" width="1280" height="720" bandwidth="2500000"/><Representation id="1" codecs="avc1.42e01e" width="640" height="360" bandwidth="800000"/></AdaptationSet>
 <AdaptationSet mimeType="audio/mp4" codecs="opus"><Representation id="2" bandwidth="64000"/></AdaptationSet>
</Period></MPD>`)
	got := mpdTracks(mpd)
	want := []Track{
		{Type: "video", Codec: "avc1.64001f", Width: 1280, Height: 720, Bandwidth: 2500000},
		{Type: "video", Codec: "avc1.42e01e", Width: 640, Height: 360, Bandwidth: 800000},
		{Type: "audio", Codec: "opus", Bandwidth: 64000},
	}
	if !slices.Equal(got, want) {
		t.Errorf("tracks of the last period:\n got %+v\nwant %+v", got, want)
	}
}

func FuzzMPDTracks(f *testing.F) {
	f.Add([]byte(`<Period><AdaptationSet contentType="video"><Representation codecs="avc1" width="1" height="2" bandwidth="3"/></AdaptationSet></Period>`))
	f.Fuzz(func(t *testing.T, mpd []byte) {
		if tracks := mpdTracks(mpd); len(tracks) > 256 {
			t.Errorf("%d tracks", len(tracks))
		}
	})
}

// TestBasePath: under a base path the pages learn URLs with it, and every route answers
// with it (a proxy that keeps it) and without (one that strips it); the base itself is
// redirected to base/. The pages use relative URLs only.
func TestBasePath(t *testing.T) {
	ts := newTestServer(t, Options{BasePath: "/sv/", Ingest: SameOriginIngest})
	ts.write(t, "manifest.mpd", []byte(`<MPD type="static"></MPD>`))
	for _, prefix := range []string{"/sv", ""} {
		var cfg Config
		resp, body := ts.get(t, "GET", prefix+"/config.json", nil)
		if err := json.Unmarshal(body, &cfg); resp.StatusCode != 200 || err != nil {
			t.Fatalf("%s/config.json: %d %v", prefix, resp.StatusCode, err)
		}
		if cfg.Ingest != "{ws}://{host}/sv/ingest/{stream}" || cfg.Media != "/sv/live/{stream}/" || cfg.Time != "/sv/time" || cfg.Manifest != "/sv/live/{stream}/manifest.mpd" {
			t.Errorf("%s/config.json: %+v", prefix, cfg)
		}
		for _, p := range []string{"/live/cam/manifest.mpd", "/view", "/time", "/streams.json", "/assets/view.js"} {
			if resp, _ := ts.get(t, "GET", prefix+p, nil); resp.StatusCode != 200 {
				t.Errorf("%s%s: %d", prefix, p, resp.StatusCode)
			}
		}
	}
	resp, _ := ts.get(t, "GET", "/sv", nil)
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/sv/" {
		t.Errorf("/sv: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, page := range []string{"/", "/view", "/capture", "/embed"} {
		_, body := ts.get(t, "GET", page, nil)
		if m := regexp.MustCompile(`(?:href|src|action)="/[^"]*"`).Find(body); m != nil {
			t.Errorf("%s has an absolute URL: %s", page, m)
		}
	}
	for _, bad := range []string{"sv", "/sv/../x", "/a?b", "/a b", "//sv"} {
		if _, err := New(Options{Root: ts.root, BasePath: bad}); err == nil {
			t.Errorf("base path %q accepted", bad)
		}
	}
}
