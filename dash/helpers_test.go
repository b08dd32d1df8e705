package dash

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/svtool/sv/media"
)

// testInput is a recording to package.
type testInput struct {
	name string
	path string
}

// recordings are the real MediaRecorder recordings in the repository's testdata.
var recordings = []string{
	"h264-opus-kf1s.webm", "h264-opus-kf5s.webm", "vp8-opus.webm", "vp9-opus.mp4",
	"h264-video-only.webm", "h264-cuts.webm",
}

var (
	genOnce sync.Once
	genDir  string
	genErr  error
)

// generated are stand-ins made with FFmpeg's test sources, used for the recordings that
// are not in testdata (yet): same containers and codecs, 4 s, 1 s keyframes.
var generated = map[string][]string{
	"h264-opus-kf1s.webm": {"-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-g", "30", "-c:a", "libopus", "-f", "matroska"},
	"h264-opus-kf5s.webm": {"-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-g", "100", "-c:a", "libopus", "-f", "matroska"},
	"vp8-opus.webm":       {"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-g", "30", "-b:v", "500k", "-c:a", "libopus", "-f", "webm"},
	"vp9-opus.mp4": {"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "30", "-b:v", "500k", "-c:a", "libopus",
		"-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof"},
	"h264-video-only.webm": {"-an", "-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-g", "30", "-f", "matroska"},
}

// generate makes a test input of dur at size (WxH) with FFmpeg's lavfi sources.
func generate(path string, dur time.Duration, size string, args []string) error {
	base := []string{"-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=" + size + ":rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", secs(dur), "-pix_fmt", "yuv420p"}
	out, err := exec.Command("ffmpeg", append(append(base, args...), path)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("generate %s: %w: %s", filepath.Base(path), err, out)
	}
	return nil
}

// inputs returns the recordings of testdata, and generated stand-ins for the missing ones.
func inputs(t testing.TB) []testInput {
	t.Helper()
	var ins []testInput
	for _, name := range recordings {
		path := filepath.Join("..", "testdata", name)
		if _, err := os.Stat(path); err == nil {
			ins = append(ins, testInput{name, path})
			continue
		}
		if _, ok := generated[name]; !ok {
			continue
		}
		genOnce.Do(func() {
			genDir, genErr = os.MkdirTemp("", "sv-dash-test-")
			if genErr != nil {
				return
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			for n, args := range generated {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := generate(filepath.Join(genDir, n), 4*time.Second, "320x240", args); err != nil {
						mu.Lock()
						genErr = err
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
		})
		if genErr != nil {
			t.Fatal(genErr)
		}
		ins = append(ins, testInput{name + " (generated)", filepath.Join(genDir, name)})
	}
	return ins
}

func TestMain(m *testing.M) {
	code := m.Run()
	if genDir != "" {
		os.RemoveAll(genDir)
	}
	os.Exit(code)
}

// inputNamed returns one named input (a recording, or its generated stand-in).
func inputNamed(t testing.TB, name string) testInput {
	t.Helper()
	for _, in := range inputs(t) {
		if strings.HasPrefix(in.name, name) {
			return in
		}
	}
	t.Fatalf("no input %s", name)
	return testInput{}
}

// videoProbe is what ffprobe finds by decoding a video stream.
type videoProbe struct {
	frames   int
	duration time.Duration // last timestamp - first timestamp + one frame
	errors   string        // ffprobe's error output
}

// probe decodes the first stream of kind ("v" or "a") of the file at path, or of data
// when path is "-".
func probe(t testing.TB, path string, data []byte, kind string) videoProbe {
	t.Helper()
	cmd := exec.Command("ffprobe", "-v", "error", "-select_streams", kind+":0", "-count_frames",
		"-show_entries", "stream=nb_read_frames:packet=pts_time,duration_time", "-of", "json", path)
	if data != nil {
		cmd.Stdin = bytes.NewReader(data)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v: %s", path, err, stderr.String())
	}
	var r struct {
		Streams []struct {
			Frames string `json:"nb_read_frames"`
		} `json:"streams"`
		Packets []struct {
			PTS string `json:"pts_time"`
			Dur string `json:"duration_time"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("ffprobe output: %v", err)
	}
	var p videoProbe
	p.errors = stderr.String()
	if len(r.Streams) > 0 {
		p.frames, _ = strconv.Atoi(r.Streams[0].Frames)
	}
	first, last, lastDur := 1e18, -1e18, 0.0
	for _, pk := range r.Packets {
		ts, err := strconv.ParseFloat(pk.PTS, 64)
		if err != nil {
			continue
		}
		d, _ := strconv.ParseFloat(pk.Dur, 64)
		first = min(first, ts)
		if ts > last {
			last, lastDur = ts, d
		}
	}
	if last >= first {
		p.duration = time.Duration((last - first + lastDur) * float64(time.Second))
	}
	return p
}

// mpd is the part of an MPD the tests look at.
type mpd struct {
	XMLName                   xml.Name `xml:"MPD"`
	Type                      string   `xml:"type,attr"`
	MediaPresentationDuration string   `xml:"mediaPresentationDuration,attr"`
	AvailabilityStartTime     string   `xml:"availabilityStartTime,attr"`
	ServiceDescription        *struct {
		Latency *struct {
			Target int `xml:"target,attr"`
		} `xml:"Latency"`
		PlaybackRate *struct {
			Min float64 `xml:"min,attr"`
			Max float64 `xml:"max,attr"`
		} `xml:"PlaybackRate"`
	} `xml:"ServiceDescription"`
	UTCTiming []struct {
		Scheme string `xml:"schemeIdUri,attr"`
		Value  string `xml:"value,attr"`
	} `xml:"UTCTiming"`
	Periods []struct {
		AdaptationSets []struct {
			ContentType     string `xml:"contentType,attr"`
			MimeType        string `xml:"mimeType,attr"`
			Representations []struct {
				ID        string `xml:"id,attr"`
				MimeType  string `xml:"mimeType,attr"`
				Codecs    string `xml:"codecs,attr"`
				Bandwidth int    `xml:"bandwidth,attr"`
				Width     int    `xml:"width,attr"`
				Height    int    `xml:"height,attr"`
				PRFT      []struct {
					WallClockTime string `xml:"wallClockTime,attr"`
				} `xml:"ProducerReferenceTime"`
				Template struct {
					Timescale   int64  `xml:"timescale,attr"`
					StartNumber int    `xml:"startNumber,attr"`
					Duration    int64  `xml:"duration,attr"`
					ATO         string `xml:"availabilityTimeOffset,attr"`
					ATC         string `xml:"availabilityTimeComplete,attr"`
					Init        string `xml:"initialization,attr"`
					Media       string `xml:"media,attr"`
					Timeline    []struct {
						T int64 `xml:"t,attr"`
						D int64 `xml:"d,attr"`
						R int   `xml:"r,attr"`
					} `xml:"SegmentTimeline>S"`
				} `xml:"SegmentTemplate"`
			} `xml:"Representation"`
		} `xml:"AdaptationSet"`
	} `xml:"Period"`
}

func readMPD(t testing.TB, dir string) *mpd {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.mpd"))
	if err != nil {
		t.Fatal(err)
	}
	var m mpd
	if err := xml.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest.mpd does not parse: %v\n%s", err, b)
	}
	if len(m.Periods) == 0 || len(m.Periods[0].AdaptationSets) == 0 {
		t.Fatalf("manifest.mpd has no adaptation sets:\n%s", b)
	}
	return &m
}

// isoDuration parses the durations FFmpeg writes: PT1H2M3.4S.
func isoDuration(s string) (time.Duration, error) {
	m := regexp.MustCompile(`^PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?$`).FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	h, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	sec, _ := strconv.ParseFloat(m[3], 64)
	return time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(sec*float64(time.Second)), nil
}

// hlsMedia is a parsed media playlist.
type hlsMedia struct {
	init     string
	segments []string
	total    time.Duration
	ended    bool
}

// readHLS parses master.m3u8 and every media playlist it names, keyed by URI.
func readHLS(t testing.TB, dir string) map[string]*hlsMedia {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "master.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if lines[0] != "#EXTM3U" {
		t.Fatalf("master.m3u8 does not start with #EXTM3U:\n%s", b)
	}
	var uris []string
	uriAttr := regexp.MustCompile(`URI="([^"]+)"`)
	streams := 0
	for i, l := range lines {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "#EXT-X-MEDIA:"):
			if m := uriAttr.FindStringSubmatch(l); m != nil {
				uris = append(uris, m[1])
			}
		case strings.HasPrefix(l, "#EXT-X-STREAM-INF:"):
			streams++
			if !strings.Contains(l, "BANDWIDTH=") || i+1 >= len(lines) {
				t.Fatalf("bad #EXT-X-STREAM-INF in master.m3u8:\n%s", b)
			}
			uris = append(uris, strings.TrimSpace(lines[i+1]))
		}
	}
	if streams == 0 {
		t.Fatalf("master.m3u8 has no #EXT-X-STREAM-INF:\n%s", b)
	}
	out := map[string]*hlsMedia{}
	for _, uri := range uris {
		f, err := os.Open(filepath.Join(dir, uri))
		if err != nil {
			t.Fatalf("master.m3u8 names %s: %v", uri, err)
		}
		pl := &hlsMedia{}
		sc := bufio.NewScanner(f)
		first := true
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			switch {
			case first && l != "#EXTM3U":
				t.Fatalf("%s does not start with #EXTM3U", uri)
			case strings.HasPrefix(l, "#EXT-X-MAP:"):
				if m := uriAttr.FindStringSubmatch(l); m != nil {
					pl.init = m[1]
				}
			case strings.HasPrefix(l, "#EXTINF:"):
				d, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(l, "#EXTINF:"), ","), 64)
				if err != nil {
					t.Fatalf("%s: bad %s", uri, l)
				}
				pl.total += time.Duration(d * float64(time.Second))
			case l == "#EXT-X-ENDLIST":
				pl.ended = true
			case l != "" && !strings.HasPrefix(l, "#"):
				pl.segments = append(pl.segments, l)
			}
			first = false
		}
		f.Close()
		if pl.init == "" || len(pl.segments) == 0 {
			t.Fatalf("%s has no init segment or no media segments", uri)
		}
		out[uri] = pl
	}
	return out
}

// representation returns the init segment and the media segments of representation id,
// in order.
func representation(t testing.TB, dir string, id int) (init string, segs []string) {
	t.Helper()
	inits, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("init-stream%d-*.m4s", id)))
	if len(inits) != 1 {
		t.Fatalf("representation %d: init segments %q, want one", id, inits)
	}
	init = inits[0]
	segs, _ = filepath.Glob(filepath.Join(dir, fmt.Sprintf("chunk-stream%d-*.m4s", id)))
	sort.Strings(segs)
	return init, segs
}

// concat returns init followed by segs.
func concat(t testing.TB, init string, segs []string) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, p := range append([]string{init}, segs...) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
	}
	return buf.Bytes()
}

// pacer writes a recording the way a browser publishes it: every slice of wall time,
// the bytes up to the first frame of the next slice of media time (the first write holds
// the header and the first slice).
type pacer struct {
	data  []byte
	cuts  []int64 // cuts[k]: bytes to have written by k slices
	slice time.Duration
}

// limit makes the pacer end its input after d of media.
func (p *pacer) limit(d time.Duration) {
	if n := int(d / p.slice); n < len(p.cuts) {
		p.cuts = p.cuts[:n]
	}
}

func newPacer(t testing.TB, path string, slice time.Duration) *pacer {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := &pacer{data: data, slice: slice}
	var start time.Duration = -1
	_, err = media.Scan(bytes.NewReader(data), func(e media.Event) error {
		if e.Kind != media.EventBlock {
			return nil
		}
		if start < 0 {
			start = e.Time
		}
		k := int((e.Time - start) / slice) // the frame belongs to slice k: sent at k+1 slices...
		for len(p.cuts) <= k {
			p.cuts = append(p.cuts, e.Offset) // ...so slice k's write ends before it
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", path, err)
	}
	p.cuts = append(p.cuts, int64(len(data)))
	// cuts[0] is the offset of the first frame: the first write must hold the whole
	// first slice, so shift by one.
	p.cuts = p.cuts[1:]
	return p
}

// duration is the media duration the pacer will take.
func (p *pacer) duration() time.Duration { return time.Duration(len(p.cuts)) * p.slice }

// run writes to w in real time and closes it; it stops early when ctx is done.
func (p *pacer) run(ctx context.Context, w io.WriteCloser, started func()) error {
	defer w.Close()
	start := time.Now()
	var off int64
	for k, cut := range p.cuts {
		if k > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Until(start.Add(time.Duration(k) * p.slice))):
			}
		}
		if cut > off {
			if off == 0 && started != nil {
				started()
			}
			if _, err := w.Write(p.data[off:cut]); err != nil {
				return err
			}
			off = cut
		}
	}
	return nil
}

// warnings is a slog.Handler that keeps the messages of the warnings logged through it.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, r.Message)
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

func (w *warnings) messages() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}
