package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed page.html
var page []byte

// ErrPage is returned when the page reports a failure (getUserMedia, MediaRecorder, upload).
var ErrPage = errors.New("page reported an error")

// maxChunkSize bounds one uploaded chunk; MediaRecorder chunks are a few hundred kilobytes.
const maxChunkSize = 64 << 20

// Options says what to record and how.
type Options struct {
	Chromium           string        // browser binary
	MimeType           string        // MediaRecorder mimeType, used exactly as given
	Duration           time.Duration // from the recorder's start event to stop()
	KeyframeInterval   time.Duration // videoKeyFrameIntervalDuration; 0 leaves Chrome's default
	Timeslice          time.Duration // MediaRecorder.start(timeslice)
	VideoBitsPerSecond int
	AudioBitsPerSecond int
	Audio              bool   // ask getUserMedia for the fake microphone too
	Width, Height      int    // ideal camera constraints
	FrameRate          int    // fake camera rate and ideal constraint
	FakeVideo          string // y4m file for --use-file-for-fake-video-capture, or ""
	Timeout            time.Duration
	BrowserLog         string // keep Chromium's output in this file, or ""
}

// Chunk is one dataavailable event as received by the server.
type Chunk struct {
	Seq      int
	Size     int
	Timecode float64 // BlobEvent.timecode, ms
	Arrived  time.Duration
	Head     []byte // first bytes, to see where chunk boundaries fall
	Tail     []byte // last bytes
}

// Started is what the page reports once the recorder runs.
type Started struct {
	MimeType           string         `json:"mimeType"`
	UserAgent          string         `json:"userAgent"`
	VideoBitsPerSecond float64        `json:"videoBitsPerSecond"`
	AudioBitsPerSecond float64        `json:"audioBitsPerSecond"`
	Video              map[string]any `json:"video"`
	Audio              map[string]any `json:"audio"`
}

// Result describes a finished recording.
type Result struct {
	Started
	FinalMimeType string // recorder.mimeType after stop
	Elapsed       time.Duration
	Chunks        []Chunk
	Bytes         int64
}

// pageConfig is served to the page as JSON.
type pageConfig struct {
	MimeType           string `json:"mimeType"`
	TimesliceMs        int64  `json:"timesliceMs"`
	DurationMs         int64  `json:"durationMs"`
	KeyFrameIntervalMs int64  `json:"keyFrameIntervalMs"`
	VideoBitsPerSecond int    `json:"videoBitsPerSecond"`
	AudioBitsPerSecond int    `json:"audioBitsPerSecond"`
	Audio              bool   `json:"audio"`
	Width              int    `json:"width"`
	Height             int    `json:"height"`
	FrameRate          int    `json:"frameRate"`
}

// Record starts Chromium on a page that records with MediaRecorder and writes every chunk to
// dst in sequence order, exactly as the browser produced it. progress, if not nil, receives
// short status lines.
func Record(ctx context.Context, dst io.Writer, o Options, progress func(string)) (*Result, error) {
	if progress == nil {
		progress = func(string) {}
	}
	if o.Timeout <= 0 {
		o.Timeout = o.Duration + time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := newSession(dst, o)
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.finish(fmt.Errorf("http server: %w", err))
		}
	}()
	defer func() {
		shutCtx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = srv.Shutdown(shutCtx)
		wg.Wait()
	}()

	url := "http://" + ln.Addr().String() + "/"
	b, err := startBrowser(o, url)
	if err != nil {
		return nil, err
	}
	defer b.close()
	progress(fmt.Sprintf("chromium pid %d on %s", b.pid(), url))

	loadTimer := time.NewTimer(30 * time.Second)
	defer loadTimer.Stop()
	loaded := s.loaded
	var result error
wait:
	for {
		select {
		case err := <-s.done:
			result = err
			break wait
		case <-loaded:
			loaded = nil
			loadTimer.Stop()
			progress("page loaded")
		case st := <-s.startedCh:
			progress(fmt.Sprintf("recording %s for %s (recorder.mimeType %q)", o.MimeType, o.Duration, st.MimeType))
		case <-loadTimer.C:
			result = fmt.Errorf("page did not load within 30s%s", b.logTail())
			break wait
		case <-b.exited:
			result = fmt.Errorf("chromium exited before the recording finished (%w)%s", b.err, b.logTail())
			break wait
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				result = fmt.Errorf("recording did not finish within %s (%d chunks received)", o.Timeout, s.received())
			} else {
				result = ctx.Err()
			}
			break wait
		}
	}
	if err := b.stop(); err != nil && result == nil {
		result = err
	}
	if result != nil {
		return nil, result
	}
	return s.result(), nil
}

// session is the server side of one recording.
type session struct {
	cfg       pageConfig
	start     time.Time
	loaded    chan struct{}
	startedCh chan Started
	done      chan error // receives exactly one value: nil or the first failure
	once      sync.Once

	mu      sync.Mutex
	dst     io.Writer
	next    int
	pending map[int]Chunk
	data    map[int][]byte
	chunks  []Chunk
	bytes   int64
	started Started
	final   string
	elapsed time.Duration
}

func newSession(dst io.Writer, o Options) *session {
	return &session{
		cfg: pageConfig{
			MimeType:           o.MimeType,
			TimesliceMs:        o.Timeslice.Milliseconds(),
			DurationMs:         o.Duration.Milliseconds(),
			KeyFrameIntervalMs: o.KeyframeInterval.Milliseconds(),
			VideoBitsPerSecond: o.VideoBitsPerSecond,
			AudioBitsPerSecond: o.AudioBitsPerSecond,
			Audio:              o.Audio,
			Width:              o.Width,
			Height:             o.Height,
			FrameRate:          o.FrameRate,
		},
		start:     time.Now(),
		loaded:    make(chan struct{}),
		startedCh: make(chan Started, 1),
		done:      make(chan error, 1),
		dst:       dst,
		pending:   map[int]Chunk{},
		data:      map[int][]byte{},
	}
}

func (s *session) finish(err error) {
	s.once.Do(func() { s.done <- err })
}

func (s *session) received() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next + len(s.pending)
}

func (s *session) result() *Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &Result{Started: s.started, FinalMimeType: s.final, Elapsed: s.elapsed, Chunks: s.chunks, Bytes: s.bytes}
}

func (s *session) handler() http.Handler {
	mux := http.NewServeMux()
	var loadOnce sync.Once
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(page)
	})
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, r *http.Request) {
		loadOnce.Do(func() { close(s.loaded) })
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.cfg)
	})
	mux.HandleFunc("POST /started", func(w http.ResponseWriter, r *http.Request) {
		var st Started
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&st); err != nil {
			http.Error(w, "bad started report: "+err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.started = st
		s.mu.Unlock()
		select {
		case s.startedCh <- st:
		default:
		}
	})
	mux.HandleFunc("POST /chunk", func(w http.ResponseWriter, r *http.Request) {
		seq, err := strconv.Atoi(r.URL.Query().Get("seq"))
		if err != nil || seq < 0 {
			http.Error(w, "bad seq", http.StatusBadRequest)
			s.finish(fmt.Errorf("chunk with bad sequence number %q", r.URL.Query().Get("seq")))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxChunkSize))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			s.finish(fmt.Errorf("read chunk %d: %w", seq, err))
			return
		}
		tc, _ := strconv.ParseFloat(r.Header.Get("X-Timecode"), 64)
		if err := s.add(seq, tc, body); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			s.finish(err)
		}
	})
	mux.HandleFunc("POST /done", func(w http.ResponseWriter, r *http.Request) {
		var d struct {
			Chunks    int     `json:"chunks"`
			MimeType  string  `json:"mimeType"`
			ElapsedMs float64 `json:"elapsedMs"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&d); err != nil {
			http.Error(w, "bad done report: "+err.Error(), http.StatusBadRequest)
			s.finish(fmt.Errorf("bad done report: %w", err))
			return
		}
		err := s.complete(d.Chunks, d.MimeType, time.Duration(d.ElapsedMs*float64(time.Millisecond)))
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
		}
		s.finish(err)
	})
	mux.HandleFunc("POST /error", func(w http.ResponseWriter, r *http.Request) {
		msg, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		s.finish(fmt.Errorf("%w: %s", ErrPage, strings.TrimSpace(string(msg))))
	})
	return mux
}

// maxPending bounds how many chunks may wait for a missing predecessor.
const maxPending = 64

// add accepts chunk seq and writes every chunk that is now in order.
func (s *session) add(seq int, timecode float64, body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.pending[seq]; dup || seq < s.next {
		return fmt.Errorf("chunk %d received twice", seq)
	}
	if len(s.pending) >= maxPending {
		return fmt.Errorf("chunk %d still missing after %d later chunks", s.next, maxPending)
	}
	s.pending[seq] = Chunk{
		Seq: seq, Size: len(body), Timecode: timecode, Arrived: time.Since(s.start),
		Head: append([]byte(nil), body[:min(len(body), 16)]...),
		Tail: append([]byte(nil), body[max(0, len(body)-4):]...),
	}
	s.data[seq] = body
	for {
		c, ok := s.pending[s.next]
		if !ok {
			return nil
		}
		if _, err := s.dst.Write(s.data[s.next]); err != nil {
			return fmt.Errorf("write chunk %d: %w", s.next, err)
		}
		s.bytes += int64(c.Size)
		s.chunks = append(s.chunks, c)
		delete(s.pending, s.next)
		delete(s.data, s.next)
		s.next++
	}
}

// complete checks that chunks 0..n-1 arrived, with no gap and nothing extra.
func (s *session) complete(n int, mimeType string, elapsed time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next != n || len(s.pending) != 0 {
		var missing []string
		for i := s.next; i < n && len(missing) < 10; i++ {
			if _, ok := s.pending[i]; !ok {
				missing = append(missing, strconv.Itoa(i))
			}
		}
		return fmt.Errorf("page sent %d chunks but %d arrived in order (missing: %s)",
			n, s.next, strings.Join(missing, ", "))
	}
	if n == 0 {
		return errors.New("recorder produced no chunks")
	}
	s.final = mimeType
	s.elapsed = elapsed
	return nil
}
