package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/svtool/sv/auth"
	"github.com/svtool/sv/ffmpeg"
	"github.com/svtool/sv/internal/demo"
	"github.com/svtool/sv/live"
	"github.com/svtool/sv/serve"
	"github.com/svtool/sv/stream"
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
and a new recording; within --reconnect of a dropped connection, players go on playing
the same presentation, and after it the manifests say the stream has ended. A publisher
that stops (a normal close) ends the presentation at once. A second
publisher of a live stream is refused, or takes it over with --takeover. When FFmpeg
dies mid-stream it is started again at the next keyframe; an analysis that falls behind
skips ahead to the next keyframe. /metrics counts it all (Prometheus). Ctrl-C closes
the publishers, finishes every stream at once (recordings fsynced, manifests saying the
stream has ended) and exits 130; SIGTERM (a service manager's stop) does the same and
exits 0.

--store s3://BUCKET/PREFIX also keeps every finished recording and its seekable copy in
an S3-compatible object store (--store-endpoint for one of your own), one upload at a
time, checked by SHA-256, retried while the store is down; a FILE.stored marker beside a
file says it is stored, and files without one are uploaded at the next start. With
--store-keep-local=false the file is removed once stored and played from the store.

Events tell an application what happens, one JSON object each (see the README):
publish_start, publish_end, recording_ready (with the recording's SHA-256),
ffmpeg_restart, stage_failed, and the analysis' scene_cut, black_start/end and
freeze_start/end. --events appends them to a file (- for stdout), --webhook POSTs them
(signed with --webhook-secret, retried while the receiver is down), --on-event runs a
command per event. None of them ever holds up the streams: each has a queue of 1024
events, and past it the oldest are dropped and counted in /metrics.

--demo publishes a recording built into sv, in a loop, as the stream "demo": live video
and analysis with no camera. On a terminal, a status line shows the live streams, their
bitrate and viewers.

Who may publish, watch (--protect read), read /metrics (--protect metrics) and use the
control API at /api/ (see the README): --token is one publishing secret for every
stream; --keys FILE holds "STREAM KEY [ACTION,...]" lines (STREAM * for all, actions
publish, the default, read, metrics and api); --jwt-secret
and --jwt-jwks accept signed tokens whose claims name the streams and actions;
--auth-url asks the application. A token comes as ?token= or Authorization: Bearer; a
viewer's token on a manifest's URL is carried to every URL in it. --allow-host: the
names publishers may reach sv by, besides this machine's own.

Examples:
   sv all --demo --open                           # the demo stream in your browser
   sv all                                         # then open http://127.0.0.1:8080/capture?stream=cam
   sv send --rate realtime testdata/h264-opus-kf1s.webm ws://127.0.0.1:8080/ingest/test
   sv all --listen 0.0.0.0:8080 --token "$SV_TOKEN" --max-streams 4 --log-format json
   sv all --events - | jq -c 'select(.type == "recording_ready")'`,
		Flags: slices.Concat([]cli.Flag{
			configFlag,
			listenFlag("127.0.0.1:8080", "SV_LISTEN"),
			&cli.StringFlag{Name: "out", Value: "output", Usage: "output `DIR`: DIR/live/{stream} and DIR/recordings/{stream}", EnvVars: []string{"SV_OUT"}},
			&cli.IntFlag{Name: "max-streams", Value: live.DefaultMaxStreams, Usage: "most live streams at once; more are refused (HTTP 503)", EnvVars: []string{"SV_MAX_STREAMS"}},
			maxRequestsFlag,
			cacheFlag,
			tlsFlag,
			tlsCertFlag,
			tlsKeyFlag,
			frameAncestorsFlag,
			basePathFlag,
			trustedProxyFlag,
			tokenFlag,
		}, accessFlags, []cli.Flag{
			allowOriginFlag,
			allowHostFlag,
		}, packagingFlags, analysisFlags, []cli.Flag{
			recordingFlag,
			&cli.StringFlag{Name: "keep-recordings", Usage: "delete finished recordings (and their seekable copies) older than this `AGE` (7d, 36h; default: keep them)", EnvVars: []string{"SV_KEEP_RECORDINGS"}},
			&cli.StringFlag{Name: "keep-recordings-size", Usage: "delete the oldest finished recordings while all of them take more than this `SIZE` (50GiB; default: no bound)", EnvVars: []string{"SV_KEEP_RECORDINGS_SIZE"}},
			&cli.BoolFlag{Name: "takeover", Usage: "a second publisher of a live stream takes it over (the first is closed) instead of being refused", EnvVars: []string{"SV_TAKEOVER"}},
			&cli.DurationFlag{Name: "reconnect", Value: live.DefaultReconnect, Usage: "how long a stream's presentation waits for a publisher whose connection dropped to come back before its manifests say it has ended (players keep playing across a reconnect within it); a publisher that stops ends it at once", EnvVars: []string{"SV_RECONNECT"}},
			&cli.DurationFlag{Name: "max-behind", Value: live.DefaultMaxBehind, Usage: "close a publisher (1008) whose media time falls this far behind the clock: one that sends too little media, or whose network cannot carry its stream (0: no bound)", EnvVars: []string{"SV_MAX_BEHIND"}},
			&cli.DurationFlag{Name: "stop-grace", Value: live.DefaultStopGrace, Usage: "on Ctrl-C, how long live streams may take to finish on their own (manifests, analyses, seekable copies) before their FFmpeg are stopped", EnvVars: []string{"SV_STOP_GRACE"}},
			&cli.BoolFlag{Name: "seekable", Value: true, Usage: "when a stream ends, also write a seekable copy of its recording (FFmpeg, streams copied)", EnvVars: []string{"SV_SEEKABLE"}},
			&cli.StringFlag{Name: "time-url", Usage: "the clock `URL` put in the manifests (default: this server's /time; set it when players reach the server by another address)", EnvVars: []string{"SV_TIME_URL"}},
			&cli.BoolFlag{Name: "demo", Usage: "publish the built-in recording in a loop as the stream \"demo\"", EnvVars: []string{"SV_DEMO"}},
			&cli.BoolFlag{Name: "open", Usage: "open the viewer (and, without --demo, the capture page) in the default browser"},
		}, storeFlags, []cli.Flag{
			eventsFlag,
			webhookFlag,
			webhookSecretFlag,
			onEventFlag,
			ffmpegFlag,
			logFormatFlag,
			verboseFlag,
			quietFlag,
			progressFlag,
		}),
		Action: allAction,
	}
}

func allAction(c *cli.Context) error {
	e := envOf(c)
	if err := noArgs(c, ""); err != nil {
		return err
	}
	log := logger(c)
	o, keys, err := allOptions(c, log)
	if err != nil {
		return err
	}
	tlsConf, fingerprint, err := serveTLS(c)
	if err != nil {
		return err
	}
	o.TLS = tlsConf
	if _, err := ffmpeg.LookPath(o.Dash.FFmpeg); err != nil {
		return withHint(err, ffmpegHint)
	}
	bus, closeEvents, err := eventBus(c, e.stdout, log)
	if err != nil {
		return err
	}
	defer closeEvents()
	o.Events = bus
	st, err := newStore(c, o.Out, log)
	if err != nil {
		return err
	}
	if st != nil {
		o.Store = st
	}
	ln, err := listen(c, "is another sv running? choose another address with --listen")
	if err != nil {
		return err
	}
	srv, err := live.New(o)
	if err != nil {
		ln.Close()
		return err
	}
	addr := listenAddr(c.String("listen"), ln)
	warnOpen(c, addr, o.Auth.Protects(auth.Publish), "--token, --keys, --jwt-secret, --jwt-jwks or --auth-url")
	pages := allBanner(c, addr, o.Out, tlsConf != nil, fingerprint)

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	if c.Bool("demo") {
		url, dt := "ws://"+addr+stream.IngestPath(demo.Stream), (*tls.Config)(nil)
		if tlsConf != nil { // the demo trusts this server's own certificate
			url, dt = "wss://"+addr+stream.IngestPath(demo.Stream), trusting(tlsConf)
		}
		wg.Go(func() {
			demo.Run(ctx, url, demo.Options{FFmpeg: o.Dash.FFmpeg, Token: demoToken(keys), TLS: dt, Log: log})
		})
	}
	if c.Bool("open") {
		openPages(c, pages)
	}
	if con := e.con; con.progress {
		wg.Go(func() { showLive(ctx, srv, con.status) })
	}
	wg.Go(func() { reloadAuth(ctx, c, o.Auth, log) })
	if st != nil {
		wg.Go(func() { st.Run(ctx) })
	}
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	return context.Canceled // only an interrupt ends the server, once every stream is finished
}

// allBanner tells the user where everything is, and returns the pages --open opens: the
// viewer and, without --demo, the capture page.
func allBanner(c *cli.Context, addr, out string, https bool, fingerprint string) (pages []string) {
	stream := "cam"
	if c.Bool("demo") {
		stream = demo.Stream
	}
	scheme, wsScheme := "http", "ws"
	if https {
		scheme, wsScheme = "https", "wss"
	}
	capture := fmt.Sprintf("%s://%s/capture?stream=%s", scheme, addr, stream)
	viewer := fmt.Sprintf("%s://%s/view?stream=%s", scheme, addr, stream)
	if !c.Bool("quiet") {
		infof(c, "serving %s://%s/ (pages, media, /healthz, /metrics); publishers at %s://%s/ingest/{stream}", scheme, addr, wsScheme, addr)
		if fingerprint != "" && c.String("tls") == "self-signed" {
			infof(c, "self-signed certificate, SHA-256 fingerprint %s", fingerprint)
			infof(c, "browsers warn about it once: check the fingerprint, then accept it")
		}
		if c.Bool("demo") {
			infof(c, "demo: publishing a built-in recording in a loop as the stream %q", demo.Stream)
			infof(c, "viewer: %s", viewer)
		} else {
			infof(c, "capture: %s   viewer: %s", capture, viewer)
		}
		infof(c, "writing %s/live/{stream} and %s/recordings/{stream}", out, out)
		if host, _, _ := net.SplitHostPort(addr); !ws.IsLoopback(host) && !https {
			warnf(c, "browsers allow the camera only on localhost or over HTTPS: other machines need --tls self-signed (or --tls-cert)")
		}
	}
	if c.Bool("demo") {
		return []string{viewer}
	}
	return []string{capture, viewer}
}

// openPages opens pages in the default browser.
func openPages(c *cli.Context, pages []string) {
	for _, page := range pages {
		if err := openBrowser(page); err != nil {
			warnf(c, "cannot open %s: %v", page, err)
		}
	}
}

// demoToken is what the demo publisher presents: a key that may publish it.
func demoToken(keys *auth.Keys) string {
	key, _ := keys.Key(demo.Stream, auth.Publish)
	return key
}

// showLive redraws the status line every second until ctx ends: each live stream with its
// bitrate and viewers.
func showLive(ctx context.Context, srv *live.Server, status *statusLine) {
	defer status.set("")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last map[sessionKey]int64
	prev := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		var line string
		line, last = statusText(srv.Status(), last, now, now.Sub(prev))
		prev = now
		status.set(line)
	}
}

// sessionKey tells one session of a stream from the next: a publisher that reconnects
// starts again from 0 bytes.
type sessionKey struct {
	stream string
	since  time.Time
}

// statusText is the status line for streams at now, given the bytes each session had
// received at the last redraw, interval ago; it returns those to pass next time. A session
// not seen at the last redraw shows its average bitrate so far.
func statusText(streams []live.StreamStatus, last map[sessionKey]int64, now time.Time, interval time.Duration) (string, map[sessionKey]int64) {
	var b strings.Builder
	next := make(map[sessionKey]int64, len(streams))
	for _, st := range streams {
		k := sessionKey{st.Stream, st.Since}
		next[k] = st.Bytes
		bits, secs := float64(st.Bytes)*8, max(now.Sub(st.Since).Seconds(), 1)
		if before, ok := last[k]; ok && interval > 0 {
			bits, secs = float64(st.Bytes-before)*8, interval.Seconds()
		}
		fmt.Fprintf(&b, " | %s %.2f Mbit/s %d viewer%s", st.Stream, bits/secs/1e6, st.Viewers, plural(st.Viewers))
		if st.Restarts > 0 {
			fmt.Fprintf(&b, " %d restarts", st.Restarts)
		}
	}
	if len(streams) == 0 {
		return "sv: no live streams", next
	}
	return fmt.Sprintf("sv: %d live%s", len(streams), b.String()), next
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// openBrowser opens url in the desktop's default browser.
func openBrowser(url string) error {
	name := "xdg-open"
	if runtime.GOOS == "darwin" {
		name = "open"
	}
	cmd := exec.Command(name, url)
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}

// allOptions turns the flags into live.Options, and returns the static keys (the demo
// publisher presents one); mistakes are usage errors.
func allOptions(c *cli.Context, log *slog.Logger) (live.Options, *auth.Keys, error) {
	cache, err := cacheSize(c)
	if err != nil {
		return live.Options{}, nil, err
	}
	az, keys, err := authorizer(c, log)
	if err != nil {
		return live.Options{}, nil, err
	}
	o := live.Options{
		Cache:          cache,
		Out:            c.String("out"),
		MaxStreams:     c.Int("max-streams"),
		MaxRequests:    c.Int("max-requests"),
		Auth:           az,
		Takeover:       c.Bool("takeover"),
		AllowOrigins:   c.StringSlice("allow-origin"),
		AllowHosts:     allowedHosts(c),
		FrameAncestors: c.StringSlice("frame-ancestors"),
		BasePath:       c.String("base-path"),
		Seekable:       c.Bool("seekable"),
		NoRecording:    !c.Bool("recording"),
		StopGrace:      c.Duration("stop-grace"),
		Reconnect:      c.Duration("reconnect"),
		MaxBehind:      c.Duration("max-behind"),
		Version:        versionString(),
		Log:            log,
	}
	o.Dash.FFmpeg = c.String("ffmpeg")
	o.Dash.TimeURL = c.String("time-url")
	o.Frames.FFmpeg = c.String("ffmpeg")
	if err := packagingOptions(c, &o.Dash); err != nil {
		return o, nil, err
	}
	if err := analysisOptions(c, &o.Frames); err != nil {
		return o, nil, err
	}
	if o.Streams, err = streamOptions(c, o.Dash, o.Frames); err != nil {
		return o, nil, err
	}
	if v := c.String("keep-recordings"); v != "" {
		if o.KeepRecordings, err = parseAge(v); err != nil {
			return o, nil, usagef("--keep-recordings: %v", err)
		}
	}
	if v := c.String("keep-recordings-size"); v != "" {
		if o.KeepBytes, err = parseSize(v); err != nil {
			return o, nil, usagef("--keep-recordings-size: %v", err)
		}
	}
	switch {
	case o.Out == "":
		return o, nil, usagef("--out must not be empty")
	case o.MaxStreams < 1:
		return o, nil, usagef("--max-streams must be at least 1, not %d", o.MaxStreams)
	case o.Reconnect < 0:
		return o, nil, usagef("--reconnect must not be negative, not %s", o.Reconnect)
	case o.StopGrace <= 0:
		return o, nil, usagef("--stop-grace must be above 0, not %s", o.StopGrace)
	}
	if o.Reconnect == 0 {
		o.Reconnect = -1 // end with the session
	}
	if o.MaxBehind == 0 {
		o.MaxBehind = -1 // no bound
	}
	if _, _, err := net.SplitHostPort(c.String("listen")); err != nil {
		return o, nil, usagef("--listen: want host:port, got %q", c.String("listen"))
	}
	for _, origin := range o.FrameAncestors {
		if err := serve.CheckFrameAncestor(origin); err != nil {
			return o, nil, usagef("--frame-ancestors: %v", err)
		}
	}
	if err := serve.CheckBasePath(o.BasePath); err != nil {
		return o, nil, usagef("--base-path: %v", err)
	}
	if o.TrustedProxies, err = serve.ParseProxies(c.StringSlice("trusted-proxy")); err != nil {
		return o, nil, usagef("--trusted-proxy: %v", err)
	}
	return o, keys, nil
}

// trusting is a client configuration that trusts the server configuration's own
// certificate (the demo publisher, dialling its own server).
func trusting(server *tls.Config) *tls.Config {
	pool := x509.NewCertPool()
	for _, cert := range server.Certificates {
		if cert.Leaf != nil {
			pool.AddCert(cert.Leaf)
		} else if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil {
			pool.AddCert(leaf)
		}
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
