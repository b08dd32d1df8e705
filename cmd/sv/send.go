package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/svtool/sv/ws"
)

func sendCommand() *cli.Command {
	return &cli.Command{
		Name:      "send",
		Usage:     "publish a recording over a WebSocket the way a browser does",
		UsageText: "sv send [options] FILE|- URL",
		Description: `Publishes a recorded WebM or fragmented MP4 stream to an ingest URL (sv recv, sv all):
the header with the first chunk, then one message per --chunk of media, paced by the
stream's own timestamps (--rate realtime) or as fast as the socket takes them (--rate max).
Exits 0 once the server has confirmed it stored the whole stream.

Examples:
   sv send testdata/h264-opus-kf1s.webm ws://127.0.0.1:8080/ingest/cam
   sv send --rate max recording.webm ws://127.0.0.1:8080/ingest/test
   cat recording.webm | sv send --token "$SV_TOKEN" - ws://example.org:8080/ingest/cam`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "rate", Value: "realtime", Usage: "realtime (paced by the media timestamps) or max", EnvVars: []string{"SV_RATE"}},
			&cli.DurationFlag{Name: "chunk", Value: ws.DefaultChunk, Usage: "media per message, like MediaRecorder's timeslice", EnvVars: []string{"SV_CHUNK"}},
			&cli.StringFlag{Name: "token", Usage: "token to publish with", EnvVars: []string{"SV_TOKEN"}},
			&cli.StringFlag{Name: "origin", Usage: "send this Origin header, as a browser page would"},
			quietFlag,
			progressFlag,
			logFormatFlag,
		},
		Action: sendAction,
	}
}

func sendAction(c *cli.Context) error {
	e := envOf(c)
	if c.NArg() != 2 {
		return usagef("needs FILE (or - for stdin) and URL, got %d arguments", c.NArg())
	}
	name, target := c.Args().Get(0), c.Args().Get(1)
	o, err := sendOptions(c, target)
	if err != nil {
		return err
	}
	var in io.Reader = e.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}

	bar := newProgress(c, "sending")
	defer bar.Finish()
	var last ws.Sent
	o.OnSend = func(s ws.Sent) {
		last = s
		bar.Describe(fmt.Sprintf("sending · media %s · %d msgs", s.Media.Round(100*time.Millisecond), s.Messages))
		bar.Set64(s.Total)
	}
	if err := ws.Publish(e.ctx, target, in, o); err != nil {
		return err
	}
	bar.Finish()
	if !c.Bool("quiet") {
		infof(c, "sent %s in %d messages, %s of media in %s", formatSize(last.Total), last.Messages,
			last.Media.Round(time.Millisecond), last.Wall.Round(time.Millisecond))
	}
	return nil
}

// sendOptions turns the flags into ws.PublishOptions and checks the URL; mistakes are
// usage errors.
func sendOptions(c *cli.Context, target string) (ws.PublishOptions, error) {
	o := ws.PublishOptions{
		Token:  c.String("token"),
		Origin: c.String("origin"),
		Chunk:  c.Duration("chunk"),
	}
	switch c.String("rate") {
	case "realtime":
		o.Realtime = true
	case "max":
	default:
		return o, usagef("--rate must be realtime or max, not %q", c.String("rate"))
	}
	if o.Chunk <= 0 {
		return o, usagef("--chunk must be positive")
	}
	if u, err := url.Parse(target); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return o, usagef("URL must look like ws://HOST:PORT/ingest/STREAM, not %q", target)
	}
	return o, nil
}
