package dash

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/svtool/sv/stream"
)

// Latency selects the kind of presentation.
type Latency int

const (
	// Low is LL-DASH and LL-HLS: 1 s segments written frame by frame, 200 ms parts, a
	// target latency and catch-up rates in the MPD, blocking playlist reloads.
	Low Latency = iota
	// Normal is classic live DASH and HLS: 2 s segments, each written whole, no parts.
	Normal
)

func (l Latency) String() string {
	if l == Normal {
		return "normal"
	}
	return "low"
}

// VideoMode says what happens to the video.
type VideoMode int

const (
	VideoAuto VideoMode = iota // copy H.264, transcode anything else to H.264
	VideoCopy                  // always copy (H.264, VP9 or AV1; VP8 cannot go into MP4)
	VideoH264                  // always transcode to H.264
)

func (m VideoMode) String() string {
	return [...]string{"auto", "copy", "h264"}[m]
}

// AudioMode says what happens to the audio.
type AudioMode int

const (
	AudioAuto AudioMode = iota // copy Opus and AAC, transcode anything else to AAC
	AudioCopy                  // always copy (Opus or AAC)
	AudioAAC                   // always transcode to AAC
	AudioNone                  // drop the audio
)

func (m AudioMode) String() string {
	return [...]string{"auto", "copy", "aac", "none"}[m]
}

// HLSAudioMode says what audio the HLS playlists carry; see Options.HLSAudio.
type HLSAudioMode int

const (
	HLSAudioAAC  HLSAudioMode = iota // an AAC rendition when the input's audio is Opus
	HLSAudioSame                     // the same track as DASH
)

func (m HLSAudioMode) String() string { return [...]string{"aac", "same"}[m] }

// ParseHLSAudio parses "aac" or "same".
func ParseHLSAudio(s string) (HLSAudioMode, error) {
	switch s {
	case "aac":
		return HLSAudioAAC, nil
	case "same":
		return HLSAudioSame, nil
	}
	return 0, fmt.Errorf("unknown HLS audio %q (want aac or same)", s)
}

// HLSAAC reports whether Opus input gets an AAC rendition for HLS.
func (o *Options) HLSAAC() bool { return o.HLSAudio == HLSAudioAAC }

// Defaults of Options.
const (
	DefaultOut     = "output/" + stream.LiveDir + "/cam"
	DefaultTimeURL = "http://127.0.0.1:8000/time" // sv serve's default address
	DefaultWindow  = 10
	DefaultPreset  = "veryfast"
	// DefaultTargetLatency is how far behind the MPD's timeline dash.js and Shaka play. The
	// timeline is already the publisher's recorder, encoder and transfer behind the camera
	// (about 0.2 s: the audio's, which comes later than the video), so this is the rest of
	// the glass-to-glass budget: at 0.3 s, sv's viewer played 0.56 s behind the camera
	// (0.74 s at 0.5 s) with no stall, a frame's bytes reaching the player a few ms after
	// sv receives them.
	DefaultTargetLatency = 300 * time.Millisecond
	DefaultPart          = 200 * time.Millisecond
	DefaultQueueLimit    = 8 << 20
)

// Options configures Run. The zero value is the default of every field, except Out.
type Options struct {
	// Out is the output directory; it is created if needed. It must be empty or hold only
	// files a previous Run wrote (see ErrNotOurs), unless Force is set.
	Out string
	// Force lets Run use an Out that holds other files. It still deletes only files whose
	// names Run writes (manifests, playlists, segments); the others stay.
	Force bool

	Latency Latency
	Video   VideoMode
	Audio   AudioMode
	// Ladder lists the heights of the H.264 renditions, highest first (720, 480, 240), all
	// in one adaptation set. Heights above the input's are skipped. Empty means one
	// rendition: the input's own size when transcoding.
	Ladder []int
	// Segment is the segment duration; 0 means 1 s for Low and 2 s for Normal.
	Segment time.Duration
	// Part is the LL-HLS part target (Low only): fragments are grouped into parts of at
	// most this long; 0 means DefaultPart.
	Part time.Duration
	// HLSAudio says what audio the HLS playlists carry when the input's is Opus, which
	// Apple's players do not reliably play in HLS: HLSAudioAAC (the default) adds an AAC
	// rendition for them (DASH keeps the Opus track); HLSAudioSame lists the Opus track.
	HLSAudio HLSAudioMode
	// Window is how many segments the live manifest lists (older ones are deleted from
	// disk 5 segments later); 0 means DefaultWindow.
	Window int
	// Record keeps every segment and lists it in the manifest, so that the output is a
	// complete on-demand presentation when the input ends. Window is then ignored.
	Record bool
	// TargetLatency is the latency dash.js aims at (Low only); 0 means DefaultTargetLatency.
	TargetLatency time.Duration
	// TimeURL is the clock the players sync to (UTCTiming): an HTTP endpoint returning the
	// time in ISO 8601 with milliseconds. "" means DefaultTimeURL.
	TimeURL string

	// FFmpeg is the FFmpeg binary, a path or a name on PATH; "" means "ffmpeg".
	FFmpeg string
	// Preset is the x264 preset when transcoding; "" means DefaultPreset.
	Preset string
	// QueueLimit bounds the bytes read ahead of FFmpeg; 0 means DefaultQueueLimit.
	QueueLimit int64

	// Log receives what Run decided (the input's codecs, copy or transcode) as info
	// records, problems worth telling the user about (an input with too few keyframes for
	// the segment duration, see KeyframeGapKey) as warnings, and FFmpeg's log as debug
	// records (see ffmpeg.Config.Log). Every record carries stage=dash. nil discards them.
	Log *slog.Logger
	// Progress is called about twice a second while FFmpeg runs.
	Progress func(Progress)

	// Presentation, if set, carries the presentation from one Run to the next (see
	// Presentation): this Run continues the last one's, and leaves it live when its input
	// ends, until Presentation.End. nil: a new presentation, ended when the input ends.
	Presentation *Presentation

	// Handoff, if set, is called with each input chunk's time from being read to being
	// written whole into FFmpeg's stdin: the delay Run adds (metrics, benchmarks). It
	// runs in the goroutine feeding FFmpeg and must be quick.
	Handoff func(time.Duration)
}

// Progress reports how far Run has come.
type Progress struct {
	InputBytes int64         // bytes read from the input
	Queued     int64         // of which not yet written to FFmpeg
	Frames     int64         // video frames output (first rendition)
	FPS        float64       // frames per second, recent
	Speed      float64       // media time per wall time; 1 is real time
	OutTime    time.Duration // media time output
	Segments   int           // number of the last completed media segment (first rendition)
}

// KeyframeGapKey is the attribute key, in the warning Run logs when a copied video has
// keyframes much further apart than the segment duration, of the interval found (a
// time.Duration): most segments then cannot start with a keyframe.
const KeyframeGapKey = "keyframe_gap"

func (o *Options) logger() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log.With("stage", "dash")
}

func (o *Options) segment() time.Duration {
	switch {
	case o.Segment > 0:
		return o.Segment
	case o.Latency == Normal:
		return 2 * time.Second
	}
	return time.Second
}

// presentation is the model of a new presentation named id with the tracks of outs.
func (o *Options) presentation(outs []output, id string) presentation {
	p := presentation{id: id, seg: o.segment(), part: o.part(), timeURL: o.TimeURL, window: o.Window}
	if p.timeURL == "" {
		p.timeURL = DefaultTimeURL
	}
	if p.window == 0 {
		p.window = DefaultWindow
	}
	if o.Record {
		p.window = 0
	}
	if o.Latency == Low {
		p.target = o.TargetLatency
		if p.target <= 0 {
			p.target = DefaultTargetLatency
		}
	}
	for i, out := range outs {
		p.tracks = append(p.tracks, &track{id: i, kind: out.kind, dash: out.dash, hls: out.hls, nominal: out.bitrate, init: initName(i, id, 0)})
	}
	return p
}

// part is the part target; 0 for Normal latency (no parts).
func (o *Options) part() time.Duration {
	switch {
	case o.Latency == Normal:
		return 0
	case o.Part > 0:
		return o.Part
	}
	return DefaultPart
}

func (o *Options) validate() error {
	if o.Out == "" {
		return fmt.Errorf("no output directory")
	}
	if o.Segment < 0 || (o.Segment > 0 && o.Segment < 100*time.Millisecond) {
		return fmt.Errorf("segment duration %v is too short", o.Segment)
	}
	if o.Part < 0 || (o.Part > 0 && (o.Part < 20*time.Millisecond || o.Part > o.segment())) {
		return fmt.Errorf("part target %v: want between 20ms and the segment duration", o.Part)
	}
	if o.Window < 0 {
		return fmt.Errorf("window %d is negative", o.Window)
	}
	if o.Video == VideoCopy && len(o.Ladder) > 1 {
		return fmt.Errorf("a ladder of several renditions needs transcoding, not video copy")
	}
	for _, h := range o.Ladder {
		if h < 16 || h > 4320 || h%2 != 0 {
			return fmt.Errorf("rendition height %d: want an even number between 16 and 4320", h)
		}
	}
	if o.Latency != Low && o.Latency != Normal {
		return fmt.Errorf("unknown latency mode %d", o.Latency)
	}
	return nil
}

// ParseLatency parses "low" or "normal".
func ParseLatency(s string) (Latency, error) {
	switch s {
	case "low":
		return Low, nil
	case "normal":
		return Normal, nil
	}
	return 0, fmt.Errorf("unknown latency %q (want low or normal)", s)
}

// ParseVideoMode parses "auto", "copy" or "h264".
func ParseVideoMode(s string) (VideoMode, error) {
	for m := VideoAuto; m <= VideoH264; m++ {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown video mode %q (want auto, copy or h264)", s)
}

// ParseAudioMode parses "auto", "copy", "aac" or "none".
func ParseAudioMode(s string) (AudioMode, error) {
	for m := AudioAuto; m <= AudioNone; m++ {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown audio mode %q (want auto, copy, aac or none)", s)
}

// ParseLadder parses a comma-separated list of rendition heights such as "720p,480p,240p"
// (the "p" is optional) and returns them highest first.
func ParseLadder(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var hs []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSuffix(strings.TrimSpace(f), "p")
		h, err := strconv.Atoi(f)
		if err != nil || h < 16 || h > 4320 || h%2 != 0 {
			return nil, fmt.Errorf("bad rendition %q in ladder %q: want heights like 720p,480p,240p", f, s)
		}
		for _, g := range hs {
			if g == h {
				return nil, fmt.Errorf("rendition %dp twice in ladder %q", h, s)
			}
		}
		hs = append(hs, h)
	}
	// Highest first: the first rendition is the one progress reports count.
	for i := 1; i < len(hs); i++ {
		for j := i; j > 0 && hs[j] > hs[j-1]; j-- {
			hs[j], hs[j-1] = hs[j-1], hs[j]
		}
	}
	return hs, nil
}
