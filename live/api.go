package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/svtool/sv/auth"
	"github.com/svtool/sv/serve"
	"github.com/svtool/sv/stream"
	"github.com/svtool/sv/ws"
)

// The control API, under /api/, JSON in and out:
//
//	GET    /api/streams                   every stream: live ones with their session, the others by folder
//	GET    /api/streams/{name}            one
//	DELETE /api/streams/{name}            stop its publisher (close code 4002: it does not reconnect)
//	GET    /api/recordings                every recording, with its seekable copy
//	DELETE /api/recordings/{stream}/{file} delete one and its seekable copy
//
// It needs the auth.API action when Options.Auth protects it; without that, it answers
// loopback clients only. Either way the Host must be one of Options.AllowHosts.

// APIStream is one stream, as the API describes it.
type APIStream struct {
	Name string `json:"name"`
	// Publishing: a publisher is connected; its session's start, its address and what
	// it sent.
	Publishing bool      `json:"publishing"`
	Session    string    `json:"session,omitempty"`
	Since      time.Time `json:"since,omitzero"`
	UptimeMs   int64     `json:"uptime_ms,omitempty"`
	Remote     string    `json:"remote,omitempty"`
	Bytes      int64     `json:"bytes"`
	Bitrate    float64   `json:"bitrate"` // bits per second, over the session so far
	Viewers    int       `json:"viewers"` // players that asked for a segment in the last 10 s
	Restarts   int64     `json:"ffmpeg_restarts"`
	Skips      int64     `json:"analysis_skips"`
	// What its manifest says: live (the presentation goes on), and the renditions.
	Live   bool          `json:"live"`
	Tracks []serve.Track `json:"tracks,omitempty"`
}

// APIRecording is one recording, as the API lists it: what /recordings.json says of it
// (serve.Recording), its path, and whether its session is live.
type APIRecording struct {
	serve.Recording
	Path string `json:"path"`      // absolute
	Live bool   `json:"recording"` // still being written: its session is live
}

// api is the /api/ handler.
func (s *Server) api() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/streams", func(w http.ResponseWriter, r *http.Request) {
		writeAPI(w, http.StatusOK, map[string]any{"streams": s.apiStreams("")})
	})
	mux.HandleFunc("GET /api/streams/{name}", func(w http.ResponseWriter, r *http.Request) {
		list := s.apiStreams(r.PathValue("name"))
		if len(list) == 0 {
			apiError(w, http.StatusNotFound, "no stream "+r.PathValue("name"))
			return
		}
		writeAPI(w, http.StatusOK, list[0])
	})
	mux.HandleFunc("DELETE /api/streams/{name}", s.apiStop)
	mux.HandleFunc("GET /api/recordings", func(w http.ResponseWriter, r *http.Request) {
		writeAPI(w, http.StatusOK, map[string]any{"recordings": s.recordings()})
	})
	mux.HandleFunc("DELETE /api/recordings/{stream}/{file}", s.apiDeleteRecording)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "no such API: see the README")
	})
	return s.apiGuard(mux)
}

// apiGuard lets through the requests that may use the API.
func (s *Server) apiGuard(next http.Handler) http.Handler {
	hosts := ws.Hosts("*")
	if s.o.AllowHosts != nil {
		hosts = ws.Hosts(s.o.AllowHosts...)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if !hosts(ws.HostName(r.Host)) {
			apiError(w, http.StatusMisdirectedRequest, "this server does not answer to the name "+ws.HostName(r.Host))
			return
		}
		if s.o.Auth.Protects(auth.API) {
			switch d := s.o.Auth.Allow(r.Context(), auth.FromHTTP(r, auth.API, "")); d {
			case auth.Allowed:
			case auth.NoCredentials:
				w.Header().Set("WWW-Authenticate", `Bearer realm="sv"`)
				apiError(w, d.Status(), "the API needs a token (an api key, or a JWT allowing api)")
				return
			default:
				apiError(w, d.Status(), "this token may not use the API")
				return
			}
		} else if !local(r) {
			apiError(w, http.StatusForbidden, "the API answers this machine only, unless an api key allows others")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// local reports whether r comes from this machine itself: from a loopback address, and
// not through a proxy (whose own requests come from loopback whoever sent them).
func local(r *http.Request) bool {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip"} {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	return ws.IsLoopback(host)
}

// apiStreams describes every stream, or the one named only.
func (s *Server) apiStreams(only string) []APIStream {
	if only != "" && !stream.Valid(only) {
		return nil
	}
	byName := map[string]*APIStream{}
	for _, info := range s.web.Streams() {
		if only == "" || info.Name == only {
			byName[info.Name] = &APIStream{Name: info.Name, Live: info.Live, Tracks: info.Tracks}
		}
	}
	s.mu.Lock()
	sessions := make([]*session, 0, len(s.streams))
	for name, sess := range s.streams {
		if only == "" || name == only {
			sessions = append(sessions, sess)
		}
	}
	s.mu.Unlock()
	now := time.Now()
	for _, sess := range sessions {
		st := byName[sess.stream]
		if st == nil {
			st = &APIStream{Name: sess.stream}
			byName[sess.stream] = st
		}
		up := now.Sub(sess.started)
		st.Publishing, st.Session, st.Since, st.UptimeMs = true, sess.id, sess.started.UTC(), up.Milliseconds()
		st.Remote = sess.pub.Remote
		st.Bytes = sess.pub.Stats().Bytes
		st.Bitrate = float64(st.Bytes*8) / max(up.Seconds(), 1)
		st.Restarts = sess.dash.restarts.Load() + sess.analysis.restarts.Load()
		st.Skips = sess.analysis.skips.Load()
	}
	out := make([]APIStream, 0, len(byName))
	for _, st := range byName {
		st.Viewers = s.metrics.Viewers(st.Name)
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b APIStream) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// apiStop stops a stream's publisher and answers once its session has finished.
func (s *Server) apiStop(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.mu.Lock()
	sess := s.streams[name]
	s.mu.Unlock()
	if sess == nil {
		apiError(w, http.StatusNotFound, "no publisher of "+name)
		return
	}
	s.log.Info("stopping the publisher", "stream", name, "remote", sess.pub.Remote, "by", r.RemoteAddr)
	sess.pub.Stop(ws.ErrStopped)
	ctx, cancel := context.WithTimeout(r.Context(), stopWait)
	defer cancel()
	select {
	case <-sess.done:
		w.WriteHeader(http.StatusNoContent)
	case <-ctx.Done():
		apiError(w, http.StatusAccepted, "stopped; its session is still finishing")
	}
}

// stopWait bounds how long a DELETE of a stream waits for its session to finish.
const stopWait = 10 * time.Second

// recordings lists every recording under OUT/recordings, newest first.
func (s *Server) recordings() []APIRecording {
	live := map[string]bool{}
	s.mu.Lock()
	for _, sess := range s.streams {
		if sess.recPath != "" {
			live[sess.recPath] = true
		}
	}
	s.mu.Unlock()
	out := []APIRecording{}
	for _, rec := range s.web.Recordings("") {
		p := filepath.Join(stream.RecordingsFolder(s.o.Out, rec.Stream), rec.File)
		out = append(out, APIRecording{Recording: rec, Path: absPath(p), Live: live[p]})
	}
	return out
}

// apiDeleteRecording deletes a recording and its seekable copy; not one being written.
func (s *Server) apiDeleteRecording(w http.ResponseWriter, r *http.Request) {
	name, file := r.PathValue("stream"), r.PathValue("file")
	if !stream.Valid(name) || !stream.IsRecording(file) || filepath.Base(file) != file {
		apiError(w, http.StatusBadRequest, "want /api/recordings/{stream}/{file}, as /api/recordings lists them")
		return
	}
	p := filepath.Join(stream.RecordingsFolder(s.o.Out, name), file)
	for _, rec := range s.recordings() {
		if rec.Stream == name && rec.File == file && rec.Live {
			apiError(w, http.StatusConflict, "the recording is still being written: stop its stream first")
			return
		}
	}
	if err := s.deleteRecording(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			apiError(w, http.StatusNotFound, "no recording "+name+"/"+file)
			return
		}
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.log.Info("recording deleted", "stream", name, "file", file, "by", r.RemoteAddr)
	w.WriteHeader(http.StatusNoContent)
}

// writeAPI writes v as the JSON answer.
func writeAPI(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// apiError answers {"error": msg}.
func apiError(w http.ResponseWriter, status int, msg string) {
	writeAPI(w, status, map[string]string{"error": msg})
}

// deleteRecording deletes the recording at p, its seekable copy and the markers of their
// stored copies (which stay in the store). It is an fs.ErrNotExist when there was none.
func (s *Server) deleteRecording(p string) error {
	seekable := filepath.Join(filepath.Dir(p), stream.SeekableOf(filepath.Base(p)))
	found := false
	for _, f := range []string{p, p + StoredSuffix, seekable, seekable + StoredSuffix} {
		err := os.Remove(f)
		switch {
		case err == nil:
			found = true
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
	}
	if !found {
		return fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	}
	return nil
}
