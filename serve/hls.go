package serve

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Blocking playlist reload (RFC 8216bis, section 6.2.5.2): an LL-HLS player asks for a
// media playlist with the delivery directives _HLS_msn=M and _HLS_part=P, and the answer
// is held until the playlist holds segment M complete, or part P of it.

const (
	// playlistReread is how often a watched playlist is read again although its file
	// looks unchanged: a new file that got the old one's inode, size and (coarse)
	// modification time would otherwise go unseen.
	playlistReread = 100 * time.Millisecond
	// maxPlaylist is the largest playlist a blocking reload reads; a larger one is served
	// as it is, without blocking.
	maxPlaylist = maxGzip
	// maxTarget bounds the target duration a reload's block is computed from.
	maxTarget = time.Minute
)

var errPlaylistTooLarge = errors.New("playlist too large to block on")

// directive is what a blocking reload asks for.
type directive struct {
	msn  int64 // media sequence number of the segment
	part int64 // index of a part of it; -1 for the whole segment
}

// parseDirective reads _HLS_msn and _HLS_part from a request's query. It reports false
// when there is no directive, and an error when one is malformed. _HLS_skip is left
// alone: the full playlist is a valid answer to a delta update request.
func parseDirective(q url.Values) (directive, bool, error) {
	d := directive{part: -1}
	msn, hasMSN := q["_HLS_msn"]
	part, hasPart := q["_HLS_part"]
	if !hasMSN {
		if hasPart {
			return d, false, errors.New("_HLS_part without _HLS_msn")
		}
		return d, false, nil
	}
	var ok bool
	if d.msn, ok = decimal(msn[0]); !ok || len(msn) > 1 {
		return d, false, fmt.Errorf("_HLS_msn=%.20q is not one decimal integer", msn[0])
	}
	if hasPart {
		if d.part, ok = decimal(part[0]); !ok || len(part) > 1 {
			return d, false, fmt.Errorf("_HLS_part=%.20q is not one decimal integer", part[0])
		}
	}
	return d, true, nil
}

// met reports whether pl answers d: it holds segment msn complete, or the part asked for
// of msn in progress, or it will never change again.
func (d directive) met(pl playlist) bool {
	if pl.ended || d.msn <= pl.lastMSN {
		return true
	}
	return d.part >= 0 && d.msn == pl.lastMSN+1 && d.part < pl.parts
}

// tooFar reports whether d asks for a segment more than two after the last one in pl,
// which the server must refuse at once.
func (d directive) tooFar(pl playlist) bool { return d.msn > pl.lastMSN+2 }

// playlist is what a blocking reload needs to know of a playlist.
type playlist struct {
	media   bool          // has #EXT-X-TARGETDURATION: a media playlist, not a multivariant one
	target  time.Duration // #EXT-X-TARGETDURATION
	part    time.Duration // #EXT-X-PART-INF's PART-TARGET, to the millisecond; 0 without parts
	lastMSN int64         // media sequence number of the last complete segment; the first's - 1 when none
	parts   int64         // complete parts (#EXT-X-PART) of the segment after it, in progress
	ended   bool          // #EXT-X-ENDLIST
}

// parsePlaylist reads the lines of an HLS playlist that tell how far it goes. It is
// tolerant: it looks only at the tags it needs, and a value it cannot read counts as
// absent. It does not allocate.
func parsePlaylist(b []byte) playlist {
	var pl playlist
	var seq, segments, parts int64
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] != '#' {
			continue
		}
		switch {
		case bytes.HasPrefix(line, []byte("#EXTINF:")):
			// A segment; the parts before it were its own.
			segments++
			parts = 0
		case bytes.HasPrefix(line, []byte("#EXT-X-PART:")):
			parts++
		case bytes.HasPrefix(line, []byte("#EXT-X-MEDIA-SEQUENCE:")):
			seq, _ = decimal(line[len("#EXT-X-MEDIA-SEQUENCE:"):])
		case bytes.HasPrefix(line, []byte("#EXT-X-TARGETDURATION:")):
			pl.media = true
			v := line[len("#EXT-X-TARGETDURATION:"):]
			if i := bytes.IndexByte(v, '.'); i >= 0 { // a decimal-integer, but be lenient
				v = v[:i]
			}
			if n, ok := decimal(v); ok && n <= int64(maxTarget/time.Second) {
				pl.target = time.Duration(n) * time.Second
			} else if ok {
				pl.target = maxTarget
			}
		case bytes.HasPrefix(line, []byte("#EXT-X-PART-INF:PART-TARGET=")):
			pl.part = millis(line[len("#EXT-X-PART-INF:PART-TARGET="):])
		case bytes.Equal(line, []byte("#EXT-X-ENDLIST")):
			pl.ended = true
		}
	}
	pl.lastMSN = seq + segments - 1
	pl.parts = parts
	return pl
}

// decimal reads an RFC 8216 decimal-integer: 1 to 18 digits, so that sums of a few of
// them cannot overflow.
func decimal[T string | []byte](s T) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// millis reads a decimal-floating-point number of seconds, up to maxTarget, to the
// millisecond: 0 when it cannot.
func millis(v []byte) time.Duration {
	whole, frac, _ := bytes.Cut(v, []byte("."))
	s, ok := decimal(whole)
	if !ok || s > int64(maxTarget/time.Second) {
		return 0
	}
	d := time.Duration(s) * time.Second
	unit := 100 * time.Millisecond
	for _, c := range frac {
		if c < '0' || c > '9' {
			return 0
		}
		d += time.Duration(c-'0') * unit
		unit /= 10
	}
	return d.Truncate(time.Millisecond)
}

// playlistFile is one version of a playlist as read from disk: what it says and its
// bytes, which are what its waiters are sent.
type playlistFile struct {
	body []byte
	fi   fs.FileInfo
	pl   playlist
}

// readPlaylist reads playlist rel whole. Playlists are replaced by rename, so the bytes
// read from the opened file are one version, and its Stat describes them.
func (s *Server) readPlaylist(rel string) (*playlistFile, error) {
	f, fi, err := s.open(rel)
	if err != nil {
		return nil, err
	}
	defer s.closeFile(f)
	if fi.Size() > maxPlaylist {
		return nil, errPlaylistTooLarge
	}
	body, err := readFile(f, fi.Size(), maxPlaylist+1)
	if err != nil {
		return nil, err
	}
	if len(body) > maxPlaylist {
		return nil, errPlaylistTooLarge
	}
	return &playlistFile{body: body, fi: fi, pl: parsePlaylist(body)}, nil
}

// serveBlocking answers a request for playlist rel with directive d: at once when the
// playlist already answers it, or is not a media playlist; with 400 when it asks for a
// segment too far ahead; otherwise once the playlist answers it, or with 503 after three
// target durations (the client then asks again).
func (s *Server) serveBlocking(w http.ResponseWriter, r *http.Request, rel string, mt mediaType, d directive) {
	pf, err := s.readPlaylist(rel)
	if errors.Is(err, errPlaylistTooLarge) {
		if f, fi, err := s.open(rel); err == nil {
			defer s.closeFile(f)
			s.serveFile(w, r, f, fi, mt)
			return
		}
	}
	if err != nil {
		s.o.Log.Debug("not served", "path", r.URL.Path, "err", err)
		notFound(w)
		return
	}
	if !pf.pl.media {
		s.servePlaylist(w, r, pf, mt, liveCache)
		return
	}
	target := max(pf.pl.target, time.Second)
	if d.met(pf.pl) {
		s.servePlaylist(w, r, pf, mt, blockedCache(target))
		return
	}
	if d.tooFar(pf.pl) {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("_HLS_msn=%d is more than two segments after the playlist's last, %d", d.msn, pf.pl.lastMSN))
		return
	}

	s.stats.blocked.Add(1)
	pw := s.watchPlaylist(rel)
	defer s.releasePlaylist(pw)
	timer := time.NewTimer(3 * target)
	defer timer.Stop()
	for {
		changed := pw.next()
		if cur := pw.cur.Load(); cur != nil && d.met(cur.pl) {
			s.servePlaylist(w, r, cur, mt, blockedCache(target))
			return
		}
		select {
		case <-r.Context().Done():
			// The client is gone, or the server shutting down: never an empty 200.
			httpError(w, http.StatusServiceUnavailable, "gave up waiting for the playlist")
			return
		case <-timer.C:
			s.stats.timeouts.Add(1)
			httpError(w, http.StatusServiceUnavailable, fmt.Sprintf("the playlist did not reach segment %d within %s", d.msn, 3*target))
			return
		case <-changed:
		}
	}
}

// A player's first load of a low-latency media playlist has no directive, and is
// answered with the playlist as it is. hls.js puts the live edge at the end of the
// playlist's last part plus the time since the response began, and starts playing its
// target latency behind that: a playlist whose last part was added 150 ms before the
// request puts the player 150 ms further behind, for good (it does not speed up to
// catch up). So such a request is answered when the playlist is fresh: at once if its
// last version is younger than freshPart of a part, else with the next version, within
// a part's target and a margin.
const freshPart = 4 // a quarter of a part

// serveFresh answers a request with no directive for playlist rel, as above, and
// reports whether it did: not when the playlist cannot be read whole (serveLive then
// serves it as any file).
func (s *Server) serveFresh(w http.ResponseWriter, r *http.Request, rel string, mt mediaType) bool {
	pf, err := s.readPlaylist(rel)
	if err != nil {
		return false
	}
	pl := pf.pl
	if !pl.media || pl.ended || pl.part == 0 {
		s.servePlaylist(w, r, pf, mt, liveCache)
		return true
	}
	if time.Since(pf.fi.ModTime()) < pl.part/freshPart {
		s.servePlaylist(w, r, pf, mt, manifestCache)
		return true
	}
	pw := s.watchPlaylist(rel)
	defer s.releasePlaylist(pw)
	timer := time.NewTimer(pl.part + pl.part/2)
	defer timer.Stop()
	for {
		changed := pw.next()
		if cur := pw.cur.Load(); cur != nil && !bytes.Equal(cur.body, pf.body) {
			pf = cur
			break
		}
		select {
		case <-r.Context().Done():
			httpError(w, http.StatusServiceUnavailable, "gave up waiting for the playlist")
			return true
		case <-timer.C:
		case <-changed:
			continue
		}
		break
	}
	s.servePlaylist(w, r, pf, mt, manifestCache)
	return true
}

// blockedCache is the Cache-Control of an answer to a blocking reload. Its URL names a
// point the playlist has reached, and any version from that point on is a right answer
// to it, so a shared cache may keep it for a target duration and answer the many players
// that ask for the same point with one request to the server. It is short so that a
// stream started again in the same folder, whose numbers start again too, cannot be
// answered with the previous run's playlist.
func blockedCache(target time.Duration) string {
	return fmt.Sprintf("max-age=%d", int64(target/time.Second))
}

// servePlaylist sends one version of a playlist, gzipped when the client takes it.
func (s *Server) servePlaylist(w http.ResponseWriter, r *http.Request, pf *playlistFile, mt mediaType, cache string) {
	s.mediaHeaders(w, mt)
	h := w.Header()
	h.Set("Cache-Control", s.cacheControl(cache))
	h.Add("Vary", "Accept-Encoding")
	s.serveManifest(w, r, pf.body)
}

// playlistWatchers keeps one playlistWatch per playlist that blocking reloads wait on.
type playlistWatchers struct {
	mu    sync.Mutex
	files map[string]*playlistWatch
}

// playlistWatch is the poller of one playlist: it reads the playlist when it changes,
// once for all its waiters, and wakes them.
type playlistWatch struct {
	signal                              // broadcast at each new version
	rel    string                       // under the root
	refs   int                          // waiters; guarded by playlistWatchers.mu
	done   chan struct{}                // closed when the last waiter is gone
	cur    atomic.Pointer[playlistFile] // the latest version; nil before the first look
}

// watchPlaylist returns the watch of playlist rel, starting its poller if it has none
// yet. Call releasePlaylist when done with it.
func (s *Server) watchPlaylist(rel string) *playlistWatch {
	w := &s.playlists
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.files == nil {
		w.files = map[string]*playlistWatch{}
	}
	pw := w.files[rel]
	if pw == nil {
		pw = &playlistWatch{rel: rel, done: make(chan struct{})}
		w.files[rel] = pw
		go s.pollPlaylist(pw)
	}
	pw.refs++
	return pw
}

// releasePlaylist ends a waiter's use of pw; the last one stops the poller.
func (s *Server) releasePlaylist(pw *playlistWatch) {
	w := &s.playlists
	w.mu.Lock()
	defer w.mu.Unlock()
	pw.refs--
	if pw.refs == 0 {
		close(pw.done)
		delete(w.files, pw.rel)
	}
}

// pollPlaylist looks at the playlist when poll would at a segment, until its last waiter
// is gone, reads it when its file changed (or playlistReread has passed) and, when its
// bytes changed, makes it the current version and wakes the waiters. Its first look
// always wakes them.
func (s *Server) pollPlaylist(pw *playlistWatch) {
	l := s.newLooker(pw.rel)
	defer l.stop()
	var seen fs.FileInfo // the file last read
	var read time.Time
	for {
		root, name := s.under(pw.rel)
		fi, err := root.Stat(name)
		if err == nil && (seen == nil || !sameVersion(fi, seen) || time.Since(read) >= playlistReread) {
			if pf, err := s.readPlaylist(pw.rel); err == nil {
				seen, read = pf.fi, time.Now()
				if cur := pw.cur.Load(); cur == nil || !bytes.Equal(cur.body, pf.body) {
					pw.cur.Store(pf)
					pw.broadcast()
				}
			}
		}
		if !l.wait(pw.done) {
			return
		}
	}
}

// sameVersion reports whether two looks at a file look like the same version of it.
func sameVersion(a, b fs.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
