package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/svtool/sv/internal/testenv"
)

// sv dash, run in-process: usage mistakes exit 2 before anything is read or written, and
// the input's problems are reported with a hint.
func TestDashExitCodes(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	tests := []struct {
		args   []string
		stdin  string
		code   int
		stderr string
	}{
		{[]string{"--latency", "fast"}, "", exitUsage, "sv dash: error: --latency: unknown latency \"fast\" (want low or normal)\n"},
		{[]string{"--video", "vp9"}, "", exitUsage, "sv dash: error: --video: unknown video mode \"vp9\" (want auto, copy or h264)\n"},
		{[]string{"--audio", "mp3"}, "", exitUsage, "sv dash: error: --audio: unknown audio mode \"mp3\" (want auto, copy, aac or none)\n"},
		{[]string{"--ladder", "720p,abc"}, "", exitUsage, "sv dash: error: --ladder: bad rendition \"abc\""},
		{[]string{"--ladder", "720p,480p", "--video", "copy"}, "", exitUsage, "sv dash: error: --ladder needs transcoding"},
		{[]string{"--seg", "10ms"}, "", exitUsage, "sv dash: error: --seg must be at least 100ms, not 10ms\n"},
		{[]string{"--window", "0"}, "", exitUsage, "sv dash: error: --window must be at least 1, not 0"},
		{[]string{"--time-url", "127.0.0.1:8000/time"}, "", exitUsage, "sv dash: error: --time-url must be an http(s) URL"},
		{[]string{"extra"}, "", exitUsage, "sv dash: error: takes no arguments, got \"extra\" (use --in FILE)\n"},
		{[]string{"--in", "/nonexistent.webm"}, "", exitFailure, "sv dash: error: open /nonexistent.webm: no such file or directory\n"},
		{nil, "", exitFailure, "sv dash: error: no input: the stream ended before its first byte\nsv dash: hint: sv dash reads a WebM or MP4 stream"},
		{nil, "hello, world", exitFailure, "sv dash: error: input is not a WebM or MP4 stream (it starts with 68 65 6c 6c 6f 2c 20 77)\n"},
		{[]string{"--ffmpeg", "/nonexistent/ffmpeg"}, "", exitFailure, "sv dash: error: ffmpeg not found: /nonexistent/ffmpeg\nsv dash: hint: install FFmpeg (Debian/Ubuntu: apt-get install ffmpeg, or scripts/deps.sh), or point --ffmpeg at the binary\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			if _, err := exec.LookPath("ffmpeg"); err != nil && tt.code != exitUsage {
				t.Skip("ffmpeg is not installed")
			}
			args := append([]string{"sv", "dash", "--quiet", "--out", out}, tt.args...)
			var stdout, stderr bytes.Buffer
			code := run(args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if !strings.HasPrefix(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q, want it to start with %q", stderr.String(), tt.stderr)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout %q: sv dash writes nothing there", stdout.String())
			}
			if _, err := os.Stat(filepath.Join(out, "manifest.mpd")); err == nil {
				t.Errorf("a manifest was written")
			}
		})
	}
}

// TestDashMessages: every line sv dash prints is in its name; with --log-format json every
// line is a JSON object naming it, the hint an attribute; with --quiet nothing but errors
// is printed. The recording's 5 s keyframes, copied, give a warning with a hint.
func TestDashMessages(t *testing.T) {
	testenv.Require(t, "ffmpeg")
	in := filepath.Join("..", "..", "testdata", "h264-opus-kf5s.webm")
	stderr := func(args ...string) string {
		t.Helper()
		args = append([]string{"sv", "dash", "--in", in, "--out", filepath.Join(t.TempDir(), "out")}, args...)
		var stdout, stderr bytes.Buffer
		if code := run(args, strings.NewReader(""), &stdout, &stderr); code != exitOK {
			t.Fatalf("%v: exit code %d; stderr:\n%s", args, code, stderr.String())
		}
		return stderr.String()
	}

	text := stderr()
	for _, want := range []string{"\nsv dash: warning: ", "\nsv dash: hint: ", "\nsv dash: done in "} {
		if !strings.Contains("\n"+text, want) {
			t.Errorf("text: no line starting %q in\n%s", want[1:], text)
		}
	}
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if !strings.HasPrefix(line, "sv dash: ") {
			t.Errorf("text: a line not in sv dash's name: %q", line)
		}
	}

	var levels, hints []string
	for _, line := range strings.Split(strings.TrimSuffix(stderr("--log-format", "json"), "\n"), "\n") {
		var rec struct{ Level, Msg, Cmd, Hint string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Cmd != "sv dash" || rec.Msg == "" {
			t.Errorf("json: not a record of sv dash (%v): %q", err, line)
		}
		levels = append(levels, rec.Level)
		if rec.Hint != "" {
			hints = append(hints, rec.Hint)
		}
	}
	if !slices.Contains(levels, "WARN") || !slices.Contains(levels, "INFO") || len(hints) == 0 {
		t.Errorf("json: levels %v, hints %q: want a warning with its hint and information", levels, hints)
	}

	if quiet := stderr("--quiet"); quiet != "" {
		t.Errorf("--quiet: stderr %q, want nothing", quiet)
	}
}
