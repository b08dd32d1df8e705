package media

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Matroska element IDs, marker bits kept.
const (
	idEBML              = 0x1A45DFA3
	idSegment           = 0x18538067
	idSeekHead          = 0x114D9B74
	idInfo              = 0x1549A966
	idTracks            = 0x1654AE6B
	idCluster           = 0x1F43B675
	idCues              = 0x1C53BB6B
	idChapters          = 0x1043A770
	idTags              = 0x1254C367
	idAttachments       = 0x1941A469
	idTimecodeScale     = 0x2AD7B1
	idTrackEntry        = 0xAE
	idTrackNumber       = 0xD7
	idTrackType         = 0x83
	idCodecID           = 0x86
	idVideo             = 0xE0
	idAudio             = 0xE1
	idPixelWidth        = 0xB0
	idPixelHeight       = 0xBA
	idSamplingFrequency = 0xB5
	idChannels          = 0x9F
	idTimecode          = 0xE7
	idSimpleBlock       = 0xA3
	idBlockGroup        = 0xA0
	idBlock             = 0xA1
	idReferenceBlock    = 0xFB
)

// webmParent returns the parent of the elements whose place in the Matroska
// schema matters here: those that are parsed, and those that end an
// unknown-size master by appearing at a higher level. Top-level elements have
// parent 0. ok is false for the rest (Void, CRC-32 and unknown elements), which
// are taken as children of whatever element is open.
func webmParent(id uint32) (parent uint32, ok bool) {
	switch id {
	case idEBML, idSegment:
		return 0, true
	case idSeekHead, idInfo, idTracks, idCluster, idCues, idChapters, idTags, idAttachments:
		return idSegment, true
	case idTimecodeScale, 0x4489 /* Duration */, 0x73A4 /* SegmentUUID */, 0x7BA9, /* Title */
		0x4D80 /* MuxingApp */, 0x5741 /* WritingApp */, 0x4461 /* DateUTC */ :
		return idInfo, true
	case idTrackEntry:
		return idTracks, true
	case idTrackNumber, 0x73C5 /* TrackUID */, idTrackType, idCodecID, 0x63A2, /* CodecPrivate */
		idVideo, idAudio, 0x536E /* Name */, 0x22B59C /* Language */, 0x23E383, /* DefaultDuration */
		0x9C /* FlagLacing */, 0x88 /* FlagDefault */, 0xB9 /* FlagEnabled */, 0x56AA, /* CodecDelay */
		0x56BB /* SeekPreRoll */, 0x6D80 /* ContentEncodings */ :
		return idTrackEntry, true
	case idPixelWidth, idPixelHeight, 0x54B0 /* DisplayWidth */, 0x54BA /* DisplayHeight */, 0x55B0 /* Colour */ :
		return idVideo, true
	case idSamplingFrequency, idChannels, 0x6264 /* BitDepth */ :
		return idAudio, true
	case idTimecode, 0x5854 /* SilentTracks */, 0xA7 /* Position */, 0xAB, /* PrevSize */
		idSimpleBlock, idBlockGroup, 0xAF /* EncryptedBlock */ :
		return idCluster, true
	case idBlock, 0x75A1 /* BlockAdditions */, 0x9B /* BlockDuration */, 0xFA, /* ReferencePriority */
		idReferenceBlock, 0xA4 /* CodecState */, 0x75A2 /* DiscardPadding */ :
		return idBlockGroup, true
	}
	return 0, false
}

// webmDescends reports the masters the scanner enters (when found in place).
func webmDescends(id uint32) bool {
	switch id {
	case idSegment, idInfo, idTracks, idTrackEntry, idVideo, idAudio, idCluster, idBlockGroup:
		return true
	}
	return false
}

// webmLeaf returns how many body bytes of a parsed leaf element to buffer;
// ok is false for elements that are skipped.
func webmLeaf(id uint32, size int64) (want int, ok bool, err error) {
	switch id {
	case idTimecodeScale, idTrackNumber, idTrackType, idPixelWidth, idPixelHeight, idChannels, idTimecode:
		if size > 8 {
			return 0, false, fmt.Errorf("invalid integer size %d", size)
		}
		return int(size), true, nil
	case idSamplingFrequency:
		if size != 0 && size != 4 && size != 8 {
			return 0, false, fmt.Errorf("invalid float size %d", size)
		}
		return int(size), true, nil
	case idCodecID:
		return int(min(size, maxBody)), true, nil
	case idSimpleBlock, idBlock:
		return int(min(size, 11)), true, nil // track vint (up to 8), timecode, flags
	case idReferenceBlock:
		return 0, true, nil
	}
	return 0, false, nil
}

type webmState uint8

const (
	webmHeader webmState = iota // reading an element ID and size
	webmBody                    // buffering the start of an element body
	webmSkip                    // skipping the rest of a body
)

type webmMaster struct {
	id         uint32
	start, end int64 // end is -1 for unknown size
}

type webmTrack struct {
	number uint64
	video  bool
}

// webmScanner is the WebM half of Scanner.
type webmScanner struct {
	em    *emitter
	off   int64 // offset of the next byte
	state webmState

	// the element being read
	hdr     [12]byte
	hdrN    int
	idLen   int
	sizeLen int
	id      uint32
	start   int64 // offset of its ID
	size    int64 // body size, -1 if unknown
	leaf    bool  // its body is parsed
	want    int   // body bytes to buffer
	buf     []byte
	skip    int64 // body bytes left to skip

	stack [maxDepth]webmMaster
	depth int

	// the current stream
	streamStart int64
	segmentSeen bool
	headerDone  bool
	scale       int64 // TimecodeScale, ns
	tracks      []webmTrack
	track       TrackInfo // TrackEntry being read
	clusterTC   int64
	group       struct {
		ok         bool
		ref        bool
		off, size  int64
		track      uint64
		rel        int16
		videoTrack bool
	}
}

func (w *webmScanner) init(em *emitter) {
	w.em = em
	w.scale = 1e6
	w.tracks = make([]webmTrack, 0, 4)
}

func (w *webmScanner) errorf(at int64, format string, args ...any) error {
	return fmt.Errorf("webm: "+format+" at offset %d", append(args, at)...)
}

func (w *webmScanner) write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch w.state {
		case webmHeader:
			c := p[n]
			n++
			w.off++
			if w.hdrN == 0 {
				w.start = w.off - 1
				w.idLen = vintLen(c)
				if w.idLen > 4 {
					return n, w.errorf(w.start, "invalid element id")
				}
				w.sizeLen = 0
			} else if w.hdrN == w.idLen {
				w.sizeLen = vintLen(c)
				if w.sizeLen > 8 {
					return n, w.errorf(w.start, "invalid element size")
				}
			}
			w.hdr[w.hdrN] = c
			w.hdrN++
			if w.sizeLen > 0 && w.hdrN == w.idLen+w.sizeLen {
				w.hdrN = 0
				if err := w.element(); err != nil {
					return n, err
				}
			}
		case webmBody:
			k := copy(w.buf[len(w.buf):w.want], p[n:])
			w.buf = w.buf[:len(w.buf)+k]
			n += k
			w.off += int64(k)
			if len(w.buf) == w.want {
				if err := w.bodyDone(); err != nil {
					return n, err
				}
			}
		case webmSkip:
			k := int64(len(p) - n)
			if k > w.skip {
				k = w.skip
			}
			n += int(k)
			w.off += k
			w.skip -= k
			if w.skip == 0 {
				w.state = webmHeader
				if err := w.ended(); err != nil {
					return n, err
				}
			}
		}
	}
	return n, nil
}

// vintLen returns the length of an EBML variable-size integer from its first
// byte: 1 to 8, or 9 when the first byte is 0 (invalid).
func vintLen(c byte) int {
	for i := 0; i < 8; i++ {
		if c&(0x80>>i) != 0 {
			return i + 1
		}
	}
	return 9
}

// element handles a complete element header.
func (w *webmScanner) element() error {
	var id uint32
	for _, c := range w.hdr[:w.idLen] {
		id = id<<8 | uint32(c)
	}
	sz := w.hdr[w.idLen : w.idLen+w.sizeLen]
	size := int64(sz[0] & (0xFF >> w.sizeLen))
	all := size == int64(0xFF>>w.sizeLen)
	for _, c := range sz[1:] {
		size = size<<8 | int64(c)
		all = all && c == 0xFF
	}
	if all {
		size = -1
	}
	w.id, w.size = id, size

	if id == idEBML {
		// A new EBML header ends everything: a new stream starts.
		if err := w.popTo(0); err != nil {
			return err
		}
		if w.segmentSeen {
			w.newStream()
		}
	} else if err := w.closeUnknown(id); err != nil {
		return err
	}

	if end := w.knownEnd(); end >= 0 && size >= 0 && w.off+size > end {
		return w.errorf(w.start, "element 0x%X overflows its parent", id)
	}
	parent, known := webmParent(id)
	top := uint32(0)
	if w.depth > 0 {
		top = w.stack[w.depth-1].id
	}
	inPlace := known && parent == top
	if inPlace && webmDescends(id) {
		return w.push(id, size)
	}
	if size < 0 {
		if _, leaf, _ := webmLeaf(id, 0); leaf || id == idEBML {
			return w.errorf(w.start, "element 0x%X with unknown size", id)
		}
		// An unknown-size element cannot be skipped: enter it; its
		// children are skipped and it ends like any unknown-size master.
		return w.push(id, size)
	}
	want, leaf := 0, false
	if inPlace {
		var err error
		if want, leaf, err = webmLeaf(id, size); err != nil {
			return w.errorf(w.start, "element 0x%X: %v", id, err)
		}
	}
	w.leaf = leaf
	w.want = want
	if cap(w.buf) < want {
		w.buf = make([]byte, 0, max(want, 256))
	}
	w.buf = w.buf[:0]
	if want > 0 {
		w.state = webmBody
		return nil
	}
	return w.bodyDone()
}

// bodyDone handles a buffered body and skips the rest of it.
func (w *webmScanner) bodyDone() error {
	if w.leaf {
		if err := w.handleLeaf(w.buf); err != nil {
			return err
		}
	}
	w.skip = w.size - int64(w.want)
	if w.skip > 0 {
		w.state = webmSkip
		return nil
	}
	w.state = webmHeader
	return w.ended()
}

// knownEnd returns the end of the innermost open element of known size, or -1.
func (w *webmScanner) knownEnd() int64 {
	for i := w.depth - 1; i >= 0; i-- {
		if w.stack[i].end >= 0 {
			return w.stack[i].end
		}
	}
	return -1
}

// closeUnknown ends the open unknown-size masters that the element id cannot be
// a child of: a Cluster ends at the next Cluster, Cues, Tags...
func (w *webmScanner) closeUnknown(id uint32) error {
	parent, known := webmParent(id)
	if !known {
		return nil
	}
	for i := w.depth - 1; i >= 0; i-- {
		m := w.stack[i]
		if m.id == parent {
			return w.popTo(i + 1)
		}
		if m.end >= 0 {
			return nil // inside a bounded element: whatever it holds is its own
		}
	}
	if parent == 0 {
		return w.popTo(0)
	}
	return nil // no such parent open: a stray element, skipped as a child
}

// ended ends the open elements whose known end has been reached.
func (w *webmScanner) ended() error {
	for i := 0; i < w.depth; i++ {
		if e := w.stack[i].end; e >= 0 && e <= w.off {
			return w.popTo(i)
		}
	}
	return nil
}

func (w *webmScanner) push(id uint32, size int64) error {
	if w.depth == maxDepth {
		return w.errorf(w.start, "elements nested too deep")
	}
	end := int64(-1)
	if size >= 0 {
		end = w.off + size
	}
	w.stack[w.depth] = webmMaster{id: id, start: w.start, end: end}
	w.depth++
	w.state = webmHeader
	switch id {
	case idSegment:
		w.segmentSeen = true
	case idTrackEntry:
		w.track = TrackInfo{}
	case idBlockGroup:
		w.group.ok, w.group.ref = false, false
	case idCluster:
		if !w.headerDone {
			w.headerDone = true
			ev := Event{Kind: EventHeader, Offset: w.start, Size: w.start - w.streamStart}
			if err := w.em.emit(ev); err != nil {
				return err
			}
		}
		w.clusterTC = 0
		total := int64(-1)
		if size >= 0 {
			total = end - w.start
		}
		if err := w.em.startCluster(Event{Kind: EventCluster, Offset: w.start, Size: total}); err != nil {
			return err
		}
	}
	return w.ended()
}

// popTo ends the open elements above depth k, innermost first.
func (w *webmScanner) popTo(k int) error {
	for w.depth > k {
		w.depth--
		m := w.stack[w.depth]
		switch m.id {
		case idTrackEntry:
			if err := w.trackDone(m); err != nil {
				return err
			}
		case idBlockGroup:
			if g := w.group; g.ok {
				w.group.ok = false
				ev := Event{Kind: EventBlock, Offset: g.off, Size: g.size, Track: g.track,
					Time: w.blockTime(g.rel), Keyframe: !g.ref}
				if err := w.em.block(ev, g.videoTrack); err != nil {
					return err
				}
			}
		case idCluster:
			if err := w.em.endCluster(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *webmScanner) newStream() {
	w.streamStart = w.start
	w.segmentSeen = false
	w.headerDone = false
	w.scale = 1e6
	w.tracks = w.tracks[:0]
	w.em.hasVideo = false
}

func (w *webmScanner) trackDone(m webmMaster) error {
	t := w.track
	if t.Type == "" {
		// TrackType is mandatory, but the codec tells too.
		switch {
		case strings.HasPrefix(t.Codec, "V_"):
			t.Type = "video"
		case strings.HasPrefix(t.Codec, "A_"):
			t.Type = "audio"
		default:
			t.Type = "other"
		}
	}
	if len(w.tracks) == maxTracks {
		return w.errorf(m.start, "more than %d tracks", maxTracks)
	}
	video := t.Type == "video"
	w.tracks = append(w.tracks, webmTrack{number: t.Number, video: video})
	if video {
		w.em.hasVideo = true
	}
	size := int64(-1)
	if m.end >= 0 {
		size = m.end - m.start
	}
	return w.em.emit(Event{Kind: EventTrack, Offset: m.start, Size: size, Track: t.Number, Info: &t})
}

func (w *webmScanner) isVideo(track uint64) bool {
	for _, t := range w.tracks {
		if t.number == track {
			return t.video
		}
	}
	return false
}

func (w *webmScanner) blockTime(rel int16) time.Duration {
	return time.Duration((w.clusterTC + int64(rel)) * w.scale)
}

func (w *webmScanner) handleLeaf(b []byte) error {
	switch w.id {
	case idTimecodeScale:
		w.scale = int64(beUint(b))
		if w.scale <= 0 {
			return w.errorf(w.start, "invalid TimecodeScale %d", w.scale)
		}
	case idTrackNumber:
		w.track.Number = beUint(b)
	case idTrackType:
		switch beUint(b) {
		case 1:
			w.track.Type = "video"
		case 2:
			w.track.Type = "audio"
		default:
			w.track.Type = "other"
		}
	case idCodecID:
		w.track.Codec = strings.TrimRight(string(b), "\x00")
	case idPixelWidth:
		w.track.Width = int(min(beUint(b), math.MaxInt32))
	case idPixelHeight:
		w.track.Height = int(min(beUint(b), math.MaxInt32))
	case idChannels:
		w.track.Channels = int(min(beUint(b), math.MaxInt32))
	case idSamplingFrequency:
		switch len(b) {
		case 4:
			w.track.SampleRate = float64(math.Float32frombits(binary.BigEndian.Uint32(b)))
		case 8:
			w.track.SampleRate = math.Float64frombits(binary.BigEndian.Uint64(b))
		}
		if math.IsNaN(w.track.SampleRate) || math.IsInf(w.track.SampleRate, 0) || w.track.SampleRate < 0 {
			w.track.SampleRate = 0 // not a rate: leave it unknown
		}
	case idTimecode:
		w.clusterTC = int64(beUint(b))
		if w.em.pending {
			w.em.cluster.Time = time.Duration(w.clusterTC * w.scale)
		}
	case idSimpleBlock, idBlock:
		if len(b) < 4 {
			return w.errorf(w.start, "block too short")
		}
		l := vintLen(b[0])
		if l > 8 || len(b) < l+3 {
			return w.errorf(w.start, "invalid block header")
		}
		track := beUint(b[:l]) &^ (1 << (7 * l))
		rel := int16(binary.BigEndian.Uint16(b[l:]))
		flags := b[l+2]
		hlen := int64(w.hdrLen() + l + 3)
		off, size := w.start+hlen, w.size-int64(l+3)
		video := w.isVideo(track)
		if w.id == idBlock {
			w.group.ok = true
			w.group.off, w.group.size, w.group.track, w.group.rel = off, size, track, rel
			w.group.videoTrack = video
			return nil
		}
		ev := Event{Kind: EventBlock, Offset: off, Size: size, Track: track,
			Time: w.blockTime(rel), Keyframe: flags&0x80 != 0}
		return w.em.block(ev, video)
	case idReferenceBlock:
		w.group.ref = true
	}
	return nil
}

// hdrLen returns the length of the current element's header.
func (w *webmScanner) hdrLen() int { return w.idLen + w.sizeLen }

func beUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

func (w *webmScanner) close() error {
	switch {
	case w.state == webmHeader && w.hdrN > 0:
		return fmt.Errorf("webm: stream ends inside an element header at offset %d: %w", w.start, io.ErrUnexpectedEOF)
	case w.state != webmHeader:
		return fmt.Errorf("webm: stream ends inside element 0x%X at offset %d: %w", w.id, w.start, io.ErrUnexpectedEOF)
	}
	for i := 0; i < w.depth; i++ {
		if m := w.stack[i]; m.end >= 0 {
			return fmt.Errorf("webm: stream ends inside element 0x%X at offset %d: %w", m.id, m.start, io.ErrUnexpectedEOF)
		}
	}
	return w.popTo(0)
}
