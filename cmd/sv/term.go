package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// All terminal output of sv goes through this file: errors, hints, warnings, logs and
// progress bars, always on stderr. stdout carries data only.

func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "sv: error: %v\n", err)
	var h hintError
	if errors.As(err, &h) && h.hint != "" {
		hintf(w, "%s", h.hint)
	}
	var u usageError
	if errors.As(err, &u) {
		fmt.Fprintf(w, "sv: hint: run 'sv --help' or 'sv COMMAND --help' for usage\n")
	}
}

func warnf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "sv: warning: "+format+"\n", args...)
}

func hintf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "sv: hint: "+format+"\n", args...)
}

func infof(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "sv: "+format+"\n", args...)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// errTerminalStdout refuses to write a binary stream to a terminal.
func errTerminalStdout(next string) error {
	return withHint(errors.New("refusing to write a binary media stream to a terminal"),
		"redirect stdout to a file or pipe it into "+next)
}

// logger returns the stderr logger of a subcommand: informational messages, only warnings
// with --quiet, debug messages too with --verbose.
func logger(c *cli.Context) *slog.Logger {
	return loggerTo(c, envOf(c).stderr)
}

// loggerTo is logger writing to w. With --log-format json (sv all), records are JSON
// objects with their time, for a log collector; text records leave the time out, which a
// terminal or a service manager adds.
func loggerTo(c *cli.Context, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	switch {
	case c.Bool("verbose"):
		level = slog.LevelDebug
	case c.Bool("quiet"):
		level = slog.LevelWarn
	}
	if c.String("log-format") == "json" {
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// progressVisible tells whether progress is shown: on a terminal, without --quiet.
func progressVisible(c *cli.Context) bool { return isTerminal(envOf(c).stderr) && !c.Bool("quiet") }

// newProgress returns a byte-counting progress bar on stderr, visible only when stderr is a
// terminal and --quiet is not set. Call Finish on it when done: a visible bar keeps a ticker.
func newProgress(c *cli.Context, description string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(envOf(c).stderr),
		progressbar.OptionSetDescription(description),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetVisibility(progressVisible(c)),
		progressbar.OptionClearOnFinish(),
	)
}
