package dash

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/svtool/sv/media"
)

// ErrUnsupported is returned when the input's codecs cannot be packaged as asked, such as
// VideoCopy of VP8 (which MP4 cannot carry).
var ErrUnsupported = errors.New("unsupported input")

// CopyError is the ErrUnsupported of a track that Options say to copy (VideoCopy,
// AudioCopy) but whose codec cannot go into MP4 segments as it is: it must be transcoded.
type CopyError struct {
	Track string // "video" or "audio"
	Codec string // the codec family: vp8, vorbis, ...
}

func (e *CopyError) Error() string {
	return fmt.Sprintf("%v: cannot copy %s %s into MP4 segments", ErrUnsupported, e.Codec, e.Track)
}

func (e *CopyError) Unwrap() error { return ErrUnsupported }

// input is what the header of the input stream says.
type input struct {
	kind  media.Kind
	video *media.TrackInfo // first video track, or nil
	audio *media.TrackInfo // first audio track, or nil
}

// rendition is one H.264 encoding of the video.
type rendition struct {
	width, height int // 0: the input's (no scaling)
	bitrate       int // bits per second
}

// plan is what Run asks FFmpeg to do.
type plan struct {
	in         input
	videoCopy  bool        // copy the video (else transcode, if there is video)
	renditions []rendition // transcoding only
	audio      string      // "copy", "aac" or "" (no audio)
	skipped    []int       // ladder heights above the input's
}

// Codec families, from WebM CodecIDs and MP4 sample entries.
func codecFamily(t *media.TrackInfo) string {
	c := t.Codec
	switch {
	case c == "V_MPEG4/ISO/AVC" || c == "avc1" || c == "avc3":
		return "h264"
	case c == "V_VP8" || c == "vp08":
		return "vp8"
	case c == "V_VP9" || c == "vp09":
		return "vp9"
	case c == "V_AV1" || c == "av01":
		return "av1"
	case c == "V_MPEGH/ISO/HEVC" || c == "hvc1" || c == "hev1":
		return "hevc"
	case c == "A_OPUS" || c == "Opus" || c == "opus":
		return "opus"
	case strings.HasPrefix(c, "A_AAC") || c == "mp4a":
		return "aac"
	case c == "A_VORBIS":
		return "vorbis"
	case strings.HasPrefix(c, "A_PCM") || c == "ipcm" || c == "lpcm" || c == "sowt" || c == "twos":
		return "pcm"
	}
	return strings.ToLower(c)
}

// makePlan decides copy or transcode for each track.
func makePlan(in input, o *Options) (*plan, error) {
	p := &plan{in: in}
	if in.video == nil && (in.audio == nil || o.Audio == AudioNone) {
		return nil, fmt.Errorf("%w: the input has no video and no audio to keep", ErrUnsupported)
	}
	if v := in.video; v != nil {
		family := codecFamily(v)
		switch o.Video {
		case VideoAuto:
			p.videoCopy = family == "h264" && len(o.Ladder) <= 1
		case VideoCopy:
			switch family {
			case "h264", "vp9", "av1":
				p.videoCopy = true
			default:
				return nil, &CopyError{Track: "video", Codec: family}
			}
		}
		if !p.videoCopy {
			p.renditions, p.skipped = renditions(o.Ladder, v.Width, v.Height)
		}
	}
	if a := in.audio; a != nil && o.Audio != AudioNone {
		family := codecFamily(a)
		canCopy := family == "opus" || family == "aac"
		switch {
		case o.Audio == AudioAAC, o.Audio == AudioAuto && !canCopy:
			p.audio = "aac"
		case canCopy:
			p.audio = "copy"
		default:
			return nil, &CopyError{Track: "audio", Codec: family}
		}
	}
	return p, nil
}

// renditions returns the renditions of a ladder for an input of w x h (0 if unknown), and
// the heights skipped because they are above the input's.
func renditions(ladder []int, w, h int) (rs []rendition, skipped []int) {
	if len(ladder) == 0 {
		return []rendition{{bitrate: bitrate(w, h)}}, nil
	}
	for _, lh := range ladder {
		if h > 0 && lh > h {
			skipped = append(skipped, lh)
			continue
		}
		lw := 0
		if w > 0 && h > 0 {
			lw = (w*lh/h + 1) &^ 1
		}
		rs = append(rs, rendition{width: lw, height: lh, bitrate: bitrate(lw, lh)})
	}
	if len(rs) == 0 {
		rs = []rendition{{bitrate: bitrate(w, h)}}
	}
	return rs, skipped
}

// bitrate is a sensible H.264 bitrate for a webcam picture of w x h at up to 30 fps: about
// 0.1 bit per pixel per frame (640x480 -> 900 kb/s, 1280x720 -> 2.75 Mb/s), rounded to
// 50 kb/s, at least 150 kb/s. An unknown size gets 1 Mb/s.
func bitrate(w, h int) int {
	if h <= 0 {
		return 1_000_000
	}
	if w <= 0 {
		w = h * 16 / 9
	}
	b := w * h * 30 / 10
	b = (b + 25_000) / 50_000 * 50_000
	return max(b, 150_000)
}

// Nominal bitrates of copied streams, for the manifests' bandwidth attributes (HLS needs
// one in master.m3u8 before the first segment is measured).
const (
	copyVideoBitrate = 1_000_000
	copyAudioBitrate = 64_000
	aacBitrate       = 128_000
)

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

func kbps(b int) string { return strconv.Itoa(b/1000) + "k" }

// ffmpegArgs returns FFmpeg's arguments (ffmpeg.Start adds -hide_banner, -nostats and the
// progress pipe). The package documentation explains each choice.
//
// run names this run's segments (see runName): they must differ from any earlier run's in
// the same folder.
func ffmpegArgs(p *plan, o *Options, manifest, run string) []string {
	seg := o.segment()
	format := "matroska"
	if p.in.kind == media.MP4 {
		format = "mp4"
	}
	a := []string{
		"-loglevel", "warning",
		"-analyzeduration", "500000",
		"-f", format, "-i", "pipe:0",
	}

	// Video.
	nv := 0
	switch {
	case p.in.video == nil:
	case p.videoCopy:
		nv = 1
		a = append(a, "-map", "0:v:0", "-c:v", "copy", "-b:v", kbps(copyVideoBitrate))
	default:
		nv = len(p.renditions)
		if nv == 1 && p.renditions[0].height == 0 {
			a = append(a, "-map", "0:v:0")
		} else {
			var fc strings.Builder
			fmt.Fprintf(&fc, "[0:v:0]setsar=1,split=%d", nv)
			for i := range nv {
				fmt.Fprintf(&fc, "[s%d]", i)
			}
			for i, r := range p.renditions {
				fmt.Fprintf(&fc, ";[s%d]scale=-2:%d[v%d]", i, r.height, i)
			}
			a = append(a, "-filter_complex", fc.String())
			for i := range nv {
				a = append(a, "-map", fmt.Sprintf("[v%d]", i))
			}
		}
		preset := o.Preset
		if preset == "" {
			preset = DefaultPreset
		}
		a = append(a,
			"-c:v", "libx264", "-preset", preset, "-tune", "zerolatency",
			"-pix_fmt", "yuv420p", "-fps_mode", "vfr",
			"-force_key_frames", "expr:gte(t,n_forced*"+secs(seg)+")",
			"-x264-params", "keyint=infinite:scenecut=0",
		)
		for i, r := range p.renditions {
			s := strconv.Itoa(i)
			a = append(a,
				"-b:v:"+s, kbps(r.bitrate),
				"-maxrate:v:"+s, kbps(r.bitrate*6/5),
				"-bufsize:v:"+s, kbps(r.bitrate),
			)
		}
	}

	// Audio.
	switch p.audio {
	case "copy":
		a = append(a, "-map", "0:a:0", "-c:a", "copy", "-b:a", kbps(copyAudioBitrate))
	case "aac":
		a = append(a, "-map", "0:a:0", "-c:a", "aac", "-b:a", kbps(aacBitrate))
	}

	// Output.
	window := o.Window
	if window == 0 {
		window = DefaultWindow
	}
	if o.Record {
		window = 0
	}
	timeURL := o.TimeURL
	if timeURL == "" {
		timeURL = DefaultTimeURL
	}
	a = append(a,
		"-f", "dash",
		"-dash_segment_type", "mp4",
		"-format_options", "movflags=+cmaf",
		"-seg_duration", secs(seg),
		"-use_template", "1",
		"-window_size", strconv.Itoa(window),
		"-extra_window_size", "5",
		"-utc_timing_url", timeURL,
		"-hls_playlist", "1",
		"-init_seg_name", "init-stream$RepresentationID$-"+run+".m4s",
		"-media_seg_name", "chunk-stream$RepresentationID$-"+run+"-$Number%05d$.m4s",
	)
	var sets []string
	if o.Latency == Low {
		target := o.TargetLatency
		if target <= 0 {
			target = DefaultTargetLatency
		}
		if nv > 0 {
			sets = append(sets, "id=0,frag_type=every_frame,streams=v")
		}
		if p.audio != "" {
			sets = append(sets, fmt.Sprintf("id=%d,frag_type=duration,frag_duration=0.1,streams=a", len(sets)))
		}
		a = append(a,
			"-ldash", "1",
			"-streaming", "1",
			"-use_timeline", "0",
			"-index_correction", "1",
			"-target_latency", secs(target),
			"-min_playback_rate", "0.95",
			"-max_playback_rate", "1.05",
			"-write_prft", "1",
		)
	} else {
		if nv > 0 {
			sets = append(sets, "id=0,streams=v")
		}
		if p.audio != "" {
			sets = append(sets, fmt.Sprintf("id=%d,streams=a", len(sets)))
		}
		a = append(a, "-use_timeline", "1")
	}
	a = append(a, "-adaptation_sets", strings.Join(sets, " "))
	if strings.Contains(manifest, ":") {
		// FFmpeg would take "c:/x" or "a:b/manifest.mpd" for a protocol.
		manifest = "file:" + manifest
	}
	return append(a, filepath.Clean(manifest))
}

// describe says in one line what the plan does, for the info record Run logs.
func (p *plan) describe(o *Options) string {
	var parts []string
	if v := p.in.video; v != nil {
		fam := codecFamily(v)
		switch {
		case p.videoCopy:
			parts = append(parts, fmt.Sprintf("video: copy %s %dx%d", fam, v.Width, v.Height))
		default:
			var rs []string
			for _, r := range p.renditions {
				size := "input size"
				if r.height > 0 {
					size = fmt.Sprintf("%dp", r.height)
				}
				rs = append(rs, fmt.Sprintf("%s %s", size, kbps(r.bitrate)))
			}
			parts = append(parts, fmt.Sprintf("video: %s %dx%d to H.264 (%s)", fam, v.Width, v.Height, strings.Join(rs, ", ")))
		}
	} else {
		parts = append(parts, "video: none")
	}
	switch {
	case p.audio == "copy":
		parts = append(parts, "audio: copy "+codecFamily(p.in.audio))
	case p.audio == "aac":
		parts = append(parts, "audio: "+codecFamily(p.in.audio)+" to AAC")
	default:
		parts = append(parts, "audio: none")
	}
	return fmt.Sprintf("%s latency, %s segments, %s input, %s", o.Latency, o.segment(), p.in.kind, strings.Join(parts, ", "))
}
