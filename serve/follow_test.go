package serve

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"
)

// segmentWriter writes a segment the way FFmpeg does: NAME.tmp, growing, then renamed.
type segmentWriter struct {
	t    testing.TB
	path string // the final name
	f    *os.File
	all  []byte
}

func newSegmentWriter(t testing.TB, path string) *segmentWriter {
	t.Helper()
	f, err := os.Create(path + ".tmp")
	if err != nil {
		t.Fatal(err)
	}
	return &segmentWriter{t: t, path: path, f: f}
}

func (w *segmentWriter) write(b []byte) {
	if _, err := w.f.Write(b); err != nil {
		w.t.Error(err)
	}
	w.all = append(w.all, b...)
}

func (w *segmentWriter) finish() {
	if err := w.f.Close(); err != nil {
		w.t.Error(err)
	}
	if err := os.Rename(w.path+".tmp", w.path); err != nil {
		w.t.Error(err)
	}
}

// TestInProgressStreams: a request for a segment being written is answered at once and
// gets each fragment as it is appended, then exactly the final file.
func TestInProgressStreams(t *testing.T) {
	ts := newTestServer(t, Options{})
	w := newSegmentWriter(t, filepath.Join(ts.dir, "chunk-stream0-00007.m4s"))
	first := pattern(3000, 1)
	w.write(first)

	resp, err := noGzipClient.Get(ts.url + "/live/cam/chunk-stream0-00007.m4s")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != -1 || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("status %d, Content-Length %d, Transfer-Encoding %v", resp.StatusCode, resp.ContentLength, resp.TransferEncoding)
	}
	if resp.Header.Get("Content-Type") != "video/iso.segment" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("headers %v", resp.Header)
	}
	// The first fragment arrives while the writer waits: it is streamed, not held.
	got := make([]byte, len(first))
	if _, err := io.ReadFull(resp.Body, got); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("first fragment: %v", err)
	}
	for i := range 10 {
		time.Sleep(3 * time.Millisecond)
		w.write(pattern(700+i*13, byte(i)))
	}
	w.finish()
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if all := append(got, rest...); !bytes.Equal(all, w.all) {
		t.Fatalf("received %d bytes, the segment has %d (or they differ)", len(all), len(w.all))
	}
	if st := ts.Stats(); st.InProgress != 1 || st.Aborted != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestInProgressConcurrent has a writer write segment after segment, fragment by fragment,
// while clients ask for each at random moments: before its first byte, while it grows,
// right after the rename. Every client gets exactly the final bytes. Run it with -race.
func TestInProgressConcurrent(t *testing.T) {
	ts := newTestServer(t, Options{})
	const segments, clients = 6, 6
	rng := rand.New(rand.NewPCG(1, 2))
	var wg sync.WaitGroup
	errs := make(chan error, segments*clients)
	for n := 1; n <= segments; n++ {
		name := fmt.Sprintf("chunk-stream0-%05d.m4s", n)
		w := newSegmentWriter(t, filepath.Join(ts.dir, name))
		started := make(chan struct{})
		for c := range clients {
			delay := time.Duration(rng.IntN(40)) * time.Millisecond
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-started
				time.Sleep(delay)
				resp, err := noGzipClient.Get(ts.url + "/live/cam/" + name)
				if err != nil {
					errs <- err
					return
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil || resp.StatusCode != 200 {
					errs <- fmt.Errorf("%s client %d: status %d: %w", name, c, resp.StatusCode, err)
					return
				}
				final, err := os.ReadFile(filepath.Join(ts.dir, name))
				if err != nil || !bytes.Equal(b, final) {
					errs <- fmt.Errorf("%s client %d: %d bytes, the segment has %d (%w)", name, c, len(b), len(final), err)
				}
			}()
		}
		close(started)
		for i := range 15 {
			w.write(pattern(1+rng.IntN(5000), byte(n*16+i)))
			time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
		}
		w.finish()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := ts.Stats(); st.Aborted != 0 || st.InProgress == 0 {
		t.Errorf("stats %+v", st)
	}
	// Every poller ended with its last reader.
	ts.watchers.mu.Lock()
	defer ts.watchers.mu.Unlock()
	if n := len(ts.watchers.files); n != 0 {
		t.Errorf("%d segment watches left", n)
	}
}

// TestInProgressShared: many clients of one segment in progress are sent the same bytes,
// read from the file once for all of them.
func TestInProgressShared(t *testing.T) {
	ts := newTestServer(t, Options{})
	const clients = 50
	const name = "chunk-stream0-00001.m4s"
	w := newSegmentWriter(t, filepath.Join(ts.dir, name))
	w.write(pattern(1000, 1))
	bodies := make(chan []byte, clients)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			resp, b, err := ts.fetch("GET", "/live/cam/"+name, nil)
			switch {
			case err != nil:
				errs <- err
			case resp.StatusCode != 200:
				errs <- fmt.Errorf("status %d", resp.StatusCode)
			default:
				bodies <- b
			}
		})
	}
	if !eventually(func() bool { return ts.watchRefs("live/cam/"+name) == clients }) {
		t.Fatalf("%d of %d clients streaming the segment", ts.watchRefs("live/cam/"+name), clients)
	}
	const writes = 20
	ts.watchers.mu.Lock()
	fw := ts.watchers.files["live/cam/"+name]
	ts.watchers.mu.Unlock()
	changes := fw.changes.Load()
	looks, forced := ts.stats.follow.looks.Load(), ts.stats.follow.forced.Load()
	for i := range writes {
		w.write(pattern(3000, byte(i+2)))
		time.Sleep(2 * time.Millisecond)
	}
	w.finish()
	wg.Wait()
	// A change the watch sees (a write or two, the rename) wakes every client, and one
	// of them looks at the file for all: one look a change, not one a client. Looks
	// forced by safetyWake, when a loaded machine leaves the clients a quarter second
	// without a change, are not counted.
	n := ts.stats.follow.looks.Load() - looks - (ts.stats.follow.forced.Load() - forced)
	if seen := fw.changes.Load() - changes; n > int64(seen) {
		t.Errorf("%d looks at the file by %d clients for %d changes seen (%d writes and a rename), want one a change", n, clients, seen, writes)
	}
	close(bodies)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for b := range bodies {
		if !bytes.Equal(b, w.all) {
			t.Errorf("a client got %d bytes of %d, or other bytes", len(b), len(w.all))
		}
	}
	if st := ts.Stats(); st.InProgress != clients || st.InProgressRead != int64(len(w.all)) {
		t.Errorf("%d clients streamed it, %d bytes read for them, want %d and the segment's %d once", st.InProgress, st.InProgressRead, clients, len(w.all))
	}
}

// watchRefs is how many requests hold the watch of rel.
func (ts *testServer) watchRefs(rel string) int {
	ts.watchers.mu.Lock()
	defer ts.watchers.mu.Unlock()
	if fw := ts.watchers.files[rel]; fw != nil {
		return fw.refs
	}
	return 0
}

// failedRead requests a segment in progress, lets the writer misbehave, and expects the
// response to fail rather than end like a complete one.
func failedRead(t *testing.T, ts *testServer, name string, misbehave func(w *segmentWriter)) {
	t.Helper()
	w := newSegmentWriter(t, filepath.Join(ts.dir, name))
	w.write(pattern(2000, 3))
	resp, err := noGzipClient.Get(ts.url + "/live/cam/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 2000)); err != nil {
		t.Fatal(err)
	}
	misbehave(w)
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("the response ended normally after %d more bytes", len(b))
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Logf("read error: %v", err)
	}
}

func TestInProgressAbandoned(t *testing.T) {
	ts := newTestServer(t, Options{})
	failedRead(t, ts, "chunk-stream0-00001.m4s", func(w *segmentWriter) {
		w.f.Close()
		os.Remove(w.path + ".tmp")
	})
	failedRead(t, ts, "chunk-stream0-00002.m4s", func(w *segmentWriter) {
		// Another file takes the final name: not the one we were reading.
		w.f.Close()
		os.WriteFile(w.path, []byte("other"), 0o644)
	})
	if st := ts.Stats(); st.Aborted != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestInProgressRewritten(t *testing.T) {
	ts := newTestServer(t, Options{})
	failedRead(t, ts, "chunk-stream0-00001.m4s", func(w *segmentWriter) {
		w.f.WriteAt([]byte("patched header"), 0) // bytes already sent change
		w.finish()
	})
	failedRead(t, ts, "chunk-stream0-00002.m4s", func(w *segmentWriter) {
		w.f.Truncate(100)
		w.finish()
	})
	if st := ts.Stats(); st.Aborted != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestInProgressStalled: a segment that stops growing for Stall fails its readers, rather
// than keeping them waiting for good.
func TestInProgressStalled(t *testing.T) {
	ts := newTestServer(t, Options{Stall: 50 * time.Millisecond})
	start := time.Now()
	failedRead(t, ts, "chunk-stream0-00001.m4s", func(*segmentWriter) {})
	if d := time.Since(start); d > testenv.Hang {
		t.Errorf("gave up after %s", d)
	}
}

func TestInProgressHeadAndRange(t *testing.T) {
	ts := newTestServer(t, Options{})
	w := newSegmentWriter(t, filepath.Join(ts.dir, "chunk-stream0-00003.m4s"))
	w.write(pattern(1000, 4))

	resp, body := ts.get(t, "HEAD", "/live/cam/chunk-stream0-00003.m4s", nil)
	if resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Content-Type") != "video/iso.segment" {
		t.Errorf("HEAD: status %d, %d bytes, %v", resp.StatusCode, len(body), resp.Header)
	}
	// A Range request waits for the whole segment and gets exactly its range.
	written := make(chan []byte, 1)
	go func() {
		time.Sleep(20 * time.Millisecond)
		w.write(pattern(1000, 5))
		w.finish()
		written <- w.all
	}()
	resp, body = ts.get(t, "GET", "/live/cam/chunk-stream0-00003.m4s", http.Header{"Range": {"bytes=900-1099"}})
	if all := <-written; resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, all[900:1100]) {
		t.Errorf("range: status %d, %d bytes", resp.StatusCode, len(body))
	}
}

// TestMissingSegment: a segment that is neither there nor being written is held for, in a
// live stream's folder, until it starts; a 404 at once where it cannot come, and after
// Hold where it does not.
func TestMissingSegment(t *testing.T) {
	ts := newTestServer(t, Options{Hold: 300 * time.Millisecond})
	// No such stream folder, or a number the writer is already past: a 404 at once.
	ts.write(t, "chunk-stream0-00043.m4s", pattern(10, 1))
	for _, p := range []string{"/live/nocam/chunk-stream0-00042.m4s", "/live/cam/chunk-stream0-00042.m4s"} {
		resp, _ := ts.get(t, "GET", p, nil)
		if st := ts.Stats(); resp.StatusCode != 404 || st.Waited != 0 {
			t.Errorf("%s: status %d, having waited for it (stats %+v)", p, resp.StatusCode, st)
		}
	}

	prev := newSegmentWriter(t, filepath.Join(ts.dir, "chunk-stream0-00009.m4s"))
	prev.write(pattern(100, 6))
	written := make(chan []byte, 1)
	go func() {
		// Once the request below waits for it, the segment before ends and this one starts.
		if !eventually(func() bool { return ts.Stats().Waited == 1 }) {
			t.Error("the request was never held")
		}
		prev.finish()
		next := newSegmentWriter(t, filepath.Join(ts.dir, "chunk-stream0-00010.m4s"))
		next.write(pattern(500, 7))
		time.Sleep(10 * time.Millisecond)
		next.write(pattern(500, 8))
		next.finish()
		written <- next.all
	}()
	resp, body := ts.get(t, "GET", "/live/cam/chunk-stream0-00010.m4s", nil)
	if all := <-written; resp.StatusCode != 200 || !bytes.Equal(body, all) {
		t.Errorf("next segment: status %d, %d bytes", resp.StatusCode, len(body))
	}
	// One that never comes: a 404 once Hold is over.
	start := time.Now()
	resp, _ = ts.get(t, "GET", "/live/cam/chunk-stream0-00011.m4s", nil)
	if d := time.Since(start); resp.StatusCode != 404 || d < 300*time.Millisecond {
		t.Errorf("a next segment that never comes: status %d after %s", resp.StatusCode, d)
	}
	if st := ts.Stats(); st.Waited != 2 || st.Missing != 3 {
		t.Errorf("stats %+v", st)
	}

	// A folder nothing has changed in for a while holds a finished stream.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(ts.dir, old, old); err != nil {
		t.Fatal(err)
	}
	resp, _ = ts.get(t, "GET", "/live/cam/chunk-stream0-00011.m4s", nil)
	if st := ts.Stats(); resp.StatusCode != 404 || st.Waited != 2 {
		t.Errorf("finished stream: status %d (stats %+v)", resp.StatusCode, st)
	}

	// A negative Hold holds nothing.
	ts = newTestServer(t, Options{Hold: -1})
	resp, _ = ts.get(t, "GET", "/live/cam/chunk-stream0-00001.m4s", nil)
	if st := ts.Stats(); resp.StatusCode != 404 || st.Waited != 0 {
		t.Errorf("Hold -1: status %d (stats %+v)", resp.StatusCode, st)
	}
}

// TestPausedSegment: with Pause, a request for the segment after a stream's last is held
// past Hold, for a stream that goes on after a pause (a publisher that reconnects), and
// answered by the segment the stream goes on with; without, it is a 404 after Hold.
func TestPausedSegment(t *testing.T) {
	const hold = 100 * time.Millisecond
	for _, pause := range []time.Duration{0, time.Hour} {
		ts := newTestServer(t, Options{Hold: hold, Pause: pause})
		ts.write(t, "chunk-stream1-00009.m4s", pattern(100, 1))
		written := make(chan []byte, 1)
		go func() {
			// The stream goes on well after Hold: long enough for the request to have
			// been answered 404 without Pause.
			eventually(func() bool { return ts.Stats().Missing == 1 || pause > 0 && ts.Stats().Waited == 1 })
			time.Sleep(3 * hold)
			w := newSegmentWriter(t, filepath.Join(ts.dir, "chunk-stream1-00010.m4s"))
			w.write(pattern(700, 2))
			w.finish()
			written <- w.all
		}()
		resp, body := ts.get(t, "GET", "/live/cam/chunk-stream1-00010.m4s", nil)
		all := <-written
		switch {
		case pause == 0 && resp.StatusCode != 404:
			t.Errorf("no Pause: status %d, want a 404 after Hold", resp.StatusCode)
		case pause > 0 && (resp.StatusCode != 200 || !bytes.Equal(body, all)):
			t.Errorf("Pause %s: status %d, %d bytes of %d", pause, resp.StatusCode, len(body), len(all))
		}
	}
}

// TestMissingManifest: a manifest or playlist not written yet is held for, up to Hold,
// even where the stream has no folder yet: a player opened as its stream starts gets it
// the moment the packager writes it, not a 404 it would take for the end.
func TestMissingManifest(t *testing.T) {
	ts := newTestServer(t, Options{Hold: testenv.Hang}) // held until the write, however busy the machine
	mpd := []byte(`<MPD type="dynamic"/>`)
	done := writeHeldManifest(t, ts, "newcam", mpd, nil)
	resp, body := ts.get(t, "GET", "/live/newcam/manifest.mpd", nil)
	<-done
	if resp.StatusCode != 200 || !bytes.Equal(body, mpd) || resp.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("held manifest: status %d, %q, headers %v", resp.StatusCode, body, resp.Header)
	}

	// One that never comes: a 404 once Hold is over.
	ts = newTestServer(t, Options{Hold: 300 * time.Millisecond})
	start := time.Now()
	resp, _ = ts.get(t, "GET", "/live/nocam/master.m3u8", nil)
	if d := time.Since(start); resp.StatusCode != 404 || d < 300*time.Millisecond {
		t.Errorf("a playlist that never comes: status %d after %s", resp.StatusCode, d)
	}
	if st := ts.Stats(); st.Waited != 1 {
		t.Errorf("stats %+v", st)
	}

	// A stream whose packager starts while the request is held (its folder changes) is
	// waited for past Hold: its first manifest can take longer on a busy machine.
	ts = newTestServer(t, Options{Hold: 2 * time.Second})
	start = time.Now()
	done = writeHeldManifest(t, ts, "slowcam", mpd, func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "init-stream0.m4s"), mpd, 0o644); err != nil {
			t.Error(err)
		}
		time.Sleep(time.Until(start.Add(2500 * time.Millisecond))) // past Hold
	})
	resp, body = ts.get(t, "GET", "/live/slowcam/manifest.mpd", nil)
	<-done
	if resp.StatusCode != 200 || !bytes.Equal(body, mpd) {
		t.Errorf("a manifest that comes past Hold, its packager at work: status %d, %q", resp.StatusCode, body)
	}

	// A negative Hold holds nothing.
	ts = newTestServer(t, Options{Hold: -1})
	resp, _ = ts.get(t, "GET", "/live/cam/manifest.mpd", nil)
	if st := ts.Stats(); resp.StatusCode != 404 || st.Waited != 0 {
		t.Errorf("Hold -1: status %d (stats %+v)", resp.StatusCode, st)
	}
}

// writeHeldManifest writes stream's manifest once a request for it is held: it makes the
// stream's folder, calls meanwhile (if not nil) with it, and writes mpd there as the
// packager does, aside and renamed into place. The channel is closed when it is done.
func writeHeldManifest(t *testing.T, ts *testServer, stream string, mpd []byte, meanwhile func(dir string)) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if !eventually(func() bool { return ts.Stats().Waited == 1 }) {
			t.Error("the request was never held")
		}
		dir := filepath.Join(ts.root, "live", stream)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Error(err)
			return
		}
		if meanwhile != nil {
			meanwhile(dir)
		}
		if err := os.WriteFile(filepath.Join(dir, "m.tmp"), mpd, 0o644); err != nil {
			t.Error(err)
		}
		if err := os.Rename(filepath.Join(dir, "m.tmp"), filepath.Join(dir, "manifest.mpd")); err != nil {
			t.Error(err)
		}
	}()
	return done
}

// BenchmarkInProgress measures how soon appended bytes reach a client.
func BenchmarkInProgress(b *testing.B) {
	ts := newTestServer(b, Options{})
	w := newSegmentWriter(b, filepath.Join(ts.dir, "chunk-stream0-00001.m4s"))
	w.write([]byte{0})
	resp, err := noGzipClient.Get(ts.url + "/live/cam/chunk-stream0-00001.m4s")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 1024)
	io.ReadFull(resp.Body, buf[:1])
	frag := pattern(1024, 9)
	b.ResetTimer()
	for b.Loop() {
		w.write(frag)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	w.finish()
	io.Copy(io.Discard, resp.Body)
}

// BenchmarkFanOut measures many clients streaming one segment while it is written: 200
// clients, a 320 KB segment written in 20 pieces, per op. Its CPU time per op is the cost
// of the fan-out (compare commits: the clients only use HTTP).
func BenchmarkFanOut(b *testing.B) {
	ts := newTestServer(b, Options{})
	const clients, pieces, piece = 200, 20, 16 << 10
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: clients}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	b.SetBytes(clients * pieces * piece)
	for i := range b.N {
		name := fmt.Sprintf("chunk-stream0-%05d.m4s", i+1)
		rel := "live/cam/" + name
		w := newSegmentWriter(b, filepath.Join(ts.dir, name))
		w.write(pattern(piece, 1))
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				resp, err := client.Get(ts.url + "/live/cam/" + name)
				if err != nil {
					b.Error(err)
					return
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if n != pieces*piece {
					b.Errorf("%d bytes of %d", n, pieces*piece)
				}
			})
		}
		ts.watchers.mu.Lock()
		for ts.watchers.files[rel] == nil || ts.watchers.files[rel].refs < clients {
			ts.watchers.mu.Unlock()
			time.Sleep(time.Millisecond)
			ts.watchers.mu.Lock()
		}
		ts.watchers.mu.Unlock()
		for p := 1; p < pieces; p++ {
			w.write(pattern(piece, byte(p)))
			time.Sleep(time.Millisecond)
		}
		w.finish()
		wg.Wait()
	}
	// Looks at the file per segment (one per change seen, however many clients), and
	// those forced by safetyWake: a change no watch reported.
	b.ReportMetric(float64(ts.Stats().InProgressLooks)/float64(b.N), "looks/op")
	b.ReportMetric(float64(ts.stats.follow.forced.Load())/float64(b.N), "forced/op")
}

// TestMaxRequests: past MaxRequests requests under /live/ at once, held ones included,
// a request is a 503 with Retry-After; once they are answered, requests are served again.
func TestMaxRequests(t *testing.T) {
	ts := newTestServer(t, Options{MaxRequests: 2, Hold: testenv.Hang})
	answer := holdTwo(t, ts)
	resp, _ := ts.get(t, "GET", "/live/cam/manifest.mpd", nil)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("a request past the bound: status %d, headers %v", resp.StatusCode, resp.Header)
	}
	answer()
	resp, _ = ts.get(t, "GET", "/live/cam/chunk-stream0-00002.m4s", nil)
	if st := ts.Stats(); resp.StatusCode != 200 || st.Refused != 1 {
		t.Errorf("once the held ones are answered: status %d, stats %+v", resp.StatusCode, st)
	}
}

// holdTwo writes segment 1 of the stream cam (100 bytes) and has two requests for segment
// 2 held; answer writes segment 2 (500 bytes) and waits for both to have it.
func holdTwo(t *testing.T, ts *testServer) (answer func()) {
	t.Helper()
	ts.write(t, "chunk-stream0-00001.m4s", pattern(100, 1)) // the stream is live
	const name = "chunk-stream0-00002.m4s"
	var wg sync.WaitGroup
	// One after the other: on its way to being held, a request tries to open the file,
	// a descriptor for a moment, and two at once could take more than TestDescriptors
	// leaves them.
	for i := range int64(2) {
		wg.Go(func() {
			resp, body := ts.get(t, "GET", "/live/cam/"+name, nil)
			if resp.StatusCode != 200 || len(body) != 500 {
				t.Errorf("a held request: status %d, %d bytes", resp.StatusCode, len(body))
			}
		})
		if !eventually(func() bool { return ts.Stats().Waited == i+1 }) {
			t.Fatalf("the requests were not held: %+v", ts.Stats())
		}
	}
	return func() {
		w := newSegmentWriter(t, filepath.Join(ts.dir, name))
		w.write(pattern(500, 2))
		// Both follow the segment in progress before it is finished: each holds its
		// socket and shares one reader of the file. Woken after the rename instead (a
		// busy machine), each would open the finished file, a descriptor each.
		if !eventually(func() bool { return ts.Stats().InProgress == 2 }) {
			t.Errorf("the held requests did not follow the segment in progress: %+v", ts.Stats())
		}
		w.finish()
		wg.Wait()
	}
}

// TestDescriptors: the requests under /live/ and the files opened for them share the
// descriptors that the open-file limit leaves (DefaultMaxRequests). Requests that hold
// no file, held ones, are admitted up to them; one that would open a file past them is a
// 503, and is served once descriptors are free again. Every descriptor counted is given
// back.
func TestDescriptors(t *testing.T) {
	ts := newTestServer(t, Options{Hold: testenv.Hang, MaxRequests: -1})
	ts.fdBudget = 3
	answer := holdTwo(t, ts)
	// Its socket is the third descriptor, its file would be a fourth.
	resp, _ := ts.get(t, "GET", "/live/cam/chunk-stream0-00001.m4s", nil)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a file past the descriptors: status %d, headers %v", resp.StatusCode, resp.Header)
	}
	answer()
	resp, body := ts.get(t, "GET", "/live/cam/chunk-stream0-00001.m4s", nil)
	if resp.StatusCode != 200 || len(body) != 100 {
		t.Errorf("once the held ones are answered: status %d, %d bytes", resp.StatusCode, len(body))
	}
	if !eventually(func() bool { return ts.fds.Load() == 0 }) {
		t.Errorf("%d descriptors still counted with no request", ts.fds.Load())
	}
}

// TestCacheBound: past Options.Cache, a segment in progress that no client holds yet is
// not read into memory: its request is answered, whole and from the file, once the
// segment is written. The segments held go on streaming, and their bytes are let go when
// their last client is done.
func TestCacheBound(t *testing.T) {
	ts := newTestServer(t, Options{Cache: 1})
	a, respA := fillCache(t, ts)
	gotA := make([]byte, 900)

	b := newSegmentWriter(t, filepath.Join(ts.dir, "chunk-stream0-00002.m4s"))
	b.write(pattern(1500, 2))
	type result struct {
		resp *http.Response
		body []byte
		err  error
	}
	gotB := make(chan result, 1)
	go func() {
		resp, body, err := ts.fetch(http.MethodGet, "/live/cam/chunk-stream0-00002.m4s", nil)
		gotB <- result{resp, body, err}
	}()
	if !eventually(func() bool { return ts.Stats().Uncached == 1 }) {
		t.Fatalf("the second segment's request was not held for its end: %+v", ts.Stats())
	}
	b.write(pattern(700, 3))
	// The held segment goes on streaming while the other waits.
	more := pattern(900, 4)
	a.write(more)
	if _, err := io.ReadFull(respA.Body, gotA); err != nil || !bytes.Equal(gotA, more) {
		t.Fatalf("the held segment did not go on streaming: %v", err)
	}
	select {
	case r := <-gotB:
		t.Fatalf("answered before its segment was written: %+v", r)
	default:
	}
	b.finish()
	select {
	case r := <-gotB:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.resp.StatusCode != 200 || r.resp.ContentLength != int64(len(b.all)) || !bytes.Equal(r.body, b.all) {
			t.Fatalf("status %d, Content-Length %d, %d bytes: want the whole segment of %d", r.resp.StatusCode, r.resp.ContentLength, len(r.body), len(b.all))
		}
	case <-time.After(testenv.Hang):
		t.Fatal("no answer once the segment was written")
	}

	a.finish()
	rest, err := io.ReadAll(respA.Body)
	if err != nil {
		t.Fatal(err)
	}
	if n := 2000 + 900 + len(rest); n != len(a.all) {
		t.Fatalf("the held segment: %d bytes, want %d", n, len(a.all))
	}
	if !eventually(func() bool { return ts.Stats().CacheBytes == 0 }) {
		t.Errorf("CacheBytes %d once every client is done, want 0", ts.Stats().CacheBytes)
	}
}

// fillCache starts segment 1 and a client of it that has read its first 2000 bytes: a
// cache of 1 byte is then full.
func fillCache(t *testing.T, ts *testServer) (*segmentWriter, *http.Response) {
	t.Helper()
	a := newSegmentWriter(t, filepath.Join(ts.dir, "chunk-stream0-00001.m4s"))
	a.write(pattern(2000, 1))
	resp, err := noGzipClient.Get(ts.url + "/live/cam/chunk-stream0-00001.m4s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.ContentLength != -1 {
		t.Fatalf("segment in progress under the bound: status %d, Content-Length %d", resp.StatusCode, resp.ContentLength)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 2000)); err != nil {
		t.Fatal(err)
	}
	if st := ts.Stats(); st.CacheBytes < 2000 {
		t.Fatalf("CacheBytes %d while a segment of 2000 bytes is held", st.CacheBytes)
	}
	return a, resp
}

// TestCacheBoundAbandoned: a segment waited for past the cache bound whose file goes away
// unwritten is a 404.
func TestCacheBoundAbandoned(t *testing.T) {
	ts := newTestServer(t, Options{Cache: 1})
	a, _ := fillCache(t, ts)
	b := newSegmentWriter(t, filepath.Join(ts.dir, "chunk-stream0-00002.m4s"))
	b.write(pattern(1500, 2))
	done := make(chan int, 1)
	go func() {
		resp, _, err := ts.fetch(http.MethodGet, "/live/cam/chunk-stream0-00002.m4s", nil)
		if err != nil {
			t.Error(err)
			done <- 0
			return
		}
		done <- resp.StatusCode
	}()
	if !eventually(func() bool { return ts.Stats().Uncached == 1 }) {
		t.Fatalf("not held: %+v", ts.Stats())
	}
	b.f.Close()
	if err := os.Remove(b.path + ".tmp"); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != http.StatusNotFound {
		t.Errorf("status %d for an abandoned segment, want 404", code)
	}
	a.finish()
}

// TestNotified: in a stream folder, a change to a segment in progress wakes its watch at
// once, from the kernel's notification: with polling as good as off (an hour), the watch
// still counts the writer's changes.
func TestNotified(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("inotify: Linux only")
	}
	ts := newTestServer(t, Options{Poll: time.Hour})
	const rel = "live/cam/chunk-stream0-00003.m4s"
	w := newSegmentWriter(t, filepath.Join(ts.root, rel))
	w.write(pattern(1000, 1))
	resp, err := noGzipClient.Get(ts.url + "/" + rel)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		more := pattern(500+i, byte(i))
		w.write(more)
		if _, err := io.ReadFull(resp.Body, buf[:len(more)]); err != nil || !bytes.Equal(buf[:len(more)], more) {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	ts.watchers.mu.Lock()
	fw := ts.watchers.files[rel]
	ts.watchers.mu.Unlock()
	if fw == nil {
		t.Fatal("no watch of the segment while it is read")
	}
	if n := fw.changes.Load(); n == 0 {
		t.Errorf("the watch saw no change in 5 writes: nothing woke it but its hourly poll")
	}
	w.finish()
	rest, err := io.ReadAll(resp.Body)
	if err != nil || 1000+5*500+10+len(rest)-len(w.all) != 0 {
		t.Errorf("%d bytes after the writes (%v), the segment has %d", len(rest), err, len(w.all))
	}
}

// TestAdvanceNamed: when the writer's last write and its rename are seen as one change,
// the look that reads the last bytes also finds the segment complete: no later change
// will come to tell the clients.
func TestAdvanceNamed(t *testing.T) {
	ts := newTestServer(t, Options{})
	const rel = "live/cam/chunk-stream0-00004.m4s"
	w := newSegmentWriter(t, filepath.Join(ts.root, rel))
	w.write(pattern(1000, 1))
	tl, err := ts.openTail(rel)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.close()
	data, done, err := tl.seg.advance(1, false, false, time.Minute)
	if err != nil || done || len(data) != 1000 {
		t.Fatalf("first look: %d bytes, done %v, %v", len(data), done, err)
	}
	w.write(pattern(600, 2))
	w.finish()
	data, done, err = tl.seg.advance(2, true, false, time.Minute)
	if err != nil || !done || !bytes.Equal(data, w.all) {
		t.Fatalf("the look after the last write and the rename: %d bytes of %d, done %v, %v", len(data), len(w.all), done, err)
	}
}
