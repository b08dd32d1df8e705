package live

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/svtool/sv/auth"
	"github.com/svtool/sv/event"
	"github.com/svtool/sv/internal/testenv"
	"github.com/svtool/sv/ws"
)

// serveTest runs a Server on a loopback port until the test ends or stop is called.
func serveTest(t testing.TB, o Options) (addr string, stop func()) {
	t.Helper()
	if o.Out == "" {
		o.Out = t.TempDir()
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return serveWith(t, srv)
}

// serveWith serves srv on a loopback port until the test ends or stop is called.
func serveWith(t testing.TB, srv *Server) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-served:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			case <-time.After(testenv.Hang):
				t.Errorf("Serve did not return within %s of its end", testenv.Hang)
			}
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

func publish(ctx context.Context, addr, stream, file string, realtime bool) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	return ws.Publish(ctx, "ws://"+addr+"/ingest/"+stream, f, ws.PublishOptions{Realtime: realtime})
}

// waitFile waits for a file matching path, a filepath.Match pattern.
func waitFile(t testing.TB, path string) {
	t.Helper()
	testenv.WaitFor(t, path, func() bool {
		m, _ := filepath.Glob(path)
		return len(m) > 0
	})
}

// ffmpegChildren returns the pids of this process's children named ffmpeg.
func ffmpegChildren(t *testing.T) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, name := range stats {
		b, err := os.ReadFile(name)
		if err != nil {
			continue // gone
		}
		// pid (comm) state ppid ...
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(s[end+1:])
		if len(fields) < 2 || s[open+1:end] != "ffmpeg" || fields[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(s[:open]))
		pids = append(pids, pid)
	}
	return pids
}

// Two live streams at the limit of two: a second publisher of a live stream is refused
// with 409, a third stream with 503. Then the server stops in the middle of both: their
// publishers are closed, the recordings hold exactly what arrived, the manifests are static,
// and no FFmpeg is left. (How long the stop takes, BenchmarkShutdown measures.)
func TestServerLimitsAndShutdown(t *testing.T) {
	testenv.RequireFFmpeg(t)
	out := t.TempDir()
	addr, stop := serveTest(t, Options{Out: out, MaxStreams: 2})
	rec := filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm")

	ctx := context.Background()
	pubErr := make(chan error, 2)
	for _, name := range []string{"a", "b"} {
		go func() { pubErr <- publish(ctx, addr, name, rec, true) }()
		waitFile(t, filepath.Join(out, "live", name, "chunk-stream0-*-00001.m4s"))
	}
	// Each stream's analysis starts its FFmpeg in its own time.
	testenv.WaitFor(t, "four FFmpeg children with two live streams", func() bool { return len(ffmpegChildren(t)) == 4 })
	if err := publish(ctx, addr, "a", rec, false); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("second publisher of a live stream: %v, want a 409 refusal", err)
	}
	if err := publish(ctx, addr, "c", rec, false); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("a stream over the limit: %v, want a 503 refusal", err)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("/healthz: %d %q", resp.StatusCode, body)
	}

	stop()
	if pids := ffmpegChildren(t); len(pids) > 0 {
		t.Errorf("FFmpeg children left after Serve returned: %v", pids)
	}
	want, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if err := <-pubErr; err == nil || !strings.Contains(err.Error(), "1001") {
			t.Errorf("publisher at shutdown: %v, want a 1001 close", err)
		}
		files, _ := filepath.Glob(filepath.Join(out, "recordings", name, "*.webm"))
		if len(files) != 1 {
			t.Fatalf("stream %s: recordings %v, want one", name, files)
		}
		got, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || !bytes.Equal(got, want[:min(len(got), len(want))]) {
			t.Errorf("stream %s: the recording (%d bytes) is not the start of what was sent", name, len(got))
		}
		if !mpdEnded(filepath.Join(out, "live", name, "manifest.mpd")) {
			t.Errorf("stream %s: the manifest does not say the stream has ended, after shutdown", name)
		}
	}
}

// An analysis that fails at once holds nothing up: the recording and the presentation are
// complete, and the session reports the failure.
func TestFailingAnalysis(t *testing.T) {
	testenv.RequireFFmpeg(t)
	fake := filepath.Join(t.TempDir(), "ffmpeg")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho broken >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ended := make(chan SessionStats, 1)
	log := newEventLog(t)
	o := Options{Out: out, Seekable: true, Events: log.bus, OnSession: func(st SessionStats) { ended <- st }}
	o.Frames.FFmpeg = fake
	addr, _ := serveTest(t, o)
	rec := filepath.Join(testenv.Dir(), "h264-video-only.webm")
	if err := publish(context.Background(), addr, "cam", rec, false); err != nil {
		t.Fatal(err)
	}
	st := <-ended
	if st.Err == nil {
		t.Error("the session does not report the failed analysis")
	}
	want, _ := os.ReadFile(rec)
	got, err := os.ReadFile(st.Recording)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("recording %s differs from what was sent (%v)", st.Recording, err)
	}
	if st.Bytes != int64(len(want)) || st.Analysed+st.Skipped != st.Bytes {
		t.Errorf("bytes %d, analysed %d, skipped %d; want %d in all", st.Bytes, st.Analysed, st.Skipped, len(want))
	}
	testenv.WaitFor(t, "the manifest saying the stream has ended, after Options.Reconnect", func() bool {
		return mpdEnded(filepath.Join(out, "live", "cam", "manifest.mpd"))
	})
	if fi, err := os.Stat(st.Seekable); err != nil || fi.Size() == 0 || !strings.HasSuffix(st.Seekable, ".seekable.mkv") {
		t.Errorf("seekable copy %q: %v", st.Seekable, err)
	}
	// The application is told of the failure once, and the recording is ready all the same.
	testenv.WaitFor(t, "recording_ready", func() bool { return len(of(log.events(t), event.RecordingReady)) == 1 })
	failed := of(log.events(t), event.StageFailed)
	if len(failed) != 1 || failed[0].Stage != "analysis" || failed[0].Error == "" || !strings.Contains(st.Err.Error(), failed[0].Error) {
		t.Errorf("stage_failed events: %+v; the session's error: %v", failed, st.Err)
	}
}

// metricValue returns the value of one series from /metrics, -1 if absent.
func metricValue(t *testing.T, addr, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return -1
}

// ffmpegChild returns the pid of this process's FFmpeg child whose command line holds s.
func ffmpegChild(t *testing.T, s string) int {
	t.Helper()
	for _, pid := range ffmpegChildren(t) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if bytes.Contains(cmdline, []byte(s)) {
			return pid
		}
	}
	return 0
}

// mpdEnded reports whether the MPD at path says its live presentation has ended for good:
// a duration and no update period (the final MPD, a moment after the ended one).
func mpdEnded(path string) bool {
	mpd, err := os.ReadFile(path)
	return err == nil && bytes.Contains(mpd, []byte(`mediaPresentationDuration="`)) && !bytes.Contains(mpd, []byte(`minimumUpdatePeriod`))
}

// availabilityStart returns the live MPD's availabilityStartTime, "" if there is no live MPD.
// presentationID returns the presentation's name in the media template of the MPD at path
// (chunk-stream0-PRES-$Number%05d$.m4s), "" if there is none.
func presentationID(path string) string {
	mpd, _ := os.ReadFile(path)
	m := regexp.MustCompile(`media="chunk-stream0-([0-9a-z]+)-\$Number`).FindSubmatch(mpd)
	if m == nil {
		return ""
	}
	return string(m[1])
}

func availabilityStart(path string) string {
	mpd, err := os.ReadFile(path)
	if err != nil || !bytes.Contains(mpd, []byte(`type="dynamic"`)) {
		return ""
	}
	_, rest, ok := bytes.Cut(mpd, []byte(`availabilityStartTime="`))
	if !ok {
		return ""
	}
	v, _, _ := bytes.Cut(rest, []byte(`"`))
	return string(v)
}

// FFmpeg killed with SIGKILL mid-stream, the packager's and then the analysis': each is
// started again at the next keyframe, the restarts show in /metrics, the presentation goes
// on (the same availabilityStartTime, a second period, the segment numbers going on), the
// recording misses nothing, and the analysis says where it skipped.
func TestFFmpegKilled(t *testing.T) {
	testenv.RequireFFmpeg(t)
	out := t.TempDir()
	ended := make(chan SessionStats, 1)
	log := newEventLog(t)
	addr, _ := serveTest(t, Options{Out: out, Events: log.bus, OnSession: func(st SessionStats) { ended <- st }})
	rec := filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm")
	pubErr := make(chan error, 1)
	go func() { pubErr <- publish(context.Background(), addr, "k", rec, true) }()
	mpd := filepath.Join(out, "live", "k", "manifest.mpd")
	waitFile(t, filepath.Join(out, "live", "k", "chunk-stream0-*-00002.m4s"))
	first := availabilityStart(mpd)

	pid := ffmpegChild(t, "pipe:4")
	if pid == 0 || first == "" {
		t.Fatalf("no packager FFmpeg (%d) or no live MPD (%q)", pid, first)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	testenv.WaitFor(t, "the packager's restart in /metrics", func() bool {
		return metricValue(t, addr, `sv_ffmpeg_restarts_total{stage="dash",stream="k"}`) == 1
	})
	testenv.WaitFor(t, "the presentation going on in a second period", func() bool {
		m, _ := os.ReadFile(mpd)
		return bytes.Contains(m, []byte(`<Period id="1"`))
	})
	if again := availabilityStart(mpd); again != first {
		t.Errorf("availabilityStartTime %q after the restart, was %q: a new presentation", again, first)
	}

	pid = ffmpegChild(t, "rawvideo")
	if pid == 0 {
		t.Fatal("no analysis FFmpeg")
	}
	syscall.Kill(pid, syscall.SIGKILL)
	testenv.WaitFor(t, "the analysis' restart in /metrics", func() bool {
		return metricValue(t, addr, `sv_ffmpeg_restarts_total{stage="analysis",stream="k"}`) == 1
	})

	if err := <-pubErr; err != nil {
		t.Fatalf("publisher: %v", err)
	}
	st := <-ended
	want, _ := os.ReadFile(rec)
	got, err := os.ReadFile(st.Recording)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("recording differs from what was sent (%v)", err)
	}
	if st.DashRestarts != 1 || st.AnalysisRestarts != 1 || st.Err != nil {
		t.Errorf("session: %d packager and %d analysis restarts, err %v; want 1, 1, nil", st.DashRestarts, st.AnalysisRestarts, st.Err)
	}
	restarts := of(log.events(t), event.FFmpegRestart)
	if len(restarts) != 2 || restarts[0].Stage != "packaging" || restarts[1].Stage != "analysis" ||
		restarts[0].Restarts != 1 || restarts[1].Restarts != 1 || restarts[0].Error == "" {
		t.Errorf("ffmpeg_restart events: %+v", restarts)
	}
	testenv.WaitFor(t, "the manifest saying the stream has ended", func() bool { return mpdEnded(mpd) })
	jsonl, _ := os.ReadFile(filepath.Join(out, "live", "k", "frames.jsonl"))
	lines := strings.Split(strings.TrimSpace(string(jsonl)), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(string(jsonl), `{"type":"skip"`) || !strings.Contains(last, `"type":"summary"`) ||
		!strings.Contains(last, `"complete":false`) || !strings.Contains(last, "restarted 1 times") {
		t.Errorf("the analysis does not tell of its restart; last line %s", last)
	}
	if n := metricValue(t, addr, `sv_ingest_bytes_total{stream="k"}`); n != float64(len(want)) {
		t.Errorf("sv_ingest_bytes_total %v, want %d", n, len(want))
	}
	if n := metricValue(t, addr, `sv_publisher_sessions_total{stream="k"}`); n != 1 {
		t.Errorf("sv_publisher_sessions_total %v, want 1", n)
	}
	if n := metricValue(t, addr, `sv_frames_analysed_total{stream="k"}`); n < 200 || n > 452 {
		t.Errorf("sv_frames_analysed_total %v, want most of the 452 frames", n)
	}
	if n := metricValue(t, addr, `sv_segments_written_total{stream="k"}`); n < 8 {
		t.Errorf("sv_segments_written_total %v, want at least 8 of the 15 s", n)
	}
	if n := metricValue(t, addr, `sv_handoff_seconds_count{stream="k"}`); n < 10 {
		t.Errorf("sv_handoff_seconds_count %v", n)
	}
	// No viewer: no segment in progress is held for one, and none was refused the cache.
	if n := metricValue(t, addr, `sv_cache_bytes`); n != 0 {
		t.Errorf("sv_cache_bytes %v with no viewer, want 0", n)
	}
	if n := metricValue(t, addr, `sv_cache_full_total`); n != 0 {
		t.Errorf("sv_cache_full_total %v, want 0", n)
	}
}

// An analysis that cannot keep up (its first FFmpeg stalls for 8 s, with a small analysis
// buffer) skips ahead instead of holding anything up: the recording and the presentation
// are whole, the analysis goes on from a later keyframe, and the analysis, the session and
// /metrics say what was skipped.
func TestAnalysisSkipsAhead(t *testing.T) {
	testenv.RequireFFmpeg(t)
	out, bin := t.TempDir(), t.TempDir()
	slow := filepath.Join(bin, "ffmpeg")
	script := "#!/bin/sh\nif mkdir " + filepath.Join(bin, "once") + " 2>/dev/null; then sleep 8; fi\nexec ffmpeg \"$@\"\n"
	if err := os.WriteFile(slow, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ended := make(chan SessionStats, 1)
	o := Options{Out: out, AnalysisBuffer: 128 << 10, OnSession: func(st SessionStats) { ended <- st }}
	o.Frames.FFmpeg = slow
	addr, _ := serveTest(t, o)
	rec := filepath.Join(testenv.Dir(), "h264-cuts.webm")
	if err := publish(context.Background(), addr, "fast", rec, true); err != nil {
		t.Fatal(err)
	}
	st := <-ended
	want, _ := os.ReadFile(rec)
	if got, err := os.ReadFile(st.Recording); err != nil || !bytes.Equal(got, want) {
		t.Errorf("recording differs from what was sent (%v)", err)
	}
	if st.Err != nil || st.Skips == 0 || st.SkippedFrames == 0 || st.Analysed+st.Skipped != st.Bytes {
		t.Errorf("session: err %v, %d skips, %d frames and %d bytes skipped, %d analysed of %d",
			st.Err, st.Skips, st.SkippedFrames, st.Skipped, st.Analysed, st.Bytes)
	}
	testenv.WaitFor(t, "the manifest saying the stream has ended", func() bool {
		return mpdEnded(filepath.Join(out, "live", "fast", "manifest.mpd"))
	})
	jsonl, _ := os.ReadFile(filepath.Join(out, "live", "fast", "frames.jsonl"))
	lines := strings.Split(strings.TrimSpace(string(jsonl)), "\n")
	last := lines[len(lines)-1]
	frames := strings.Count(string(jsonl), `{"type":"frame"`)
	if !strings.Contains(last, `"complete":false`) || !strings.Contains(last, "skipped ahead") {
		t.Errorf("the summary does not say the analysis skipped: %s", last)
	}
	if frames == 0 || int64(frames)+st.SkippedFrames != 452 {
		t.Errorf("%d frames analysed and %d skipped, want 452 in all", frames, st.SkippedFrames)
	}
	if n := metricValue(t, addr, `sv_analysis_skips_total{stream="fast"}`); n != float64(st.Skips) {
		t.Errorf("sv_analysis_skips_total %v, want %d", n, st.Skips)
	}
	if n := metricValue(t, addr, `sv_frames_skipped_total{stream="fast"}`); n != float64(st.SkippedFrames) {
		t.Errorf("sv_frames_skipped_total %v, want %d", n, st.SkippedFrames)
	}
	t.Logf("%d skips, %d frames analysed, %d skipped", st.Skips, frames, st.SkippedFrames)
}

// With per-stream keys, each stream takes its own key (or the shared token) and nothing
// else. With Takeover, a second publisher of a live stream closes the first (close code
// 4001), whose session is finished first; each session has its own whole recording.
func TestKeysAndTakeover(t *testing.T) {
	testenv.RequireFFmpeg(t)
	out := t.TempDir()
	ended := make(chan SessionStats, 2)
	keys := &auth.Keys{}
	keys.Add(auth.AnyStream, "shared", auth.Publish)
	keys.Add("cam", "k-cam", auth.Publish)
	az := auth.New(auth.Options{Methods: []auth.Method{keys}, Protect: []auth.Action{auth.Publish}})
	addr, _ := serveTest(t, Options{Out: out, Auth: az, Takeover: true,
		OnSession: func(st SessionStats) { ended <- st }})
	rec := filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm")
	pub := func(ctx context.Context, stream, token string, realtime bool) error {
		f, err := os.Open(rec)
		if err != nil {
			return err
		}
		defer f.Close()
		return ws.Publish(ctx, "ws://"+addr+"/ingest/"+stream, f, ws.PublishOptions{Token: token, Realtime: realtime})
	}
	ctx := context.Background()
	for _, c := range []struct{ stream, token string }{{"cam", "k-other"}, {"cam", ""}, {"other", "k-cam"}} {
		if err := pub(ctx, c.stream, c.token, false); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("stream %s with key %q: %v, want a 401 refusal", c.stream, c.token, err)
		}
	}
	if err := pub(ctx, "other", "shared", false); err != nil {
		t.Errorf("the shared token: %v", err)
	}
	<-ended

	first := make(chan error, 1)
	go func() { first <- pub(ctx, "cam", "k-cam", true) }()
	waitFile(t, filepath.Join(out, "live", "cam", "chunk-stream0-*-00002.m4s"))
	if err := pub(ctx, "cam", "k-cam", false); err != nil {
		t.Errorf("the publisher taking over: %v", err)
	}
	if err := <-first; err == nil || !strings.Contains(err.Error(), "4001") {
		t.Errorf("the publisher taken over: %v, want a 4001 close", err)
	}
	want, _ := os.ReadFile(rec)
	a, b := <-ended, <-ended
	ga, _ := os.ReadFile(a.Recording)
	gb, _ := os.ReadFile(b.Recording)
	if a.Recording == b.Recording || len(ga) == 0 || len(ga) >= len(want) || !bytes.Equal(ga, want[:len(ga)]) || !bytes.Equal(gb, want) {
		t.Errorf("recordings %s (%d bytes) and %s (%d bytes): want a prefix, then the whole %d", a.Recording, len(ga), b.Recording, len(gb), len(want))
	}
}

// A stream whose folder cannot be made is refused with a clear error (HTTP 503 naming the
// cause); another stream goes on unharmed.
func TestUnwritableStream(t *testing.T) {
	testenv.RequireFFmpeg(t)
	out := t.TempDir()
	if err := os.MkdirAll(filepath.Join(out, "recordings"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A file where the stream's recordings folder would go.
	if err := os.WriteFile(filepath.Join(out, "recordings", "bad"), []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	ended := make(chan SessionStats, 1)
	addr, _ := serveTest(t, Options{Out: out, OnSession: func(st SessionStats) { ended <- st }})
	rec := filepath.Join(testenv.Dir(), "h264-video-only.webm")
	good := make(chan error, 1)
	go func() { good <- publish(context.Background(), addr, "good", rec, true) }()
	waitFile(t, filepath.Join(out, "live", "good", "chunk-stream0-*-00001.m4s"))
	err := publish(context.Background(), addr, "bad", rec, false)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("publishing to a stream whose folder cannot be made: %v, want a 503 that says why", err)
	}
	if err := <-good; err != nil {
		t.Errorf("the other stream: %v", err)
	}
	st := <-ended
	want, _ := os.ReadFile(rec)
	if got, err := os.ReadFile(st.Recording); err != nil || !bytes.Equal(got, want) || st.Err != nil {
		t.Errorf("the other stream's recording differs or failed: %v %v", err, st.Err)
	}
}

// BenchmarkShutdown measures how long a Server takes to stop with two streams live in real
// time, mid-stream, as sv all does on Ctrl-C: from the end of its context to Serve's
// return, every session finished (publishers closed, manifests static, analyses summed
// up, seekable copies made, FFmpeg waited for).
func BenchmarkShutdown(b *testing.B) {
	testenv.RequireFFmpeg(b)
	rec := filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm")
	var took time.Duration
	for range b.N {
		out := b.TempDir()
		addr, stop := serveTest(b, Options{Out: out, Seekable: true})
		pubErr := make(chan error, 2)
		for _, name := range []string{"a", "b"} {
			go func() { pubErr <- publish(context.Background(), addr, name, rec, true) }()
		}
		for _, name := range []string{"a", "b"} {
			waitFile(b, filepath.Join(out, "live", name, "chunk-stream0-*-00002.m4s"))
		}
		start := time.Now()
		stop()
		took += time.Since(start)
		for range 2 {
			if err := <-pubErr; err == nil || !strings.Contains(err.Error(), "1001") {
				b.Fatalf("publisher at shutdown: %v, want a 1001 close", err)
			}
		}
	}
	b.ReportMetric(float64(took.Milliseconds())/float64(b.N), "shutdown-ms")
	b.ReportMetric(0, "ns/op")
}

// A publisher whose connection drops may come back within Options.Reconnect and continue
// the presentation; one that stops (a normal close) ends it at once, whatever
// Options.Reconnect, so that players fire ended.
func TestStopEndsPresentation(t *testing.T) {
	testenv.RequireFFmpeg(t)
	out := t.TempDir()
	ended := make(chan SessionStats, 2)
	addr, _ := serveTest(t, Options{Out: out, Reconnect: time.Hour, OnSession: func(st SessionStats) { ended <- st }})
	rec := filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm")
	mpd := filepath.Join(out, "live", "cam", "manifest.mpd")

	// Dropped: the socket closes without a close frame once two segments are out.
	ctx, cancel := context.WithCancel(context.Background())
	pubErr := make(chan error, 1)
	go func() { pubErr <- publish(ctx, addr, "cam", rec, true) }()
	waitFile(t, filepath.Join(out, "live", "cam", "chunk-stream0-*-00002.m4s"))
	first := availabilityStart(mpd)
	pres := presentationID(mpd)
	cancel()
	if err := <-pubErr; err == nil {
		t.Fatal("the dropped publisher's Publish returned nil")
	}
	if st := <-ended; st.Bytes == 0 {
		t.Fatalf("the dropped session got nothing: %+v", st)
	}
	// OnSession comes just before the stream is free again; a publisher that comes back
	// sooner is refused (409), as the capture page's backoff never is.
	testenv.WaitFor(t, "the dropped session to let the stream go", func() bool {
		return metricValue(t, addr, "sv_live_streams") == 0
	})
	if mpdEnded(mpd) || availabilityStart(mpd) != first {
		t.Fatalf("the presentation ended with a dropped connection, %s before it may: %q", time.Hour, first)
	}

	// Back, within Options.Reconnect: the same presentation, a second period; then stopped.
	if err := publish(context.Background(), addr, "cam", rec, false); err != nil {
		t.Fatal(err)
	}
	<-ended
	testenv.WaitFor(t, "the manifest saying the stream has ended, at the publisher's stop", func() bool {
		return mpdEnded(mpd)
	})
	// The final MPD, static, has no availabilityStartTime: the presentation is known by
	// its files' names.
	m, _ := os.ReadFile(mpd)
	if !bytes.Contains(m, []byte(`<Period id="1"`)) || pres == "" || presentationID(mpd) != pres {
		t.Errorf("after the reconnect, want the presentation %q going on in a second period:\n%s", pres, m)
	}
}

// TestMaxBehind: a publisher whose media time falls more than MaxBehind behind the clock
// (here one sending 250 ms of media every 500 ms) is closed with 1008, every byte it
// sent before that recorded, and the end counted with its cause.
func TestMaxBehind(t *testing.T) {
	testenv.RequireFFmpeg(t)
	out := t.TempDir()
	addr, _ := serveTest(t, Options{Out: out, MaxBehind: time.Second})
	f, err := os.Open(filepath.Join(testenv.Dir(), "h264-video-only.webm"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sent int64
	err = ws.Publish(context.Background(), "ws://"+addr+"/ingest/slow", f, ws.PublishOptions{
		Chunk:  250 * time.Millisecond,
		OnSend: func(s ws.Sent) { sent = s.Total; time.Sleep(500 * time.Millisecond) },
	})
	var ce *ws.CloseError
	if !errors.As(err, &ce) || ce.Code != 1008 || !strings.Contains(ce.Reason, "media time behind the clock") {
		t.Fatalf("publishing at half speed: %v, want a close 1008 for media time behind the clock", err)
	}
	if sent >= 379580 {
		t.Errorf("the whole file was sent (%d bytes) before the close", sent)
	}
	testenv.WaitFor(t, "the end counted with cause behind", func() bool {
		return metricValue(t, addr, `sv_publisher_ends_total{cause="behind",stream="slow"}`) == 1
	})
	recs, _ := filepath.Glob(filepath.Join(out, "recordings", "slow", "*.webm"))
	if len(recs) != 1 {
		t.Fatalf("recordings: %v", recs)
	}
	if fi, err := os.Stat(recs[0]); err != nil || fi.Size() == 0 || fi.Size() > sent {
		t.Errorf("recording %v: %v bytes, the publisher sent %d", recs[0], fi, sent)
	}
}
