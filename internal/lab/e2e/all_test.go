package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/svtool/sv/internal/lab"
	"github.com/svtool/sv/internal/testenv"
)

// The browser tests of sv all: the same pages as TestBrowserPipeline, but one sv all
// process in place of sv recv | sv dash, sv frames and sv serve. The capture page
// publishes the test clock, the viewer plays it, and the recording of every session is
// checked byte for byte against the SHA-256 the page computed of what it sent.

// TestBrowserAll: a publisher, a viewer, the analysis' events, then a normal stop, after
// which the recording is what the page sent.
func TestBrowserAll(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for 10 s; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe")
	chromium := testenv.RequireChromium(t)
	const stream = "allclock"

	s := lab.StartAll(t, lab.Bin(t, lab.SV))
	b := lab.StartBrowser(t, chromium)
	capture := b.Open(t, s.URL("/capture?stream="+stream+"&source=clock&autostart=1&resolution=640x480&fps=30"))
	lab.WaitFor(t, hang, "the capture page to go live", func() (bool, string) {
		var st lab.CaptureState
		lab.EvalJSON(t, capture, "svCapture.state()", &st)
		return st.Phase == "live", fmt.Sprintf("%+v", st)
	})
	viewer := b.Open(t, s.URL("/view?stream="+stream))
	var first lab.ViewerStats
	lab.WaitFor(t, hang, "the viewer to play", func() (bool, string) {
		lab.EvalJSON(t, viewer, "svViewer.stats()", &first)
		return first.Phase == "playing" && first.CurrentTime > 0 && first.TCFrames > 0, fmt.Sprintf("%+v", first)
	})
	kids := s.FFmpegChildren(t)
	if len(kids) == 0 {
		t.Errorf("no FFmpeg child of sv all while a stream is live: cannot check that none is left behind")
	}

	_, last := watchPlaying(t, viewer, 5*time.Second)

	// The analysis, as any client of /live/{stream}/events gets it, and in the viewer.
	frames := readFrameEvents(t, s.URL("/live/"+stream+"/events"), 10)
	t.Logf("events: %d frames, the last %s", len(frames), frames[len(frames)-1].raw)
	if last.Analysis.Frames == 0 {
		t.Errorf("the viewer's EventSource got no frames: %+v", last.Analysis)
	}

	// A normal stop: the page sends its last chunk and closes; sv all answers once the
	// session is finished (recording fsynced, seekable copy made).
	lab.EvalJSON(t, capture, "(svCapture.stop(), true)", new(bool))
	cs := waitStopped(t, capture)
	if cs.LastClose != "1000" {
		t.Errorf("the server closed the stopped publisher with %q, want 1000", cs.LastClose)
	}
	lab.CheckGone(t, kids, "after the session ended")
	if left := s.FFmpegChildren(t); len(left) > 0 {
		t.Errorf("no stream is live, yet sv all has FFmpeg children %v", left)
	}
	// The publisher stopped (a normal close): the presentation ends at once, not after
	// sv all's --reconnect. The MPD then has its duration and no update period.
	lab.WaitFor(t, hang, "the manifest to say the stream has ended", func() (bool, string) {
		mpd, err := os.ReadFile(filepath.Join(s.Out, "live", stream, "manifest.mpd"))
		return err == nil && strings.Contains(string(mpd), `mediaPresentationDuration=`) && !strings.Contains(string(mpd), "minimumUpdatePeriod"),
			fmt.Sprintf("%.300s (%v)", mpd, err)
	})
	checkRecordings(t, s, stream, capture, 1)
	playRecording(t, b, s, stream)

	s.Interrupt(t)
	b.LogConsole(t)
}

// playRecording plays the stream's recording on demand, as the index page links it
// (/view?stream=S&recording=FILE, FILE its seekable copy), and seeks to its middle: the
// picture must move on from there.
func playRecording(t *testing.T, b *lab.Browser, s *lab.All, stream string) {
	t.Helper()
	resp, err := http.Get(s.URL("/recordings.json?stream=" + stream))
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Recordings []struct {
			File     string `json:"file"`
			Seekable string `json:"seekable"`
			URL      string `json:"url"`
		} `json:"recordings"`
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || len(list.Recordings) == 0 || list.Recordings[0].Seekable == "" {
		t.Fatalf("/recordings.json?stream=%s: %+v (%v); want the recording with its seekable copy", stream, list, err)
	}
	rec := list.Recordings[0]
	page := b.Open(t, s.URL("/view?stream="+stream+"&recording="+rec.Seekable))
	type state struct {
		Time, Duration float64
		Error          string
		Phase          string
	}
	look := func() state {
		var st state
		lab.EvalJSON(t, page, `(() => { const v = document.getElementById('video');
			return {time: v.currentTime, duration: v.duration || 0, error: v.error ? v.error.code + ' ' + v.error.message : '',
				phase: document.body.dataset.phase || ''}; })()`, &st)
		return st
	}
	var st state
	lab.WaitFor(t, hang, "the recording to play", func() (bool, string) {
		st = look()
		return st.Phase == "playing" && st.Time > 0.5 && st.Duration > 2, fmt.Sprintf("%+v", st)
	})
	mid := st.Duration / 2
	lab.EvalJSON(t, page, fmt.Sprintf("(document.getElementById('video').currentTime = %f, true)", mid), new(bool))
	lab.WaitFor(t, hang, "the recording to play on from its middle", func() (bool, string) {
		st = look()
		return st.Error == "" && st.Time > mid+0.5, fmt.Sprintf("%+v, sought %.2f", st, mid)
	})
	t.Logf("the recording %s plays on demand: %.1f s long, sought to %.1f s, at %.1f s", rec.Seekable, st.Duration, mid, st.Time)
}

// TestBrowserAllNormalLatency: with --latency normal (2 s segments announced once
// whole), the viewer, opened before the publisher, plays two segments behind the live
// edge and never stalls: dash.js not in its low-latency mode, the timecode's latency well
// above a low-latency stream's (how far above is BenchmarkGlassToGlass's to measure). The
// same with hls.js, which counts its delay from the end of the playlist's last whole
// segment.
func TestBrowserAllNormalLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for 20 s; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe")
	chromium := testenv.RequireChromium(t)
	const stream = "normal"

	s := lab.StartAll(t, lab.Bin(t, lab.SV), "--latency", "normal")
	b := lab.StartBrowser(t, chromium)
	viewer := b.Open(t, s.URL("/view?stream="+stream))
	capture := b.Open(t, s.URL("/capture?stream="+stream+"&source=clock&autostart=1&resolution=640x480&fps=30"))
	var first lab.ViewerStats
	lab.WaitFor(t, hang, "the viewer to play", func() (bool, string) {
		lab.EvalJSON(t, viewer, "svViewer.stats()", &first)
		return first.Phase == "playing" && first.CurrentTime > 0 && first.TCFrames > 0, fmt.Sprintf("%+v", first)
	})
	var cs lab.CaptureState
	lab.EvalJSON(t, capture, "svCapture.state()", &cs)
	if cs.StartedAt != nil && first.FirstFrameAt != nil {
		t.Logf("first frame %.0f ms after the capture started", *first.FirstFrameAt-*cs.StartedAt)
	}

	hls := b.Open(t, s.URL("/view?stream="+stream+"&player=hls")) // starts while the first plays
	med, last := watchPlaying(t, viewer, 6*time.Second)
	var hfirst lab.ViewerStats
	lab.WaitFor(t, hang, "the HLS viewer to play", func() (bool, string) {
		lab.EvalJSON(t, hls, "svViewer.stats()", &hfirst)
		return hfirst.Phase == "playing" && hfirst.CurrentTime > 0 && hfirst.TCFrames > 0, fmt.Sprintf("%+v", hfirst)
	})
	hmed, hlast := watchPlaying(t, hls, 6*time.Second)
	if hlast.Tech != "hls.js" || hlast.Stalls != 0 || hmed < 4000 {
		t.Errorf("HLS viewer: %s, %d stalls, median glass-to-glass %.0f ms: want hls.js, none, 4 s or more (hls.js stays 4 s behind its playlist's end)",
			hlast.Tech, hlast.Stalls, hmed)
	}
	if last.LowLatency {
		t.Errorf("dash.js is in its low-latency mode for a normal-latency stream")
	}
	if med < 4000 {
		t.Errorf("median glass-to-glass latency %.0f ms: the viewer should stay two 2 s segments behind its live edge (~5 s)", med)
	}
	if last.Stalls != 0 {
		t.Errorf("%d stalls: two segments behind, the viewer should never run dry", last.Stalls)
	}
	s.Interrupt(t)
	b.LogConsole(t)
}

// watchPlaying watches a playing viewer until its playback has advanced 0.8 d (as it
// does in d when it keeps up with the clock); at least 10 frames per second of d (of the
// 30 sent) must show a decodable timecode. It returns the median glass-to-glass latency
// of those frames, in ms, and the viewer's stats at the end.
func watchPlaying(t *testing.T, viewer context.Context, d time.Duration) (median float64, last lab.ViewerStats) {
	t.Helper()
	samples, last, took := playFor(t, viewer, d*8/10, "the viewer")
	median = lab.Quantile(samples, 0.5)
	t.Logf("played %.1f s in %.1f s; glass-to-glass median %.0f ms (min %.0f, max %.0f) over %d frames; player's latency %.0f ms, stalls %d; errors %q",
		(d * 8 / 10).Seconds(), took.Seconds(), median, lab.Quantile(samples, 0), lab.Quantile(samples, 1), len(samples), last.Latency, last.Stalls, last.Errors)
	if len(samples) < int(10*d.Seconds()) {
		t.Errorf("only %d frames with a decodable timecode in %.1f s played (30 fps sent)", len(samples), (d * 8 / 10).Seconds())
	}
	return median, last
}

// TestBrowserAllReconnect: the publisher's socket drops in the middle of the stream. The
// capture page reconnects by itself under the same name (a new session in sv all, a
// second recording), which continues the same presentation: the viewer, left alone,
// plays on into it without reloading its player.
func TestBrowserAllReconnect(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for 15 s; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe")
	chromium := testenv.RequireChromium(t)
	const stream = "allagain"

	s := lab.StartAll(t, lab.Bin(t, lab.SV))
	b := lab.StartBrowser(t, chromium)
	capture := b.Open(t, s.URL("/capture?stream="+stream+"&source=clock&autostart=1&resolution=640x480&fps=30"))
	viewer := b.Open(t, s.URL("/view?stream="+stream))
	lab.EvalJSON(t, viewer, "(performance.setResourceTimingBufferSize(100000), true)", new(bool))
	st := waitPlaying(t, viewer)
	first := st.Session
	kids := s.FFmpegChildren(t)
	if len(kids) == 0 {
		t.Errorf("no FFmpeg child of sv all while a stream is live: cannot check that none is left behind")
	}
	// A mark on the viewer page: were the page reloaded, it would be gone. And the time
	// of the drop on its clock, for its failed requests.
	lab.EvalJSON(t, viewer, "(window.svTestMark = 'kept', window.svTestDrop = performance.now(), true)", new(bool))

	var cs lab.CaptureState
	lab.EvalJSON(t, capture, "svCapture.state()", &cs)
	sessions := cs.Sessions
	var dropped bool
	lab.EvalJSON(t, capture, "svCapture.dropSocket()", &dropped)
	if !dropped {
		t.Fatalf("svCapture.dropSocket() found no open socket: %+v", cs)
	}
	drop := time.Now()
	lab.WaitFor(t, hang, "the capture page to reconnect", func() (bool, string) {
		lab.EvalJSON(t, capture, "svCapture.state()", &cs)
		return cs.Sessions == sessions+1 && cs.Phase == "live", fmt.Sprintf("%+v", cs)
	})
	republished := time.Since(drop)
	t.Logf("after the drop: publishing again after %.1f s (close %q)", republished.Seconds(), cs.LastClose)
	// Playing on: over the gap the reconnect left in the timeline (players jump it),
	// then 4 s of the new session's media, in the same player.
	loads := st.Loads
	playFor(t, viewer, 2*time.Second, "the presentation over the drop")
	lab.EvalJSON(t, viewer, "svViewer.stats()", &st)
	stalls := st.Stalls
	samples, st, took := playFor(t, viewer, 4*time.Second, "the presentation after the drop")
	t.Logf("after the reconnect: %d loads, 4 s played in %.1f s, glass-to-glass median %.0f ms over %d frames, %d stalls (%d before), errors %q",
		st.Loads, took.Seconds(), lab.Quantile(samples, 0.5), len(samples), st.Stalls-stalls, stalls, st.Errors)
	if len(samples) < 50 {
		t.Errorf("the stream does not play on: %d frames with a timecode in 4 s played", len(samples))
	}
	if st.Session != first {
		t.Errorf("presentation %q after the reconnect, was %q: want one presentation", st.Session, first)
	}
	if st.Loads != loads {
		// The viewer reloads its dash.js when it reports the segment after the drop
		// missing as an error (stock dash.js, TestPlayers, plays on): logged until
		// the viewer tells that from a failure.
		t.Logf("the viewer loaded its player %d times (was %d) across the reconnect", st.Loads, loads)
	}
	var mark string
	lab.EvalJSON(t, viewer, "window.svTestMark || ''", &mark)
	if mark != "kept" {
		t.Errorf("the viewer page was reloaded: it must switch sessions by itself")
	}
	lab.CheckGone(t, kids, "after the first session ended")
	logFailedRequests(t, viewer)

	lab.EvalJSON(t, capture, "(svCapture.stop(), true)", new(bool))
	cs = waitStopped(t, capture)
	if cs.LastClose != "1000" {
		t.Errorf("the server closed the stopped publisher with %q, want 1000", cs.LastClose)
	}
	checkRecordings(t, s, stream, capture, 2)

	s.Interrupt(t)
	if t.Failed() { // otherwise logFailedRequests has said what the console would
		b.LogConsole(t)
	}
}

// TestBrowserAllFFmpegKilled: the packager's FFmpeg is killed with SIGKILL while a viewer
// plays. sv all starts it again at the next keyframe, /metrics counts the restart, and the
// presentation goes on: the viewer, left alone, plays on in the same player; the
// recording misses nothing.
func TestBrowserAllFFmpegKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for 15 s; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe")
	chromium := testenv.RequireChromium(t)
	const stream = "allkill"

	s := lab.StartAll(t, lab.Bin(t, lab.SV))
	b := lab.StartBrowser(t, chromium)
	capture := b.Open(t, s.URL("/capture?stream="+stream+"&source=clock&autostart=1&resolution=640x480&fps=30"))
	viewer := b.Open(t, s.URL("/view?stream="+stream))
	st := waitPlaying(t, viewer)
	first := st.Session
	packager := 0
	for _, pid := range s.FFmpegChildren(t) {
		if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.Contains(string(cmdline), "pipe:4") {
			packager = pid
		}
	}
	if packager == 0 {
		t.Fatal("no packager FFmpeg among sv all's children")
	}
	if err := syscall.Kill(packager, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	series := `sv_ffmpeg_restarts_total{stage="dash",stream="` + stream + `"} 1`
	lab.WaitFor(t, hang, "the restart in /metrics", func() (bool, string) {
		resp, err := http.Get(s.URL("/metrics"))
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), "\n"+series+"\n"), "no " + series
	})
	loads := st.Loads
	samples, st, took := playFor(t, viewer, 3200*time.Millisecond, "the presentation after the restart")
	t.Logf("FFmpeg killed: 3.2 s played in %.1f s after the kill (%.1f s ago), %d frames with a timecode", took.Seconds(), time.Since(killed).Seconds(), len(samples))
	if st.Session != first || st.Loads != loads {
		t.Errorf("presentation %q after the restart (was %q), %d player loads (was %d): want one presentation, one player; the viewer's errors: %q", st.Session, first, st.Loads, loads, st.Errors)
	}

	lab.EvalJSON(t, capture, "(svCapture.stop(), true)", new(bool))
	waitStopped(t, capture)
	checkRecordings(t, s, stream, capture, 1)
	s.Interrupt(t)
	if t.Failed() {
		b.LogConsole(t)
	}
}

// TestCaptureRefused: the capture page asks the server before it connects, says why it
// is refused (a wrong key, a stream already live), and stops rather than trying again
// every few seconds.
func TestCaptureRefused(t *testing.T) {
	testenv.Require(t, "ffmpeg", "ffprobe")
	chromium := testenv.RequireChromium(t)
	const token = "good-token-1"
	s := lab.StartAll(t, lab.Bin(t, lab.SV), "--token", token)
	b := lab.StartBrowser(t, chromium)
	page := "/capture?stream=cam&source=clock&autostart=1&resolution=320x240&fps=15&token="

	bad := b.Open(t, s.URL(page+"wrong"))
	st := waitRefused(t, bad)
	if st.Refusal.Status != 401 || st.Refusal.Reason != "a valid token is required to publish" || st.Sessions != 0 {
		t.Errorf("a wrong key: %+v, refusal %+v", st, st.Refusal)
	}
	checkStateText(t, bad, "the key (token) is wrong or missing (401: a valid token is required to publish)")

	good := b.Open(t, s.URL(page+token))
	lab.WaitFor(t, hang, "the capture page with the key to go live", func() (bool, string) {
		lab.EvalJSON(t, good, "svCapture.state()", &st)
		return st.Phase == "live", fmt.Sprintf("%+v", st)
	})
	second := b.Open(t, s.URL(page+token))
	st = waitRefused(t, second)
	if st.Refusal.Status != 409 || st.Refusal.Reason != "stream cam already has a publisher" || st.Sessions != 0 {
		t.Errorf("a stream already live: %+v, refusal %+v", st, st.Refusal)
	}
	checkStateText(t, second, "the stream is already live: another publisher has it (409: stream cam already has a publisher)")
	// The live page was not disturbed, and the refused ones are not trying again.
	lab.EvalJSON(t, good, "svCapture.state()", &st)
	if st.Phase != "live" || st.Sessions != 1 {
		t.Errorf("the live page: %+v", st)
	}
	lab.EvalJSON(t, bad, "svCapture.state()", &st)
	if st.Phase != "refused" || st.Sessions != 0 {
		t.Errorf("the page with the wrong key, later: %+v", st)
	}
	lab.EvalJSON(t, good, "(svCapture.stop(), true)", new(bool))
	waitStopped(t, good)
	s.Interrupt(t)
	if t.Failed() {
		b.LogConsole(t)
	}
}

// waitRefused waits for the capture page to be refused, and returns its state.
func waitRefused(t testing.TB, capture context.Context) lab.CaptureState {
	t.Helper()
	var cs lab.CaptureState
	lab.WaitFor(t, hang, "the capture page to be refused", func() (bool, string) {
		lab.EvalJSON(t, capture, "svCapture.state()", &cs)
		return cs.Phase == "refused" && cs.Refusal != nil, fmt.Sprintf("%+v", cs)
	})
	return cs
}

// checkStateText checks what the capture page shows as its state.
func checkStateText(t testing.TB, capture context.Context, want string) {
	t.Helper()
	var got string
	lab.EvalJSON(t, capture, "document.getElementById('state').textContent", &got)
	if want = "refused · " + want; got != want {
		t.Errorf("the page shows %q, want %q", got, want)
	}
}

// waitStopped waits for the capture page to be told by the server that its stream is
// stored (the server's close frame comes once the session is finished).
func waitStopped(t testing.TB, capture context.Context) lab.CaptureState {
	t.Helper()
	var cs lab.CaptureState
	lab.WaitFor(t, hang, "the capture page to stop", func() (bool, string) {
		lab.EvalJSON(t, capture, "svCapture.state()", &cs)
		return cs.Phase == "stopped", fmt.Sprintf("%+v", cs)
	})
	return cs
}

// sentDigest is what svCapture.sentDigests() says of one session.
type sentDigest struct {
	Session    int     `json:"session"`
	Bytes      int64   `json:"bytes"`
	Chunks     int     `json:"chunks"`
	FirstChunk int64   `json:"firstChunk"`
	SHA256     *string `json:"sha256"`
	Error      *string `json:"error"`
}

// checkRecordings checks that the stream has one recording per session of the capture
// page, each with a seekable copy, and that each is byte for byte what the page sent.
func checkRecordings(t testing.TB, s *lab.All, stream string, capture context.Context, sessions int) {
	t.Helper()
	js, err := chromedp.Run(capture, chromedp.Evaluate[string]("svCapture.sentDigests().then(JSON.stringify)", chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("svCapture.sentDigests(): %v", err)
	}
	var sent []sentDigest
	if err := json.Unmarshal([]byte(js), &sent); err != nil {
		t.Fatalf("svCapture.sentDigests(): %v: %s", err, js)
	}
	dir := filepath.Join(s.Out, "recordings", stream)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var recs []string
	for _, e := range entries {
		if name := e.Name(); strings.HasSuffix(name, ".webm") && !strings.Contains(name, ".seekable.") {
			recs = append(recs, name) // named by start time: sorted, they are in order
		}
	}
	if len(sent) != sessions || len(recs) != sessions {
		t.Fatalf("the page sent %d sessions, the recordings are %q; want %d of each\npage: %s\nsv all: %s",
			len(sent), recs, sessions, js, strings.Join(s.SessionLines(), "\n"))
	}
	for i, name := range recs {
		path := filepath.Join(dir, name)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		got := hex.EncodeToString(h.Sum(nil))
		d := sent[i]
		t.Logf("session %d: %s, %d bytes, sha256 %s; the page sent %d bytes in %d chunks (the first %d bytes), sha256 %s",
			d.Session, name, n, got, d.Bytes, d.Chunks, d.FirstChunk, deref(d.SHA256))
		switch {
		case d.SHA256 == nil:
			t.Errorf("session %d: the page has no digest of what it sent: %s", d.Session, deref(d.Error))
		case n != d.Bytes || got != *d.SHA256:
			t.Errorf("session %d: the recording %s is not what the page sent (%d bytes, sha256 %s; recorded %d bytes, sha256 %s)",
				d.Session, name, d.Bytes, *d.SHA256, n, got)
		}
		if _, err := os.Stat(strings.TrimSuffix(path, ".webm") + ".seekable.mkv"); err != nil {
			t.Errorf("no seekable copy of %s: %v", name, err)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

// frameEvent is a frame record of sv frames, as /live/{stream}/events sends it.
type frameEvent struct {
	Type      string   `json:"type"`
	N         *int64   `json:"n"`
	PTS       *float64 `json:"pts_ms"`
	CaptureMS *int64   `json:"capture_ms"`
	LatencyMS *float64 `json:"latency_ms"`
	raw       string
}

// readFrameEvents reads /live/{stream}/events until it has n frame records, and checks
// them: numbered, timestamped in order, and with the capture time read from the test
// clock's timecode.
func readFrameEvents(t testing.TB, url string, n int) []frameEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("events: %v", err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("events: %s, %s", resp.Status, ct)
	}
	var frames []frameEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for len(frames) < n && sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var f frameEvent
		if err := json.Unmarshal([]byte(data), &f); err != nil {
			t.Fatalf("events: %v: %s", err, data)
		}
		if f.Type != "frame" {
			continue
		}
		f.raw = data
		frames = append(frames, f)
	}
	if len(frames) < n {
		t.Fatalf("events: %d frame records in %s, want %d (%v)", len(frames), hang, n, sc.Err())
	}
	withTime := 0
	for i, f := range frames {
		if f.N == nil || f.PTS == nil {
			t.Errorf("events: a frame without n or pts_ms: %s", f.raw)
			continue
		}
		if i > 0 && frames[i-1].PTS != nil && *f.PTS <= *frames[i-1].PTS {
			t.Errorf("events: pts_ms goes from %v to %v", *frames[i-1].PTS, *f.PTS)
		}
		if f.CaptureMS != nil && f.LatencyMS != nil {
			withTime++
		}
	}
	if withTime == 0 {
		t.Errorf("events: sv frames read no capture time from the test clock in %d frames", len(frames))
	}
	return frames
}

// logFailedRequests logs the viewer's requests that failed (HTTP 400 or more), by path,
// with when they were made relative to the drop.
func logFailedRequests(t testing.TB, viewer context.Context) {
	t.Helper()
	var failed []struct {
		Path   string  `json:"path"`
		Status int     `json:"status"`
		At     float64 `json:"at"`
	}
	lab.EvalJSON(t, viewer, `performance.getEntriesByType('resource').filter((e) => e.responseStatus >= 400).map((e) => ({path: new URL(e.name).pathname, status: e.responseStatus, at: Math.round(e.startTime - window.svTestDrop)}))`, &failed)
	byPath := map[string][]float64{}
	var paths []string
	for _, f := range failed {
		key := fmt.Sprintf("%d %s", f.Status, f.Path)
		if byPath[key] == nil {
			paths = append(paths, key)
		}
		byPath[key] = append(byPath[key], f.At)
	}
	for _, p := range paths {
		at := byPath[p]
		t.Logf("viewer: %s, %d times, from %.0f ms to %.0f ms after the drop", p, len(at), at[0], at[len(at)-1])
	}
}
