// Package serve is the HTTP side of sv: it serves the embedded web pages (package web),
// the live media that sv dash writes, the server clock and the analysis that sv frames
// writes, to browsers and players. [New] makes a [Server] whose [Server.Handler] is the
// whole site; `sv serve` runs it on its own and `sv all` mounts it on its mux next to the
// WebSocket ingest.
//
// # URLs
//
//	/                          index: the live streams and links to their pages
//	/capture?stream=NAME       capture page: camera (or a test clock) to the ingest
//	/view?stream=NAME          viewer page: low-latency DASH (dash.js) or HLS
//	/assets/...                the pages' scripts and styles, dash.js and hls.js
//	/config.json               what the pages need to know (see Config)
//	/streams.json              the streams under Root/live (see StreamInfo); ?stream=NAME: just that one,
//	                           &wait=S: answered once it is live, or after S seconds (1-60)
//	/time                      the server clock, ISO 8601 UTC with milliseconds
//	/live/{stream}/{file}      Root/live/{stream}/{file}: manifests, playlists, segments
//	/live/{stream}/events      Root/live/{stream}/frames.jsonl as Server-Sent Events
//
// # Media
//
// Only GET and HEAD are served (and CORS preflights); only files with a media extension
// (.mpd .m3u8 .m4s .mp4 .m4a .webm .jpg .jsonl) in a stream's folder, whose names do not
// start with a dot; never a directory listing. Files are opened through an [os.Root], so
// neither "..", nor encoded traversal, nor a symbolic link pointing out of Root reaches
// anything outside it. Manifests and playlists are sent with a strong ETag (no
// Last-Modified: it has one-second resolution and live manifests change faster), gzipped
// when the client accepts it (Vary: Accept-Encoding), and revalidated by browsers every
// time; a shared cache in front (a CDN, deploy/varnish) may keep them a second
// (s-maxage=1), but for an LL-HLS media playlist asked for with no directive, which is
// no-cache everywhere (see Low-latency HLS). Finished segments and parts, whose names a
// run never reuses, are immutable for a year; the 204 after the end of a presentation is
// kept 2 s; errors and event streams are no-store. With reads protected (Options.Auth),
// every response is private.
// Range and conditional requests are served by [http.ServeContent]. Every response under
// /live/, and /time, /config.json and /streams.json, carries Access-Control-Allow-Origin
// (Options.CORSOrigin), errors included, so that a player on another origin sees a 404
// or a 503 as such rather than as a network error; CORS preflights are answered.
//
// sv dash puts its run into every segment's name, so a name is never used twice in a
// folder. Other packagers reuse names when they start again in the same folder (plain
// FFmpeg numbers from 1 each time), so a player that keeps an HTTP cache across sessions
// must tell them apart: the viewer page adds the session (the MPD's availabilityStartTime)
// as a query to every request, which the server ignores.
//
// # Segments in progress
//
// The packager (sv dash) writes each segment and part as NAME.tmp, growing fragment by
// fragment, and renames it to NAME when it is complete. A request for NAME while only
// NAME.tmp exists is answered at once and streamed with chunked transfer: the server
// polls the file every Options.Poll (a few milliseconds) and sends what the writer
// appended, until the file has been renamed to NAME and everything is sent. The file is
// read once, into memory that all its clients share (each is sent slices of it), and
// checked once against the final file, however many clients stream it; a response that
// cannot end with exactly the final file's bytes (the writer gave up, deleted or rewrote
// the file, or stopped writing for Options.Stall) is aborted, so that no client ever
// takes a truncated segment for a whole one. This is what lets low-latency DASH play
// without a 404 and a stall at every segment. Finished files are sent with sendfile.
//
// A segment or part that is neither written nor being written is held for, up to
// Options.Hold (3 s) and Options.Pause (sv all: its reconnect time), in a live stream's
// folder: players ask a moment early on purpose (an LL-HLS player fetches the part its
// playlist's EXT-X-PRELOAD-HINT names before the packager has started it; a
// low-latency DASH player whose clock is a little ahead asks for the next segment, and
// for the one after a publisher's last before it learns that the publisher has gone),
// and get it as soon as NAME.tmp or NAME appears, streamed as above, instead of a 404
// and a retry. One poller per awaited file wakes all the
// requests held for it. A request is answered 404 at once when the stream folder does
// not exist or has not changed for 30 s (a packager creates or renames a file in it at
// every part or segment: the stream is over), or when the segment numbered after it
// already exists (it is in the past: deleted, or never written).
//
// A manifest or playlist not written yet is held for, up to Options.Hold too, in any
// stream folder or none: a player opened as its stream starts, or a moment before its
// publisher does, asks before the packager's first write, and most stock players take a
// 404 there for the end of the stream or give up after a few retries. Held, the request
// is answered the moment the stream can be played. Options.Hold stays under the
// players' own manifest timeouts (Shaka Player retries a request that has received
// nothing for 5 s).
//
// # Low-latency HLS
//
// A media playlist asked for with the delivery directives _HLS_msn=M (and _HLS_part=P)
// is a blocking reload (RFC 8216bis, section 6.2.5.2): the response is held until the
// playlist on disk holds segment M complete (the media sequence number of its
// #EXT-X-MEDIA-SEQUENCE plus its #EXTINF count, minus one, is M or more), or P+1
// #EXT-X-PART lines after its last segment when that is M-1, or #EXT-X-ENDLIST; it is
// then sent as it was read. After three target durations (#EXT-X-TARGETDURATION) of
// waiting the answer is 503, and the player asks again. M more than two segments past
// the playlist's last, _HLS_part without _HLS_msn, or anything but a decimal integer is
// a 400 at once. _HLS_skip is ignored: the full playlist is a right answer to a delta
// update request. A playlist that is not a media playlist (no #EXT-X-TARGETDURATION) is
// served as it is. The packager must replace a playlist atomically (write another file,
// rename it over): a reader must never see half a playlist. One poller per playlist
// reads it when it changes (every Options.Poll it looks at the file, every 100 ms it reads
// it anyway), parses it once and wakes all its waiters, so that a thousand waiting
// players cost one poll. Answers to blocking reloads may be cached for a target duration
// (Cache-Control: max-age): their URL names a point the playlist has reached and any
// later version is a right answer too, so a shared cache in front, keyed by the whole
// URL, can answer every player waiting for the same part with one request. A low-latency
// media playlist asked for with no directive (a player's first load, answered fresh) is
// no-cache: a cached copy would start the player behind by its age.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/svtool/sv/auth"
	"github.com/svtool/sv/stream"
	"github.com/svtool/sv/web"
)

// Defaults of Options.
const (
	// DefaultIngest is where publishers send their stream in the pipe setup: sv recv's
	// default port on the host that served the page.
	DefaultIngest = "ws://{hostname}:8080/ingest/{stream}"
	// SameOriginIngest is the ingest of a server that also accepts publishers at
	// /ingest/{stream} on its own address, as sv all does.
	SameOriginIngest = "{ws}://{host}/ingest/{stream}"
	// DefaultPoll is how often a segment in progress is checked for new bytes.
	DefaultPoll = 4 * time.Millisecond
	// DefaultStall is how long a segment in progress may stop growing before its
	// response is given up (the writer is gone).
	DefaultStall = 10 * time.Second
	// DefaultHold is how long a request for a segment, part, manifest or playlist that
	// is not written yet waits for it.
	DefaultHold = 3 * time.Second
	// DefaultWriteTimeout bounds each write to a client: one that stops reading is
	// dropped after it, however long the response itself may last.
	DefaultWriteTimeout = 30 * time.Second
	// MaxEventClients bounds the /events streams served at once.
	MaxEventClients = 256
)

// Options configures a Server. The zero value serves the pages only.
type Options struct {
	// Root is the media directory: /live/{stream}/{file} is Root/live/{stream}/{file}.
	// "" serves no media. It must exist.
	Root string
	// Ingest is the WebSocket URL the capture page publishes to, a pattern where {stream}
	// stands for the stream's name, {host} and {hostname} for the page's host with and
	// without its port, and {ws} for ws or wss as the page is served over HTTP or HTTPS.
	// "" means DefaultIngest.
	Ingest string
	// TokenRequired tells the capture page that the ingest wants a token.
	TokenRequired bool
	// CORSOrigin is the Access-Control-Allow-Origin of every response under /live/ and
	// of /time, /config.json and /streams.json, errors included; "" means "*".
	CORSOrigin string
	// Poll is how often a segment in progress, or an awaited file, is checked for new
	// bytes (by one watcher per file, however many clients read it) when the kernel
	// does not report its changes (inotify, on Linux); 0 means DefaultPoll.
	Poll time.Duration
	// Stall is how long a segment in progress may stop growing; 0 means DefaultStall.
	Stall time.Duration
	// Hold is how long a request for a segment or part that is neither written nor
	// being written waits for it in a live stream's folder, and one for a manifest or
	// playlist not written yet waits for it in any, before a 404; 0 means DefaultHold, a
	// negative value answers 404 at once.
	Hold time.Duration
	// Pause is how long a live stream may stop between two segments and go on where it
	// stopped (sv all: a publisher that reconnects, a packager started again): a request
	// for a segment or part not written yet is held for Hold and Pause. A player asks
	// for the segment after the last as it is due, often before the manifest that says
	// the stream has paused reaches it, and most players stop for good on its 404; held,
	// the request is answered by the segment the stream goes on with. 0 adds nothing.
	Pause time.Duration
	// WriteTimeout bounds each write to a client; 0 means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// MaxRequests bounds the requests under /live/ (media and events) served at once,
	// held ones included: past it, a request is answered 503 with Retry-After, which
	// players retry, rather than taking the descriptors and the CPU that publishers and
	// packagers need. 0 means from the open-file limit (DefaultMaxRequests); negative,
	// no bound but the descriptors', which always holds: a request that would take a
	// descriptor past what the open-file limit leaves is a 503 too.
	MaxRequests int
	// Cache bounds the memory that segments in progress are read into (each once, into a
	// buffer that all its clients write from), in bytes. Past it, a segment in progress
	// that is not held yet is not read into memory: its clients get it whole, from its
	// file, once it is written (they lose its low latency, not its bytes). A segment
	// already held goes on growing. 0 means DefaultCache; negative, no bound.
	Cache int64
	// FrameAncestors are the origins whose pages may show sv's pages in a frame (/embed,
	// the player alone, above all), besides sv's own: as https://app.example, or * for
	// any.
	FrameAncestors []string
	// BasePath is the path that a reverse proxy serves sv under, as /sv: the URLs that
	// the pages learn (/config.json: the ingest when it is SameOriginIngest, the media,
	// the clock) start with it, and requests may come with it (it is stripped) or
	// without (a proxy that strips it). The pages use relative URLs. "" for none.
	BasePath string
	// TrustedProxies are the reverse proxies whose forwarding headers name the client
	// (trustProxies): requests from them are authorized, counted and logged by the
	// client's address. None: every request by its own peer's.
	TrustedProxies []netip.Prefix
	// Version is shown by the pages; optional.
	Version string
	// Log receives a record for each response that failed on the server's side (debug
	// level for the ordinary ones: a client that went away). nil discards them.
	Log *slog.Logger
	// OnSegment, if set, is called for every request of a media segment (init or media,
	// finished or in progress) with the stream's name, before it is served: how sv all
	// counts segment requests and viewers. It must be quick.
	OnSegment func(stream string, r *http.Request)
	// Auth, if it protects auth.Read, decides who may watch a stream: every request under
	// /live/{stream}/ (manifests, playlists, segments, events) and the stream's entry in
	// /streams.json. A refusal is a 401 (no token) or a 403. A manifest or playlist asked
	// for with ?token= names every URL in it with that token too: players do not carry
	// a token from a manifest's URL to the URLs it names, and Apple's send no headers
	// but their own. Protected responses are private to shared caches.
	Auth *auth.Authorizer
	// Stored, if set, is where the stored copy of a file under Root can be fetched (a
	// presigned URL), for a recording whose local file is gone and whose FILE.stored
	// marker is there: /recordings/{stream}/{file} redirects to it.
	Stored func(ctx context.Context, path string) (url string, ok bool)

	now func() time.Time // the clock of /time; tests replace it
}

// Stats counts what a Server did; read it with Server.Stats.
type Stats struct {
	Requests   int64 // requests handled
	Segments   int64 // finished segments served
	InProgress int64 // segments streamed while being written
	// InProgressRead is the bytes read from segments being written: once for all the
	// clients that stream each one, however many they are.
	InProgressRead int64
	// InProgressLooks is the looks at segments being written (a read, and a stat or
	// two when nothing was new): one per change for all the clients of a segment.
	InProgressLooks int64
	Aborted         int64 // in-progress responses given up: the writer stopped or rewrote the file
	Missing         int64 // segment requests answered 404
	Waited          int64 // requests for a segment or part not written yet, held for it
	Blocked         int64 // blocking playlist reloads (_HLS_msn) that waited for the playlist
	Timeouts        int64 // blocking playlist reloads answered 503: the playlist did not get there in time
	Events          int64 // /events streams opened
	Refused         int64 // requests under /live/ answered 503: MaxRequests were being served
	CacheBytes      int64 // bytes of segments in progress held in memory now (Options.Cache)
	Uncached        int64 // segments in progress served whole once written: Options.Cache was reached
}

// DefaultCache is the Cache of a Server: a segment in progress of a stream at a few
// Mbit/s is a few hundred KB, a stream has one per track (and the last one while its
// slowest clients finish it), so this holds some hundreds of streams.
const DefaultCache = 256 << 20

// DefaultMaxRequests is the MaxRequests that the process's open-file limit allows: the
// descriptors it leaves once 256 are kept back for the rest (publishers, FFmpeg's pipes,
// the files being written), at least 64. A request holds its socket, and a file only
// while it reads one (a complete segment, a playlist, its events): the requests and
// their files share these descriptors, and a request that would open a file past them
// is a 503 too. A request that follows a segment in progress holds its socket alone: the
// segment is read once, for all its clients.
func DefaultMaxRequests() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<30 {
		return 1 << 16
	}
	return max(64, int(lim.Cur)-256)
}

// Server serves the pages, the media under Options.Root, /time and the analysis events.
type Server struct {
	o     Options
	root  *os.Root // nil without media
	pages *pages
	mux   *http.ServeMux
	stats struct {
		requests, segments, inProgress, aborted, missing, waited, events atomic.Int64
		refused, serving                                                 atomic.Int64
		blocked, timeouts, uncached                                      atomic.Int64
		follow                                                           followStats
	}
	events       atomic.Int64     // open /events streams
	descriptions descriptions     // for /streams.json
	watchers     watchers         // of the segments in progress or awaited
	folders      folders          // the stream folders, each a Root of its own
	playlists    playlistWatchers // of the playlists that blocking reloads wait on
	gzips        gzipCache        // the gzipped versions of manifests and playlists
	notify       notifier         // wakes the watchers when their files change
	// fds counts the descriptors that requests under /live/ hold: a socket each, and
	// the files opened for them (open, closeFile); at most fdBudget.
	fds      atomic.Int64
	fdBudget int64
}

// ErrRoot is returned by New when Options.Root is not a directory that can be opened.
var ErrRoot = errors.New("media root is not a readable directory")

// New checks o and returns a Server. Close it to release the media root.
func New(o Options) (*Server, error) {
	if o.Ingest == "" {
		o.Ingest = DefaultIngest
	}
	if err := CheckBasePath(o.BasePath); err != nil {
		return nil, err
	}
	o.BasePath = strings.TrimSuffix(o.BasePath, "/")
	if o.BasePath != "" && o.Ingest == SameOriginIngest {
		o.Ingest = "{ws}://{host}" + o.BasePath + stream.IngestPrefix + "{stream}"
	}
	if err := checkIngest(o.Ingest); err != nil {
		return nil, err
	}
	if o.CORSOrigin == "" {
		o.CORSOrigin = "*"
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Stall <= 0 {
		o.Stall = DefaultStall
	}
	if o.Hold == 0 {
		o.Hold = DefaultHold
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.MaxRequests == 0 {
		o.MaxRequests = DefaultMaxRequests()
	}
	if o.Cache == 0 {
		o.Cache = DefaultCache
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
	s := &Server{o: o, fdBudget: int64(DefaultMaxRequests())}
	if o.Root != "" {
		abs, err := filepath.Abs(o.Root)
		if err == nil {
			s.root, err = os.OpenRoot(abs)
			s.notify.base = abs
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRoot, err)
		}
	}
	for _, origin := range o.FrameAncestors {
		if err := CheckFrameAncestor(origin); err != nil {
			s.Close()
			return nil, err
		}
	}
	p, err := newPages(web.FS(), o.FrameAncestors)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.pages = p
	s.routes()
	return s, nil
}

// checkIngest accepts a ws:// or wss:// URL pattern with {stream} in it.
func checkIngest(pattern string) error {
	if !strings.Contains(pattern, "{stream}") {
		return fmt.Errorf("ingest URL %q has no {stream}", pattern)
	}
	for _, prefix := range []string{"ws://", "wss://", "{ws}://"} {
		if strings.HasPrefix(pattern, prefix) {
			return nil
		}
	}
	return fmt.Errorf("ingest URL %q is not a ws:// or wss:// URL", pattern)
}

// Close releases the media root. Responses still running fail.
func (s *Server) Close() error {
	if s.root == nil {
		return nil
	}
	s.notify.close()
	s.closeFolders()
	return s.root.Close()
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	return Stats{
		Requests:        s.stats.requests.Load(),
		Segments:        s.stats.segments.Load(),
		InProgress:      s.stats.inProgress.Load(),
		InProgressRead:  s.stats.follow.read.Load(),
		InProgressLooks: s.stats.follow.looks.Load(),
		Aborted:         s.stats.aborted.Load(),
		Missing:         s.stats.missing.Load(),
		Waited:          s.stats.waited.Load(),
		Blocked:         s.stats.blocked.Load(),
		Timeouts:        s.stats.timeouts.Load(),
		Events:          s.stats.events.Load(),
		Refused:         s.stats.refused.Load(),
		CacheBytes:      s.stats.follow.cached.Load(),
		Uncached:        s.stats.uncached.Load(),
	}
}

// Handler returns the whole site: pages, assets, config, time, streams, media and events.
// Mount it at "/"; sv all routes /ingest/ elsewhere first.
func (s *Server) Handler() http.Handler {
	return s.Wrap(s.withWriteDeadlines(s.methods(s.mux)))
}

// Wrap gives h, a handler serving more than Handler (sv serve's ingest proxy beside it),
// what Handler has of its own Options: the base path stripped, trusted proxies' clients.
func (s *Server) Wrap(h http.Handler) http.Handler {
	return trustProxies(s.o.TrustedProxies, stripBase(s.o.BasePath, h))
}

// CheckBasePath accepts "" or a path such as /sv: a leading slash, no query, no "." or
// ".." segments.
func CheckBasePath(base string) error {
	if base == "" || base == "/" {
		return nil
	}
	clean := path.Clean(base)
	if !strings.HasPrefix(base, "/") || strings.ContainsAny(base, "?#%{} ") || clean != strings.TrimSuffix(base, "/") {
		return fmt.Errorf("base path %q: want a clean absolute path such as /sv", base)
	}
	return nil
}

// stripBase serves a request whose path starts with base (a BasePath, without its final
// slash) as if it did not, and one without it as it is: sv works behind a proxy that
// keeps the prefix and behind one that strips it. base itself is redirected to base/.
func stripBase(base string, h http.Handler) http.Handler {
	base = strings.TrimSuffix(base, "/")
	if base == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == base {
			http.Redirect(w, r, base+"/", http.StatusMovedPermanently)
			return
		}
		rest, ok := strings.CutPrefix(p, base+"/")
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		r2.URL = new(url.URL)
		*r2.URL = *r.URL
		r2.URL.Path = "/" + rest
		r2.URL.RawPath = ""
		h.ServeHTTP(w, r2)
	})
}

// Media returns the handler of /live/ alone (media files and events), for a mux that
// serves its own pages. Mount it at "/live/".
func (s *Server) Media() http.Handler {
	return s.withWriteDeadlines(s.methods(http.HandlerFunc(s.serveLive)))
}

func (s *Server) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc(stream.MediaPrefix, s.serveLive)
	mux.HandleFunc("/time", s.serveTime)
	mux.HandleFunc("/config.json", s.serveConfig)
	mux.HandleFunc("/streams.json", s.serveStreams)
	mux.HandleFunc("/recordings.json", s.serveRecordings)
	mux.HandleFunc(stream.RecordingsPrefix, s.serveRecordings)
	mux.Handle("/", s.pages)
	s.mux = mux
}

// methods lets GET and HEAD through, answers CORS preflights and refuses the rest. Every
// response a player or another site's page may read carries the CORS headers, errors
// included: without them a browser hands the script a network error instead of a 404,
// a 400 or a 503, and the player cannot tell a missing segment from a broken server.
func (s *Server) methods(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.stats.requests.Add(1)
		if corsPath(r.URL.Path) {
			s.cors(w)
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			next.ServeHTTP(w, r)
		case http.MethodOptions:
			if r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
				s.preflight(w, r)
				return
			}
			fallthrough
		default:
			w.Header().Set("Allow", "GET, HEAD")
			httpError(w, http.StatusMethodNotAllowed, "only GET and HEAD are served here")
		}
	})
}

// corsPath reports whether responses to path are readable from other origins: the
// media, the clock and what the pages fetch; not the pages themselves.
func corsPath(path string) bool {
	switch path {
	case "/time", "/config.json", "/streams.json", "/recordings.json":
		return true
	}
	return strings.HasPrefix(path, stream.MediaPrefix) || strings.HasPrefix(path, stream.RecordingsPrefix)
}

// cors marks a response as readable from other origins, once. Date is exposed for
// players that sync their clock to it, Age for hls.js, which judges a cached playlist's
// freshness by it.
func (s *Server) cors(w http.ResponseWriter) {
	h := w.Header()
	if h.Get("Access-Control-Allow-Origin") != "" {
		return
	}
	h.Set("Access-Control-Allow-Origin", s.o.CORSOrigin)
	h.Set("Access-Control-Expose-Headers", "Age, Content-Length, Content-Range, Date, ETag")
	if s.o.CORSOrigin != "*" {
		h.Add("Vary", "Origin")
	}
}

// preflight answers a CORS preflight for GET or HEAD (a Range header makes one).
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	switch r.Header.Get("Access-Control-Request-Method") {
	case http.MethodGet, http.MethodHead:
	default:
		w.Header().Set("Allow", "GET, HEAD")
		httpError(w, http.StatusMethodNotAllowed, "only GET and HEAD are served here")
		return
	}
	s.cors(w)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, HEAD")
	h.Set("Access-Control-Allow-Headers", "Authorization, Range, If-None-Match, If-Modified-Since, Last-Event-ID, Cache-Control")
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// httpError writes a short plain-text error.
func httpError(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	h.Del("ETag")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

func notFound(w http.ResponseWriter) { httpError(w, http.StatusNotFound, "404 not found") }
