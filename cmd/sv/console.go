package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// The console: every line sv prints on stderr goes through one *slog.Logger per command,
// whose handler speaks in the command's name. As text (the default), a record is one line
// for people:
//
//	sv dash: keyframes every 5.0 s, above the 1s segments: ...
//	sv all: warning: refused publisher stream=s9 status=503
//	sv recv: error: listen: address already in use
//	sv recv: hint: is another sv running? choose another address with --listen
//
// With --log-format json each record is a JSON object with its time, level, message,
// attributes and "cmd", for a collector. Progress and sv all's status are a line kept at
// the bottom of a terminal (statusLine): a record is written above it, never into it.

// textHandler writes records as "NAME: [LEVEL: ]message key=value ...".
type textHandler struct {
	name  string
	level slog.Leveler
	out   io.Writer // where whole lines go; a *statusLine keeps them above its line

	mu    *sync.Mutex   // shared by the handlers derived with WithAttrs and WithGroup
	buf   *bytes.Buffer // attrs, formatted by attrs
	attrs slog.Handler  // a TextHandler into buf that writes the attributes alone
}

func newTextHandler(name string, out io.Writer, level slog.Leveler) *textHandler {
	buf := new(bytes.Buffer)
	return &textHandler{
		name: name, level: level, out: out, mu: new(sync.Mutex), buf: buf,
		attrs: slog.NewTextHandler(buf, &slog.HandlerOptions{
			Level: slog.LevelDebug, // level is checked by Enabled
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
					return slog.Attr{}
				}
				return a
			},
		}),
	}
}

func (h *textHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *textHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var hint string
	rest := slog.NewRecord(r.Time, r.Level, "", r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == hintKey {
			hint = a.Value.String()
		} else {
			rest.AddAttrs(a)
		}
		return true
	})
	h.buf.Reset()
	if err := h.attrs.Handle(ctx, rest); err != nil {
		return err
	}
	var line strings.Builder
	line.WriteString(h.name)
	line.WriteString(": ")
	line.WriteString(levelWord(r.Level))
	line.WriteString(r.Message)
	if attrs := bytes.TrimSpace(h.buf.Bytes()); len(attrs) > 0 {
		line.WriteByte(' ')
		line.Write(attrs)
	}
	line.WriteByte('\n')
	if hint != "" {
		line.WriteString(h.name + ": hint: " + hint + "\n")
	}
	_, err := io.WriteString(h.out, line.String())
	return err
}

func (h *textHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	// A stage's records in the command of that stage need not say which stage they
	// come from (sv dash's own "stage=dash").
	own := strings.TrimPrefix(h.name, "sv ")
	as = slices.DeleteFunc(slices.Clone(as), func(a slog.Attr) bool {
		return a.Key == "stage" && a.Value.String() == own
	})
	c.attrs = h.attrs.WithAttrs(as)
	return &c
}

func (h *textHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.attrs = h.attrs.WithGroup(name)
	return &c
}

// hintKey is the attribute of an error record that carries advice: the text handler
// prints it on a line of its own.
const hintKey = "hint"

func levelWord(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "error: "
	case l >= slog.LevelWarn:
		return "warning: "
	case l < slog.LevelInfo:
		return "debug: "
	}
	return ""
}

// statusLine keeps one line at the bottom of a terminal, redrawn in place and cut to the
// terminal's width (a line that wrapped could not be redrawn); what else is written
// through it (whole lines: records) goes above it.
type statusLine struct {
	mu    sync.Mutex
	w     io.Writer
	width func() int // the terminal's width in columns, 0 if unknown
	line  string
}

// newStatusLine returns the status line of w, cut to its width when w is a terminal.
func newStatusLine(w io.Writer) *statusLine {
	s := &statusLine{w: w}
	if f, ok := w.(*os.File); ok {
		s.width = func() int {
			cols, _, err := term.GetSize(int(f.Fd()))
			if err != nil {
				return 0
			}
			return cols
		}
	}
	return s
}

func (s *statusLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.line != "" {
		io.WriteString(s.w, "\r\033[K")
	}
	n, err := s.w.Write(p)
	if s.line != "" {
		io.WriteString(s.w, s.line)
	}
	return n, err
}

// set shows line in place of the previous one; "" clears it.
func (s *statusLine) set(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.width != nil {
		line = cut(line, s.width()-1) // the last column would wrap on some terminals
	}
	if line == s.line {
		return
	}
	io.WriteString(s.w, "\r\033[K"+line)
	s.line = line
}

// cut shortens s to at most n characters, ending it with "…" when it is cut; n <= 0
// leaves it whole.
func cut(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	if n == 1 {
		return "…"
	}
	i, count := 0, 0
	for i = range s {
		if count == n-1 {
			break
		}
		count++
	}
	return s[:i] + "…"
}

// barLine turns what a progress bar draws into the status line: the bar draws "\r" and
// its text (padded, maybe with an erase code), or spaces to clear itself. Each write is
// one drawing.
type barLine struct{ s *statusLine }

func (b barLine) Write(p []byte) (int, error) {
	text := string(p)
	if i := strings.LastIndexByte(text, '\r'); i >= 0 {
		text = text[i+1:]
	}
	text = strings.TrimRight(strings.ReplaceAll(strings.ReplaceAll(text, "\033[0K", ""), "\033[2K", ""), " ")
	if text == "" && strings.TrimSpace(strings.ReplaceAll(string(p), "\r", "")) != "" {
		return len(p), nil // an escape sequence alone: nothing to show
	}
	b.s.set(text)
	return len(p), nil
}

// lockTerminal reports whether this process may draw the progress line on the terminal
// f: the first of the stages sharing a terminal to ask gets it, until it calls release,
// so that one progress line is drawn, not one per stage redrawing the same line. It locks
// a new open file description of the terminal (an flock is shared by every process
// holding the same description, as the stages of a pipe hold their inherited stderr).
// Where the terminal cannot be opened again, it says yes.
func lockTerminal(f *os.File) (release func(), ok bool) {
	t, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), os.O_WRONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return func() {}, true
	}
	if err := unix.Flock(int(t.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Close()
		return func() {}, false
	}
	return func() { t.Close() }, true
}
