package serve

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/svtool/sv/auth"
	"github.com/svtool/sv/stream"
)

// Recording is one recording under Root/recordings, as /recordings.json lists it.
type Recording struct {
	Stream   string    `json:"stream"`
	File     string    `json:"file"` // its name in Root/recordings/{stream}
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
	// Unfinished: its session is running, or its process died and it is not finished yet.
	Unfinished bool `json:"unfinished,omitempty"`
	// Seekable is the name of its seekable copy, when one was made.
	Seekable     string `json:"seekable,omitempty"`
	SeekableSize int64  `json:"seekable_size,omitempty"`
	// Stored: a copy is in the object store (a FILE.stored marker); Local: the file is
	// on this server's disk. A stored recording whose local file was removed is played
	// from the store.
	Stored bool `json:"stored,omitempty"`
	Local  bool `json:"local"`
	// URL plays it, under /recordings/: its seekable copy when there is one (players can
	// seek in it), else the recording as it was received.
	URL string `json:"url"`
}

// maxRecordings bounds the files listed per stream folder.
const maxRecordings = 10000

// Recordings lists the recordings under Root/recordings, newest first; of stream alone
// when it is not "".
func (s *Server) Recordings(name string) []Recording {
	if s.root == nil {
		return nil
	}
	var streams []string
	if name != "" {
		streams = []string{name}
	} else {
		dir, err := s.root.Open(stream.RecordingsDir)
		if err != nil {
			return nil
		}
		entries, _ := dir.ReadDir(1024)
		dir.Close()
		for _, e := range entries {
			if e.IsDir() && stream.Valid(e.Name()) {
				streams = append(streams, e.Name())
			}
		}
	}
	var out []Recording
	for _, name := range streams {
		out = append(out, s.streamRecordings(name)...)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Modified.Equal(out[j].Modified) {
			return out[i].Modified.After(out[j].Modified)
		}
		return out[i].Stream+"/"+out[i].File < out[j].Stream+"/"+out[j].File
	})
	return out
}

// streamRecordings lists one stream's recordings folder.
func (s *Server) streamRecordings(name string) []Recording {
	dir := stream.RecordingsDir + "/" + name
	f, err := s.root.Open(dir)
	if err != nil {
		return nil
	}
	entries, _ := f.ReadDir(maxRecordings)
	f.Close()
	have := map[string]fs.DirEntry{}
	for _, e := range entries {
		have[e.Name()] = e
	}
	var out []Recording
	for _, e := range entries {
		file, marker := e.Name(), false
		if base, ok := strings.CutSuffix(file, stream.StoredSuffix); ok {
			if _, local := have[base]; local {
				continue // listed with its file
			}
			file, marker = base, true
		}
		if !stream.IsRecording(file) {
			continue
		}
		rec := Recording{Stream: name, File: file, Local: !marker}
		if _, ok := have[file+stream.StoredSuffix]; ok {
			rec.Stored = true
		}
		if _, ok := have[path.Base(stream.UnfinishedMarker(file))]; ok {
			rec.Unfinished = true
		}
		if marker {
			st, ok := s.readStored(dir + "/" + e.Name())
			if !ok {
				continue
			}
			rec.Size = st.Size
			if fi, err := e.Info(); err == nil {
				rec.Modified = fi.ModTime().UTC()
			}
		} else {
			fi, err := e.Info()
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			rec.Size, rec.Modified = fi.Size(), fi.ModTime().UTC()
		}
		seek := stream.SeekableOf(file)
		if se, ok := have[seek]; ok {
			if fi, err := se.Info(); err == nil && fi.Mode().IsRegular() {
				rec.Seekable, rec.SeekableSize = seek, fi.Size()
			}
		} else if _, ok := have[seek+stream.StoredSuffix]; ok {
			if st, ok := s.readStored(dir + "/" + seek + stream.StoredSuffix); ok {
				rec.Seekable, rec.SeekableSize = seek, st.Size
			}
		}
		play := rec.File
		if rec.Seekable != "" {
			play = rec.Seekable
		}
		rec.URL = strings.TrimSuffix(s.o.BasePath, "/") + stream.RecordingPath(name, play)
		out = append(out, rec)
	}
	return out
}

// storedFile is what a Store wrote in a FILE.stored marker.
type storedFile struct {
	URL  string `json:"url"`
	Size int64  `json:"size"`
}

// readStored reads the marker at rel.
func (s *Server) readStored(rel string) (storedFile, bool) {
	var m storedFile
	f, err := s.root.Open(rel)
	if err != nil {
		return m, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil || json.Unmarshal(b, &m) != nil || m.Size < 0 {
		return m, false
	}
	return m, true
}

// serveRecordings serves /recordings.json (the list; ?stream= for one stream's) and
// /recordings/{stream}/{file}: a recording or its seekable copy, with Range requests for
// seeking, or a redirect to its stored copy (Options.Stored) when the local file is gone.
// Reading a stream's recordings needs what watching it needs (Options.Auth).
func (s *Server) serveRecordings(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/recordings.json" {
		s.serveRecordingList(w, r)
		return
	}
	rest, _ := strings.CutPrefix(r.URL.Path, stream.RecordingsPrefix)
	name, file, ok := strings.Cut(rest, "/")
	if !ok || !stream.Valid(name) || strings.Contains(file, "/") || !(stream.IsRecording(file) || stream.IsSeekable(file)) {
		notFound(w)
		return
	}
	if !s.allowRead(w, r, name) {
		return
	}
	if !s.admit() {
		busy(w)
		return
	}
	defer s.leave()
	rel := stream.RecordingsDir + "/" + name + "/" + file
	f, fi, err := s.open(rel)
	if errors.Is(err, fs.ErrNotExist) {
		if url, ok := s.stored(r.Context(), rel); ok {
			w.Header().Set("Cache-Control", "no-store") // the URL expires
			http.Redirect(w, r, url, http.StatusFound)
			return
		}
	}
	if err != nil {
		if outOfFiles(err) {
			busy(w)
			return
		}
		notFound(w)
		return
	}
	defer s.closeFile(f)
	h := w.Header()
	h.Set("Content-Type", recordingType(file))
	h.Set("X-Content-Type-Options", "nosniff")
	// A recording being written grows; a finished one never changes.
	if s.exists(path.Dir(rel) + "/" + path.Base(stream.UnfinishedMarker(file))) {
		h.Set("Cache-Control", "no-cache")
	} else {
		h.Set("Cache-Control", s.cacheControl("public, max-age=86400"))
	}
	http.ServeContent(w, r, file, fi.ModTime(), f)
}

// stored returns where the stored copy of the file at rel can be fetched, if it is
// stored (Options.Stored).
func (s *Server) stored(ctx context.Context, rel string) (string, bool) {
	if s.o.Stored == nil || !s.exists(rel+stream.StoredSuffix) {
		return "", false
	}
	return s.o.Stored(ctx, filepath.Join(s.o.Root, filepath.FromSlash(rel)))
}

// recordingType is the media type of a recording or seekable copy, by its name.
func recordingType(file string) string {
	switch path.Ext(file) {
	case ".mp4":
		return "video/mp4"
	case ".mkv":
		return "video/x-matroska"
	}
	return "video/webm"
}

// serveRecordingList answers /recordings.json: {"recordings": [...]}, the streams the
// client may watch.
func (s *Server) serveRecordingList(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("stream")
	if name != "" {
		if !stream.Valid(name) {
			httpError(w, http.StatusBadRequest, "bad stream name")
			return
		}
		if !s.allowRead(w, r, name) {
			return
		}
	}
	recs := []Recording{}
	protected := s.o.Auth.Protects(auth.Read)
	allowed := map[string]bool{}
	for _, rec := range s.Recordings(name) {
		ok, seen := allowed[rec.Stream]
		if !seen {
			ok = !protected || s.mayRead(r, rec.Stream)
			allowed[rec.Stream] = ok
		}
		if ok {
			recs = append(recs, rec)
		}
	}
	writeJSON(w, map[string]any{"recordings": recs})
}
