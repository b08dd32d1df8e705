// Package stream names live streams and lays out their files and URLs: the one place
// that says where a stream's presentation, analysis and recordings live on disk, and at
// which paths publishers and players reach them.
//
// On disk, under an output folder OUT:
//
//	OUT/live/{stream}/manifest.mpd      the DASH presentation (sv dash)
//	OUT/live/{stream}/master.m3u8       its HLS playlist, over the same segments
//	OUT/live/{stream}/frames.jsonl      the analysis (sv frames), as JSON lines
//	OUT/recordings/{stream}/...         the recordings (sv all)
//
// Over HTTP, a server whose media root is OUT serves OUT/live/{stream}/{file} at
// /live/{stream}/{file}, the analysis as Server-Sent Events at /live/{stream}/events,
// and takes publishers at /ingest/{stream}.
//
// It imports nothing of sv's: every other package may use it.
package stream

import (
	"io/fs"
	"iter"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// MaxName is the longest stream name.
const MaxName = 64

// Valid reports whether name is a stream name: 1 to 64 of A-Z a-z 0-9 _ -. Such a name
// is safe as a path element and in a URL without escaping.
func Valid(name string) bool {
	if len(name) == 0 || len(name) > MaxName {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// NameRule says which names are valid, for error messages.
const NameRule = "1 to 64 of A-Z a-z 0-9 _ -"

// Folders under an output folder, and names in a stream's live folder.
const (
	LiveDir       = "live"         // OUT/live/{stream}: the presentation and its analysis
	RecordingsDir = "recordings"   // OUT/recordings/{stream}: the recordings
	Manifest      = "manifest.mpd" // the DASH manifest
	Playlist      = "master.m3u8"  // the HLS multivariant playlist
	Analysis      = "frames.jsonl" // the analysis, one JSON object per line
)

// LiveFolder is OUT/live/{name}, where a stream is packaged and analysed.
func LiveFolder(out, name string) string { return filepath.Join(out, LiveDir, name) }

// RecordingsFolder is OUT/recordings/{name}, where a stream's recordings are kept.
func RecordingsFolder(out, name string) string { return filepath.Join(out, RecordingsDir, name) }

// LiveFile is the slash-separated path of a file in a stream's live folder, relative to
// the output folder: live/{name}/{file}.
func LiveFile(name, file string) string { return path.Join(LiveDir, name, file) }

// URL paths.
const (
	IngestPrefix = "/ingest/"                      // /ingest/{stream}: publishers
	MediaPrefix  = "/live/"                        // /live/{stream}/{file}: the live folder's files
	EventsName   = "events"                        // /live/{stream}/events: the analysis as Server-Sent Events
	Placeholder  = "{stream}"                      // stands for the name in URL patterns
	MediaPattern = MediaPrefix + Placeholder + "/" // /live/{stream}/: a stream's folder, as a URL pattern
)

// IngestPath is where a publisher of name connects: /ingest/{name}.
func IngestPath(name string) string { return IngestPrefix + name }

// MediaPath is the URL path of a file in a stream's live folder: /live/{name}/{file}.
func MediaPath(name, file string) string { return MediaPrefix + name + "/" + file }

// Recordings: in OUT/recordings/{stream}, a session's recording {UTC start}.webm (or
// .mp4), its seekable copy beside it, and the hidden markers that say its state.
const (
	RecordingsPrefix = "/recordings/" // /recordings/{stream}/{file}: a recording or its seekable copy
	StoredSuffix     = ".stored"      // {file}.stored: the file is in the object store
	unfinishedSuffix = ".unfinished"  // .{file}.unfinished: its session is running
	seekableInfix    = ".seekable."   // {start}.seekable.mkv (or .mp4): the seekable copy
)

// IsRecording reports whether a file name is a recording's: not its seekable copy, a
// marker or a file being written by the copy.
func IsRecording(name string) bool {
	ext := filepath.Ext(name)
	return (ext == ".webm" || ext == ".mp4") && !strings.Contains(name, seekableInfix) && !strings.HasPrefix(name, ".")
}

// IsSeekable reports whether a file name is a seekable copy's.
func IsSeekable(name string) bool {
	base, ok := strings.CutSuffix(name, filepath.Ext(name))
	return ok && (filepath.Ext(name) == ".mkv" || filepath.Ext(name) == ".mp4") &&
		strings.HasSuffix(base, ".seekable") && IsRecording(strings.TrimSuffix(base, ".seekable")+".webm")
}

// SeekableOf is the name of a recording's seekable copy: Matroska for a WebM recording
// (the WebM muxer refuses the H.264 that Chrome records), MP4 for an MP4 one.
func SeekableOf(recording string) string {
	base := strings.TrimSuffix(recording, filepath.Ext(recording))
	if filepath.Ext(recording) == ".mp4" {
		return base + seekableInfix + "mp4"
	}
	return base + seekableInfix + "mkv"
}

// UnfinishedMarker is the hidden file that stands beside a recording while its session
// runs, and after a process died while writing it, until it is finished.
func UnfinishedMarker(recording string) string {
	return filepath.Join(filepath.Dir(recording), "."+filepath.Base(recording)+unfinishedSuffix)
}

// MarkedRecording is the recording an unfinished marker named name in dir stands for, ""
// if name is not one.
func MarkedRecording(dir, name string) string {
	base, ok := strings.CutSuffix(strings.TrimPrefix(name, "."), unfinishedSuffix)
	if !ok || !strings.HasPrefix(name, ".") || !IsRecording(base) {
		return ""
	}
	return filepath.Join(dir, base)
}

// RecordingPath is the URL path of a file in a stream's recordings folder.
func RecordingPath(name, file string) string { return RecordingsPrefix + name + "/" + file }

// RecordingFolders yields each stream's recordings folder under out (out/recordings/NAME,
// NAME a valid stream name) with its entries, as os.ReadDir lists them.
func RecordingFolders(out string) iter.Seq2[string, []fs.DirEntry] {
	return func(yield func(string, []fs.DirEntry) bool) {
		streams, _ := os.ReadDir(filepath.Join(out, RecordingsDir))
		for _, d := range streams {
			if !d.IsDir() || !Valid(d.Name()) {
				continue
			}
			dir := RecordingsFolder(out, d.Name())
			files, _ := os.ReadDir(dir)
			if !yield(dir, files) {
				return
			}
		}
	}
}
