package frames

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"

	"github.com/svtool/sv/ffmpeg"
)

// result collects what Run emitted.
type result struct {
	frames  []Frame
	events  []Event
	summary *Summary
}

func (r *result) emit(rec Record) error {
	switch v := rec.(type) {
	case *Frame:
		r.frames = append(r.frames, *v)
	case *Event:
		r.events = append(r.events, *v)
	case *Summary:
		s := *v
		r.summary = &s
	}
	return nil
}

func (r *result) eventsOf(types ...EventType) []Event {
	var out []Event
	for _, e := range r.events {
		for _, t := range types {
			if e.Type == t {
				out = append(out, e)
			}
		}
	}
	return out
}

func runFile(t *testing.T, path string, o Options) *result {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r result
	if err := Run(context.Background(), f, r.emit, o); err != nil {
		t.Fatalf("Run(%s): %v", filepath.Base(path), err)
	}
	if r.summary == nil {
		t.Fatalf("Run(%s): no summary", filepath.Base(path))
	}
	return &r
}

// lavfi makes a test input with FFmpeg: H.264 (Constrained Baseline, as browsers record
// it) in Matroska, from a filter graph of lavfi sources. Timestamps are kept exactly as
// the graph makes them (millisecond time base, no frame rate rounding).
func lavfi(t *testing.T, name, graph string) string {
	t.Helper()
	testenv.RequireFFmpeg(t)
	out := filepath.Join(t.TempDir(), name+".mkv")
	cmd := exec.Command("ffmpeg", "-v", "error", "-filter_complex", graph,
		"-fps_mode", "passthrough", "-enc_time_base", "1:1000",
		"-c:v", "libx264", "-profile:v", "baseline", "-preset", "veryfast", "-pix_fmt", "yuv420p",
		"-f", "matroska", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", graph, err, b)
	}
	return out
}

// probePTS returns the presentation timestamps in ms of the decoded video frames of path,
// as ffprobe sees them.
func probePTS(t *testing.T, path string) []int64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "frame=pts_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var pts []int64
	for _, l := range strings.Fields(string(out)) {
		v, err := strconv.ParseFloat(strings.TrimSuffix(l, ","), 64)
		if err != nil {
			t.Fatalf("ffprobe %s: %q", path, l)
		}
		pts = append(pts, int64(math.Round(v*1000)))
	}
	return pts
}

// checkPTS compares every analysed frame's timestamp with ffprobe's.
func checkPTS(t *testing.T, path string, r *result) {
	t.Helper()
	want := probePTS(t, path)
	if len(r.frames) != len(want) || r.summary.Frames != int64(len(want)) {
		t.Fatalf("%s: %d frames (summary %d), ffprobe counts %d", filepath.Base(path), len(r.frames), r.summary.Frames, len(want))
	}
	for i, f := range r.frames {
		if f.PTS.Milliseconds() != want[i] || f.N != int64(i) {
			t.Fatalf("%s: frame %d (n %d) at %d ms, ffprobe says %d ms", filepath.Base(path), i, f.N, f.PTS.Milliseconds(), want[i])
		}
	}
}

// withinFrame checks that an event is at most one frame (of the given rate) from the truth.
func withinFrame(t *testing.T, what string, got, want time.Duration, fps float64) {
	t.Helper()
	if d := got - want; d.Abs() > time.Duration(float64(time.Second)/fps)+time.Millisecond {
		t.Errorf("%s at %v, want %v (±1 frame)", what, got, want)
	}
}

func TestRunSceneCuts(t *testing.T) {
	t.Parallel()
	in := lavfi(t, "cuts", "testsrc2=s=320x240:r=30:d=1[a];smptebars=s=320x240:r=30:d=1[b];"+
		"rgbtestsrc=s=320x240:r=30:d=1[c];mandelbrot=s=320x240:r=30,trim=duration=1[d];"+
		"[a][b][c][d]concat=n=4,format=yuv420p")
	r := runFile(t, in, Options{})
	checkPTS(t, in, r)
	cuts := r.eventsOf(SceneCut)
	if len(cuts) != 3 || r.summary.SceneCuts != 3 {
		t.Fatalf("scene cuts %+v, want 3", cuts)
	}
	for i, c := range cuts {
		withinFrame(t, "scene cut", c.PTS, time.Duration(i+1)*time.Second, 30)
		if c.Score < DefaultSceneThreshold || r.frames[c.N].Scene != c.Score {
			t.Errorf("cut %+v: score does not match frame %+v", c, r.frames[c.N])
		}
	}
}

func TestRunBlackAndFreeze(t *testing.T) {
	t.Parallel()
	// 30 fps for 5 s: black from 1 s to 2.5 s; frames 90 to 134 (3 s to 4.5 s) frozen.
	in := lavfi(t, "blackfreeze", "testsrc2=s=320x240:r=30:d=5,"+
		"drawbox=enable='gte(t,1)*lt(t,2.5)':color=black:t=fill,split[x][y];"+
		"[x][y]freezeframes=first=90:last=134:replace=90,format=yuv420p")
	r := runFile(t, in, Options{BlackMin: time.Second, FreezeMin: time.Second})
	checkPTS(t, in, r)
	black := r.eventsOf(BlackStart, BlackEnd)
	if len(black) != 2 || black[0].Type != BlackStart || black[1].Type != BlackEnd {
		t.Fatalf("black events %+v", black)
	}
	withinFrame(t, "black_start", black[0].PTS, time.Second, 30)
	withinFrame(t, "black_end", black[1].PTS, 2500*time.Millisecond, 30)
	if black[1].Duration != black[1].PTS-black[0].PTS || r.summary.Blacks != 1 {
		t.Errorf("black end %+v, summary %+v", black[1], r.summary)
	}
	// The black stretch is also frozen; the frozen one is what is not black.
	var found bool
	freeze := r.eventsOf(FreezeStart, FreezeEnd)
	for i := 0; i+1 < len(freeze); i += 2 {
		start, end := freeze[i], freeze[i+1]
		if start.Type != FreezeStart || end.Type != FreezeEnd {
			t.Fatalf("freeze events out of order: %+v", freeze)
		}
		if start.PTS > 2*time.Second {
			found = true
			withinFrame(t, "freeze_start", start.PTS, 3*time.Second, 30)
			withinFrame(t, "freeze_end", end.PTS, 4500*time.Millisecond, 30)
		}
	}
	if !found {
		t.Errorf("no freeze from 3 s: %+v", freeze)
	}
}

func TestRunVariableFrameRate(t *testing.T) {
	t.Parallel()
	// Timestamps 33 ms apart plus 0 to 12 ms of jitter, and a 400 ms hole, as a browser
	// under load records them.
	in := lavfi(t, "vfr", "testsrc2=s=320x240:r=30:d=3,settb=1/1000,"+
		"setpts='(N*33+mod(N*7,13)+gte(N,40)*400)/1000/TB',format=yuv420p")
	r := runFile(t, in, Options{})
	checkPTS(t, in, r)
	if gap := r.frames[40].PTS - r.frames[39].PTS; gap < 400*time.Millisecond {
		t.Errorf("the hole is %v", gap)
	}
	// Guessing timestamps from a frame counter would be wrong.
	guessed := 0
	for i, f := range r.frames {
		if f.PTS == time.Duration(i)*time.Second/30 {
			guessed++
		}
	}
	if guessed > len(r.frames)/2 {
		t.Errorf("%d of %d timestamps fall on a 30 fps grid", guessed, len(r.frames))
	}
}

// encodeGray encodes gray frames drawn by Go with FFmpeg's encoder arguments codec.
func encodeGray(t *testing.T, w, h int, frames [][]byte, fps int, codec ...string) string {
	t.Helper()
	testenv.RequireFFmpeg(t)
	out := filepath.Join(t.TempDir(), "gray.mkv")
	args := []string{"-v", "error", "-f", "rawvideo", "-pix_fmt", "gray",
		"-s", fmt.Sprintf("%dx%d", w, h), "-r", strconv.Itoa(fps), "-i", "pipe:0"}
	args = append(append(args, codec...), "-pix_fmt", "yuv420p", "-f", "matroska", out)
	cmd := exec.Command("ffmpeg", args...)
	cmd.Stdin = bytes.NewReader(bytes.Join(frames, nil))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

func x264(crf int) []string {
	return []string{"-c:v", "libx264", "-profile:v", "baseline", "-preset", "veryfast", "-crf", strconv.Itoa(crf)}
}

func TestRunTimecode(t *testing.T) {
	t.Parallel()
	// A 640x480 capture with the strip over a moving picture, encoded by x264, decoded and
	// analysed at 320 wide: every frame's capture time comes back exactly.
	const w, h, n = 640, 480, 60
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
	var frames [][]byte
	for i := range n {
		p := synthPlane(w, h, i)
		if err := DrawTimecode(p, w, h, w, base+int64(i)*33+int64(i%3)); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, p)
	}
	for name, codec := range map[string][]string{
		"x264 crf 23":  x264(23),
		"x264 crf 35":  x264(35),
		"vp8 300 kb/s": {"-c:v", "libvpx", "-b:v", "300k", "-deadline", "realtime", "-cpu-used", "8"},
	} {
		in := encodeGray(t, w, h, frames, 30, codec...)
		now := time.UnixMilli(base + 5000)
		r := runFile(t, in, Options{now: func() time.Time { return now }})
		if len(r.frames) != n {
			t.Fatalf("%s: %d frames", name, len(r.frames))
		}
		for i, f := range r.frames {
			want := base + int64(i)*33 + int64(i%3)
			if !f.HasTimecode() || f.Capture.UnixMilli() != want {
				t.Errorf("%s: frame %d: capture %v (%v), want %d", name, i, f.Capture.UnixMilli(), f.HasTimecode(), want)
				continue
			}
			if f.Latency != now.Sub(f.Capture) {
				t.Errorf("%s: frame %d: latency %v, want %v", name, i, f.Latency, now.Sub(f.Capture))
			}
		}
		if s := r.summary; s.Timecodes != n || s.LatencyMax != 5000*time.Millisecond {
			t.Errorf("%s: summary %+v", name, s)
		}
	}
	// The same picture without the strip carries no timecode.
	in := encodeGray(t, w, h, [][]byte{synthPlane(w, h, 0), synthPlane(w, h, 1)}, 30, x264(23)...)
	for _, f := range runFile(t, in, Options{}).frames {
		if f.HasTimecode() {
			t.Errorf("frame %d without a strip: capture %v", f.N, f.Capture)
		}
	}
}

func TestRunFPS(t *testing.T) {
	t.Parallel()
	in := lavfi(t, "fps", "testsrc2=s=320x240:r=30:d=4,format=yuv420p")
	all := probePTS(t, in)
	r := runFile(t, in, Options{FPS: 5})
	if r.summary.Frames != int64(len(all)) || r.summary.Analysed != int64(len(r.frames)) {
		t.Fatalf("summary %+v, %d frames decoded", r.summary, len(all))
	}
	if len(r.frames) < 19 || len(r.frames) > 21 {
		t.Errorf("%d frames analysed in 4 s at --fps 5", len(r.frames))
	}
	for i, f := range r.frames {
		if f.PTS.Milliseconds() != all[f.N] {
			t.Errorf("frame n %d at %v, ffprobe says %d ms", f.N, f.PTS, all[f.N])
		}
		if i > 0 && f.PTS-r.frames[i-1].PTS < 150*time.Millisecond {
			t.Errorf("frames at %v and %v", r.frames[i-1].PTS, f.PTS)
		}
	}
}

func TestRunThumbnails(t *testing.T) {
	t.Parallel()
	in := lavfi(t, "thumbs", "testsrc2=s=320x240:r=30:d=2.5[a];smptebars=s=320x240:r=30:d=2.5[b];"+
		"[a][b]concat=n=2,format=yuv420p")
	dir := t.TempDir()
	r := runFile(t, in, Options{ThumbDir: dir, ThumbEvery: 2 * time.Second})
	var files []string
	for _, e := range r.eventsOf(Thumbnail) {
		files = append(files, filepath.Base(e.File))
		f, err := os.Open(e.File)
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", e.File, err)
		}
		if b := img.Bounds(); b.Dx() != 320 || b.Dy() != 240 {
			t.Errorf("%s: %v", e.File, b)
		}
	}
	// Every 2 s from the first frame, and the cut at 2.5 s.
	want := []string{"000000000.jpg", "000002000.jpg", "000002500.jpg", "000004000.jpg"}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Errorf("thumbnails %v, want %v", files, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(want) {
		t.Errorf("%d files in the directory, want %d (no temporary files left)", len(entries), len(want))
	}
	// Colour survives: smptebars' first bar is grey, its third cyan.
	f, _ := os.Open(filepath.Join(dir, "000004000.jpg"))
	img, err := jpeg.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if r, g, b, _ := img.At(100, 50).RGBA(); !(g > r+0x3000 && b > r+0x3000) {
		t.Errorf("cyan bar reads as %x %x %x", r>>8, g>>8, b>>8)
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	testenv.RequireFFmpeg(t)
	audio := filepath.Join(t.TempDir(), "audio.webm")
	if b, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=d=1", "-c:a", "libopus", audio).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	audioBytes, _ := os.ReadFile(audio)
	for _, tt := range []struct {
		name  string
		input []byte
		want  string
	}{
		{"not media", []byte("hello, this is not a video\n"), "Invalid data found"},
		{"empty", nil, "the input is empty"},
		{"audio only", audioBytes, "matches no streams"},
	} {
		var r result
		err := Run(context.Background(), bytes.NewReader(tt.input), r.emit, Options{})
		if !errors.Is(err, ErrNoVideo) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want ErrNoVideo with %q", tt.name, err, tt.want)
		}
		if r.summary != nil || len(r.frames) > 0 {
			t.Errorf("%s: emitted %+v", tt.name, r)
		}
	}
	err := Run(context.Background(), strings.NewReader("x"), (&result{}).emit, Options{FFmpeg: "/nonexistent/ffmpeg"})
	if !errors.Is(err, ffmpeg.ErrNotFound) {
		t.Errorf("missing ffmpeg: %v", err)
	}
	for _, o := range []Options{{Width: 63}, {Width: 321}, {FPS: -1}, {SceneThreshold: 2}, {BlackMin: -time.Second}, {ThumbDir: "/nonexistent/dir"}} {
		if err := Run(context.Background(), strings.NewReader("x"), (&result{}).emit, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func TestRunTruncated(t *testing.T) {
	t.Parallel()
	// A publisher that vanishes: the stream stops in the middle of a cluster.
	in := lavfi(t, "trunc", "testsrc2=s=320x240:r=30:d=3,format=yuv420p")
	b, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	var r result
	if err := Run(context.Background(), bytes.NewReader(b[:len(b)/2]), r.emit, Options{}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if r.summary == nil || r.summary.Frames < 20 || int(r.summary.Frames) != len(r.frames) {
		t.Fatalf("summary %+v, %d frames", r.summary, len(r.frames))
	}
}

// blockingReader serves data, then blocks until closed.
type blockingReader struct {
	data   io.Reader
	closed chan struct{}
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if n, err := b.data.Read(p); err != io.EOF {
		return n, err
	}
	<-b.closed
	return 0, io.EOF
}

func TestRunLiveAndCancel(t *testing.T) {
	t.Parallel()
	// Half a stream arrives and the publisher goes quiet: the frames of that half come
	// out without waiting for the end, and cancelling ends the run with a summary.
	in := lavfi(t, "live", "testsrc2=s=320x240:r=30:d=4,format=yuv420p")
	b, _ := os.ReadFile(in)
	src := &blockingReader{data: bytes.NewReader(b[:len(b)/2]), closed: make(chan struct{})}
	defer close(src.closed)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var r result
	done := make(chan error, 1)
	gotFrames := make(chan struct{})
	go func() {
		done <- Run(ctx, src, func(rec Record) error {
			if f, ok := rec.(*Frame); ok && f.N == 30 {
				close(gotFrames)
			}
			return r.emit(rec)
		}, Options{LowDelay: true})
	}()
	select {
	case <-gotFrames:
	case err := <-done:
		t.Fatalf("Run ended early: %v", err)
	case <-time.After(testenv.Hang):
		t.Fatalf("no frame 30 after %s", testenv.Hang)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v, want context.Canceled", err)
		}
	case <-time.After(testenv.Hang):
		t.Fatal("Run did not return after cancel")
	}
	if r.summary == nil || r.summary.Complete || r.summary.Error != "interrupted" || r.summary.Frames < 31 {
		t.Errorf("summary %+v", r.summary)
	}
}

func TestRunEmitError(t *testing.T) {
	t.Parallel()
	in := lavfi(t, "emiterr", "testsrc2=s=320x240:r=30:d=4,format=yuv420p")
	f, _ := os.Open(in)
	defer f.Close()
	stop := errors.New("stop")
	n := 0
	err := Run(context.Background(), f, func(rec Record) error {
		if n++; n == 10 {
			return stop
		}
		return nil
	}, Options{})
	if !errors.Is(err, stop) || n != 10 {
		t.Errorf("Run: %v after %d records, want the emit error after 10", err, n)
	}
}

func TestRunFFmpegFails(t *testing.T) {
	t.Parallel()
	// FFmpeg decodes everything, then exits with an error: the frames are analysed, the
	// summary says the run is incomplete, and Run returns FFmpeg's error.
	in := lavfi(t, "fails", "testsrc2=s=320x240:r=30:d=1,format=yuv420p")
	wrapper := filepath.Join(t.TempDir(), "ffmpeg.sh")
	script := "#!/bin/sh\nffmpeg \"$@\"\necho 'something broke' >&2\nexit 3\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(in)
	defer f.Close()
	var r result
	err := Run(context.Background(), f, r.emit, Options{FFmpeg: wrapper})
	var exit *ffmpeg.ExitError
	if !errors.As(err, &exit) || !strings.Contains(err.Error(), "something broke") {
		t.Fatalf("Run: %v, want FFmpeg's exit error", err)
	}
	if len(r.frames) != 30 || r.summary == nil || r.summary.Complete || !strings.Contains(r.summary.Error, "status 3") {
		t.Errorf("%d frames, summary %+v", len(r.frames), r.summary)
	}
}
