package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/svtool/sv/internal/lab"
	"github.com/svtool/sv/internal/testenv"
)

// TestKilledAllRestarts: three publishers (sv send, in real time), and sv all is killed
// (SIGKILL) in the middle of their streams. Every recording on disk holds at least what
// sv all had counted as received and recorded when it was last asked, as a prefix of what
// was sent: nothing accepted was lost in a buffer. A new sv all on the same folder says
// no stream is live and has no live manifest left, finishes the three recordings (their
// seekable copies, recording_ready with "recovered"), and the streams are published
// again at once.
func TestKilledAllRestarts(t *testing.T) {
	testenv.Require(t, "ffmpeg", "ffprobe")
	sv := lab.Bin(t, lab.SV)
	sources := map[string]string{
		"a": filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm"),
		"b": filepath.Join(testenv.Dir(), "vp8-opus.webm"),
		"c": filepath.Join(testenv.Dir(), "h264-cuts.webm"),
	}
	s := lab.StartAll(t, sv, "--quiet")
	for name, src := range sources {
		send := exec.Command(sv, "send", "-q", src, "ws://"+s.Addr+"/ingest/"+name)
		lab.Start(t, send) // it fails when sv all dies: that is the point
	}
	received := map[string]float64{}
	lab.WaitFor(t, hang, "every stream to have sent 200 KB", func() (bool, string) {
		for name := range sources {
			v, _ := s.Metric(t, fmt.Sprintf(`sv_ingest_bytes_total{stream=%q}`, name))
			received[name] = v
		}
		for _, v := range received {
			if v < 200_000 {
				return false, fmt.Sprint(received)
			}
		}
		return true, ""
	})
	s.Stop(syscall.SIGKILL, 0)

	recordings := map[string]string{}
	for name, src := range sources {
		recs, _ := filepath.Glob(filepath.Join(s.Out, "recordings", name, "*.webm"))
		if len(recs) != 1 {
			t.Fatalf("stream %s left recordings %q, want one", name, recs)
		}
		got, _ := os.ReadFile(recs[0])
		want, _ := os.ReadFile(src)
		if float64(len(got)) < received[name] || !bytes.HasPrefix(want, got) {
			t.Errorf("stream %s: the recording holds %d bytes (a prefix of what was sent: %v); sv all had received %.0f",
				name, len(got), bytes.HasPrefix(want, got), received[name])
		}
		t.Logf("stream %s: %d bytes on disk after the kill, %.0f counted before it", name, len(got), received[name])
		recordings[name] = recs[0]
	}

	events := filepath.Join(t.TempDir(), "events.jsonl")
	again := lab.StartAllAt(t, sv, lab.FreeAddr(t), s.Out, "--quiet", "--events", events)
	resp, err := http.Get(again.URL("/streams.json"))
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Streams []struct {
			Name string `json:"name"`
			Live bool   `json:"live"`
		} `json:"streams"`
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	for _, st := range list.Streams {
		if st.Live {
			t.Errorf("after the restart /streams.json lists %s as live", st.Name)
		}
	}
	for name := range sources {
		if _, err := os.Stat(filepath.Join(s.Out, "live", name, "manifest.mpd")); err == nil {
			t.Errorf("stream %s: the dead presentation's manifest is still there", name)
		}
	}
	lab.WaitFor(t, hang, "the three recordings to be finished", func() (bool, string) {
		b, _ := os.ReadFile(events)
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			var e struct {
				Type      string `json:"type"`
				Recording string `json:"recording"`
				Seekable  string `json:"seekable"`
				Recovered bool   `json:"recovered"`
			}
			if json.Unmarshal(sc.Bytes(), &e) == nil && e.Type == "recording_ready" && e.Recovered && e.Seekable != "" {
				n++
			}
		}
		return n == len(sources), string(b)
	})
	for name, rec := range recordings {
		if _, err := os.Stat(filepath.Join(filepath.Dir(rec), "."+filepath.Base(rec)+".unfinished")); err == nil {
			t.Errorf("stream %s: the recording's unfinished marker is still there", name)
		}
	}
	start := time.Now()
	for name := range sources {
		out, err := exec.Command(sv, "send", "-q", "--rate", "max", filepath.Join(testenv.Dir(), "h264-video-only.webm"), "ws://"+again.Addr+"/ingest/"+name).CombinedOutput()
		if err != nil {
			t.Errorf("publishing %s again: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
	}
	t.Logf("the three streams published again in %s", time.Since(start).Round(time.Millisecond))
	again.Interrupt(t)
}
