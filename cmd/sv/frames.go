package main

import (
	"errors"
	"fmt"
	"io"
	"os"
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
		Flags: []cli.Flag{
			inFlag,
			&cli.BoolFlag{Name: "events-only", Usage: "print only events and the summary, not every frame", EnvVars: []string{"SV_EVENTS_ONLY"}},
			&cli.IntFlag{Name: "width", Value: frames.DefaultWidth, Usage: "analysis width in pixels (even, 64 to 7680); the aspect ratio is kept", EnvVars: []string{"SV_WIDTH"}},
			&cli.Float64Flag{Name: "fps", Usage: "analyse at most `N` frames per second (default: every frame)", EnvVars: []string{"SV_FPS"}},
			&cli.Float64Flag{Name: "scene", Value: frames.DefaultSceneThreshold, Usage: "scene score (0-1) from which a frame is a cut; FFmpeg's scdet threshold / 100", EnvVars: []string{"SV_SCENE"}},
			&cli.Float64Flag{Name: "black-pixel", Value: frames.DefaultBlackPixel, Usage: "luma (0-1) at or below which a pixel is black", EnvVars: []string{"SV_BLACK_PIXEL"}},
			&cli.Float64Flag{Name: "black-ratio", Value: frames.DefaultBlackRatio, Usage: "share of black pixels (0-1) that makes a frame black", EnvVars: []string{"SV_BLACK_RATIO"}},
			&cli.DurationFlag{Name: "black-min", Value: frames.DefaultBlackMin, Usage: "shortest black stretch reported", EnvVars: []string{"SV_BLACK_MIN"}},
			&cli.Float64Flag{Name: "freeze-noise", Value: frames.DefaultFreezeNoise, Usage: "mean luma difference (0-1) under which a frame repeats the last", EnvVars: []string{"SV_FREEZE_NOISE"}},
			&cli.DurationFlag{Name: "freeze-min", Value: frames.DefaultFreezeMin, Usage: "shortest frozen stretch reported", EnvVars: []string{"SV_FREEZE_MIN"}},
			&cli.StringFlag{Name: "thumbs", Usage: "write JPEG thumbnails, named by timestamp in ms, into `DIR`", EnvVars: []string{"SV_THUMBS"}},
			&cli.DurationFlag{Name: "every", Value: frames.DefaultThumbEvery, Usage: "a thumbnail every so much media time (and one at each scene cut)", EnvVars: []string{"SV_EVERY"}},
			&cli.BoolFlag{Name: "low-delay", Usage: "decode each frame as it arrives (default: on for pipes, off for files)", EnvVars: []string{"SV_LOW_DELAY"}},
			ffmpegFlag,
			ffmpegLogFlag,
			verboseFlag,
			quietFlag,
			progressFlag,
			logFormatFlag,
		},
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
		Width:          c.Int("width"),
		FPS:            c.Float64("fps"),
		SceneThreshold: c.Float64("scene"),
		BlackPixel:     c.Float64("black-pixel"),
		BlackRatio:     c.Float64("black-ratio"),
		BlackMin:       c.Duration("black-min"),
		FreezeNoise:    c.Float64("freeze-noise"),
		FreezeMin:      c.Duration("freeze-min"),
		ThumbDir:       c.String("thumbs"),
		ThumbEvery:     c.Duration("every"),
		LowDelay:       c.Bool("low-delay"),
		FFmpeg:         c.String("ffmpeg"),
	}
	between := func(name string, v float64) error {
		if !(v > 0 && v <= 1) {
			return usagef("--%s must be above 0 and at most 1, not %v", name, v)
		}
		return nil
	}
	switch {
	case o.Width < 64 || o.Width > 7680 || o.Width%2 != 0:
		return o, usagef("--width must be an even number from 64 to 7680, not %d", o.Width)
	case o.FPS < 0:
		return o, usagef("--fps must not be negative, not %v", o.FPS)
	case o.BlackMin <= 0:
		return o, usagef("--black-min must be positive, not %s", o.BlackMin)
	case o.FreezeMin <= 0:
		return o, usagef("--freeze-min must be positive, not %s", o.FreezeMin)
	case o.ThumbEvery <= 0:
		return o, usagef("--every must be positive, not %s", o.ThumbEvery)
	case c.IsSet("every") && o.ThumbDir == "":
		return o, usagef("--every needs --thumbs DIR")
	}
	for _, f := range []string{"scene", "black-pixel", "black-ratio", "freeze-noise"} {
		if err := between(f, c.Float64(f)); err != nil {
			return o, err
		}
	}
	return o, nil
}
