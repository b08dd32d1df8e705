package dash

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/svtool/sv/ffmpeg"
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

// output is one of FFmpeg's outputs: one track, as fragmented MP4 to a pipe of its own.
type output struct {
	kind    trackKind
	args    []string // -map and codec options
	bitrate int      // nominal, bit/s, until measured
	dash    bool     // listed in the MPD
	hls     bool     // listed in the HLS playlists
}

// outputs lists FFmpeg's outputs for plan p: the video renditions first, then the audio,
// then the AAC audio made for HLS next to Opus.
func (p *plan) outputs(o *Options) []output {
	seg := o.segment()
	var outs []output
	switch {
	case p.in.video == nil:
	case p.videoCopy:
		outs = append(outs, output{kind: videoTrack, args: []string{"-map", "0:v:0", "-c:v", "copy"}, bitrate: copyVideoBitrate, dash: true, hls: true})
	default:
		preset := o.Preset
		if preset == "" {
			preset = DefaultPreset
		}
		for i, r := range p.renditions {
			in := "0:v:0"
			if len(p.renditions) > 1 || r.height > 0 {
				in = fmt.Sprintf("[v%d]", i)
			}
			outs = append(outs, output{kind: videoTrack, bitrate: r.bitrate, dash: true, hls: true, args: []string{
				"-map", in,
				"-c:v", "libx264", "-preset", preset, "-tune", "zerolatency",
				"-pix_fmt", "yuv420p", "-fps_mode", "vfr",
				"-force_key_frames", "expr:gte(t,n_forced*" + secs(seg) + ")",
				"-x264-params", "keyint=infinite:scenecut=0",
				"-b:v", kbps(r.bitrate), "-maxrate:v", kbps(r.bitrate * 6 / 5), "-bufsize:v", kbps(r.bitrate),
			}})
		}
	}
	switch p.audio {
	case "copy":
		opus := codecFamily(p.in.audio) == "opus"
		outs = append(outs, output{kind: audioTrack, args: []string{"-map", "0:a:0", "-c:a", "copy"}, bitrate: copyAudioBitrate, dash: true, hls: !opus || !o.HLSAAC()})
		if opus && o.HLSAAC() {
			outs = append(outs, output{kind: audioTrack, args: []string{"-map", "0:a:0", "-c:a", "aac", "-b:a", kbps(aacBitrate)}, bitrate: aacBitrate, hls: true})
		}
	case "aac":
		outs = append(outs, output{kind: audioTrack, args: []string{"-map", "0:a:0", "-c:a", "aac", "-b:a", kbps(aacBitrate)}, bitrate: aacBitrate, dash: true, hls: true})
	}
	return outs
}

// ffmpegArgs returns FFmpeg's arguments (ffmpeg.Start adds -hide_banner, -nostats and the
// progress pipe): output i goes to ffmpeg.PipeURL(i). The package documentation explains
// each choice.
func ffmpegArgs(p *plan, o *Options) []string {
	format := "matroska"
	if p.in.kind == media.MP4 {
		format = "mp4"
	}
	a := []string{
		"-loglevel", "warning",
		"-fpsprobesize", "0",
		"-f", format, "-i", "pipe:0",
	}
	if nv := len(p.renditions); !p.videoCopy && p.in.video != nil && (nv > 1 || p.renditions[0].height > 0) {
		var fc strings.Builder
		fmt.Fprintf(&fc, "[0:v:0]setsar=1,split=%d", nv)
		for i := range nv {
			fmt.Fprintf(&fc, "[s%d]", i)
		}
		for i, r := range p.renditions {
			fmt.Fprintf(&fc, ";[s%d]scale=-2:%d[v%d]", i, r.height, i)
		}
		a = append(a, "-filter_complex", fc.String())
	}
	// Low latency: a video fragment per frame, audio fragments of a quarter part, so that
	// parts fill evenly. Normal: a fragment per keyframe interval (per segment when
	// transcoding), audio a fragment per segment.
	vflags, afrag := "+frag_every_frame", o.part()/4
	if o.Latency == Normal {
		vflags, afrag = "+frag_keyframe", o.segment()
	}
	for i, out := range p.outputs(o) {
		a = append(a, out.args...)
		if out.kind == videoTrack {
			a = append(a, "-f", "mp4", "-movflags", vflags+"+empty_moov+default_base_moof+cmaf")
		} else {
			a = append(a, "-f", "mp4", "-movflags", "+empty_moov+default_base_moof+cmaf",
				"-frag_duration", strconv.FormatInt(afrag.Microseconds(), 10))
		}
		a = append(a, ffmpeg.PipeURL(i))
	}
	return a
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
	if p.audio == "copy" && codecFamily(p.in.audio) == "opus" && o.HLSAAC() {
		parts = append(parts, "HLS audio: opus to AAC")
	}
	return fmt.Sprintf("%s latency, %s segments, %s input, %s", o.Latency, o.segment(), p.in.kind, strings.Join(parts, ", "))
}
