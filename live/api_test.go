package live

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/svtool/sv/auth"
	"github.com/svtool/sv/event"
	"github.com/svtool/sv/internal/testenv"
)

// apiDo sends an API request with token (none when "") and decodes its JSON answer into
// v (when not nil); it returns the status.
func apiDo(t *testing.T, method, url, token string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, body)
		}
	}
	return resp.StatusCode
}

// The control API: streams with their session and renditions, a publisher stopped for
// good, recordings listed and deleted; only with an api key, and only by sv's own names.
func TestAPI(t *testing.T) {
	testenv.RequireFFmpeg(t)
	const key = "api-key-123"
	keys := &auth.Keys{}
	keys.Add(auth.AnyStream, key, auth.API)
	az := auth.New(auth.Options{Methods: []auth.Method{keys}, Protect: []auth.Action{auth.API}})
	out := t.TempDir()
	log := newEventLog(t)
	ended := make(chan SessionStats, 1)
	addr, _ := serveTest(t, Options{Out: out, Auth: az, Seekable: true, Events: log.bus, AllowHosts: []string{"sv.example"},
		OnSession: func(st SessionStats) { ended <- st }})
	api := "http://" + addr + "/api"

	pubErr := make(chan error, 1)
	go func() {
		pubErr <- publish(context.Background(), addr, "k", filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm"), true)
	}()
	waitFile(t, filepath.Join(out, "live", "k", "chunk-stream0-*-00002.m4s"))

	if got := apiDo(t, "GET", api+"/streams", "", nil); got != 401 {
		t.Errorf("no token: %d", got)
	}
	if got := apiDo(t, "GET", api+"/streams", "not-the-key", nil); got != 403 {
		t.Errorf("another token: %d", got)
	}
	req, _ := http.NewRequest("GET", api+"/streams", nil)
	req.Host = "rebound.example"
	req.Header.Set("Authorization", "Bearer "+key)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 421 {
		t.Errorf("another host name: %v %v", resp.Status, err)
	}

	var list struct{ Streams []APIStream }
	if got := apiDo(t, "GET", api+"/streams", key, &list); got != 200 || len(list.Streams) != 1 {
		t.Fatalf("streams: %d %+v", got, list)
	}
	st := list.Streams[0]
	var video bool
	for _, tr := range st.Tracks {
		video = video || tr.Type == "video" && strings.HasPrefix(tr.Codec, "avc1.") && tr.Width > 0 && tr.Bandwidth > 0
	}
	if st.Name != "k" || !st.Publishing || !st.Live || st.Bytes == 0 || st.Bitrate <= 0 || st.Session == "" || !strings.HasPrefix(st.Remote, "127.0.0.1:") || !video {
		t.Errorf("the live stream: %+v", st)
	}
	if got := apiDo(t, "GET", api+"/streams/nope", key, nil); got != 404 {
		t.Errorf("a stream that is not there: %d", got)
	}

	var recs struct{ Recordings []APIRecording }
	if apiDo(t, "GET", api+"/recordings", key, &recs); len(recs.Recordings) != 1 || !recs.Recordings[0].Live {
		t.Fatalf("recordings while live: %+v", recs)
	}
	rec := recs.Recordings[0]
	if got := apiDo(t, "DELETE", api+"/recordings/k/"+rec.File, key, nil); got != 409 {
		t.Errorf("deleting the recording being written: %d", got)
	}

	// Stopped: the publisher is told with 4002 and does not come back; the presentation
	// ends at once.
	if got := apiDo(t, "DELETE", api+"/streams/k", key, nil); got != 204 {
		t.Errorf("stopping the publisher: %d", got)
	}
	if err := <-pubErr; err == nil || !strings.Contains(err.Error(), "4002") {
		t.Errorf("the stopped publisher: %v, want a 4002 close", err)
	}
	<-ended
	testenv.WaitFor(t, "the manifest saying the stream has ended", func() bool { return mpdEnded(filepath.Join(out, "live", "k", "manifest.mpd")) })
	testenv.WaitFor(t, "publish_end", func() bool { return len(of(log.events(t), event.PublishEnd)) == 1 })
	if e := of(log.events(t), event.PublishEnd)[0]; e.Cause != event.CauseKicked {
		t.Errorf("publish_end: %+v", e)
	}

	if apiDo(t, "GET", api+"/recordings", key, &recs); len(recs.Recordings) != 1 || recs.Recordings[0].Live || recs.Recordings[0].Seekable == "" {
		t.Fatalf("recordings once stopped: %+v", recs)
	}
	for _, bad := range []string{"/recordings/k/..%2Fx.webm", "/recordings/k/" + recs.Recordings[0].Seekable, "/recordings/bad%20name/x.webm"} {
		if got := apiDo(t, "DELETE", api+bad, key, nil); got != 400 && got != 404 {
			t.Errorf("DELETE %s: %d", bad, got)
		}
	}
	if got := apiDo(t, "DELETE", api+"/recordings/k/"+rec.File, key, nil); got != 204 {
		t.Errorf("deleting the recording: %d", got)
	}
	for _, p := range []string{rec.Path, filepath.Join(filepath.Dir(rec.Path), recs.Recordings[0].Seekable)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", p, err)
		}
	}
	if apiDo(t, "GET", api+"/recordings", key, &recs); len(recs.Recordings) != 0 {
		t.Errorf("recordings once deleted: %+v", recs)
	}
	if got := apiDo(t, "DELETE", api+"/recordings/k/"+rec.File, key, nil); got != 404 {
		t.Errorf("deleting it again: %d", got)
	}
}

// Without an api credential, the API answers this machine only.
func TestAPILoopback(t *testing.T) {
	s, err := New(Options{Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		remote  string
		want    int
		proxied bool
	}{{"127.0.0.1:5000", 200, false}, {"[::1]:5000", 200, false}, {"192.0.2.7:5000", 403, false}, {"127.0.0.1:5000", 403, true}} {
		r := httptest.NewRequest("GET", "http://127.0.0.1/api/streams", nil)
		r.RemoteAddr = c.remote
		if c.proxied { // a proxy on this machine, for someone else
			r.Header.Set("X-Forwarded-For", "192.0.2.7")
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("from %s: %d %s, want %d", c.remote, w.Code, w.Body, c.want)
		}
	}
}
