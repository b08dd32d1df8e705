package media

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
)

// Box types, as big-endian integers.
const (
	boxFtyp = 'f'<<24 | 't'<<16 | 'y'<<8 | 'p'
	boxMoov = 'm'<<24 | 'o'<<16 | 'o'<<8 | 'v'
	boxTrak = 't'<<24 | 'r'<<16 | 'a'<<8 | 'k'
	boxTkhd = 't'<<24 | 'k'<<16 | 'h'<<8 | 'd'
	boxMdia = 'm'<<24 | 'd'<<16 | 'i'<<8 | 'a'
	boxMdhd = 'm'<<24 | 'd'<<16 | 'h'<<8 | 'd'
	boxHdlr = 'h'<<24 | 'd'<<16 | 'l'<<8 | 'r'
	boxMinf = 'm'<<24 | 'i'<<16 | 'n'<<8 | 'f'
	boxStbl = 's'<<24 | 't'<<16 | 'b'<<8 | 'l'
	boxStsd = 's'<<24 | 't'<<16 | 's'<<8 | 'd'
	boxMvex = 'm'<<24 | 'v'<<16 | 'e'<<8 | 'x'
	boxTrex = 't'<<24 | 'r'<<16 | 'e'<<8 | 'x'
	boxMoof = 'm'<<24 | 'o'<<16 | 'o'<<8 | 'f'
	boxTraf = 't'<<24 | 'r'<<16 | 'a'<<8 | 'f'
	boxTfhd = 't'<<24 | 'f'<<16 | 'h'<<8 | 'd'
	boxTfdt = 't'<<24 | 'f'<<16 | 'd'<<8 | 't'
	boxTrun = 't'<<24 | 'r'<<16 | 'u'<<8 | 'n'

	handlerVide = 'v'<<24 | 'i'<<16 | 'd'<<8 | 'e'
	handlerSoun = 's'<<24 | 'o'<<16 | 'u'<<8 | 'n'
)

// mp4Descends reports the boxes the scanner enters, by parent (0: top level).
func mp4Descends(parent, typ uint32) bool {
	switch typ {
	case boxMoov, boxMoof:
		return parent == 0
	case boxTrak, boxMvex:
		return parent == boxMoov
	case boxMdia:
		return parent == boxTrak
	case boxMinf:
		return parent == boxMdia
	case boxStbl:
		return parent == boxMinf
	case boxTraf:
		return parent == boxMoof
	}
	return false
}

// mp4Leaf returns how many body bytes of a parsed box to buffer, 0 for boxes
// that are skipped. trun is read in two steps, then sample by sample.
func mp4Leaf(parent, typ uint32) int {
	switch {
	case parent == boxTrak && typ == boxTkhd:
		return 24 // version 1: version/flags, creation, modification, track_ID
	case parent == boxMdia && typ == boxMdhd:
		return 24 // version 1: version/flags, creation, modification, timescale
	case parent == boxMdia && typ == boxHdlr:
		return 12
	case parent == boxStbl && typ == boxStsd:
		return 44 // the first sample entry's fourcc and its visual/audio fields
	case parent == boxMvex && typ == boxTrex:
		return 24
	case parent == boxTraf && typ == boxTfhd:
		return 32
	case parent == boxTraf && typ == boxTfdt:
		return 12
	case parent == boxTraf && typ == boxTrun:
		return 8 // version/flags, sample_count
	}
	return 0
}

// maxSamples bounds a trun's sample count; without per-sample fields a few
// bytes could otherwise claim billions of samples, each an event. 4096 is over a
// minute of 60 fps video or 48 kHz audio in one run: MediaRecorder's fragments
// last about 0.6 s.
const maxSamples = 1 << 12

type mp4State uint8

const (
	mp4Header mp4State = iota // reading a box header
	mp4Body                   // buffering the start of a box body
	mp4Run                    // reading trun samples
	mp4Skip                   // skipping the rest of a body
)

type mp4Box struct {
	typ        uint32
	start, end int64 // end is -1 for a box that runs to the end of the stream
}

type mp4Track struct {
	id         uint32
	timescale  uint32
	video      bool
	trex       bool // defaults below are from a trex
	defDur     uint32
	defSize    uint32
	defFlags   uint32
	nextDecode uint64 // for a traf without tfdt
}

// mp4Scanner is the MP4 half of Scanner.
type mp4Scanner struct {
	em    *emitter
	off   int64
	state mp4State

	// the box being read
	hdr   [16]byte
	hdrN  int
	typ   uint32
	start int64
	size  int64 // body size, -1 to the end of the stream
	want  int
	buf   []byte
	skip  int64

	stack [maxDepth]mp4Box
	depth int

	// the current stream
	streamStart int64
	mediaSeen   bool
	headerDone  bool
	tracks      []mp4Track
	trak        struct {
		info           TrackInfo
		id, timescale  uint32
		handler        uint32
		width, height  int
		channels, rate int
	}

	// the current fragment
	moofStart int64
	trafN     int   // trafs done in this moof
	prevEnd   int64 // end of the previous traf's data, -1 if unknown
	traf      struct {
		track    int // index in tracks, -1 if unknown
		id       uint32
		base     int64 // base data offset, -1 if unknown
		defDur   uint32
		defSize  int64 // -1 if unknown
		defFlags uint32
		decode   uint64
		pos      int64 // where the next sample's data is, -1 if unknown
		trunN    int
	}
	run struct {
		version    byte
		flags      uint32
		count      uint32
		done       uint32
		fixed      int // bytes before the samples
		rec        int // bytes per sample
		firstFlags uint32
		rbuf       [16]byte
		rn         int
	}
}

func (m *mp4Scanner) init(em *emitter) {
	m.em = em
	m.em.mp4Time = true
	m.prevEnd = -1
	m.tracks = make([]mp4Track, 0, 4)
}

func (m *mp4Scanner) errorf(at int64, format string, args ...any) error {
	return fmt.Errorf("mp4: "+format+" at offset %d", append(args, at)...)
}

func (m *mp4Scanner) write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch m.state {
		case mp4Header:
			if m.hdrN == 0 {
				m.start = m.off
			}
			k := copy(m.hdr[m.hdrN:m.hdrLen()], p[n:])
			m.hdrN += k
			n += k
			m.off += int64(k)
			if m.hdrN == m.hdrLen() {
				if err := m.box(); err != nil {
					return n, err
				}
			}
		case mp4Body:
			k := copy(m.buf[len(m.buf):m.want], p[n:])
			m.buf = m.buf[:len(m.buf)+k]
			n += k
			m.off += int64(k)
			if len(m.buf) == m.want {
				if err := m.bodyDone(); err != nil {
					return n, err
				}
			}
		case mp4Run:
			r := &m.run
			k := copy(r.rbuf[r.rn:r.rec], p[n:])
			r.rn += k
			n += k
			m.off += int64(k)
			if r.rn == r.rec {
				r.rn = 0
				if err := m.sample(r.rbuf[:r.rec]); err != nil {
					return n, err
				}
				if r.done == r.count {
					if err := m.skipRest(int64(r.fixed) + int64(r.count)*int64(r.rec)); err != nil {
						return n, err
					}
				}
			}
		case mp4Skip:
			k := int64(len(p) - n)
			if k > m.skip {
				k = m.skip
			}
			n += int(k)
			m.off += k
			m.skip -= k
			if m.skip == 0 {
				m.state = mp4Header
				if err := m.ended(); err != nil {
					return n, err
				}
			}
		}
	}
	return n, nil
}

// hdrLen is the length of the box header being read: 8, or 16 with a largesize.
func (m *mp4Scanner) hdrLen() int {
	if m.hdrN >= 4 && binary.BigEndian.Uint32(m.hdr[:4]) == 1 {
		return 16
	}
	return 8
}

// box handles a complete box header.
func (m *mp4Scanner) box() error {
	m.hdrN = 0
	size := int64(binary.BigEndian.Uint32(m.hdr[:4]))
	typ := binary.BigEndian.Uint32(m.hdr[4:8])
	hl := int64(8)
	switch {
	case size == 1:
		ls := binary.BigEndian.Uint64(m.hdr[8:16])
		if ls < 16 || ls > math.MaxInt64/2 {
			return m.errorf(m.start, "invalid box size %d", ls)
		}
		size, hl = int64(ls), 16
	case size == 0:
		size = -1 // to the end of the stream
	case size < 8:
		return m.errorf(m.start, "invalid box size %d", size)
	}
	body := int64(-1)
	if size >= 0 {
		body = size - hl
	}
	if end := m.knownEnd(); end >= 0 {
		if body < 0 {
			body = end - m.off // size 0 inside a box: to the end of that box
		} else if m.off+body > end {
			return m.errorf(m.start, "box %q overflows its parent", typeName(typ))
		}
	}
	m.typ, m.size = typ, body

	parent := uint32(0)
	if m.depth > 0 {
		parent = m.stack[m.depth-1].typ
	}
	if typ == boxFtyp && m.depth == 0 && m.mediaSeen {
		m.newStream()
	}
	if mp4Descends(parent, typ) {
		return m.push()
	}
	m.want = mp4Leaf(parent, typ)
	if body >= 0 && int64(m.want) > body {
		m.want = int(body)
	}
	if cap(m.buf) < m.want {
		m.buf = make([]byte, 0, 64)
	}
	m.buf = m.buf[:0]
	m.run.fixed = 0
	if m.want > 0 {
		m.state = mp4Body
		return nil
	}
	return m.skipRest(0)
}

// skipRest skips the rest of the current body after used bytes were read.
func (m *mp4Scanner) skipRest(used int64) error {
	if m.size < 0 {
		m.skip = math.MaxInt64
	} else {
		m.skip = m.size - used
	}
	if m.skip > 0 {
		m.state = mp4Skip
		return nil
	}
	m.state = mp4Header
	return m.ended()
}

func (m *mp4Scanner) knownEnd() int64 {
	for i := m.depth - 1; i >= 0; i-- {
		if m.stack[i].end >= 0 {
			return m.stack[i].end
		}
	}
	return -1
}

// ended ends the open boxes whose end has been reached.
func (m *mp4Scanner) ended() error {
	for i := 0; i < m.depth; i++ {
		if e := m.stack[i].end; e >= 0 && e <= m.off {
			return m.popTo(i)
		}
	}
	return nil
}

func (m *mp4Scanner) push() error {
	if m.depth == maxDepth {
		return m.errorf(m.start, "boxes nested too deep")
	}
	end := int64(-1)
	if m.size >= 0 {
		end = m.off + m.size
	}
	m.stack[m.depth] = mp4Box{typ: m.typ, start: m.start, end: end}
	m.depth++
	m.state = mp4Header
	switch m.typ {
	case boxMoov:
		m.mediaSeen = true
	case boxTrak:
		m.trak.info = TrackInfo{}
		m.trak.id, m.trak.timescale, m.trak.handler = 0, 0, 0
		m.trak.width, m.trak.height, m.trak.channels, m.trak.rate = 0, 0, 0, 0
	case boxMoof:
		m.mediaSeen = true
		if !m.headerDone {
			m.headerDone = true
			ev := Event{Kind: EventHeader, Offset: m.start, Size: m.start - m.streamStart}
			if err := m.em.emit(ev); err != nil {
				return err
			}
		}
		m.moofStart = m.start
		m.trafN = 0
		m.prevEnd = -1
		total := int64(-1)
		if end >= 0 {
			total = end - m.start
		}
		if err := m.em.startCluster(Event{Kind: EventCluster, Offset: m.start, Size: total}); err != nil {
			return err
		}
	case boxTraf:
		t := &m.traf
		t.track, t.id, t.base, t.defDur, t.defSize, t.defFlags = -1, 0, -1, 0, -1, 0
		t.decode, t.pos, t.trunN = 0, -1, 0
	}
	return m.ended()
}

func (m *mp4Scanner) popTo(k int) error {
	for m.depth > k {
		m.depth--
		b := m.stack[m.depth]
		switch b.typ {
		case boxTrak:
			if err := m.trakDone(b); err != nil {
				return err
			}
		case boxTraf:
			if m.traf.track >= 0 {
				m.tracks[m.traf.track].nextDecode = m.traf.decode
			}
			m.prevEnd = m.traf.pos
			m.trafN++
		case boxMoof:
			if err := m.em.endCluster(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *mp4Scanner) newStream() {
	m.streamStart = m.start
	m.mediaSeen = false
	m.headerDone = false
	m.tracks = m.tracks[:0]
	m.em.hasVideo = false
}

// trackIndex returns the index of track id, adding it if add is set; -1 if
// there is no such track.
func (m *mp4Scanner) trackIndex(id uint32, add bool) (int, error) {
	for i := range m.tracks {
		if m.tracks[i].id == id {
			return i, nil
		}
	}
	if !add {
		return -1, nil
	}
	if len(m.tracks) == maxTracks {
		return -1, m.errorf(m.start, "more than %d tracks", maxTracks)
	}
	m.tracks = append(m.tracks, mp4Track{id: id})
	return len(m.tracks) - 1, nil
}

func (m *mp4Scanner) trakDone(b mp4Box) error {
	tk := &m.trak
	info := tk.info
	info.Number = uint64(tk.id)
	switch tk.handler {
	case handlerVide:
		info.Type = "video"
		info.Width, info.Height = tk.width, tk.height
	case handlerSoun:
		info.Type = "audio"
		info.Channels, info.SampleRate = tk.channels, float64(tk.rate)
	default:
		info.Type = "other"
	}
	i, err := m.trackIndex(tk.id, true)
	if err != nil {
		return err
	}
	t := &m.tracks[i]
	t.timescale = tk.timescale
	t.video = info.Type == "video"
	if t.video {
		m.em.hasVideo = true
	}
	size := int64(-1)
	if b.end >= 0 {
		size = b.end - b.start
	}
	return m.em.emit(Event{Kind: EventTrack, Offset: b.start, Size: size, Track: info.Number, Info: &info})
}

func (m *mp4Scanner) bodyDone() error {
	b := m.buf
	short := func() error { return m.errorf(m.start, "%s too short", typeName(m.typ)) }
	switch m.typ {
	case boxTkhd:
		if len(b) < 4 {
			return short()
		}
		at := 12
		if b[0] == 1 {
			at = 20
		}
		if len(b) < at+4 {
			return short()
		}
		m.trak.id = binary.BigEndian.Uint32(b[at:])
	case boxMdhd:
		if len(b) < 4 {
			return short()
		}
		at := 12
		if b[0] == 1 {
			at = 20
		}
		if len(b) < at+4 {
			return short()
		}
		m.trak.timescale = binary.BigEndian.Uint32(b[at:])
	case boxHdlr:
		if len(b) < 12 {
			return short()
		}
		m.trak.handler = binary.BigEndian.Uint32(b[8:])
	case boxStsd:
		if len(b) < 16 {
			return short()
		}
		m.trak.info.Codec = string(b[12:16])
		if len(b) >= 44 {
			m.trak.width = int(binary.BigEndian.Uint16(b[40:]))
			m.trak.height = int(binary.BigEndian.Uint16(b[42:]))
			m.trak.channels = int(binary.BigEndian.Uint16(b[32:]))
			m.trak.rate = int(binary.BigEndian.Uint16(b[40:])) // 16.16 fixed point
		}
	case boxTrex:
		if len(b) < 24 {
			return short()
		}
		i, err := m.trackIndex(binary.BigEndian.Uint32(b[4:]), true)
		if err != nil {
			return err
		}
		t := &m.tracks[i]
		t.trex = true
		t.defDur = binary.BigEndian.Uint32(b[12:])
		t.defSize = binary.BigEndian.Uint32(b[16:])
		t.defFlags = binary.BigEndian.Uint32(b[20:])
	case boxTfhd:
		if err := m.tfhd(b); err != nil {
			return err
		}
	case boxTfdt:
		switch {
		case len(b) >= 12 && b[0] == 1:
			m.traf.decode = binary.BigEndian.Uint64(b[4:])
		case len(b) >= 8 && b[0] == 0:
			m.traf.decode = uint64(binary.BigEndian.Uint32(b[4:]))
		default:
			return short()
		}
	case boxTrun:
		return m.trun(b)
	}
	return m.skipRest(int64(len(b)))
}

func (m *mp4Scanner) tfhd(b []byte) error {
	if len(b) < 8 {
		return m.errorf(m.start, "tfhd too short")
	}
	flags := binary.BigEndian.Uint32(b) & 0xFFFFFF
	t := &m.traf
	t.id = binary.BigEndian.Uint32(b[4:])
	i, err := m.trackIndex(t.id, false)
	if err != nil {
		return err
	}
	t.track = i
	if i >= 0 {
		tr := &m.tracks[i]
		t.decode = tr.nextDecode
		if tr.trex {
			t.defDur, t.defSize, t.defFlags = tr.defDur, int64(tr.defSize), tr.defFlags
		}
	}
	at := 8
	field := func(n int) ([]byte, bool) {
		if len(b) < at+n {
			return nil, false
		}
		at += n
		return b[at-n : at], true
	}
	var base int64 = -1
	if flags&0x01 != 0 { // base-data-offset-present
		f, ok := field(8)
		if !ok {
			return m.errorf(m.start, "tfhd too short")
		}
		if v := binary.BigEndian.Uint64(f); v <= math.MaxInt64/2 {
			base = m.streamStart + int64(v)
		}
	}
	if flags&0x02 != 0 { // sample-description-index-present
		if _, ok := field(4); !ok {
			return m.errorf(m.start, "tfhd too short")
		}
	}
	if flags&0x08 != 0 {
		f, ok := field(4)
		if !ok {
			return m.errorf(m.start, "tfhd too short")
		}
		t.defDur = binary.BigEndian.Uint32(f)
	}
	if flags&0x10 != 0 {
		f, ok := field(4)
		if !ok {
			return m.errorf(m.start, "tfhd too short")
		}
		t.defSize = int64(binary.BigEndian.Uint32(f))
	}
	if flags&0x20 != 0 {
		f, ok := field(4)
		if !ok {
			return m.errorf(m.start, "tfhd too short")
		}
		t.defFlags = binary.BigEndian.Uint32(f)
	}
	switch {
	case flags&0x01 != 0:
		t.base = base
	case flags&0x020000 != 0 || m.trafN == 0: // default-base-is-moof, or the first traf
		t.base = m.moofStart
	default: // the data follows the previous traf's
		t.base = m.prevEnd
	}
	return nil
}

// trun parses the fixed part of a trun: first 8 bytes, then, if data_offset or
// first_sample_flags are present, up to 16.
func (m *mp4Scanner) trun(b []byte) error {
	r := &m.run
	if r.fixed == 0 {
		if len(b) < 8 {
			return m.errorf(m.start, "trun too short")
		}
		r.version = b[0]
		r.flags = binary.BigEndian.Uint32(b) & 0xFFFFFF
		r.count = binary.BigEndian.Uint32(b[4:])
		r.fixed = 8
		if r.flags&0x001 != 0 {
			r.fixed += 4
		}
		if r.flags&0x004 != 0 {
			r.fixed += 4
		}
		r.rec = 4 * bits.OnesCount32(r.flags&0xF00)
		if r.count > maxSamples {
			return m.errorf(m.start, "trun with %d samples", r.count)
		}
		if m.size >= 0 && int64(r.fixed)+int64(r.count)*int64(r.rec) > m.size {
			return m.errorf(m.start, "trun samples overflow the box")
		}
		if r.fixed > 8 {
			m.want = r.fixed
			return nil // stay in mp4Body for the rest of the fixed part
		}
	}
	if len(b) < r.fixed {
		return m.errorf(m.start, "trun too short")
	}
	t := &m.traf
	at := 8
	switch {
	case r.flags&0x001 != 0:
		t.pos = -1
		if t.base >= 0 {
			t.pos = t.base + int64(int32(binary.BigEndian.Uint32(b[at:])))
		}
		at += 4
	case t.trunN == 0:
		t.pos = t.base
	}
	if r.flags&0x004 != 0 {
		r.firstFlags = binary.BigEndian.Uint32(b[at:])
	}
	t.trunN++
	r.done, r.rn = 0, 0
	for r.rec == 0 && r.done < r.count {
		if err := m.sample(nil); err != nil {
			return err
		}
	}
	if r.done == r.count {
		return m.skipRest(int64(r.fixed) + int64(r.count)*int64(r.rec))
	}
	m.state = mp4Run
	return nil
}

// sample reports one trun sample from its record.
func (m *mp4Scanner) sample(rec []byte) error {
	r, t := &m.run, &m.traf
	dur, size, flags := t.defDur, t.defSize, t.defFlags
	var cto int64
	at := 0
	next := func() uint32 {
		v := binary.BigEndian.Uint32(rec[at:])
		at += 4
		return v
	}
	if r.flags&0x100 != 0 {
		dur = next()
	}
	if r.flags&0x200 != 0 {
		size = int64(next())
	}
	if r.flags&0x400 != 0 {
		flags = next()
	}
	if r.done == 0 && r.flags&0x004 != 0 {
		flags = r.firstFlags
	}
	if r.flags&0x800 != 0 {
		if v := next(); r.version == 0 {
			cto = int64(v)
		} else {
			cto = int64(int32(v))
		}
	}
	off := int64(-1)
	if t.pos >= 0 && size >= 0 {
		off = t.pos
		t.pos += size
	} else {
		t.pos = -1 // without a size the following samples cannot be located
	}
	var timescale uint32
	video := false
	if t.track >= 0 {
		timescale = m.tracks[t.track].timescale
		video = m.tracks[t.track].video
	}
	ev := Event{
		Kind:     EventBlock,
		Offset:   off,
		Size:     size,
		Track:    uint64(t.id),
		Time:     ticks(int64(t.decode)+cto, timescale),
		Keyframe: (flags>>24)&3 == 2 || flags&0x10000 == 0,
	}
	t.decode += uint64(dur)
	r.done++
	return m.em.block(ev, video)
}

func (m *mp4Scanner) close() error {
	switch {
	case m.state == mp4Header && m.hdrN > 0:
		return fmt.Errorf("mp4: stream ends inside a box header at offset %d: %w", m.start, io.ErrUnexpectedEOF)
	case m.state != mp4Header && m.size >= 0:
		return fmt.Errorf("mp4: stream ends inside box %q at offset %d: %w", typeName(m.typ), m.start, io.ErrUnexpectedEOF)
	}
	for i := 0; i < m.depth; i++ {
		if b := m.stack[i]; b.end >= 0 {
			return fmt.Errorf("mp4: stream ends inside box %q at offset %d: %w", typeName(b.typ), b.start, io.ErrUnexpectedEOF)
		}
	}
	return m.popTo(0)
}

// typeName returns a box type for messages.
func typeName(typ uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], typ)
	for _, c := range b {
		if c < 0x20 || c > 0x7E {
			return fmt.Sprintf("0x%08X", typ)
		}
	}
	return string(b[:])
}
