package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/svtool/sv/ffmpeg"
	"github.com/svtool/sv/frames"
)

func framesCommand() *cli.Command {
	return &cli.Command{
		Name:      "frames",
		Usage:     "decode a live stream on stdin and analyse every frame, as JSON lines",
		UsageText: "sv frames [options] < stream.webm > frames.jsonl",
		Description: `Decodes one stream (a browser's MediaRecorder output, from sv recv, or a file) with an
FFmpeg child and analyses every video frame in Go: mean luma, contrast, motion, sharpness
and a scene-change score, each frame with its exact source timestamp. Events are reported
as they are found: scene cuts, black and frozen stretches. Frames whose picture carries the
capture page's timecode strip also get their capture time and latency. One JSON object
per line on stdout, a summary last; the schema is in the README.

A publisher that vanishes mid-stream is not an error: what arrived is analysed, the
summary is written and sv frames exits 0. Input that is not a video stream is (exit 1),
and so is FFmpeg failing mid-stream (exit 1, after the summary). Ctrl-C writes the
summary and exits 130.

Examples:
   sv recv | sv frames > frames.jsonl
   sv frames --in testdata/h264-cuts.webm --events-only
   sv recv | sv frames --fps 5 --thumbs thumbs --every 10s > frames.jsonl
   sv frames --black-min 500ms --freeze-min 1s < recording.webm | jq 'select(.type != "frame")'`,
		Flags: slices.Concat([]cli.Flag{
			inFlag,
			&cli.BoolFlag{Name: "events-only", Usage: "print only events and the summary, not every frame", EnvVars: []string{"SV_EVENTS_ONLY"}},
		}, analysisFlags, []cli.Flag{
			&cli.StringFlag{Name: "thumbs", Usage: "write JPEG thumbnails, named by timestamp in ms, into `DIR`", EnvVars: []string{"SV_THUMBS"}},
			&cli.DurationFlag{Name: "every", Value: frames.DefaultThumbEvery, Usage: "a thumbnail every so much media time (and one at each scene cut)", EnvVars: []string{"SV_EVERY"}},
			&cli.BoolFlag{Name: "low-delay", Usage: "decode each frame as it arrives (default: on for pipes, off for files)", EnvVars: []string{"SV_LOW_DELAY"}},
			ffmpegFlag,
			ffmpegLogFlag,
			verboseFlag,
			quietFlag,
			progressFlag,
			logFormatFlag,
		}),
		Action: framesAction,
	}
}

func framesAction(c *cli.Context) error {
	e := envOf(c)
	if err := noArgs(c, "use --in FILE or stdin"); err != nil {
		return err
	}
	o, err := framesOptions(c)
	if err != nil {
		return err
	}
	in, finish, err := framesSetup(c, &o)
	if err != nil {
		return err
	}
	defer finish()

	// With live input every line is flushed at once, for whoever follows the output.
	out := frames.NewWriter(e.stdout, frames.WriterOptions{EventsOnly: c.Bool("events-only"), FlushEach: o.LowDelay})
	err = frames.Run(e.ctx, in, out.Write, o)
	finish()
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = ferr
	}
	switch {
	case errors.Is(err, ffmpeg.ErrNotFound):
		return withHint(err, ffmpegHint)
	case errors.Is(err, frames.ErrNoVideo):
		return withHint(err, "sv frames reads a WebM or MP4 stream with video, as MediaRecorder writes it")
	case err != nil:
		return err
	}
	if s := out.Summary(); s != nil && !c.Bool("quiet") {
		infof(c, "%d frames (%d analysed) in %s, %.0f fps, %.1fx real time: %d scene cuts, %d black, %d frozen",
			s.Frames, s.Analysed, s.Elapsed.Round(10*time.Millisecond), s.FPS, s.Speed, s.SceneCuts, s.Blacks, s.Freezes)
	}
	return nil
}

// framesSetup opens the input and wires what frames.Run reports into o: its log, and a
// progress bar counting the input's bytes. It makes the thumbnail directory. Call finish
// when done (more than once is fine).
func framesSetup(c *cli.Context, o *frames.Options) (in io.Reader, finish func(), err error) {
	in, closeIn, err := stageInput(c)
	if err != nil {
		return nil, nil, err
	}
	if !c.IsSet("low-delay") {
		o.LowDelay = !isRegularFile(in) // live input: frames as soon as they arrive
	}
	if o.ThumbDir != "" {
		if err := os.MkdirAll(o.ThumbDir, 0o755); err != nil {
			closeIn()
			return nil, nil, fmt.Errorf("thumbnail directory: %w", err)
		}
	}
	log, closeLog, err := stageLogger(c)
	if err != nil {
		closeIn()
		return nil, nil, err
	}
	o.Log = log
	var read atomic.Int64
	bar := newProgress(c, "frames")
	o.Progress = func(s frames.Stats) {
		bar.Describe(fmt.Sprintf("frames · %d decoded · %d analysed · %.0f fps · %.2fx", s.Frames, s.Analysed, s.FPS, s.Speed))
		bar.Set64(read.Load())
	}
	var once sync.Once
	return countingReader{in, &read}, func() {
		once.Do(func() {
			bar.Finish()
			closeLog()
			closeIn()
		})
	}, nil
}

// framesOptions turns the flags into frames.Options; mistakes are usage errors.
func framesOptions(c *cli.Context) (frames.Options, error) {
	o := frames.Options{
		ThumbDir:   c.String("thumbs"),
		ThumbEvery: c.Duration("every"),
		LowDelay:   c.Bool("low-delay"),
		FFmpeg:     c.String("ffmpeg"),
	}
	if err := analysisOptions(c, &o); err != nil {
		return o, err
	}
	switch {
	case o.ThumbEvery <= 0:
		return o, usagef("--every must be positive, not %s", o.ThumbEvery)
	case c.IsSet("every") && o.ThumbDir == "":
		return o, usagef("--every needs --thumbs DIR")
	}
	return o, nil
}
