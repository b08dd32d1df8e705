package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/svtool/sv/internal/lab"
	"github.com/svtool/sv/internal/testenv"
)

// TestPlayersToken: with watching protected (a read key), the stock players given the key
// on their manifest's URL play, whatever the manifest names (sv carries the token to
// every segment and playlist URL in it), and so does sv's viewer given it on its page's
// URL, and on /embed's. Without it, every media request is refused, a stock player plays nothing, and
// /streams.json does not show the stream.
func TestPlayersToken(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for 10 s; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe")
	chromium := testenv.RequireChromium(t)
	const name, publishKey, readKey = "tok", "publish-key-1", "viewer-key-1"
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte(name+" "+publishKey+"\n"+name+" "+readKey+" read\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := lab.StartAll(t, lab.Bin(t, lab.SV), "--keys", keys)
	pages := lab.ServePlayers(t).URL
	b := lab.StartBrowser(t, chromium)
	defer func() {
		if t.Failed() {
			b.LogConsole(t)
		}
	}()
	capture := b.Open(t, s.URL("/capture?stream="+name+"&source=clock&autostart=1&resolution=640x480&fps=30&token="+publishKey))
	lab.WaitFor(t, hang, "the capture page to go live", func() (bool, string) {
		var st lab.CaptureState
		lab.EvalJSON(t, capture, "svCapture.state()", &st)
		return st.Phase == "live", fmt.Sprintf("%+v", st)
	})
	lab.WaitPlayableWith(t, s.URL(""), name, readKey, hang)

	// Without the key, or with the publisher's, nothing of the stream is served.
	mpd := fetch(t, s.URL("/live/"+name+"/manifest.mpd?token="+readKey), 200)
	init := regexp.MustCompile(`initialization="([^"?]+)\?token=` + readKey + `"`).FindStringSubmatch(mpd)
	if init == nil {
		t.Fatalf("the MPD read with the key does not carry it to its init segments:\n%s", mpd)
	}
	for _, path := range []string{"manifest.mpd", "master.m3u8", init[1], "frames.jsonl", "events"} {
		fetch(t, s.URL("/live/"+name+"/"+path), 401)
		fetch(t, s.URL("/live/"+name+"/"+path+"?token="+publishKey), 403)
	}
	fetch(t, s.URL("/live/"+name+"/"+init[1]+"?token="+readKey), 200)
	if list := fetch(t, s.URL("/streams.json"), 200); strings.Contains(list, `"name":"`+name+`"`) {
		t.Errorf("/streams.json shows the stream to anyone: %s", list)
	}
	if list := fetch(t, s.URL("/streams.json?token="+readKey), 200); !strings.Contains(list, `"name":"`+name+`"`) {
		t.Errorf("/streams.json does not show the stream to its key: %s", list)
	}

	var tabs []*playerTab
	for _, p := range lab.Players {
		tabs = append(tabs, openPlayer(t, b, p, p.URLWith(pages, s.URL(""), name, readKey)))
	}
	bare := openPlayer(t, b, lab.Players[0], lab.Players[0].URL(pages, s.URL(""), name))
	viewer := b.Open(t, s.URL("/view?stream="+name+"&token="+readKey))
	embed := b.Open(t, s.URL("/embed?stream="+name+"&token="+readKey))

	met, last := waitPlayers(t, tabs, hang, func(i int, st lab.PlayerStats) bool {
		return st.Played >= 5 && st.TCFrames > 0 || len(st.Errors) > 0
	})
	for i, tab := range tabs {
		if !met[i] || len(last[i].Errors) > 0 {
			t.Errorf("%s with the key: %s", tab.p.Name, last[i])
		}
	}
	waitPlaying(t, viewer)
	// /embed: the same player alone, with the video's controls and nothing around it.
	waitPlaying(t, embed)
	var alone bool
	lab.EvalJSON(t, embed, "document.querySelector('header').offsetParent === null && document.getElementById('video').controls && document.getElementById('analysis').offsetParent === null", &alone)
	if !alone {
		t.Error("/embed shows more than the player")
	}
	_, noKey := waitPlayers(t, []*playerTab{bare}, hang, func(_ int, st lab.PlayerStats) bool { return len(st.Errors) > 0 })
	if st := noKey[0]; len(st.Errors) == 0 || st.Played > 0 || st.TCFrames > 0 {
		t.Errorf("%s without the key: %s", bare.p.Name, st)
	}

	metrics := fetch(t, s.URL("/metrics"), 200)
	for _, series := range []string{`sv_auth_decisions_total{action="read",result="allowed"}`, `sv_auth_decisions_total{action="read",result="refused"}`} {
		if !regexp.MustCompile(regexp.QuoteMeta(series) + ` [1-9]`).MatchString(metrics) {
			t.Errorf("/metrics lacks %s above 0", series)
		}
	}
	lab.EvalJSON(t, capture, "(svCapture.stop(), true)", new(bool))
	waitStopped(t, capture)
	s.Interrupt(t)
}

// fetch GETs url, checks its status and returns its body.
func fetch(t testing.TB, url string, status int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != status {
		t.Errorf("GET %s: %s, want %d: %s", url, resp.Status, status, b)
	}
	return string(b)
}
