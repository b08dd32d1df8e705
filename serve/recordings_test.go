package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/svtool/sv/auth"
)

// writeRecording writes a file under root/recordings/STREAM, modified at mod.
func writeRecording(t *testing.T, root, name, file string, b []byte, mod time.Time) {
	t.Helper()
	p := filepath.Join(root, "recordings", name, file)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mod, mod); err != nil {
		t.Fatal(err)
	}
}

// /recordings.json lists the recordings newest first, each with the URL that plays it
// (its seekable copy when it has one), the unfinished one marked, one whose file is gone
// but whose stored copy is known listed from its marker; /recordings/{stream}/{file}
// serves a file with Range requests and redirects to the stored copy of one that is gone.
func TestRecordings(t *testing.T) {
	var asked string
	ts := newTestServer(t, Options{Stored: func(_ context.Context, p string) (string, bool) {
		asked = p
		return "http://store.test/bucket/cam/20261205T080000Z.webm?sig=1", true
	}})
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	rec := pattern(5000, 1)
	seek := pattern(6000, 2)
	writeRecording(t, ts.root, "cam", "20261205T090000Z.webm", rec, t0.Add(time.Hour))
	writeRecording(t, ts.root, "cam", "20261205T090000Z.seekable.mkv", seek, t0.Add(time.Hour))
	writeRecording(t, ts.root, "cam", "20261205T100000Z.webm", pattern(100, 3), t0.Add(2*time.Hour))
	writeRecording(t, ts.root, "cam", ".20261205T100000Z.webm.unfinished", nil, t0.Add(2*time.Hour))
	writeRecording(t, ts.root, "cam", "20261205T080000Z.webm.stored", []byte(`{"url":"s3://b/cam/20261205T080000Z.webm","size":1234}`), t0)
	writeRecording(t, ts.root, "other", "20261205T083000Z.mp4", pattern(10, 4), t0.Add(30*time.Minute))
	writeRecording(t, ts.root, "other", "notes.txt", []byte("not a recording"), t0)

	resp, body := ts.get(t, "GET", "/recordings.json", nil)
	var list struct{ Recordings []Recording }
	if resp.StatusCode != 200 || json.Unmarshal(body, &list) != nil {
		t.Fatalf("/recordings.json: %d %s", resp.StatusCode, body)
	}
	want := []Recording{
		{Stream: "cam", File: "20261205T100000Z.webm", Size: 100, Unfinished: true, Local: true, URL: "/recordings/cam/20261205T100000Z.webm"},
		{Stream: "cam", File: "20261205T090000Z.webm", Size: 5000, Seekable: "20261205T090000Z.seekable.mkv", SeekableSize: 6000, Local: true, URL: "/recordings/cam/20261205T090000Z.seekable.mkv"},
		{Stream: "other", File: "20261205T083000Z.mp4", Size: 10, Local: true, URL: "/recordings/other/20261205T083000Z.mp4"},
		{Stream: "cam", File: "20261205T080000Z.webm", Size: 1234, Stored: true, URL: "/recordings/cam/20261205T080000Z.webm"},
	}
	if len(list.Recordings) != len(want) {
		t.Fatalf("/recordings.json lists %d: %s", len(list.Recordings), body)
	}
	for i, w := range want {
		got := list.Recordings[i]
		got.Modified = time.Time{}
		if got != w {
			t.Errorf("recording %d:\n got %+v\nwant %+v", i, got, w)
		}
	}
	if _, body := ts.get(t, "GET", "/recordings.json?stream=other", nil); bytes.Contains(body, []byte(`"cam"`)) || !bytes.Contains(body, []byte("083000Z")) {
		t.Errorf("?stream=other: %s", body)
	}

	// Seeking: a range of the seekable copy.
	resp, body = ts.get(t, "GET", "/recordings/cam/20261205T090000Z.seekable.mkv", http.Header{"Range": {"bytes=1000-1999"}})
	if resp.StatusCode != 206 || !bytes.Equal(body, seek[1000:2000]) || resp.Header.Get("Content-Type") != "video/x-matroska" {
		t.Errorf("a range of the seekable copy: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	resp, body = ts.get(t, "GET", "/recordings/cam/20261205T090000Z.webm", nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, rec) || resp.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("the recording: %d, %d bytes, CORS %q", resp.StatusCode, len(body), resp.Header.Get("Access-Control-Allow-Origin"))
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=86400" {
		t.Errorf("a finished recording's Cache-Control: %q", cc)
	}
	if resp, _ := ts.get(t, "GET", "/recordings/cam/20261205T100000Z.webm", nil); resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("an unfinished recording's Cache-Control: %q", resp.Header.Get("Cache-Control"))
	}

	// Gone, but stored: a redirect to where the store has it.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := client.Get(ts.url + "/recordings/cam/20261205T080000Z.webm")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 302 || r.Header.Get("Location") != "http://store.test/bucket/cam/20261205T080000Z.webm?sig=1" ||
		asked != filepath.Join(ts.root, "recordings", "cam", "20261205T080000Z.webm") {
		t.Errorf("a stored recording: %d to %q (the store asked for %q)", r.StatusCode, r.Header.Get("Location"), asked)
	}

	for _, bad := range []string{
		"/recordings/cam/20261205T070000Z.webm",             // none
		"/recordings/other/notes.txt",                       // not a recording
		"/recordings/cam/.20261205T100000Z.webm.unfinished", // a marker
		"/recordings/cam/20261205T080000Z.webm.stored",      // a marker
		"/recordings/cam/..%2Fother%2F20261205T083000Z.mp4",
		"/recordings/bad%20name/x.webm",
	} {
		if resp, _ := ts.get(t, "GET", bad, nil); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", bad, resp.StatusCode)
		}
	}
}

// With reads protected, a stream's recordings need a token that may watch it, and the
// list shows only those.
func TestRecordingsAuth(t *testing.T) {
	keys := &auth.Keys{}
	keys.Add("cam", "viewer-key", auth.Read)
	az := auth.New(auth.Options{Methods: []auth.Method{keys}, Protect: []auth.Action{auth.Read}})
	ts := newTestServer(t, Options{Auth: az})
	t0 := time.Now().Add(-time.Hour)
	writeRecording(t, ts.root, "cam", "20261205T090000Z.webm", pattern(100, 1), t0)
	writeRecording(t, ts.root, "other", "20261205T090000Z.webm", pattern(100, 2), t0)
	if resp, _ := ts.get(t, "GET", "/recordings/cam/20261205T090000Z.webm", nil); resp.StatusCode != 401 {
		t.Errorf("without a token: %d", resp.StatusCode)
	}
	resp, _ := ts.get(t, "GET", "/recordings/cam/20261205T090000Z.webm?token=viewer-key", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "private, max-age=86400" {
		t.Errorf("with the token: %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	if resp, _ := ts.get(t, "GET", "/recordings/other/20261205T090000Z.webm?token=viewer-key", nil); resp.StatusCode != 403 {
		t.Errorf("another stream's with the token: %d", resp.StatusCode)
	}
	_, body := ts.get(t, "GET", "/recordings.json?token=viewer-key", nil)
	if !bytes.Contains(body, []byte(`"cam"`)) || bytes.Contains(body, []byte(`"other"`)) {
		t.Errorf("the list with cam's token: %s", body)
	}
}
