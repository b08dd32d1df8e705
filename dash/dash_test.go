package dash

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"

	"github.com/svtool/sv/ffmpeg"
	"github.com/svtool/sv/media"
	"github.com/svtool/sv/stream"
)

// testOptions are the options of the tests: a fast x264 preset where the figure does not
// matter.
func testOptions(out string) Options {
	return Options{Out: out, Preset: "ultrafast", Record: true}
}

// TestPackage puts every input through Run in copy and transcode, low and normal latency,
// and checks the presentation: the MPD and HLS playlists parse, FFmpeg's own decoder reads
// every segment of every representation without an error, the duration is within one
// segment of the input's and the frame count within 2 %.
func TestPackage(t *testing.T) {
	testenv.RequireFFmpeg(t)
	for _, in := range inputs(t) {
		var hdr input
		f, err := os.Open(in.path)
		if err != nil {
			t.Fatal(err)
		}
		w := newWatcher()
		io.Copy(w, f)
		f.Close()
		if hdr, err = w.result(); err != nil {
			t.Fatalf("%s: %v", in.name, err)
		}
		modes := []VideoMode{VideoAuto, VideoH264}
		if hdr.video != nil && codecFamily(hdr.video) != "h264" {
			modes = append(modes, VideoCopy)
		}
		for _, vm := range modes {
			for _, lat := range []Latency{Low, Normal} {
				t.Run(fmt.Sprintf("%s/video=%s/latency=%s", in.name, vm, lat), func(t *testing.T) {
					t.Parallel()
					o := testOptions(t.TempDir())
					o.Video, o.Latency = vm, lat
					o.TimeURL = "http://127.0.0.1:1/time"
					f, err := os.Open(in.path)
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					var log bytes.Buffer
					o.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
					err = Run(context.Background(), f, o)
					if vm == VideoCopy && codecFamily(hdr.video) == "vp8" {
						if !errors.Is(err, ErrUnsupported) {
							t.Fatalf("copy of VP8: %v, want ErrUnsupported", err)
						}
						return
					}
					if err != nil {
						t.Fatalf("Run: %v\n%s", err, log.String())
					}
					copied := hdr.video != nil && (vm == VideoCopy || vm == VideoAuto && codecFamily(hdr.video) == "h264")
					checkPresentation(t, o, in.path, hdr, copied)
				})
			}
		}
	}
}

func checkPresentation(t *testing.T, o Options, inPath string, hdr input, copied bool) {
	t.Helper()
	dir, seg := o.Out, o.segment()
	m := readMPD(t, dir)
	if m.Type != "static" {
		t.Errorf("MPD type %q after the end of input, want static", m.Type)
	}
	if m.AvailabilityStartTime != "" || len(m.UTCTiming) != 0 {
		t.Errorf("static MPD with a live timeline: availabilityStartTime %q, UTCTiming %+v", m.AvailabilityStartTime, m.UTCTiming)
	}
	mpdDur, err := isoDuration(m.MediaPresentationDuration)
	if err != nil {
		t.Error(err)
	}
	for _, as := range m.Periods[0].AdaptationSets {
		for _, r := range as.Representations {
			if !strings.HasSuffix(as.MimeType, "/mp4") || r.Bandwidth == 0 || r.Codecs == "" {
				t.Errorf("representation %s: mimeType %q codecs %q bandwidth %d", r.ID, as.MimeType, r.Codecs, r.Bandwidth)
			}
			// A recording's static MPD lists every segment with its exact duration.
			tpl := r.Template
			var sum int64
			for _, s := range tpl.Timeline {
				sum += s.D * int64(s.R+1)
			}
			if got := time.Duration(sum) * time.Second / time.Duration(max(tpl.Timescale, 1)); got-mpdDur > seg || mpdDur-got > seg {
				t.Errorf("representation %s: SegmentTimeline %v adds up to %v, the MPD lasts %v", r.ID, tpl.Timeline, got, mpdDur)
			}
		}
	}
	for uri, pl := range readHLS(t, dir) {
		if !pl.ended {
			t.Errorf("%s has no #EXT-X-ENDLIST", uri)
		}
		for _, s := range append([]string{pl.init}, pl.segments...) {
			if _, err := os.Stat(filepath.Join(dir, s)); err != nil {
				t.Errorf("%s names a missing file: %v", uri, err)
			}
		}
	}

	kinds := []string{}
	if hdr.video != nil {
		kinds = append(kinds, "v")
	}
	if hdr.audio != nil && o.Audio != AudioNone {
		kinds = append(kinds, "a")
	}
	for id, kind := range kinds {
		want := probe(t, inPath, nil, kind)
		init, segs := representation(t, dir, id)
		if len(segs) == 0 {
			t.Fatalf("representation %d has no segments", id)
		}
		got := probe(t, "-", concat(t, init, segs), kind)
		if got.errors != "" {
			t.Errorf("representation %d (%s): decoding errors:\n%s", id, kind, got.errors)
		}
		if d := got.duration - want.duration; d > seg || d < -seg {
			t.Errorf("representation %d (%s): duration %v, input %v: more than one segment apart", id, kind, got.duration, want.duration)
		}
		if kind == "v" {
			// A copied input with keyframes further apart than a segment cannot have
			// every segment start with one (see the packager); the others must.
			if !copied || !strings.Contains(inPath, "kf5s") {
				checkSegmentsStandAlone(t, init, segs)
			}
			if d := got.frames - want.frames; d*50 > want.frames || -d*50 > want.frames {
				t.Errorf("video: %d frames, input %d: more than 2%% apart", got.frames, want.frames)
			}
			if d := mpdDur - want.duration; d > seg || d < -seg {
				t.Errorf("MPD duration %v, input %v: more than one segment apart", mpdDur, want.duration)
			}
		}
		t.Logf("representation %d (%s, copy=%v): %d segments, %d frames, %v (input %d frames, %v)",
			id, kind, copied && kind == "v", len(segs), got.frames, got.duration, want.frames, want.duration)
	}
}

// checkSegmentsStandAlone reads each media segment after the init segment alone, as a
// player joining there does: it must start with a keyframe and demux without an error.
// (Decoding is checked on the whole representation.)
func checkSegmentsStandAlone(t *testing.T, init string, segs []string) {
	t.Helper()
	for _, seg := range segs {
		cmd := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=flags", "-of", "csv=p=0", "-")
		cmd.Stdin = bytes.NewReader(concat(t, init, []string{seg}))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 || !strings.HasPrefix(string(out), "K") {
			t.Errorf("%s alone: %v, errors %q, first packet flags %.3q", filepath.Base(seg), err, stderr.String(), out)
		}
	}
}

func TestLadder(t *testing.T) {
	testenv.RequireFFmpeg(t)
	in := inputNamed(t, "h264-opus-kf1s.webm")
	o := testOptions(t.TempDir())
	o.Ladder = []int{1080, 240, 120}
	w := &warnings{}
	o.Log = slog.New(w)
	f, err := os.Open(in.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Run(context.Background(), f, o); err != nil {
		t.Fatal(err)
	}
	m := readMPD(t, o.Out)
	video := m.Periods[0].AdaptationSets[0]
	if video.ContentType != "video" || len(video.Representations) != 2 {
		t.Fatalf("video adaptation set %+v: want 2 representations (1080p skipped)", video)
	}
	for i, h := range []int{240, 120} {
		r := video.Representations[i]
		init, segs := representation(t, o.Out, i)
		// The bandwidth is the measured peak: at least the mean bitrate of the segments.
		var bytes int64
		for _, s := range segs {
			fi, err := os.Stat(s)
			if err != nil {
				t.Fatal(err)
			}
			bytes += fi.Size()
		}
		mpdDur, _ := isoDuration(m.MediaPresentationDuration)
		mean := int(float64(bytes*8) / mpdDur.Seconds())
		if r.Height != h || r.Bandwidth < mean || r.Bandwidth > 4*mean {
			t.Errorf("representation %d: %dx%d at %d b/s, want height %d, at least the mean %d b/s", i, r.Width, r.Height, r.Bandwidth, h, mean)
		}
		if p := probe(t, "-", concat(t, init, segs), "v"); p.errors != "" || p.frames == 0 {
			t.Errorf("representation %d: %d frames, errors %q", i, p.frames, p.errors)
		}
	}
	if warned := w.messages(); len(warned) != 1 || !strings.Contains(warned[0], "1080p") {
		t.Errorf("warnings %q, want one about 1080p", warned)
	}
	if hls := readHLS(t, o.Out); len(hls) != 3 {
		t.Errorf("HLS has %d media playlists, want 3 (two video, one audio)", len(hls))
	}
}

func TestKeyframeWarning(t *testing.T) {
	testenv.RequireFFmpeg(t)
	for _, c := range []struct {
		name string
		warn bool
	}{{"h264-opus-kf5s.webm", true}, {"h264-opus-kf1s.webm", false}} {
		t.Run(c.name, func(t *testing.T) {
			o := testOptions(t.TempDir())
			w := &warnings{}
			o.Log = slog.New(w)
			f, err := os.Open(inputNamed(t, c.name).path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := Run(context.Background(), f, o); err != nil {
				t.Fatal(err)
			}
			warned := w.messages()
			if got := len(warned) == 1 && strings.Contains(warned[0], "keyframe only every"); got != c.warn {
				t.Errorf("warnings %q, want a keyframe warning: %v", warned, c.warn)
			}
		})
	}
}

// TestBadInput: input that is not media, or stops too early, fails with an error that says
// so, before or after FFmpeg, and leaves no manifest.
func TestBadInput(t *testing.T) {
	testenv.RequireFFmpeg(t)
	good, err := os.ReadFile(inputNamed(t, "h264-opus-kf1s.webm").path)
	if err != nil {
		t.Fatal(err)
	}
	var headerEnd int64
	media.Scan(bytes.NewReader(good), func(e media.Event) error {
		if e.Kind == media.EventHeader {
			headerEnd = e.Offset
		}
		return nil
	})
	noise := make([]byte, 100_000)
	rand.Read(noise)
	for _, c := range []struct {
		name string
		in   []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrNoInput, "no input"},
		{"random", noise, media.ErrNotMedia, "not a WebM or MP4 stream"},
		{"3 bytes", good[:3], media.ErrNotMedia, "only 3 bytes"},
		{"truncated header", good[:headerEnd/2], ErrTruncated, "ends inside its header"},
		{"header only", good[:headerEnd+12], ErrTruncated, "before its first media frame"},
		{"text", []byte(strings.Repeat("GET / HTTP/1.1\r\n", 10)), media.ErrNotMedia, "47 45 54 20"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := testOptions(t.TempDir())
			err := Run(context.Background(), bytes.NewReader(c.in), o)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("Run = %v, want %v saying %q", err, c.want, c.msg)
			}
			if _, err := os.Stat(filepath.Join(o.Out, "manifest.mpd")); err == nil {
				t.Errorf("a manifest was left behind")
			}
		})
	}
}

func TestFFmpegMissing(t *testing.T) {
	o := testOptions(t.TempDir())
	o.FFmpeg = filepath.Join(t.TempDir(), "no-ffmpeg")
	err := Run(context.Background(), strings.NewReader("x"), o)
	if want := "ffmpeg not found: " + o.FFmpeg; !errors.Is(err, ffmpeg.ErrNotFound) || err.Error() != want {
		t.Errorf("Run = %v, want ErrNotFound saying %q", err, want)
	}
}

func TestOutputDirectory(t *testing.T) {
	testenv.RequireFFmpeg(t)
	path := inputNamed(t, "h264-video-only.webm").path
	run := func(o Options) error {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return Run(context.Background(), f, o)
	}
	write := func(path string) {
		if err := os.WriteFile(path, []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("foreign file", func(t *testing.T) {
		o := testOptions(t.TempDir())
		write(filepath.Join(o.Out, "thesis.tex"))
		if err := run(o); !errors.Is(err, ErrNotOurs) || !strings.Contains(err.Error(), "thesis.tex") {
			t.Fatalf("Run = %v, want ErrNotOurs naming the file", err)
		}
		o.Force = true
		if err := run(o); err != nil {
			t.Fatalf("with Force: %v", err)
		}
		if b, err := os.ReadFile(filepath.Join(o.Out, "thesis.tex")); err != nil || string(b) != "mine" {
			t.Errorf("Force touched a file Run does not write: %v", err)
		}
	})
	t.Run("another tool's output", func(t *testing.T) {
		o := testOptions(t.TempDir())
		write(filepath.Join(o.Out, "manifest.mpd"))
		if err := run(o); !errors.Is(err, ErrNotOurs) {
			t.Fatalf("Run = %v, want ErrNotOurs (no marker)", err)
		}
	})
	t.Run("our own output", func(t *testing.T) {
		o := testOptions(filepath.Join(t.TempDir(), "new", "dir"))
		if err := run(o); err != nil {
			t.Fatal(err)
		}
		_, first := representation(t, o.Out, 0)
		stale := filepath.Join(o.Out, "chunk-stream0-99999.m4s") // as sv versions without runs named them
		write(stale)
		if err := run(o); err != nil {
			t.Fatalf("second run over our own output: %v", err)
		}
		if _, err := os.Stat(stale); err == nil {
			t.Errorf("a stale segment of an earlier run survived")
		}
		// Segments are served as immutable: a second run must not reuse a name.
		_, second := representation(t, o.Out, 0)
		if len(first) == 0 || len(second) != len(first) {
			t.Fatalf("segments: %d in the first run, %d in the second", len(first), len(second))
		}
		for _, p := range second {
			if slices.Contains(first, p) {
				t.Errorf("the second run wrote %s again", filepath.Base(p))
			}
		}
		for _, p := range first {
			if fileExists(p) {
				t.Errorf("the first run's %s survived the second", filepath.Base(p))
			}
		}
	})
	t.Run("beside sv frames' output", func(t *testing.T) {
		// The pipe setup puts frames.jsonl in the stream's folder, before or after sv dash
		// writes there: it is neither foreign nor ever deleted.
		o := testOptions(t.TempDir())
		write(filepath.Join(o.Out, stream.Analysis))
		if err := run(o); err != nil {
			t.Fatalf("first run beside frames.jsonl: %v", err)
		}
		if err := run(o); err != nil {
			t.Fatalf("second run beside frames.jsonl: %v", err)
		}
		if b, err := os.ReadFile(filepath.Join(o.Out, stream.Analysis)); err != nil || string(b) != "mine" {
			t.Errorf("frames.jsonl was touched: %v", err)
		}
	})
	t.Run("not a directory", func(t *testing.T) {
		o := testOptions(filepath.Join(t.TempDir(), "file"))
		write(o.Out)
		if err := run(o); err == nil {
			t.Fatal("Run into a file succeeded")
		}
	})
}

// watchDir polls dir and records when each name first appeared, and what each playlist
// held then.
type watchDir struct {
	mu       sync.Mutex
	first    map[string]time.Time
	playlist map[string][]byte
}

func watch(ctx context.Context, dir string) *watchDir {
	w := &watchDir{first: map[string]time.Time{}, playlist: map[string][]byte{}}
	go func() {
		for ctx.Err() == nil {
			entries, _ := os.ReadDir(dir)
			now := time.Now()
			w.mu.Lock()
			for _, e := range entries {
				if _, ok := w.first[e.Name()]; !ok {
					w.first[e.Name()] = now
					if strings.HasSuffix(e.Name(), ".m3u8") {
						w.playlist[e.Name()], _ = os.ReadFile(filepath.Join(dir, e.Name()))
					}
				}
			}
			w.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return w
}

// seen returns when a name matching pattern (path.Match) first appeared.
func (w *watchDir) seen(pattern string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for name, at := range w.first {
		if ok, _ := path.Match(pattern, name); ok {
			return at, true
		}
	}
	return time.Time{}, false
}

// startup is what a real-time run measured.
type startup struct {
	fragment time.Duration // first byte -> first media segment file (in progress)
	segment  time.Duration // first byte -> first complete media segment
	playlist time.Duration // first byte -> the first video media playlist
	first    []byte        // that playlist as it was first seen
}

// realtime publishes path in real time into Run and returns when the first segment is
// complete; stop ends the input (cancel=false) or Run (cancel=true) and returns Run's error.
func realtime(t testing.TB, path string, o Options) (startup, func(cancel bool) error) {
	t.Helper()
	p := newPacer(t, path, 250*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	pctx, pcancel := context.WithCancel(context.Background())
	w := watch(pctx, o.Out)
	pr, pw := io.Pipe()
	first := make(chan time.Time, 1)
	go p.run(pctx, pw, func() { first <- time.Now() })
	done := make(chan error, 1)
	go func() { done <- Run(ctx, pr, o) }()
	stop := func(cancelRun bool) error {
		if cancelRun {
			cancel()
		}
		defer pcancel()
		defer cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(p.duration() + testenv.Hang):
			t.Fatal("Run did not return")
			return nil
		}
	}
	start := <-first
	deadline := time.Now().Add(testenv.Hang)
	for {
		seg, ok := w.seen("chunk-stream0-*-00001.m4s")
		pl, plOK := w.seen("media_0.m3u8")
		if ok && plOK {
			frag, _ := w.seen("chunk-stream0-*-00001.m4s.tmp")
			w.mu.Lock()
			first := w.playlist["media_0.m3u8"]
			w.mu.Unlock()
			return startup{fragment: frag.Sub(start), segment: seg.Sub(start), playlist: pl.Sub(start), first: first}, stop
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned before the first segment: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no segment after %s", testenv.Hang)
		}
	}
}

// TestRealtimeCopy publishes in real time and copies: segments during the stream, a dynamic
// low-latency MPD that dash.js recognizes during the stream, old segments deleted, a static
// MPD after the end. (How soon the first segment comes, BenchmarkStartup measures.)
func TestRealtimeCopy(t *testing.T) {
	testenv.RequireFFmpeg(t)
	path := longInput(t)
	o := Options{Out: t.TempDir(), Window: 1, TimeURL: "http://127.0.0.1:1/time"}
	var mu sync.Mutex
	var last Progress
	reports := 0
	o.Progress = func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		last = p
		reports++
	}
	st, stop := realtime(t, path, o)
	t.Logf("copy: first fragment %v, first segment %v after the first byte", st.fragment, st.segment)
	// A media playlist of parts alone is an error to hls.js: none is written before the
	// first segment is complete (sv serve holds the requests for it until then).
	if st.playlist < st.segment || !bytes.Contains(st.first, []byte("#EXTINF:")) {
		t.Errorf("media_0.m3u8 written %v after the first byte (the first complete segment: %v), listing no segment:\n%s", st.playlist, st.segment, st.first)
	}
	// FFmpeg renames a finished segment a moment before it rewrites the manifest, and a
	// representation's ProducerReferenceTime appears in the first manifest written after its
	// first segment: read until that rewrite.
	m := readMPD(t, o.Out)
	for wait := time.Now().Add(testenv.Hang); len(m.Periods[0].AdaptationSets[0].Representations[0].PRFT) == 0 && time.Now().Before(wait); {
		time.Sleep(10 * time.Millisecond)
		m = readMPD(t, o.Out)
	}
	if m.Type != "dynamic" || m.AvailabilityStartTime == "" {
		t.Errorf("MPD during the stream: type %q, availabilityStartTime %q", m.Type, m.AvailabilityStartTime)
	}
	if sd := m.ServiceDescription; sd == nil || sd.Latency == nil || int64(sd.Latency.Target) != DefaultTargetLatency.Milliseconds() || sd.PlaybackRate == nil {
		t.Errorf("MPD has no ServiceDescription with a %v target latency and playback rates: %+v", DefaultTargetLatency, sd)
	}
	r := m.Periods[0].AdaptationSets[0].Representations[0]
	if r.Template.ATC != "false" || r.Template.ATO == "" || len(r.PRFT) == 0 {
		t.Errorf("MPD lacks what dash.js's low-latency mode needs: availabilityTimeComplete %q, availabilityTimeOffset %q, ProducerReferenceTime %v",
			r.Template.ATC, r.Template.ATO, r.PRFT)
	}
	if err := stop(false); err != nil {
		t.Fatal(err)
	}
	if m := readMPD(t, o.Out); m.MediaPresentationDuration == "" {
		t.Errorf("MPD after the end: no mediaPresentationDuration, the end of a live presentation")
	}
	mu.Lock()
	size, _ := os.Stat(path)
	if reports < 10 || last.InputBytes != size.Size() || last.Frames < 100 || last.Segments < 5 || last.OutTime < 5*time.Second {
		t.Errorf("%d progress reports, the last %+v: want about 2 a second, counting the input's %d bytes, frames and segments",
			reports, last, size.Size())
	}
	mu.Unlock()
	if fileExists(filepath.Join(o.Out, "chunk-stream0-*-00001.m4s")) {
		t.Errorf("with a window of 1, the first segment is still on disk at the end")
	}
	if _, segs := representation(t, o.Out, 0); len(segs) > 1+5+1 {
		t.Errorf("%d segments on disk, want at most window+5+1", len(segs))
	}
}

// TestRealtimeTranscode publishes in real time and transcodes with the default preset; an
// interrupt in the middle of the stream finalizes the presentation. (How soon the first
// segment comes and how long the interrupt takes, BenchmarkStartup measures.)
func TestRealtimeTranscode(t *testing.T) {
	testenv.RequireFFmpeg(t)
	o := Options{Out: t.TempDir(), Video: VideoH264, TimeURL: "http://127.0.0.1:1/time"}
	st, stop := realtime(t, longInput(t), o)
	t.Logf("transcode: first fragment %v, first segment %v after the first byte", st.fragment, st.segment)
	waitFile(t, filepath.Join(o.Out, "chunk-stream0-*-00002.m4s"))
	if err := stop(true); err != nil {
		t.Fatalf("Run after an interrupt: %v", err)
	}
	if m := readMPD(t, o.Out); m.MediaPresentationDuration == "" {
		t.Errorf("MPD after an interrupt: no mediaPresentationDuration, the end of a live presentation")
	}
}

// TestFFmpegKilled kills FFmpeg in the middle of a stream, while the input flows and while
// it is silent: Run fails at once saying so, with FFmpeg's last words, and no manifest claims
// the stream is still live.
func TestFFmpegKilled(t *testing.T) {
	testenv.RequireFFmpeg(t)
	t.Parallel()
	path := inputNamed(t, "h264-opus-kf1s.webm").path
	for _, idle := range []bool{false, true} {
		t.Run(fmt.Sprintf("idle=%v", idle), func(t *testing.T) {
			dir := t.TempDir()
			wrapper, kill := killableFFmpeg(t, dir)
			o := Options{Out: filepath.Join(dir, "out"), FFmpeg: wrapper, TimeURL: "http://127.0.0.1:1/time"}
			var stop func() error
			if idle {
				// Half the recording at once, then nothing: only FFmpeg's exit can end Run.
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				pr, pw := io.Pipe()
				defer pw.Close()
				go pw.Write(data[:len(data)/2])
				done := make(chan error, 1)
				go func() { done <- Run(context.Background(), pr, o) }()
				waitFile(t, filepath.Join(o.Out, "chunk-stream0-*-00002.m4s"))
				stop = func() error {
					select {
					case err := <-done:
						return err
					case <-time.After(testenv.Hang):
						t.Fatalf("Run did not return within %s of FFmpeg's death", testenv.Hang)
						return nil
					}
				}
			} else {
				_, stopRun := realtime(t, path, o)
				stop = func() error { return stopRun(false) }
			}
			kill()
			err := stop()
			var ee *ffmpeg.ExitError
			if !errors.As(err, &ee) || !strings.Contains(err.Error(), "killed") {
				t.Fatalf("Run = %v, want an *ffmpeg.ExitError saying it was killed", err)
			}
			if isLive(o.Out) {
				t.Error("a manifest still claims the stream is live")
			}
		})
	}

	// A run that continues the presentation after the kill: the audio the killed FFmpeg
	// had not written (its encoder's delay, the fragment in progress) leaves no hole.
	t.Run("goes on", func(t *testing.T) {
		dir := t.TempDir()
		wrapper, kill := killableFFmpeg(t, dir)
		o := Options{Out: filepath.Join(dir, "out"), FFmpeg: wrapper, TimeURL: "http://127.0.0.1:1/time", Presentation: &Presentation{}, Window: 100}
		_, stopRun := realtime(t, path, o)
		kill()
		if err := stopRun(false); err == nil {
			t.Fatal("Run of the killed FFmpeg: no error")
		}
		o.FFmpeg = "" // the real one
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := Run(context.Background(), f, o); err != nil {
			t.Fatal(err)
		}
		checkAudioHoles(t, o.Presentation)
		if err := o.Presentation.End(); err != nil {
			t.Fatal(err)
		}
	})
}

// killableFFmpeg returns an FFmpeg in dir that runs the real one, and a function that
// kills the last one it started.
func killableFFmpeg(t *testing.T, dir string) (path string, kill func()) {
	t.Helper()
	real, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "pid")
	path = filepath.Join(dir, "ffmpeg")
	script := fmt.Sprintf("#!/bin/sh\necho $$ > %s\nexec %s \"$@\"\n", pidFile, real)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, func() {
		t.Helper()
		b, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFile waits for a file matching path, a filepath.Match pattern.
func waitFile(t testing.TB, path string) {
	t.Helper()
	testenv.WaitFor(t, filepath.Base(path), func() bool { return fileExists(path) })
}

var (
	longOnce sync.Once
	longPath string
	longErr  error
)

// longInput is a 10 s H.264 + Opus WebM at 640x480, 30 fps, keyframes every second: the
// capture page's settings. The testdata recording is used when present.
func longInput(t testing.TB) string {
	t.Helper()
	if p := filepath.Join("..", "testdata", "h264-opus-kf1s.webm"); fileExists(p) {
		return p
	}
	longOnce.Do(func() {
		inputs(t) // makes genDir
		longPath = filepath.Join(genDir, "long-h264-opus.webm")
		longErr = generate(longPath, 10*time.Second, "640x480", generated["h264-opus-kf1s.webm"])
	})
	if longErr != nil {
		t.Fatal(longErr)
	}
	return longPath
}

// fileExists reports whether a file matches p, a filepath.Match pattern.
func fileExists(p string) bool { m, _ := filepath.Glob(p); return len(m) > 0 }

// TestPresentationGoesOn runs twice into one Presentation, as sv all does when the
// packager's FFmpeg dies or the publisher reconnects: the second run continues the first's
// presentation (the same availabilityStartTime, a second Period from where the first
// ended, each track's numbers going on; in HLS a discontinuity and the same media
// sequence), which stays live until End, when the manifests say it has ended.
func TestPresentationGoesOn(t *testing.T) {
	testenv.RequireFFmpeg(t)
	in := inputNamed(t, "h264-opus-kf1s.webm")
	o := Options{Out: t.TempDir(), Window: 100, TimeURL: "http://127.0.0.1:1/time", Presentation: &Presentation{}}
	run := func() {
		f, err := os.Open(in.path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := Run(context.Background(), f, o); err != nil {
			t.Fatal(err)
		}
	}
	run()
	first := readMPD(t, o.Out)
	if first.MediaPresentationDuration != "" || len(first.Periods) != 1 {
		t.Fatalf("after the first run: duration %q, %d periods; want live, one period", first.MediaPresentationDuration, len(first.Periods))
	}
	_, segs := representation(t, o.Out, 0)
	// Between runs, the period is closed: it lists exactly its segments, so that players
	// ask for none after its last.
	listed := func(m *mpd, period int) (n int) {
		tmpl := m.Periods[period].AdaptationSets[0].Representations[0].Template
		if tmpl.Duration != 0 || tmpl.ATO != "" {
			return -1
		}
		for _, s := range tmpl.Timeline {
			n += s.R + 1
		}
		return n
	}
	if n := listed(first, 0); n != len(segs) {
		t.Errorf("between runs, the video's period lists %d segments by a SegmentTimeline, want its %d", n, len(segs))
	}
	run()
	m := readMPD(t, o.Out)
	if n := listed(m, 0); n != len(segs) {
		t.Errorf("after the second run, the first period lists %d segments by a SegmentTimeline, want its %d", n, len(segs))
	}
	if m.AvailabilityStartTime != first.AvailabilityStartTime || len(m.Periods) != 2 || m.MediaPresentationDuration != "" {
		t.Fatalf("after the second run: availabilityStartTime %q (was %q), %d periods, duration %q",
			m.AvailabilityStartTime, first.AvailabilityStartTime, len(m.Periods), m.MediaPresentationDuration)
	}
	for i, as := range m.Periods[1].AdaptationSets {
		r := as.Representations[0]
		prev := first.Periods[0].AdaptationSets[i].Representations[0]
		if r.Template.Init == prev.Template.Init || r.Template.Media != prev.Template.Media {
			t.Errorf("representation %s: init %q, media %q in the second period; first %q, %q", r.ID, r.Template.Init, r.Template.Media, prev.Template.Init, prev.Template.Media)
		}
	}
	checkAudioHoles(t, o.Presentation)
	if r := m.Periods[1].AdaptationSets[0].Representations[0]; r.Template.StartNumber != len(segs)+1 {
		t.Errorf("video's second period starts at segment %d, want %d", r.Template.StartNumber, len(segs)+1)
	}
	b, err := os.ReadFile(filepath.Join(o.Out, "media_0.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	if pl := string(b); strings.Count(pl, "#EXT-X-DISCONTINUITY\n") != 1 || strings.Count(pl, "#EXT-X-MAP:") != 2 || strings.Contains(pl, "#EXT-X-ENDLIST") {
		t.Errorf("media_0.m3u8 after the second run, want one discontinuity, two maps, no end:\n%s", pl)
	}
	if err := o.Presentation.End(); err != nil {
		t.Fatal(err)
	}
	if m := readMPD(t, o.Out); m.MediaPresentationDuration == "" || len(m.Periods) != 2 || listed(m, 0) != len(segs) {
		t.Errorf("after End: duration %q, %d periods, the first listing %d segments", m.MediaPresentationDuration, len(m.Periods), listed(m, 0))
	}
	for uri, pl := range readHLS(t, o.Out) {
		if !pl.ended {
			t.Errorf("%s has no #EXT-X-ENDLIST after End", uri)
		}
	}
}

// checkAudioHoles checks that at each period change of pr, every audio track resumes
// no later after its last segment than the video does after its own: an HLS player
// places the audio by the video's timestamps, and must find no hole in it. And that no
// period's audio ends after its video.
func checkAudioHoles(t *testing.T, pr *Presentation) {
	t.Helper()
	pr.mu.Lock()
	p := &pr.pk.p
	pr.mu.Unlock()
	// gaps returns how long track tr's media pauses before the first segment of each
	// period after the first.
	gaps := func(tr *track) map[int]time.Duration {
		g := make(map[int]time.Duration)
		for i := 1; i < len(tr.segs); i++ {
			prev, s := tr.segs[i-1], tr.segs[i]
			if s.period != prev.period {
				g[s.period] = time.Duration(tr.seconds(s.start)*float64(time.Second)) - time.Duration(tr.seconds(prev.start+prev.duration)*float64(time.Second))
			}
		}
		return g
	}
	// ends returns where track tr's media ends in each period.
	ends := func(tr *track) map[int]time.Duration {
		e := make(map[int]time.Duration)
		for _, s := range tr.segs {
			e[s.period] = time.Duration(tr.seconds(s.start+s.duration) * float64(time.Second))
		}
		return e
	}
	video, videoEnds := gaps(p.tracks[0]), ends(p.tracks[0])
	if len(video) == 0 {
		t.Fatalf("no period change in the video's %d segments", len(p.tracks[0].segs))
	}
	for _, tr := range p.tracks {
		if tr.kind != audioTrack {
			continue
		}
		for per, g := range gaps(tr) {
			t.Logf("period %d: the video resumes %v after its end, audio track %d %v after its own", per, video[per], tr.id, g)
			if hole := g - max(video[per], 0); hole > time.Millisecond {
				t.Errorf("period %d: audio track %d resumes %v after its end, the video %v: a hole of %v", per, tr.id, g, video[per], hole)
			}
		}
		// Every run's audio ends with its video, not after it (holdAudio).
		for per, end := range ends(tr) {
			if v, ok := videoEnds[per]; ok && end > v+time.Millisecond {
				t.Errorf("period %d: audio track %d ends at %v, %v after the video", per, tr.id, end, end-v)
			}
		}
	}
}

// TestAudioOutlastsVideo packages an input whose video stops two seconds before its
// audio, as a camera does that freezes while the microphone goes on. The audio waits for
// the video (holdAudio) no longer than a segment's span: it goes on about a segment
// behind, and of what the video never reached, no more than that span is left out.
func TestAudioOutlastsVideo(t *testing.T) {
	testenv.RequireFFmpeg(t)
	in := filepath.Join(t.TempDir(), "short-video.webm")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=1",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3",
		"-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-g", "30",
		"-c:a", "libopus", "-f", "matroska", in).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o := Options{Out: t.TempDir(), Window: 100, TimeURL: "http://127.0.0.1:1/time", Presentation: &Presentation{}}
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), f, o) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testenv.Hang):
		t.Fatal("Run did not return: the audio waits for a video that has ended")
	}
	o.Presentation.mu.Lock()
	p := &o.Presentation.pk.p
	o.Presentation.mu.Unlock()
	end := func(tr *track) time.Duration {
		s := tr.segs[len(tr.segs)-1]
		return time.Duration(tr.seconds(s.start+s.duration) * float64(time.Second))
	}
	video := end(p.tracks[0])
	for _, tr := range p.tracks[1:] {
		a := end(tr)
		t.Logf("the video ends at %v, audio track %d at %v", video, tr.id, a)
		if a < video+p.seg/2 {
			t.Errorf("audio track %d ends at %v, the video at %v: the audio stopped with the video", tr.id, a, video)
		}
		if lost := 3*time.Second - a; lost > p.seg+100*time.Millisecond {
			t.Errorf("audio track %d ends at %v of 3s: more than a segment (%v) left out", tr.id, a, p.seg)
		}
	}
}
