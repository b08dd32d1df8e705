package serve

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"

	"github.com/svtool/sv/auth"
)

// mayRead reports whether r may watch stream (Options.Auth).
func (s *Server) mayRead(r *http.Request, stream string) bool {
	return s.o.Auth.Allow(r.Context(), auth.FromHTTP(r, auth.Read, stream)) == auth.Allowed
}

// allowRead reports whether r may watch stream, and answers it 401 or 403 if not.
func (s *Server) allowRead(w http.ResponseWriter, r *http.Request, stream string) bool {
	if !s.o.Auth.Protects(auth.Read) {
		return true
	}
	switch s.o.Auth.Allow(r.Context(), auth.FromHTTP(r, auth.Read, stream)) {
	case auth.Allowed:
		return true
	case auth.NoCredentials:
		w.Header().Set("WWW-Authenticate", `Bearer realm="sv"`)
		httpError(w, http.StatusUnauthorized, "watching "+stream+" needs a token (?token=)")
	default:
		httpError(w, http.StatusForbidden, "this token may not watch "+stream)
	}
	return false
}

// cacheControl is v, made private when reads are protected: a shared cache must not
// hand one viewer's media to another who has no token. What is revalidated or kept
// briefly by shared caches (liveCache) is revalidated by the viewer's own.
func (s *Server) cacheControl(v string) string {
	if !s.o.Auth.Protects(auth.Read) {
		return v
	}
	switch v {
	case "no-store":
		return v
	case manifestCache, liveCache:
		return "private, no-cache"
	}
	return "private, " + strings.TrimPrefix(v, "public, ")
}

// withToken returns a manifest (an MPD) or a playlist (hls) with the token added to
// every URL it names: in an MPD the media, initialization and sourceURL attributes (the
// segment templates), in a playlist each URI line and each URI="..." attribute (the
// init segment, parts, preload hints, renditions and rendition reports).
func withToken(body []byte, token string, hls bool) []byte {
	param := auth.TokenParam + "=" + url.QueryEscape(token)
	out := make([]byte, 0, len(body)+64*len(param))
	if hls {
		for line := range bytes.Lines(body) {
			text := bytes.TrimRight(line, "\r\n")
			end := line[len(text):]
			switch {
			case len(text) == 0:
				out = append(out, line...)
			case text[0] != '#':
				out = appendParam(append(out, text...), text, param, "&")
				out = append(out, end...)
			default:
				out = addToAttrs(out, text, []string{`URI="`}, param, "&")
				out = append(out, end...)
			}
		}
		return out
	}
	return addToAttrs(out, body, []string{` media="`, ` initialization="`, ` sourceURL="`}, param, "&amp;")
}

// addToAttrs appends b to out with param added to the value of every attribute that
// starts with one of attrs (`name="`), after "?" or, when the value has a query, amp.
func addToAttrs(out, b []byte, attrs []string, param, amp string) []byte {
	for len(b) > 0 {
		at, n := -1, 0
		for _, a := range attrs {
			if i := bytes.Index(b, []byte(a)); i >= 0 && (at < 0 || i < at) {
				at, n = i, len(a)
			}
		}
		if at < 0 {
			return append(out, b...)
		}
		start := at + n
		end := bytes.IndexByte(b[start:], '"')
		if end < 0 {
			return append(out, b...)
		}
		end += start
		out = appendParam(append(out, b[:end]...), b[start:end], param, amp)
		b = b[end:]
	}
	return out
}

// appendParam appends the separator and param for a URL whose value is v.
func appendParam(out, v []byte, param, amp string) []byte {
	if bytes.IndexByte(v, '?') >= 0 {
		out = append(out, amp...)
	} else {
		out = append(out, '?')
	}
	return append(out, param...)
}
