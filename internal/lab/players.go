package lab

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/svtool/sv/stream"
	"github.com/svtool/sv/web"
)

// Player is a stock web player as a page of testdata/players plays it: the player with its
// documented low-latency settings and nothing of sv's, given the URL of a stream's
// manifest in its query (?src=). Each page also exposes window.stats() (PlayerStats) and
// window.takeTimed(), measurement only: see testdata/players/stats.js.
type Player struct {
	Name     string // dashjs, shaka, hlsjs: in test and benchmark names
	Page     string // its page, at the root of PlayerPages
	Manifest string // what it plays of a stream's folder: stream.Manifest or stream.Playlist
}

// Players are the stock players sv's output must play at low latency with no sv-specific
// code: dash.js with its defaults, Shaka Player with streaming.lowLatencyMode, and hls.js in
// its LL-HLS mode.
var Players = []Player{
	{Name: "dashjs", Page: "dashjs.html", Manifest: stream.Manifest},
	{Name: "shaka", Page: "shaka.html", Manifest: stream.Manifest},
	{Name: "hlsjs", Page: "hlsjs.html", Manifest: stream.Playlist},
}

// URL is the address of the player's page, served at pages (PlayerPages.URL), playing the
// stream of the sv server at server (http://host:port).
func (p Player) URL(pages, server, name string) string {
	return pages + "/" + p.Page + "?src=" + url.QueryEscape(server+stream.MediaPath(name, p.Manifest))
}

// URLWith is URL for a manifest asked for with the token (?token=).
func (p Player) URLWith(pages, server, name, token string) string {
	src := server + stream.MediaPath(name, p.Manifest) + "?token=" + url.QueryEscape(token)
	return pages + "/" + p.Page + "?src=" + url.QueryEscape(src)
}

// Reporting is the address of the player's page, as URL gives it, for a browser that the
// lab cannot drive (Firefox): the page posts its stats every second, to be read with
// PlayerPages.Report(id).
func (p Player) Reporting(pages, server, name, id string) string {
	return p.URL(pages, server, name) + "&report=" + url.QueryEscape(id)
}

// PlayerStats is what a player page's window.stats() says.
type PlayerStats struct {
	Player       string    `json:"player"`
	Version      string    `json:"version"`
	CurrentTime  float64   `json:"currentTime"`
	Played       float64   `json:"played"` // s of media played, summed over video.played
	Paused       bool      `json:"paused"`
	ReadyState   int       `json:"readyState"`
	Stalls       int       `json:"stalls"` // waiting events after the first playing
	StallMs      float64   `json:"stallMs"`
	Errors       []string  `json:"errors"`     // the player's fatal errors, the video element's: the last 50
	ErrorCount   int       `json:"errorCount"` // all of them
	Warnings     []string  `json:"warnings"`   // the errors it recovered from
	Ended        bool      `json:"ended"`      // the video element fired ended
	FirstFrameAt *float64  `json:"firstFrameAt"`
	TCFrames     int       `json:"tcFrames"`    // frames shown with a readable timecode
	LastCapture  *float64  `json:"lastCapture"` // the capture time of the latest of them, ms
	Now          float64   `json:"now"`         // the server's clock, as the page reads it, ms
	Offset       float64   `json:"offset"`      // the server's clock minus the page's, ms
	RTT          *float64  `json:"rtt"`         // of the request the offset comes from, ms
	Latencies    []float64 `json:"latencies"`   // glass-to-glass of each of them, ms
	Audio        *bool     `json:"audio"`       // audio decoded (Chromium), or present (Firefox)
	Latency      *float64  `json:"latency"`     // the player's own figure, ms
	LowLatency   bool      `json:"lowLatency"`
	Parts        int       `json:"parts"` // LL-HLS parts in hls.js's latest playlist
}

// String is a one-line summary, for logs and failures.
func (s PlayerStats) String() string {
	lat := "-"
	if s.Latency != nil {
		lat = fmt.Sprintf("%.0f ms", *s.Latency)
	}
	audio := "unknown"
	if s.Audio != nil {
		audio = strconv.FormatBool(*s.Audio)
	}
	return fmt.Sprintf("%s %s: at %.2f s, %.1f s played, %d stalls (%.0f ms), %d frames with a timecode, audio %s, player's latency %s, low-latency %v, ended %v, errors %s",
		s.Player, s.Version, s.CurrentTime, s.Played, s.Stalls, s.StallMs, s.TCFrames, audio, lat, s.LowLatency, s.Ended, Distinct(s.Errors))
}

// ErrorsSince are the errors that came after those of from (as many as the page keeps).
func (s PlayerStats) ErrorsSince(from PlayerStats) []string {
	n := min(len(s.Errors), s.ErrorCount-from.ErrorCount)
	return s.Errors[len(s.Errors)-max(n, 0):]
}

// Distinct lists messages once each, in the order they first came, with how many times
// each came when more than once: a player retrying a request repeats its error.
func Distinct(messages []string) string {
	count := map[string]int{}
	var order []string
	for _, m := range messages {
		if count[m] == 0 {
			order = append(order, m)
		}
		count[m]++
	}
	parts := make([]string, len(order))
	for i, m := range order {
		parts[i] = strconv.Quote(m)
		if n := count[m]; n > 1 {
			parts[i] += fmt.Sprintf(" (%d times)", n)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// PlayerPages is the server of the player pages.
type PlayerPages struct {
	URL     string // http://127.0.0.1:PORT
	mu      sync.Mutex
	reports map[string]PlayerStats
}

// ServePlayers serves testdata/players on a loopback address of its own, another origin
// than any sv server's, so that the players fetch the media across origins as they do
// from a CDN. dash.js and hls.js are web/vendor's, the versions sv's viewer plays with,
// and timecode.js is web's. The server stops with the test.
func ServePlayers(t testing.TB) *PlayerPages {
	t.Helper()
	p := &PlayerPages{reports: map[string]PlayerStats{}}
	files := http.FileServerFS(overlay{os.DirFS(filepath.Join(here(), "testdata", "players")), web.FS()})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Path == "/report" && r.Method == http.MethodPost {
			p.report(w, r)
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// report keeps the stats a page posted (Player.Reporting).
func (p *PlayerPages) report(w http.ResponseWriter, r *http.Request) {
	var st PlayerStats
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&st); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.reports[r.URL.Query().Get("id")] = st
	p.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// Report is the latest stats that the page opened with Player.Reporting(..., id) posted,
// if it has posted any.
func (p *PlayerPages) Report(id string) (PlayerStats, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.reports[id]
	return st, ok
}

// overlay is the files of top, and those of under where top has none.
type overlay struct{ top, under fs.FS }

func (o overlay) Open(name string) (fs.File, error) {
	f, err := o.top.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return o.under.Open(name)
	}
	return f, err
}

// WaitPlayable waits until the stream of the sv server at server can be opened by a
// player that gives up on a manifest it cannot load yet, as a stock player page does:
// its MPD is served, and its HLS playlists list a segment. It fails the test after d.
func WaitPlayable(t testing.TB, server, name string, d time.Duration) {
	t.Helper()
	WaitPlayableWith(t, server, name, "", d)
}

// WaitPlayableWith is WaitPlayable for a viewer that asks with the token (?token=) when
// it is not "".
func WaitPlayableWith(t testing.TB, server, name, token string, d time.Duration) {
	t.Helper()
	query := ""
	if token != "" {
		query = "?token=" + url.QueryEscape(token)
	}
	WaitFor(t, d, "the stream "+name+" to be playable", func() (bool, string) {
		if _, err := get(server + stream.MediaPath(name, stream.Manifest) + query); err != nil {
			return false, err.Error()
		}
		master, err := get(server + stream.MediaPath(name, stream.Playlist) + query)
		if err != nil {
			return false, err.Error()
		}
		media := firstURI(master)
		if media == "" {
			return false, "no media playlist in the master playlist"
		}
		base, _ := url.Parse(server + stream.MediaPath(name, stream.Playlist))
		ref, err := url.Parse(media)
		if err != nil {
			return false, err.Error()
		}
		playlist, err := get(base.ResolveReference(ref).String())
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(playlist, "#EXTINF"), "no segment in " + media
	})
}

// get returns the body of a successful GET.
func get(u string) (string, error) {
	resp, err := http.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", u, resp.Status)
	}
	return string(b), nil
}

// firstURI is the first URI line of a playlist.
func firstURI(playlist string) string {
	sc := bufio.NewScanner(strings.NewReader(playlist))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			return line
		}
	}
	return ""
}
