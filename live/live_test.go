package live

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/svtool/sv/frames"
	"github.com/svtool/sv/internal/queue"
	"github.com/svtool/sv/internal/testenv"
	"github.com/svtool/sv/ws"
)

// A full analysis queue stops the analysis at once, counts what it did not get, and its
// summary says so; the writer never waits for it.
func TestAnalysisFallsBehind(t *testing.T) {
	sess := &session{analysis: queue.New(1), analysing: true, log: slog.New(slog.DiscardHandler)}
	done := make(chan struct{})
	go func() {
		sess.feedAnalysis(make([]byte, 3*queue.BufSize))
		sess.feedAnalysis(make([]byte, 10))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("feeding a full analysis queue blocked")
	}
	if sess.analysing || !sess.fellBehind.Load() {
		t.Errorf("analysing %v, fell behind %v; want false, true", sess.analysing, sess.fellBehind.Load())
	}
	if sess.analysed != queue.BufSize || sess.skipped != 2*queue.BufSize+10 {
		t.Errorf("analysed %d, skipped %d; want %d, %d", sess.analysed, sess.skipped, queue.BufSize, 2*queue.BufSize+10)
	}
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	if err := sess.emit(w, &frames.Summary{Complete: true}); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, `"complete":false`) || !strings.Contains(s, errFellBehind.Error()) {
		t.Errorf("summary %q does not say the analysis fell behind", s)
	}
}

// serveTest runs a Server on a loopback port until the test ends or stop is called.
func serveTest(t *testing.T, o Options) (addr string, stop func() time.Duration) {
	t.Helper()
	if o.Out == "" {
		o.Out = t.TempDir()
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	var once sync.Once
	var took time.Duration
	stop = func() time.Duration {
		once.Do(func() {
			start := time.Now()
			cancel()
			if err := <-served; err != nil {
				t.Errorf("Serve: %v", err)
			}
			took = time.Since(start)
		})
		return took
	}
	t.Cleanup(func() { stop() })
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

func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear", path)
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
// and no FFmpeg is left, well within 5 s.
func TestServerLimitsAndShutdown(t *testing.T) {
	testenv.RequireFFmpeg(t)
	out := t.TempDir()
	addr, stop := serveTest(t, Options{Out: out, MaxStreams: 2})
	rec := filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm")

	ctx := context.Background()
	pubErr := make(chan error, 2)
	for _, name := range []string{"a", "b"} {
		go func() { pubErr <- publish(ctx, addr, name, rec, true) }()
		waitFile(t, filepath.Join(out, "live", name, "chunk-stream0-00001.m4s"))
	}
	if n := len(ffmpegChildren(t)); n != 4 {
		t.Errorf("%d FFmpeg children with two live streams, want 4", n)
	}
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

	if took := stop(); took > 5*time.Second {
		t.Errorf("stopping took %s, want under 5 s", took)
	}
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
		mpd, err := os.ReadFile(filepath.Join(out, "live", name, "manifest.mpd"))
		if err != nil || !bytes.Contains(mpd, []byte(`type="static"`)) {
			t.Errorf("stream %s: manifest not static after shutdown (%v)", name, err)
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
	o := Options{Out: out, Seekable: true, OnSession: func(st SessionStats) { ended <- st }}
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
	mpd, err := os.ReadFile(filepath.Join(out, "live", "cam", "manifest.mpd"))
	if err != nil || !bytes.Contains(mpd, []byte(`type="static"`)) {
		t.Errorf("manifest not complete (%v)", err)
	}
	if fi, err := os.Stat(st.Seekable); err != nil || fi.Size() == 0 || !strings.HasSuffix(st.Seekable, ".seekable.mkv") {
		t.Errorf("seekable copy %q: %v", st.Seekable, err)
	}
}
