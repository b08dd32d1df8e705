package main

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/svtool/sv/dash"
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
	cacheFlag          = &cli.StringFlag{Name: "cache", Value: fmt.Sprintf("%dMiB", serve.DefaultCache>>20), Usage: "memory for the segments being written, each read once for all its viewers; past it, a viewer of one not held yet gets it whole once written (none: no bound)", EnvVars: []string{"SV_CACHE"}}

	// Packaging: sv dash, sv all.
	latencyFlag  = &cli.StringFlag{Name: "latency", Value: "low", Usage: "low (LL-DASH, chunked CMAF, 1s segments) or normal (2s segments)", EnvVars: []string{"SV_LATENCY"}}
	partFlag     = &cli.DurationFlag{Name: "part", Value: dash.DefaultPart, Usage: "LL-HLS part target (low latency)", EnvVars: []string{"SV_PART"}}
	hlsAudioFlag = &cli.StringFlag{Name: "hls-audio", Value: "aac", Usage: "audio of the HLS playlists for Opus input: aac (an AAC rendition, for Apple's players) or same", EnvVars: []string{"SV_HLS_AUDIO"}}
	videoFlag    = &cli.StringFlag{Name: "video", Value: "auto", Usage: "auto (copy H.264, transcode the rest), copy or h264", EnvVars: []string{"SV_VIDEO"}}

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

// latencyAndVideo parses --latency and --video.
func latencyAndVideo(c *cli.Context, o *dash.Options) error {
	var err error
	if o.Latency, err = dash.ParseLatency(c.String("latency")); err != nil {
		return usagef("--latency: %v", err)
	}
	if o.Video, err = dash.ParseVideoMode(c.String("video")); err != nil {
		return usagef("--video: %v", err)
	}
	if o.HLSAudio, err = dash.ParseHLSAudio(c.String("hls-audio")); err != nil {
		return usagef("--hls-audio: %v", err)
	}
	if o.Part = c.Duration("part"); o.Part < 20*time.Millisecond {
		return usagef("--part must be at least 20ms, not %s", o.Part)
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
