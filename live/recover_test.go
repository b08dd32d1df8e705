package live

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/svtool/sv/event"
	"github.com/svtool/sv/internal/testenv"
)

// putStore is a Store that remembers what it was handed.
type putStore struct {
	mu  sync.Mutex
	put []string
}

func (s *putStore) Put(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put = append(s.put, path)
}

func (s *putStore) URL(context.Context, string) (string, bool) { return "", false }

func (s *putStore) Puts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.put)
}

// copyTree copies the files under src to dst as they are now: what a process that died
// at this moment leaves on disk.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil // renamed or removed since the listing
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRecovery: a server starts on the files a process left as it died in the middle of
// a session (a copy of its Out taken then). Before serving, the presentation left live
// is ended: no manifest says the stream is live. Serving, it finishes the recording:
// the recording holds every byte the dead process had received, gets its seekable copy,
// goes to the Store and is announced (recording_ready, recovered), and its marker is
// gone. The stream can be published again at once.
func TestRecovery(t *testing.T) {
	testenv.RequireFFmpeg(t)
	live := t.TempDir()
	addr, stop := serveTest(t, Options{Out: live, Reconnect: time.Hour})
	src := filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go publish(ctx, addr, "cam", src, true)
	waitFile(t, filepath.Join(live, "live", "cam", "chunk-stream0-*-00002.m4s"))
	received := metricValue(t, addr, `sv_ingest_bytes_total{stream="cam"}`)
	dead := t.TempDir()
	copyTree(t, live, dead)
	cancel()
	stop()

	recs, _ := filepath.Glob(filepath.Join(dead, "recordings", "cam", "*.webm"))
	markers, _ := filepath.Glob(filepath.Join(dead, "recordings", "cam", ".*.unfinished"))
	if len(recs) != 1 || len(markers) != 1 {
		t.Fatalf("the dead process's files: recordings %q, markers %q; want one of each", recs, markers)
	}
	rec := recs[0]
	got, _ := os.ReadFile(rec)
	want, _ := os.ReadFile(src)
	if float64(len(got)) < received || !bytes.HasPrefix(want, got) {
		t.Fatalf("the recording left holds %d bytes (a prefix of what was sent: %v); the server had received %.0f",
			len(got), bytes.HasPrefix(want, got), received)
	}

	log := newEventLog(t)
	store := &putStore{}
	srv, err := New(Options{Out: dead, Seekable: true, Events: log.bus, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"manifest.mpd", "master.m3u8", "media_0.m3u8"} {
		if _, err := os.Stat(filepath.Join(dead, "live", "cam", name)); err == nil {
			t.Errorf("%s of the dead presentation is still there before serving", name)
		}
	}
	if tmp, _ := filepath.Glob(filepath.Join(dead, "live", "cam", "*.tmp")); len(tmp) > 0 {
		t.Errorf("segments in progress of the dead presentation are still there: %q", tmp)
	}
	addr, _ = serveWith(t, srv)

	var ready event.Event
	testenv.WaitFor(t, "recording_ready for the recording left unfinished", func() bool {
		rs := of(log.events(t), event.RecordingReady)
		if len(rs) > 0 {
			ready = rs[0]
		}
		return len(rs) > 0
	})
	abs, _ := filepath.Abs(rec)
	if !ready.Recovered || ready.Recording != abs || ready.Size != int64(len(got)) || ready.SHA256 == "" || ready.Stream != "cam" {
		t.Errorf("recording_ready: %+v; want the recording %s, %d bytes, recovered", ready, abs, len(got))
	}
	if ready.Seekable == "" {
		t.Errorf("no seekable copy of the recovered recording: %+v", ready)
	} else if fi, err := os.Stat(ready.Seekable); err != nil || fi.Size() == 0 {
		t.Errorf("seekable copy %s: %v", ready.Seekable, err)
	}
	testenv.WaitFor(t, "the marker to go", func() bool {
		_, err := os.Stat(markers[0])
		return os.IsNotExist(err)
	})
	if puts := store.Puts(); len(puts) != 2 || puts[0] != rec || !strings.Contains(puts[1], ".seekable.") {
		t.Errorf("the Store was handed %q; want the recording and its seekable copy", puts)
	}
	if n := metricValue(t, addr, "sv_recordings_recovered_total"); n != 1 {
		t.Errorf("sv_recordings_recovered_total %v, want 1", n)
	}

	// Not live, and free to publish again: a new presentation.
	resp, err := http.Get("http://" + addr + "/streams.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var list []struct {
		Name string `json:"name"`
		Live bool   `json:"live"`
	}
	json.Unmarshal(body, &list)
	for _, s := range list {
		if s.Name == "cam" && s.Live {
			t.Errorf("/streams.json lists the dead stream as live: %s", body)
		}
	}
	if err := publish(context.Background(), addr, "cam", filepath.Join(testenv.Dir(), "h264-video-only.webm"), false); err != nil {
		t.Fatalf("publishing the stream again: %v", err)
	}
}
