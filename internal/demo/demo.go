// Package demo is the publisher behind `sv all --demo`: a browser recording embedded in
// the binary, replayed in a loop as one endless live stream, so that sv shows live video
// and analysis on a machine with no camera.
//
// The loop is FFmpeg's (-stream_loop -1 with the streams copied), which keeps the
// timestamps rising from one pass to the next: the server sees one session, not a new
// stream every 15 s. ws.Publish paces it in real time by those timestamps, exactly as it
// replays a recording for `sv send --rate realtime`.
package demo

import (
	"context"
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/svtool/sv/ffmpeg"
	"github.com/svtool/sv/ws"
)

// Recording is the embedded recording: 15 s of Chromium's fake camera, 640x480 H.264 with
// a keyframe every second, and Opus, as the capture page records it.
//
//go:embed demo.webm
var Recording []byte

// Stream is the name the demo publishes under.
const Stream = "demo"

// retry is how long Run waits before publishing again after a failure.
const retry = 2 * time.Second

// Options configures Run.
type Options struct {
	FFmpeg string      // the FFmpeg binary; "" means "ffmpeg"
	Token  string      // sent to the server when set
	TLS    *tls.Config // for a wss:// url
	Log    *slog.Logger
}

// Run publishes the looped recording to url (ws://HOST/ingest/demo) until ctx ends,
// starting again after a pause whenever the server refuses or closes the stream. It
// returns nil when ctx ends.
func Run(ctx context.Context, url string, o Options) error {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f, err := os.CreateTemp("", "sv-demo-*.webm")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(Recording)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	for {
		err := publish(ctx, url, f.Name(), o)
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("demo publisher stopped; starting again", "err", err, "in", retry)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retry):
		}
	}
}

// publish runs one session: FFmpeg loops the file into a pipe that ws.Publish sends.
func publish(ctx context.Context, url, file string, o Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	p, err := ffmpeg.Start(ctx, ffmpeg.Config{
		Path:   o.FFmpeg,
		Args:   []string{"-loglevel", "error", "-stream_loop", "-1", "-i", file, "-map", "0", "-c", "copy", "-f", "matroska", "-live", "1", "pipe:1"},
		Stdout: pw,
	})
	if err != nil {
		return err
	}
	go func() {
		pw.CloseWithError(p.Wait())
	}()
	err = ws.Publish(ctx, url, pr, ws.PublishOptions{Token: o.Token, Realtime: true, TLS: o.TLS})
	pr.CloseWithError(errors.New("publisher ended"))
	cancel()
	p.Wait()
	if err == nil {
		err = errors.New("the looped stream ended")
	}
	return err
}
