package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/svtool/sv/internal/lab"
	"github.com/svtool/sv/internal/testenv"
)

// TestBehindNginx: the README's nginx configuration, as it is written there, in front of
// sv all, with Debian's nginx, under a sub-path as the README says (location /sv/, sv
// all --base-path /sv): the capture page publishes through it (the WebSocket upgrade
// passed on), sv's viewer plays through it (segments in progress streamed as they grow:
// with nginx's buffering the latency would grow by a segment, 1 s), and the analysis'
// events stream through it. The recording is what the page sent. The viewer straight to
// sv all, beside it, is served without the prefix.
func TestBehindNginx(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for 15 s; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe", "nginx")
	chromium := testenv.RequireChromium(t)
	const name = "proxied"

	const prefix = "/sv"
	s := lab.StartAll(t, lab.Bin(t, lab.SV), "--base-path", prefix)
	front := lab.FreeAddr(t)
	conf := nginxConf(t, s.Addr, front, prefix)
	lab.Start(t, exec.Command("nginx", "-c", conf, "-e", filepath.Join(filepath.Dir(conf), "error.log")))
	lab.WaitListen(t, front)
	base := "http://" + front + prefix

	b := lab.StartBrowser(t, chromium)
	defer func() {
		if t.Failed() {
			b.LogConsole(t)
			if log, err := os.ReadFile(filepath.Join(filepath.Dir(conf), "error.log")); err == nil {
				t.Logf("nginx's error log:\n%s", log)
			}
		}
	}()
	capture := b.Open(t, base+"/capture?stream="+name+"&source=clock&autostart=1&resolution=640x480&fps=30")
	lab.WaitFor(t, hang, "the capture page to go live through nginx", func() (bool, string) {
		var st lab.CaptureState
		lab.EvalJSON(t, capture, "svCapture.state()", &st)
		return st.Phase == "live", fmt.Sprintf("%+v", st)
	})
	proxied := b.Open(t, base+"/view?stream="+name)
	direct := b.Open(t, s.URL("/view?stream="+name))
	waitPlaying(t, proxied)
	waitPlaying(t, direct)
	viaNginx, _ := watchPlaying(t, proxied, 6*time.Second)
	straight, _ := watchPlaying(t, direct, 6*time.Second)
	t.Logf("glass to glass: %.0f ms through nginx, %.0f ms straight to sv all", viaNginx, straight)
	if viaNginx > straight+500 {
		t.Errorf("%.0f ms through nginx against %.0f ms straight: nginx holds the segments back", viaNginx, straight)
	}

	// The analysis' events, as a Server-Sent Events stream through nginx.
	resp, err := http.Get(base + "/live/" + name + "/events?types=frame")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	got := false
	for deadline := time.Now().Add(hang); !got && time.Now().Before(deadline) && sc.Scan(); {
		got = strings.HasPrefix(sc.Text(), `data: {"type":"frame"`)
	}
	resp.Body.Close()
	if !got {
		t.Error("no frame event through nginx")
	}

	lab.EvalJSON(t, capture, "(svCapture.stop(), true)", new(bool))
	waitStopped(t, capture)
	checkRecordings(t, s, name, capture, 1)
	s.Interrupt(t)
}

// nginxConf writes an nginx configuration that listens on front and proxies prefix/ to
// sv at addr with the README's own http-level map and location block, and returns its
// path.
func nginxConf(t *testing.T, addr, front, prefix string) string {
	t.Helper()
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "```nginx\n")
	if ok {
		block, _, ok = strings.Cut(block, "```")
	}
	mapLine, _, _ := strings.Cut(block, "\n\n")
	_, location, found := strings.Cut(block, "    location / {")
	if !ok || !found || !strings.HasPrefix(mapLine, "map ") {
		t.Fatalf("no nginx configuration in the README, or not the expected one:\n%s", block)
	}
	location, _, _ = strings.Cut(location, "\n    }\n")
	location = strings.ReplaceAll(location, "http://127.0.0.1:8080", "http://"+addr)
	dir := t.TempDir()
	user := ""
	if os.Getuid() == 0 {
		user = "user root;" // its worker would otherwise run as nobody
	}
	conf := fmt.Sprintf(`%[1]s
worker_processes 1;
daemon off;
master_process on;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	%[3]s
	server {
		listen %[4]s;
		location %[6]s/ {%[5]s
		}
	}
}
`, user, dir, mapLine, front, location, prefix)
	p := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
