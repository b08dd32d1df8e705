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

// stageLogger returns the logger of a stage that runs FFmpeg: the command's, with
// FFmpeg's log lines going to --ffmpeg-log FILE when it is given (otherwise they are debug
// records, on stderr with --verbose). Call the returned function when done.
func stageLogger(c *cli.Context) (*slog.Logger, func(), error) {
	log := logger(c)
	name := c.String("ffmpeg-log")
	if name == "" {
		return log, func() {}, nil
	}
	f, err := os.Create(name)
	if err != nil {
		return nil, nil, fmt.Errorf("ffmpeg log: %w", err)
	}
	return slog.New(ffmpegFile{log.Handler(), &sync.Mutex{}, f}), func() { f.Close() }, nil
}

// ffmpegFile sends FFmpeg's log lines to a file, and the other records on.
type ffmpegFile struct {
	slog.Handler
	mu *sync.Mutex
	w  io.Writer
}

func (h ffmpegFile) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelDebug || h.Handler.Enabled(ctx, l)
}

func (h ffmpegFile) Handle(ctx context.Context, r slog.Record) error {
	if ffmpeg.IsLog(r) {
		h.mu.Lock()
		defer h.mu.Unlock()
		_, err := io.WriteString(h.w, r.Message+"\n")
		return err
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h ffmpegFile) WithAttrs(attrs []slog.Attr) slog.Handler {
	return ffmpegFile{h.Handler.WithAttrs(attrs), h.mu, h.w}
}

func (h ffmpegFile) WithGroup(name string) slog.Handler {
	return ffmpegFile{h.Handler.WithGroup(name), h.mu, h.w}
}

func hasAttr(r slog.Record, key string) bool {
	has := false
	r.Attrs(func(a slog.Attr) bool {
		has = a.Key == key
		return !has
	})
	return has
}

// hintHandler adds to a stage's warnings the advice sv gives with them, as a hint
// attribute (the text handler prints it on a line of its own).
type hintHandler struct{ slog.Handler }

func (h hintHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn && hasAttr(r, dash.KeyframeGapKey) {
		r = r.Clone()
		r.AddAttrs(slog.String(hintKey, keyframeHint))
	}
	return h.Handler.Handle(ctx, r)
}

func (h hintHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return hintHandler{h.Handler.WithAttrs(attrs)}
}

func (h hintHandler) WithGroup(name string) slog.Handler {
	return hintHandler{h.Handler.WithGroup(name)}
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
