package live

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/svtool/sv/internal/testenv"
	"github.com/svtool/sv/ws"
)

// tmpfs mounts a tmpfs of size (mount's syntax: 1m) at a new folder, unmounted at the
// end of the test. It needs root, which CI has: elsewhere the test is skipped, and in CI
// it fails.
func tmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		msg := "cannot mount a tmpfs (root is needed): " + strings.TrimSpace(string(out))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

func healthz(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestFullDisk: the disk fills while a stream is recorded. The publisher is closed with
// 1011 and a reason that says why first; the recording keeps what fitted (a prefix of
// what was sent); /healthz and /metrics say storage fails and a new publisher is refused
// (503) while it does. Once there is room again, /healthz is ok and the stream is
// published and recorded whole.
func TestFullDisk(t *testing.T) {
	testenv.RequireFFmpeg(t)
	out := tmpfs(t, "400k")
	addr, _ := serveTest(t, Options{Out: out, Reconnect: -1})
	src := filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm") // 689 KB, packaged beside it
	err := publish(context.Background(), addr, "cam", src, false)
	var ce *ws.CloseError
	if !errors.As(err, &ce) || ce.Code != 1011 || !strings.HasPrefix(ce.Reason, "cannot store the stream: recording: no space left on device") {
		t.Fatalf("publishing onto a full disk: %v; want close 1011 saying the disk is full first", err)
	}
	recs, _ := filepath.Glob(filepath.Join(out, "recordings", "cam", "*.webm"))
	if len(recs) != 1 {
		t.Fatalf("recordings %q, want one", recs)
	}
	got, _ := os.ReadFile(recs[0])
	want, _ := os.ReadFile(src)
	if len(got) == 0 || !bytes.HasPrefix(want, got) {
		t.Errorf("the recording holds %d bytes, a prefix of what was sent: %v", len(got), bytes.HasPrefix(want, got))
	}
	// The packager's files of the ended presentation may have left some room: take it all.
	filler, err := os.Create(filepath.Join(out, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = filler.Write(make([]byte, 4096))
	}
	filler.Close()
	testenv.WaitFor(t, "/healthz to say the disk is full", func() bool {
		code, body := healthz(t, addr)
		return code == http.StatusServiceUnavailable && strings.Contains(body, "no space left on device")
	})
	if v := metricValue(t, addr, "sv_storage_ok"); v != 0 {
		t.Errorf("sv_storage_ok %v on a full disk, want 0", v)
	}
	if v := metricValue(t, addr, "sv_storage_failures_total"); v < 1 {
		t.Errorf("sv_storage_failures_total %v, want at least 1", v)
	}
	err = publish(context.Background(), addr, "cam2", src, false)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("a new publisher on a full disk: %v; want 503", err)
	}

	// Room again: the operator deletes the recording and the filler.
	os.Remove(recs[0])
	os.Remove(filler.Name())
	testenv.WaitFor(t, "/healthz to be ok with room again", func() bool {
		code, _ := healthz(t, addr)
		return code == http.StatusOK
	})
	if err := publish(context.Background(), addr, "cam", filepath.Join(testenv.Dir(), "h264-video-only.webm"), false); err != nil {
		t.Fatalf("publishing with room again: %v", err)
	}
}
