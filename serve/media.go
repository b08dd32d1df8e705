package serve

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/svtool/sv/auth"
	"github.com/svtool/sv/stream"
)

// kind says how a file type is cached and served.
type kind int

const (
	manifest kind = iota // rewritten while live: revalidated every time, gzipped
	segment              // written once: immutable, streamed while in progress
	data                 // anything else: revalidated every time
)

type mediaType struct {
	ctype string
	kind  kind
}

// mediaTypes are the only files served under /live/, by extension.
var mediaTypes = map[string]mediaType{
	".mpd":   {"application/dash+xml", manifest},
	".m3u8":  {"application/vnd.apple.mpegurl", manifest},
	".m4s":   {"video/iso.segment", segment},
	".mp4":   {"video/mp4", segment},
	".m4a":   {"audio/mp4", segment},
	".webm":  {"video/webm", segment},
	".jpg":   {"image/jpeg", data},
	".jsonl": {"application/x-ndjson", data},
}

// What responses say to caches, browsers' and shared ones (a CDN, Varnish in front:
// deploy/varnish): segments and parts have names that a run never reuses, so they are
// immutable; manifests and playlists change every part or segment. With reads
// protected, cacheControl makes them private.
const (
	segmentCache = "public, max-age=31536000, immutable"
	// liveCache is the MPD's and the playlists' but an LL-HLS media playlist's:
	// revalidated by browsers every time, and kept a second by shared caches, so that
	// one request a second reaches the origin however many players refresh. A player
	// that gets a copy up to a second old learns a change that much later: a live MPD of
	// segment templates lists nothing that changes while the stream goes on.
	liveCache = "public, max-age=0, s-maxage=1"
	// manifestCache is the rest's: revalidated every time, in every cache. An LL-HLS
	// player's first load of a media playlist is answered with a fresh version
	// (serveFresh), which a cached copy would not be; its later loads are blocking
	// reloads, which caches may keep (blockedCache).
	manifestCache = "no-cache"
	// endedCache is the 204 after the last segment of a presentation that is over: kept
	// briefly, as the many players that ask for the same segments after the end ask
	// together, and not for long, as another packager may reuse its name.
	endedCache = "public, max-age=2"
	// maxGzip is the largest manifest compressed on the fly; larger ones go as they are.
	maxGzip = 4 << 20
	// maxDepth is how many names may follow the stream's (thumbnails in a subfolder).
	maxDepth = 2
)

// mediaPath checks the path of a /live/ request and returns the stream, the file's path
// relative to the root (live/STREAM/NAME...) and its type. It accepts only plain names:
// letters, digits, '_', '-' and '.', not starting with a dot, so "..", hidden files and
// anything a decoded %2F or backslash could smuggle in are refused before any file is
// touched.
func mediaPath(p string) (name, rel string, mt mediaType, ok bool) {
	rest, found := strings.CutPrefix(p, stream.MediaPrefix)
	if !found {
		return "", "", mt, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 2 || len(parts) > 1+maxDepth || !stream.Valid(parts[0]) {
		return "", "", mt, false
	}
	for _, name := range parts[1:] {
		if !plainName(name) {
			return "", "", mt, false
		}
	}
	mt, ok = mediaTypes[path.Ext(parts[len(parts)-1])]
	if !ok {
		return "", "", mt, false
	}
	return parts[0], stream.LiveDir + "/" + rest, mt, true
}

// plainName reports whether name is 1 to 128 of [A-Za-z0-9._-], not starting with a dot
// and without "..": no media name needs one, and none can then be read as a parent.
func plainName(name string) bool {
	if name == "" || len(name) > 128 || name[0] == '.' || strings.Contains(name, "..") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// serveLive serves /live/{stream}/{file} and /live/{stream}/events.
func (s *Server) serveLive(w http.ResponseWriter, r *http.Request) {
	if s.root == nil {
		notFound(w)
		return
	}
	if !s.admit() {
		s.stats.refused.Add(1)
		busy(w)
		return
	}
	defer s.leave()
	if name, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, stream.MediaPrefix), "/"); stream.Valid(name) && !s.allowRead(w, r, name) {
		return
	}
	if name, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, stream.MediaPrefix), "/"+stream.EventsName); ok && stream.Valid(name) {
		s.serveEvents(w, r, name)
		return
	}
	name, rel, mt, ok := mediaPath(r.URL.Path)
	if !ok {
		notFound(w)
		return
	}
	if mt.kind == segment && s.o.OnSegment != nil {
		s.o.OnSegment(name, r)
	}
	if path.Ext(rel) == ".m3u8" {
		d, ok, err := parseDirective(r.URL.Query())
		if err != nil {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
		if ok {
			s.serveBlocking(w, r, rel, mt, d)
			return
		}
		if s.serveFresh(w, r, rel, mt) {
			return
		}
	}
	f, fi, err := s.open(rel)
	if err == nil {
		defer s.closeFile(f)
		s.serveFile(w, r, f, fi, mt)
		return
	}
	if outOfFiles(err) {
		busy(w)
		return
	}
	if mt.kind == manifest && errors.Is(err, fs.ErrNotExist) && s.awaitStart(r, rel) {
		if f, fi, err = s.open(rel); err == nil {
			defer s.closeFile(f)
			s.serveFile(w, r, f, fi, mt)
			return
		}
	}
	if mt.kind != segment || !errors.Is(err, fs.ErrNotExist) {
		s.o.Log.Debug("not served", "path", r.URL.Path, "err", err)
		notFound(w)
		return
	}
	if s.serveSegment(w, r, rel, mt) {
		return
	}
	// Not written yet? A player asks for a part a moment before it exists (an LL-HLS
	// preload hint), or for a segment when its clock is a little ahead.
	found, over, release := s.hold(r, rel)
	defer release()
	if found && s.serveSegment(w, r, rel, mt) {
		return
	}
	if over {
		s.noMore(w)
		return
	}
	s.stats.missing.Add(1)
	notFound(w)
}

// serveSegment serves a segment that is being written, or has just been: it reports
// false when there is neither.
func (s *Server) serveSegment(w http.ResponseWriter, r *http.Request, rel string, mt mediaType) bool {
	t, err := s.openTail(rel)
	if err == nil {
		defer t.close()
		s.serveTail(w, r, t, mt)
		return true
	}
	if errors.Is(err, errCacheFull) {
		s.serveWhenWritten(w, r, rel, mt)
		return true
	}
	// Renamed between our looks?
	f, fi, err2 := s.open(rel)
	if err2 == nil {
		defer s.closeFile(f)
		s.serveFile(w, r, f, fi, mt)
		return true
	}
	if outOfFiles(err) || outOfFiles(err2) {
		busy(w)
		return true
	}
	return false
}

// nearEnd is how many segments before a missing one hold looks for by name, to tell one
// past the end of a presentation that is over from one never written, before it lists
// the folder (pastTheEnd).
const nearEnd = 8

// noMore answers a request for a segment after the last of a presentation that has
// ended: 204, no content, where a 404 would stop Shaka for good.
func (s *Server) noMore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", s.cacheControl(endedCache))
	w.WriteHeader(http.StatusNoContent)
}

// outOfFiles reports whether err is the process or the system out of file descriptors.
func outOfFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// busy answers a request the server cannot serve now (out of file descriptors): a 503
// that a player retries, where a 404 is the end of the stream to it.
func busy(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	httpError(w, http.StatusServiceUnavailable, "busy: try again")
}

func (s *Server) exists(rel string) bool {
	root, name := s.under(rel)
	fi, err := root.Stat(name)
	return err == nil && fi.Mode().IsRegular()
}

// liveFolder is how recently a stream folder must have changed for requests in it to be
// held: a packager creates or renames a file in it every part or segment, which sets the
// folder's modification time, so an older folder holds a finished stream.
const liveFolder = 30 * time.Second

// hold waits, up to Options.Hold and Options.Pause, for segment rel to be started
// (NAME.tmp) or written (NAME), or for the writer to go on to the next number (it
// skipped rel's), and reports whether one of them happened. Call release once the segment is served: it keeps the
// watches, so that a tail of the segment shares their pollers. A request is held only in
// a stream folder that is live, and not when the next segment already exists: rel is
// then in the past (deleted, or never written) and will not come.
func (s *Server) hold(r *http.Request, rel string) (found, over bool, release func()) {
	release = func() {}
	if s.o.Hold <= 0 {
		return false, false, release
	}
	dir, name := path.Split(rel)
	if !s.changedSince(strings.TrimSuffix(dir, "/"), time.Now().Add(-liveFolder)) {
		return false, false, release
	}
	// Nor once the stream's MPD says its presentation is over, before the wait or during
	// it: Shaka asks for the segment after the last (its count of segments ignores
	// @endNumber), retries a 404 while the MPD is dynamic, and ends with the final MPD
	// (dash/mpd.go); a request held to its end, past that MPD, stopped it for good.
	ended := func() bool { return false }
	if folder, ok := strings.CutPrefix(strings.TrimSuffix(dir, "/"), stream.LiveDir+"/"); ok {
		ended = func() bool {
			info := s.described(folder, dir)
			return info.DASH && !info.Live
		}
	}
	next := numbered(name, 1) // at most two names
	for _, n := range next {
		if s.exists(dir+n+".tmp") || s.exists(dir+n) {
			return false, false, release
		}
	}
	// After the last segment of a presentation that is over, however far: Shaka counts a
	// live stream's segments by its clock, keeps every segment it has counted once the
	// MPD ends the presentation (it ignores @endNumber), and asks for them, up to six after
	// the last on a busy machine; a 404 there stops it for good once the MPD is static.
	last := func() bool { return s.pastTheEnd(dir, name) }
	if ended() {
		return false, last(), release
	}
	s.stats.waited.Add(1)
	fws := []*fileWatch{s.watch(rel), s.watch(dir + stream.Manifest)}
	for _, n := range next {
		fws = append(fws, s.watch(dir+n))
	}
	release = func() {
		for _, fw := range fws {
			s.release(fw)
		}
	}
	timer := time.NewTimer(s.o.Hold + max(0, s.o.Pause))
	defer timer.Stop()
	var changed [4]<-chan struct{} // nil ones never fire
	for {
		for i, fw := range fws {
			changed[i] = fw.next()
		}
		if s.exists(rel+".tmp") || s.exists(rel) {
			return true, false, release
		}
		for _, n := range next {
			if s.exists(dir+n+".tmp") || s.exists(dir+n) {
				return true, false, release
			}
		}
		if ended() {
			return false, last(), release
		}
		select {
		case <-r.Context().Done():
			return false, false, release
		case <-timer.C:
			return false, false, release
		case <-changed[0]:
		case <-changed[1]:
		case <-changed[2]:
		case <-changed[3]:
		}
	}
}

// awaitStart waits, up to Options.Hold, for manifest or playlist rel to be written, and
// reports whether it was. A player opened as its stream starts, or a moment before the
// publisher does, asks for the manifest before the packager has written it; a stock
// player takes a 404 there for the end of the stream, or retries it a few times and
// gives up. Held, it gets the manifest the moment the stream can be played. Unlike a
// segment's, the wait does not need a live folder: a new stream has none yet.
//
// A stream whose packager is at work when Hold is over (its folder has changed since the
// request came) is waited for up to startHold in all: its first manifest needs every
// track's first fragment, and its first playlist a whole segment, which a busy machine
// can take longer than Hold to reach.
func (s *Server) awaitStart(r *http.Request, rel string) bool {
	if s.o.Hold <= 0 {
		return false
	}
	s.stats.waited.Add(1)
	fw := s.watch(rel)
	defer s.release(fw)
	since := time.Now().Add(-10 * time.Millisecond) // a folder's time may be a tick behind the clock
	timer := time.NewTimer(s.o.Hold)
	defer timer.Stop()
	extended := false
	for {
		changed := fw.next()
		if s.exists(rel) {
			return true
		}
		select {
		case <-r.Context().Done():
			return false
		case <-timer.C:
			if extended || s.o.Hold >= startHold || !s.changedSince(path.Dir(rel), since) {
				return false
			}
			extended = true
			timer.Reset(startHold - s.o.Hold)
		case <-changed:
		}
	}
}

// startHold bounds the wait for the first manifest of a stream whose packager is at work:
// below hls.js's 10 s limit on a manifest's first byte.
const startHold = 8 * time.Second

// changedSince reports whether folder dir exists and has changed since t.
func (s *Server) changedSince(dir string, t time.Time) bool {
	fi, err := s.root.Stat(dir)
	return err == nil && fi.IsDir() && fi.ModTime().After(t)
}

// pastTheEnd reports whether segment name, missing from folder dir (with its slash),
// comes after the last one written of its kind: a segment of the same name numbered lower
// exists, and none numbered higher (the caller has looked for the next). A segment
// missing before the window (deleted) has later ones; one of a kind never written has
// none before it. The nearEnd names before it are looked for first, the folder listed
// only when none is there.
func (s *Server) pastTheEnd(dir, name string) bool {
	for d := int64(-1); d >= -nearEnd; d-- {
		for _, n := range numbered(name, d) {
			if s.exists(dir + n) {
				return true
			}
		}
	}
	prefix, n, suffix, ok := splitNumber(name)
	if !ok {
		return false
	}
	root, _ := s.under(dir + name)
	folder := "."
	if root == s.root {
		folder = strings.TrimSuffix(dir, "/")
	}
	f, err := root.Open(folder)
	if err != nil {
		return false
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(256)
		for _, other := range names {
			p, m, sfx, ok := splitNumber(other)
			if ok && p == prefix && sfx == suffix && m < n {
				return true
			}
		}
		if err != nil {
			return false
		}
	}
}

// numbered returns the names of the segment delta numbers away from name, by the last
// number in it: chunk-0-00012.m4s and -1 give chunk-0-00011.m4s. seg10.m4s may have a
// fixed width or none: -1 gives seg09.m4s and seg9.m4s.
func numbered(name string, delta int64) []string {
	prefix, n, suffix, ok := splitNumber(name)
	if !ok || n+delta < 0 {
		return nil
	}
	width := len(name) - len(prefix) - len(suffix)
	padded := fmt.Sprintf("%0*d", width, n+delta)
	out := []string{prefix + padded + suffix}
	if plain := strconv.FormatInt(n+delta, 10); plain != padded && name[len(prefix)] != '0' {
		out = append(out, prefix+plain+suffix)
	}
	return out
}

// splitNumber splits name at its last number before the extension: chunk-0-00012.m4s
// is chunk-0-, 12 and .m4s.
func splitNumber(name string) (prefix string, n int64, suffix string, ok bool) {
	ext := path.Ext(name) // .m4s has a digit of its own
	stem := name[:len(name)-len(ext)]
	end := strings.LastIndexAny(stem, "0123456789")
	if end < 0 {
		return "", 0, "", false
	}
	start := end
	for start > 0 && stem[start-1] >= '0' && stem[start-1] <= '9' {
		start--
	}
	digits := stem[start : end+1]
	if len(digits) > 18 {
		return "", 0, "", false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return "", 0, "", false
	}
	return stem[:start], n, stem[end+1:] + ext, true
}

// admit counts a request under /live/ in, if MaxRequests and the descriptors allow
// (DefaultMaxRequests); leave counts it out.
func (s *Server) admit() bool {
	if n := s.stats.serving.Add(1); s.o.MaxRequests > 0 && n > int64(s.o.MaxRequests) {
		s.stats.serving.Add(-1)
		return false
	}
	if s.fds.Add(1) > s.fdBudget {
		s.fds.Add(-1)
		s.stats.serving.Add(-1)
		return false
	}
	return true
}

func (s *Server) leave() {
	s.fds.Add(-1)
	s.stats.serving.Add(-1)
}

// errFiles is open's error past the descriptors that requests may hold: as the process
// out of them, a 503.
var errFiles = fmt.Errorf("descriptors for requests all in use: %w", syscall.EMFILE)

// open opens a regular file under the root, and refuses anything else; close it with
// closeFile. It opens with O_NONBLOCK, so that a FIFO or a device cannot block the open
// (the flag changes nothing for a regular file): one walk under the root, not a Stat's
// and an Open's.
func (s *Server) open(rel string) (*os.File, fs.FileInfo, error) {
	if s.fds.Add(1) > s.fdBudget {
		s.fds.Add(-1)
		return nil, nil, fmt.Errorf("%s: %w", rel, errFiles)
	}
	root, name := s.under(rel)
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		s.fds.Add(-1)
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		s.closeFile(f)
		return nil, nil, fmt.Errorf("%s: %w: not a regular file", rel, fs.ErrNotExist)
	}
	return f, fi, nil
}

// readFile reads f, which its Stat says has size bytes, to its end or to limit bytes:
// in one read, and one that finds the end, when the file has not grown since.
func readFile(f *os.File, size, limit int64) ([]byte, error) {
	b := make([]byte, 0, min(size+1, limit))
	for int64(len(b)) < limit {
		if len(b) == cap(b) {
			b = slices.Grow(b, int(min(int64(cap(b)), limit-int64(len(b)))))
		}
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// closeFile closes a file that open opened.
func (s *Server) closeFile(f *os.File) {
	f.Close()
	s.fds.Add(-1)
}

// mediaHeaders sets the headers every media response has.
func (s *Server) mediaHeaders(w http.ResponseWriter, mt mediaType) {
	h := w.Header()
	h.Set("Content-Type", mt.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	switch mt.kind {
	case segment:
		h.Set("Cache-Control", s.cacheControl(segmentCache))
	case manifest:
		h.Set("Cache-Control", s.cacheControl(liveCache))
	default:
		h.Set("Cache-Control", s.cacheControl(manifestCache))
	}
}

// serveFile serves a complete file: Range, HEAD and conditional requests through
// http.ServeContent, manifests gzipped when the client takes it.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, f *os.File, fi fs.FileInfo, mt mediaType) {
	s.mediaHeaders(w, mt)
	var modtime time.Time // none for files that change more often than once a second
	switch mt.kind {
	case segment:
		s.stats.segments.Add(1)
		if whole(r) {
			sendWhole(w, r, f, fi)
			return
		}
		modtime = fi.ModTime()
	case manifest:
		w.Header().Add("Vary", "Accept-Encoding")
		if fi.Size() <= maxGzip {
			body, err := readFile(f, fi.Size(), maxGzip+1)
			if err != nil {
				s.o.Log.Warn("cannot read", "path", r.URL.Path, "err", err)
				httpError(w, http.StatusInternalServerError, "cannot read the file")
				return
			}
			s.serveManifest(w, r, body)
			return
		}
	}
	w.Header().Set("ETag", fileETag(fi))
	http.ServeContent(w, r, "", modtime, f)
}

// whole reports whether r asks for a whole file with no condition: no Range, no If-*
// header, as nearly every request of a player for a segment.
func whole(r *http.Request) bool {
	for _, k := range conditions {
		if _, ok := r.Header[k]; ok {
			return false
		}
	}
	return true
}

// conditions are the request headers that whole leaves to http.ServeContent.
var conditions = []string{"Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"}

// sendWhole answers a request for a whole segment as http.ServeContent would, without
// its work that such a request does not need: two seeks to learn a size that fi has, and
// a read of the first bytes to sniff a type that is set.
func sendWhole(w http.ResponseWriter, r *http.Request, f *os.File, fi fs.FileInfo) {
	h := w.Header()
	h["Accept-Ranges"] = acceptRanges
	h["Etag"] = []string{fileETag(fi)}
	h["Last-Modified"] = []string{fi.ModTime().UTC().Format(http.TimeFormat)}
	h["Content-Length"] = []string{strconv.FormatInt(fi.Size(), 10)}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		io.CopyN(w, f, fi.Size())
	}
}

var acceptRanges = []string{"bytes"}

// serveManifest sends one version of a manifest or playlist from memory, gzipped when
// the client takes it, its ETag made from its bytes: a file's size and modification time
// do not tell two versions apart, as the clock that stamps files ticks every few
// milliseconds and a packager may rewrite a playlist twice within a tick, with as many
// bytes.
func (s *Server) serveManifest(w http.ResponseWriter, r *http.Request, body []byte) {
	key := r.URL.Path
	if tok := r.URL.Query().Get(auth.TokenParam); tok != "" && s.o.Auth.Protects(auth.Read) {
		body = withToken(body, tok, path.Ext(r.URL.Path) == ".m3u8")
		key += "?" + tok
	}
	etag := fmt.Sprintf(`"%x-%016x"`, len(body), crc64.Checksum(body, crcTable))
	w.Header().Set("ETag", etag)
	if r.Header.Get("Range") == "" && acceptsGzip(r) {
		gz, _ := s.gzips.get(key, etag, bytes.NewReader(body)) // no error from memory
		serveGzipped(w, r, gz, etag)
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether the request's Accept-Encoding takes gzip.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// fileETag is the strong ETag of a version of a file: a new version is a new file (a
// rename) or a longer one.
func fileETag(fi fs.FileInfo) string {
	return fmt.Sprintf(`"%x-%x"`, fi.Size(), fi.ModTime().UnixNano())
}

// serveGzipped serves gz, the gzipped body of the version etag names.
func serveGzipped(w http.ResponseWriter, r *http.Request, gz []byte, etag string) {
	h := w.Header()
	h.Set("Content-Encoding", "gzip")
	h.Set("Content-Length", strconv.Itoa(len(gz))) // ServeContent leaves it to us
	h.Set("ETag", strings.TrimSuffix(etag, `"`)+`-gz"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(gz))
}

// gzipCache keeps the gzipped body of the newest version of each manifest and playlist,
// so that a version is compressed once however many players ask for it: a thousand
// players of a live stream read the same MPD every second.
type gzipCache struct {
	mu    sync.Mutex
	m     map[string]gzipped // by URL path
	bytes int
}

type gzipped struct {
	etag string // the version's ETag, made from its bytes
	gz   []byte
}

// The cache is forgotten whole, and started again, past either bound.
const (
	maxGzipped      = 4096
	maxGzippedBytes = 64 << 20
)

// get returns the gzipped body of the version of key that etag names, compressing rd
// when the cache does not have it.
func (c *gzipCache) get(key, etag string, rd io.Reader) ([]byte, error) {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && e.etag == etag {
		return e.gz, nil
	}
	gz, err := gzipBytes(rd)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[key]; ok {
		c.bytes -= len(old.gz)
	}
	if c.m == nil || len(c.m) >= maxGzipped || c.bytes+len(gz) > maxGzippedBytes {
		c.m, c.bytes = map[string]gzipped{}, 0
	}
	c.m[key] = gzipped{etag: etag, gz: gz}
	c.bytes += len(gz)
	return gz, nil
}

// gzipWriters are reused: a writer's state is most of a compression's cost.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level: no error
	return zw
}}

func gzipBytes(rd io.Reader) ([]byte, error) {
	var b bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&b)
	if _, err := io.Copy(zw, rd); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
