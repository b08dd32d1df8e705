package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/svtool/sv/event"
)

// The flags that tell an application what happens (package event).
var (
	eventsFlag        = &cli.StringFlag{Name: "events", Usage: "append every event (publish_start, publish_end, recording_ready, ffmpeg_restart, stage_failed, scene_cut, black_*, freeze_*) as a JSON line to `FILE`; - for stdout", EnvVars: []string{"SV_EVENTS"}}
	webhookFlag       = &cli.StringSliceFlag{Name: "webhook", Usage: "POST every event as JSON to `URL` (repeatable), retried with backoff while it is down", EnvVars: []string{"SV_WEBHOOK"}}
	webhookSecretFlag = &cli.StringFlag{Name: "webhook-secret", Usage: "sign webhook bodies with HMAC-SHA256 and this `SECRET` (header X-Sv-Signature: sha256=HEX)", EnvVars: []string{"SV_WEBHOOK_SECRET"}}
	onEventFlag       = &cli.StringFlag{Name: "on-event", Usage: "run `CMD` (with sh -c) for every event: the event's JSON on its stdin, SV_EVENT, SV_STREAM, SV_SESSION, SV_EVENT_ID in its environment", EnvVars: []string{"SV_ON_EVENT"}}
)

// eventsClose bounds how long sv waits, on its way out, for the events still queued.
const eventsClose = 10 * time.Second

// eventBus starts the bus the event flags ask for, nil when none does. close delivers
// what is queued (within eventsClose) and closes the events file.
func eventBus(c *cli.Context, stdout io.Writer, log *slog.Logger) (bus *event.Bus, close func(), err error) {
	var sinks []event.Sink
	for _, u := range c.StringSlice("webhook") {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, nil, usagef("--webhook: want an http:// or https:// URL, got %q", u)
		}
		sinks = append(sinks, &event.Webhook{URL: u, Secret: c.String("webhook-secret")})
	}
	if len(sinks) == 0 && c.IsSet("webhook-secret") {
		return nil, nil, usagef("--webhook-secret needs --webhook")
	}
	var file *os.File
	switch name := c.String("events"); name {
	case "":
	case "-":
		sinks = append(sinks, &event.Lines{W: stdout, Name: "stdout"})
	default:
		if file, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
			return nil, nil, fmt.Errorf("--events: %w", err)
		}
		sinks = append(sinks, &event.Lines{W: file, Name: name})
	}
	if cmd := c.String("on-event"); cmd != "" {
		sinks = append(sinks, &event.Command{Cmd: cmd})
	}
	if len(sinks) == 0 {
		return nil, func() {}, nil
	}
	bus = event.New(event.Options{Log: log.With("part", "events")}, sinks...)
	return bus, func() {
		ctx, cancel := context.WithTimeout(context.Background(), eventsClose)
		defer cancel()
		if err := bus.Close(ctx); err != nil {
			log.Warn("events: "+err.Error(), "after", eventsClose)
		}
		if file != nil {
			if err := file.Close(); err != nil {
				log.Warn("events: cannot close "+file.Name(), "err", err)
			}
		}
	}, nil
}
