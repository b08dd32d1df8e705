package demo_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/svtool/sv/internal/demo"
	"github.com/svtool/sv/internal/testenv"
	"github.com/svtool/sv/live"
)

// The demo is one endless session: past the end of the embedded recording the server
// still has the one publisher, the one recording keeps growing, and the analysis sees
// timestamps going on past the recording's 15 s.
func TestDemoLoops(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for 17 s; not with -short")
	}
	testenv.RequireFFmpeg(t)
	out := t.TempDir()
	srv, err := live.New(live.Options{Out: out})
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
	demoDone := make(chan error, 1)
	go func() { demoDone <- demo.Run(ctx, "ws://"+ln.Addr().String()+"/ingest/"+demo.Stream, demo.Options{}) }()

	jsonl := filepath.Join(out, "live", demo.Stream, "frames.jsonl")
	pts := regexp.MustCompile(`"type":"frame","n":(\d+),"pts_ms":(\d+)`)
	// 16 s of media in real time, and a hang's worth of slack for a busy machine.
	deadline := time.Now().Add(16*time.Second + testenv.Hang)
	var lastN, lastPTS int
	for {
		b, _ := os.ReadFile(jsonl)
		if m := pts.FindAllSubmatch(b, -1); len(m) > 0 {
			lastN, _ = strconv.Atoi(string(m[len(m)-1][1]))
			lastPTS, _ = strconv.Atoi(string(m[len(m)-1][2]))
		}
		if lastPTS > 16000 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if lastPTS <= 16000 || lastN < 460 {
		t.Errorf("the analysis reached frame %d at %d ms; want past the recording's 452 frames and 15 s", lastN, lastPTS)
	}
	recs, _ := filepath.Glob(filepath.Join(out, "recordings", demo.Stream, "*Z.webm"))
	if len(recs) != 1 {
		t.Fatalf("recordings %v, want one session's", recs)
	}
	if names := srv.Live(); len(names) != 1 || names[0] != demo.Stream {
		t.Errorf("live streams %v, want [demo]", names)
	}
	mpd, _ := os.ReadFile(filepath.Join(out, "live", demo.Stream, "manifest.mpd"))
	if !bytes.Contains(mpd, []byte(`type="dynamic"`)) {
		t.Error("the demo's manifest is not live")
	}
	cancel()
	if err := <-demoDone; err != nil {
		t.Errorf("demo.Run: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	fi, err := os.Stat(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() <= int64(len(demo.Recording)) {
		t.Errorf("the recording holds %d bytes, want more than the %d of one pass", fi.Size(), len(demo.Recording))
	}
}
