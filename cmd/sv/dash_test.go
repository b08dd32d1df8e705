package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
		{[]string{"--latency", "fast"}, "", exitUsage, "sv: error: --latency: unknown latency \"fast\" (want low or normal)\n"},
		{[]string{"--video", "vp9"}, "", exitUsage, "sv: error: --video: unknown video mode \"vp9\" (want auto, copy or h264)\n"},
		{[]string{"--audio", "mp3"}, "", exitUsage, "sv: error: --audio: unknown audio mode \"mp3\" (want auto, copy, aac or none)\n"},
		{[]string{"--ladder", "720p,abc"}, "", exitUsage, "sv: error: --ladder: bad rendition \"abc\""},
		{[]string{"--ladder", "720p,480p", "--video", "copy"}, "", exitUsage, "sv: error: --ladder needs transcoding"},
		{[]string{"--seg", "10ms"}, "", exitUsage, "sv: error: --seg must be at least 100ms, not 10ms\n"},
		{[]string{"--window", "0"}, "", exitUsage, "sv: error: --window must be at least 1, not 0"},
		{[]string{"--time-url", "127.0.0.1:8000/time"}, "", exitUsage, "sv: error: --time-url must be an http(s) URL"},
		{[]string{"extra"}, "", exitUsage, "sv: error: sv dash takes no arguments, got \"extra\" (use --in FILE)\n"},
		{[]string{"--in", "/nonexistent.webm"}, "", exitFailure, "sv: error: open /nonexistent.webm: no such file or directory\n"},
		{nil, "", exitFailure, "sv: error: no input: the stream ended before its first byte\nsv: hint: sv dash reads a WebM or MP4 stream"},
		{nil, "hello, world", exitFailure, "sv: error: input is not a WebM or MP4 stream (it starts with 68 65 6c 6c 6f 2c 20 77)\n"},
		{[]string{"--ffmpeg", "/nonexistent/ffmpeg"}, "", exitFailure, "sv: error: ffmpeg not found: /nonexistent/ffmpeg\nsv: hint: install FFmpeg (Debian/Ubuntu: apt-get install ffmpeg, or scripts/deps.sh), or point --ffmpeg at the binary\n"},
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
