package ws

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/svtool/sv/media"
)

// The chunker cuts every recording into messages that concatenate to the input, starting
// with the header, each cut where a frame (WebM) or fragment (MP4) starts, about one chunk of
// media apart.
func TestChunker(t *testing.T) {
	for _, name := range []string{"h264-opus-kf1s.webm", "h264-opus-kf5s.webm", "vp8-opus.webm", "vp9-opus.mp4", "h264-video-only.webm"} {
		t.Run(name, func(t *testing.T) {
			rec := recording(t, name)
			kind := media.Sniff(rec)
			var starts []int64 // where frames or fragments start
			var headerEnd int64
			if _, err := media.Scan(bytes.NewReader(rec), func(e media.Event) error {
				switch {
				case e.Kind == media.EventHeader && headerEnd == 0:
					headerEnd = e.Offset
				case kind == media.WebM && e.Kind == media.EventBlock, kind == media.MP4 && e.Kind == media.EventCluster:
					starts = append(starts, e.Offset)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			var msgs [][]byte
			var times []time.Duration
			ch := &chunker{kind: kind, every: 250 * time.Millisecond, ctx: context.Background(),
				send:   func(p []byte) error { msgs = append(msgs, bytes.Clone(p)); return nil },
				onSend: func(s Sent) { times = append(times, s.Media) },
			}
			if err := ch.run(bytes.NewReader(rec)); err != nil {
				t.Fatal(err)
			}
			if got := bytes.Join(msgs, nil); !bytes.Equal(got, rec) {
				t.Fatalf("messages concatenate to %d bytes, not the %d of the input", len(got), len(rec))
			}
			if int64(len(msgs[0])) < headerEnd {
				t.Errorf("first message has %d bytes, less than the %d-byte header", len(msgs[0]), headerEnd)
			}
			off := int64(0)
			for i, m := range msgs[:len(msgs)-1] {
				off += int64(len(m))
				if !slices.Contains(starts, off) {
					t.Fatalf("message %d ends at %d, not where a frame starts", i, off)
				}
			}
			total := times[len(times)-1]
			step := 250 * time.Millisecond
			if kind == media.MP4 {
				step = time.Second // MP4 is cut at fragments, which Chrome makes about a second long
			}
			if n := len(msgs); n < int(total/step)/2 || n > int(total/(step/2))+2 {
				t.Errorf("%d messages for %s of media, want about one per %s", n, total, step)
			}
			if !slices.IsSorted(times) {
				t.Errorf("media times go backwards: %v", times)
			}
		})
	}
}

// Real-time pacing really waits: three seconds of media take about three seconds to send.
// (How close the pacing is, is measured by BenchmarkPublishRealtime.)
func TestPublishRealtimeWaits(t *testing.T) {
	rec := recording(t, "h264-opus-kf1s.webm")
	var cut []byte
	// The first ~3 s of the recording: cut at a cluster start after 3 s.
	media.Scan(bytes.NewReader(rec), func(e media.Event) error {
		if cut == nil && e.Kind == media.EventCluster && e.Time >= 3*time.Second {
			cut = rec[:e.Offset]
		}
		return nil
	})
	if cut == nil {
		t.Fatal("no cluster after 3 s")
	}
	s := newSink()
	url := serve(t, &Ingest{Open: func(*Publisher) (Session, error) { return s, nil }}) + "/ingest/cam"
	var last Sent
	start := time.Now()
	err := Publish(context.Background(), url, bytes.NewReader(cut), PublishOptions{Realtime: true, OnSend: func(s Sent) { last = s }})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < last.Media-300*time.Millisecond {
		t.Fatalf("sent %s of media in %s: not paced", last.Media, took)
	}
	if !bytes.Equal(s.bytes(), cut) {
		t.Fatal("bytes differ")
	}
}

// BenchmarkPublishRealtime replays a 20 s recording in real time and reports how far each
// message's departure is from its media time: the median and worst error in ms.
func BenchmarkPublishRealtime(b *testing.B) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		b.Skip("ffmpeg is not installed")
	}
	file := filepath.Join(b.TempDir(), "20s.webm")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
		"-f", "lavfi", "-i", "sine", "-t", "20", "-c:v", "libx264", "-preset", "ultrafast", "-g", "30",
		"-c:a", "libopus", "-f", "matroska", file).CombinedOutput()
	if err != nil {
		b.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	rec, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	var errs []time.Duration
	for i := 0; i < b.N; i++ {
		s := newSink()
		url := serve(b, &Ingest{Open: func(*Publisher) (Session, error) { return s, nil }}) + "/ingest/cam"
		err := Publish(context.Background(), url, bytes.NewReader(rec), PublishOptions{Realtime: true, OnSend: func(s Sent) {
			d := s.Wall - s.Media
			errs = append(errs, max(d, -d))
		}})
		if err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(errs)
	b.ReportMetric(float64(errs[len(errs)/2])/1e6, "p50-error-ms")
	b.ReportMetric(float64(errs[len(errs)-1])/1e6, "max-error-ms")
}
