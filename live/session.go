package live

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/svtool/sv/dash"
	"github.com/svtool/sv/frames"
	"github.com/svtool/sv/internal/queue"
	"github.com/svtool/sv/media"
	"github.com/svtool/sv/ws"
)

// errFellBehind is what the summary of an analysis that was stopped says.
var errFellBehind = errors.New("analysis fell behind the live stream and was stopped")

// errPackagerGone ends writes to a packager that has returned.
var errPackagerGone = errors.New("packaging has ended")

// noWait is a done context: Push with it never blocks, it fails when the queue is full.
var noWait = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// session is one publisher's stream fanned out to the recording, dash.Run and frames.Run.
// Write and Close are called from the ingest's writer goroutine only.
type session struct {
	srv     *Server
	pub     *ws.Publisher
	stream  string
	log     *slog.Logger
	started time.Time
	recDir  string

	rec     *os.File
	recBuf  *bufio.Writer
	recPath string
	bytes   int64

	dashW    *io.PipeWriter // nil once the packager has failed
	dashDone chan error

	analysis   *queue.Queue
	analysing  bool
	fellBehind atomic.Bool
	analysed   int64
	skipped    int64
	jsonl      *os.File
	framesDone chan error
}

// start makes the session's folders and starts its packager and analysis.
func (s *Server) start(p *ws.Publisher) (*session, error) {
	liveDir := filepath.Join(s.o.Out, "live", p.Stream)
	recDir := filepath.Join(s.o.Out, "recordings", p.Stream)
	for _, dir := range []string{liveDir, recDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("stream folder: %w", err)
		}
	}
	jsonl, err := os.Create(filepath.Join(liveDir, dash.FramesName))
	if err != nil {
		return nil, fmt.Errorf("analysis output: %w", err)
	}
	log := s.log.With("stream", p.Stream)
	sess := &session{
		srv:        s,
		pub:        p,
		stream:     p.Stream,
		log:        log,
		started:    time.Now(),
		recDir:     recDir,
		dashDone:   make(chan error, 1),
		analysis:   queue.New(s.o.AnalysisBuffer),
		analysing:  true,
		jsonl:      jsonl,
		framesDone: make(chan error, 1),
	}

	dashR, dashW := io.Pipe()
	sess.dashW = dashW
	dopts := s.dashOptions(liveDir, log)
	go func() {
		err := dash.Run(s.killCtx, dashR, dopts)
		dashR.CloseWithError(errPackagerGone) // a failed packager must not block Write
		sess.dashDone <- err
	}()

	framesR, framesW := io.Pipe()
	go func() {
		_, err := sess.analysis.WriteTo(s.killCtx, framesW)
		framesW.CloseWithError(err)
	}()
	fopts := s.o.Frames
	fopts.LowDelay = true
	fopts.Log = logWriter{log, "ffmpeg-frames"}
	go func() {
		w := bufio.NewWriterSize(jsonl, 64<<10)
		emit := func(rec frames.Record) error { return sess.emit(w, rec) }
		err := frames.Run(s.killCtx, framesR, emit, fopts)
		if ferr := w.Flush(); err == nil && ferr != nil {
			err = fmt.Errorf("write %s: %w", dash.FramesName, ferr)
		}
		framesR.CloseWithError(errPackagerGone) // the queue fails: Write stops feeding it
		sess.framesDone <- err
	}()
	return sess, nil
}

// emit writes one analysis record as a JSON line, flushed at once for /events.
func (sess *session) emit(w *bufio.Writer, rec frames.Record) error {
	if sum, ok := rec.(*frames.Summary); ok && sess.fellBehind.Load() {
		sum.Complete = false
		sum.Error = errFellBehind.Error()
	}
	line := append(rec.AppendJSON(make([]byte, 0, 256)), '\n')
	if _, err := w.Write(line); err != nil {
		return fmt.Errorf("write %s: %w", dash.FramesName, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", dash.FramesName, err)
	}
	return nil
}

// Write hands p to the recording, the packager and, while it keeps up, the analysis.
func (sess *session) Write(p []byte) (int, error) {
	if sess.rec == nil {
		if err := sess.createRecording(p); err != nil {
			return 0, err
		}
	}
	if _, err := sess.recBuf.Write(p); err != nil {
		return 0, fmt.Errorf("write recording: %w", err)
	}
	sess.bytes += int64(len(p))
	if sess.dashW != nil {
		if _, err := sess.dashW.Write(p); err != nil {
			// The packager has failed; it says why when the session ends. The recording
			// goes on.
			sess.log.Warn("packaging stopped; the recording goes on", "err", err)
			sess.dashW = nil
		}
	}
	sess.feedAnalysis(p)
	return len(p), nil
}

// feedAnalysis queues p for the analysis without ever blocking; once the analysis falls
// behind (its queue is full) or has ended, it gets nothing more.
func (sess *session) feedAnalysis(p []byte) {
	for len(p) > 0 && sess.analysing {
		buf := queue.GetBuf()
		n := copy(*buf, p)
		if err := sess.analysis.Push(noWait, buf, n); err != nil {
			sess.analysing = false
			if errors.Is(err, context.Canceled) {
				sess.fellBehind.Store(true)
				sess.analysis.CloseWrite()
				sess.log.Warn("analysis fell behind: stopped for this session", "queued", sess.analysis.Stats().Queued)
			}
			break
		}
		sess.analysed += int64(n)
		p = p[n:]
	}
	sess.skipped += int64(len(p))
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
	base := sess.started.UTC().Format("20060102T150405Z")
	for i := 1; ; i++ {
		name := base + ext
		if i > 1 {
			name = fmt.Sprintf("%s-%d%s", base, i, ext)
		}
		path := filepath.Join(sess.recDir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) && i < 100 {
			continue
		}
		if err != nil {
			return fmt.Errorf("create recording: %w", err)
		}
		sess.rec, sess.recBuf, sess.recPath = f, bufio.NewWriterSize(f, 256<<10), path
		sess.log.Info("recording", "file", path)
		return nil
	}
}

// Close ends the session once every stage has finished with what it was given: the
// recording flushed and fsynced, the packager's manifest static, the analysis' summary
// written. Only a recording that could not be stored is an error for the publisher.
func (sess *session) Close(cause error) error {
	defer sess.srv.end(sess)
	recErr := sess.closeRecording()
	if sess.dashW != nil {
		sess.dashW.Close()
	}
	if sess.analysing {
		sess.analysis.CloseWrite()
	}
	dashErr := <-sess.dashDone
	framesErr := <-sess.framesDone
	if err := sess.jsonl.Close(); framesErr == nil && err != nil {
		framesErr = fmt.Errorf("write %s: %w", dash.FramesName, err)
	}
	if sess.bytes == 0 {
		dashErr, framesErr = nil, nil // nothing arrived: nothing to package or analyse
	}
	if dashErr != nil {
		sess.log.Error("packaging failed", "err", dashErr)
	}
	if framesErr != nil {
		sess.log.Warn("analysis failed", "err", framesErr)
	}
	var seekable string
	var seekErr error
	if sess.srv.o.Seekable && sess.recPath != "" && recErr == nil {
		seekable, seekErr = remux(sess.srv.killCtx, sess.srv.o.Dash.FFmpeg, sess.recPath)
		if seekErr != nil {
			sess.log.Warn("no seekable copy of the recording", "err", seekErr)
		}
	}
	st := SessionStats{
		Stream:    sess.stream,
		Recording: sess.recPath,
		Seekable:  seekable,
		Bytes:     sess.bytes,
		Analysed:  sess.analysed,
		Skipped:   sess.skipped,
		Duration:  time.Since(sess.started),
		Err:       errors.Join(recErr, dashErr, framesErr, seekErr),
	}
	sess.log.Info("session ended", "bytes", st.Bytes, "analysed", st.Analysed, "skipped", st.Skipped,
		"duration", st.Duration.Round(time.Millisecond), "cause", cause)
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
	err := sess.recBuf.Flush()
	if serr := sess.rec.Sync(); err == nil && serr != nil {
		err = serr
	}
	if cerr := sess.rec.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store recording %s: %w", sess.recPath, err)
	}
	return nil
}
