// Package testenv is what sv's tests need from the machine they run on: the tools (FFmpeg,
// Chromium, versitygw as an S3-compatible store) and the browser recordings in testdata.
// A missing tool skips a test on a developer's machine and fails it in CI (CI=true),
// where skipping would hide it.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Hang is how long a test waits for something that takes a moment on a quiet machine
// before it calls it a hang. It is generous on purpose: tests check what happens, the
// benchmarks how fast, and a busy machine can be many times slower than a quiet one.
const Hang = time.Minute

// WaitFor calls cond every few milliseconds until it is true, and fails the test if it is
// still false after Hang; what says what was waited for.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Hang)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", Hang, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Require returns the path of each tool, skipping the test (failing it in CI) when one is
// missing.
func Require(t testing.TB, tools ...string) []string {
	t.Helper()
	paths := make([]string, len(tools))
	for i, tool := range tools {
		p, err := exec.LookPath(tool)
		if err != nil {
			missing(t, tool+" is not installed: run scripts/deps.sh")
		}
		paths[i] = p
	}
	return paths
}

// RequireFFmpeg requires ffmpeg and ffprobe.
func RequireFFmpeg(t testing.TB) { t.Helper(); Require(t, "ffmpeg", "ffprobe") }

// RequireChromium returns the path of Chromium (Debian's chromium, or another build of it).
func RequireChromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	missing(t, "chromium is not installed: run scripts/deps.sh")
	return ""
}

func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Dir is the repository's testdata directory, holding the browser recordings.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata")
}

// Recordings returns the paths of every browser recording in testdata, sorted.
func Recordings(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, pat := range []string{"*.webm", "*.mp4"} {
		m, _ := filepath.Glob(filepath.Join(Dir(), pat))
		files = append(files, m...)
	}
	if len(files) == 0 {
		missing(t, "no recordings in "+Dir())
	}
	return files
}
