package ffmpeg_test

import (
	"context"
	"fmt"

	"github.com/svtool/sv/ffmpeg"
)

// Run FFmpeg on a generated test picture and follow its progress.
func ExampleStart() {
	var last ffmpeg.Progress
	p, err := ffmpeg.Start(context.Background(), ffmpeg.Config{
		Args: []string{"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "1",
			"-f", "null", "-"},
		Progress: func(pr ffmpeg.Progress) { last = pr },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Wait(); err != nil {
		fmt.Println(err) // "ffmpeg exited with status 1: <its last log lines>"
		return
	}
	fmt.Println(last.Frame, last.End)
	// Output: 25 true
}
