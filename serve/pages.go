package serve

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/svtool/sv/stream"
)

// Config is what the pages learn from the server at /config.json, instead of anything
// hard-coded in them.
type Config struct {
	// Ingest is the WebSocket URL pattern the capture page publishes to (Options.Ingest):
	// {stream}, {host}, {hostname} and {ws} are filled in by the page.
	Ingest string `json:"ingest"`
	// TokenRequired says the ingest refuses publishers without a token.
	TokenRequired bool `json:"tokenRequired"`
	// Time is the clock the pages sync to: /time (under Options.BasePath, as the rest).
	Time string `json:"time"`
	// Media is the URL pattern of a stream's folder: /live/{stream}/.
	Media string `json:"media"`
	// Manifest, Playlist and Events are the URL patterns of a stream's DASH manifest,
	// HLS playlist and analysis events, under Media.
	Manifest string `json:"manifest"`
	Playlist string `json:"playlist"`
	Events   string `json:"events"`
	// Version is the server's version, if it gave one.
	Version string `json:"version,omitempty"`
}

// Config returns what /config.json says.
func (s *Server) Config() Config {
	return Config{
		Ingest:        s.o.Ingest,
		TokenRequired: s.o.TokenRequired,
		Time:          s.o.BasePath + "/time",
		Media:         s.o.BasePath + stream.MediaPattern,
		Manifest:      s.o.BasePath + stream.MediaPattern + stream.Manifest,
		Playlist:      s.o.BasePath + stream.MediaPattern + stream.Playlist,
		Events:        s.o.BasePath + stream.MediaPattern + stream.EventsName,
		Version:       s.o.Version,
	}
}

func (s *Server) serveConfig(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, s.Config())
}

// TimeFormat is the format of /time: ISO 8601 in UTC with milliseconds, what DASH's
// urn:mpeg:dash:utc:http-xsdate:2014 and dash.js expect.
const TimeFormat = "2006-01-02T15:04:05.000Z"

func (s *Server) serveTime(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/time" {
		notFound(w)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write([]byte(s.o.now().UTC().Format(TimeFormat)))
}

// pageRoutes are the pages, by path.
var pageRoutes = map[string]string{
	"/":        "index.html",
	"/capture": "capture.html",
	"/view":    "view.html",
	"/embed":   "view.html", // the player alone, for an iframe (view.js: embed mode)
}

// pageCSP keeps the pages to their own scripts, and in frames of their own origin and of
// the origins given (Options.FrameAncestors). connect-src is open: the ingest may be on
// another port or host (ws:, wss:), and the MPD's clock URL is absolute.
func pageCSP(frameAncestors []string) string {
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
		"media-src 'self' blob: data:; connect-src 'self' ws: wss: http: https:; worker-src 'self' blob:; " +
		"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors " + strings.Join(append([]string{"'self'"}, frameAncestors...), " ")
}

// CheckFrameAncestor checks a frame ancestor: an origin (scheme://host[:port]) or *.
func CheckFrameAncestor(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || strings.ContainsAny(o, " ;,'") {
		return fmt.Errorf("frame ancestor %q: want an origin, as https://app.example, or *", o)
	}
	return nil
}

// asset is one embedded file, ready to send.
type asset struct {
	name  string
	ctype string
	body  []byte
	etag  string
	once  sync.Once
	gz    []byte // body gzipped, when worth it
}

// pages serves the embedded pages and their assets from memory, revalidated by ETag.
type pages struct {
	assets map[string]*asset // by path in the FS
	csp    string
}

func newPages(fsys fs.FS, frameAncestors []string) (*pages, error) {
	p := &pages{assets: map[string]*asset{}, csp: pageCSP(frameAncestors)}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(name))
		switch {
		case path.Ext(name) == ".js":
			ctype = "text/javascript; charset=utf-8"
		case path.Ext(name) == ".md", ctype == "" && utf8.Valid(b): // LICENSE, VERSIONS
			ctype = "text/plain; charset=utf-8"
		case ctype == "":
			ctype = "application/octet-stream"
		}
		p.assets[name] = &asset{name: name, ctype: ctype, body: b, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embedded pages: %w", err)
	}
	for _, name := range pageRoutes {
		if p.assets[name] == nil {
			return nil, fmt.Errorf("embedded pages: %s is missing", name)
		}
	}
	return p, nil
}

func (p *pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a *asset
	if name, ok := pageRoutes[r.URL.Path]; ok {
		a = p.assets[name]
	} else if name, ok := strings.CutPrefix(r.URL.Path, "/assets/"); ok && !strings.HasSuffix(name, ".html") {
		a = p.assets[name]
	}
	if a == nil {
		notFound(w)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache") // revalidated: a new sv brings new pages
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Vary", "Accept-Encoding")
	if strings.HasSuffix(a.name, ".html") {
		h.Set("Content-Security-Policy", p.csp)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Permissions-Policy", "camera=(self), microphone=(self)")
	}
	body, etag := a.body, a.etag
	if r.Header.Get("Range") == "" && acceptsGzip(r) {
		if gz := a.gzipped(); gz != nil {
			body, etag = gz, strings.TrimSuffix(a.etag, `"`)+`-gz"`
			h.Set("Content-Encoding", "gzip")
			h.Set("Content-Length", strconv.Itoa(len(gz))) // ServeContent leaves it to us
		}
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// gzipped returns the asset gzipped, or nil when that does not pay.
func (a *asset) gzipped() []byte {
	a.once.Do(func() {
		if len(a.body) < 1024 || !compressible(a.ctype) {
			return
		}
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression) // a valid level: no error
		zw.Write(a.body)
		zw.Close()
		if b.Len() < len(a.body)*9/10 {
			a.gz = b.Bytes()
		}
	})
	return a.gz
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.Contains(ctype, "javascript") ||
		strings.Contains(ctype, "json") || strings.Contains(ctype, "svg")
}
