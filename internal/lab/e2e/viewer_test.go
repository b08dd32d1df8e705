package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/svtool/sv/internal/lab"
	"github.com/svtool/sv/internal/testenv"
	"github.com/svtool/sv/stream"
)

// TestViewerPlayerFails: a live stream that the player cannot play (its manifest breaks off
// in the middle). The viewer says so on the page
// instead of "starting…" for ever, with its latency figure gone, and loads the player
// again after a growing backoff while the stream stays live. Once a publisher streams
// under that name, the next load plays, without anyone touching the page.
func TestViewerPlayerFails(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the viewer's retries; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe")
	chromium := testenv.RequireChromium(t)
	const name = "broken"

	s := lab.StartAll(t, lab.Bin(t, lab.SV))
	dir := filepath.Join(s.Out, "live", name)
	writeBrokenStream(t, dir)
	b := lab.StartBrowser(t, chromium)
	viewer := b.Open(t, s.URL("/view?stream="+name))

	// Failed, shown, and tried again twice, each time after a longer wait.
	var st lab.ViewerStats
	var overlay string
	var loads []time.Time
	lab.WaitFor(t, hang, "the viewer to fail three times", func() (bool, string) {
		st = lab.ViewerStats{} // null leaves a field as it was
		lab.EvalJSON(t, viewer, "svViewer.stats()", &st)
		lab.EvalJSON(t, viewer, "document.getElementById('overlay').hidden ? '' : document.getElementById('overlay').textContent", &overlay)
		for len(loads) < st.Loads {
			loads = append(loads, time.Now())
		}
		return st.Failures >= 3 && st.Phase == "failed", fmt.Sprintf("overlay %q; %+v", overlay, st)
	})
	t.Logf("the viewer shows %q; %d loads; errors %q", overlay, st.Loads, st.Errors)
	if st.Failure == nil || !strings.Contains(overlay, "cannot play: "+*st.Failure) {
		t.Errorf("the page does not show the player's failure: overlay %q, failure %v", overlay, st.Failure)
	}
	if st.Latency != 0 { // NaN, null in JSON: no player, no figure
		t.Errorf("a failed player still shows a latency: %.0f ms", st.Latency)
	}
	for i := 1; i < len(loads); i++ {
		t.Logf("load %d, %.1f s after the one before", i+1, loads[i].Sub(loads[i-1]).Seconds())
	}

	// A publisher under that name: a new session, which the viewer loads at once.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	capture := b.Open(t, s.URL("/capture?stream="+name+"&source=clock&autostart=1&resolution=640x480&fps=30"))
	st = waitPlaying(t, viewer)
	if st.Failure != nil {
		t.Errorf("the viewer plays yet shows a failure: %q", *st.Failure)
	}
	lab.EvalJSON(t, capture, "(svCapture.stop(), true)", new(bool))
	waitStopped(t, capture)
	s.Interrupt(t)
	if t.Failed() {
		b.LogConsole(t)
	}
}

// writeBrokenStream writes a live stream's folder that no player can play: a manifest that
// says it is a live MPD, as a packager writes one, and breaks off in the middle.
func writeBrokenStream(t testing.TB, dir string) {
	t.Helper()
	start := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	mpd := `<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="dynamic"
     availabilityStartTime="` + start + `" publishTime="` + start + `" minimumUpdatePeriod="PT1S"
  <Period id="0" start="PT0S
`
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, stream.Manifest), []byte(mpd), 0o644); err != nil {
		t.Fatal(err)
	}
}
