package serve

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// packager writes an LL-HLS stream the way sv's packager does: each part and segment as
// NAME.tmp renamed to NAME once complete, then the media playlist replaced by rename.
type packager struct {
	t          testing.TB
	dir        string
	seq        int64 // media sequence number of the first segment listed
	msn        int64 // the segment in progress
	parts      int   // its complete parts
	perSegment int   // parts in a segment
	window     int   // segments listed
	target     int   // EXT-X-TARGETDURATION, s
	ended      bool
}

// newPackager starts where the playlist in the package's tests is: segments 41 to 50
// complete, 51 in progress with parts 0 and 1.
func newPackager(t testing.TB, dir string) *packager {
	p := &packager{t: t, dir: dir, seq: 41, msn: 51, parts: 2, perSegment: 5, window: 10, target: 1}
	p.file("init-stream0-abc.m4s", pattern(100, 0))
	for m := p.seq; m < p.msn; m++ {
		p.file(segmentName(m), pattern(1000, byte(m)))
	}
	for i := range p.parts {
		p.file(partName(p.msn, i), pattern(200, byte(i)))
	}
	p.writePlaylist()
	return p
}

func segmentName(msn int64) string     { return fmt.Sprintf("chunk-stream0-abc-%05d.m4s", msn) }
func partName(msn int64, i int) string { return fmt.Sprintf("part-stream0-abc-%05d.%d.m4s", msn, i) }

// partLine is how the playlist lists a complete part.
func partLine(msn int64, i int) string {
	return fmt.Sprintf(`#EXT-X-PART:DURATION=0.20000,URI="%s"`, partName(msn, i))
}

// file writes a part or segment whole, through NAME.tmp.
func (p *packager) file(name string, b []byte) {
	tmp := filepath.Join(p.dir, name+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		p.t.Error(err)
	}
	if err := os.Rename(tmp, filepath.Join(p.dir, name)); err != nil {
		p.t.Error(err)
	}
}

func (p *packager) playlist() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:%d\n", p.target)
	fmt.Fprintf(&b, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6,HOLD-BACK=3\n")
	fmt.Fprintf(&b, "#EXT-X-PART-INF:PART-TARGET=0.2\n#EXT-X-MEDIA-SEQUENCE:%d\n", p.seq)
	fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"init-stream0-abc.m4s\"\n#EXT-X-PROGRAM-DATE-TIME:2026-12-03T21:00:00.123Z\n")
	for m := p.seq; m < p.msn; m++ {
		if m >= p.msn-2 {
			for i := range p.perSegment {
				fmt.Fprintln(&b, partLine(m, i))
			}
		}
		fmt.Fprintf(&b, "#EXTINF:1.00000,\n%s\n", segmentName(m))
	}
	for i := range p.parts {
		fmt.Fprintln(&b, partLine(p.msn, i))
	}
	if p.ended {
		fmt.Fprintln(&b, "#EXT-X-ENDLIST")
	} else {
		fmt.Fprintf(&b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"%s\"\n", partName(p.msn, p.parts))
		fmt.Fprintf(&b, "#EXT-X-RENDITION-REPORT:URI=\"media_1.m3u8\",LAST-MSN=%d,LAST-PART=%d\n", p.msn, p.parts-1)
	}
	return b.Bytes()
}

// writePlaylist replaces media_0.m3u8 by rename.
func (p *packager) writePlaylist() {
	f, err := os.CreateTemp(p.dir, ".media_0.m3u8-*")
	if err != nil {
		p.t.Error(err)
		return
	}
	f.Write(p.playlist())
	if err := f.Close(); err != nil {
		p.t.Error(err)
	}
	if err := os.Rename(f.Name(), filepath.Join(p.dir, "media_0.m3u8")); err != nil {
		p.t.Error(err)
	}
}

// step writes the next part, and the segment when that was its last, then the playlist.
func (p *packager) step() {
	p.file(partName(p.msn, p.parts), pattern(200, byte(p.parts)))
	p.parts++
	if p.parts == p.perSegment {
		p.file(segmentName(p.msn), pattern(1000, byte(p.msn)))
		p.msn++
		p.parts = 0
		if p.msn-p.seq > int64(p.window) {
			p.seq++
		}
	}
	p.writePlaylist()
}

// end ends the stream: the playlist gets #EXT-X-ENDLIST.
func (p *packager) end() {
	p.ended = true
	p.writePlaylist()
}

const playlistPath = "/live/cam/media_0.m3u8"

// TestBlockingReload: a playlist request for a part or segment that is not in the
// playlist yet is answered once it is, not before; one for what is there at once.
func TestBlockingReload(t *testing.T) {
	ts := newTestServer(t, Options{})
	p := newPackager(t, ts.dir)

	// Already there: at once, and cacheable for a target duration.
	for _, q := range []string{"_HLS_msn=50", "_HLS_msn=12", "_HLS_msn=51&_HLS_part=1", "_HLS_msn=50&_HLS_part=9", "_HLS_msn=51&_HLS_part=0&_HLS_skip=YES"} {
		resp, body := ts.get(t, "GET", playlistPath+"?"+q, nil)
		if resp.StatusCode != 200 || !bytes.Equal(body, p.playlist()) || resp.Header.Get("Cache-Control") != "max-age=1" {
			t.Errorf("%s: status %d, Cache-Control %q, body\n%s", q, resp.StatusCode, resp.Header.Get("Cache-Control"), body)
		}
	}
	if st := ts.Stats(); st.Blocked != 0 {
		t.Errorf("blocked for what was there: %+v", st)
	}
	// Without a directive, as any manifest.
	resp, _ := ts.get(t, "GET", playlistPath+"?_HLS_skip=YES", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("no directive: status %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}

	// The next part (the one the preload hint names), gzipped: held until it is written.
	cases := []struct {
		query string
		steps int    // parts the packager writes before the playlist answers
		want  string // a line the answer has
	}{
		{"_HLS_msn=51&_HLS_part=2", 1, partLine(51, 2)},
		{"_HLS_msn=51", 2, segmentName(51)}, // parts 3 and 4, then the segment
		{"_HLS_msn=52&_HLS_part=1", 2, partLine(52, 1)},
	}
	for _, c := range cases {
		before := make(chan []byte, 1) // the playlist before the step that answers the request
		go func() {
			for i := range c.steps {
				if i == c.steps-1 {
					if !eventually(func() bool { return ts.playlistWaiters("live/cam/media_0.m3u8") == 1 }) {
						t.Error("the request never waited")
					}
					time.Sleep(20 * time.Millisecond) // it would have been answered by now
					before <- p.playlist()
				}
				p.step()
			}
		}()
		resp, body := ts.get(t, "GET", playlistPath+"?"+c.query, http.Header{"Accept-Encoding": {"gzip"}})
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Cache-Control") != "max-age=1" {
			t.Fatalf("%s: status %d, headers %v", c.query, resp.StatusCode, resp.Header)
		}
		plain := gunzip(t, body)
		if bytes.Contains(<-before, []byte(c.want)) || !strings.Contains(string(plain), c.want+"\n") {
			t.Errorf("%s: answered with\n%s\nwant %q, which the playlist before the last step did not have", c.query, plain, c.want)
		}
	}
	if st := ts.Stats(); st.Blocked != int64(len(cases)) || st.Timeouts != 0 {
		t.Errorf("stats %+v", st)
	}
	if n := ts.playlistWatches(); n != 0 {
		t.Errorf("%d playlist watches left", n)
	}
}

// TestBlockingReloadNotified: a blocked reload is answered when the packager renames the
// new playlist into place, from the kernel's notification: with polling as good as off
// (an hour), it is answered, not timed out.
func TestBlockingReloadNotified(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("inotify: Linux only")
	}
	ts := newTestServer(t, Options{Poll: time.Hour})
	p := newPackager(t, ts.dir)
	go func() {
		if !eventually(func() bool { return ts.playlistWaiters("live/cam/media_0.m3u8") == 1 }) {
			t.Error("the request never waited")
		}
		p.step()
	}()
	resp, body := ts.get(t, "GET", playlistPath+"?_HLS_msn=51&_HLS_part=2", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), partLine(51, 2)+"\n") {
		t.Fatalf("status %d, body\n%s", resp.StatusCode, body)
	}
}

// TestBlockingReloadTimeout: a playlist that does not get there within three target
// durations is a 503, which a player answers by asking again.
func TestBlockingReloadTimeout(t *testing.T) {
	ts := newTestServer(t, Options{})
	newPackager(t, ts.dir)
	start := time.Now()
	resp, _ := ts.get(t, "GET", playlistPath+"?_HLS_msn=52", http.Header{"Origin": {"https://player.example"}})
	if d := time.Since(start); resp.StatusCode != http.StatusServiceUnavailable || d < 3*time.Second {
		t.Errorf("status %d after %s", resp.StatusCode, d)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", resp.Header)
	}
	if st := ts.Stats(); st.Blocked != 1 || st.Timeouts != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestBlockingReloadRefused: malformed directives and segments too far ahead are 400 at
// once; other playlists are served as they are.
func TestBlockingReloadRefused(t *testing.T) {
	ts := newTestServer(t, Options{})
	p := newPackager(t, ts.dir)
	for _, q := range []string{
		"_HLS_msn=53", // the last is 50: 52 at most
		"_HLS_msn=99999&_HLS_part=0",
		"_HLS_part=2",
		"_HLS_msn=",
		"_HLS_msn=abc",
		"_HLS_msn=-1",
		"_HLS_msn=%2B51",
		"_HLS_msn=5.0",
		"_HLS_msn=1234567890123456789",
		"_HLS_msn=51&_HLS_msn=52",
		"_HLS_msn=51&_HLS_part=x",
		"_HLS_msn=51&_HLS_part=",
	} {
		start := time.Now()
		resp, _ := ts.get(t, "GET", playlistPath+"?"+q, nil)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: status %d after %s, headers %v", q, resp.StatusCode, time.Since(start), resp.Header)
		}
	}
	// A multivariant playlist has nothing to wait for; a missing one is a 404.
	master := []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000000\nmedia_0.m3u8\n")
	ts.write(t, "master.m3u8", master)
	resp, body := ts.get(t, "GET", "/live/cam/master.m3u8?_HLS_msn=99", nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, master) {
		t.Errorf("master: status %d, %q", resp.StatusCode, body)
	}
	resp, _ = ts.get(t, "GET", "/live/cam/media_7.m3u8?_HLS_msn=1", nil)
	if resp.StatusCode != 404 {
		t.Errorf("missing playlist: status %d", resp.StatusCode)
	}
	// An ended playlist is the answer to anything, however far.
	p.end()
	resp, body = ts.get(t, "GET", playlistPath+"?_HLS_msn=90&_HLS_part=3", nil)
	if resp.StatusCode != 200 || !bytes.HasSuffix(body, []byte("#EXT-X-ENDLIST\n")) {
		t.Errorf("ended: status %d, %q", resp.StatusCode, body)
	}
	if st := ts.Stats(); st.Blocked != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestBlockingReloadMany: many players waiting for the same part cost one poller, and
// one write releases them all; the end of the stream releases the next ones.
func TestBlockingReloadMany(t *testing.T) {
	ts := newTestServer(t, Options{})
	p := newPackager(t, ts.dir)
	// Requests may be held for three target durations: long enough here that all 200 are
	// still waiting once a busy machine has sent the last.
	p.target = 60
	p.writePlaylist()
	const n = 200
	const rel = "live/cam/media_0.m3u8"
	// wait sends the n requests, waits until all of them are held, then releases them.
	wait := func(query, want string, release func()) {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				resp, body, err := ts.fetch("GET", playlistPath+"?"+query, nil)
				switch {
				case err != nil:
					errs <- err
				case resp.StatusCode != 200 || !bytes.Contains(body, []byte(want+"\n")):
					errs <- fmt.Errorf("status %d, body\n%s", resp.StatusCode, body)
				}
			})
		}
		if !eventually(func() bool { return ts.playlistWaiters(rel) == n }) {
			t.Fatalf("%d of %d requests waiting", ts.playlistWaiters(rel), n)
		}
		if w := ts.playlistWatches(); w != 1 {
			t.Errorf("%d playlist watches for one playlist", w)
		}
		release()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	wait("_HLS_msn=51&_HLS_part=2", partLine(51, 2), p.step)
	wait("_HLS_msn=51&_HLS_part=3", "#EXT-X-ENDLIST", p.end)
	if st := ts.Stats(); st.Blocked != 2*n || st.Timeouts != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestLowLatencyPlayer plays against a packager that writes a part every 200 ms, as an
// LL-HLS player does: ask for the playlist that has the next part, and fetch the part
// its preload hint names before it exists. Each playlist must have what was asked for,
// and each part its bytes.
func TestLowLatencyPlayer(t *testing.T) {
	ts := newTestServer(t, Options{})
	p := newPackager(t, ts.dir)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				p.step()
			}
		}
	}()
	defer func() { close(stop); <-done }()

	_, body := ts.get(t, "GET", playlistPath, nil)
	for range 8 {
		pl := parsePlaylist(body)
		next := directive{msn: pl.lastMSN + 1, part: pl.parts}
		hint := hintOf(t, body)
		if want := partName(next.msn, int(next.part)); hint != want {
			t.Fatalf("preload hint %q, want %q", hint, want)
		}
		var part []byte
		var wg sync.WaitGroup
		wg.Go(func() {
			resp, b, err := ts.fetch("GET", "/live/cam/"+hint, nil)
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("hinted part: %v", err)
				return
			}
			part = b
		})
		var resp *http.Response
		resp, body = ts.get(t, "GET", fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", playlistPath, next.msn, next.part), nil)
		if resp.StatusCode != 200 || !next.met(parsePlaylist(body)) {
			t.Fatalf("asked for %+v, got status %d and\n%s", next, resp.StatusCode, body)
		}
		wg.Wait()
		if want := pattern(200, byte(next.part)); !bytes.Equal(part, want) {
			t.Errorf("part %s: %d bytes, want %d", hint, len(part), len(want))
		}
	}
	if st := ts.Stats(); st.Timeouts != 0 || st.Missing != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestFreshPlaylist: a request with no directive for a low-latency playlist whose last
// version is older than a quarter of a part is answered with the next version, or with
// that one if none comes within a part and a half (serveFresh).
func TestFreshPlaylist(t *testing.T) {
	ts := newTestServer(t, Options{})
	p := newPackager(t, ts.dir)
	stale := func() {
		old := time.Now().Add(-time.Second)
		if err := os.Chtimes(filepath.Join(ts.dir, "media_0.m3u8"), old, old); err != nil {
			t.Fatal(err)
		}
	}
	stale()
	before := p.playlist()
	type answer struct {
		status int
		body   []byte
	}
	got := make(chan answer, 1)
	go func() {
		resp, body, err := ts.fetch("GET", playlistPath, nil)
		if err != nil {
			t.Error(err)
			got <- answer{}
			return
		}
		got <- answer{resp.StatusCode, body}
	}()
	if !eventually(func() bool { return ts.playlistWaiters("live/cam/media_0.m3u8") == 1 }) {
		t.Fatal("the request for a stale playlist did not wait for the next version")
	}
	p.step()
	if a := <-got; a.status != 200 || !bytes.Equal(a.body, p.playlist()) {
		t.Errorf("status %d, and the playlist\n%s\nwant the version written while it waited\n%s", a.status, a.body, p.playlist())
	}

	// No new version: the stale one, after a part and a half.
	stale()
	resp, body := ts.get(t, "GET", playlistPath, nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, p.playlist()) || bytes.Equal(body, before) {
		t.Errorf("status %d, and the playlist\n%s", resp.StatusCode, body)
	}
	// Ended: at once, whatever its age.
	p.end()
	stale()
	resp, body = ts.get(t, "GET", playlistPath, nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, p.playlist()) {
		t.Errorf("ended: status %d, and the playlist\n%s", resp.StatusCode, body)
	}
	if n := ts.playlistWatches(); n != 0 {
		t.Errorf("%d playlist watches left", n)
	}
}

// TestHoldPart: a part asked for before it exists is held, then streamed as it is
// written; many requests for it share one poller.
func TestHoldPart(t *testing.T) {
	ts := newTestServer(t, Options{})
	newPackager(t, ts.dir)
	const n = 50
	name := partName(51, 2)
	written := make(chan []byte, 1)
	go func() {
		if !eventually(func() bool { return ts.Stats().Waited == n }) {
			t.Error("the requests were never all held")
		}
		ts.watchers.mu.Lock()
		if w := len(ts.watchers.files); w != 3 { // the part, the one after it, and the MPD
			t.Errorf("%d file watches for one part", w)
		}
		ts.watchers.mu.Unlock()
		w := newSegmentWriter(t, filepath.Join(ts.dir, name))
		w.write(pattern(300, 1))
		time.Sleep(20 * time.Millisecond)
		w.write(pattern(300, 2))
		w.finish()
		written <- w.all
	}()
	var wg sync.WaitGroup
	bodies := make([][]byte, n)
	for i := range n {
		wg.Go(func() {
			resp, b, err := ts.fetch("GET", "/live/cam/"+name, nil)
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("held part: %v", err)
			}
			bodies[i] = b
		})
	}
	wg.Wait()
	all := <-written
	for i, b := range bodies {
		if !bytes.Equal(b, all) {
			t.Fatalf("request %d: %d bytes, want %d", i, len(b), len(all))
		}
	}
	if st := ts.Stats(); st.Waited != n || st.Missing != 0 || st.InProgress+st.Segments != n {
		t.Errorf("stats %+v", st)
	}
}

// TestCORSEverywhere: every response a player may read carries the CORS headers, errors
// included; the pages do not.
func TestCORSEverywhere(t *testing.T) {
	ts := newTestServer(t, Options{Hold: -1})
	newPackager(t, ts.dir)
	origin := http.Header{"Origin": {"https://player.example"}}
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/live/cam/media_0.m3u8", 200},
		{"GET", "/live/cam/" + segmentName(50), 200},
		{"GET", "/live/cam/missing.m4s", 404},
		{"GET", "/live/cam/missing.mpd", 404},
		{"GET", "/live/cam/notmedia.txt", 404},
		{"GET", "/live/nocam/manifest.mpd", 404},
		{"GET", "/live/cam/media_0.m3u8?_HLS_part=1", 400},
		{"GET", "/live/cam/media_0.m3u8?_HLS_msn=60", 400},
		{"POST", "/live/cam/media_0.m3u8", 405},
		{"OPTIONS", "/live/cam/media_0.m3u8", 405},
		{"GET", "/time", 200},
		{"POST", "/time", 405},
		{"GET", "/config.json", 200},
		{"GET", "/streams.json", 200},
	} {
		resp, _ := ts.get(t, c.method, c.path, origin)
		if resp.StatusCode != c.status || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Age") {
			t.Errorf("%s %s: status %d (want %d), headers %v", c.method, c.path, resp.StatusCode, c.status, resp.Header)
		}
	}
	resp, _ := ts.get(t, "OPTIONS", "/live/cam/missing.m4s", http.Header{
		"Origin":                        {"https://player.example"},
		"Access-Control-Request-Method": {"GET"},
	})
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		len(resp.Header.Values("Access-Control-Allow-Origin")) != 1 {
		t.Errorf("preflight: status %d, headers %v", resp.StatusCode, resp.Header)
	}
	for _, p := range []string{"/", "/view"} {
		if resp, _ := ts.get(t, "GET", p, origin); resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("page %s readable from other origins", p)
		}
	}
}

func TestParseDirective(t *testing.T) {
	for _, c := range []struct {
		query string
		want  directive
		ok    bool
		err   bool
	}{
		{"", directive{part: -1}, false, false},
		{"_HLS_skip=YES&session=x", directive{part: -1}, false, false},
		{"_HLS_msn=0", directive{0, -1}, true, false},
		{"_HLS_msn=51&_HLS_part=2", directive{51, 2}, true, false},
		{"_HLS_msn=000123", directive{123, -1}, true, false},
		{"_HLS_part=2", directive{}, false, true},
		{"_HLS_msn=1e3", directive{}, false, true},
		{"_HLS_msn=-0", directive{}, false, true},
		{"_HLS_msn=1&_HLS_part=1&_HLS_part=2", directive{}, false, true},
	} {
		q, err := url.ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		d, ok, err := parseDirective(q)
		if (err != nil) != c.err || ok != c.ok || (ok && d != c.want) {
			t.Errorf("%q: %+v %v %v, want %+v %v error %v", c.query, d, ok, err, c.want, c.ok, c.err)
		}
	}
}

func TestParsePlaylist(t *testing.T) {
	p := newPackager(t, t.TempDir())
	for _, c := range []struct {
		name string
		text string
		want playlist
	}{
		{"live", string(p.playlist()), playlist{media: true, target: time.Second, part: 200 * time.Millisecond, lastMSN: 50, parts: 2}},
		{"no segments yet", "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-PART:DURATION=0.2,URI=\"a\"\n",
			playlist{media: true, target: 2 * time.Second, lastMSN: 6, parts: 1}},
		{"no media sequence, CRLF, spaces", "#EXTM3U\r\n #EXT-X-TARGETDURATION:4 \r\n#EXTINF:4,\r\na.m4s\r\n#EXTINF:4,\r\nb.m4s\r\n#EXT-X-ENDLIST",
			playlist{media: true, target: 4 * time.Second, lastMSN: 1, ended: true}},
		{"lenient target, bad sequence", "#EXT-X-TARGETDURATION:1.5\n#EXT-X-MEDIA-SEQUENCE:x\n#EXT-X-PART-INF:PART-TARGET=0.2\n#EXTINF:1,\na\n",
			playlist{media: true, target: time.Second, part: 200 * time.Millisecond, lastMSN: 0}},
		{"part targets", "#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=x\n#EXT-X-PART-INF:PART-TARGET=1.0215\n",
			playlist{media: true, target: 2 * time.Second, part: 1021 * time.Millisecond, lastMSN: -1}},
		{"bad part targets", "#EXT-X-PART-INF:PART-TARGET=0.2\n#EXT-X-PART-INF:PART-TARGET=0.2x\n#EXT-X-PART-INF:PART-TARGET=99999\n",
			playlist{lastMSN: -1}},
		{"huge target", "#EXT-X-TARGETDURATION:99999\n", playlist{media: true, target: maxTarget, lastMSN: -1}},
		{"multivariant", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nmedia_0.m3u8\n", playlist{lastMSN: -1}},
		{"empty", "", playlist{lastMSN: -1}},
	} {
		if got := parsePlaylist([]byte(c.text)); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	b := p.playlist()
	if n := testing.AllocsPerRun(100, func() { parsePlaylist(b) }); n != 0 {
		t.Errorf("parsePlaylist allocates %v times", n)
	}
}

func FuzzParsePlaylist(f *testing.F) {
	f.Add(newPackager(f, f.TempDir()).playlist())
	f.Add([]byte("#EXT-X-MEDIA-SEQUENCE:999999999999999999\n#EXTINF:1,\n#EXT-X-PART:\n#EXT-X-TARGETDURATION:0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pl := parsePlaylist(b)
		if pl.parts < 0 || pl.lastMSN < -1 || pl.target < 0 || pl.target > maxTarget || pl.part < 0 || pl.part >= maxTarget+time.Second {
			t.Errorf("%+v", pl)
		}
		// Whatever it says, a directive for its next part is not met, and no directive
		// near it overflows.
		if d := (directive{msn: pl.lastMSN + 1, part: pl.parts}); d.met(pl) != pl.ended || d.tooFar(pl) {
			t.Errorf("%+v: next part %+v met %v", pl, d, d.met(pl))
		}
	})
}

// playlistWaiters is how many requests wait on playlist rel.
func (ts *testServer) playlistWaiters(rel string) int {
	ts.playlists.mu.Lock()
	defer ts.playlists.mu.Unlock()
	if pw := ts.playlists.files[rel]; pw != nil {
		return pw.refs
	}
	return 0
}

// playlistWatches is how many playlists have a poller.
func (ts *testServer) playlistWatches() int {
	ts.playlists.mu.Lock()
	defer ts.playlists.mu.Unlock()
	return len(ts.playlists.files)
}

// hintOf returns the URI of a playlist's preload hint.
func hintOf(t *testing.T, playlist []byte) string {
	t.Helper()
	for line := range strings.Lines(string(playlist)) {
		if rest, ok := strings.CutPrefix(line, `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="`); ok {
			return strings.TrimSuffix(strings.TrimSpace(rest), `"`)
		}
	}
	t.Fatalf("no preload hint in\n%s", playlist)
	return ""
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

// TestBlockingReloadShutdown: a reload waiting when the server shuts down gets a 503, never
// an empty playlist, and does not hold up the end of Serve.
func TestBlockingReloadShutdown(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "live", "cam")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	newPackager(t, dir)
	s, err := New(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, s.Handler(), nil, nil) }()
	go func() {
		eventually(func() bool { return s.Stats().Blocked == 1 })
		cancel()
	}()
	resp, err := noGzipClient.Get("http://" + ln.Addr().String() + playlistPath + "?_HLS_msn=51&_HLS_part=2")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d", resp.StatusCode)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
