// Package live is sv's whole pipeline in one process, the library behind `sv all`: one
// HTTP handler that accepts publishers at /ingest/{stream} (ws.Ingest), serves the pages
// and the media (serve.Server), /healthz and /metrics, and runs, for every live stream, the very
// stages the separate commands run, fed from the publisher's bytes:
//
//   - the recording, OUT/recordings/{stream}/{start}.webm (or .mp4): byte for byte what the
//     publisher sent, fsynced before the publisher is told its stream is safe;
//   - dash.Run into OUT/live/{stream}: live DASH and HLS;
//   - frames.Run into OUT/live/{stream}/frames.jsonl: the per-frame analysis, which
//     serve streams at /live/{stream}/events;
//   - with Options.Seekable, once the session has ended, a seekable copy of the recording
//     (streams copied by FFmpeg, not transcoded): {start}.seekable.mkv for WebM,
//     {start}.seekable.mp4 for MP4.
//
// # Fan-out
//
// The ingest's queue delivers a publisher's bytes to one Session.Write at a time. Each
// write goes, in order, to the recording file, then to two branches: the packager and the
// analysis, each a stage function reading a bounded queue of its own. The recording and
// the packager never lose a byte: when they fall behind, the ingest's queue fills and TCP
// pushes back on the publisher, as with sv recv.
//
// The session also scans the stream (media.Scanner) and keeps its header and the bytes of
// the current cluster, so that a branch that lost its place can rejoin the stream: a new
// run of its stage is fed the header and then the stream from the next cluster that
// opens with a keyframe, which every stage accepts as a stream of its own.
//
//   - The packager's FFmpeg dies mid-stream (a crash, the OOM killer, kill -9): dash.Run
//     returns, leaving the presentation live, and a new run starts after a backoff (250
//     ms, doubling up to 8 s; back to 250 ms after a run of 30 s) at the next keyframe. It
//     continues the same presentation (dash.Presentation): a new Period in the MPD, a
//     discontinuity in the playlists, the segment numbers going on, so players play on
//     without a reload. An FFmpeg that fails within 3 s of starting, or input the stage
//     refuses, is not restarted: the stream goes on without packaging.
//   - The analysis falls behind: it never blocks the session. When its queue is full
//     (Options.AnalysisBuffer) or its oldest bytes have waited Options.AnalysisLag, its
//     run is stopped, its backlog dropped, and a new run joins at the next keyframe.
//     frames.jsonl reads as one analysis: frame numbers go on, a "skip" event marks each
//     gap, and the one summary at the end counts every run and says what was skipped.
//     The analysis' FFmpeg dying is handled as the packager's is.
//
// Everything is counted per stream in /metrics (Prometheus text format): bytes and
// messages in, sessions, FFmpeg restarts, segments written, frames analysed and skipped,
// queue high-water marks, the handoff latency into the packager's FFmpeg, segment requests
// and viewers.
//
// # Sessions
//
// A session begins when a publisher is admitted (Options.MaxStreams bounds them; a second
// publisher of a live stream is refused with ws.ErrBusy) and ends, after the publisher
// closed or vanished, once the recording is fsynced, the packager has packaged all it
// got, the summary is written and (Options.Seekable) the seekable copy made: only then
// does the publisher get its close frame, and only then may the stream be published
// again. The stream's presentation outlives a session that did not end with the
// publisher's normal close by Options.Reconnect: a new session within it continues the
// presentation (a publisher that reconnects), after it
// the manifests say the stream has ended (the MPD's duration, #EXT-X-ENDLIST) and a later
// session starts a new presentation in the same folder (dash.Run deletes the old one's
// files; frames.jsonl is rewritten). Every session has a recording file of its own.
//
// [Server.Serve] runs the whole until its context ends; then publishers are closed with
// 1001, every session is finished as if its publisher had closed, every presentation
// ended, and Serve returns once all of them have, with no FFmpeg left behind.
package live

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/svtool/sv/auth"
	"github.com/svtool/sv/dash"
	"github.com/svtool/sv/event"
	"github.com/svtool/sv/frames"
	"github.com/svtool/sv/serve"
	"github.com/svtool/sv/stream"
	"github.com/svtool/sv/ws"
)

// Defaults of Options.
const (
	DefaultMaxStreams     = 16
	DefaultAnalysisBuffer = 4 << 20
	DefaultAnalysisLag    = 5 * time.Second
	DefaultStopGrace      = 3 * time.Second
	DefaultReconnect      = 5 * time.Second
	DefaultMaxBehind      = 30 * time.Second
)

// ErrTooMany refuses a publisher when Options.MaxStreams streams are live (HTTP 503).
var ErrTooMany = errors.New("too many live streams")

// Options configures a Server.
type Options struct {
	// Out is the output directory: OUT/live/{stream} and OUT/recordings/{stream}. It is
	// created if needed; it is also the media root that is served.
	Out string
	// MaxStreams bounds the live streams; 0 means DefaultMaxStreams.
	MaxStreams int
	// MaxRequests bounds the requests for media served at once (serve.Options): past it
	// viewers get 503, while publishers, which this bound does not count, are served.
	MaxRequests int
	// Cache bounds the memory that the segments being written are read into for their
	// viewers (serve.Options.Cache).
	Cache int64
	// Auth, when set, decides who may publish (auth.Publish), watch (auth.Read: served
	// by serve.Server, which also carries a manifest's token to the URLs it names) and
	// read /metrics (auth.Metrics), for the actions it protects. /metrics counts its
	// decisions.
	Auth *auth.Authorizer
	// Takeover lets a second publisher of a live stream take it over: the first is closed
	// (ws.ErrTakenOver) and its session finished, then the second is admitted. Without
	// it the second is refused (HTTP 409).
	Takeover bool
	// AllowOrigins are the page origins, besides the server's own and loopback, that may
	// publish ("*" for any).
	AllowOrigins []string
	// FrameAncestors: the origins whose pages may frame sv's (serve.Options).
	FrameAncestors []string
	// BasePath is the path a reverse proxy serves sv under, as /sv (serve.Options): the
	// ingest, the API and the rest are reached under it too, and the MPD's clock.
	BasePath string
	// TrustedProxies are the reverse proxies whose forwarding headers name the client
	// (serve.Options.TrustedProxies): publishers, viewers and API callers behind them are known,
	// authorized and logged by their own addresses.
	TrustedProxies []netip.Prefix
	// AllowHosts, when set, are the names (and addresses) publishers may reach the
	// server by, besides loopback ones ("*" for any): ws.Ingest.AllowHost.
	AllowHosts []string
	// AnalysisBuffer bounds the bytes waiting for the analysis of one stream; 0 means
	// DefaultAnalysisBuffer. AnalysisLag bounds how long they may wait; 0 means
	// DefaultAnalysisLag. Past either bound, the analysis skips ahead (see Fan-out).
	AnalysisBuffer int64
	AnalysisLag    time.Duration
	// Dash is the template of every stream's dash.Options; Out is set per stream, and
	// TimeURL when empty to the server's own /time (see Serve).
	Dash dash.Options
	// Frames is the template of every stream's frames.Options (LowDelay is always set).
	Frames frames.Options
	// NoRecording: sessions are packaged and analysed, and not recorded (no
	// recording_ready event, no seekable copy).
	NoRecording bool
	// Streams gives the streams it names options of their own, in place of Dash, Frames
	// and NoRecording; the others take those.
	Streams map[string]StreamOptions
	// TLS, when set, makes Serve speak HTTPS (and HTTP/2 to clients that ask for it):
	// publishers at wss://, the pages and the media at https://.
	TLS *tls.Config
	// Version is shown by the pages.
	Version string
	// Log receives the server's and the sessions' messages, FFmpeg's log at debug level;
	// nil discards them.
	Log *slog.Logger
	// Seekable makes a seekable copy of every recording when its session ends (see
	// SessionStats.Seekable), with FFmpeg copying the streams; Dash.FFmpeg is the binary.
	Seekable bool
	// StopGrace is how long Serve lets the sessions finish on their own (manifests,
	// summaries, seekable copies) after its context has ended, before it cancels their
	// stages, which then stop FFmpeg; 0 means DefaultStopGrace. A busy machine needs
	// longer.
	StopGrace time.Duration
	// Reconnect is how long a stream's presentation stays live after its session ends
	// other than by the publisher's normal close (a dropped connection, an error), for
	// the publisher to come back: a session that starts within it continues the same
	// presentation (a new period, the same playlists), so that players keep playing;
	// after it, the manifests say the stream has ended. A publisher that closes normally
	// (WebSocket close 1000 or 1001: it stopped) ends the presentation at once, and the
	// players with it. 0 means DefaultReconnect; a negative value ends every presentation
	// with its session.
	Reconnect time.Duration
	// MaxBehind is how far a stream's media time may fall behind the clock, since its
	// first frame (and since each new stream header), beyond 1% of that time (clock
	// drift), before its publisher is closed (1008, ws.ErrBehind; publish_end cause
	// "behind"): a publisher that sends whole messages with little media in them, or one
	// whose network cannot carry its stream, keeps no viewer watching. 0 means
	// DefaultMaxBehind; negative, no bound.
	MaxBehind time.Duration
	// KeepRecordings and KeepBytes bound the finished recordings kept on disk: older
	// than KeepRecordings, or past KeepBytes in all, the oldest are deleted (see
	// Retention). 0: no bound.
	KeepRecordings time.Duration
	KeepBytes      int64
	// Store, if set, keeps finished recordings elsewhere (package store: an
	// S3-compatible object store): every finished recording and its seekable copy is
	// handed to it, those of sessions that end and those found unfinished at start-up
	// (see Recovery), and a recording whose local file is gone is played from it.
	Store Store
	// OnSession, if set, is called when a session has ended, with what it did.
	OnSession func(SessionStats)
	// Events, if set, receives what happens to the streams as it happens (package
	// event): publish_start, publish_end, recording_ready, ffmpeg_restart, stage_failed
	// and the analysis' scene_cut, black_start, black_end, freeze_start, freeze_end.
	// Emitting never blocks the media. /metrics counts the events and their deliveries.
	// The caller closes the Bus once Serve has returned.
	Events *event.Bus
}

// Store keeps finished recordings elsewhere (Options.Store).
//
// Once a file is stored, the Store writes PATH.stored beside it (StoredSuffix), JSON
// with at least {"url": "...", "size": N}, and only then may it remove PATH: a recording
// whose file is gone and whose marker is there is listed and played from the Store.
type Store interface {
	// Put queues a finished file under Options.Out (a recording or its seekable copy)
	// for upload. It returns at once.
	Put(path string)
	// URL is where the stored copy of a file under Options.Out can be fetched (a
	// presigned URL), if it is stored.
	URL(ctx context.Context, path string) (string, bool)
}

// StoredSuffix names the marker a Store writes beside a file it has stored.
const StoredSuffix = stream.StoredSuffix

// SessionStats is what one session did.
type SessionStats struct {
	Stream    string
	Recording string // the recording's path ("" if nothing arrived)
	Seekable  string // its seekable copy's path, with Options.Seekable ("" if none)
	Bytes     int64  // bytes received and recorded
	Analysed  int64  // bytes the analysis got
	Skipped   int64  // bytes it did not get, or dropped unread, because it fell behind or restarted
	// SkippedFrames counts the video frames in those bytes, Skips the times the analysis
	// fell behind and skipped ahead.
	SkippedFrames, Skips int64
	// DashRestarts and AnalysisRestarts count the FFmpeg processes started again after
	// dying mid-stream.
	DashRestarts, AnalysisRestarts int64
	Duration                       time.Duration // from the publisher's admission to the end of the session
	Err                            error         // why the session failed, nil if it ended cleanly
}

// Server is sv's whole pipeline behind one http.Handler. Use New, then Serve.
type Server struct {
	o       Options
	log     *slog.Logger
	web     *serve.Server
	ingest  *ws.Ingest
	mux     *http.ServeMux
	metrics *metrics

	// stop ends the publishers' sessions (ws.Ingest.Context); kill cancels the stages of
	// the sessions that do not finish within Options.StopGrace.
	stopCtx context.Context
	stop    context.CancelFunc
	killCtx context.Context
	kill    context.CancelFunc

	mu      sync.Mutex
	streams map[string]*session
	// presentations are the presentations of the streams, live or waiting for their publisher
	// to reconnect (Options.Reconnect).
	presentations map[string]*presentation
	ending        sync.WaitGroup // presentations whose end is scheduled or under way
	timeURL       string
	sessions      sync.WaitGroup
	// publishers counts the ingest requests being handled: a session has ended before
	// its handler has told the publisher so and had the reply to its close frame.
	publishers sync.WaitGroup
	// unfinished are the recordings an earlier process left unfinished (Recovery), which
	// Serve finishes; recovering runs while it does, and while retention runs.
	unfinished []string
	recovering sync.WaitGroup
	storage    storage
	retainNow  chan struct{} // retainSoon
}

// New makes a Server writing into o.Out.
func New(o Options) (*Server, error) {
	if o.Out == "" {
		return nil, errors.New("no output directory")
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = DefaultMaxStreams
	}
	if o.AnalysisBuffer <= 0 {
		o.AnalysisBuffer = DefaultAnalysisBuffer
	}
	if o.AnalysisLag <= 0 {
		o.AnalysisLag = DefaultAnalysisLag
	}
	if o.Reconnect == 0 {
		o.Reconnect = DefaultReconnect
	}
	if o.StopGrace <= 0 {
		o.StopGrace = DefaultStopGrace
	}
	if o.MaxBehind == 0 {
		o.MaxBehind = DefaultMaxBehind
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, dir := range []string{stream.LiveDir, stream.RecordingsDir} {
		if err := os.MkdirAll(filepath.Join(o.Out, dir), 0o755); err != nil {
			return nil, fmt.Errorf("output directory: %w", err)
		}
	}
	m := newMetrics()
	var stored func(context.Context, string) (string, bool)
	if o.Store != nil {
		stored = o.Store.URL
	}
	web, err := serve.New(serve.Options{
		Stored:         stored,
		Root:           o.Out,
		Ingest:         serve.SameOriginIngest,
		TokenRequired:  o.Auth.Protects(auth.Publish),
		FrameAncestors: o.FrameAncestors,
		BasePath:       o.BasePath,
		TrustedProxies: o.TrustedProxies,
		Auth:           o.Auth,
		Version:        o.Version,
		Log:            log,
		OnSegment:      m.segmentRequest,
		MaxRequests:    o.MaxRequests,
		Cache:          o.Cache,
		// A request for the segment after a session's last waits for the next session
		// to write it: the presentation goes on with the same numbers.
		Pause: max(0, o.Reconnect),
	})
	if err != nil {
		return nil, err
	}
	m.serving(web)
	if o.Events != nil {
		m.reg.MustRegister(eventCollector{o.Events})
	}
	if o.Auth != nil {
		m.reg.MustRegister(authCollector{o.Auth})
	}
	s := &Server{o: o, log: log, web: web, metrics: m, streams: make(map[string]*session), timeURL: o.Dash.TimeURL,
		retainNow: make(chan struct{}, 1)}
	s.storage.dir = o.Out
	m.storing(&s.storage)
	s.unfinished = s.recoverOut()
	s.stopCtx, s.stop = context.WithCancel(context.Background())
	s.killCtx, s.kill = context.WithCancel(context.Background())
	s.ingest = &ws.Ingest{
		Open:        s.open,
		Check:       s.check,
		AllowOrigin: ws.SameOrigin(o.AllowOrigins...),
		Log:         log,
		Context:     s.stopCtx,
	}
	if o.AllowHosts != nil {
		s.ingest.AllowHost = ws.Hosts(o.AllowHosts...)
	}
	if o.Auth.Protects(auth.Publish) {
		s.ingest.Authorize = func(r *http.Request, stream string) bool {
			return o.Auth.Allow(r.Context(), auth.FromHTTP(r, auth.Publish, stream)) == auth.Allowed
		}
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc(stream.IngestPrefix, func(w http.ResponseWriter, r *http.Request) {
		s.publishers.Add(1)
		defer s.publishers.Done()
		s.ingest.ServeHTTP(w, r)
	})
	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := s.storage.check(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "storage: "+err.Error()+"\n")
			return
		}
		io.WriteString(w, "ok\n")
	})
	s.mux.Handle("/metrics", s.authorized(auth.Metrics, m.handler()))
	s.mux.Handle("/api/", s.api())
	s.mux.Handle("/", web.Handler())
	return s, nil
}

// authorized lets through to next only the requests Options.Auth allows action.
func (s *Server) authorized(action auth.Action, next http.Handler) http.Handler {
	if !s.o.Auth.Protects(action) {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := s.o.Auth.Allow(r.Context(), auth.FromHTTP(r, action, ""))
		if d != auth.Allowed {
			if d == auth.NoCredentials {
				w.Header().Set("WWW-Authenticate", `Bearer realm="sv"`)
			}
			http.Error(w, string(action)+" needs a valid token", d.Status())
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Handler is the whole site: /ingest/{stream}, /healthz, /metrics, /api/ and everything
// serve.Server serves, under Options.BasePath too.
func (s *Server) Handler() http.Handler { return s.web.Wrap(s.mux) }

// Serve serves ln until ctx ends, then closes the publishers, finishes every session
// (recordings fsynced, manifests static, summaries written, FFmpeg gone) and returns. It
// returns nil after ctx ended, or why serving failed. A Server serves once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.timeURL == "" {
		scheme := "http://"
		if s.o.TLS != nil {
			scheme = "https://"
		}
		s.timeURL = scheme + timeHost(ln.Addr()) + strings.TrimSuffix(s.o.BasePath, "/") + "/time"
	}
	s.mu.Unlock()
	// Publishers are told at once, not after the HTTP server's shutdown grace: their
	// connections are hijacked, which http.Server.Shutdown does not wait for.
	stopSessions := context.AfterFunc(ctx, s.stop)
	defer stopSessions()
	s.recovering.Add(1)
	go func() {
		defer s.recovering.Done()
		s.retaining(s.stopCtx)
	}()
	s.mu.Lock()
	if recs := s.unfinished; len(recs) > 0 {
		s.unfinished = nil
		s.recovering.Add(1)
		go func() {
			defer s.recovering.Done()
			s.finishRecovered(s.killCtx, recs)
		}()
	}
	s.mu.Unlock()
	err := serve.Serve(ctx, ln, s.Handler(), s.o.TLS, s.log)
	s.Close()
	return err
}

// Close ends every session as Serve does when its context ends, and waits for them.
func (s *Server) Close() error {
	s.stop()
	done := make(chan struct{})
	go func() {
		s.sessions.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(s.o.StopGrace):
		s.log.Warn("sessions still finishing: stopping their stages", "after", s.o.StopGrace)
		s.kill()
		<-done
	}
	s.kill()
	s.recovering.Wait()
	s.endAll()
	// The publishers are told why their stream ended (close frame and reply) before the
	// process may exit: exiting first would reset their connections, and the reset can
	// overtake the close frame.
	s.publishers.Wait()
	return s.web.Close()
}

// timeHost is the host:port players reach /time at: the listener's, with a loopback
// address in place of an unspecified one.
func timeHost(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := ta.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(ta.Port))
}

// StreamStatus is one live stream, as a status display shows it.
type StreamStatus struct {
	Stream   string
	Since    time.Time // when its session began
	Bytes    int64     // received in this session
	Viewers  int       // players that asked for a segment in the last 10 s
	Restarts int64     // FFmpeg restarts in this session
	Skips    int64     // times its analysis skipped ahead in this session
}

// Status returns the live streams, by name.
func (s *Server) Status() []StreamStatus {
	s.mu.Lock()
	sessions := make([]*session, 0, len(s.streams))
	for _, sess := range s.streams {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	st := make([]StreamStatus, 0, len(sessions))
	for _, sess := range sessions {
		st = append(st, StreamStatus{
			Stream:   sess.stream,
			Since:    sess.started,
			Bytes:    sess.pub.Stats().Bytes,
			Viewers:  s.metrics.Viewers(sess.stream),
			Restarts: sess.dash.restarts.Load() + sess.analysis.restarts.Load(),
			Skips:    sess.analysis.skips.Load(),
		})
	}
	slices.SortFunc(st, func(a, b StreamStatus) int { return strings.Compare(a.Stream, b.Stream) })
	return st
}

// Live returns the names of the streams that have a session.
func (s *Server) Live() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.streams))
	for name := range s.streams {
		names = append(names, name)
	}
	return names
}

// open admits a publisher (ws.Ingest.Open) and starts its session's stages.
func (s *Server) open(p *ws.Publisher) (ws.Session, error) {
	if err := s.storage.check(); err != nil {
		return nil, fmt.Errorf("cannot store it: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.streams[p.Stream]; ok && s.o.Takeover {
		s.log.Info("taking the stream over", "stream", p.Stream, "from", old.pub.Remote, "to", p.Remote)
		old.pub.Stop(ws.ErrTakenOver)
		s.mu.Unlock()
		select {
		case <-old.done:
		case <-time.After(takeoverWait):
		}
		s.mu.Lock()
	}
	if s.stopCtx.Err() != nil {
		return nil, ws.ErrShutdown
	}
	if _, ok := s.streams[p.Stream]; ok {
		return nil, ws.ErrBusy
	}
	if len(s.streams) >= s.o.MaxStreams {
		return nil, fmt.Errorf("%w: %d", ErrTooMany, s.o.MaxStreams)
	}
	sess, err := s.start(p)
	if err != nil {
		s.log.Error("cannot start the stream", "stream", p.Stream, "err", err)
		return nil, err
	}
	s.streams[p.Stream] = sess
	s.sessions.Add(1)
	s.metrics.live.Set(float64(len(s.streams)))
	sess.emit(event.Event{Type: event.PublishStart, Time: sess.started, Remote: p.Remote})
	return sess, nil
}

// check reports whether open would admit a publisher of stream now (ws.Ingest.Check).
func (s *Server) check(stream string) error {
	if err := s.storage.check(); err != nil {
		return fmt.Errorf("cannot store it: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, live := s.streams[stream]
	switch {
	case s.stopCtx.Err() != nil:
		return ws.ErrShutdown
	case live && !s.o.Takeover:
		return ws.ErrBusy
	case !live && len(s.streams) >= s.o.MaxStreams:
		return fmt.Errorf("%w: %d", ErrTooMany, s.o.MaxStreams)
	}
	return nil
}

// takeoverWait bounds how long a publisher taking a stream over waits for the previous
// session to finish (its recording flushed, its manifest finalized).
const takeoverWait = 10 * time.Second

// presentation is a stream's dash.Presentation, which outlives its sessions by
// Options.Reconnect.
type presentation struct {
	p     dash.Presentation
	timer *time.Timer // ends it, once its session has ended
}

// presentation returns the stream's presentation, kept from its last session if that
// ended less than Options.Reconnect ago. Called with s.mu held.
func (s *Server) presentation(name string) *dash.Presentation {
	if s.presentations == nil {
		s.presentations = map[string]*presentation{}
	}
	pr := s.presentations[name]
	if pr == nil {
		pr = &presentation{}
		s.presentations[name] = pr
	}
	if pr.timer != nil {
		if pr.timer.Stop() {
			s.ending.Done() // its end will not run
		}
		pr.timer = nil
	}
	return &pr.p
}

// endPresentation ends a stream's presentation after Options.Reconnect, or at once (now)
// when its publisher has stopped; when the server is stopping, endAll ends it. Called with
// s.mu held.
func (s *Server) endPresentation(name string, now bool) {
	pr := s.presentations[name]
	if pr == nil {
		return
	}
	if s.stopCtx.Err() != nil {
		return // endAll ends it, once every session has
	}
	s.ending.Add(1)
	end := func() {
		defer s.ending.Done()
		s.mu.Lock()
		if s.presentations[name] == pr && s.streams[name] == nil {
			delete(s.presentations, name)
		}
		s.mu.Unlock()
		if err := pr.p.End(); err != nil {
			s.log.Error("cannot end the presentation", "stream", name, "err", err)
		}
	}
	if now || s.o.Reconnect < 0 {
		go end()
		return
	}
	pr.timer = time.AfterFunc(s.o.Reconnect, end)
}

// endAll ends at once every presentation still waiting for its publisher.
func (s *Server) endAll() {
	s.mu.Lock()
	open := s.presentations
	s.presentations = nil
	s.mu.Unlock()
	for name, pr := range open {
		if pr.timer != nil && pr.timer.Stop() {
			s.ending.Done() // its end will not run: it is ended here
		}
		if err := pr.p.End(); err != nil {
			s.log.Error("cannot end the presentation", "stream", name, "err", err)
		}
	}
	s.ending.Wait() // ends already under way
}

// end forgets a finished session. A publisher that closed normally has stopped: its
// presentation ends now. One that vanished or failed may come back within
// Options.Reconnect.
func (s *Server) end(sess *session, stopped bool) {
	s.mu.Lock()
	s.endPresentation(sess.stream, stopped)
	delete(s.streams, sess.stream)
	s.metrics.live.Set(float64(len(s.streams)))
	s.mu.Unlock()
	s.retainSoon()
	close(sess.done)
	s.sessions.Done()
}

// StreamOptions are the options of one stream (Options.Streams).
type StreamOptions struct {
	// Dash and Frames are the templates of the stream's dash.Options and frames.Options,
	// as Options.Dash and Options.Frames are of the other streams'.
	Dash   dash.Options
	Frames frames.Options
	// NoRecording: the stream's sessions are not recorded (Options.NoRecording).
	NoRecording bool
}

// streamOptions are stream name's options: its own, or the common ones.
func (s *Server) streamOptions(name string) StreamOptions {
	if o, ok := s.o.Streams[name]; ok {
		return o
	}
	return StreamOptions{Dash: s.o.Dash, Frames: s.o.Frames, NoRecording: s.o.NoRecording}
}

// dashOptions is the template (the stream's Options.Dash) with this stream's output, logs
// and metrics, for one run of dash.Run.
func (s *Server) dashOptions(o dash.Options, out string, log *slog.Logger, m *streamMetrics) dash.Options {
	o.Out = out
	o.Force = false
	s.mu.Lock()
	o.TimeURL = s.timeURL
	s.mu.Unlock()
	o.Handoff = func(d time.Duration) { m.handoff.Observe(d.Seconds()) }
	segments := 0
	progress := o.Progress
	o.Progress = func(p dash.Progress) {
		if p.Segments > segments {
			m.segments.Add(float64(p.Segments - segments))
			segments = p.Segments
		}
		raise(m.dashHigh, p.Queued)
		if progress != nil {
			progress(p)
		}
	}
	o.Log = log
	return o
}
