package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/urfave/cli/v2"

	"github.com/svtool/sv/dash"
	"github.com/svtool/sv/ffmpeg"
)

// What the stages that run FFmpeg on a stream (sv dash, sv frames) share: their input, and
// how their messages and FFmpeg's log reach the user.

// stageInput opens what a stage reads: --in FILE, or stdin unless it is a terminal. Call
// the returned function when done.
func stageInput(c *cli.Context) (io.Reader, func(), error) {
	if name := c.String("in"); name != "" && name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, nil, err
		}
		return f, func() { f.Close() }, nil
	}
	in := envOf(c).stdin
	if isTerminal(in) {
		return nil, nil, withHint(errors.New("stdin is a terminal, not a media stream"),
			fmt.Sprintf("pipe sv recv into sv %s, or use --in FILE", c.Command.Name))
	}
	return in, func() {}, nil
}

// ffmpegHint is what to do when there is no FFmpeg.
const ffmpegHint = "install FFmpeg (Debian/Ubuntu: apt-get install ffmpeg, or scripts/deps.sh), or point --ffmpeg at the binary"

// keyframeHint is what to do about the warning dash.Run logs, with dash.KeyframeGapKey,
// for a copied video with too few keyframes.
const keyframeHint = "have the publisher send one keyframe per second (MediaRecorder option videoKeyFrameIntervalDuration: 1000, as sv's capture page does) or transcode with --video h264"

// stageLogger returns the logger of a stage that runs FFmpeg: its messages as sv's own on
// stderr ("sv: ...", "sv: warning: ...", with a hint where one helps), FFmpeg's log lines
// to --ffmpeg-log FILE, or else with the other debug records on stderr with --verbose.
// Call the returned function when done.
func stageLogger(c *cli.Context) (*slog.Logger, func(), error) {
	e := envOf(c)
	h := &stageHandler{mu: new(sync.Mutex), w: e.stderr, level: slog.LevelInfo, debug: logger(c).Handler()}
	switch {
	case c.Bool("verbose"):
		h.level = slog.LevelDebug
	case c.Bool("quiet"):
		h.level = slog.LevelWarn
	}
	closeLog := func() {}
	if name := c.String("ffmpeg-log"); name != "" {
		f, err := os.Create(name)
		if err != nil {
			return nil, nil, fmt.Errorf("ffmpeg log: %w", err)
		}
		h.ffmpegLog, closeLog = f, func() { f.Close() }
	}
	return slog.New(h), closeLog, nil
}

// stageHandler writes a stage's records as stageLogger says.
type stageHandler struct {
	mu        *sync.Mutex
	w         io.Writer
	level     slog.Level   // the least level shown on stderr
	debug     slog.Handler // debug records on stderr
	ffmpegLog io.Writer    // FFmpeg's lines, when not on stderr
}

func (h *stageHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level || h.ffmpegLog != nil && l >= slog.LevelDebug
}

func (h *stageHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.ffmpegLog != nil && ffmpeg.IsLog(r) {
		h.mu.Lock()
		defer h.mu.Unlock()
		_, err := io.WriteString(h.ffmpegLog, r.Message+"\n")
		return err
	}
	switch {
	case r.Level < h.level:
		return nil
	case r.Level < slog.LevelInfo:
		return h.debug.Handle(ctx, r)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Level < slog.LevelWarn {
		infof(h.w, "%s", r.Message)
		return nil
	}
	warnf(h.w, "%s", r.Message)
	if hasAttr(r, dash.KeyframeGapKey) {
		hintf(h.w, "%s", keyframeHint)
	}
	return nil
}

func hasAttr(r slog.Record, key string) bool {
	has := false
	r.Attrs(func(a slog.Attr) bool {
		has = a.Key == key
		return !has
	})
	return has
}

// hintHandler adds to the records a stage logs in sv all the hint sv dash prints after
// them, as a hint attribute.
type hintHandler struct{ slog.Handler }

func (h hintHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn && hasAttr(r, dash.KeyframeGapKey) {
		r = r.Clone()
		r.AddAttrs(slog.String("hint", keyframeHint))
	}
	return h.Handler.Handle(ctx, r)
}

func (h hintHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return hintHandler{h.Handler.WithAttrs(attrs)}
}

func (h hintHandler) WithGroup(name string) slog.Handler {
	return hintHandler{h.Handler.WithGroup(name)}
}

func (h *stageHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.debug = h.debug.WithAttrs(attrs)
	return &h2
}

func (h *stageHandler) WithGroup(name string) slog.Handler {
	h2 := *h
	h2.debug = h.debug.WithGroup(name)
	return &h2
}

// isRegularFile reports whether r is a file on disk (not a pipe, socket or terminal).
func isRegularFile(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode().IsRegular()
}

// countingReader counts the bytes read through it, for a progress bar.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
