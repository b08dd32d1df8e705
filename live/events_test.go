package live

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/svtool/sv/event"
	"github.com/svtool/sv/internal/testenv"
)

// eventLog keeps the events a Server emits (Options.Events), as JSON lines.
type eventLog struct {
	bus *event.Bus
	mu  sync.Mutex
	buf bytes.Buffer
}

func newEventLog(t *testing.T) *eventLog {
	l := &eventLog{}
	l.bus = event.New(event.Options{}, &event.Lines{W: l, Name: "test"})
	t.Cleanup(func() { l.bus.Close(context.Background()) })
	return l
}

func (l *eventLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// events returns the events delivered so far, in order.
func (l *eventLog) events(t *testing.T) []event.Event {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var es []event.Event
	for line := range strings.SplitSeq(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var e event.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("event %q: %v", line, err)
		}
		es = append(es, e)
	}
	return es
}

// of returns the events of type typ.
func of(es []event.Event, typ event.Type) []event.Event {
	var out []event.Event
	for _, e := range es {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// One session's events, in order: publish_start first; the analysis' scene cuts, as many
// as its summary counts; publish_end with every byte and the cause; recording_ready last,
// with the recording's SHA-256 and its seekable copy. Every event names the stream and
// the session.
func TestEvents(t *testing.T) {
	testenv.RequireFFmpeg(t)
	out := t.TempDir()
	log := newEventLog(t)
	ended := make(chan SessionStats, 1)
	addr, _ := serveTest(t, Options{Out: out, Seekable: true, Events: log.bus, OnSession: func(st SessionStats) { ended <- st }})
	rec := filepath.Join(testenv.Dir(), "h264-cuts.webm")
	if err := publish(context.Background(), addr, "cam", rec, false); err != nil {
		t.Fatal(err)
	}
	st := <-ended
	testenv.WaitFor(t, "recording_ready", func() bool { return len(of(log.events(t), event.RecordingReady)) == 1 })
	es := log.events(t)

	want, _ := os.ReadFile(rec)
	sum := sha256.Sum256(want)
	if es[0].Type != event.PublishStart || !strings.HasPrefix(es[0].Remote, "127.0.0.1:") {
		t.Errorf("first event: %+v", es[0])
	}
	ends := of(es, event.PublishEnd)
	if len(ends) != 1 || ends[0].Bytes != int64(len(want)) || ends[0].Cause != event.CauseStopped || ends[0].Error != "" || ends[0].DurationMs <= 0 {
		t.Errorf("publish_end: %+v", ends)
	}
	ready := es[len(es)-1]
	if ready.Type != event.RecordingReady || ready.SHA256 != hex.EncodeToString(sum[:]) || ready.Size != int64(len(want)) ||
		ready.Recording != st.Recording || ready.Seekable != st.Seekable || !filepath.IsAbs(ready.Recording) || st.Seekable == "" {
		t.Errorf("last event: %+v, session %+v", ready, st)
	}
	// The analysis found its cuts, and told of each.
	jsonl, err := os.ReadFile(filepath.Join(out, "live", "cam", "frames.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	cuts := strings.Count(string(jsonl), `{"type":"scene_cut"`)
	if got := of(es, event.SceneCut); cuts == 0 || len(got) != cuts || got[0].Media == nil || got[0].Media.Score <= 0 {
		t.Errorf("%d scene_cut events (first %+v), frames.jsonl has %d", len(got), got, cuts)
	}
	for i, e := range es {
		if e.Stream != "cam" || e.Session != es[0].Session || e.Session == "" || e.ID == "" || e.Time.IsZero() {
			t.Errorf("event %d: %+v", i, e)
		}
	}
	if n := metricValue(t, addr, `sv_events_total{type="scene_cut"}`); n != float64(cuts) {
		t.Errorf("sv_events_total{type=scene_cut} %v, want %d", n, cuts)
	}
	if n := metricValue(t, addr, `sv_event_deliveries_total{sink="events test"}`); n != float64(len(es)) {
		t.Errorf("sv_event_deliveries_total %v, want %d", n, len(es))
	}
}
