package main

import (
	"errors"
	"fmt"
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
		Flags: []cli.Flag{
			inFlag,
			&cli.StringFlag{Name: "out", Value: dash.DefaultOut, Usage: "output `DIR`", EnvVars: []string{"SV_OUT"}},
			&cli.BoolFlag{Name: "force", Usage: "use --out even if it holds files sv dash did not write", EnvVars: []string{"SV_FORCE"}},
			latencyFlag,
			partFlag,
			hlsAudioFlag,
			videoFlag,
			&cli.StringFlag{Name: "audio", Value: "auto", Usage: "auto (copy Opus and AAC, transcode the rest), copy, aac or none", EnvVars: []string{"SV_AUDIO"}},
			&cli.StringFlag{Name: "ladder", Usage: "H.264 renditions for adaptive bitrate, e.g. `720p,480p,240p` (default: one)", EnvVars: []string{"SV_LADDER"}},
			&cli.DurationFlag{Name: "seg", Usage: "segment duration", DefaultText: "1s low, 2s normal", EnvVars: []string{"SV_SEG"}},
			&cli.IntFlag{Name: "window", Value: dash.DefaultWindow, Usage: "segments in the live manifest; older ones are deleted", EnvVars: []string{"SV_WINDOW"}},
			&cli.BoolFlag{Name: "record", Usage: "keep every segment: a complete on-demand presentation when the input ends", EnvVars: []string{"SV_RECORD"}},
			&cli.StringFlag{Name: "time-url", Value: dash.DefaultTimeURL, Usage: "clock the players sync to (sv serve's /time)", EnvVars: []string{"SV_TIME_URL"}},
			ffmpegFlag,
			ffmpegLogFlag,
			&cli.StringFlag{Name: "preset", Value: dash.DefaultPreset, Usage: "x264 preset when transcoding (ultrafast .. medium)", EnvVars: []string{"SV_PRESET"}},
			verboseFlag,
			quietFlag,
			progressFlag,
			logFormatFlag,
		},
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
		Segment: c.Duration("seg"),
		Window:  c.Int("window"),
		Record:  c.Bool("record"),
		TimeURL: c.String("time-url"),
		FFmpeg:  c.String("ffmpeg"),
		Preset:  c.String("preset"),
	}
	err := latencyAndVideo(c, &o)
	if err != nil {
		return o, err
	}
	if o.Audio, err = dash.ParseAudioMode(c.String("audio")); err != nil {
		return o, usagef("--audio: %v", err)
	}
	if o.Ladder, err = dash.ParseLadder(c.String("ladder")); err != nil {
		return o, usagef("--ladder: %v", err)
	}
	switch {
	case o.Out == "":
		return o, usagef("--out must not be empty")
	case c.IsSet("seg") && o.Segment < 100*time.Millisecond:
		return o, usagef("--seg must be at least 100ms, not %s", o.Segment)
	case o.Window < 1:
		return o, usagef("--window must be at least 1, not %d (use --record to keep everything)", o.Window)
	case o.Video == dash.VideoCopy && len(o.Ladder) > 1:
		return o, usagef("--ladder needs transcoding: it cannot go with --video copy")
	case o.TimeURL == "" || !(strings.HasPrefix(o.TimeURL, "http://") || strings.HasPrefix(o.TimeURL, "https://")):
		return o, usagef("--time-url must be an http(s) URL, not %q", o.TimeURL)
	}
	return o, nil
}
