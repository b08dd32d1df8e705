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

// FuzzRecordingNames: the names read from a recordings folder are told apart without
// mistake: a recording's marker names that recording and no other file, a seekable copy
// is never taken for a recording, and the seekable copy of a recording is one.
func FuzzRecordingNames(f *testing.F) {
	for _, s := range []string{"20261205T100000Z.webm", ".20261205T100000Z.webm.unfinished", "20261205T100000Z.seekable.mkv",
		"x.mp4", "x.seekable.mp4", "..webm.unfinished", ".x.seekable.mkv.unfinished", "a.webm.stored", ".unfinished", "x.webm.webm"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if strings.ContainsAny(name, "/\x00") {
			return
		}
		if rec := MarkedRecording("d", name); rec != "" {
			if !IsRecording(filepath.Base(rec)) || UnfinishedMarker(rec) != filepath.Join("d", name) {
				t.Errorf("the marker %q names %q, whose marker is %q", name, rec, UnfinishedMarker(rec))
			}
		}
		if IsRecording(name) {
			if IsSeekable(name) || MarkedRecording("d", name) != "" {
				t.Errorf("%q is a recording and a seekable copy or a marker", name)
			}
			if s := SeekableOf(name); !IsSeekable(s) || IsRecording(s) {
				t.Errorf("the seekable copy of %q, %q: seekable %v, recording %v", name, s, IsSeekable(s), IsRecording(s))
			}
		}
	})
}
