package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/svtool/sv/auth"
	"github.com/svtool/sv/stream"
)

// StreamInfo describes one stream folder under Root/live, as /streams.json lists it.
type StreamInfo struct {
	Name string `json:"name"`
	// Live is true while the MPD is dynamic (sv dash is running); false once the
	// presentation is complete, or when there is only an HLS playlist or events.
	Live bool `json:"live"`
	// Session identifies one presentation: the MPD's availabilityStartTime. It stays the
	// same across a reconnect within sv all's --reconnect and across FFmpeg restarts,
	// and changes with a new presentation.
	Session string    `json:"session,omitempty"`
	Updated time.Time `json:"updated"` // when the manifest was last written
	DASH    bool      `json:"dash"`    // manifest.mpd exists
	HLS     bool      `json:"hls"`     // master.m3u8 exists
	Events  bool      `json:"events"`  // frames.jsonl exists: /live/{stream}/events has data
	// LowLatency is true for a live low-latency presentation (segments announced before
	// they are complete, availabilityTimeComplete="false"), false for one whose segments
	// are announced once written whole, which a player must stay further behind.
	LowLatency bool `json:"low_latency"`
	// Tracks are the renditions of the MPD's last period.
	Tracks []Track `json:"tracks,omitempty"`
}

// Track is one rendition of a stream, as its MPD describes it.
type Track struct {
	Type      string `json:"type"` // video, audio
	Codec     string `json:"codec"`
	Width     int    `json:"width,omitempty"`
	Height    int    `json:"height,omitempty"`
	Bandwidth int64  `json:"bandwidth"` // bits per second, as the MPD announces it
}

var (
	mpdAdaptation = regexp.MustCompile(`(?s)<AdaptationSet\b([^>]*)>(.*?)</AdaptationSet>`)
	mpdRendition  = regexp.MustCompile(`<Representation\b([^>]*)>`)
	mpdAttr       = regexp.MustCompile(`\b(contentType|mimeType|codecs|width|height|bandwidth)="([^"]{0,128})"`)
)

// mpdTracks returns the renditions of the last period of an MPD.
func mpdTracks(mpd []byte) []Track {
	if i := bytes.LastIndex(mpd, []byte("<Period")); i >= 0 {
		mpd = mpd[i:]
	}
	var tracks []Track
	for _, as := range mpdAdaptation.FindAllSubmatch(mpd, 16) {
		set := attrs(as[1])
		kind := set["contentType"]
		if kind == "" {
			kind, _, _ = strings.Cut(set["mimeType"], "/")
		}
		for _, rep := range mpdRendition.FindAllSubmatch(as[2], 16) {
			a := attrs(rep[1])
			t := Track{Type: kind, Codec: a["codecs"]}
			if t.Codec == "" {
				t.Codec = set["codecs"]
			}
			if t.Type == "" {
				t.Type, _, _ = strings.Cut(a["mimeType"], "/")
			}
			t.Width, _ = strconv.Atoi(a["width"])
			t.Height, _ = strconv.Atoi(a["height"])
			t.Bandwidth, _ = strconv.ParseInt(a["bandwidth"], 10, 64)
			tracks = append(tracks, t)
		}
	}
	return tracks
}

// attrs returns the attributes of an element that mpdAttr knows.
func attrs(b []byte) map[string]string {
	m := map[string]string{}
	for _, a := range mpdAttr.FindAllSubmatch(b, -1) {
		m[string(a[1])] = string(a[2])
	}
	return m
}

// maxMPD is the most of a manifest read to describe its stream.
const maxMPD = 1 << 20

var (
	mpdDynamic = regexp.MustCompile(`\btype="dynamic"`)
	mpdEnded   = regexp.MustCompile(`\bmediaPresentationDuration="`)
	mpdStart   = regexp.MustCompile(`\bavailabilityStartTime="([^"]{1,64})"`)
	mpdLowLat  = regexp.MustCompile(`\bavailabilityTimeComplete="false"`)
)

// Streams lists the stream folders under Root/live that hold a manifest, a playlist or
// events, by name.
func (s *Server) Streams() []StreamInfo {
	if s.root == nil {
		return nil
	}
	dir, err := s.root.Open(stream.LiveDir)
	if err != nil {
		return nil
	}
	entries, err := dir.ReadDir(1024)
	dir.Close()
	if err != nil && !errors.Is(err, io.EOF) && len(entries) == 0 {
		return nil
	}
	var out []StreamInfo
	for _, e := range entries {
		if !e.IsDir() || !stream.Valid(e.Name()) {
			continue
		}
		if info, ok := s.stream(e.Name()); ok {
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// stream describes one stream folder, if it has anything to show.
func (s *Server) stream(name string) (StreamInfo, bool) {
	base := stream.LiveDir + "/" + name + "/"
	info := s.described(name, base)
	if fi, err := s.root.Stat(base + stream.Playlist); err == nil && fi.Mode().IsRegular() {
		info.HLS = true
		if info.Updated.IsZero() {
			info.Updated = fi.ModTime().UTC()
		}
	}
	if fi, err := s.root.Stat(base + stream.Analysis); err == nil && fi.Mode().IsRegular() {
		info.Events = true
		if info.Updated.IsZero() {
			info.Updated = fi.ModTime().UTC()
		}
	}
	return info, info.DASH || info.HLS || info.Events
}

func (s *Server) serveStreams(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/streams.json" {
		notFound(w)
		return
	}
	var streams []StreamInfo
	if name := r.URL.Query().Get("stream"); name != "" {
		// One stream: what a viewer asks for every second. Describing a live stream
		// reads its manifest and newest segments, so listing them all for each
		// viewer's look would cost every viewer the number of streams.
		if !stream.Valid(name) {
			httpError(w, http.StatusBadRequest, "bad stream name")
			return
		}
		if !s.allowRead(w, r, name) {
			return
		}
		info, ok := s.stream(name)
		if wait, set := r.URL.Query()["wait"]; set && !(ok && info.Live) {
			d, valid := decimal(wait[0])
			if !valid || d < 1 || d > maxStreamWait {
				httpError(w, http.StatusBadRequest, fmt.Sprintf("wait=%.20q: want whole seconds from 1 to %d", wait[0], maxStreamWait))
				return
			}
			info, ok = s.waitLive(r, name, time.Duration(d)*time.Second)
		}
		if ok {
			streams = append(streams, info)
		}
	} else {
		protected := s.o.Auth.Protects(auth.Read)
		for _, info := range s.Streams() {
			if !protected || s.mayRead(r, info.Name) {
				streams = append(streams, info)
			}
		}
	}
	if streams == nil {
		streams = []StreamInfo{}
	}
	writeJSON(w, map[string]any{"streams": streams})
}

// maxStreamWait bounds /streams.json?wait=S, in seconds.
const maxStreamWait = 60

// waitLive waits, up to d, for stream name to be live, and returns what it is then. A
// viewer waiting for a stream to start asks with ?wait=S instead of polling: the answer
// comes the moment the manifest says live, where a poll every 250 ms added 125 ms to the
// time to first frame on average, and a waiting viewer costs one request per S seconds.
// The manifest is followed by the pollers segments have (watch), one per file whatever
// the number of viewers waiting.
func (s *Server) waitLive(r *http.Request, name string, d time.Duration) (StreamInfo, bool) {
	fw := s.watch(stream.LiveDir + "/" + name + "/" + stream.Manifest)
	defer s.release(fw)
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		changed := fw.next()
		info, ok := s.stream(name)
		if ok && info.Live {
			return info, ok
		}
		select {
		case <-r.Context().Done():
			return info, ok
		case <-timer.C:
			return info, ok
		case <-changed:
		}
	}
}

// writeJSON sends v as an uncached JSON response.
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "cannot encode: "+err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(append(b, '\n'))
}

// A stream's description from its manifest is kept until the manifest changes: reading
// and parsing it would otherwise be paid for every stream at every request of
// /streams.json.
// maxDescribed bounds the descriptions kept: past it, they are forgotten and made again.
const maxDescribed = 4096

type descriptions struct {
	mu sync.Mutex
	m  map[string]description // by stream name
}

type description struct {
	mtime time.Time
	size  int64
	info  StreamInfo
}

// described returns the stream's StreamInfo with what its manifest says filled in.
func (s *Server) described(name, base string) StreamInfo {
	fi, err := s.root.Stat(base + stream.Manifest)
	if err != nil || !fi.Mode().IsRegular() {
		return StreamInfo{Name: name}
	}
	c := &s.descriptions
	c.mu.Lock()
	d, ok := c.m[name]
	c.mu.Unlock()
	if ok && d.mtime.Equal(fi.ModTime()) && d.size == fi.Size() {
		return d.info
	}
	// Not s.open: a look at the MPD for a held request (hold) must not take a descriptor
	// from the requests', only one of the few that DefaultMaxRequests leaves aside.
	root, rel := s.under(base + stream.Manifest)
	f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return StreamInfo{Name: name}
	}
	fi, err = f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return StreamInfo{Name: name}
	}
	mpd, _ := readFile(f, fi.Size(), maxMPD)
	f.Close()
	info := StreamInfo{Name: name, DASH: true, Updated: fi.ModTime().UTC()}
	head := mpd[:min(len(mpd), 4096)]                           // the MPD element and its attributes come first
	info.Live = mpdDynamic.Match(head) && !mpdEnded.Match(head) // an ended live MPD has a duration
	if m := mpdStart.FindSubmatch(head); m != nil {
		info.Session = string(m[1])
	}
	if info.Live {
		info.LowLatency = mpdLowLat.Match(mpd)
	}
	info.Tracks = mpdTracks(mpd)
	c.mu.Lock()
	if c.m == nil || len(c.m) > maxDescribed {
		c.m = map[string]description{}
	}
	c.m[name] = description{mtime: fi.ModTime(), size: fi.Size(), info: info}
	c.mu.Unlock()
	return info
}
