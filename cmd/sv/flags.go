package main

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/svtool/sv/dash"
	"github.com/svtool/sv/frames"
	"github.com/svtool/sv/serve"
	"github.com/svtool/sv/ws"
)

// The flags that several subcommands take, each defined once, and what they parse into.

// listenFlag is --listen, the address a server listens on, with its default and the
// environment variable it is read from.
func listenFlag(value, env string) *cli.StringFlag {
	return &cli.StringFlag{Name: "listen", Value: value, Usage: "address to listen on", EnvVars: []string{env}}
}

var (
	// Publishing: sv recv, sv all.
	tokenFlag       = &cli.StringFlag{Name: "token", Usage: "require this token from publishers (?token= or Authorization: Bearer)", EnvVars: []string{"SV_TOKEN"}}
	allowHostFlag   = &cli.StringSliceFlag{Name: "allow-host", Usage: "also take publishers that reach sv by `NAME` (repeatable; * for any); this machine's own names and addresses are always taken, any other name is refused (421): DNS rebinding", EnvVars: []string{"SV_ALLOW_HOST"}}
	allowOriginFlag = &cli.StringSliceFlag{Name: "allow-origin", Usage: "also accept publishing pages from `ORIGIN` (repeatable; * for any)", EnvVars: []string{"SV_ALLOW_ORIGIN"}}

	// Serving: sv serve, sv all.
	maxRequestsFlag    = &cli.IntFlag{Name: "max-requests", Usage: "most requests for media served at once, held ones included; more get 503 with Retry-After (0: from the open-file limit, -1: no bound)", EnvVars: []string{"SV_MAX_REQUESTS"}}
	tlsFlag            = &cli.StringFlag{Name: "tls", Usage: "self-signed: serve HTTPS (and HTTP/2) with a certificate made at start (its fingerprint is printed)", EnvVars: []string{"SV_TLS"}}
	tlsCertFlag        = &cli.StringFlag{Name: "tls-cert", Usage: "serve HTTPS (and HTTP/2) with this PEM certificate `FILE` (with --tls-key)", EnvVars: []string{"SV_TLS_CERT"}}
	tlsKeyFlag         = &cli.StringFlag{Name: "tls-key", Usage: "the certificate's PEM key `FILE`", EnvVars: []string{"SV_TLS_KEY"}}
	frameAncestorsFlag = &cli.StringSliceFlag{Name: "frame-ancestors", Usage: "let pages of `ORIGIN` (as https://app.example; * for any) show sv's pages in a frame, /embed?stream= above all (repeatable)", EnvVars: []string{"SV_FRAME_ANCESTORS"}}
	basePathFlag       = &cli.StringFlag{Name: "base-path", Usage: "the `PATH` a reverse proxy serves sv under, as /sv: the pages, the media, the ingest and the clock are reached under it (a proxy may keep it or strip it)", EnvVars: []string{"SV_BASE_PATH"}}
	trustedProxyFlag   = &cli.StringSliceFlag{Name: "trusted-proxy", Usage: "take the client's address from the forwarding headers (X-Forwarded-For, X-Real-IP, Forwarded) of requests from this reverse proxy's `ADDRESS` or CIDR (repeatable), for authorization, viewer counts and logs", EnvVars: []string{"SV_TRUSTED_PROXY"}}
	cacheFlag          = &cli.StringFlag{Name: "cache", Value: fmt.Sprintf("%dMiB", serve.DefaultCache>>20), Usage: "memory for the segments being written, each read once for all its viewers; past it, a viewer of one not held yet gets it whole once written (none: no bound)", EnvVars: []string{"SV_CACHE"}}

	// packagingFlags are the packager's options: sv dash, sv all (and a stream of its own
	// in sv all's --config file).
	packagingFlags = []cli.Flag{
		&cli.StringFlag{Name: "latency", Value: "low", Usage: "low (LL-DASH, chunked CMAF, 1s segments) or normal (2s segments)", EnvVars: []string{"SV_LATENCY"}},
		&cli.DurationFlag{Name: "part", Value: dash.DefaultPart, Usage: "LL-HLS part target (low latency)", EnvVars: []string{"SV_PART"}},
		&cli.StringFlag{Name: "hls-audio", Value: "aac", Usage: "audio of the HLS playlists for Opus input: aac (an AAC rendition, for Apple's players) or same", EnvVars: []string{"SV_HLS_AUDIO"}},
		&cli.StringFlag{Name: "video", Value: "auto", Usage: "auto (copy H.264, transcode the rest), copy or h264", EnvVars: []string{"SV_VIDEO"}},
		&cli.StringFlag{Name: "audio", Value: "auto", Usage: "auto (copy Opus and AAC, transcode the rest), copy, aac or none", EnvVars: []string{"SV_AUDIO"}},
		&cli.StringFlag{Name: "ladder", Usage: "H.264 renditions for adaptive bitrate, e.g. `720p,480p,240p` (default: one)", EnvVars: []string{"SV_LADDER"}},
		&cli.DurationFlag{Name: "seg", Usage: "segment duration", DefaultText: "1s low, 2s normal", EnvVars: []string{"SV_SEG"}},
		&cli.IntFlag{Name: "window", Value: dash.DefaultWindow, Usage: "segments in the live manifest; older ones are deleted", EnvVars: []string{"SV_WINDOW"}},
		&cli.StringFlag{Name: "preset", Value: dash.DefaultPreset, Usage: "x264 preset when transcoding (ultrafast .. medium)", EnvVars: []string{"SV_PRESET"}},
	}

	// analysisFlags are the analysis' options: sv frames, sv all (and a stream of its own
	// in sv all's --config file).
	analysisFlags = []cli.Flag{
		&cli.IntFlag{Name: "width", Value: frames.DefaultWidth, Usage: "analysis width in pixels (even, 64 to 7680); the aspect ratio is kept", EnvVars: []string{"SV_WIDTH"}},
		&cli.Float64Flag{Name: "fps", Usage: "analyse at most `N` frames per second (default: every frame)", EnvVars: []string{"SV_FPS"}},
		&cli.Float64Flag{Name: "scene", Value: frames.DefaultSceneThreshold, Usage: "scene score (0-1) from which a frame is a cut; FFmpeg's scdet threshold / 100", EnvVars: []string{"SV_SCENE"}},
		&cli.Float64Flag{Name: "black-pixel", Value: frames.DefaultBlackPixel, Usage: "luma (0-1) at or below which a pixel is black", EnvVars: []string{"SV_BLACK_PIXEL"}},
		&cli.Float64Flag{Name: "black-ratio", Value: frames.DefaultBlackRatio, Usage: "share of black pixels (0-1) that makes a frame black", EnvVars: []string{"SV_BLACK_RATIO"}},
		&cli.DurationFlag{Name: "black-min", Value: frames.DefaultBlackMin, Usage: "shortest black stretch reported", EnvVars: []string{"SV_BLACK_MIN"}},
		&cli.Float64Flag{Name: "freeze-noise", Value: frames.DefaultFreezeNoise, Usage: "mean luma difference (0-1) under which a frame repeats the last", EnvVars: []string{"SV_FREEZE_NOISE"}},
		&cli.DurationFlag{Name: "freeze-min", Value: frames.DefaultFreezeMin, Usage: "shortest frozen stretch reported", EnvVars: []string{"SV_FREEZE_MIN"}},
	}

	// The stages that read a stream: sv dash, sv frames.
	inFlag = &cli.StringFlag{Name: "in", Usage: "read the stream from `FILE` instead of stdin (- for stdin)", EnvVars: []string{"SV_IN"}}

	// FFmpeg: sv dash, sv frames, sv all.
	ffmpegFlag    = &cli.StringFlag{Name: "ffmpeg", Value: "ffmpeg", Usage: "FFmpeg binary", EnvVars: []string{"SV_FFMPEG"}}
	ffmpegLogFlag = &cli.StringFlag{Name: "ffmpeg-log", Usage: "write FFmpeg's log to `FILE` (default: stderr with --verbose)", EnvVars: []string{"SV_FFMPEG_LOG"}}

	// Messages.
	verboseFlag   = &cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "debug messages, FFmpeg's log among them, on stderr", EnvVars: []string{"SV_VERBOSE"}}
	quietFlag     = &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "errors only on stderr: no progress, information or warnings", EnvVars: []string{"SV_QUIET"}}
	logFormatFlag = &cli.StringFlag{Name: "log-format", Value: "text", Usage: "every message on stderr as text (\"sv CMD: ...\") or json (an object per line, for a collector)", EnvVars: []string{"SV_LOG_FORMAT"}}
	progressFlag  = &cli.StringFlag{Name: "progress", Value: "auto", Usage: "the progress line on a terminal: auto (when this stage ends its pipe and no other stage on the terminal draws one), on or off", EnvVars: []string{"SV_PROGRESS"}}
)

// noArgs refuses arguments to a subcommand that takes none; alt, if set, says what to do
// instead.
func noArgs(c *cli.Context, alt string) error {
	if c.NArg() == 0 {
		return nil
	}
	if alt != "" {
		return usagef("takes no arguments, got %q (%s)", c.Args().First(), alt)
	}
	return usagef("takes no arguments, got %q", c.Args().First())
}

// listen listens on --listen.
func listen(c *cli.Context, hint string) (net.Listener, error) {
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return nil, withHint(fmt.Errorf("listen: %w", err), hint)
	}
	return ln, nil
}

// warnOpen warns when publishers need no token on an address other machines reach.
func warnOpen(c *cli.Context, addr string, authorized bool, flags string) {
	if host, _, _ := net.SplitHostPort(addr); !ws.IsLoopback(host) && !authorized {
		warnf(c, "listening on %s without a token: anyone who can reach it can publish (set %s)", addr, flags)
	}
}

// allowedHosts is what publishers may call this server (ws.Hosts): this machine's names
// and addresses, the --listen host, and --allow-host.
func allowedHosts(c *cli.Context) []string {
	hosts := serve.LocalHosts()
	if host, _, err := net.SplitHostPort(c.String("listen")); err == nil && host != "" {
		hosts = append(hosts, host)
	}
	return append(hosts, c.StringSlice("allow-host")...)
}

// flagValues is what the option parsers read: a command's flags (*cli.Context), or a
// stream's own settings over them (streamValues).
type flagValues interface {
	String(name string) string
	Int(name string) int
	Bool(name string) bool
	Float64(name string) float64
	Duration(name string) time.Duration
	IsSet(name string) bool
}

// packagingOptions reads packagingFlags into o; mistakes are usage errors.
func packagingOptions(v flagValues, o *dash.Options) error {
	var err error
	if o.Latency, err = dash.ParseLatency(v.String("latency")); err != nil {
		return usagef("--latency: %v", err)
	}
	if o.Video, err = dash.ParseVideoMode(v.String("video")); err != nil {
		return usagef("--video: %v", err)
	}
	if o.HLSAudio, err = dash.ParseHLSAudio(v.String("hls-audio")); err != nil {
		return usagef("--hls-audio: %v", err)
	}
	if o.Audio, err = dash.ParseAudioMode(v.String("audio")); err != nil {
		return usagef("--audio: %v", err)
	}
	if o.Ladder, err = dash.ParseLadder(v.String("ladder")); err != nil {
		return usagef("--ladder: %v", err)
	}
	o.Part, o.Segment, o.Window, o.Preset = v.Duration("part"), v.Duration("seg"), v.Int("window"), v.String("preset")
	switch {
	case o.Part < 20*time.Millisecond:
		return usagef("--part must be at least 20ms, not %s", o.Part)
	case v.IsSet("seg") && o.Segment < 100*time.Millisecond:
		return usagef("--seg must be at least 100ms, not %s", o.Segment)
	case o.Window < 1:
		return usagef("--window must be at least 1, not %d", o.Window)
	case o.Video == dash.VideoCopy && len(o.Ladder) > 1:
		return usagef("--ladder needs transcoding: it cannot go with --video copy")
	}
	return nil
}

// analysisOptions reads analysisFlags into o; mistakes are usage errors.
func analysisOptions(v flagValues, o *frames.Options) error {
	o.Width, o.FPS, o.SceneThreshold = v.Int("width"), v.Float64("fps"), v.Float64("scene")
	o.BlackPixel, o.BlackRatio, o.BlackMin = v.Float64("black-pixel"), v.Float64("black-ratio"), v.Duration("black-min")
	o.FreezeNoise, o.FreezeMin = v.Float64("freeze-noise"), v.Duration("freeze-min")
	switch {
	case o.Width < 64 || o.Width > 7680 || o.Width%2 != 0:
		return usagef("--width must be an even number from 64 to 7680, not %d", o.Width)
	case o.FPS < 0:
		return usagef("--fps must not be negative, not %v", o.FPS)
	case o.BlackMin <= 0:
		return usagef("--black-min must be positive, not %s", o.BlackMin)
	case o.FreezeMin <= 0:
		return usagef("--freeze-min must be positive, not %s", o.FreezeMin)
	}
	for _, f := range []string{"scene", "black-pixel", "black-ratio", "freeze-noise"} {
		if x := v.Float64(f); !(x > 0 && x <= 1) {
			return usagef("--%s must be above 0 and at most 1, not %v", f, x)
		}
	}
	return nil
}

// cacheSize reads --cache: a size, or none for no bound (serve.Options.Cache).
func cacheSize(c *cli.Context) (int64, error) {
	v := strings.TrimSpace(c.String("cache"))
	if v == "none" {
		return -1, nil
	}
	n, err := parseSize(v)
	if err != nil {
		return 0, usagef("--cache: %v", err)
	}
	return n, nil
}
