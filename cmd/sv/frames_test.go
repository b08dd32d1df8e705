package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sv frames, run in-process: usage mistakes exit 2 before anything is read, the input's
// problems exit 1 with a hint, and stdout carries nothing but JSON lines.
func TestFramesExitCodes(t *testing.T) {
	rec := filepath.Join("..", "..", "testdata", "h264-video-only.webm")
	tests := []struct {
		args   []string
		stdin  string
		code   int
		stderr string
	}{
		{[]string{"--width", "0"}, "", exitUsage, "sv frames: error: --width must be an even number from 64 to 7680, not 0\n"},
		{[]string{"--width", "99"}, "", exitUsage, "sv frames: error: --width must be an even number from 64 to 7680, not 99\n"},
		{[]string{"--fps", "-1"}, "", exitUsage, "sv frames: error: --fps must not be negative, not -1\n"},
		{[]string{"--scene", "1.5"}, "", exitUsage, "sv frames: error: --scene must be above 0 and at most 1, not 1.5\n"},
		{[]string{"--black-ratio", "0"}, "", exitUsage, "sv frames: error: --black-ratio must be above 0 and at most 1, not 0\n"},
		{[]string{"--black-min", "0s"}, "", exitUsage, "sv frames: error: --black-min must be positive, not 0s\n"},
		{[]string{"--freeze-min", "-1s"}, "", exitUsage, "sv frames: error: --freeze-min must be positive, not -1s\n"},
		{[]string{"--every", "1s"}, "", exitUsage, "sv frames: error: --every needs --thumbs DIR\n"},
		{[]string{"extra"}, "", exitUsage, "sv frames: error: takes no arguments, got \"extra\" (use --in FILE or stdin)\n"},
		{[]string{"--in", "/nonexistent.webm"}, "", exitFailure, "sv frames: error: open /nonexistent.webm: no such file or directory\n"},
		{nil, "", exitFailure, "sv frames: error: no video frame in the input: the input is empty\nsv frames: hint: sv frames reads a WebM or MP4 stream with video"},
		{nil, "hello, world", exitFailure, "sv frames: error: no video frame in the input: ffmpeg exited with status 1: pipe:0: Invalid data found when processing input\n"},
		{[]string{"--ffmpeg", "/nonexistent/ffmpeg", "--in", rec}, "", exitFailure, "sv frames: error: ffmpeg not found: /nonexistent/ffmpeg\nsv frames: hint: install FFmpeg (Debian/Ubuntu: apt-get install ffmpeg, or scripts/deps.sh), or point --ffmpeg at the binary\n"},
		{[]string{"--fps", "2", "--events-only", "--in", rec}, "", exitOK, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			if _, err := exec.LookPath("ffmpeg"); err != nil && tt.code != exitUsage {
				t.Skip("ffmpeg is not installed")
			}
			args := append([]string{"sv", "frames", "--quiet"}, tt.args...)
			var stdout, stderr bytes.Buffer
			code := run(args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if !strings.HasPrefix(stderr.String(), tt.stderr) || (tt.stderr == "" && stderr.Len() > 0) {
				t.Errorf("stderr %q, want it to start with %q", stderr.String(), tt.stderr)
			}
			for _, line := range strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n") {
				if line != "" && !json.Valid([]byte(line)) {
					t.Errorf("stdout line is not JSON: %q", line)
				}
			}
			if tt.code != exitOK && stdout.Len() > 0 {
				t.Errorf("stdout %q after a failure", stdout.String())
			}
		})
	}
}

func TestIsRegularFile(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if !isRegularFile(f) || isRegularFile(r) || isRegularFile(strings.NewReader("")) {
		t.Errorf("file %v, pipe %v, reader %v", isRegularFile(f), isRegularFile(r), isRegularFile(strings.NewReader("")))
	}
}
