package main

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTextHandler: each record is one line in the command's name, its level as a word
// (none for information), its attributes as key=value, groups and all; a hint goes on a
// line of its own; records under the level are not written.
func TestTextHandler(t *testing.T) {
	var out bytes.Buffer
	level := new(slog.LevelVar)
	log := slog.New(newTextHandler("sv all", &out, level))
	log.Info("serving", "addr", "127.0.0.1:8080")
	log.With("stream", "s9").Warn("refused publisher", "status", 503)
	log.WithGroup("ffmpeg").Error("failed", "err", errors.New("exit status 1"), hintKey, "see its log")
	log.Debug("not shown")
	level.Set(slog.LevelDebug)
	log.Debug("a line with spaces", "from", "ffmpeg")
	want := "sv all: serving addr=127.0.0.1:8080\n" +
		"sv all: warning: refused publisher stream=s9 status=503\n" +
		"sv all: error: failed ffmpeg.err=\"exit status 1\"\n" +
		"sv all: hint: see its log\n" +
		"sv all: debug: a line with spaces from=ffmpeg\n"
	if got := out.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestStatusLineCut: the status line is cut to one column less than the terminal, and a
// record goes above it whole.
func TestStatusLineCut(t *testing.T) {
	var out bytes.Buffer
	s := &statusLine{w: &out, width: func() int { return 12 }}
	s.set("sv: 5 live | a 1.00 Mbit/s")
	s.Write([]byte("a record longer than the terminal\n"))
	s.set("")
	const clear = "\r\033[K"
	want := clear + "sv: 5 live…" + clear + "a record longer than the terminal\n" + "sv: 5 live…" + clear
	if got := out.String(); got != want {
		t.Errorf("terminal got\n%q\nwant\n%q", got, want)
	}
}

func TestCut(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		want string
	}{
		{"abcdef", 0, "abcdef"},
		{"abcdef", 6, "abcdef"},
		{"abcdef", 5, "abcd…"},
		{"abcdef", 1, "…"},
		{"ééééé", 3, "éé…"},
	} {
		if got := cut(tt.s, tt.n); got != tt.want {
			t.Errorf("cut(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

// TestBarLine: what the progress bar draws becomes the status line, its padding and
// erase codes dropped; its clearing clears it.
func TestBarLine(t *testing.T) {
	var out bytes.Buffer
	s := &statusLine{w: &out}
	b := barLine{s}
	b.Write([]byte("\r| dash · 3 segments (1.2 MB, 300 kB/s)   \033[0K"))
	if s.line != "| dash · 3 segments (1.2 MB, 300 kB/s)" {
		t.Errorf("status %q", s.line)
	}
	b.Write([]byte("\r" + strings.Repeat(" ", 40) + "\r"))
	if s.line != "" {
		t.Errorf("status %q after the bar cleared itself", s.line)
	}
}

// TestLockTerminal: of two stages on one terminal, one draws progress; the other may once
// the first has released it.
func TestLockTerminal(t *testing.T) {
	tty := openPTY(t)
	release, ok := lockTerminal(tty)
	if !ok {
		t.Fatal("the first stage did not get the terminal")
	}
	if release2, ok := lockTerminal(tty); ok {
		release2()
		t.Fatal("a second stage got the terminal too")
	}
	release()
	release3, ok := lockTerminal(tty)
	if !ok {
		t.Fatal("the terminal is not free after its release")
	}
	release3()
}

// TestProgressShown: with --progress auto, of the stages of a pipe sharing a terminal, one
// draws a progress line: not one that writes into a pipe, not a second one while the first
// holds the terminal; never with --quiet, JSON messages or a stderr that is no terminal.
func TestProgressShown(t *testing.T) {
	tty := openPTY(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()

	for _, tt := range []struct {
		name           string
		stderr, stdout any
		mode           string
		quiet, json    bool
		want           bool
	}{
		{"writes into a pipe", tty, w, "auto", false, false, false},
		{"quiet", tty, file, "auto", true, false, false},
		{"json", tty, file, "auto", false, true, false},
		{"off", tty, file, "off", false, false, false},
		{"stderr is no terminal", file, tty, "on", false, false, false},
		{"on, into a pipe", tty, w, "on", false, false, true},
	} {
		shown, release := progressShown(tt.stderr.(io.Writer), tt.stdout.(io.Writer), tt.mode, tt.quiet, tt.json)
		release()
		if shown != tt.want {
			t.Errorf("%s: shown %v, want %v", tt.name, shown, tt.want)
		}
	}

	first, release := progressShown(tty, file, "auto", false, false)
	if !first {
		t.Fatal("the stage that ends its pipe draws no progress line on a free terminal")
	}
	if second, release2 := progressShown(tty, tty, "auto", false, false); second {
		release2()
		t.Error("a second stage draws a progress line on the same terminal")
	}
	release()
	if again, release3 := progressShown(tty, tty, "auto", false, false); !again {
		t.Error("the terminal is not free for another stage after the first is done")
	} else {
		release3()
	}
}
