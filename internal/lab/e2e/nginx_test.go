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
	const prefix = "/sv"
	s := lab.StartAll(t, lab.Bin(t, lab.SV), "--base-path", prefix)
	front := lab.FreeAddr(t)
	conf := nginxConf(t, s.Addr, front, prefix)
	errorLog := filepath.Join(filepath.Dir(conf), "error.log")
	lab.Start(t, exec.Command("nginx", "-c", conf, "-e", errorLog))
	lab.WaitListen(t, front)
	playThrough(t, s, "nginx", "http://"+front+prefix, errorLog)
}

// TestBehindCaddy: the README's Caddy configuration, as it is written there (its site
// address and upstream made this test's), in front of sv all, with Debian's Caddy:
// publishing, playing and the events through it, as TestBehindNginx.
func TestBehindCaddy(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for 15 s; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe", "caddy")
	s := lab.StartAll(t, lab.Bin(t, lab.SV))
	front := lab.FreeAddr(t)
	conf := caddyConf(t, s.Addr, front)
	cmd := exec.Command("caddy", "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+filepath.Dir(conf), "XDG_DATA_HOME="+filepath.Dir(conf), "XDG_CONFIG_HOME="+filepath.Dir(conf))
	caddy := lab.Start(t, cmd)
	lab.WaitListen(t, front)
	playThrough(t, s, "Caddy", "http://"+front, "")
	if t.Failed() {
		t.Logf("Caddy's log:\n%s", caddy.Log.String())
	}
}

// playThrough publishes from the capture page at base (a proxy in front of sv all s,
// named proxy), plays sv's viewer through it and straight to s side by side (the proxied
// one must not be more than 500 ms behind: a proxy's buffering would add a segment),
// reads the analysis' events through it, and checks the recording. errorLog, if set, is
// the proxy's log to show on failure.
func playThrough(t *testing.T, s *lab.All, proxy, base, errorLog string) {
	t.Helper()
	const name = "proxied"
	b := lab.StartBrowser(t, testenv.RequireChromium(t))
	defer func() {
		if t.Failed() {
			b.LogConsole(t)
			if log, err := os.ReadFile(errorLog); errorLog != "" && err == nil {
				t.Logf("%s's error log:\n%s", proxy, log)
			}
		}
	}()
	capture := b.Open(t, base+"/capture?stream="+name+"&source=clock&autostart=1&resolution=640x480&fps=30")
	lab.WaitFor(t, hang, "the capture page to go live through "+proxy, func() (bool, string) {
		var st lab.CaptureState
		lab.EvalJSON(t, capture, "svCapture.state()", &st)
		return st.Phase == "live", fmt.Sprintf("%+v", st)
	})
	proxied := b.Open(t, base+"/view?stream="+name)
	direct := b.Open(t, s.URL("/view?stream="+name))
	waitPlaying(t, proxied)
	waitPlaying(t, direct)
	via, _ := watchPlaying(t, proxied, 6*time.Second)
	straight, _ := watchPlaying(t, direct, 6*time.Second)
	t.Logf("glass to glass: %.0f ms through %s, %.0f ms straight to sv all", via, proxy, straight)
	if via > straight+500 {
		t.Errorf("%.0f ms through %s against %.0f ms straight: %s holds the segments back", via, proxy, straight, proxy)
	}

	// The analysis' events, as a Server-Sent Events stream through the proxy.
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
		t.Errorf("no frame event through %s", proxy)
	}

	lab.EvalJSON(t, capture, "(svCapture.stop(), true)", new(bool))
	waitStopped(t, capture)
	checkRecordings(t, s, name, capture, 1)
	s.Interrupt(t)
}

// caddyConf writes the README's Caddyfile with front as its site (plain HTTP) and addr
// as its upstream, and returns its path.
func caddyConf(t *testing.T, addr, front string) string {
	t.Helper()
	block := readmeBlock(t, "Caddyfile")
	if !strings.HasPrefix(block, "sv.example {") || !strings.Contains(block, "127.0.0.1:8080") {
		t.Fatalf("no Caddy configuration in the README, or not the expected one:\n%s", block)
	}
	block = strings.Replace(block, "sv.example {", "{\n    admin off\n    auto_https off\n}\n\nhttp://"+front+" {", 1)
	block = strings.ReplaceAll(block, "127.0.0.1:8080", addr)
	p := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(p, []byte(block), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readmeBlock returns the README's first code block marked lang.
func readmeBlock(t *testing.T, lang string) string {
	t.Helper()
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "```"+lang+"\n")
	if ok {
		block, _, ok = strings.Cut(block, "```")
	}
	if !ok {
		t.Fatalf("no %s block in the README", lang)
	}
	return block
}

// nginxConf writes an nginx configuration that listens on front and proxies prefix/ to
// sv at addr with the README's own http-level map and location block, and returns its
// path.
func nginxConf(t *testing.T, addr, front, prefix string) string {
	t.Helper()
	block := readmeBlock(t, "nginx")
	mapLine, _, _ := strings.Cut(block, "\n\n")
	_, location, found := strings.Cut(block, "    location / {")
	if !found || !strings.HasPrefix(mapLine, "map ") {
		t.Fatalf("no nginx configuration in the README, or not the expected one:\n%s", block)
	}
	location, _, _ = strings.Cut(location, "\n    }\n")
	location = strings.ReplaceAll(location, "http://127.0.0.1:8080", "http://"+addr)
	return lab.NginxConf(t, "events { worker_connections 1024; }", fmt.Sprintf(`	%s
	server {
		listen %s;
		location %s/ {%s
		}
	}`, mapLine, front, prefix, location))
}
