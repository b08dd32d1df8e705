package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/svtool/sv/dash"
	"github.com/svtool/sv/ffmpeg"
	"github.com/svtool/sv/media"
)

func dashCommand() *cli.Command {
	return &cli.Command{
		Name:      "dash",
		Usage:     "package a live WebM or MP4 stream on stdin as low-latency MPEG-DASH and HLS",
		UsageText: "sv dash [options] < stream.webm",
		Description: `Reads one live stream (a browser's MediaRecorder output, from sv recv) and writes a live
MPEG-DASH presentation and low-latency HLS over the same CMAF segments into --out:
manifest.mpd, master.m3u8, media playlists, init segments, segments and LL-HLS parts
(--part). FFmpeg copies H.264 and transcodes anything else to H.264 (--video); sv cuts the
segments and parts and writes the manifests itself, timed by when the frames arrived. Opus
audio gets an AAC rendition for HLS (--hls-audio). Serve --out with sv serve, which streams
segments still being written and answers LL-HLS blocking reloads. When the input ends (or
on Ctrl-C) the manifests say the stream has ended (the MPD becomes static only with
--record) and sv dash exits 0.

--out must be empty or hold an earlier output of sv dash; --force uses any directory but
still deletes only the names sv dash writes.

Examples:
   sv recv | sv dash --out output/live/cam
   sv dash --in recording.webm --record --out output/vod/talk
   sv recv | sv dash --ladder 720p,480p,240p --time-url http://192.0.2.7:8000/time
   sv recv | sv dash --part 100ms --hls-audio same
   sv recv | sv dash --latency normal --seg 4s --window 30 --ffmpeg-log ffmpeg.log`,
		Flags: slices.Concat([]cli.Flag{
			inFlag,
			&cli.StringFlag{Name: "out", Value: dash.DefaultOut, Usage: "output `DIR`", EnvVars: []string{"SV_OUT"}},
			&cli.BoolFlag{Name: "force", Usage: "use --out even if it holds files sv dash did not write", EnvVars: []string{"SV_FORCE"}},
		}, packagingFlags, []cli.Flag{
			&cli.BoolFlag{Name: "record", Usage: "keep every segment: a complete on-demand presentation when the input ends", EnvVars: []string{"SV_RECORD"}},
			&cli.StringFlag{Name: "time-url", Value: dash.DefaultTimeURL, Usage: "clock the players sync to (sv serve's /time)", EnvVars: []string{"SV_TIME_URL"}},
			ffmpegFlag,
			ffmpegLogFlag,
			verboseFlag,
			quietFlag,
			progressFlag,
			logFormatFlag,
		}),
		Action: dashAction,
	}
}

func dashAction(c *cli.Context) error {
	e := envOf(c)
	if err := noArgs(c, "use --in FILE"); err != nil {
		return err
	}
	o, err := dashOptions(c)
	if err != nil {
		return err
	}
	in, closeIn, err := stageInput(c)
	if err != nil {
		return err
	}
	defer closeIn()
	log, closeLog, err := stageLogger(c)
	if err != nil {
		return err
	}
	defer closeLog()
	o.Log = log
	bar := newProgress(c, "dash")
	defer bar.Finish()
	o.Progress = func(p dash.Progress) {
		bar.Describe(fmt.Sprintf("dash · %d segments · %d frames · %.0f fps · %.2fx", p.Segments, p.Frames, p.FPS, p.Speed))
		bar.Set64(p.InputBytes)
	}

	start := time.Now()
	err = dash.Run(e.ctx, in, o)
	bar.Finish()
	if err != nil {
		return dashHint(err)
	}
	if !c.Bool("quiet") {
		infof(c, "done in %s: %s/manifest.mpd and master.m3u8 are complete", time.Since(start).Round(100*time.Millisecond), strings.TrimSuffix(o.Out, "/"))
	}
	return nil
}

// dashHint adds to an error of dash.Run what the user can do about it.
func dashHint(err error) error {
	var copyErr *dash.CopyError
	switch {
	case errors.As(err, &copyErr) && copyErr.Track == "video":
		return withHint(err, "transcode it: use --video h264 or auto")
	case errors.As(err, &copyErr):
		return withHint(err, "transcode it: use --audio aac or auto")
	case errors.Is(err, ffmpeg.ErrNotFound):
		return withHint(err, ffmpegHint)
	case errors.Is(err, dash.ErrNotOurs):
		return withHint(err, "choose an empty or new --out, or pass --force (sv dash deletes only the names it writes)")
	case errors.Is(err, media.ErrNotMedia), errors.Is(err, dash.ErrTruncated), errors.Is(err, dash.ErrNoInput):
		return withHint(err, "sv dash reads a WebM or MP4 stream as MediaRecorder writes it, from its first byte")
	}
	return err
}

// dashOptions turns the flags into dash.Options; mistakes are usage errors.
func dashOptions(c *cli.Context) (dash.Options, error) {
	o := dash.Options{
		Out:     c.String("out"),
		Force:   c.Bool("force"),
		Record:  c.Bool("record"),
		TimeURL: c.String("time-url"),
		FFmpeg:  c.String("ffmpeg"),
	}
	if err := packagingOptions(c, &o); err != nil {
		return o, err
	}
	switch {
	case o.Out == "":
		return o, usagef("--out must not be empty")
	case o.TimeURL == "" || !(strings.HasPrefix(o.TimeURL, "http://") || strings.HasPrefix(o.TimeURL, "https://")):
		return o, usagef("--time-url must be an http(s) URL, not %q", o.TimeURL)
	}
	return o, nil
}
