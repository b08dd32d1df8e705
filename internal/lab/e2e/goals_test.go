package e2e

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// What stock players must get from sv's own packager, beyond playing at low latency, and
// FFmpeg's dash muxer does not give them. The browser tests check each already; until the
// packager that meets a goal is in, its check only logs what it saw (and waits a short
// while, not a hang's time, for what will not come).
//
// To turn a goal's checks into failures, add it to packagerGoals. To try goals without
// changing the code: SV_PACKAGER_GOALS=ended,restart (or all).
const (
	// goalEnded: hls.js fires ended once the publisher has stopped (#EXT-X-ENDLIST),
	// also after a reconnect and a restart. It needed two things of the packager: no hole
	// in the audio at a discontinuity (it places a new discontinuity's audio by the
	// video's timestamps, and its end-of-stream check, _streamEnded, allows no hole in the
	// buffer), and no part listed in the ended playlist past where every track has media
	// (the check wants the middle of the last part in the media element's buffered ranges).
	goalEnded = "ended"
	// goalDashEnded: dash.js fires ended too (the MPD's duration). It needed the duration
	// where the media ends, not at the last segment's nominal end, which the video's last
	// segment often runs past: dash.js seeks to the duration and pauses there once its
	// playhead has passed it, and the element, paused short of its media's end, never
	// ended (1 run in 3). @endNumber keeps dash.js from asking for a segment more.
	goalDashEnded = "dash-ended"
	// goalShakaEnded: Shaka Player fires ended too. Shaka 5 ends a stream only when its
	// MPD is static (StreamingEngine counts the time to the end as infinite while the MPD
	// is dynamic, duration or not), and takes a static MPD straight after a live one for
	// a live stream turned into an on-demand one whose timeline starts where its seek
	// range started (it shifts every period by that much). It needed three things: the
	// ended MPD (dynamic, with its duration) kept updating, and a final static MPD with the
	// live timeline finalAfter later, which Shaka, having read the ended one, takes as it
	// is; and an answer to the segment after the last, which Shaka asks for while live
	// (its low-latency template index counts one ahead) and again after the end (it ignores
	// @endNumber): a request held until it timed out, or a 404 once the MPD was static,
	// stopped it for good, so sv serve answers 204, no content, once the MPD says the
	// presentation is over, releasing a held request at once.
	goalShakaEnded = "shaka-ended"
	// goalReconnect: stock players play on across a publisher's reconnect, without a
	// reload of their page (one presentation across sessions).
	goalReconnect = "reconnect"
	// goalRestart: stock players play on across a kill of the packager's FFmpeg, without
	// a reload of their page.
	goalRestart = "restart"
	// goalOpus: a VP8+Opus stream (Firefox's) plays in Chromium's viewer with its audio.
	// Firefox's OpusHead says InputSampleRate 44100 (Chromium's 48000); FFmpeg 5.1 copies
	// that into the dOps box and writes 48000 in the Opus sample entry, and Chromium,
	// which wants the two equal, refused the audio (CHUNK_DEMUXER_ERROR_APPEND_FAILED).
	// sv's packager writes 48000 in dOps (media.FragmentReader), and Chromium has played
	// the audio since. On two cores that also run both browsers and the VP8 transcode,
	// the viewer often showed nothing while Firefox's video came seconds after its audio;
	// in low latency the packager no longer writes audio ahead of the video (holdAudio).
	goalOpus = "opus"
	// goalLLHLS: hls.js finds LL-HLS parts in the playlists (EXT-X-PART), not only whole
	// segments.
	goalLLHLS = "ll-hls"
	// goalFirefoxWatch: a second Firefox plays the Firefox-published stream with stock
	// dash.js. On two cores that also run the publishing Firefox, Chromium and the VP8
	// transcode, its dash.js once did not start within the test's time: the transcoded
	// video fell seconds behind the audio and the timeline.
	goalFirefoxWatch = "firefox-watch"
)

// packagerGoals are the goals met by the packager in this tree: their checks fail tests.
var packagerGoals = []string{goalLLHLS, goalReconnect, goalRestart, goalEnded, goalDashEnded, goalShakaEnded, goalOpus, goalFirefoxWatch}

// goalCheck is the check of one goal in one test: failures while the goal is on, log
// lines while it is off.
type goalCheck struct {
	t    testing.TB
	goal string
	on   bool
}

// packagerGoal returns the check of goal in t.
func packagerGoal(t testing.TB, goal string) goalCheck {
	on := slices.Contains(packagerGoals, goal)
	if env := os.Getenv("SV_PACKAGER_GOALS"); env == "all" || slices.Contains(strings.Split(env, ","), goal) {
		on = true
	}
	return goalCheck{t: t, goal: goal, on: on}
}

// Errorf fails the test if the goal is on, and only logs otherwise.
func (g goalCheck) Errorf(format string, args ...any) {
	g.t.Helper()
	if g.on {
		g.t.Errorf(format, args...)
		return
	}
	g.t.Logf("packager goal %q, not checked yet: "+format, append([]any{g.goal}, args...)...)
}

// Wait is how long to wait for what the goal promises: a hang's time when it is on, a
// short while when it is off.
func (g goalCheck) Wait() time.Duration {
	if g.on {
		return hang
	}
	return 10 * time.Second
}

// endedGoal returns the check of the goal that player fires ended.
func endedGoal(t testing.TB, player string) goalCheck {
	switch player {
	case "shaka":
		return packagerGoal(t, goalShakaEnded)
	case "dashjs":
		return packagerGoal(t, goalDashEnded)
	}
	return packagerGoal(t, goalEnded)
}
