package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"

	"github.com/chromedp/chromedp"

	"github.com/svtool/sv/dash"
	"github.com/svtool/sv/stream"
)

// The browser test runs the whole pipeline the way a user does, with real processes and
// a real browser: Chromium's capture page records the test clock (source=clock) into
// sv recv, piped into sv dash; sv serve serves the pages and the media; the viewer page
// plays the stream with dash.js and decodes the capture timecode from every frame it
// shows, which gives the true glass-to-glass latency on one clock.
//
// It streams for 25 s by default. SV_LATENCY_RUN=60s streams that long instead and
// reports the median and 95th percentile; SV_LATENCY_MAX=1s also fails the test when the
// median is above it; SV_VIEW_PARAMS adds parameters to the viewer's URL, such as
// "&lead=0" (no clock correction) or "&delay=0.3" (dash.js's target latency, s):
//
//	SV_LATENCY_RUN=60s go test -run TestBrowserPipeline -v ./cmd/sv

// chromiumFlags are those of NOTES.md for a headless Chromium with a fake camera and
// microphone, plus no throttling of the page that is not in front.
var chromiumFlags = []chromedp.ExecAllocatorOption{
	chromedp.Flag("headless", "new"),
	chromedp.NoSandbox,
	chromedp.DisableGPU,
	chromedp.NoFirstRun,
	chromedp.NoDefaultBrowserCheck,
	chromedp.Flag("disable-quic", true),
	chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true),
	chromedp.Flag("disable-sync", true),
	chromedp.Flag("disable-dev-shm-usage", true),
	chromedp.Flag("use-fake-device-for-media-stream", true),
	chromedp.Flag("use-fake-ui-for-media-stream", true),
	chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	chromedp.Flag("disable-background-timer-throttling", true),
	chromedp.Flag("disable-renderer-backgrounding", true),
	chromedp.Flag("disable-backgrounding-occluded-windows", true),
	chromedp.Flag("mute-audio", true),
}

func TestBrowserPipeline(t *testing.T) {
	run := 25 * time.Second
	if v := os.Getenv("SV_LATENCY_RUN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SV_LATENCY_RUN: %v", err)
		}
		run = d
	} else if testing.Short() {
		t.Skip("streams for 25 s; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe")
	chromium := testenv.RequireChromium(t)

	p := startPipeline(t, "clock", true)
	b := startBrowser(t, chromium)

	capture := b.open(t, "http://"+p.serveAddr+"/capture?stream=clock&source=clock&autostart=1&resolution=640x480&fps=30")
	waitFor(t, 10*time.Second, "the capture page to go live", func() (bool, string) {
		var st captureState
		evalJSON(t, capture, "svCapture.state()", &st)
		return st.Phase == "live", fmt.Sprintf("%+v", st)
	})
	viewer := b.open(t, "http://"+p.serveAddr+"/view?stream=clock"+os.Getenv("SV_VIEW_PARAMS"))
	var first viewerStats
	waitFor(t, 20*time.Second, "the viewer to play", func() (bool, string) {
		evalJSON(t, viewer, "svViewer.stats()", &first)
		return first.Phase == "playing" && first.CurrentTime > 0 && first.TCFrames > 0, fmt.Sprintf("%+v", first)
	})

	// Measure.
	start := time.Now()
	var samples []float64
	var last viewerStats
	var worstBuffer = math.Inf(1)
	for time.Since(start) < run {
		time.Sleep(time.Second)
		var got []float64
		evalJSON(t, viewer, "svViewer.takeSamples()", &got)
		samples = append(samples, got...)
		evalJSON(t, viewer, "svViewer.stats()", &last)
		worstBuffer = min(worstBuffer, last.Buffer)
	}
	elapsed := time.Since(start)
	var capSt captureState
	evalJSON(t, capture, "svCapture.state()", &capSt)

	advanced := last.CurrentTime - first.CurrentTime
	slices.Sort(samples)
	med, p95 := quantile(samples, 0.5), quantile(samples, 0.95)
	t.Logf("glass-to-glass over %s: median %.0f ms, p95 %.0f ms, min %.0f ms, max %.0f ms, %d frames with a timecode",
		elapsed.Round(time.Second), med, p95, quantile(samples, 0), quantile(samples, 1), len(samples))
	t.Logf("player: dash.js latency %.0f ms (target %.0f ms, clock %.0f ms ahead, low-latency mode %v), buffer %.2f s (lowest %.2f s), %d stalls (%.1f s), %d/%d frames dropped, rate %.2f, %d loads, errors %q",
		last.Latency, last.Target, last.Lead, last.LowLatency, last.Buffer, worstBuffer, last.Stalls, last.StallMs/1000, last.Dropped, last.Frames, last.Rate, last.Loads, last.Errors)
	t.Logf("publisher: %s, %d bytes sent, %.0f kbit/s, backlog %d bytes, clock offset %d ms",
		capSt.Mime, capSt.Sent, capSt.Bitrate/1000, capSt.Buffered, capSt.Offset)

	t.Logf("analysis in the viewer (sv frames, /events): %d frames, %d cuts, capture to analysis %.0f ms",
		last.Analysis.Frames, last.Analysis.Cuts, last.Analysis.Latency)

	if last.Analysis.Frames < 100 || last.Analysis.Latency <= 0 {
		t.Errorf("the viewer shows no analysis with the timecode sv frames read from the page's picture: %+v", last.Analysis)
	}
	if advanced < 0.8*elapsed.Seconds() {
		t.Errorf("playback advanced %.1f s in %.1f s", advanced, elapsed.Seconds())
	}
	if len(samples) < int(elapsed.Seconds())*10 {
		t.Errorf("only %d frames with a decodable timecode in %s (30 fps sent)", len(samples), elapsed.Round(time.Second))
	}
	if med > 3000 {
		t.Errorf("median glass-to-glass latency %.0f ms: far above the ~1 s the pipeline reaches", med)
	}
	if v := os.Getenv("SV_LATENCY_MAX"); v != "" {
		if max, err := time.ParseDuration(v); err == nil && med > float64(max.Milliseconds()) {
			t.Errorf("median glass-to-glass latency %.0f ms is above SV_LATENCY_MAX=%s", med, v)
		}
	}

	// The same stream over HLS, with hls.js.
	hls := b.open(t, "http://"+p.serveAddr+"/view?stream=clock&player=hls")
	var hs viewerStats
	waitFor(t, 20*time.Second, "hls.js to play", func() (bool, string) {
		evalJSON(t, hls, "svViewer.stats()", &hs)
		return hs.Tech == "hls.js" && hs.Phase == "playing" && hs.CurrentTime > 0 && hs.TCFrames > 30, fmt.Sprintf("%+v", hs)
	})
	evalJSON(t, hls, "svViewer.takeSamples()", new([]float64))
	ct := hs.CurrentTime
	time.Sleep(3 * time.Second)
	var hlsSamples []float64
	evalJSON(t, hls, "svViewer.takeSamples()", &hlsSamples)
	evalJSON(t, hls, "svViewer.stats()", &hs)
	slices.Sort(hlsSamples)
	t.Logf("hls.js: glass-to-glass median %.0f ms, its own latency %.0f ms, %.1f s played in 3 s", quantile(hlsSamples, 0.5), hs.Latency, hs.CurrentTime-ct)
	if hs.CurrentTime-ct < 2 {
		t.Errorf("hls.js played %.1f s in 3 s", hs.CurrentTime-ct)
	}

	// A normal stop: the publisher closes, sv recv and sv dash end and the presentation
	// becomes static; sv serve ends on an interrupt.
	evalJSON(t, capture, "(svCapture.stop(), true)", new(bool))
	p.wait(t, 20*time.Second)
	mpd, err := os.ReadFile(filepath.Join(p.root, "live", "clock", "manifest.mpd"))
	if err != nil || !bytes.Contains(mpd, []byte(`type="static"`)) {
		t.Errorf("the manifest is not static after the stop (%v):\n%s", err, mpd)
	}
	summary := p.stopServe(t)
	t.Logf("sv serve: %s", summary)
	b.logConsole(t)
}

// TestBrowserReconnect: the publisher's connection is cut (sv recv interrupted) and a new
// sv recv | sv dash takes over, as a loop around them does. The capture page reconnects
// by itself with a new recorder session, and the viewer notices the new session and
// plays it, without anyone touching either page.
func TestBrowserReconnect(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for 20 s; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe")
	chromium := testenv.RequireChromium(t)
	p := startPipeline(t, "again", false)
	b := startBrowser(t, chromium)
	capture := b.open(t, "http://"+p.serveAddr+"/capture?stream=again&source=clock&autostart=1&resolution=640x480&fps=30")
	viewer := b.open(t, "http://"+p.serveAddr+"/view?stream=again")
	st := waitPlaying(t, viewer)
	first := st.Session

	// Cut: sv recv ends the session (close 1001, going away) and exits; sv dash ends the
	// presentation. A new pair listens a moment later.
	p.recv.Process.Signal(syscall.SIGINT)
	p.waitIngest(t, 15*time.Second, false)
	p.startIngest(t)

	var cs captureState
	waitFor(t, 15*time.Second, "the capture page to reconnect", func() (bool, string) {
		evalJSON(t, capture, "svCapture.state()", &cs)
		return cs.Sessions == 2 && cs.Phase == "live", fmt.Sprintf("%+v", cs)
	})
	waitFor(t, 20*time.Second, "the viewer to play the new session", func() (bool, string) {
		evalJSON(t, viewer, "svViewer.stats()", &st)
		return st.Session != first && st.Phase == "playing", fmt.Sprintf("%+v", st)
	})
	evalJSON(t, viewer, "svViewer.takeSamples()", new([]float64))
	before := st.CurrentTime
	time.Sleep(5 * time.Second)
	var samples []float64
	evalJSON(t, viewer, "svViewer.takeSamples()", &samples)
	evalJSON(t, viewer, "svViewer.stats()", &st)
	slices.Sort(samples)
	t.Logf("after the reconnection: %d loads, %.1f s played in 5 s, glass-to-glass median %.0f ms over %d frames, close %q",
		st.Loads, st.CurrentTime-before, quantile(samples, 0.5), len(samples), cs.LastClose)
	if st.CurrentTime-before < 4 || len(samples) < 50 {
		t.Errorf("the new session does not play: %.1f s in 5 s, %d frames with a timecode", st.CurrentTime-before, len(samples))
	}
	if m := quantile(samples, 0.5); m > 3000 {
		t.Errorf("glass-to-glass median %.0f ms after the reconnection", m)
	}
	evalJSON(t, capture, "(svCapture.stop(), true)", new(bool))
	p.wait(t, 20*time.Second)
	p.stopServe(t)
	b.logConsole(t)
}

// waitPlaying waits for the viewer to play, with 30 frames' timecodes read, and returns
// its stats.
func waitPlaying(t testing.TB, viewer context.Context) viewerStats {
	t.Helper()
	var st viewerStats
	waitFor(t, 20*time.Second, "the viewer to play", func() (bool, string) {
		evalJSON(t, viewer, "svViewer.stats()", &st)
		return st.Phase == "playing" && st.TCFrames > 30, fmt.Sprintf("%+v", st)
	})
	return st
}

// waitNewSession waits up to d for the viewer to play a session other than first (a new
// presentation), its position moving, and returns its stats.
func waitNewSession(t testing.TB, viewer context.Context, first string, d time.Duration, what string) viewerStats {
	t.Helper()
	var st viewerStats
	var prev float64
	waitFor(t, d, what, func() (bool, string) {
		evalJSON(t, viewer, "svViewer.stats()", &st)
		moving := st.Session != first && st.Phase == "playing" && st.CurrentTime > prev && prev > 0
		if st.Session != first {
			prev = st.CurrentTime
		}
		return moving, fmt.Sprintf("%+v", st)
	})
	return st
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(len(sorted)-1, max(0, i))]
}

type captureState struct {
	Phase     string   `json:"phase"`
	Sessions  int      `json:"sessions"`
	Sent      int64    `json:"sent"`
	Buffered  int64    `json:"buffered"`
	Bitrate   float64  `json:"bitrate"`
	Mime      string   `json:"mime"`
	LastClose string   `json:"lastClose"`
	Offset    int      `json:"offset"`
	StartedAt *float64 `json:"startedAt"`
}

type viewerStats struct {
	Phase        string   `json:"phase"`
	Session      string   `json:"session"`
	Tech         string   `json:"tech"`
	Loads        int      `json:"loads"`
	CurrentTime  float64  `json:"currentTime"`
	Buffer       float64  `json:"buffer"`
	Width        int      `json:"width"`
	Height       int      `json:"height"`
	Rate         float64  `json:"rate"`
	Stalls       int      `json:"stalls"`
	StallMs      float64  `json:"stallMs"`
	Dropped      int      `json:"dropped"`
	Frames       int      `json:"frames"`
	G2G          float64  `json:"g2g"`
	TCFrames     int      `json:"tcFrames"`
	FirstFrameAt *float64 `json:"firstFrameAt"`
	Latency      float64  `json:"latency"`
	Lead         float64  `json:"lead"`
	Target       float64  `json:"target"`
	LowLatency   bool     `json:"lowLatency"`
	Errors       []string `json:"errors"`
	Analysis     struct {
		Frames  int     `json:"frames"`
		Cuts    int     `json:"cuts"`
		Latency float64 `json:"latency"`
	} `json:"analysis"`
}

// evalJSON evaluates a JavaScript expression in a page and decodes its value (through
// JSON.stringify, which turns NaN into null).
func evalJSON(t testing.TB, ctx context.Context, expr string, v any) {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string]("JSON.stringify("+expr+")"))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("evaluate %s: %v: %s", expr, err, s)
	}
}

// waitFor polls cond every 200 ms until it holds, or fails the test after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; last state: %s", d, what, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pipeline is sv recv | sv dash and sv serve, as processes of the test binary as sv.
type pipeline struct {
	sv        string // the sv binary
	stream    string
	root      string
	recvAddr  string
	serveAddr string
	recv      *exec.Cmd
	dash      *exec.Cmd
	frames    *exec.Cmd // with analysis: sv frames on a copy of the stream (sv recv --tee)
	serve     *exec.Cmd
	logs      map[string]*syncBuffer
	analysis  bool
	copied    chan error // the copy of sv frames' output into the stream's folder
}

// startPipeline starts sv serve and sv recv | sv dash; with analysis, also sv frames
// on a copy of the stream, its output in the stream's folder as /live/{stream}/events
// expects it.
func startPipeline(t testing.TB, stream string, analysis bool) *pipeline {
	t.Helper()
	sv, err := exec.LookPath("sv") // the test binary, put on PATH by testscript.Main
	if err != nil {
		t.Fatalf("sv is not on PATH: %v", err)
	}
	p := &pipeline{
		sv:        sv,
		stream:    stream,
		root:      filepath.Join(t.TempDir(), "output"),
		recvAddr:  freeAddr(t),
		serveAddr: freeAddr(t),
		logs:      map[string]*syncBuffer{"recv": {}, "dash": {}, "frames": {}, "serve": {}},
		analysis:  analysis,
	}
	p.serve = exec.Command(sv, "serve", "--listen", p.serveAddr, "--root", p.root,
		"--ingest", "ws://"+p.recvAddr+"/ingest/{stream}")
	p.serve.Stderr = p.logs["serve"]
	if err := p.serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range []*exec.Cmd{p.recv, p.dash, p.frames, p.serve} {
			if c != nil && c.ProcessState == nil {
				c.Process.Kill()
				c.Wait()
			}
		}
		if t.Failed() {
			for name, l := range p.logs {
				if l.Len() > 0 {
					t.Logf("sv %s stderr:\n%s", name, l.String())
				}
			}
		}
	})
	p.startIngest(t)
	waitListen(t, p.serveAddr)
	return p
}

// startIngest starts sv recv | sv dash for one publisher session; with analysis, sv
// recv | tee >(sv frames) | sv dash.
func (p *pipeline) startIngest(t testing.TB) {
	t.Helper()
	out := filepath.Join(p.root, "live", p.stream)
	p.recv = exec.Command(p.sv, "recv", "--quiet", "--listen", p.recvAddr)
	p.recv.Stderr = p.logs["recv"]
	p.dash = exec.Command(p.sv, "dash", "--quiet", "--out", out, "--time-url", "http://"+p.serveAddr+"/time")
	p.dash.Stderr = p.logs["dash"]
	cmds := []*exec.Cmd{p.recv, p.dash}
	if !p.analysis {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		p.recv.Stdout, p.dash.Stdin = pw, pr
		defer pw.Close()
		defer pr.Close()
	} else {
		received, err := p.recv.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		toDash, err := p.dash.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		p.frames = exec.Command(p.sv, "frames", "--quiet")
		p.frames.Stderr = p.logs["frames"]
		toFrames, err := p.frames.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		lines, err := p.frames.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, p.frames)
		go func() { // tee
			io.Copy(io.MultiWriter(toDash, toFrames), received)
			toDash.Close()
			toFrames.Close()
		}()
		// sv frames' lines go into the stream's folder once sv dash has made it its own
		// (it refuses a folder that holds other files).
		p.copied = make(chan error, 1)
		go func() {
			deadline := time.Now().Add(20 * time.Second)
			for {
				if _, err := os.Stat(filepath.Join(out, dash.MarkerName)); err == nil {
					break
				}
				if time.Now().After(deadline) {
					p.copied <- fmt.Errorf("no %s in %s", dash.MarkerName, out)
					io.Copy(io.Discard, lines)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			f, err := os.Create(filepath.Join(out, stream.Analysis))
			if err == nil {
				_, err = io.Copy(f, lines)
				f.Close()
			}
			p.copied <- err
		}()
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	waitListen(t, p.recvAddr)
}

// wait waits for sv recv and sv dash to end, successfully unless the session was
// interrupted.
func (p *pipeline) wait(t testing.TB, d time.Duration) {
	t.Helper()
	p.waitIngest(t, d, true)
}

func (p *pipeline) waitIngest(t testing.TB, d time.Duration, ok bool) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		p.recv.Wait()
		p.dash.Wait()
		if p.frames != nil {
			if err := <-p.copied; err != nil {
				t.Errorf("copy of sv frames' output: %v", err)
			}
			p.frames.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("sv recv | sv dash did not end within %s of the publisher's stop", d)
	}
	if !ok {
		return
	}
	for _, c := range []*exec.Cmd{p.recv, p.dash, p.frames} {
		if c != nil && !c.ProcessState.Success() {
			t.Errorf("%s: %v", strings.Join(c.Args[:2], " "), c.ProcessState)
		}
	}
}

// stopServe interrupts sv serve and returns its closing summary.
func (p *pipeline) stopServe(t testing.TB) string {
	t.Helper()
	p.serve.Process.Signal(syscall.SIGINT)
	p.serve.Wait()
	if code := p.serve.ProcessState.ExitCode(); code != exitInterrupted {
		t.Errorf("sv serve exited %d on an interrupt, want %d", code, exitInterrupted)
	}
	return strings.TrimSpace(p.logs["serve"].String())
}

// browser is one headless Chromium; each open page is a tab.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	messages []string
}

func startBrowser(t testing.TB, path string) *browser {
	t.Helper()
	opts := append([]chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir())}, chromiumFlags...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{ctx: ctx}
}

// open opens url in a new tab and collects its console's warnings and errors.
func (b *browser) open(t testing.TB, url string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleWarning {
				b.mu.Lock()
				where := ""
				if m.Stack != nil && len(m.Stack.CallFrames) > 0 {
					f := m.Stack.CallFrames[0]
					where = fmt.Sprintf(" (%s %s:%d:%d)", f.FunctionName, path.Base(f.URL), f.LineNumber+1, f.ColumnNumber+1)
				}
				b.messages = append(b.messages, fmt.Sprintf("%s %s: %s%s", url, m.Type, m.Text, where))
				b.mu.Unlock()
			}
		}
	}()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return ctx
}

func (b *browser) logConsole(t testing.TB) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.messages {
		t.Log("console:", m)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitListen(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer for a child's stderr, read while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}
