package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"

	"github.com/urfave/cli/v2"
)

// What the stages that run FFmpeg on a stream (sv dash, sv frames) share: their input and
// FFmpeg flags, and how FFmpeg's log reaches the user.

var (
	inFlag = &cli.StringFlag{Name: "in", Usage: "read the stream from `FILE` instead of stdin (- for stdin)", EnvVars: []string{"SV_IN"}}

	ffmpegFlag    = &cli.StringFlag{Name: "ffmpeg", Value: "ffmpeg", Usage: "FFmpeg binary", EnvVars: []string{"SV_FFMPEG"}}
	ffmpegLogFlag = &cli.StringFlag{Name: "ffmpeg-log", Usage: "write FFmpeg's log to `FILE` (default: stderr with --verbose)", EnvVars: []string{"SV_FFMPEG_LOG"}}
	verboseFlag   = &cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "debug messages, FFmpeg's log among them, on stderr", EnvVars: []string{"SV_VERBOSE"}}
)

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

// ffmpegLog returns where FFmpeg's log goes: --ffmpeg-log FILE, debug records on stderr with
// --verbose, or nowhere (nil: the FFmpeg type keeps the last lines for errors anyway).
func ffmpegLog(c *cli.Context) (io.Writer, func(), error) {
	if name := c.String("ffmpeg-log"); name != "" {
		f, err := os.Create(name)
		if err != nil {
			return nil, nil, fmt.Errorf("ffmpeg log: %w", err)
		}
		return f, func() { f.Close() }, nil
	}
	if log := logger(c); log.Enabled(envOf(c).ctx, slog.LevelDebug) {
		return logWriter{log}, func() {}, nil
	}
	return nil, func() {}, nil
}

// logWriter turns FFmpeg's log lines into debug records.
type logWriter struct{ log *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Debug(strings.TrimRight(string(p), "\n"), "from", "ffmpeg")
	return len(p), nil
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
