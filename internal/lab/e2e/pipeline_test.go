package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/svtool/sv/dash"
	"github.com/svtool/sv/internal/lab"
	"github.com/svtool/sv/internal/testenv"
	"github.com/svtool/sv/stream"
)

// TestBrowserPipeline runs the whole pipeline the way a user does, with real processes
// and a real browser: Chromium's capture page records the test clock (source=clock) into
// sv recv, piped into sv dash; sv serve serves the pages and the media; the viewer page
// plays the stream with dash.js and decodes the capture timecode from every frame it
// shows, which gives the true glass-to-glass latency on one clock. It checks that the
// stream plays, with its timecodes and its analysis, over DASH and HLS, and that a stop
// ends the presentation; how fast (the latency) is BenchmarkGlassToGlass's to measure.
//
// It streams for 25 s by default. SV_LATENCY_RUN=60s streams that long instead and
// reports the median and 95th percentile; SV_LATENCY_MAX=1s also fails the test when the
// median is above it; SV_VIEW_PARAMS adds parameters to the viewer's URL, such as
// "&delay=0.3" (dash.js's target latency, s). From
// internal/lab:
//
//	SV_LATENCY_RUN=60s go test -run TestBrowserPipeline -v ./e2e
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
	b := lab.StartBrowser(t, chromium)

	capture := b.Open(t, "http://"+p.serveAddr+"/capture?stream=clock&source=clock&autostart=1&resolution=640x480&fps=30")
	lab.WaitFor(t, hang, "the capture page to go live", func() (bool, string) {
		var st lab.CaptureState
		lab.EvalJSON(t, capture, "svCapture.state()", &st)
		return st.Phase == "live", fmt.Sprintf("%+v", st)
	})
	viewer := b.Open(t, "http://"+p.serveAddr+"/view?stream=clock"+os.Getenv("SV_VIEW_PARAMS"))
	var first lab.ViewerStats
	lab.WaitFor(t, hang, "the viewer to play", func() (bool, string) {
		lab.EvalJSON(t, viewer, "svViewer.stats()", &first)
		return first.Phase == "playing" && first.CurrentTime > 0 && first.TCFrames > 0, fmt.Sprintf("%+v", first)
	})

	// Measure for run, and until the playback has advanced 0.8 run; only a hang takes ten
	// times that.
	start := time.Now()
	var samples []float64
	var last lab.ViewerStats
	var worstBuffer = math.Inf(1)
	goal := 0.8 * run.Seconds()
	for time.Since(start) < run || last.CurrentTime-first.CurrentTime < goal {
		if time.Since(start) > max(10*run, hang) {
			t.Fatalf("playback advanced %.1f s in %s, want %.1f s: %+v", last.CurrentTime-first.CurrentTime, time.Since(start).Round(time.Second), goal, last)
		}
		time.Sleep(time.Second)
		var got []float64
		lab.EvalJSON(t, viewer, "svViewer.takeSamples()", &got)
		samples = append(samples, got...)
		lab.EvalJSON(t, viewer, "svViewer.stats()", &last)
		worstBuffer = min(worstBuffer, last.Buffer)
	}
	elapsed := time.Since(start)
	var capSt lab.CaptureState
	lab.EvalJSON(t, capture, "svCapture.state()", &capSt)

	advanced := last.CurrentTime - first.CurrentTime
	slices.Sort(samples)
	med, p95 := lab.Quantile(samples, 0.5), lab.Quantile(samples, 0.95)
	t.Logf("glass-to-glass over %s (%.1f s played): median %.0f ms, p95 %.0f ms, min %.0f ms, max %.0f ms, %d frames with a timecode",
		elapsed.Round(time.Second), advanced, med, p95, lab.Quantile(samples, 0), lab.Quantile(samples, 1), len(samples))
	t.Logf("player: dash.js latency %.0f ms (target %.0f ms, low-latency mode %v), buffer %.2f s (lowest %.2f s), %d stalls (%.1f s), %d/%d frames dropped, rate %.2f, %d loads, errors %q",
		last.Latency, last.Target, last.LowLatency, last.Buffer, worstBuffer, last.Stalls, last.StallMs/1000, last.Dropped, last.Frames, last.Rate, last.Loads, last.Errors)
	t.Logf("publisher: %s, %d bytes sent, %.0f kbit/s, backlog %d bytes, clock offset %d ms",
		capSt.Mime, capSt.Sent, capSt.Bitrate/1000, capSt.Buffered, capSt.Offset)

	t.Logf("analysis in the viewer (sv frames, /events): %d frames, %d cuts, capture to analysis %.0f ms",
		last.Analysis.Frames, last.Analysis.Cuts, last.Analysis.Latency)

	if last.Analysis.Frames < 100 || last.Analysis.Latency <= 0 {
		t.Errorf("the viewer shows no analysis with the timecode sv frames read from the page's picture: %+v", last.Analysis)
	}
	if len(samples) < int(advanced)*10 {
		t.Errorf("only %d frames with a decodable timecode in %.1f s played (30 fps sent)", len(samples), advanced)
	}
	if v := os.Getenv("SV_LATENCY_MAX"); v != "" {
		if max, err := time.ParseDuration(v); err == nil && med > float64(max.Milliseconds()) {
			t.Errorf("median glass-to-glass latency %.0f ms is above SV_LATENCY_MAX=%s", med, v)
		}
	}

	// The same stream over HLS, with hls.js.
	hls := b.Open(t, "http://"+p.serveAddr+"/view?stream=clock&player=hls")
	var hs lab.ViewerStats
	lab.WaitFor(t, hang, "hls.js to play", func() (bool, string) {
		lab.EvalJSON(t, hls, "svViewer.stats()", &hs)
		return hs.Tech == "hls.js" && hs.Phase == "playing" && hs.CurrentTime > 0 && hs.TCFrames > 30, fmt.Sprintf("%+v", hs)
	})
	hlsSamples, hs, took := playFor(t, hls, 2*time.Second, "hls.js")
	t.Logf("hls.js: glass-to-glass median %.0f ms, its own latency %.0f ms, 2 s played in %.1f s", lab.Quantile(hlsSamples, 0.5), hs.Latency, took.Seconds())

	// A normal stop: the publisher closes, sv recv and sv dash end and the manifests say
	// the presentation has ended; sv serve ends on an interrupt.
	lab.EvalJSON(t, capture, "(svCapture.stop(), true)", new(bool))
	p.wait(t, hang)
	mpd, err := os.ReadFile(filepath.Join(p.root, "live", "clock", "manifest.mpd"))
	if err != nil || !bytes.Contains(mpd, []byte(`mediaPresentationDuration=`)) || bytes.Contains(mpd, []byte("minimumUpdatePeriod")) {
		t.Errorf("the manifest does not say the stream has ended after the stop (%v):\n%s", err, mpd)
	}
	summary := p.stopServe(t)
	t.Logf("sv serve: %s", summary)
	b.LogConsole(t)
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
	b := lab.StartBrowser(t, chromium)
	capture := b.Open(t, "http://"+p.serveAddr+"/capture?stream=again&source=clock&autostart=1&resolution=640x480&fps=30")
	viewer := b.Open(t, "http://"+p.serveAddr+"/view?stream=again")
	st := waitPlaying(t, viewer)
	first := st.Session

	// Cut: sv recv ends the session (close 1001, going away) and exits; sv dash ends the
	// presentation. A new pair listens a moment later.
	p.recv.Signal(syscall.SIGINT)
	p.waitIngest(t, hang, false)
	p.startIngest(t)

	var cs lab.CaptureState
	lab.WaitFor(t, hang, "the capture page to reconnect", func() (bool, string) {
		lab.EvalJSON(t, capture, "svCapture.state()", &cs)
		return cs.Sessions == 2 && cs.Phase == "live", fmt.Sprintf("%+v", cs)
	})
	lab.WaitFor(t, hang, "the viewer to play the new session", func() (bool, string) {
		lab.EvalJSON(t, viewer, "svViewer.stats()", &st)
		return st.Session != first && st.Phase == "playing", fmt.Sprintf("%+v", st)
	})
	samples, st, took := playFor(t, viewer, 4*time.Second, "the new session")
	t.Logf("after the reconnection: %d loads, 4 s played in %.1f s, glass-to-glass median %.0f ms over %d frames, close %q",
		st.Loads, took.Seconds(), lab.Quantile(samples, 0.5), len(samples), cs.LastClose)
	if len(samples) < 50 {
		t.Errorf("the new session does not play: %d frames with a timecode in 4 s played", len(samples))
	}
	lab.EvalJSON(t, capture, "(svCapture.stop(), true)", new(bool))
	p.wait(t, hang)
	p.stopServe(t)
	b.LogConsole(t)
}

// hang is how long the tests wait for what takes seconds: long enough that only a hang,
// not a busy machine, reaches it.
const hang = 2 * time.Minute

// waitPlaying waits for the viewer to play, with 30 frames' timecodes read, and returns
// its stats.
func waitPlaying(t testing.TB, viewer context.Context) lab.ViewerStats {
	t.Helper()
	var st lab.ViewerStats
	lab.WaitFor(t, hang, "the viewer to play", func() (bool, string) {
		lab.EvalJSON(t, viewer, "svViewer.stats()", &st)
		return st.Phase == "playing" && st.TCFrames > 30, fmt.Sprintf("%+v", st)
	})
	return st
}

// playFor waits until the viewer's playback has advanced d from where it is now, and
// returns the glass-to-glass latencies (ms, sorted) of the frames it showed meanwhile, its
// stats at the end, and how long that took. It fails the test if that takes ten times d
// or hang, whichever is longer: only a hang takes that long.
func playFor(t testing.TB, viewer context.Context, d time.Duration, what string) (samples []float64, last lab.ViewerStats, took time.Duration) {
	t.Helper()
	lab.EvalJSON(t, viewer, "svViewer.takeSamples()", new([]float64))
	var from lab.ViewerStats
	lab.EvalJSON(t, viewer, "svViewer.stats()", &from)
	start := time.Now()
	lab.WaitFor(t, max(10*d, hang), fmt.Sprintf("%s to play %s", what, d), func() (bool, string) {
		lab.EvalJSON(t, viewer, "svViewer.stats()", &last)
		return last.CurrentTime-from.CurrentTime >= d.Seconds(), fmt.Sprintf("%.1f s played: %+v", last.CurrentTime-from.CurrentTime, last)
	})
	took = time.Since(start)
	lab.EvalJSON(t, viewer, "svViewer.takeSamples()", &samples)
	slices.Sort(samples)
	return samples, last, took
}

// pipeline is sv recv | sv dash and sv serve, as separate processes.
type pipeline struct {
	sv        string // the sv binary
	stream    string
	root      string
	recvAddr  string
	serveAddr string
	recv      *lab.Child
	dash      *lab.Child
	frames    *lab.Child // with analysis: sv frames on a copy of the stream (sv recv --tee)
	serve     *lab.Child
	analysis  bool
	copied    chan error // the copy of sv frames' output into the stream's folder
}

// startPipeline starts sv serve and sv recv | sv dash; with analysis, also sv frames
// on a copy of the stream, its output in the stream's folder as /live/{stream}/events
// expects it.
func startPipeline(t testing.TB, stream string, analysis bool) *pipeline {
	t.Helper()
	p := &pipeline{
		sv:        lab.Bin(t, lab.SV),
		stream:    stream,
		root:      filepath.Join(t.TempDir(), "output"),
		recvAddr:  lab.FreeAddr(t),
		serveAddr: lab.FreeAddr(t),
		analysis:  analysis,
	}
	p.serve = lab.Start(t, exec.Command(p.sv, "serve", "--listen", p.serveAddr, "--root", p.root,
		"--ingest", "ws://"+p.recvAddr+"/ingest/{stream}"))
	p.startIngest(t)
	lab.WaitListen(t, p.serveAddr)
	return p
}

// startIngest starts sv recv | sv dash for one publisher session; with analysis, sv
// recv | tee >(sv frames) | sv dash.
func (p *pipeline) startIngest(t testing.TB) {
	t.Helper()
	out := filepath.Join(p.root, "live", p.stream)
	recv := exec.Command(p.sv, "recv", "--quiet", "--listen", p.recvAddr)
	dashCmd := exec.Command(p.sv, "dash", "--quiet", "--out", out, "--time-url", "http://"+p.serveAddr+"/time")
	// Pipes of our own rather than StdoutPipe and StdinPipe, which the background Wait of
	// lab.Start would close while they are still being read.
	pipe := func() (r, w *os.File) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		return r, w
	}
	if !p.analysis {
		pr, pw := pipe()
		recv.Stdout, dashCmd.Stdin = pw, pr
		p.recv, p.dash = lab.Start(t, recv), lab.Start(t, dashCmd)
		pw.Close()
		pr.Close()
		lab.WaitListen(t, p.recvAddr)
		return
	}
	received, receivedW := pipe()
	toDashR, toDash := pipe()
	toFramesR, toFrames := pipe()
	lines, linesW := pipe()
	framesCmd := exec.Command(p.sv, "frames", "--quiet")
	recv.Stdout, dashCmd.Stdin = receivedW, toDashR
	framesCmd.Stdin, framesCmd.Stdout = toFramesR, linesW
	p.recv, p.dash, p.frames = lab.Start(t, recv), lab.Start(t, dashCmd), lab.Start(t, framesCmd)
	for _, f := range []*os.File{receivedW, toDashR, toFramesR, linesW} {
		f.Close()
	}
	go func() { // tee
		io.Copy(io.MultiWriter(toDash, toFrames), received)
		received.Close()
		toDash.Close()
		toFrames.Close()
	}()
	// sv frames' lines go into the stream's folder once sv dash has made it its own
	// (it refuses a folder that holds other files).
	p.copied = make(chan error, 1)
	go func() {
		defer lines.Close()
		deadline := time.Now().Add(hang)
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
	lab.WaitListen(t, p.recvAddr)
}

// wait waits for sv recv and sv dash to end, successfully.
func (p *pipeline) wait(t testing.TB, d time.Duration) {
	t.Helper()
	p.waitIngest(t, d, true)
}

// waitIngest waits up to d for sv recv and sv dash to end, and with ok, checks that they
// ended successfully (not so when the session was interrupted).
func (p *pipeline) waitIngest(t testing.TB, d time.Duration, ok bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	kids := []*lab.Child{p.recv, p.dash}
	if p.frames != nil {
		kids = append(kids, p.frames)
	}
	for _, c := range kids {
		if !c.Wait(time.Until(deadline)) {
			t.Fatalf("sv recv | sv dash did not end within %s of the publisher's stop", d)
		}
	}
	if p.frames != nil {
		select {
		case err := <-p.copied:
			if err != nil {
				t.Errorf("copy of sv frames' output: %v", err)
			}
		case <-time.After(time.Until(deadline)):
			t.Fatalf("sv frames' output was not copied within %s of the publisher's stop", d)
		}
	}
	if !ok {
		return
	}
	for _, c := range kids {
		if err := c.Err(); err != nil {
			t.Errorf("%s: %v", c.Name(), err)
		}
	}
}

// stopServe interrupts sv serve and returns its closing summary.
func (p *pipeline) stopServe(t testing.TB) string {
	t.Helper()
	p.serve.Signal(syscall.SIGINT)
	if !p.serve.Wait(hang) {
		t.Fatalf("sv serve did not exit within %s of an interrupt", hang)
	}
	if code := p.serve.ExitCode(); code != lab.ExitInterrupted {
		t.Errorf("sv serve exited %d on an interrupt, want %d", code, lab.ExitInterrupted)
	}
	return strings.TrimSpace(p.serve.Log.String())
}
