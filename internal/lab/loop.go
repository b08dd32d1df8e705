package lab

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// LoopRecording writes the recording clip (a path) looped n times, with its timestamps
// going on from loop to loop, as one Matroska stream with the streams copied, and returns
// its path: a publisher's input longer than a test recording.
func LoopRecording(t testing.TB, clip string, n int) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(clip), filepath.Ext(clip))+"-looped.mkv")
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-stream_loop", strconv.Itoa(n-1),
		"-i", clip, "-c", "copy", "-f", "matroska", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("loop %s: %v\n%s", clip, err, b)
	}
	return out
}
