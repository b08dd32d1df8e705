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

// All terminal output of sv goes through this file and console.go: errors, hints,
// warnings, logs and progress, always on stderr, through the logger of the command that
// runs (its console). stdout carries data only.

// console is a command's stderr: the logger every line goes through, in the command's
// name, and the line kept at the bottom of the terminal (a progress bar, or sv all's
// status) when one is drawn.
type console struct {
	log      *slog.Logger
	status   *statusLine // the bottom line; nil when none is drawn
	progress bool        // this command draws the bottom line
	release  func()      // gives the terminal's progress line back
}

// setupConsole makes the console of the command c runs, from its flags: --log-format,
// --quiet (errors only), --verbose (debug records too) and --progress. It runs before the
// command's action.
func setupConsole(c *cli.Context) error {
	e := envOf(c)
	e.name = "sv " + c.Command.Name
	if err := applyConfig(c); err != nil {
		return err
	}
	format, mode := c.String("log-format"), c.String("progress")
	switch {
	case format != "" && format != "text" && format != "json":
		return usagef("--log-format: want text or json, got %q", format)
	case mode != "" && mode != "auto" && mode != "on" && mode != "off":
		return usagef("--progress: want auto, on or off, got %q", mode)
	}
	con := &console{release: func() {}}
	con.progress, con.release = progressShown(e.stderr, e.stdout, mode, c.Bool("quiet"), format == "json")
	out := e.stderr
	if con.progress {
		con.status = newStatusLine(e.stderr)
		out = con.status
	}
	level := slog.LevelInfo
	switch {
	case c.Bool("verbose"):
		level = slog.LevelDebug
	case c.Bool("quiet"):
		level = slog.LevelError
	}
	con.log = newLogger(e.name, format, out, level)
	e.con = con
	return nil
}

// newLogger returns a logger in name: text records for people (console.go), or JSON
// objects with their time and "cmd" for a collector. Its records carry the hints sv gives
// after the warnings of its stages.
func newLogger(name, format string, out io.Writer, level slog.Leveler) *slog.Logger {
	var h slog.Handler = newTextHandler(name, out, level)
	if format == "json" {
		h = slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level}).WithAttrs([]slog.Attr{slog.String("cmd", name)})
	}
	return slog.New(hintHandler{h})
}

// progressShown reports whether the command draws a progress line (sv all: its status
// line), by --progress: on, on a terminal; off; auto (the default), on a terminal when
// this stage ends its pipe (its stdout is not a pipe into another stage) and no other
// stage sharing the terminal draws one already. --quiet shows none. Call release when
// done.
func progressShown(stderr, stdout io.Writer, mode string, quiet, json bool) (shown bool, release func()) {
	f, ok := stderr.(*os.File)
	switch {
	case mode == "" || mode == "off" || quiet || !ok || !isTerminal(f):
		return false, func() {}
	case mode == "on":
		return true, func() {}
	case json || isPipe(stdout):
		return false, func() {}
	}
	release, ok = lockTerminal(f)
	return ok, release
}

// closeConsole clears the bottom line and gives the terminal back.
func (con *console) close() {
	if con.status != nil {
		con.status.set("")
	}
	con.release()
}

// logger returns the logger of the running command.
func logger(c *cli.Context) *slog.Logger { return envOf(c).logger() }

func (e *env) logger() *slog.Logger {
	if e.con == nil { // a mistake found before the command ran
		name := e.name
		if name == "" {
			name = "sv"
		}
		e.con = &console{log: newLogger(name, "text", e.stderr, slog.LevelInfo), release: func() {}}
	}
	return e.con.log
}

func printError(e *env, err error) {
	args := []any{}
	var h hintError
	if errors.As(err, &h) && h.hint != "" {
		args = append(args, hintKey, h.hint)
	}
	var u usageError
	if errors.As(err, &u) {
		cmd := e.name
		if cmd == "" || cmd == "sv" {
			cmd = "sv COMMAND"
		}
		args = append(args, hintKey, "run '"+cmd+" --help' for usage")
	}
	e.logger().Error(err.Error(), args...)
}

func warnf(c *cli.Context, format string, args ...any) {
	logger(c).Warn(fmt.Sprintf(format, args...))
}

func infof(c *cli.Context, format string, args ...any) {
	logger(c).Info(fmt.Sprintf(format, args...))
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

// isPipe reports whether w is a pipe: the stage writes into another one.
func isPipe(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeNamedPipe != 0
}

// progressVisible tells whether the command draws its progress line.
func progressVisible(c *cli.Context) bool {
	con := envOf(c).con
	return con != nil && con.progress
}

// newProgress returns a byte-counting progress bar, drawn as the bottom line of the
// terminal when the command draws one (progressShown), invisible otherwise. Call Finish on
// it when done: a visible bar keeps a ticker.
func newProgress(c *cli.Context, description string) *progressbar.ProgressBar {
	var w io.Writer = io.Discard
	if con := envOf(c).con; con != nil && con.status != nil {
		w = barLine{con.status}
	}
	return progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(description),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetVisibility(progressVisible(c)),
		progressbar.OptionClearOnFinish(),
	)
}
