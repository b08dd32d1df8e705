package live

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/svtool/sv/ffmpeg"
	"github.com/svtool/sv/internal/queue"
	"github.com/svtool/sv/internal/testenv"
	"github.com/svtool/sv/media"
)

// keyClusters returns the offsets of the clusters of a file that open with a keyframe,
// and where its header ends.
func keyClusters(t *testing.T, data []byte) (offsets []int64, headerEnd int64) {
	t.Helper()
	_, err := media.Scan(bytes.NewReader(data), func(e media.Event) error {
		switch {
		case e.Kind == media.EventHeader && headerEnd == 0:
			headerEnd = e.Offset
		case e.Kind == media.EventCluster && e.Keyframe:
			offsets = append(offsets, e.Offset)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return offsets, headerEnd
}

// The cursor finds every cluster opening with a keyframe, whatever the split of the
// stream, and holds the header and the bytes from that cluster on, so that a joiner gets
// exactly header + stream[cluster:].
func TestCursorJoins(t *testing.T) {
	for _, name := range []string{"h264-opus-kf1s.webm", "h264-cuts.webm", "vp9-opus.mp4"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(testenv.Dir(), name))
			if err != nil {
				t.Fatal(err)
			}
			want, headerEnd := keyClusters(t, data)
			if len(want) < 3 {
				t.Fatalf("only %d keyframe clusters in %s", len(want), name)
			}
			rng := rand.New(rand.NewPCG(1, uint64(len(data))))
			var c cursor
			var got, ends []int64
			for off := 0; off < len(data); {
				n := min(len(data)-off, 1+rng.IntN(40000))
				c.write(data[off:off+n], media.Unknown)
				off += n
				if c.failed != nil {
					t.Fatalf("scanner failed at %d: %v", off, c.failed)
				}
				if c.joinAt < 0 {
					continue
				}
				got, ends = append(got, c.joinAt), append(ends, int64(off))
				if !bytes.Equal(c.header, data[:headerEnd]) {
					t.Fatalf("header of %d bytes, want the file's first %d", len(c.header), headerEnd)
				}
				if from, ok := c.since(c.joinAt); !ok || !bytes.Equal(from, data[c.joinAt:off]) {
					t.Fatalf("bytes from the cluster at %d differ from the stream's", c.joinAt)
				}
				if len(c.recent) > 2<<20 {
					t.Fatalf("cursor keeps %d bytes", len(c.recent))
				}
			}
			// A write offers the first keyframe cluster it reports; the others it reports lie
			// in the bytes that join delivers. Every keyframe cluster is offered, or is one
			// of those.
			for _, k := range want {
				if containsOffset(got, k) {
					continue
				}
				covered := false
				for i, j := range got {
					covered = covered || j < k && k < ends[i]
				}
				if !covered {
					t.Errorf("the keyframe cluster at %d was never offered (offered %v)", k, got)
				}
			}
			for _, j := range got {
				if !containsOffset(want, j) {
					t.Errorf("offered %d, which is not a keyframe cluster", j)
				}
			}
		})
	}
}

func containsOffset(s []int64, v int64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// A stream joined at a keyframe cluster is a stream FFmpeg decodes from its first
// frame, which is a keyframe.
func TestJoinedStreamDecodes(t *testing.T) {
	testenv.Require(t, "ffprobe")
	data, err := os.ReadFile(filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm"))
	if err != nil {
		t.Fatal(err)
	}
	offsets, headerEnd := keyClusters(t, data)
	join := offsets[len(offsets)/2]
	file := filepath.Join(t.TempDir(), "joined.webm")
	if err := os.WriteFile(file, append(append([]byte(nil), data[:headerEnd]...), data[join:]...), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
		"frame=key_frame", "-of", "csv=p=0", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v: %s", err, out)
	}
	lines := strings.Fields(string(out))
	if len(lines) < 30 || lines[0] != "1" {
		t.Fatalf("joined stream: %d frames, first key_frame %q", len(lines), lines[:min(1, len(lines))])
	}
}

// recordingStage is a stage that records what each run read; block makes a run read
// nothing until its context ends (an analysis that cannot keep up).
type recordingStage struct {
	mu    sync.Mutex
	runs  []*bytes.Buffer
	block func(n int) bool
}

func (s *recordingStage) run(ctx context.Context, in io.Reader, n int) error {
	var buf bytes.Buffer
	s.mu.Lock()
	s.runs = append(s.runs, &buf)
	s.mu.Unlock()
	if s.block != nil && s.block(n) {
		<-ctx.Done()
		return ctx.Err()
	}
	b := make([]byte, 32<<10)
	for {
		k, err := in.Read(b)
		s.mu.Lock()
		buf.Write(b[:k])
		s.mu.Unlock()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// keepingUp reports whether b has a run taking input and, unless it is run stalled, one
// that has read all it was given. A new run, after a skip or a restart, starts in its own
// time, and a run that reads keeps up with a feeder only when it gets the time to, which a
// busy machine can make long: a test feeding a branch as fast as it can waits for this.
func keepingUp(b *branch, stalled int) bool {
	b.mu.Lock()
	r := b.cur
	b.mu.Unlock()
	return r != nil && (r.n == stalled || r.q.Stats().Queued == 0)
}

func keepUp(t *testing.T, b *branch, stalled int) {
	t.Helper()
	testenv.WaitFor(t, "a run that keeps up", func() bool { return keepingUp(b, stalled) })
}

// A lossy branch whose run stops reading is never waited for: once its queue is full the
// run is stopped, its backlog dropped and counted, and a new run gets the header and the
// stream from the next keyframe cluster on, to the end.
func TestBranchSkipsAhead(t *testing.T) {
	data, offsets, headerEnd, stage, b := stalledAnalysis(t)
	var endedRuns []int
	b.ended = func(n int, _ int64, skipped bool) {
		if skipped {
			endedRuns = append(endedRuns, n)
		}
	}
	done := make(chan error, 1)
	b.start(done)

	var c cursor
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		for off := 0; off < len(data); off += 8000 {
			p := data[off:min(off+8000, len(data))]
			c.write(p, media.Unknown)
			b.feed(p, &c)
			for deadline := time.Now().Add(testenv.Hang); !keepingUp(b, 0); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Errorf("no run took the stream after %d bytes", off+len(p))
					off = len(data)
					break
				}
			}
		}
		b.closeInput()
	}()
	select {
	case <-fed:
	case <-time.After(testenv.Hang):
		t.Fatal("feeding a branch whose run does not read blocked")
	}
	if err := <-done; err != nil {
		t.Fatalf("branch: %v", err)
	}
	if b.skips.Load() != 1 || len(stage.runs) != 2 || len(endedRuns) != 1 || endedRuns[0] != 0 {
		t.Fatalf("skips %d, runs %d, skipped runs %v; want 1, 2, [0]", b.skips.Load(), len(stage.runs), endedRuns)
	}
	got := stage.runs[1].Bytes()
	if !bytes.HasPrefix(got, data[:headerEnd]) {
		t.Fatal("the second run does not start with the stream's header")
	}
	rest := got[headerEnd:]
	join := int64(len(data) - len(rest))
	if !containsOffset(offsets, join) || !bytes.Equal(rest, data[join:]) {
		t.Fatalf("the second run got the stream from %d, not from a keyframe cluster to the end", join)
	}
	if lost := b.lostBytes.Load(); lost < join-4*queue.BufSize || lost > join {
		t.Errorf("lost %d bytes; the second run joined at %d with a queue of %d", lost, join, 4*queue.BufSize)
	}
}

// Every byte of the stream is counted once, as given to a run or as lost, also when the
// new run after a skip joins at a cluster that began in an earlier write (the join replays
// it from its start): what the analysis got and what it skipped add up to the stream.
func TestBranchCountsBytesOnce(t *testing.T) {
	data, offsets, headerEnd, stage, b := stalledAnalysis(t)
	done := make(chan error, 1)
	b.start(done)
	var c cursor
	off := 0
	feed := func(end int) {
		p := data[off:end]
		c.write(p, media.Unknown)
		b.feed(p, &c)
		off = end
	}
	// The first run reads nothing: feed it until it is stopped, then wait for the next.
	for b.skips.Load() == 0 && off < len(data) {
		feed(min(off+8000, len(data)))
		keepUp(t, b, 0)
	}
	// The next keyframe cluster arrives in two writes: its first bytes, then the rest.
	next := slices.IndexFunc(offsets, func(o int64) bool { return o > int64(off) })
	if b.skips.Load() == 0 || next < 0 {
		t.Fatalf("the first run was not stopped, or no keyframe cluster is left after %d bytes", off)
	}
	feed(int(offsets[next]) + 10)
	for off < len(data) {
		feed(min(off+8000, len(data)))
		keepUp(t, b, 0)
	}
	b.closeInput()
	if err := <-done; err != nil {
		t.Fatalf("branch: %v", err)
	}
	if len(stage.runs) != 2 || !bytes.Equal(stage.runs[1].Bytes(), append(slices.Clip(data[:headerEnd]), data[offsets[next]:]...)) {
		t.Fatalf("%d runs; want two, the second from the keyframe cluster at %d", len(stage.runs), offsets[next])
	}
	given, dropped, lost := b.given.Load(), b.dropped.Load(), b.lostBytes.Load()
	if given-dropped+lost != int64(len(data)) {
		t.Errorf("%d bytes given, %d of them dropped, %d lost: %d in all, want the stream's %d",
			given, dropped, lost, given-dropped+lost, len(data))
	}
}

// A branch whose FFmpeg dies mid-stream starts again, after a backoff, at the next
// keyframe cluster; one that fails at once is not restarted.
func TestBranchRestarts(t *testing.T) {
	testenv.RequireFFmpeg(t)
	data, err := os.ReadFile(filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm"))
	if err != nil {
		t.Fatal(err)
	}
	_, headerEnd := keyClusters(t, data)
	died := dieErr(t)

	var mu sync.Mutex
	var runs []int
	b := newBranch("packaging", false, 4*queue.BufSize, context.Background(), slog.New(slog.DiscardHandler))
	b.stage = func(ctx context.Context, in io.Reader, n int) error {
		mu.Lock()
		runs = append(runs, n)
		mu.Unlock()
		if n == 0 {
			io.CopyN(io.Discard, in, 100_000)
			return died // killed by a signal: restart
		}
		got, err := io.ReadAll(in)
		if err == nil && !bytes.HasPrefix(got, data[:headerEnd]) {
			t.Error("the restarted run does not start with the header")
		}
		return err
	}
	restarts := 0
	b.restarted = func(error) { restarts++ }
	done := make(chan error, 1)
	b.start(done)
	var c cursor
	for off := 0; off < len(data); off += 4000 {
		p := data[off:min(off+4000, len(data))]
		c.write(p, media.Unknown)
		b.feed(p, &c)
		keepUp(t, b, -1) // past the backoff, with stream left to restart in
	}
	b.closeInput()
	if err := <-done; err != nil {
		t.Fatalf("branch: %v", err)
	}
	if restarts != 1 || b.restarts.Load() != 1 || len(runs) != 2 {
		t.Errorf("restarts %d (%d), runs %v; want 1 and two runs", restarts, b.restarts.Load(), runs)
	}
	if b.lostBytes.Load() == 0 {
		t.Error("no bytes counted as lost across the restart")
	}
}

// dieErr returns the error of an FFmpeg killed by a signal.
func dieErr(t *testing.T) error {
	t.Helper()
	cmd := exec.Command("sh", "-c", "kill -9 $$")
	err := cmd.Run()
	if cmd.ProcessState == nil || cmd.ProcessState.Exited() {
		t.Fatalf("sh was not killed: %v", err)
	}
	return &ffmpeg.ExitError{State: cmd.ProcessState}
}

// BenchmarkCursor measures what following a stream for joins costs a session per byte:
// the scan, the copy of the current cluster, the frame offsets. Chromium's chunks are
// ~8 KB at 100 ms.
func BenchmarkCursor(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var c cursor
		for off := 0; off < len(data); off += 8 << 10 {
			c.write(data[off:min(off+8<<10, len(data))], media.WebM)
		}
	}
}

// stalledAnalysis is a lossy branch over a recording whose first run stops reading, with
// the recording and the offsets of its keyframe clusters and of its header's end.
func stalledAnalysis(t *testing.T) (data []byte, offsets []int64, headerEnd int64, stage *recordingStage, b *branch) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm"))
	if err != nil {
		t.Fatal(err)
	}
	offsets, headerEnd = keyClusters(t, data)
	stage = &recordingStage{block: func(n int) bool { return n == 0 }}
	b = newBranch("analysis", true, 4*queue.BufSize, context.Background(), slog.New(slog.DiscardHandler))
	b.stage = stage.run
	return data, offsets, headerEnd, stage, b
}

// TestCursorBehind: the media clock runs from the first frame, the same file again (a new
// stream header) starts it anew, and 1% of the time is forgiven.
func TestCursorBehind(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.Dir(), "h264-video-only.webm")) // 10 s
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1e9, 0)
	c := cursor{clock: func() time.Time { return now }}
	if d := c.behind(); d != 0 {
		t.Errorf("before any frame: %s", d)
	}
	c.write(data, media.Unknown) // 10 s of media at once: ahead of the clock
	if d := c.behind(); d > -9*time.Second {
		t.Errorf("10 s of media in no time: %s behind, want 9 s ahead or more", d)
	}
	now = now.Add(40 * time.Second) // the same file again, 40 s later: a new stream
	c.write(data, media.Unknown)
	if d := c.behind(); d > -9*time.Second {
		t.Errorf("a new stream header: %s behind, want its own clock (9 s ahead or more)", d)
	}
	now = now.Add(100 * time.Second) // no media for 100 s after the new stream's 10
	c.write(nil, media.Unknown)
	span := c.media - c.media0
	if d, want := c.behind(), 100*time.Second-span-time.Second; d != want {
		t.Errorf("100 s later: %s behind, want %s (100 s less %s of media less 1 s of drift)", d, want, span)
	}
}
