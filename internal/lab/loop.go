package lab

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// LoopRecording writes the recording clip (a path) looped n times, with its timestamps
// going on from loop to loop, as one Matroska stream with the streams copied, and returns
// its path: a publisher's input longer than a test recording. FFmpeg writes it to a pipe,
// so that, as in a browser's live recording, its Segment has no size: a new session made
// of its header and a later part of it is a whole stream.
func LoopRecording(t testing.TB, clip string, n int) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(clip), filepath.Ext(clip))+"-looped.mkv")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-stream_loop", strconv.Itoa(n-1),
		"-i", clip, "-c", "copy", "-f", "matroska", "pipe:1")
	cmd.Stdout, cmd.Stderr = f, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("loop %s: %v\n%s", clip, err, stderr.Bytes())
	}
	return out
}
