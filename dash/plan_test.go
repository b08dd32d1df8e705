package dash

import (
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/svtool/sv/media"
)

func trackInfo(typ, codec string, w, h int) *media.TrackInfo {
	return &media.TrackInfo{Type: typ, Codec: codec, Width: w, Height: h}
}

func TestMakePlan(t *testing.T) {
	h264 := trackInfo("video", "V_MPEG4/ISO/AVC", 640, 480)
	vp8 := trackInfo("video", "V_VP8", 640, 480)
	vp9 := trackInfo("video", "vp09", 1280, 720)
	opus := trackInfo("audio", "A_OPUS", 0, 0)
	vorbis := trackInfo("audio", "A_VORBIS", 0, 0)
	tests := []struct {
		name      string
		in        input
		o         Options
		copyVideo bool
		heights   []int // transcoded renditions (0: input size)
		audio     string
		err       string
	}{
		{"h264 auto copies", input{video: h264, audio: opus}, Options{}, true, nil, "copy", ""},
		{"h264 forced transcode", input{video: h264, audio: opus}, Options{Video: VideoH264}, false, []int{0}, "copy", ""},
		{"vp8 auto transcodes", input{video: vp8, audio: opus}, Options{}, false, []int{0}, "copy", ""},
		{"vp8 copy refused", input{video: vp8}, Options{Video: VideoCopy}, false, nil, "", "cannot copy vp8 video"},
		{"vp9 copy", input{video: vp9}, Options{Video: VideoCopy}, true, nil, "", ""},
		{"aac", input{video: h264, audio: opus}, Options{Audio: AudioAAC}, true, nil, "aac", ""},
		{"no audio", input{video: h264, audio: opus}, Options{Audio: AudioNone}, true, nil, "", ""},
		{"vorbis auto", input{video: h264, audio: vorbis}, Options{}, true, nil, "aac", ""},
		{"vorbis copy refused", input{video: h264, audio: vorbis}, Options{Audio: AudioCopy}, false, nil, "", "cannot copy vorbis audio"},
		{"video only", input{video: h264}, Options{Audio: AudioAAC}, true, nil, "", ""},
		{"audio only", input{audio: opus}, Options{}, false, nil, "copy", ""},
		{"nothing left", input{audio: opus}, Options{Audio: AudioNone}, false, nil, "", "no video and no audio"},
		{"ladder transcodes h264", input{video: h264}, Options{Ladder: []int{720, 480, 240}}, false, []int{480, 240}, "", ""},
		{"ladder all above", input{video: h264}, Options{Ladder: []int{1080, 720}}, false, []int{0}, "", ""},
		{"ladder of one copies", input{video: h264}, Options{Ladder: []int{480}}, true, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := makePlan(tt.in, &tt.o)
			if tt.err != "" {
				if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("makePlan = %v, want ErrUnsupported saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var heights []int
			for _, r := range p.renditions {
				heights = append(heights, r.height)
			}
			if p.videoCopy != tt.copyVideo || !slices.Equal(heights, tt.heights) || p.audio != tt.audio {
				t.Errorf("plan: copy %v, renditions %v, audio %q; want %v, %v, %q", p.videoCopy, heights, p.audio, tt.copyVideo, tt.heights, tt.audio)
			}
		})
	}
}

func TestRenditionSize(t *testing.T) {
	rs, skipped := renditions([]int{1080, 720, 360}, 1280, 720)
	if !slices.Equal(skipped, []int{1080}) || len(rs) != 2 || rs[0].width != 1280 || rs[1].width != 640 {
		t.Errorf("renditions = %+v, skipped %v", rs, skipped)
	}
	for _, c := range []struct{ w, h, want int }{
		{640, 480, 900_000}, {1280, 720, 2_750_000}, {320, 240, 250_000}, {0, 0, 1_000_000}, {16, 16, 150_000},
	} {
		if got := bitrate(c.w, c.h); got != c.want {
			t.Errorf("bitrate(%d, %d) = %d, want %d", c.w, c.h, got, c.want)
		}
	}
}

// TestArgs checks the FFmpeg command lines that matter, flag by flag; the package doc
// says why each is there.
func TestArgs(t *testing.T) {
	h264 := trackInfo("video", "V_MPEG4/ISO/AVC", 640, 480)
	opus := trackInfo("audio", "A_OPUS", 0, 0)
	args := func(in input, o Options) string {
		p, err := makePlan(in, &o)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(ffmpegArgs(p, &o), " ")
	}
	frag := "-f mp4 -movflags +frag_every_frame+empty_moov+default_base_moof+cmaf "
	afrag := "-f mp4 -movflags +empty_moov+default_base_moof+cmaf -frag_duration 50000 "
	low := args(input{kind: media.WebM, video: h264, audio: opus}, Options{})
	for _, want := range []string{
		"-fpsprobesize 0 -f matroska -i pipe:0",
		"-map 0:v:0 -c:v copy " + frag + "pipe:4",
		"-map 0:a:0 -c:a copy " + afrag + "pipe:5",
		"-map 0:a:0 -c:a aac -b:a 128k " + afrag + "pipe:6",
	} {
		if !strings.Contains(low, want) {
			t.Errorf("low latency copy: no %q in\n%s", want, low)
		}
	}
	if same := args(input{kind: media.WebM, video: h264, audio: opus}, Options{HLSAudio: HLSAudioSame}); strings.Contains(same, "aac") {
		t.Errorf("--hls-audio same: an AAC output in\n%s", same)
	}
	normal := args(input{kind: media.MP4, video: h264}, Options{Latency: Normal, Video: VideoH264, Record: true, Segment: 4 * time.Second, Preset: "fast"})
	for _, want := range []string{
		"-f mp4 -i pipe:0",
		"-c:v libx264 -preset fast -tune zerolatency -pix_fmt yuv420p -fps_mode vfr",
		"-force_key_frames expr:gte(t,n_forced*4) -x264-params keyint=infinite:scenecut=0",
		"-b:v 900k -maxrate:v 1080k -bufsize:v 900k",
		"-f mp4 -movflags +frag_keyframe+empty_moov+default_base_moof+cmaf pipe:4",
	} {
		if !strings.Contains(normal, want) {
			t.Errorf("normal latency transcode: no %q in\n%s", want, normal)
		}
	}
	for _, unwanted := range []string{"-map 0:a", "pipe:5", "frag_every_frame"} {
		if strings.Contains(normal, unwanted) {
			t.Errorf("normal latency transcode of video only: %q in\n%s", unwanted, normal)
		}
	}
	ladder := args(input{kind: media.WebM, video: trackInfo("video", "V_VP8", 1280, 720), audio: opus}, Options{Ladder: []int{720, 360}, Audio: AudioAAC})
	for _, want := range []string{
		"-filter_complex [0:v:0]setsar=1,split=2[s0][s1];[s0]scale=-2:720[v0];[s1]scale=-2:360[v1]",
		"-map [v0] -c:v libx264", "-b:v 2750k", "pipe:4", "-map [v1] -c:v libx264", "-b:v 700k", "pipe:5",
		"-map 0:a:0 -c:a aac -b:a 128k " + afrag + "pipe:6",
	} {
		if !strings.Contains(ladder, want) {
			t.Errorf("ladder: no %q in\n%s", want, ladder)
		}
	}
	if strings.Contains(ladder, "pipe:7") {
		t.Errorf("ladder with AAC audio: a second audio output in\n%s", ladder)
	}
}

func TestParseLadder(t *testing.T) {
	hs, err := ParseLadder("240p, 720p,480")
	if err != nil || !slices.Equal(hs, []int{720, 480, 240}) {
		t.Errorf("ParseLadder = %v, %v", hs, err)
	}
	if hs, err := ParseLadder(""); err != nil || hs != nil {
		t.Errorf("ParseLadder(\"\") = %v, %v", hs, err)
	}
	for _, bad := range []string{"720p,720p", "hd", "721p", "0p", "99999p"} {
		if _, err := ParseLadder(bad); err == nil {
			t.Errorf("ParseLadder(%q) succeeded", bad)
		}
	}
}

// FuzzWatcher: whatever the input and however it is split, the watcher gives exactly one
// header result at the end, the same one, and never panics.
func FuzzWatcher(f *testing.F) {
	for _, name := range recordings {
		if b, err := os.ReadFile("../testdata/" + name); err == nil {
			f.Add(b[:min(len(b), 4096)], uint16(7))
		}
	}
	f.Add([]byte{0x1a, 0x45, 0xdf, 0xa3, 0x01}, uint16(1))
	f.Add([]byte("\x00\x00\x00\x18ftypisom"), uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		result := func(step int) (input, string) {
			w := newWatcher()
			r := &reader{r: &chunkReader{data: data, step: step}, w: w}
			buf := make([]byte, 1024)
			for {
				if _, err := r.Read(buf); err != nil {
					break
				}
			}
			select {
			case <-w.header:
			default:
				t.Fatal("no header result at the end of the input")
			}
			in, err := w.result()
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			return in, msg
		}
		a, aerr := result(len(data) + 1)
		b, berr := result(int(split%64) + 1)
		if (aerr == "") != (berr == "") || a.kind != b.kind || (a.video == nil) != (b.video == nil) || (a.audio == nil) != (b.audio == nil) {
			t.Errorf("results depend on the split: %+v %q vs %+v %q", a, aerr, b, berr)
		}
	})
}

// chunkReader returns data step bytes at a time.
type chunkReader struct {
	data []byte
	step int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.step)], c.data)
	c.data = c.data[n:]
	return n, nil
}

// A track that cannot be copied says which, with nothing else than the fact.
func TestCopyError(t *testing.T) {
	for _, tt := range []struct {
		in           input
		o            Options
		track, codec string
	}{
		{input{video: trackInfo("video", "V_VP8", 640, 480)}, Options{Video: VideoCopy}, "video", "vp8"},
		{input{audio: trackInfo("audio", "A_VORBIS", 0, 0)}, Options{Audio: AudioCopy}, "audio", "vorbis"},
	} {
		_, err := makePlan(tt.in, &tt.o)
		var ce *CopyError
		want := "unsupported input: cannot copy " + tt.codec + " " + tt.track + " into MP4 segments"
		if !errors.As(err, &ce) || ce.Track != tt.track || ce.Codec != tt.codec || err.Error() != want {
			t.Errorf("makePlan = %v, want a CopyError saying %q", err, want)
		}
	}
}
