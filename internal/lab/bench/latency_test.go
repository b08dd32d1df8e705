package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/svtool/sv/internal/lab"
	"github.com/svtool/sv/internal/testenv"
)

// BenchmarkGlassToGlass is the latency lab: for each configuration, a fresh server and a
// fresh headless Chromium. The viewer page is opened first and waits for the stream; then
// the capture page starts publishing the test clock (source=clock, 640x480 at 30 fps),
// and the viewer decodes the capture time from every frame it shows. Both pages read the
// server's clock, so the glass-to-glass latency of each frame is measured on one clock,
// and so is the time to first frame: from the capture page's start (before it asks for
// the camera) to the viewer's first frame on screen.
//
// The configurations are sv all at --latency low and normal, with the publisher's H.264
// copied (--video copy) or transcoded (--video h264), and "classic": the pipeline sv grew
// from, 1 s recorder chunks into `ffmpeg -i - -f dash -seg_duration 2` with its default
// encoder settings, served as files and played by dash.js with its default settings.
// sv all's low-latency configurations are also played by each stock player (lab.Players:
// dash.js with its defaults, Shaka Player with lowLatencyMode, hls.js in LL-HLS mode) on a
// plain page of another origin, as low-copy-dashjs, low-transcode-shaka and so on: what
// anyone gets from sv with the player they already use. A stock page joins the stream
// once it can be played (lab.WaitPlayable), as most viewers join a stream that is on; its
// time to first frame counts from the capture page's start all the same, and includes
// loading the page. The -waiting configurations (low copy only) open the stock page
// first, as sv's viewer is: its player asks for the manifest at once, sv holds the
// request until the stream can be played (serve's Options.Hold), and the time to first
// frame is what a viewer waiting for the stream to start sees.
//
// Each is watched for SV_BENCH_LATENCY_RUN (default 60s) from the viewer's first frame;
// stalls are counted over that window. Use -benchtime 1x; -count N repeats the lab:
//
//	go test -run '^$' -bench GlassToGlass -benchtime 1x -count 3 ./bench
//
// With SV_BENCH_DIR set, each run writes SV_BENCH_DIR/latency-CONFIG-N.json (N counts the
// runs from 1), the latency of every frame over time, from which BENCHMARKS.md draws its
// plot. SV_BENCH_VIEW_PARAMS is
// added to the viewer's URL for sv's configurations (see web/view.js: delay), and
// SV_BENCH_CAPTURE_PARAMS to the capture page's (e.g. "&timeslice=50").
func BenchmarkGlassToGlass(b *testing.B) {
	testenv.Require(b, "ffmpeg", "ffprobe")
	chromium := testenv.RequireChromium(b)
	run := benchDuration(b, "SV_BENCH_LATENCY_RUN", 60*time.Second)
	for _, c := range latencyConfigs {
		b.Run(c.name, func(b *testing.B) {
			var r latencyRun
			for range b.N {
				r = measureLatency(b, chromium, c, run)
			}
			b.ReportMetric(r.quantile(0.5), "median-ms")
			b.ReportMetric(r.quantile(0.95), "p95-ms")
			b.ReportMetric(r.quantile(1), "max-ms")
			b.ReportMetric(float64(r.Stalls), "stalls")
			b.ReportMetric(r.StallMs, "stall-ms")
			b.ReportMetric(r.TTFF, "ttff-ms")
			b.ReportMetric(float64(len(r.Samples)), "frames")
			if dir := os.Getenv("SV_BENCH_DIR"); dir != "" {
				latencyRuns[c.name]++
				writeJSON(b, filepath.Join(dir, fmt.Sprintf("latency-%s-%d.json", c.name, latencyRuns[c.name])), r)
			}
		})
	}
}

// latencyRuns counts the runs of each configuration in this process (-count N).
var latencyRuns = map[string]int{}

type latencyConfig struct {
	name    string
	args    []string // sv all's flags
	classic bool
	player  *lab.Player // a stock player's page in place of sv's viewer
	waiting bool        // the stock page is opened before the publisher starts
}

var (
	lowCopy      = []string{"--latency", "low", "--video", "copy"}
	lowTranscode = []string{"--latency", "low", "--video", "h264"}
)

var latencyConfigs = append([]latencyConfig{
	{name: "low-copy", args: lowCopy},
	{name: "low-transcode", args: lowTranscode},
	{name: "normal-copy", args: []string{"--latency", "normal", "--video", "copy"}},
	{name: "normal-transcode", args: []string{"--latency", "normal", "--video", "h264"}},
	{name: "classic", classic: true},
}, stockConfigs()...)

// stockConfigs are sv all's low-latency configurations played by each stock player joining
// the stream, and low copy by each stock player waiting for it.
func stockConfigs() []latencyConfig {
	var cs []latencyConfig
	for _, sv := range []latencyConfig{{name: "low-copy", args: lowCopy}, {name: "low-transcode", args: lowTranscode}} {
		for i := range lab.Players {
			p := &lab.Players[i]
			cs = append(cs, latencyConfig{name: sv.name + "-" + p.Name, args: sv.args, player: p})
		}
	}
	for i := range lab.Players {
		p := &lab.Players[i]
		cs = append(cs, latencyConfig{name: "low-copy-" + p.Name + "-waiting", args: lowCopy, player: p, waiting: true})
	}
	return cs
}

// viewerPage is a page that plays the stream and measures it: sv's viewer or a stock
// player's page. Both report their progress under the same names (viewerProgress) and
// hand over their frames' latencies, with the time each was shown, the same way.
type viewerPage struct {
	page  context.Context
	stats string // a JavaScript expression: the page's viewerProgress
	take  string // one that drains [[ms shown, glass-to-glass ms], ...] on the server's clock
}

// viewerProgress is what the lab reads of lab.ViewerStats and lab.PlayerStats alike.
type viewerProgress struct {
	Phase        string   `json:"phase"` // sv's viewer only
	CurrentTime  float64  `json:"currentTime"`
	Stalls       int      `json:"stalls"`
	StallMs      float64  `json:"stallMs"`
	FirstFrameAt *float64 `json:"firstFrameAt"`
	TCFrames     int      `json:"tcFrames"`
	Latency      *float64 `json:"latency"` // the player's own figure, ms
	Errors       []string `json:"errors"`
}

func (v viewerPage) progress(b testing.TB) viewerProgress {
	b.Helper()
	var p viewerProgress
	lab.EvalJSON(b, v.page, v.stats, &p)
	return p
}

// latencyRun is one configuration's run, as written to latency-CONFIG.json.
type latencyRun struct {
	Config  string       `json:"config"`
	TTFF    float64      `json:"ttff_ms"`  // capture page's start → viewer's first frame
	Stalls  int          `json:"stalls"`   // the player waiting for data, after its first frame
	StallMs float64      `json:"stall_ms"` // time spent so
	Played  float64      `json:"played_s"` // media played in the window
	Window  float64      `json:"window_s"`
	Samples [][2]float64 `json:"samples"` // [s since the capture page's start, glass-to-glass ms]
}

func (r latencyRun) quantile(q float64) float64 {
	ms := make([]float64, len(r.Samples))
	for i, s := range r.Samples {
		ms[i] = s[1]
	}
	slices.Sort(ms)
	return lab.Quantile(ms, q)
}

func measureLatency(b *testing.B, chromium string, c latencyConfig, run time.Duration) latencyRun {
	b.Helper()
	const stream = "lab"
	var base, dir string
	view := "/view?stream=" + stream
	capture := "/capture?stream=" + stream + "&source=clock&autostart=1&resolution=640x480&fps=30" + os.Getenv("SV_BENCH_CAPTURE_PARAMS")
	switch {
	case c.classic:
		base, dir = startClassic(b, stream)
		view += "&defaults=1"
		capture += "&timeslice=1000"
	default:
		base = "http://" + lab.StartAll(b, lab.Bin(b, lab.SV), c.args...).Addr
		view += os.Getenv("SV_BENCH_VIEW_PARAMS") // e.g. "&delay=3" to try the player's settings
	}
	br := lab.StartBrowser(b, chromium)
	viewer := viewerPage{stats: "svViewer.stats()", take: "svViewer.takeTimed()"}
	var pub context.Context
	switch {
	case c.player != nil && c.waiting:
		// Like sv's viewer, the stock page is open before the publisher starts: its
		// player asks for the manifest at once, and sv holds the request until the
		// stream can be played.
		pages := lab.ServePlayers(b).URL
		viewer = viewerPage{page: br.Open(b, c.player.URL(pages, base, stream)), stats: "stats()", take: "takeTimed()"}
		lab.WaitFor(b, 20*time.Second, "the player's page to load", func() (bool, string) {
			var loaded bool
			lab.EvalJSON(b, viewer.page, "typeof stats === 'function'", &loaded)
			return loaded, "no stats() yet"
		})
		pub = br.Open(b, base+capture)
	case c.player != nil:
		pages := lab.ServePlayers(b).URL
		pub = br.Open(b, base+capture)
		lab.WaitPlayable(b, base, stream, 60*time.Second)
		viewer = viewerPage{page: br.Open(b, c.player.URL(pages, base, stream)), stats: "stats()", take: "takeTimed()"}
	case c.classic:
		// dash.js fails for good (TypeError, reading 'range') on a live MPD without a
		// segment, so its page is opened once the first video segment is written, as a
		// user of the classic pipeline reloads it until it plays.
		pub = br.Open(b, base+capture)
		lab.WaitFor(b, 60*time.Second, "the first video segment", func() (bool, string) {
			_, err := os.Stat(filepath.Join(dir, "chunk-stream0-00001.m4s"))
			return err == nil, fmt.Sprint(err)
		})
		viewer.page = br.Open(b, base+view)
	default:
		viewer.page = br.Open(b, base+view)
		lab.WaitFor(b, 20*time.Second, "the viewer to wait for the stream", func() (bool, string) {
			vs := viewer.progress(b)
			return vs.Phase == "waiting", fmt.Sprintf("%+v", vs)
		})
		pub = br.Open(b, base+capture)
	}

	// Up to the first frame: the classic pipeline takes a while (the encoder's default
	// GOP is 250 frames, and dash.js starts a few segments behind the live edge).
	var vs viewerProgress
	lab.WaitFor(b, 90*time.Second, "the viewer's first frame", func() (bool, string) {
		vs = viewer.progress(b)
		return vs.FirstFrameAt != nil && vs.TCFrames > 0, fmt.Sprintf("%+v", vs)
	})
	var cs lab.CaptureState
	lab.EvalJSON(b, pub, "svCapture.state()", &cs)
	if cs.StartedAt == nil {
		b.Fatalf("the capture page has no start time: %+v", cs)
	}
	r := latencyRun{Config: c.name, TTFF: *vs.FirstFrameAt - *cs.StartedAt}
	take := func() {
		var got [][2]float64
		lab.EvalJSON(b, viewer.page, viewer.take, &got)
		for _, s := range got {
			r.Samples = append(r.Samples, [2]float64{(s[0] - *cs.StartedAt) / 1000, s[1]})
		}
	}
	take()
	first := vs
	start := time.Now()
	for time.Since(start) < run {
		time.Sleep(time.Second)
		take()
	}
	vs = viewer.progress(b)
	r.Window = time.Since(start).Seconds()
	r.Played = vs.CurrentTime - first.CurrentTime
	r.Stalls = vs.Stalls - first.Stalls
	r.StallMs = vs.StallMs - first.StallMs
	own := math.NaN()
	if vs.Latency != nil {
		own = *vs.Latency
	}
	b.Logf("%s: time to first frame %.0f ms; glass-to-glass median %.0f ms, p95 %.0f ms, max %.0f ms over %d frames; %.1f s played in %.1f s, %d stalls (%.0f ms); the player's latency %.0f ms, errors %s",
		c.name, r.TTFF, r.quantile(0.5), r.quantile(0.95), r.quantile(1), len(r.Samples), r.Played, r.Window, r.Stalls, r.StallMs, own, lab.Distinct(vs.Errors))

	// A frame every 100 ms at least, and playback moving, or the figures mean nothing.
	if len(r.Samples) < int(r.Window)*10 {
		b.Errorf("%s: only %d frames with a timecode in %.0f s (30 fps sent)", c.name, len(r.Samples), r.Window)
	}
	if r.Played < 0.5*r.Window {
		b.Errorf("%s: %.1f s played in %.1f s", c.name, r.Played, r.Window)
	}
	lab.EvalJSON(b, pub, "(svCapture.stop(), true)", new(bool))
	if b.Failed() {
		br.LogConsole(b)
	}
	return r
}

// startClassic starts the pipeline sv grew from: a WebSocket receiver piping into
// `ffmpeg -i - -f dash -seg_duration 2` (default encoders: libx264 with a 250-frame GOP,
// no streaming of segments in progress), its files served by sv serve. It returns the
// server's base URL and the stream's folder.
func startClassic(b testing.TB, stream string) (base, dir string) {
	b.Helper()
	sv := lab.Bin(b, lab.SV)
	root := filepath.Join(b.TempDir(), "output")
	dir = filepath.Join(root, "live", stream)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	serveAddr, recvAddr := lab.FreeAddr(b), lab.FreeAddr(b)
	serve := exec.Command(sv, "serve", "--quiet", "--listen", serveAddr, "--root", root,
		"--ingest", "ws://"+recvAddr+"/ingest/{stream}")
	recv := exec.Command(sv, "recv", "--quiet", "--listen", recvAddr)
	ff := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-i", "-", "-f", "dash", "-seg_duration", "2",
		filepath.Join(dir, "manifest.mpd"))
	pr, pw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	recv.Stdout, ff.Stdin = pw, pr
	for _, cmd := range []*exec.Cmd{serve, recv, ff} {
		lab.Start(b, cmd)
	}
	pw.Close()
	pr.Close()
	lab.WaitListen(b, serveAddr)
	lab.WaitListen(b, recvAddr)
	return "http://" + serveAddr, dir
}

// benchDuration reads a duration from the environment, or gives def.
func benchDuration(b testing.TB, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return d
}

// writeJSON writes v to path, creating its folder.
func writeJSON(b testing.TB, path string, v any) {
	b.Helper()
	data, err := json.Marshal(v)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(path), 0o755)
	}
	if err == nil {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		b.Fatal(err)
	}
}
