package frames

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

func fmtInt(i int64) string { return strconv.FormatInt(i, 10) }

// requireFFmpeg fails the test in CI, and skips it elsewhere, when FFmpeg is missing.
func requireFFmpeg(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed: run scripts/deps.sh", tool)
			}
			t.Skipf("%s is not installed: run scripts/deps.sh", tool)
		}
	}
}
