package stream

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	for name, ok := range map[string]bool{
		"cam": true, "Cam_2-b": true, strings.Repeat("a", 64): true,
		"": false, "a.b": false, "../x": false, "a b": false, "a/b": false,
		strings.Repeat("a", 65): false, "ü": false, "a%2Fb": false,
	} {
		if Valid(name) != ok {
			t.Errorf("Valid(%q) = %v", name, !ok)
		}
	}
}

func TestLayout(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{LiveFolder("out", "cam"), filepath.Join("out", "live", "cam")},
		{RecordingsFolder("/srv/sv", "cam"), filepath.Join("/srv/sv", "recordings", "cam")},
		{LiveFile("cam", Analysis), "live/cam/frames.jsonl"},
		{IngestPath("cam"), "/ingest/cam"},
		{MediaPath("cam", Manifest), "/live/cam/manifest.mpd"},
		{MediaPath("cam", Playlist), "/live/cam/master.m3u8"},
		{MediaPath("cam", EventsName), "/live/cam/events"},
		{strings.ReplaceAll(MediaPattern, Placeholder, "cam"), "/live/cam/"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// FuzzValid: a valid name is one plain path element and needs no escaping in a URL.
func FuzzValid(f *testing.F) {
	for _, s := range []string{"cam", "..", "a/b", "a\x00b", "%2e%2e", strings.Repeat("x", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if !Valid(name) {
			return
		}
		if filepath.Base(name) != name || name == "." || name == ".." || strings.ContainsAny(name, `/\.%`) {
			t.Errorf("Valid(%q), but it is not one plain path element", name)
		}
		if url.PathEscape(name) != name || url.QueryEscape(name) != name {
			t.Errorf("Valid(%q), but it needs escaping in a URL", name)
		}
		if len(name) > MaxName {
			t.Errorf("Valid(%q), but it is %d bytes long", name, len(name))
		}
	})
}
