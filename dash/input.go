package dash

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/svtool/sv/media"
)

// Errors for input that cannot be packaged; Run wraps them with details. Input that is not
// media at all gives an error wrapping media.ErrNotMedia.
var (
	ErrNoInput   = errors.New("no input: the stream ended before its first byte")
	ErrTruncated = errors.New("input is truncated")
)

// maxHeader bounds the bytes read while looking for the end of the input's header: a
// MediaRecorder header is a few hundred bytes.
const maxHeader = 1 << 20

// watcher follows the input stream as it is read, with a media.Scanner: it finds the
// header (container and tracks) that Run needs before starting FFmpeg, then watches the
// keyframes of the video. It sits in the reading goroutine: a scan error after the header
// only stops the watching, never the stream, which FFmpeg judges.
type watcher struct {
	sc    *media.Scanner
	read  int64
	first []byte // the first bytes, for error messages

	mu       sync.Mutex
	in       input
	videoNum uint64
	audioNum uint64

	// The timeline: the input time of each kept track's first frame, and per track the
	// earliest "received at minus media time" over its frames (see the packager).
	firstVideo, firstAudio   time.Duration
	seenVideo, seenAudio     bool
	videoOrigin, audioOrigin time.Time // wall-clock time of media time 0, by each track
	now                      func() time.Time
	done                     bool          // header result delivered
	header                   chan struct{} // closed when the header is known or cannot be
	err                      error         // why there is no header

	// Keyframe watch, in the reading goroutine only.
	onKeyframeGap func(gap time.Duration) // called with each interval between video keyframes
	lastKey       time.Duration
	seenKey       bool
	scanErr       error
}

func newWatcher() *watcher {
	w := &watcher{header: make(chan struct{}), now: time.Now}
	w.sc = media.NewScanner(media.Unknown, w.event)
	return w
}

func (w *watcher) event(e media.Event) error {
	switch e.Kind {
	case media.EventTrack:
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.done {
			return nil // a later stream in the input; FFmpeg keeps the first one's tracks
		}
		switch {
		case e.Info.Type == "video" && w.in.video == nil:
			info := *e.Info
			w.in.video = &info
			w.videoNum = e.Track
		case e.Info.Type == "audio" && w.in.audio == nil:
			info := *e.Info
			w.in.audio = &info
			w.audioNum = e.Track
		}
	case media.EventHeader:
		w.finish(nil)
	case media.EventBlock:
		w.frame(e)
		if e.Keyframe && e.Track == w.videoNum && w.in.video != nil {
			if w.seenKey && w.onKeyframeGap != nil && e.Time > w.lastKey {
				w.onKeyframeGap(e.Time - w.lastKey)
			}
			w.lastKey, w.seenKey = e.Time, true
		}
	}
	return nil
}

// frame notes when a frame of a kept track arrived.
func (w *watcher) frame(e media.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	origin := w.now().Add(-e.Time)
	switch {
	case w.in.video != nil && e.Track == w.videoNum:
		if !w.seenVideo {
			w.firstVideo, w.seenVideo = e.Time, true
		}
		if w.videoOrigin.IsZero() || origin.Before(w.videoOrigin) {
			w.videoOrigin = origin
		}
	case w.in.audio != nil && e.Track == w.audioNum:
		if !w.seenAudio {
			w.firstAudio, w.seenAudio = e.Time, true
		}
		if w.audioOrigin.IsZero() || origin.Before(w.audioOrigin) {
			w.audioOrigin = origin
		}
	}
}

// timeline returns the wall-clock time of media time 0, once a frame has arrived: the
// later of the tracks' own, so that the timeline holds for every track. A publisher can
// send one track seconds after the other (Firefox's video, when its encoder lags), and a
// timeline set by the prompt one would promise media of the other that is not there.
func (w *watcher) timeline() (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	o := w.videoOrigin
	if w.audioOrigin.After(o) {
		o = w.audioOrigin
	}
	return o, !o.IsZero()
}

// firsts returns the input times of the first video and audio frames.
func (w *watcher) firsts() (video, audio time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.firstVideo, w.firstAudio
}

// seen reports whether a video and an audio frame have gone by.
func (w *watcher) seen() (video, audio bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seenVideo, w.seenAudio
}

// finish delivers the header result once.
func (w *watcher) finish(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	w.done = true
	w.err = err
	if err == nil {
		w.in.kind = w.sc.Kind()
	}
	close(w.header)
}

// Write scans p. It never fails: it is the side of a TeeReader.
func (w *watcher) Write(p []byte) (int, error) {
	w.read += int64(len(p))
	if len(w.first) < 8 {
		w.first = append(w.first, p[:min(len(p), 8-len(w.first))]...)
	}
	if w.scanErr == nil {
		if _, err := w.sc.Write(p); err != nil {
			w.scanErr = err
			switch {
			case errors.Is(err, media.ErrNotMedia):
				w.finish(fmt.Errorf("input is %w (it starts with %s)", media.ErrNotMedia, quoteStart(w.first)))
			default:
				w.finish(fmt.Errorf("input is %w: %w", media.ErrNotMedia, err))
			}
		}
	}
	if w.read > maxHeader {
		w.finish(fmt.Errorf("input is %w: no end of header in the first %d bytes", media.ErrNotMedia, maxHeader))
	}
	return len(p), nil
}

// end reports the end of the input (err is the read error, nil at EOF).
func (w *watcher) end(err error) {
	switch {
	case err != nil:
		w.finish(fmt.Errorf("read input: %w", err))
	case w.read == 0:
		w.finish(ErrNoInput)
	case w.sc.Kind() == media.Unknown:
		w.finish(fmt.Errorf("input is %w: only %d bytes", media.ErrNotMedia, w.read))
	default:
		if cerr := w.sc.Close(); cerr != nil {
			w.finish(fmt.Errorf("%w: it ends inside its header, after %d bytes: %w", ErrTruncated, w.read, cerr))
		} else {
			w.finish(fmt.Errorf("%w: it ends inside its header, after %d bytes", ErrTruncated, w.read))
		}
	}
}

// result returns the header once known.
func (w *watcher) result() (input, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.in, w.err
}

// quoteStart shows the first bytes of a stream in an error message.
func quoteStart(p []byte) string {
	return fmt.Sprintf("% x", p)
}

// reader is the input as read by the queue: it feeds the watcher and tells it how the
// input ended.
type reader struct {
	r io.Reader
	w *watcher
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.w.Write(p[:n])
	}
	switch {
	case err == io.EOF:
		r.w.end(nil)
	case err != nil:
		r.w.end(err)
	}
	return n, err
}
