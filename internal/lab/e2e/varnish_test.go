package e2e

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/svtool/sv/internal/lab"
	"github.com/svtool/sv/internal/testenv"
)

// TestBehindVarnish: the repository's VCL (deploy/varnish/sv.vcl), as users run it, in
// Debian's Varnish in front of sv all. The capture page publishes through it (the
// WebSocket piped), and stock dash.js and hls.js, one of each in each of two browsers
// (dash.js in two browsers, as a browser's own cache would serve its second tab; hls.js in
// one), play through it: each must play 10 s without an error, with its glass-to-glass
// latency logged. Meanwhile
// Varnish's own log counts, for every segment, part and init segment the players asked
// for, the requests it made to sv: one each (a second one would be a copy the cache did
// not share, or a fetch it did not coalesce), while the two dash.js asked for each DASH
// segment about twice. sv's /metrics must agree: about one request per segment and part.
func TestBehindVarnish(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for 20 s; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe", "varnishd", "varnishncsa")
	chromium := testenv.RequireChromium(t)
	const name = "edge"
	s := lab.StartAll(t, lab.Bin(t, lab.SV))
	v := lab.StartVarnish(t, s.Addr)
	edge := "http://" + v.Addr
	requests := v.Record(t, "-b", "-c")

	b := lab.StartBrowser(t, chromium)
	capture := b.Open(t, edge+"/capture?stream="+name+"&source=clock&autostart=1&resolution=640x480&fps=30")
	lab.WaitFor(t, hang, "the capture page to go live through Varnish", func() (bool, string) {
		var st lab.CaptureState
		lab.EvalJSON(t, capture, "svCapture.state()", &st)
		return st.Phase == "live", fmt.Sprintf("%+v", st)
	})
	lab.WaitPlayable(t, edge, name, hang)
	pages := lab.ServePlayers(t).URL
	var tabs []*playerTab
	browsers := []*lab.Browser{b, lab.StartBrowser(t, chromium)}
	for i, b := range browsers {
		for _, p := range lab.Players {
			// dash.js in both (the segments they share), hls.js in the first only: four
			// players and the capture page on two cores stall each other.
			if p.Name == "dashjs" || p.Name == "hlsjs" && i == 0 {
				tabs = append(tabs, openPlayer(t, b, p, p.URL(pages, edge, name)))
			}
		}
	}
	defer func() {
		if t.Failed() {
			for _, b := range browsers {
				b.LogConsole(t)
			}
		}
	}()
	met, last := waitPlayers(t, tabs, hang, func(_ int, st lab.PlayerStats) bool {
		return st.Played >= 10 && st.TCFrames > 0 || len(st.Errors) > 0
	})
	// The publisher stops: its pipe is logged once it is closed.
	lab.EvalJSON(t, capture, "(svCapture.stop(), true)", new(bool))
	waitStopped(t, capture)
	origin := segmentRequests(t, s, name)
	reqs := requests.Stop(t)
	for i, tab := range tabs {
		st := last[i]
		lat := slices.Sorted(slices.Values(st.Latencies))
		t.Logf("%s through Varnish: glass-to-glass p50 %.0f ms, p95 %.0f ms over %d frames; %s",
			tab.p.Name, lab.Quantile(lat, 0.5), lab.Quantile(lat, 0.95), len(lat), st)
		switch {
		case len(st.Errors) > 0:
			t.Errorf("%s: errors: %s", tab.p.Name, lab.Distinct(st.Errors))
		case !met[i] || len(lat) == 0:
			t.Errorf("%s: played %.1f s in %s, %d frames with a timecode; want 10 s: %s", tab.p.Name, st.Played, hang, len(lat), st)
		}
	}

	// What the players asked the edge for, and what the edge asked sv.
	media := regexp.MustCompile(`^/live/` + name + `/[^?]+\.m4s$`)
	dashSegment := regexp.MustCompile(`/chunk-stream[0-9]+-`)
	asked, fetched := map[string]int{}, map[string]int{}
	var piped bool
	for _, r := range reqs {
		switch {
		case !r.Backend && r.Handling == "pipe" && strings.HasPrefix(r.URL, "/ingest/"+name):
			piped = true
		case !media.MatchString(r.URL):
		case r.Backend && r.Status == 200:
			fetched[r.URL]++
		case !r.Backend:
			asked[r.URL]++
		}
	}
	if !piped {
		t.Errorf("the publisher's WebSocket was not piped through Varnish")
	}
	var clients, twice, segs, segAsks int
	for u, n := range asked {
		clients += n
		if dashSegment.MatchString(u) {
			segs, segAsks = segs+1, segAsks+n
		}
		if fetched[u] > 1 {
			twice++
			t.Errorf("%s: fetched from sv %d times, asked for %d times", u, fetched[u], n)
		}
	}
	t.Logf("segments, parts and init segments: %d asked for %d times by the players, %d fetched from sv (sv counted %d segment requests)",
		len(asked), clients, len(fetched), origin)
	if segs < 10 || float64(segAsks) < 1.5*float64(segs) {
		t.Errorf("%d requests for %d DASH segments: the two dash.js did not share them", segAsks, segs)
	}
	// sv's count: the same requests, and any asked for before the log started (none) or
	// after it stopped (a moment's worth).
	if float64(origin) > 1.1*float64(len(asked))+10 {
		t.Errorf("sv served %d segment requests for %d segments and parts the players asked the edge for", origin, len(asked))
	}
	s.Interrupt(t)
}

// segmentRequests reads sv all's /metrics: the requests for the segments and parts of
// stream name that it served.
func segmentRequests(t *testing.T, s *lab.All, name string) int {
	t.Helper()
	m := fetch(t, s.URL("/metrics"), 200)
	for line := range strings.Lines(m) {
		if rest, ok := strings.CutPrefix(line, `sv_segment_requests_total{stream="`+name+`"} `); ok {
			var n int
			fmt.Sscan(rest, &n)
			return n
		}
	}
	t.Errorf("no sv_segment_requests_total for %s in /metrics", name)
	return 0
}
