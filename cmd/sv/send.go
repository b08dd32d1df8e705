package main

import (
	"fmt"
	"io"
	"log/slog"
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

With --reconnect, a lost connection (or a server closing it while going away or
failing) does not end the stream: sv send connects again, with backoff, for up to that
long, and goes on as a browser's new recorder would: the stream's header, then the media
from the next keyframe cluster (in real time, the media of the time without a
connection is skipped). Behind a load balancer, the stream then lands on another node.

Examples:
   sv send testdata/h264-opus-kf1s.webm ws://127.0.0.1:8080/ingest/cam
   sv send --rate max recording.webm ws://127.0.0.1:8080/ingest/test
   cat recording.webm | sv send --token "$SV_TOKEN" - ws://example.org:8080/ingest/cam
   sv send --reconnect 1m recording.webm ws://balancer.example/ingest/cam`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "rate", Value: "realtime", Usage: "realtime (paced by the media timestamps) or max", EnvVars: []string{"SV_RATE"}},
			&cli.DurationFlag{Name: "chunk", Value: ws.DefaultChunk, Usage: "media per message, like MediaRecorder's timeslice", EnvVars: []string{"SV_CHUNK"}},
			&cli.StringFlag{Name: "token", Usage: "token to publish with", EnvVars: []string{"SV_TOKEN"}},
			&cli.StringFlag{Name: "origin", Usage: "send this Origin header, as a browser page would"},
			&cli.DurationFlag{Name: "reconnect", Usage: "after a lost connection, connect again for up to this long and go on from the next keyframe (0: the stream ends with its connection)", EnvVars: []string{"SV_RECONNECT"}},
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
	logReconnects(logger(c), &o)
	if err := ws.Publish(e.ctx, target, in, o); err != nil {
		return err
	}
	bar.Finish()
	if !c.Bool("quiet") {
		sessions := ""
		if last.Session > 1 {
			sessions = fmt.Sprintf(" over %d sessions", last.Session)
		}
		infof(c, "sent %s in %d messages%s, %s of media in %s", formatSize(last.Total), last.Messages, sessions,
			last.Media.Round(time.Millisecond), last.Wall.Round(time.Millisecond))
	}
	return nil
}

// logReconnects logs each lost connection, failed attempt and resumed session of a
// publisher with --reconnect.
func logReconnects(log *slog.Logger, o *ws.PublishOptions) {
	o.OnRetry = func(r ws.Retry) {
		if r.Attempt == 0 {
			log.Warn("connection lost; connecting again", "err", r.Err, "sent", r.Sent, "in", r.Wait.Round(time.Millisecond))
		} else {
			log.Warn("could not connect", "err", r.Err, "attempt", r.Attempt, "next_in", r.Wait.Round(time.Millisecond))
		}
	}
	o.OnResume = func(r ws.Resume) {
		log.Info("stream resumed in a new session at a keyframe", "session", r.Session, "from", r.From,
			"media", r.Media.Round(time.Millisecond), "after", r.Down.Round(time.Millisecond), "attempts", r.Attempts, "skipped", r.Skipped)
	}
}

// sendOptions turns the flags into ws.PublishOptions and checks the URL; mistakes are
// usage errors.
func sendOptions(c *cli.Context, target string) (ws.PublishOptions, error) {
	o := ws.PublishOptions{
		Token:  c.String("token"),
		Origin: c.String("origin"),
		Chunk:  c.Duration("chunk"),

		Reconnect: c.Duration("reconnect"),
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
	if o.Reconnect < 0 {
		return o, usagef("--reconnect must not be negative")
	}
	if u, err := url.Parse(target); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return o, usagef("URL must look like ws://HOST:PORT/ingest/STREAM, not %q", target)
	}
	return o, nil
}
