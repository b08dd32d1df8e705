package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/svtool/sv/internal/lab"
	"github.com/svtool/sv/internal/testenv"
)

// TestPlayers: sv all's stream played by stock players, each on a plain page of its own
// (testdata/players) served from another origin, with its documented low-latency settings
// and nothing of sv's: dash.js with its defaults, Shaka Player with
// streaming.lowLatencyMode, hls.js in its LL-HLS mode. The capture page publishes the test
// clock from headless Chromium and the three players watch it side by side in the same
// browser. Each must play 10 s without an error, with its audio and with the
// glass-to-glass latency of its frames decoded from their timecodes (logged, with the
// stalls: how low and how smooth is BenchmarkGlassToGlass's to measure).
//
// Then, in turn: the publisher reconnects, the packager's FFmpeg is killed, the publisher
// stops. Stock players have no sv code to reload them, so they play on across the first
// two, and fire ended after the third, only when sv's packager makes one presentation of
// it all: packager goals (goals_test.go), logged until they are met.
func TestPlayers(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for 30 s; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe")
	chromium := testenv.RequireChromium(t)
	const name = "stock"

	s := lab.StartAll(t, lab.Bin(t, lab.SV))
	pages := lab.ServePlayers(t).URL
	b := lab.StartBrowser(t, chromium)
	capture := b.Open(t, s.URL("/capture?stream="+name+"&source=clock&autostart=1&resolution=640x480&fps=30"))
	lab.WaitFor(t, hang, "the capture page to go live", func() (bool, string) {
		var st lab.CaptureState
		lab.EvalJSON(t, capture, "svCapture.state()", &st)
		return st.Phase == "live", fmt.Sprintf("%+v", st)
	})
	lab.WaitPlayable(t, s.URL(""), name, hang)
	tabs := openPlayers(t, b, pages, s.URL(""), name)
	defer func() {
		if t.Failed() {
			b.LogConsole(t)
		}
	}()

	// Playing: 10 s each, with no error, and no stall once started (the first 2 s played:
	// a player may wait once while it settles its buffer).
	const play, startup = 10.0, 2.0
	started := make([]*lab.PlayerStats, len(tabs))
	met, last := waitPlayers(t, tabs, hang, func(i int, st lab.PlayerStats) bool {
		if started[i] == nil && st.Played >= startup {
			started[i] = &st
		}
		return st.Played >= play && st.TCFrames > 0 || len(st.Errors) > 0
	})
	for i, tab := range tabs {
		st := last[i]
		lat := slices.Sorted(slices.Values(st.Latencies))
		t.Logf("%s: glass-to-glass p50 %.0f ms, p95 %.0f ms, max %.0f ms over %d frames; %s",
			tab.p.Name, lab.Quantile(lat, 0.5), lab.Quantile(lat, 0.95), lab.Quantile(lat, 1), len(lat), st)
		switch {
		case len(st.Errors) > 0:
			t.Errorf("%s: errors: %s", tab.p.Name, lab.Distinct(st.Errors))
		case !met[i]:
			t.Errorf("%s: played %.1f s in %s, want %.0f s: %s", tab.p.Name, st.Played, hang, play, st)
		}
		// Stalls are counted, not failed on: three players and a publisher in one
		// browser beside FFmpeg overload two shared cores now and then, and a stall is
		// then the machine's. BenchmarkGlassToGlass counts them one player at a time.
		if started[i] != nil && st.Stalls > started[i].Stalls {
			t.Logf("%s: %d stalls (%.0f ms) once started; %d while starting", tab.p.Name,
				st.Stalls-started[i].Stalls, st.StallMs-started[i].StallMs, started[i].Stalls)
		}
		if len(st.Latencies) == 0 {
			t.Errorf("%s: no frame with a readable timecode", tab.p.Name)
		}
		if st.Audio != nil && !*st.Audio {
			t.Errorf("%s: no audio decoded (the test clock beeps)", tab.p.Name)
		}
		if len(st.Warnings) > 0 {
			t.Logf("%s: errors it recovered from: %s", tab.p.Name, lab.Distinct(st.Warnings))
		}
		if tab.p.Name == "hlsjs" && st.Parts == 0 {
			packagerGoal(t, goalLLHLS).Errorf("hls.js found no LL-HLS part in the playlists: it plays whole segments")
		}
	}
	if t.Failed() {
		return // the rest needs players that play
	}

	// The publisher's socket drops and the page reconnects by itself: a new session.
	var cs lab.CaptureState
	lab.EvalJSON(t, capture, "svCapture.state()", &cs)
	sessions := cs.Sessions
	var dropped bool
	lab.EvalJSON(t, capture, "svCapture.dropSocket()", &dropped)
	if !dropped {
		t.Fatalf("svCapture.dropSocket() found no open socket: %+v", cs)
	}
	lab.WaitFor(t, hang, "the capture page to reconnect", func() (bool, string) {
		lab.EvalJSON(t, capture, "svCapture.state()", &cs)
		return cs.Sessions == sessions+1 && cs.Phase == "live", fmt.Sprintf("%+v", cs)
	})
	playOn(t, tabs, packagerGoal(t, goalReconnect), "the publisher's reconnect")

	// The packager's FFmpeg is killed; sv all starts it again.
	if pid := packagerFFmpeg(t, s); pid == 0 {
		t.Logf("no packager FFmpeg among sv all's children %v: nothing to kill", s.FFmpegChildren(t))
	} else {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		playOn(t, tabs, packagerGoal(t, goalRestart), "a kill of the packager's FFmpeg")
	}

	// The publisher stops: the presentation ends, and so must the players.
	lab.EvalJSON(t, capture, "(svCapture.stop(), true)", new(bool))
	waitStopped(t, capture)
	last, after := waitEnded(t, tabs, time.Now())
	for i, st := range last {
		tab := tabs[i]
		if !st.Ended {
			goal := endedGoal(t, tab.p.Name)
			goal.Errorf("%s: no ended event within %s of the publisher's stop: %s", tab.p.Name, goal.Wait(), st)
			tab.logDebug(t)
			logManifests(t, filepath.Join(s.Out, "live", name))
		} else {
			t.Logf("%s: ended (seen %.1f s after the publisher's stop, polled every 0.5 s): %s", tab.p.Name, after[i].Seconds(), st)
		}
	}
	s.Interrupt(t)
}

// waitEnded waits until each player has fired ended, or its ended goal's wait has passed
// since the publisher stopped, and returns their last stats, with how long after stopped
// each was first seen ended (0: not).
func waitEnded(t testing.TB, tabs []*playerTab, stopped time.Time) ([]lab.PlayerStats, []time.Duration) {
	t.Helper()
	after := make([]time.Duration, len(tabs))
	_, last := waitPlayers(t, tabs, hang, func(i int, st lab.PlayerStats) bool {
		if st.Ended && after[i] == 0 {
			after[i] = time.Since(stopped)
		}
		return st.Ended || time.Since(stopped) > endedGoal(t, tabs[i].p.Name).Wait()
	})
	return last, after
}

// playerTab is a stock player's page in a tab.
type playerTab struct {
	p    lab.Player
	url  string
	page context.Context
}

// openPlayer opens a player's page at url in a new tab of b.
func openPlayer(t testing.TB, b *lab.Browser, p lab.Player, url string) *playerTab {
	t.Helper()
	return &playerTab{p: p, url: url, page: b.Open(t, url)}
}

// openPlayers opens every stock player's page, served at pages, on stream name of the
// server at server, each in a new tab of b.
func openPlayers(t testing.TB, b *lab.Browser, pages, server, name string) []*playerTab {
	t.Helper()
	var tabs []*playerTab
	for _, p := range lab.Players {
		tabs = append(tabs, openPlayer(t, b, p, p.URL(pages, server, name)))
	}
	return tabs
}

func (tab *playerTab) stats(t testing.TB) lab.PlayerStats {
	t.Helper()
	var st lab.PlayerStats
	lab.EvalJSON(t, tab.page, "stats()", &st)
	return st
}

// waitPlayers polls every tab until cond holds for each (once it has held, it is not
// asked again), or for at most d; it returns for which it held, and each one's stats when
// it did (or at the end).
func waitPlayers(t testing.TB, tabs []*playerTab, d time.Duration, cond func(i int, st lab.PlayerStats) bool) (met []bool, last []lab.PlayerStats) {
	t.Helper()
	met, last = make([]bool, len(tabs)), make([]lab.PlayerStats, len(tabs))
	deadline := time.Now().Add(d)
	for {
		all := true
		for i, tab := range tabs {
			if met[i] {
				continue
			}
			last[i] = tab.stats(t)
			met[i] = cond(i, last[i])
			all = all && met[i]
		}
		if all || time.Now().After(deadline) {
			return met, last
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// playOn checks that every player plays on across what has just happened, without a
// reload of its page: it shows frames captured from now on and plays 3 s more, with no
// new error. A player that does not is given a fresh page, so that what comes next is
// tested on a player that plays.
func playOn(t *testing.T, tabs []*playerTab, g goalCheck, what string) {
	t.Helper()
	from := make([]lab.PlayerStats, len(tabs))
	for i, tab := range tabs {
		from[i] = tab.stats(t)
	}
	since := float64(time.Now().UnixMilli()) // the server's clock: the same machine's
	met, last := waitPlayers(t, tabs, g.Wait(), func(i int, st lab.PlayerStats) bool {
		if st.ErrorCount > from[i].ErrorCount {
			return true // failed: no use waiting
		}
		return st.LastCapture != nil && *st.LastCapture > since && st.Played-from[i].Played >= 3
	})
	for i, tab := range tabs {
		st := last[i]
		if met[i] && st.ErrorCount == from[i].ErrorCount {
			t.Logf("%s: plays on after %s: %s", tab.p.Name, what, st)
			continue
		}
		g.Errorf("%s: does not play on after %s: %.1f s played since, the latest frame shown captured %s, new errors %s; %s",
			tab.p.Name, what, st.Played-from[i].Played, captureAge(st, since), lab.Distinct(st.ErrorsSince(from[i])), st)
		tab.logDebug(t)
		tab.reload(t)
	}
}

// captureAge says when the latest frame shown was captured, relative to since (ms).
func captureAge(st lab.PlayerStats, since float64) string {
	if st.LastCapture == nil {
		return "never"
	}
	return fmt.Sprintf("%+.1f s from then", (*st.LastCapture-since)/1000)
}

// logDebug logs the last lines of the player's debug log, for the players whose page
// keeps it (hls.js).
func (tab *playerTab) logDebug(t testing.TB) {
	t.Helper()
	var lines []string
	lab.EvalJSON(t, tab.page, "window.playerLog ? window.playerLog() : []", &lines)
	if len(lines) > 400 {
		lines = lines[len(lines)-400:]
	}
	if len(lines) > 0 {
		t.Logf("%s: the last %d lines of its debug log:\n%s", tab.p.Name, len(lines), strings.Join(lines, "\n"))
	}
}

// reload gives the tab a fresh page and waits for it to play.
func (tab *playerTab) reload(t testing.TB) {
	t.Helper()
	if err := chromedp.Do(tab.page, chromedp.Navigate(tab.url)); err != nil {
		t.Fatalf("reload %s: %v", tab.url, err)
	}
	lab.WaitFor(t, hang, tab.p.Name+" to play again on a fresh page", func() (bool, string) {
		st := tab.stats(t)
		return st.Played >= 1 && st.TCFrames > 0, st.String()
	})
}

// packagerFFmpeg is the pid of the FFmpeg child of sv all that packages the stream: the
// one that writes its manifests (FFmpeg's dash muxer), or else one that is neither the
// analysis (rawvideo out) nor a seekable copy (a packager of sv's own with FFmpeg only
// to transcode); 0 if there is none.
func packagerFFmpeg(t testing.TB, s *lab.All) int {
	t.Helper()
	other := 0
	for _, pid := range s.FFmpegChildren(t) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		switch {
		case strings.Contains(string(cmdline), "manifest.mpd"):
			return pid
		case other == 0 && !strings.Contains(string(cmdline), "rawvideo") && !strings.Contains(string(cmdline), ".seekable."):
			other = pid
		}
	}
	return other
}

// logManifests logs the manifests in a stream's folder and the media files beside them:
// what a player that did not end was told.
func logManifests(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Log(err)
		return
	}
	var media []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasSuffix(n, ".mpd") || strings.HasSuffix(n, ".m3u8") {
			b, _ := os.ReadFile(filepath.Join(dir, n))
			t.Logf("%s:\n%s", n, b)
		} else {
			media = append(media, n)
		}
	}
	t.Logf("files: %s", strings.Join(media, " "))
}

// TestPlayersEnd: stock players opened before the publisher starts play its stream from
// the start, and a recording published by sv send, one presentation with no reconnect
// and no restart, ends with the publisher's normal close, and the stock players watching
// it fire ended (packager goals "ended", "dash-ended" and "shaka-ended": Shaka ends only
// with the final, static MPD). The players ask for the manifest 2 s before it exists: sv holds their
// requests (serve's Hold), where a 404 is the end of the stream to them, or a few
// retries and the end.
func TestPlayersEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for 17 s; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe")
	chromium := testenv.RequireChromium(t)
	const name = "end"
	sv := lab.Bin(t, lab.SV)
	s := lab.StartAll(t, sv)
	pages := lab.ServePlayers(t).URL
	b := lab.StartBrowser(t, chromium)
	tabs := openPlayers(t, b, pages, s.URL(""), name)
	lab.WaitFor(t, hang, "the players' pages to load", func() (bool, string) {
		for _, tab := range tabs {
			var loaded bool
			lab.EvalJSON(t, tab.page, "typeof stats === 'function'", &loaded)
			if !loaded {
				return false, tab.p.Name + " has no stats() yet"
			}
		}
		return true, ""
	})
	time.Sleep(2 * time.Second) // the audience waits for the publisher
	send := exec.Command(sv, "send", filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm"), "ws://"+s.Addr+"/ingest/"+name)
	sent := make(chan error, 1)
	var out strings.Builder
	send.Stdout, send.Stderr = &out, &out
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { sent <- send.Wait() }()
	if err := <-sent; err != nil {
		t.Fatalf("sv send: %v: %s", err, out.String())
	}
	last, after := waitEnded(t, tabs, time.Now())
	for i, st := range last {
		tab := tabs[i]
		switch goal := endedGoal(t, tab.p.Name); {
		case st.Played < 2:
			t.Errorf("%s: played only %.1f s of the 15 s sent: %s", tab.p.Name, st.Played, st)
		case !st.Ended:
			goal.Errorf("%s: no ended event within %s of the publisher's stop: %s", tab.p.Name, goal.Wait(), st)
		default:
			t.Logf("%s: ended (seen %.1f s after the publisher's stop, polled every 0.5 s): %s", tab.p.Name, after[i].Seconds(), st)
		}
	}
	if t.Failed() {
		logManifests(t, filepath.Join(s.Out, "live", name))
		b.LogConsole(t)
		for _, tab := range tabs {
			tab.logDebug(t)
		}
	}
	s.Interrupt(t)
}

// TestPlayersReconnectGap: a publisher whose connection drops (sv send killed) and who
// comes back 4 s later, within sv all's --reconnect, continues the presentation in a new
// period after a gap with no media. Every stock player plays on across the gap without a
// reload (packager goal "reconnect"). dash.js with a Latency@max in the MPD sought to its
// live point in the gap, clamped the seek to the end of its buffer and waited there for
// good; with the old period's segments counted by @duration it asked for segments that
// never came.
func TestPlayersReconnectGap(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for 25 s; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe")
	chromium := testenv.RequireChromium(t)
	const name = "gap"
	const gap = 4 * time.Second
	sv := lab.Bin(t, lab.SV)
	s := lab.StartAll(t, sv)
	pages := lab.ServePlayers(t).URL
	send := func() *exec.Cmd {
		c := exec.Command(sv, "send", "-q", filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm"), "ws://"+s.Addr+"/ingest/"+name)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	first := send()
	lab.WaitPlayable(t, s.URL(""), name, hang)
	b := lab.StartBrowser(t, chromium)
	tabs := openPlayers(t, b, pages, s.URL(""), name)
	defer func() {
		if t.Failed() {
			b.LogConsole(t)
		}
	}()
	met, last := waitPlayers(t, tabs, hang, func(_ int, st lab.PlayerStats) bool { return st.Played >= 2 || st.ErrorCount > 0 })
	for i, tab := range tabs {
		if !met[i] || last[i].ErrorCount > 0 {
			t.Fatalf("%s does not play: %s", tab.p.Name, last[i])
		}
	}
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	from := make([]lab.PlayerStats, len(tabs))
	for i, tab := range tabs {
		from[i] = tab.stats(t)
	}
	time.Sleep(gap)
	send()
	// 4 s played past the drop: at most a second of the old period was buffered.
	g := packagerGoal(t, goalReconnect)
	met, last = waitPlayers(t, tabs, g.Wait(), func(i int, st lab.PlayerStats) bool {
		return st.ErrorCount > from[i].ErrorCount || st.Played-from[i].Played >= 4
	})
	for i, tab := range tabs {
		st := last[i]
		if met[i] && st.ErrorCount == from[i].ErrorCount {
			t.Logf("%s: plays on after a %s gap: %s", tab.p.Name, gap, st)
			continue
		}
		g.Errorf("%s: does not play on after a %s gap: %.1f s played since the drop, new errors %s; %s",
			tab.p.Name, gap, st.Played-from[i].Played, lab.Distinct(st.ErrorsSince(from[i])), st)
		tab.logDebug(t)
	}
	if t.Failed() {
		logManifests(t, filepath.Join(s.Out, "live", name))
	}
}
