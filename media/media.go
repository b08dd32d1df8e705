// Package media finds the structure of the byte streams a browser's MediaRecorder
// produces: WebM (Matroska) and fragmented MP4.
//
// Every stage of sv needs the same few facts about a stream: where its header ends
// (the bytes a decoder needs before any media, to be replayed to late joiners),
// where each WebM Cluster or MP4 moof starts, its timestamp and whether it opens
// with a keyframe (where a segment may be cut), and the timestamp, size and
// keyframe flag of every frame. Ingest, send/replay, DASH packaging, analysis and
// the all-in-one server all read these facts from a [Scanner] instead of parsing
// containers themselves.
//
// The input is a live byte stream that arrives in arbitrary pieces: MediaRecorder
// cuts its chunks in the middle of elements, and Chrome writes WebM with
// unknown-size Segments and Clusters. A Scanner is therefore a push parser: feed it
// the stream with Write in any pieces and it reports [Event]s in stream order,
// identical whatever the split. It buffers only small elements (at most 64 KiB of
// any element body) and skips media payloads by counting, so its memory is bounded
// whatever sizes the input claims, and Write does not allocate in the steady state.
//
// Parse errors name the container and the byte offset of the offending element, as
// in "webm: invalid element size at offset 1234".
//
// A [FragmentReader] serves sv's DASH packager, which has FFmpeg write one
// fragmented MP4 stream per track (empty_moov, default_base_moof, cmaf) and
// writes its pieces to files as they are. It is a pull reader: Init returns the
// init segment (ftyp and moov) with the track's RFC 6381 codecs value, timescale
// and dimensions or audio format, and Next each fragment (moof and mdat, with any
// styp, sidx, prft or emsg before it) with its decode time, duration and whether
// it starts with a sync sample, where a segment may be cut. It keeps one fragment
// in memory at a time (at most 32 MiB), and makes an Opus init segment that
// Chromium accepts (see [Init]).
//
// What is not covered: MP4 frames are reported from movie fragments only (the
// sample tables of a non-fragmented file's moov are not read, so such a file gives
// its tracks and nothing else); MP4 edit lists are not applied (times are decode
// time plus composition offset, which is what ffprobe reports for the fragmented
// MP4 of Chrome and of FFmpeg with empty_moov); laced WebM blocks count as one
// frame; encrypted blocks are skipped.
package media

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
)

// Kind is a container format.
type Kind int

// Container formats recognised by [Sniff].
const (
	Unknown Kind = iota
	WebM         // WebM or Matroska
	MP4          // ISO BMFF, fragmented MP4 included
)

// String returns "unknown", "webm" or "mp4".
func (k Kind) String() string {
	switch k {
	case WebM:
		return "webm"
	case MP4:
		return "mp4"
	default:
		return "unknown"
	}
}

var ebmlMagic = []byte{0x1A, 0x45, 0xDF, 0xA3}

// Sniff recognises a container from the first bytes of a stream: WebM starts with
// the EBML magic 1A 45 DF A3; MP4 starts with an ftyp, styp or moof box. It needs
// 4 bytes to recognise WebM and 8 for MP4.
func Sniff(p []byte) Kind {
	if bytes.HasPrefix(p, ebmlMagic) {
		return WebM
	}
	if len(p) >= 8 {
		switch string(p[4:8]) {
		case "ftyp", "styp", "moof":
			return MP4
		}
	}
	return Unknown
}

// ErrNotMedia is returned for a stream that is neither WebM nor MP4. The packages that
// read media streams (ws, dash) wrap it with what they know of the stream.
var ErrNotMedia = errors.New("not a WebM or MP4 stream")

// EventKind says what an [Event] reports.
type EventKind int

// Kinds of [Event].
const (
	// EventTrack: a track was described; Event.Track and Event.Info are set, and
	// Offset and Size locate the WebM TrackEntry or MP4 trak.
	EventTrack EventKind = iota
	// EventHeader: the stream header is complete. Offset is where it ends (the
	// first Cluster or moof starts there) and Size is its length: for the first
	// stream in the input the header is bytes [0, Offset). WebM: the EBML header,
	// the Segment header, Info, Tracks... everything before the first Cluster.
	// MP4: ftyp and moov, everything before the first moof. A new EBML header or
	// ftyp after media starts a new stream (recorders restart, streams get
	// concatenated), which gets its own EventHeader with the header occupying
	// [Offset-Size, Offset).
	EventHeader
	// EventCluster: a WebM Cluster or an MP4 moof starts at Offset; Size is its
	// whole size including its header, -1 when unknown (live WebM). Time is its
	// timestamp (WebM: the Cluster timestamp; MP4: the presentation time of the
	// sample that decides Keyframe). Keyframe says whether its first video frame
	// is a keyframe (its first frame of any track when the stream has no video).
	// It is reported when that frame has been parsed; the frames before it in the
	// cluster are held back so that the order of events is kept (at most 64: after
	// that, or at the end of a cluster without video, it is reported with Keyframe
	// false and, for MP4, the time of its first frame). Not every cluster opens
	// with a keyframe: Chrome starts a WebM Cluster at every keyframe and at every
	// recorder chunk, so check Keyframe before cutting a segment there.
	EventCluster
	// EventBlock: one media frame: a WebM SimpleBlock or Block (laced blocks
	// count as one frame) or an MP4 sample. [Offset, Offset+Size) are its
	// payload bytes, Time its presentation time, Track its track number.
	// Offset and Size are -1 for an MP4 sample that cannot be located: no
	// sample size in trun, tfhd or trex, or data that follows such a sample.
	// A block is reported as soon as it is described (WebM: when the block
	// header has been read; BlockGroups: at the end of the group; MP4: when the
	// trun has been read, before the mdat that holds the payload), so the payload
	// may not have arrived yet.
	EventBlock
)

// String returns "track", "header", "cluster" or "block".
func (k EventKind) String() string {
	switch k {
	case EventTrack:
		return "track"
	case EventHeader:
		return "header"
	case EventCluster:
		return "cluster"
	case EventBlock:
		return "block"
	default:
		return fmt.Sprintf("EventKind(%d)", int(k))
	}
}

// TrackInfo describes a track.
type TrackInfo struct {
	Number     uint64  // WebM TrackNumber, MP4 track_ID
	Type       string  // "video", "audio" or "other"
	Codec      string  // WebM CodecID ("V_VP8", "V_MPEG4/ISO/AVC", "A_OPUS"); MP4 sample entry ("avc1", "vp09", "Opus", "mp4a")
	Width      int     // video only
	Height     int     // video only
	SampleRate float64 // audio only
	Channels   int     // audio only; MP4: the sample entry's channelcount, which FFmpeg writes as 2 for every mp4a
}

// Event is something a [Scanner] found in a stream; see [EventKind].
type Event struct {
	Kind     EventKind
	Offset   int64 // byte offset in the stream
	Size     int64 // -1 when unknown
	Time     time.Duration
	Track    uint64
	Keyframe bool
	Info     *TrackInfo // EventTrack only
}

// Limits that bound a Scanner's memory whatever the input claims.
const (
	maxBody   = 64 << 10 // bytes of one element body buffered; the rest is skipped
	maxDepth  = 16       // open elements
	maxTracks = 64       // tracks per stream
	maxQueue  = 64       // events held back while a cluster's keyframe flag is unknown
)

var errClosed = errors.New("media: write after close")

// Scanner is a push parser: feed it a stream in any pieces with Write and it calls
// fn for each [Event] in stream order. The events do not depend on how the stream
// is split. A Scanner is not safe for concurrent use.
type Scanner struct {
	kind     Kind
	err      error // sticky: from fn, a parse error, or errClosed after Close
	closed   bool
	closeErr error
	sniff    [8]byte
	sniffN   int
	em       emitter
	webm     webmScanner
	mp4      mp4Scanner
}

// NewScanner returns a Scanner for a stream of kind k that reports events to fn.
// With k == Unknown the Scanner sniffs the kind from the first bytes written
// (see [Scanner.Kind]). An error returned by fn stops the Scanner: that Write and
// all later ones return it.
func NewScanner(k Kind, fn func(Event) error) *Scanner {
	s := &Scanner{}
	s.em.fn = fn
	s.em.queue = make([]Event, 0, maxQueue)
	s.setKind(k)
	return s
}

func (s *Scanner) setKind(k Kind) {
	s.kind = k
	switch k {
	case WebM:
		s.webm.init(&s.em)
	case MP4:
		s.mp4.init(&s.em)
	}
}

// Kind returns the kind of the stream: the one given to [NewScanner], or the one
// sniffed so far (Unknown until enough bytes have been written).
func (s *Scanner) Kind() Kind { return s.kind }

// Offset returns the number of bytes the Scanner has consumed.
func (s *Scanner) Offset() int64 {
	switch s.kind {
	case WebM:
		return s.webm.off
	case MP4:
		return s.mp4.off
	}
	return int64(s.sniffN)
}

// Write parses p, calling fn for each event completed by it. It returns an error
// if fn did or if the stream is malformed; the Scanner then stops and later
// Writes return the same error.
func (s *Scanner) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n := 0
	if s.kind == Unknown {
		n = copy(s.sniff[s.sniffN:], p)
		s.sniffN += n
		k, ok := sniffPrefix(s.sniff[:s.sniffN])
		if !ok {
			return n, nil
		}
		if k == Unknown {
			s.err = fmt.Errorf("%w (first bytes %x)", ErrNotMedia, s.sniff[:s.sniffN])
			return n, s.err
		}
		s.setKind(k)
		if _, err := s.write(s.sniff[:s.sniffN]); err != nil {
			s.err = err
			return n, err
		}
	}
	m, err := s.write(p[n:])
	if err != nil {
		s.err = err
	}
	return n + m, err
}

func (s *Scanner) write(p []byte) (int, error) {
	switch s.kind {
	case WebM:
		return s.webm.write(p)
	case MP4:
		return s.mp4.write(p)
	}
	return 0, fmt.Errorf("media: cannot scan a stream of kind %v", s.kind)
}

// sniffPrefix is Sniff for a stream prefix: ok is false while more bytes could
// change the answer.
func sniffPrefix(p []byte) (k Kind, ok bool) {
	if len(p) < len(ebmlMagic) && bytes.HasPrefix(ebmlMagic, p) {
		return Unknown, false
	}
	if k := Sniff(p); k != Unknown {
		return k, true
	}
	return Unknown, len(p) >= 8
}

// Close reports the end of the stream. It returns an error wrapping
// io.ErrUnexpectedEOF if the stream ended inside an element header or inside an
// element of known size, and nil if it ended cleanly or inside an element of
// unknown size (a live WebM Cluster, an MP4 box of size 0). Events still held back
// are reported first. Later Writes fail.
func (s *Scanner) Close() error {
	if s.closed {
		return s.closeErr
	}
	s.closed = true
	err := s.err
	if err == nil {
		switch s.kind {
		case WebM:
			err = s.webm.close()
		case MP4:
			err = s.mp4.close()
		default:
			if s.sniffN > 0 {
				err = fmt.Errorf("media: stream too short to recognize (%d bytes): %w", s.sniffN, io.ErrUnexpectedEOF)
			}
		}
	}
	s.closeErr = err
	s.err = errClosed
	if err != nil {
		s.err = err
	}
	return err
}

// Scan sniffs the kind of the stream r and scans all of it, calling fn for each
// event. It returns the kind and the first error from reading, parsing or fn;
// an empty or unrecognized stream gives [ErrNotMedia].
func Scan(r io.Reader, fn func(Event) error) (Kind, error) {
	s := NewScanner(Unknown, fn)
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := s.Write(buf[:n]); werr != nil {
				return s.Kind(), werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return s.Kind(), fmt.Errorf("media: read: %w", err)
		}
	}
	if err := s.Close(); err != nil {
		return s.Kind(), err
	}
	if s.Kind() == Unknown {
		return Unknown, ErrNotMedia
	}
	return s.Kind(), nil
}

// emitter delivers events to the callback, holding back the events of a cluster
// until its first video frame tells whether it starts with a keyframe.
type emitter struct {
	fn       func(Event) error
	hasVideo bool // the stream has a video track: wait for a video frame
	pending  bool // cluster is held back
	cluster  Event
	timed    bool // cluster.Time was set from a frame (MP4)
	mp4Time  bool // the cluster's time is the deciding frame's time
	queue    []Event
}

func (e *emitter) emit(ev Event) error {
	if e.pending {
		if len(e.queue) < cap(e.queue) {
			e.queue = append(e.queue, ev)
			return nil
		}
		// Too many frames before a video frame: give up waiting.
		if err := e.flush(); err != nil {
			return err
		}
	}
	return e.fn(ev)
}

// block reports a frame; video says whether it belongs to a video track.
func (e *emitter) block(ev Event, video bool) error {
	if e.pending {
		if e.mp4Time && !e.timed {
			e.cluster.Time = ev.Time
			e.timed = true
		}
		if video || !e.hasVideo {
			e.cluster.Keyframe = ev.Keyframe
			if e.mp4Time {
				e.cluster.Time = ev.Time
			}
			if err := e.flush(); err != nil {
				return err
			}
		}
	}
	return e.emit(ev)
}

func (e *emitter) startCluster(ev Event) error {
	if err := e.endCluster(); err != nil {
		return err
	}
	e.cluster = ev
	e.pending = true
	e.timed = false
	return nil
}

// endCluster reports a held-back cluster whose keyframe flag was never decided.
func (e *emitter) endCluster() error {
	if !e.pending {
		return nil
	}
	return e.flush()
}

func (e *emitter) flush() error {
	e.pending = false
	q := e.queue
	e.queue = e.queue[:0]
	if err := e.fn(e.cluster); err != nil {
		return err
	}
	for i := range q {
		if err := e.fn(q[i]); err != nil {
			return err
		}
	}
	return nil
}

// ticks converts v units of 1/scale seconds to a duration; 0 if scale is 0.
func ticks(v int64, scale uint32) time.Duration {
	if scale == 0 {
		return 0
	}
	s := int64(scale)
	return time.Duration(v/s*1e9 + v%s*1e9/s)
}
