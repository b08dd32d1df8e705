package main

import (
	"context"
	"fmt"
	"net"

	"github.com/urfave/cli/v2"

	"github.com/svtool/sv/dash"
	"github.com/svtool/sv/ffmpeg"
	"github.com/svtool/sv/live"
	"github.com/svtool/sv/ws"
)

func allCommand() *cli.Command {
	return &cli.Command{
		Name:      "all",
		Usage:     "the whole pipeline in one process: ingest, record, package, analyse and serve",
		UsageText: "sv all [options]",
		Description: `Runs every stage on one address: publishers (the capture page, sv send) at
ws://LISTEN/ingest/{stream}, the pages and the media at http://LISTEN/, /healthz. Each
live stream is recorded byte for byte into OUT/recordings/{stream}/{start}.webm (or .mp4),
with a seekable copy beside it when the stream ends ({start}.seekable.mkv or .mp4),
packaged as live DASH and HLS into OUT/live/{stream} (as sv dash) and analysed into
OUT/live/{stream}/frames.jsonl (as sv frames). A slow analysis never holds up the rest:
when it falls behind, it stops for that stream and its summary says so.

A publisher that reconnects under the same name starts a new session in the same folder
and a new recording. Ctrl-C closes the publishers, finishes every stream (recordings
fsynced, manifests static) and exits 130.

Examples:
   sv all                                         # then open http://127.0.0.1:8080/capture?stream=cam
   sv send --rate realtime testdata/h264-opus-kf1s.webm ws://127.0.0.1:8080/ingest/demo
   sv all --listen 0.0.0.0:8080 --token "$SV_TOKEN" --max-streams 4`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8080", Usage: "address to listen on", EnvVars: []string{"SV_LISTEN"}},
			&cli.StringFlag{Name: "out", Value: "output", Usage: "output `DIR`: DIR/live/{stream} and DIR/recordings/{stream}", EnvVars: []string{"SV_OUT"}},
			&cli.IntFlag{Name: "max-streams", Value: live.DefaultMaxStreams, Usage: "most live streams at once; more are refused (HTTP 503)", EnvVars: []string{"SV_MAX_STREAMS"}},
			&cli.StringFlag{Name: "token", Usage: "require this token from publishers (?token= or Authorization: Bearer)", EnvVars: []string{"SV_TOKEN"}},
			&cli.StringSliceFlag{Name: "allow-origin", Usage: "also accept publishing pages from `ORIGIN` (repeatable; * for any)", EnvVars: []string{"SV_ALLOW_ORIGIN"}},
			&cli.StringFlag{Name: "latency", Value: "low", Usage: "low (LL-DASH, chunked CMAF, 1s segments) or normal (2s segments)", EnvVars: []string{"SV_LATENCY"}},
			&cli.StringFlag{Name: "video", Value: "auto", Usage: "auto (copy H.264, transcode the rest), copy or h264", EnvVars: []string{"SV_VIDEO"}},
			&cli.BoolFlag{Name: "seekable", Value: true, Usage: "when a stream ends, also write a seekable copy of its recording (FFmpeg, streams copied)", EnvVars: []string{"SV_SEEKABLE"}},
			ffmpegFlag,
			verboseFlag,
			quietFlag,
		},
		Action: allAction,
	}
}

func allAction(c *cli.Context) error {
	e := envOf(c)
	if c.NArg() > 0 {
		return usagef("sv all takes no arguments, got %q", c.Args().First())
	}
	o, err := allOptions(c)
	if err != nil {
		return err
	}
	if _, err := ffmpeg.LookPath(o.Dash.FFmpeg); err != nil {
		return withHint(err, "or point --ffmpeg at the binary")
	}
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return withHint(fmt.Errorf("listen: %w", err), "is another sv running? choose another address with --listen")
	}
	srv, err := live.New(o)
	if err != nil {
		ln.Close()
		return err
	}
	addr := listenAddr(c.String("listen"), ln)
	if host, _, _ := net.SplitHostPort(addr); !ws.IsLoopback(host) && o.Token == "" {
		warnf(e.stderr, "listening on %s without a token: anyone who can reach it can publish (set --token)", addr)
	}
	if !c.Bool("quiet") {
		infof(e.stderr, "serving http://%s/ (pages, media, /healthz); publishers at ws://%s/ingest/{stream}", addr, addr)
		infof(e.stderr, "capture: http://%s/capture?stream=cam   viewer: http://%s/view?stream=cam", addr, addr)
		infof(e.stderr, "writing %s/live/{stream} and %s/recordings/{stream}", o.Out, o.Out)
	}
	if err := srv.Serve(e.ctx, ln); err != nil {
		return err
	}
	return context.Canceled // only an interrupt ends the server, once every stream is finished
}

// allOptions turns the flags into live.Options; mistakes are usage errors.
func allOptions(c *cli.Context) (live.Options, error) {
	o := live.Options{
		Out:          c.String("out"),
		MaxStreams:   c.Int("max-streams"),
		Token:        c.String("token"),
		AllowOrigins: c.StringSlice("allow-origin"),
		Seekable:     c.Bool("seekable"),
		Version:      versionString(),
		Log:          logger(c),
	}
	o.Dash.FFmpeg = c.String("ffmpeg")
	o.Frames.FFmpeg = c.String("ffmpeg")
	var err error
	if o.Dash.Latency, err = dash.ParseLatency(c.String("latency")); err != nil {
		return o, usagef("--latency: %v", err)
	}
	if o.Dash.Video, err = dash.ParseVideoMode(c.String("video")); err != nil {
		return o, usagef("--video: %v", err)
	}
	switch {
	case o.Out == "":
		return o, usagef("--out must not be empty")
	case o.MaxStreams < 1:
		return o, usagef("--max-streams must be at least 1, not %d", o.MaxStreams)
	}
	if _, _, err := net.SplitHostPort(c.String("listen")); err != nil {
		return o, usagef("--listen: want host:port, got %q", c.String("listen"))
	}
	return o, nil
}
