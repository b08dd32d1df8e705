package e2e

import (
	"fmt"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/svtool/sv/internal/lab"
	"github.com/svtool/sv/internal/testenv"
)

// TestFirefoxPublisher: Firefox ESR publishes the test clock, with its beep, as VP8+Opus
// (the capture page started from its URL alone: Firefox cannot be driven like Chromium)
// to sv all, which transcodes the video and copies the Opus. Chromium plays it in sv's
// viewer with dash.js, audio and all, and a second Firefox with stock dash.js; the
// recording is Firefox's VP8+Opus, kept when Firefox goes away.
//
// Chromium's audio is a packager goal (goalOpus): with FFmpeg 5.1's dOps box Chromium
// refused the audio (CHUNK_DEMUXER_ERROR_APPEND_FAILED), which stopped playback.
func TestFirefoxPublisher(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for 20 s; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe", "firefox-esr")
	chromium := testenv.RequireChromium(t)
	const name = "firefox"

	s := lab.StartAll(t, lab.Bin(t, lab.SV))
	fox := lab.StartFirefox(t, s.URL("/capture?stream="+name+"&source=clock&autostart=1&resolution=640x480&fps=30&codec="+
		url.QueryEscape("video/webm;codecs=vp8,opus")))
	lab.WaitPlayable(t, s.URL(""), name, hang)
	// Firefox watching too, with stock dash.js: its page posts its stats.
	pages := lab.ServePlayers(t)
	watcher := lab.StartFirefox(t, lab.Players[0].Reporting(pages.URL, s.URL(""), name, "firefox"))

	b := lab.StartBrowser(t, chromium)
	viewer := b.Open(t, s.URL("/view?stream="+name))
	opus := packagerGoal(t, goalOpus)
	// Chromium's own count of the audio it decoded: the stream's audio plays.
	const audio = "(document.getElementById('video').webkitAudioDecodedByteCount || 0)"
	var st lab.ViewerStats
	var audioBytes int64
	var from float64
	played := false
	deadline := time.Now().Add(opus.Wait() + 20*time.Second) // and the time to start
	for time.Now().Before(deadline) {
		st = lab.ViewerStats{}
		lab.EvalJSON(t, viewer, "svViewer.stats()", &st)
		lab.EvalJSON(t, viewer, audio, &audioBytes)
		if len(st.Errors) > 0 {
			break
		}
		if st.Phase == "playing" && from == 0 {
			from = st.CurrentTime
		}
		if from > 0 && st.CurrentTime-from >= 5 && st.TCFrames > 0 && audioBytes > 0 {
			played = true
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if played {
		var samples []float64
		lab.EvalJSON(t, viewer, "svViewer.takeSamples()", &samples)
		t.Logf("Firefox's stream plays in Chromium with its audio (%d bytes decoded): glass-to-glass median %.0f ms over %d frames; %d stalls",
			audioBytes, median(samples), len(samples), st.Stalls)
	} else {
		opus.Errorf("Firefox's VP8+Opus does not play in Chromium's viewer with its audio: %.1f s played, %d audio bytes decoded, errors %s (phase %s, %d loads)",
			st.CurrentTime-from, audioBytes, lab.Distinct(st.Errors), st.Phase, st.Loads)
		if st.Failure != nil {
			t.Logf("the viewer shows the failure: %s", *st.Failure)
		}
	}

	var fst lab.PlayerStats
	var reported bool
	watch := packagerGoal(t, goalFirefoxWatch)
	deadline = time.Now().Add(watch.Wait())
	for !(reported && (fst.Played >= 5 || fst.ErrorCount > 0)) && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		fst, reported = pages.Report("firefox")
	}
	if !reported || fst.Played < 5 && fst.ErrorCount == 0 {
		watch.Errorf("Firefox did not play the stream with dash.js within %s: reported %v: %s", watch.Wait(), reported, fst)
	}
	lat := slices.Sorted(slices.Values(fst.Latencies))
	rtt := math.NaN()
	if fst.RTT != nil {
		rtt = *fst.RTT
	}
	st = lab.ViewerStats{}
	lab.EvalJSON(t, viewer, "svViewer.stats()", &st)
	t.Logf("Firefox watching with dash.js: glass-to-glass p50 %.0f ms over %d frames (clock offset %.0f ms, rtt %.0f ms; capture to sv's analysis %.0f ms); %s",
		lab.Quantile(lat, 0.5), len(lat), fst.Offset, rtt, st.Analysis.Latency, fst)
	if fst.ErrorCount > 0 {
		t.Errorf("Firefox cannot play the stream with dash.js: %s", lab.Distinct(fst.Errors))
	}
	watcher.Stop()

	// Firefox goes away as a closed laptop does: the session ends, the recording stays.
	fox.Stop()
	lab.WaitFor(t, hang, "the session to end", func() (bool, string) {
		for _, line := range s.SessionLines() {
			if strings.Contains(line, "stream="+name+" ") {
				return true, line
			}
		}
		return false, "no session end in sv all's log"
	})
	recs, _ := filepath.Glob(filepath.Join(s.Out, "recordings", name, "*.webm"))
	var rec string
	for _, r := range recs {
		if !strings.Contains(r, ".seekable.") {
			rec = r
		}
	}
	if rec == "" {
		t.Fatalf("no recording of Firefox's stream: %q", recs)
	}
	codecs, fps := probeRecording(t, rec)
	fi, _ := os.Stat(rec)
	t.Logf("recording %s: %d bytes, %s, %.1f frames a second", filepath.Base(rec), fi.Size(), codecs, fps)
	if codecs != "vp8,opus" {
		t.Errorf("the recording holds %s, want Firefox's vp8,opus", codecs)
	}
	if fps < 1 {
		t.Errorf("the recording has no video frames to speak of: %.1f a second", fps)
	}
	if _, err := os.Stat(strings.TrimSuffix(rec, ".webm") + ".seekable.mkv"); err != nil {
		t.Errorf("no seekable copy of the recording: %v", err)
	}
	s.Interrupt(t)
	if t.Failed() {
		b.LogConsole(t)
		t.Logf("firefox (publisher) stderr:\n%s", fox.Log.String())
		t.Logf("firefox (watcher) stderr:\n%s", watcher.Log.String())
	}
}

// probeRecording returns a recording's codecs ("vp8,opus") and its video's frame rate, from
// its packets' timestamps (a live recording has no duration to divide by).
func probeRecording(t testing.TB, path string) (codecs string, fps float64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	codecs = strings.Join(strings.Fields(string(out)), ",")
	out, err = exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var first, last float64
	n := 0
	for _, line := range strings.Fields(string(out)) {
		var ts float64
		if _, err := fmt.Sscan(strings.TrimSuffix(line, ","), &ts); err != nil {
			continue
		}
		if n == 0 {
			first = ts
		}
		last = ts
		n++
	}
	if n > 1 && last > first {
		fps = float64(n-1) / (last - first)
	}
	return codecs, fps
}

// median of unsorted values.
func median(v []float64) float64 {
	return lab.Quantile(slices.Sorted(slices.Values(v)), 0.5)
}
