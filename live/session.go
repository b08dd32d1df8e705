package live

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/svtool/sv/dash"
	"github.com/svtool/sv/event"
	"github.com/svtool/sv/frames"
	"github.com/svtool/sv/media"
	"github.com/svtool/sv/stream"
	"github.com/svtool/sv/ws"
)

// session is one publisher's stream fanned out to the recording, the packager (dash.Run)
// and the analysis (frames.Run), each of the two a branch that can rejoin the stream.
// Write and Close are called from the ingest's writer goroutine only.
type session struct {
	srv     *Server
	pub     *ws.Publisher
	stream  string
	log     *slog.Logger
	m       *streamMetrics
	started time.Time
	id      string // names the session in its events (event.SessionID)
	recDir  string
	done    chan struct{} // closed when the session has ended

	noRecording bool // StreamOptions.NoRecording
	behind      bool // closed for Options.MaxBehind

	cur        cursor
	rec        *ws.Recording
	recPath    string
	recHash    hash.Hash // SHA-256 of the recording, as written
	bytes      int64
	messages   int64
	ingestHigh int64 // the ingest queue's high-water mark last reported

	dash       *branch
	dashDone   chan error
	analysis   *branch
	framesDone chan error
	jsonl      *os.File
	out        *analysisOut
}

// analysisReadAhead bounds the bytes frames.Run reads ahead of its FFmpeg, so that the
// analysis branch's own queue shows when the analysis falls behind.
const analysisReadAhead = 128 << 10

// dashQueue bounds the bytes between the session and dash.Run, which reads them into its
// own queue (Options.QueueLimit) whatever FFmpeg does.
const dashQueue = 1 << 20

// start makes the session's folders and starts its packager and analysis.
func (s *Server) start(p *ws.Publisher) (*session, error) {
	liveDir := stream.LiveFolder(s.o.Out, p.Stream)
	recDir := stream.RecordingsFolder(s.o.Out, p.Stream)
	for _, dir := range []string{liveDir, recDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("stream folder: %w", err)
		}
	}
	jsonl, err := os.Create(filepath.Join(liveDir, stream.Analysis))
	if err != nil {
		return nil, fmt.Errorf("analysis output: %w", err)
	}
	log := s.log.With("stream", p.Stream)
	m := s.metrics.stream(p.Stream)
	so := s.streamOptions(p.Stream)
	sess := &session{
		srv:         s,
		pub:         p,
		stream:      p.Stream,
		log:         log,
		m:           m,
		started:     time.Now(),
		recDir:      recDir,
		noRecording: so.NoRecording,
		recHash:     sha256.New(),
		done:        make(chan struct{}),
		dashDone:    make(chan error, 1),
		framesDone:  make(chan error, 1),
		jsonl:       jsonl,
		out:         &analysisOut{w: frames.NewWriter(jsonl, frames.WriterOptions{FlushEach: true, Name: stream.Analysis}), m: m}, // at once, for /events
	}
	sess.id = event.SessionID(sess.started)
	sess.out.event = sess.emit
	s.metrics.sessions.WithLabelValues(p.Stream).Inc()

	pres := s.presentation(p.Stream)
	sess.dash = newBranch("packaging", false, dashQueue, s.killCtx, log)
	sess.dash.restarted = func(err error) {
		m.dashRestarts.Inc()
		sess.emit(event.Event{Type: event.FFmpegRestart, Stage: stagePackaging, Restarts: sess.dash.restarts.Load(), Error: errText(err)})
	}
	sess.dash.failed = func(err error) {
		sess.emit(event.Event{Type: event.StageFailed, Stage: stagePackaging, Error: errText(err)})
	}
	sess.dash.stage = func(ctx context.Context, in io.Reader, n int) error {
		o := s.dashOptions(so.Dash, liveDir, log, m)
		o.Presentation = pres
		err := dash.Run(ctx, in, o)
		if n > 0 && (errors.Is(err, dash.ErrNoInput) || errors.Is(err, dash.ErrTruncated)) {
			return nil // the stream ended before the new run had a segment
		}
		return err
	}
	sess.dash.start(sess.dashDone)

	fopts := so.Frames
	fopts.LowDelay = true
	fopts.QueueLimit = analysisReadAhead
	fopts.Log = log
	sess.analysis = newBranch("analysis", true, s.o.AnalysisBuffer, s.killCtx, log)
	sess.analysis.maxLag = s.o.AnalysisLag
	sess.analysis.restarted = func(err error) {
		m.analysisRestarts.Inc()
		sess.emit(event.Event{Type: event.FFmpegRestart, Stage: stageAnalysis, Restarts: sess.analysis.restarts.Load(), Error: errText(err)})
	}
	sess.analysis.failed = func(err error) {
		sess.emit(event.Event{Type: event.StageFailed, Stage: stageAnalysis, Error: errText(err)})
	}
	sess.analysis.lost = func(n int64) { m.skipped.Add(float64(n)) }
	sess.analysis.stage = func(ctx context.Context, in io.Reader, n int) error {
		sess.out.begin(n)
		return frames.Run(ctx, in, sess.out.emit, fopts)
	}
	sess.analysis.ended = func(n int, pushed int64, skipped bool) {
		if skipped {
			// The frames queued but not decoded were dropped with the backlog.
			sess.analysis.loseFrames(pushed - sess.out.runFrames)
			m.skips.Inc()
		}
	}
	sess.analysis.start(sess.framesDone)
	return sess, nil
}

// Write hands p to the recording, the packager and the analysis.
func (sess *session) Write(p []byte) (int, error) {
	if sess.rec == nil && !sess.noRecording {
		if err := sess.createRecording(p); err != nil {
			return 0, err
		}
	}
	if sess.rec != nil {
		if _, err := sess.rec.Write(p); err != nil {
			return 0, sess.srv.storageFailed(err)
		}
		sess.recHash.Write(p)
	}
	sess.bytes += int64(len(p))
	sess.m.bytes.Add(float64(len(p)))
	st := sess.pub.Stats()
	sess.m.messages.Add(float64(st.Messages - sess.messages))
	sess.messages = st.Messages
	if st.HighWater > sess.ingestHigh { // raise reads the gauge: not for every chunk
		sess.ingestHigh = st.HighWater
		raise(sess.m.ingestHigh, st.HighWater)
	}

	sess.cur.write(p, st.Kind)
	if limit := sess.srv.o.MaxBehind; limit > 0 && !sess.behind {
		if d := sess.cur.behind(); d > limit {
			sess.behind = true
			sess.log.Warn("closing the publisher: its media time is behind the clock", "behind", d.Round(time.Millisecond), "max", limit)
			sess.pub.Stop(fmt.Errorf("%w by %s (at most %s)", ws.ErrBehind, d.Round(100*time.Millisecond), limit))
		}
	}
	sess.dash.feed(p, &sess.cur)
	sess.analysis.feed(p, &sess.cur)
	return len(p), nil
}

// createRecording opens the recording file, named by the session's start time and the
// container its first bytes show.
func (sess *session) createRecording(first []byte) error {
	kind := sess.pub.Stats().Kind
	if kind == media.Unknown {
		kind = media.Sniff(first)
	}
	ext := ".webm"
	if kind == media.MP4 {
		ext = ".mp4"
	}
	// Unbuffered: each message reaches the file as it arrives, so that a process that
	// dies loses nothing it had accepted (see Recovery).
	rec, err := ws.CreateRecording(sess.recDir, sess.started.UTC().Format("20060102T150405Z"), ext, 0)
	if err != nil {
		return sess.srv.storageFailed(err)
	}
	if err := os.WriteFile(stream.UnfinishedMarker(rec.Name()), nil, 0o644); err != nil {
		rec.Close()
		os.Remove(rec.Name())
		return sess.srv.storageFailed(err)
	}
	sess.rec, sess.recPath = rec, rec.Name()
	sess.log.Info("recording", "file", sess.recPath)
	return nil
}

// Close ends the session once every stage has finished with what it was given: the
// recording flushed and fsynced, the packager's manifest static, the analysis' summary
// written. Only a recording that could not be stored is an error for the publisher.
func (sess *session) Close(cause error) error {
	defer sess.srv.end(sess, cause == nil || errors.Is(cause, ws.ErrStopped)) // stopped: no reconnect to wait for
	recErr := sess.closeRecording()
	why := endCause(cause, recErr)
	sess.srv.metrics.ends.WithLabelValues(sess.stream, why).Inc()
	sess.emit(event.Event{Type: event.PublishEnd, Bytes: sess.bytes, DurationMs: time.Since(sess.started).Milliseconds(),
		Cause: why, Error: errText(errors.Join(cause, recErr))})
	sess.dash.closeInput()
	sess.analysis.closeInput()
	dashErr := <-sess.dashDone
	framesErr := <-sess.framesDone
	sess.out.finish(sess.analysis)
	if err := sess.out.w.Flush(); framesErr == nil && err != nil {
		framesErr = err
	}
	if err := sess.jsonl.Close(); framesErr == nil && err != nil {
		framesErr = fmt.Errorf("write %s: %w", stream.Analysis, err)
	}
	if sess.bytes == 0 {
		dashErr, framesErr = nil, nil // nothing arrived: nothing to package or analyse
	}
	raise(sess.m.dashHigh, sess.dash.highWater.Load())
	raise(sess.m.analysisHigh, sess.analysis.highWater.Load())
	if recErr != nil {
		sess.m.fail("recording")
		sess.emit(event.Event{Type: event.StageFailed, Stage: stageRecording, Error: errText(recErr)})
	}
	if dashErr != nil {
		sess.m.fail("dash")
		sess.log.Error("packaging failed", "err", dashErr)
		if !sess.dash.gaveUp.Load() { // else told already
			sess.emit(event.Event{Type: event.StageFailed, Stage: stagePackaging, Error: errText(dashErr)})
		}
	}
	if framesErr != nil {
		sess.m.fail("analysis")
		sess.log.Warn("analysis failed", "err", framesErr)
		if !sess.analysis.gaveUp.Load() {
			sess.emit(event.Event{Type: event.StageFailed, Stage: stageAnalysis, Error: errText(framesErr)})
		}
	}
	var seekable string
	var seekErr error
	if sess.srv.o.Seekable && sess.recPath != "" && recErr == nil {
		seekable, seekErr = remux(sess.srv.killCtx, sess.srv.o.Dash.FFmpeg, sess.recPath)
		if seekErr != nil {
			sess.log.Warn("no seekable copy of the recording", "err", seekErr)
			sess.emit(event.Event{Type: event.StageFailed, Stage: stageSeekable, Error: errText(seekErr)})
		}
	}
	if sess.recPath != "" && recErr == nil {
		sess.srv.store(sess.recPath, seekable)
		sess.emit(event.Event{Type: event.RecordingReady, Recording: absPath(sess.recPath), Seekable: absPath(seekable),
			Size: sess.bytes, SHA256: hex.EncodeToString(sess.recHash.Sum(nil))})
	}
	if sess.recPath != "" {
		os.Remove(stream.UnfinishedMarker(sess.recPath)) // stored, copied and announced, or failed for good
	}
	st := SessionStats{
		Stream:           sess.stream,
		Recording:        sess.recPath,
		Seekable:         seekable,
		Bytes:            sess.bytes,
		Analysed:         sess.analysis.given.Load() - sess.analysis.dropped.Load(),
		Skipped:          sess.analysis.lostBytes.Load(),
		SkippedFrames:    sess.analysis.lostFrames.Load(),
		Skips:            sess.analysis.skips.Load(),
		DashRestarts:     sess.dash.restarts.Load(),
		AnalysisRestarts: sess.analysis.restarts.Load(),
		Duration:         time.Since(sess.started),
		Err:              errors.Join(recErr, dashErr, framesErr, seekErr),
	}
	sess.log.Info("session ended", "bytes", st.Bytes, "skips", st.Skips, "skipped", st.Skipped,
		"restarts", st.DashRestarts+st.AnalysisRestarts, "duration", st.Duration.Round(time.Millisecond), "cause", cause)
	if f := sess.srv.o.OnSession; f != nil {
		f(st)
	}
	return recErr
}

// closeRecording flushes the recording to stable storage.
func (sess *session) closeRecording() error {
	if sess.rec == nil {
		return nil
	}
	if err := sess.rec.Close(); err != nil {
		return sess.srv.storageFailed(err)
	}
	return nil
}

// The stages, as events name them.
const (
	stageRecording = "recording"
	stagePackaging = "packaging"
	stageAnalysis  = "analysis"
	stageSeekable  = "seekable"
)

// emit hands e, of this session, to Options.Events.
func (sess *session) emit(e event.Event) {
	bus := sess.srv.o.Events
	if bus == nil {
		return
	}
	e.Stream, e.Session = sess.stream, sess.id
	bus.Emit(e)
}

// endCause is why a session ended, as publish_end says it: cause is the publisher's
// (nil: it closed normally), recErr the recording's failure.
func endCause(cause, recErr error) string {
	var ne net.Error
	switch {
	case recErr != nil:
		return event.CauseError
	case cause == nil:
		return event.CauseStopped
	case errors.Is(cause, ws.ErrShutdown):
		return event.CauseShutdown
	case errors.Is(cause, ws.ErrTakenOver):
		return event.CauseTakenOver
	case errors.Is(cause, ws.ErrStopped):
		return event.CauseKicked
	case errors.Is(cause, ws.ErrIdle):
		return event.CauseIdle
	case errors.Is(cause, ws.ErrBehind):
		return event.CauseBehind
	case errors.Is(cause, ws.ErrLost), errors.Is(cause, io.EOF), errors.Is(cause, io.ErrUnexpectedEOF), errors.As(cause, &ne):
		return event.CauseDropped
	default:
		return event.CauseError
	}
}

// errText is err's message, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// absPath is name made absolute, "" for "".
func absPath(name string) string {
	if name == "" {
		return ""
	}
	if abs, err := filepath.Abs(name); err == nil {
		return abs
	}
	return name
}
