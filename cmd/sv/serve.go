package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/svtool/sv/auth"
	"github.com/svtool/sv/serve"
	"github.com/svtool/sv/stream"
	"github.com/svtool/sv/ws"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "serve the web pages, the live media and the server clock over HTTP(S)",
		UsageText: "sv serve [options]",
		Description: `Serves the capture page (/capture), the viewer page (/view) and the index (/), embedded in
sv, and the media under --root: /live/{stream}/manifest.mpd, master.m3u8 and the segments
that sv dash writes to ROOT/live/{stream}, with the right types and caching, Range
requests, and segments still being written streamed as they grow (low-latency DASH).
A segment or LL-HLS part asked for before it exists is held for up to --hold, and so is a
manifest or playlist (a player opened as its stream starts); a playlist asked for with _HLS_msn (LL-HLS blocking reload) waits until it has that segment or part.
/time is the clock players sync to (sv dash --time-url); /live/{stream}/events streams the
lines sv frames writes to ROOT/live/{stream}/frames.jsonl.

The capture page publishes to --ingest: by default sv recv on port 8080 of the host that
served the page. Browsers allow the camera only on localhost or over HTTPS: for phones and
other machines, use --tls self-signed (or your own certificate) and --proxy-ingest, so
that the page publishes to this server, which forwards to sv recv.

Examples:
   sv serve                                  # http://127.0.0.1:8000, media from ./output
   sv recv | sv dash --out output/live/cam   # then open http://127.0.0.1:8000/capture?stream=cam
   sv serve --listen 0.0.0.0:8443 --tls self-signed --proxy-ingest 127.0.0.1:8080
   sv serve --root /srv/sv --cors https://example.org --tls-cert cert.pem --tls-key key.pem`,
		Flags: slices.Concat([]cli.Flag{
			configFlag,
			listenFlag("127.0.0.1:8000", "SV_SERVE_LISTEN"),
			&cli.StringFlag{Name: "root", Value: "output", Usage: "media `DIR`: /live/{stream}/... is DIR/live/{stream}/...", EnvVars: []string{"SV_ROOT"}},
			&cli.StringFlag{Name: "ingest", Usage: "WebSocket `URL` the capture page publishes to; {stream}, {host}, {hostname} and {ws} are filled in by the page (default " + serve.DefaultIngest + ", or this server's /ingest/{stream} with --proxy-ingest)", EnvVars: []string{"SV_INGEST"}},
			&cli.StringFlag{Name: "proxy-ingest", Usage: "forward publishers at /ingest/{stream} to sv recv at `ADDR` (host:port)", EnvVars: []string{"SV_PROXY_INGEST"}},
			&cli.BoolFlag{Name: "token-required", Usage: "tell the capture page that the ingest wants a token", EnvVars: []string{"SV_TOKEN_REQUIRED"}},
			&cli.StringFlag{Name: "cors", Value: "*", Usage: "Access-Control-Allow-Origin of the media and /time", EnvVars: []string{"SV_CORS"}},
			maxRequestsFlag,
			cacheFlag,
			frameAncestorsFlag,
			basePathFlag,
			trustedProxyFlag,
		}, accessFlags, []cli.Flag{
			&cli.DurationFlag{Name: "hold", Value: serve.DefaultHold, Usage: "how long a request for a segment, part, manifest or playlist not written yet waits for it before a 404 (0: not at all)", EnvVars: []string{"SV_HOLD"}},
			tlsFlag,
			tlsCertFlag,
			tlsKeyFlag,
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log every request on stderr", EnvVars: []string{"SV_VERBOSE"}},
			quietFlag,
			logFormatFlag,
		}),
		Action: serveAction,
	}
}

func serveAction(c *cli.Context) error {
	e := envOf(c)
	if err := noArgs(c, ""); err != nil {
		return err
	}
	tlsConf, fingerprint, err := serveTLS(c)
	if err != nil {
		return err
	}
	log := logger(c)
	srv, az, err := newServer(c, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	h, err := serveHandler(c, srv, log)
	if err != nil {
		return err
	}
	ln, err := listen(c, "is another sv serve running? choose another address with --listen")
	if err != nil {
		return err
	}
	addr := listenAddr(c.String("listen"), ln)
	if !c.Bool("quiet") {
		serveBanner(c, addr, c.String("root"), tlsConf != nil, fingerprint, srv.Config().Ingest, c.String("proxy-ingest"))
	}
	reloaded := make(chan struct{})
	ctx, cancel := context.WithCancel(e.ctx)
	go func() { reloadAuth(ctx, c, az, log); close(reloaded) }()
	err = serve.Serve(e.ctx, ln, h, tlsConf, log)
	cancel()
	<-reloaded
	if !c.Bool("quiet") {
		st := srv.Stats()
		infof(c, "served %d request(s): %d segment(s), %d while being written (%d cut short), %d waited for, %d segment 404(s), %d blocking playlist reload(s) (%d timed out), %d event stream(s)",
			st.Requests, st.Segments, st.InProgress, st.Aborted, st.Waited, st.Missing, st.Blocked, st.Timeouts, st.Events)
	}
	if err != nil {
		return err
	}
	return context.Canceled // only an interrupt ends a server: exit 130 like every stage
}

// newServer makes the serve.Server the flags describe, and its --root.
func newServer(c *cli.Context, log *slog.Logger) (*serve.Server, *auth.Authorizer, error) {
	root := c.String("root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, nil, fmt.Errorf("--root: %w", err)
	}
	ingest := c.String("ingest")
	if ingest == "" && c.String("proxy-ingest") != "" {
		ingest = serve.SameOriginIngest
	}
	hold := c.Duration("hold")
	if hold <= 0 {
		hold = -1 // serve.Options: no hold
	}
	cache, err := cacheSize(c)
	if err != nil {
		return nil, nil, err
	}
	az, _, err := authorizer(c, log)
	if err != nil {
		return nil, nil, err
	}
	proxies, err := serve.ParseProxies(c.StringSlice("trusted-proxy"))
	if err != nil {
		return nil, nil, usagef("--trusted-proxy: %v", err)
	}
	srv, err := serve.New(serve.Options{
		TrustedProxies: proxies,
		Auth:           az,
		FrameAncestors: c.StringSlice("frame-ancestors"),
		BasePath:       c.String("base-path"),
		Root:           root,
		Ingest:         ingest,
		TokenRequired:  c.Bool("token-required"),
		CORSOrigin:     c.String("cors"),
		Hold:           hold,
		MaxRequests:    c.Int("max-requests"),
		Cache:          cache,
		Version:        versionString(),
		Log:            log,
	})
	if errors.Is(err, serve.ErrRoot) {
		return nil, nil, withHint(err, "point --root at the parent of sv dash's output (sv dash --out ROOT/live/NAME)")
	}
	if err != nil {
		return nil, nil, usagef("%v", err)
	}
	return srv, az, nil
}

// serveHandler is srv's handler with, as the flags say, publishers forwarded to sv recv
// and every request logged.
func serveHandler(c *cli.Context, srv *serve.Server, log *slog.Logger) (http.Handler, error) {
	h := srv.Handler()
	if addr := c.String("proxy-ingest"); addr != "" {
		proxy, err := ingestProxy(addr, log)
		if err != nil {
			return nil, usagef("--proxy-ingest: %v", err)
		}
		mux := http.NewServeMux()
		mux.Handle(stream.IngestPrefix, proxy)
		mux.Handle("/", h)
		h = srv.Wrap(mux)
	}
	if c.Bool("verbose") {
		h = accessLog(h, log)
	}
	return h, nil
}

// serveTLS reads the TLS flags: no TLS, a self-signed certificate, or the user's.
func serveTLS(c *cli.Context) (*tls.Config, string, error) {
	mode, certFile, keyFile := c.String("tls"), c.String("tls-cert"), c.String("tls-key")
	switch {
	case mode != "" && mode != "self-signed":
		return nil, "", usagef("--tls takes only self-signed, not %q (use --tls-cert and --tls-key for your own)", mode)
	case mode != "" && (certFile != "" || keyFile != ""):
		return nil, "", usagef("--tls self-signed and --tls-cert/--tls-key exclude each other")
	case (certFile == "") != (keyFile == ""):
		return nil, "", usagef("--tls-cert and --tls-key go together")
	case mode == "self-signed":
		hosts := serve.LocalHosts()
		if host, _, err := net.SplitHostPort(c.String("listen")); err == nil && host != "" && net.ParseIP(host) == nil {
			hosts = append(hosts, host)
		}
		cert, err := serve.SelfSigned(hosts)
		if err != nil {
			return nil, "", err
		}
		return serve.TLSConfig(cert), serve.Fingerprint(cert), nil
	case certFile != "":
		cert, err := serve.LoadCertificate(certFile, keyFile)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, "", withHint(err, "--tls-cert and --tls-key name PEM files; or use --tls self-signed")
			}
			return nil, "", err
		}
		return serve.TLSConfig(cert), serve.Fingerprint(cert), nil
	}
	return nil, "", nil
}

// serveBanner tells the user where the pages are.
func serveBanner(c *cli.Context, addr, root string, https bool, fingerprint, ingest, proxyAddr string) {
	scheme := "http"
	if https {
		scheme = "https"
	}
	host, port, _ := net.SplitHostPort(addr)
	var bases []string
	if host == "" || host == "0.0.0.0" || host == "::" {
		for _, h := range serve.LocalHosts() {
			ip := net.ParseIP(h)
			if ip == nil || (ip.To4() == nil && host != "::") {
				continue
			}
			bases = append(bases, scheme+"://"+net.JoinHostPort(h, port))
		}
	} else {
		bases = append(bases, scheme+"://"+addr)
	}
	infof(c, "serving %s/ (pages) and the media in %s", bases[0], root)
	for _, b := range bases[1:] {
		infof(c, "also at %s/", b)
	}
	infof(c, "capture: %s/capture?stream=cam   viewer: %s/view?stream=cam", bases[0], bases[0])
	infof(c, "clock for players: %s/time (sv dash --time-url)", bases[0])
	if proxyAddr != "" {
		infof(c, "publishers at /ingest/{stream} go to sv recv at %s", proxyAddr)
	} else {
		infof(c, "pages publish to %s", ingest)
	}
	if fingerprint != "" && c.String("tls") == "self-signed" {
		infof(c, "self-signed certificate, SHA-256 fingerprint %s", fingerprint)
		infof(c, "browsers warn about it once: check the fingerprint, then accept it")
	}
	if !ws.IsLoopback(host) && !https {
		warnf(c, "browsers allow the camera only on localhost or over HTTPS: other machines need --tls self-signed")
	}
	if https && proxyAddr == "" && strings.HasPrefix(ingest, "ws://") {
		warnf(c, "pages served over HTTPS cannot publish to %s: add --proxy-ingest ADDR of sv recv", ingest)
	}
}

// ingestProxy forwards WebSocket publishers to sv recv at addr, keeping the Host the
// browser used, so that sv recv's origin check sees the page's own host.
func ingestProxy(addr string, log *slog.Logger) (http.Handler, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("want host:port, got %q", addr)
	}
	target := &url.URL{Scheme: "http", Host: addr}
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
			r.SetXForwarded()
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Warn("cannot reach sv recv", "addr", addr, "err", err)
			http.Error(w, "the ingest (sv recv) is not reachable", http.StatusBadGateway)
		},
	}, nil
}

// accessLog logs each request when it is done.
func accessLog(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "bytes", rec.bytes,
				"ms", time.Since(start).Milliseconds(), "remote", r.RemoteAddr)
		}()
		next.ServeHTTP(rec, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
