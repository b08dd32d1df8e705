package main

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
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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

	s := startAll(t)
	b := startBrowser(t, chromium)
	capture := b.open(t, s.url("/capture?stream="+stream+"&source=clock&autostart=1&resolution=640x480&fps=30"))
	waitFor(t, 10*time.Second, "the capture page to go live", func() (bool, string) {
		var st captureState
		evalJSON(t, capture, "svCapture.state()", &st)
		return st.Phase == "live", fmt.Sprintf("%+v", st)
	})
	viewer := b.open(t, s.url("/view?stream="+stream))
	var first viewerStats
	waitFor(t, 20*time.Second, "the viewer to play", func() (bool, string) {
		evalJSON(t, viewer, "svViewer.stats()", &first)
		return first.Phase == "playing" && first.CurrentTime > 0 && first.TCFrames > 0, fmt.Sprintf("%+v", first)
	})
	kids := s.ffmpegChildren(t)
	if len(kids) == 0 {
		t.Errorf("no FFmpeg child of sv all while a stream is live: cannot check that none is left behind")
	}

	med, last := watchPlaying(t, viewer, first, 5*time.Second)
	if med > 3000 {
		t.Errorf("median glass-to-glass latency %.0f ms: far above the ~1 s the pipeline reaches", med)
	}

	// The analysis, as any client of /live/{stream}/events gets it, and in the viewer.
	frames := readFrameEvents(t, s.url("/live/"+stream+"/events"), 10)
	t.Logf("events: %d frames, the last %s", len(frames), frames[len(frames)-1].raw)
	if last.Analysis.Frames == 0 {
		t.Errorf("the viewer's EventSource got no frames: %+v", last.Analysis)
	}

	// A normal stop: the page sends its last chunk and closes; sv all answers once the
	// session is finished (recording fsynced, manifest static, seekable copy made).
	evalJSON(t, capture, "(svCapture.stop(), true)", new(bool))
	cs := waitStopped(t, capture)
	if cs.LastClose != "1000" {
		t.Errorf("the server closed the stopped publisher with %q, want 1000", cs.LastClose)
	}
	checkGone(t, kids, "after the session ended")
	if left := s.ffmpegChildren(t); len(left) > 0 {
		t.Errorf("no stream is live, yet sv all has FFmpeg children %v", left)
	}
	mpd, err := os.ReadFile(filepath.Join(s.out, "live", stream, "manifest.mpd"))
	if err != nil || !strings.Contains(string(mpd), `type="static"`) {
		t.Errorf("the manifest is not static once the session has ended (%v)", err)
	}
	checkRecordings(t, s, stream, capture, 1)

	s.interrupt(t)
	b.logConsole(t)
}

// TestBrowserAllNormalLatency: with --latency normal (2 s segments announced once
// whole), the viewer, opened before the publisher, plays two segments behind the live
// edge and never stalls: dash.js not in its low-latency mode, the timecode's latency well
// above a low-latency stream's and well below the classic pipeline's. The same with
// hls.js, which counts its delay from the end of the playlist's last whole segment.
func TestBrowserAllNormalLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for 20 s; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe")
	chromium := testenv.RequireChromium(t)
	const stream = "normal"

	s := startAll(t, "--latency", "normal")
	b := startBrowser(t, chromium)
	viewer := b.open(t, s.url("/view?stream="+stream))
	capture := b.open(t, s.url("/capture?stream="+stream+"&source=clock&autostart=1&resolution=640x480&fps=30"))
	var first viewerStats
	waitFor(t, 20*time.Second, "the viewer to play", func() (bool, string) {
		evalJSON(t, viewer, "svViewer.stats()", &first)
		return first.Phase == "playing" && first.CurrentTime > 0 && first.TCFrames > 0, fmt.Sprintf("%+v", first)
	})
	var cs captureState
	evalJSON(t, capture, "svCapture.state()", &cs)
	if cs.StartedAt != nil && first.FirstFrameAt != nil {
		t.Logf("first frame %.0f ms after the capture started", *first.FirstFrameAt-*cs.StartedAt)
	}

	hls := b.open(t, s.url("/view?stream="+stream+"&player=hls")) // starts while the first plays
	med, last := watchPlaying(t, viewer, first, 6*time.Second)
	var hfirst viewerStats
	waitFor(t, 20*time.Second, "the HLS viewer to play", func() (bool, string) {
		evalJSON(t, hls, "svViewer.stats()", &hfirst)
		return hfirst.Phase == "playing" && hfirst.CurrentTime > 0 && hfirst.TCFrames > 0, fmt.Sprintf("%+v", hfirst)
	})
	hmed, hlast := watchPlaying(t, hls, hfirst, 6*time.Second)
	if hlast.Tech != "hls.js" || hlast.Stalls != 0 || hmed < 4000 || hmed > 9000 {
		t.Errorf("HLS viewer: %s, %d stalls, median glass-to-glass %.0f ms: want hls.js, none, a few seconds (hls.js stays 4 s behind its playlist's end)",
			hlast.Tech, hlast.Stalls, hmed)
	}
	if last.LowLatency {
		t.Errorf("dash.js is in its low-latency mode for a normal-latency stream")
	}
	if med < 4000 || med > 8000 {
		t.Errorf("median glass-to-glass latency %.0f ms: the viewer should stay two 2 s segments behind its live edge (~5 s)", med)
	}
	if last.Stalls != 0 {
		t.Errorf("%d stalls: two segments behind, the viewer should never run dry", last.Stalls)
	}
	s.interrupt(t)
	b.logConsole(t)
}

// watchPlaying watches a playing viewer for d, first being its stats when it started
// playing: the playback must advance with the clock and at least 10 frames a second (of
// the 30 sent) must show a decodable timecode. It returns the median glass-to-glass
// latency of those frames, in ms, and the viewer's stats at the end.
func watchPlaying(t *testing.T, viewer context.Context, first viewerStats, d time.Duration) (median float64, last viewerStats) {
	t.Helper()
	evalJSON(t, viewer, "svViewer.takeSamples()", new([]float64))
	start := time.Now()
	time.Sleep(d)
	var samples []float64
	evalJSON(t, viewer, "svViewer.takeSamples()", &samples)
	evalJSON(t, viewer, "svViewer.stats()", &last)
	elapsed := time.Since(start)
	advanced := last.CurrentTime - first.CurrentTime
	slices.Sort(samples)
	median = quantile(samples, 0.5)
	t.Logf("played %.1f s in %.1f s; glass-to-glass median %.0f ms (min %.0f, max %.0f) over %d frames; player's latency %.0f ms, stalls %d when playing began, %d now; errors %q",
		advanced, elapsed.Seconds(), median, quantile(samples, 0), quantile(samples, 1), len(samples), last.Latency, first.Stalls, last.Stalls, last.Errors)
	if advanced < 0.8*elapsed.Seconds() {
		t.Errorf("playback advanced %.1f s in %.1f s", advanced, elapsed.Seconds())
	}
	if len(samples) < int(10*d.Seconds()) {
		t.Errorf("only %d frames with a decodable timecode in %.1f s (30 fps sent)", len(samples), elapsed.Seconds())
	}
	return median, last
}

// TestBrowserAllReconnect: the publisher's socket drops in the middle of the stream. The
// capture page reconnects by itself under the same name (a new session in sv all, a
// second recording), and the viewer, left alone, notices the new session and plays it.
func TestBrowserAllReconnect(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for 15 s; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe")
	chromium := testenv.RequireChromium(t)
	const stream = "allagain"

	s := startAll(t)
	b := startBrowser(t, chromium)
	capture := b.open(t, s.url("/capture?stream="+stream+"&source=clock&autostart=1&resolution=640x480&fps=30"))
	viewer := b.open(t, s.url("/view?stream="+stream))
	evalJSON(t, viewer, "(performance.setResourceTimingBufferSize(100000), true)", new(bool))
	st := waitPlaying(t, viewer)
	first := st.Session
	kids := s.ffmpegChildren(t)
	if len(kids) == 0 {
		t.Errorf("no FFmpeg child of sv all while a stream is live: cannot check that none is left behind")
	}
	// A mark on the viewer page: were the page reloaded, it would be gone. And the time
	// of the drop on its clock, for its failed requests.
	evalJSON(t, viewer, "(window.svTestMark = 'kept', window.svTestDrop = performance.now(), true)", new(bool))

	var cs captureState
	evalJSON(t, capture, "svCapture.state()", &cs)
	sessions := cs.Sessions
	var dropped bool
	evalJSON(t, capture, "svCapture.dropSocket()", &dropped)
	if !dropped {
		t.Fatalf("svCapture.dropSocket() found no open socket: %+v", cs)
	}
	drop := time.Now()
	waitFor(t, 15*time.Second, "the capture page to reconnect", func() (bool, string) {
		evalJSON(t, capture, "svCapture.state()", &cs)
		return cs.Sessions == sessions+1 && cs.Phase == "live", fmt.Sprintf("%+v", cs)
	})
	republished := time.Since(drop)
	// Playing again: the new session loaded, and its picture moving.
	st = waitNewSession(t, viewer, first, 10*time.Second-time.Since(drop), "the viewer to play the new session within 10 s of the drop")
	resumed := time.Since(drop)
	t.Logf("after the drop: publishing again after %.1f s (close %q), the viewer playing the new session after %.1f s",
		republished.Seconds(), cs.LastClose, resumed.Seconds())

	evalJSON(t, viewer, "svViewer.takeSamples()", new([]float64))
	before, stalls := st.CurrentTime, st.Stalls
	start := time.Now()
	time.Sleep(5 * time.Second)
	var samples []float64
	evalJSON(t, viewer, "svViewer.takeSamples()", &samples)
	evalJSON(t, viewer, "svViewer.stats()", &st)
	elapsed := time.Since(start)
	slices.Sort(samples)
	med := quantile(samples, 0.5)
	t.Logf("new session: %d loads, %.1f s played in %.1f s, glass-to-glass median %.0f ms over %d frames, %d stalls (%d before), errors %q",
		st.Loads, st.CurrentTime-before, elapsed.Seconds(), med, len(samples), st.Stalls-stalls, stalls, st.Errors)
	if st.CurrentTime-before < 0.8*elapsed.Seconds() || len(samples) < 50 {
		t.Errorf("the new session does not play: %.1f s in %.1f s, %d frames with a timecode", st.CurrentTime-before, elapsed.Seconds(), len(samples))
	}
	if med > 3000 {
		t.Errorf("glass-to-glass median %.0f ms after the reconnection", med)
	}
	var mark string
	evalJSON(t, viewer, "window.svTestMark || ''", &mark)
	if mark != "kept" {
		t.Errorf("the viewer page was reloaded: it must switch sessions by itself")
	}
	checkGone(t, kids, "after the first session ended")
	logFailedRequests(t, viewer)

	evalJSON(t, capture, "(svCapture.stop(), true)", new(bool))
	cs = waitStopped(t, capture)
	if cs.LastClose != "1000" {
		t.Errorf("the server closed the stopped publisher with %q, want 1000", cs.LastClose)
	}
	checkRecordings(t, s, stream, capture, 2)

	s.interrupt(t)
	if t.Failed() { // otherwise logFailedRequests has said what the console would
		b.logConsole(t)
	}
}

// TestBrowserAllFFmpegKilled: the packager's FFmpeg is killed with SIGKILL while a viewer
// plays. sv all starts it again at the next keyframe, /metrics counts the restart, and the
// viewer, left alone, plays the new presentation; the recording misses nothing.
func TestBrowserAllFFmpegKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for 15 s; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe")
	chromium := testenv.RequireChromium(t)
	const stream = "allkill"

	s := startAll(t)
	b := startBrowser(t, chromium)
	capture := b.open(t, s.url("/capture?stream="+stream+"&source=clock&autostart=1&resolution=640x480&fps=30"))
	viewer := b.open(t, s.url("/view?stream="+stream))
	st := waitPlaying(t, viewer)
	first := st.Session
	packager := 0
	for _, pid := range s.ffmpegChildren(t) {
		if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.Contains(string(cmdline), "manifest.mpd") {
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
	waitFor(t, 10*time.Second, "the restart in /metrics", func() (bool, string) {
		resp, err := http.Get(s.url("/metrics"))
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), "\n"+series+"\n"), "no " + series
	})
	st = waitNewSession(t, viewer, first, 15*time.Second, "the viewer to play the new presentation")
	resumed := time.Since(killed)
	before := st.CurrentTime
	start := time.Now()
	time.Sleep(4 * time.Second)
	evalJSON(t, viewer, "svViewer.stats()", &st)
	played, elapsed := st.CurrentTime-before, time.Since(start).Seconds()
	t.Logf("FFmpeg killed: the viewer playing the new presentation after %.1f s; then %.1f s played in %.1f s", resumed.Seconds(), played, elapsed)
	if played < 0.8*elapsed {
		t.Errorf("the new presentation does not play: %.1f s in %.1f s", played, elapsed)
	}

	evalJSON(t, capture, "(svCapture.stop(), true)", new(bool))
	waitStopped(t, capture)
	checkRecordings(t, s, stream, capture, 1)
	s.interrupt(t)
	if t.Failed() {
		b.logConsole(t)
	}
}

// allServer is sv all, a process of the test binary as sv, on a free loopback port.
type allServer struct {
	cmd  *exec.Cmd
	addr string
	out  string
	log  *syncBuffer
}

// startAll starts sv all on a free port with its output in a temporary folder, and
// args (flags) after the others.
func startAll(t testing.TB, args ...string) *allServer {
	t.Helper()
	sv, err := exec.LookPath("sv") // the test binary, put on PATH by testscript.Main
	if err != nil {
		t.Fatalf("sv is not on PATH: %v", err)
	}
	s := &allServer{addr: freeAddr(t), out: filepath.Join(t.TempDir(), "out"), log: &syncBuffer{}}
	s.cmd = exec.Command(sv, append([]string{"all", "--listen", s.addr, "--out", s.out}, args...)...)
	s.cmd.Stderr = s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil { // the test failed early: stop it as a user would
			s.cmd.Process.Signal(syscall.SIGINT)
			kill := time.AfterFunc(10*time.Second, func() { s.cmd.Process.Kill() })
			s.cmd.Wait()
			kill.Stop()
		}
		if t.Failed() {
			t.Logf("sv all stderr:\n%s", s.log.String())
		}
	})
	waitListen(t, s.addr)
	return s
}

func (s *allServer) url(path string) string { return "http://" + s.addr + path }

// ffmpegChildren returns the pids of sv all's FFmpeg children (Linux only: nil elsewhere).
func (s *allServer) ffmpegChildren(t testing.TB) []int {
	t.Helper()
	if s.cmd.ProcessState != nil {
		return nil
	}
	var kids []int
	for _, p := range processes() {
		if p.ppid == s.cmd.Process.Pid && p.comm == "ffmpeg" {
			kids = append(kids, p.pid)
		}
	}
	return kids
}

// checkGone fails the test if one of the FFmpeg processes pids still runs.
func checkGone(t testing.TB, pids []int, when string) {
	t.Helper()
	for _, p := range processes() {
		if slices.Contains(pids, p.pid) && p.comm == "ffmpeg" && p.state != "Z" {
			t.Errorf("%s: FFmpeg %d still runs (parent %d)", when, p.pid, p.ppid)
		}
	}
}

// interrupt stops sv all as Ctrl-C does: it must exit 130, without errors in its log
// and without leaving any FFmpeg behind.
func (s *allServer) interrupt(t testing.TB) {
	t.Helper()
	kids := s.ffmpegChildren(t)
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		s.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-done
		t.Errorf("sv all did not exit within 15 s of an interrupt")
	}
	t.Logf("sv all exited %d, %s after the interrupt", s.cmd.ProcessState.ExitCode(), time.Since(start).Round(time.Millisecond))
	if code := s.cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Errorf("sv all exited %d on an interrupt, want %d", code, exitInterrupted)
	}
	checkGone(t, kids, "after sv all exited")
	for _, line := range s.sessionLines() {
		t.Logf("sv all: %s", line)
	}
	for _, line := range strings.Split(s.log.String(), "\n") {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("sv all logged an error: %s", line)
		}
	}
}

// sessionLines are the lines of sv all's log about the end of a session.
func (s *allServer) sessionLines() []string {
	var lines []string
	for _, line := range strings.Split(s.log.String(), "\n") {
		if strings.Contains(line, "session ended") {
			lines = append(lines, line)
		}
	}
	return lines
}

// process is one line of /proc/PID/stat.
type process struct {
	pid, ppid   int
	comm, state string
	ticks       int64 // CPU time, user and system, in clock ticks (1/100 s)
	rss         int64 // resident pages
}

// processes lists the processes of the machine, from /proc (none where there is none).
func processes() []process {
	entries, _ := os.ReadDir("/proc")
	var ps []process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		open, end := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(string(b[end+1:])) // from field 3, state
		if len(f) < 22 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		rss, _ := strconv.ParseInt(f[21], 10, 64)
		ps = append(ps, process{pid: pid, ppid: ppid, comm: string(b[open+1 : end]), state: f[0], ticks: utime + stime, rss: rss})
	}
	return ps
}

// waitStopped waits for the capture page to be told by the server that its stream is
// stored (the server's close frame comes once the session is finished).
func waitStopped(t testing.TB, capture context.Context) captureState {
	t.Helper()
	var cs captureState
	waitFor(t, 20*time.Second, "the capture page to stop", func() (bool, string) {
		evalJSON(t, capture, "svCapture.state()", &cs)
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
func checkRecordings(t testing.TB, s *allServer, stream string, capture context.Context, sessions int) {
	t.Helper()
	js, err := chromedp.Run(capture, chromedp.Evaluate[string]("svCapture.sentDigests().then(JSON.stringify)", chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("svCapture.sentDigests(): %v", err)
	}
	var sent []sentDigest
	if err := json.Unmarshal([]byte(js), &sent); err != nil {
		t.Fatalf("svCapture.sentDigests(): %v: %s", err, js)
	}
	dir := filepath.Join(s.out, "recordings", stream)
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
			len(sent), recs, sessions, js, strings.Join(s.sessionLines(), "\n"))
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
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
		t.Fatalf("events: %d frame records in 10 s, want %d (%v)", len(frames), n, sc.Err())
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
	evalJSON(t, viewer, `performance.getEntriesByType('resource').filter((e) => e.responseStatus >= 400).map((e) => ({path: new URL(e.name).pathname, status: e.responseStatus, at: Math.round(e.startTime - window.svTestDrop)}))`, &failed)
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
