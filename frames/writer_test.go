package frames

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestWriter(t *testing.T) {
	f := &Frame{N: 1, PTS: 33 * time.Millisecond}
	e := &Event{Type: SceneCut, N: 1, PTS: 33 * time.Millisecond, Score: 0.5}
	s := &Summary{Frames: 2, Analysed: 2, Complete: true}
	for _, tt := range []struct {
		eventsOnly, live bool
		want             []string
	}{
		{false, false, []string{`"type":"frame"`, `"type":"scene_cut"`, `"type":"summary"`}},
		{true, true, []string{`"type":"scene_cut"`, `"type":"summary"`}},
	} {
		var out bytes.Buffer
		w := NewWriter(&out, WriterOptions{EventsOnly: tt.eventsOnly, FlushEach: tt.live})
		for _, r := range []Record{f, e} {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		// Live output is on its way line by line; buffered output waits for flush.
		if tt.live != (out.Len() > 0) {
			t.Errorf("live %v: %d bytes out before the flush", tt.live, out.Len())
		}
		if err := w.Write(s); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if len(lines) != len(tt.want) {
			t.Fatalf("events only %v: %d lines %q", tt.eventsOnly, len(lines), lines)
		}
		for i, l := range lines {
			if !strings.Contains(l, tt.want[i]) {
				t.Errorf("line %d %q, want %s", i, l, tt.want[i])
			}
		}
		if w.Summary() == nil || w.Summary().Frames != 2 {
			t.Errorf("summary kept: %+v", w.Summary())
		}
	}
}

func TestWriterFlushEach(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b, WriterOptions{FlushEach: true})
	if err := w.Write(&Event{Type: BlackStart, N: 3}); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), `{"type":"black_start","n":3,"pts_ms":0}`+"\n"; got != want {
		t.Errorf("written %q, want %q at once", got, want)
	}
	if w.Summary() != nil {
		t.Errorf("Summary() = %+v before any summary", w.Summary())
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriterError(t *testing.T) {
	w := NewWriter(failWriter{}, WriterOptions{FlushEach: true, Name: "frames.jsonl"})
	err := w.Write(&Summary{})
	if err == nil || err.Error() != "write frames.jsonl: disk full" {
		t.Errorf("Write = %v, want write frames.jsonl: disk full", err)
	}
}

func TestSummaryAdd(t *testing.T) {
	first := Summary{
		Frames: 100, Analysed: 50, Width: 320, Height: 240,
		FirstPTS: time.Second, LastPTS: 4900 * time.Millisecond, Duration: 4 * time.Second,
		SceneCuts: 2, Blacks: 1, Black: time.Second, Freezes: 1, Frozen: 2 * time.Second,
		Timecodes: 10, LatencyMin: 100 * time.Millisecond, LatencyMean: 200 * time.Millisecond, LatencyMax: 300 * time.Millisecond,
		Elapsed: 2 * time.Second, Complete: false, Error: "fell behind",
	}
	later := Summary{
		Frames: 50, Analysed: 50, Width: 640, Height: 480,
		FirstPTS: 6 * time.Second, LastPTS: 7900 * time.Millisecond, Duration: 2 * time.Second,
		SceneCuts: 1, Blacks: 0, Freezes: 1, Frozen: time.Second,
		Timecodes: 30, LatencyMin: 50 * time.Millisecond, LatencyMean: 400 * time.Millisecond, LatencyMax: 500 * time.Millisecond,
		Elapsed: 2 * time.Second, Complete: true,
	}
	s := first
	s.Add(&later)
	want := Summary{
		Frames: 150, Analysed: 100, Width: 640, Height: 480,
		FirstPTS: time.Second, LastPTS: 7900 * time.Millisecond, Duration: 7 * time.Second,
		SceneCuts: 3, Blacks: 1, Black: time.Second, Freezes: 2, Frozen: 3 * time.Second,
		Timecodes: 40, LatencyMin: 50 * time.Millisecond, LatencyMean: 350 * time.Millisecond, LatencyMax: 500 * time.Millisecond,
		Elapsed: 4 * time.Second, FPS: 25, Speed: 1.75, Complete: true,
	}
	if s != want {
		t.Errorf("Add:\n got %+v\nwant %+v", s, want)
	}

	// A later run that decoded nothing leaves the time span as it was.
	s = first
	s.Add(&Summary{Elapsed: 2 * time.Second, Complete: true})
	if s.Frames != 100 || s.FirstPTS != time.Second || s.Duration != 4*time.Second || s.LatencyMean != 200*time.Millisecond || !s.Complete {
		t.Errorf("Add(empty) = %+v", s)
	}
}
