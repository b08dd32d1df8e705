package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
)

// Box types read by a FragmentReader besides the Scanner's.
const (
	boxStyp = 's'<<24 | 't'<<16 | 'y'<<8 | 'p'
	boxPrft = 'p'<<24 | 'r'<<16 | 'f'<<8 | 't'
	boxEmsg = 'e'<<24 | 'm'<<16 | 's'<<8 | 'g'
	boxSidx = 's'<<24 | 'i'<<16 | 'd'<<8 | 'x'
	boxMdat = 'm'<<24 | 'd'<<16 | 'a'<<8 | 't'
	boxAvcC = 'a'<<24 | 'v'<<16 | 'c'<<8 | 'C'
	boxVpcC = 'v'<<24 | 'p'<<16 | 'c'<<8 | 'C'
	boxAv1C = 'a'<<24 | 'v'<<16 | '1'<<8 | 'C'
	boxEsds = 'e'<<24 | 's'<<16 | 'd'<<8 | 's'
	boxDOps = 'd'<<24 | 'O'<<16 | 'p'<<8 | 's'

	entryAvc1 = 'a'<<24 | 'v'<<16 | 'c'<<8 | '1'
	entryAvc3 = 'a'<<24 | 'v'<<16 | 'c'<<8 | '3'
	entryVp08 = 'v'<<24 | 'p'<<16 | '0'<<8 | '8'
	entryVp09 = 'v'<<24 | 'p'<<16 | '0'<<8 | '9'
	entryAv01 = 'a'<<24 | 'v'<<16 | '0'<<8 | '1'
	entryMp4a = 'm'<<24 | 'p'<<16 | '4'<<8 | 'a'
	entryOpus = 'O'<<24 | 'p'<<16 | 'u'<<8 | 's'
)

// Limits that bound a FragmentReader's memory whatever the input claims. A
// fragment of one video frame is a few kilobytes and a keyframe rarely a
// megabyte; a moov of one track is under a kilobyte.
const (
	maxInitSize     = 1 << 20  // ftyp and moov together
	maxFragmentSize = 32 << 20 // the boxes of one fragment together
	maxScratch      = 64 << 10 // kept between fragments for the boxes before an mdat

	// Larger bodies are read in pieces of readStep bytes at least, the buffer
	// growing as they arrive, so that a size a header claims costs no memory
	// until the stream delivers it.
	readStep = 1 << 20
)

// opusRate is the only sample rate of Opus in MP4 (Encapsulation of Opus in
// ISO Base Media File Format, 4.3).
const opusRate = 48000

// ErrNoInit is returned by [FragmentReader.Next] when [FragmentReader.Init] has not
// read the init segment.
var ErrNoInit = errors.New("mp4: Next called before Init")

// FragmentReader reads a fragmented MP4 stream of one track, such as FFmpeg writes
// with -movflags empty_moov+default_base_moof (+frag_every_frame, +cmaf), and
// splits it into the init segment and the fragments that a DASH or HLS packager
// writes to files as they are, with what it needs to cut segments and write
// manifests: the codec, timescale, each fragment's decode time and duration and
// whether it starts with a keyframe. Codecs: H.264 (avc1, avc3), VP8, VP9, AV1,
// AAC and other MPEG-4 audio (mp4a), Opus; Init fails for others.
//
// It reads r without buffering: a few small reads for the box headers of a
// fragment, and its media data straight into the fragment's own buffer. Memory
// is bounded whatever the stream claims: the init segment may not exceed 1 MiB
// and a fragment 32 MiB. After an error, every call returns it.
type FragmentReader struct {
	r       io.Reader
	off     int64 // stream offset of the next byte read
	err     error
	init    *Init
	defDur  uint32 // the track's trex defaults
	defFlag uint32
	hdr     [16]byte
	scratch []byte // the boxes of a fragment before its mdat; reused
}

// NewFragmentReader returns a FragmentReader that reads r.
func NewFragmentReader(r io.Reader) *FragmentReader {
	return &FragmentReader{r: r}
}

// Init describes the track of a fragmented MP4 stream and holds its init segment.
type Init struct {
	// Bytes is the init segment: the ftyp and the moov as read (other boxes
	// before the moov are left out), except that an Opus sample entry and its
	// dOps say 48000 Hz. FFmpeg copies the input sample rate of a Firefox
	// recording (44100) from its OpusHead into dOps, where it is informational
	// (RFC 7845, 5.1), but Chromium refuses a dOps rate that differs from the
	// sample entry's.
	Bytes      []byte
	TrackID    uint32
	Timescale  uint32 // mdhd: units per second of the fragments' times and durations
	Video      bool   // handler vide; else soun
	Codec      string // RFC 6381 codecs value: avc1.42c01f, vp09.00.30.08, av01.0.04M.08, mp4a.40.2, opus
	Width      int    // video: the visual sample entry's
	Height     int
	SampleRate int // audio: the audio sample entry's (Opus: 48000)
	Channels   int // audio: from dOps or the AudioSpecificConfig, else the sample entry (FFmpeg writes 2 there for every mp4a)
}

// Fragment is one fragment of a track: a moof and its mdat.
type Fragment struct {
	// Bytes are the fragment's boxes as read: the styp, prft, emsg and sidx
	// boxes written just before its moof, the moof and the mdat. Other boxes
	// between fragments (free, skip, mfra...) are left out.
	Bytes    []byte
	Time     uint64 // tfdt baseMediaDecodeTime, in the track's timescale
	Duration uint64 // the sum of its sample durations
	Samples  int
	// Key says whether its first sample is a sync sample, so that a segment may
	// start with it; always true for audio.
	Key  bool
	Size int64 // len(Bytes)

	tfdt   int  // offset of the baseMediaDecodeTime in Bytes, 0 if none
	tfdtV1 bool // 64-bit baseMediaDecodeTime

	// Where Stretch finds the boxes it rewrites, as offsets in Bytes.
	moof, traf, trun int    // their box headers; trun: the first's
	truns            int    // how many the traf has
	defDur           uint32 // the traf's default sample duration (tfhd, else trex)
	sidx             bool   // a sidx before the moof counts its bytes
}

// boxHeader is a box header read from the stream.
type boxHeader struct {
	typ  uint32
	at   int64 // stream offset of the box
	size int64 // of the whole box, -1 when it runs to the end of the stream
	n    int   // header length: 8, or 16 with a largesize
}

func (h boxHeader) name() string { return typeName(h.typ) }

func (fr *FragmentReader) errorf(at int64, format string, args ...any) error {
	return fmt.Errorf("mp4: "+format+" at offset %d", append(args, at)...)
}

// Init reads the init segment: the ftyp box that starts the stream, then the moov
// of its one track. It must be called before [FragmentReader.Next]; later calls
// return the same Init.
func (fr *FragmentReader) Init() (*Init, error) {
	if fr.init != nil {
		return fr.init, nil
	}
	if fr.err != nil {
		return nil, fr.err
	}
	in, err := fr.readInit()
	if err != nil {
		fr.err = err
		return nil, err
	}
	fr.init = in
	return in, nil
}

func (fr *FragmentReader) readInit() (*Init, error) {
	h, err := fr.header()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("mp4: empty stream: %w", io.ErrUnexpectedEOF)
	}
	if err != nil {
		return nil, err
	}
	if h.typ != boxFtyp {
		return nil, fr.errorf(h.at, "stream starts with box %q, not ftyp", h.name())
	}
	if err := fr.checkSize(h, 0, maxInitSize, "init segment"); err != nil {
		return nil, err
	}
	b, err := fr.readBox(nil, h)
	if err != nil {
		return nil, err
	}
	for {
		h, err := fr.header()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("mp4: stream ends before its moov: %w", io.ErrUnexpectedEOF)
		}
		if err != nil {
			return nil, err
		}
		switch h.typ {
		case boxMoov:
			if err := fr.checkSize(h, len(b), maxInitSize, "init segment"); err != nil {
				return nil, err
			}
			start := len(b)
			if b, err = fr.readBox(b, h); err != nil {
				return nil, err
			}
			in := &Init{Bytes: b}
			moov := child{typ: h.typ, start: start, from: start + h.n, to: len(b)}
			if err := fr.moov(in, b, moov, h.at-int64(start)); err != nil {
				return nil, err
			}
			return in, nil
		case boxMoof, boxMdat, boxFtyp:
			return nil, fr.errorf(h.at, "box %q before the moov", h.name())
		}
		if err := fr.skip(h); err != nil {
			return nil, err
		}
	}
}

// Next reads the next fragment. It returns io.EOF at the end of the stream, and
// an error wrapping io.ErrUnexpectedEOF if the stream ends inside a box or after
// boxes that belong to a fragment whose moof never came. Each Fragment has its own
// Bytes.
func (fr *FragmentReader) Next() (*Fragment, error) {
	if fr.err != nil {
		return nil, fr.err
	}
	if fr.init == nil {
		return nil, ErrNoInit
	}
	f, err := fr.next()
	if err != nil {
		fr.err = err
		return nil, err
	}
	return f, nil
}

func (fr *FragmentReader) next() (*Fragment, error) {
	b := fr.scratch[:0]
	defer func() {
		if cap(b) <= maxScratch {
			fr.scratch = b[:0]
		}
	}()
	var first int64 = -1 // stream offset of the first box kept
	sidx := false
	for {
		h, err := fr.header()
		if errors.Is(err, io.EOF) {
			if len(b) > 0 {
				return nil, fmt.Errorf("mp4: stream ends after the box at offset %d without a moof: %w", first, io.ErrUnexpectedEOF)
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}
		switch h.typ {
		case boxStyp, boxPrft, boxEmsg, boxSidx:
			if err := fr.checkSize(h, len(b), maxFragmentSize, "fragment"); err != nil {
				return nil, err
			}
			if first < 0 {
				first = h.at
			}
			sidx = sidx || h.typ == boxSidx
			if b, err = fr.readBox(b, h); err != nil {
				return nil, err
			}
			continue
		case boxMoof:
		case boxFtyp, boxMoov:
			return nil, fr.errorf(h.at, "box %q after the init segment (a new stream?)", h.name())
		case boxMdat:
			return nil, fr.errorf(h.at, "mdat without a moof")
		default:
			if err := fr.skip(h); err != nil {
				return nil, err
			}
			continue
		}

		if err := fr.checkSize(h, len(b), maxFragmentSize, "fragment"); err != nil {
			return nil, err
		}
		moof := len(b)
		if b, err = fr.readBox(b, h); err != nil {
			return nil, err
		}
		f := &Fragment{moof: moof, sidx: sidx}
		if err := fr.moof(f, b, child{typ: h.typ, start: moof, from: moof + h.n, to: len(b)}, h.at-int64(moof)); err != nil {
			return nil, err
		}
		mdat, err := fr.header()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("mp4: stream ends after the moof at offset %d: %w", h.at, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return nil, err
		}
		if mdat.typ != boxMdat {
			return nil, fr.errorf(mdat.at, "box %q after a moof, want mdat", mdat.name())
		}
		if err := fr.checkSize(mdat, len(b), maxFragmentSize, "fragment"); err != nil {
			return nil, err
		}
		// The fragment's own buffer: the boxes so far are small, the mdat is
		// read into it directly.
		out := make([]byte, len(b), len(b)+int(min(mdat.size, readStep)))
		copy(out, b)
		if out, err = fr.readBox(out, mdat); err != nil {
			return nil, err
		}
		f.Bytes, f.Size = out, int64(len(out))
		return f, nil
	}
}

// header reads a box header. It returns io.EOF itself at the end of the stream.
func (fr *FragmentReader) header() (boxHeader, error) {
	h := boxHeader{at: fr.off, n: 8}
	if err := fr.read(fr.hdr[:8]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return h, fmt.Errorf("mp4: stream ends inside a box header at offset %d: %w", h.at, err)
		}
		return h, err
	}
	h.typ = binary.BigEndian.Uint32(fr.hdr[4:])
	switch size := binary.BigEndian.Uint32(fr.hdr[:4]); size {
	case 0:
		h.size = -1
	case 1:
		if err := fr.read(fr.hdr[8:16]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return h, fmt.Errorf("mp4: stream ends inside a box header at offset %d: %w", h.at, io.ErrUnexpectedEOF)
			}
			return h, err
		}
		h.n = 16
		ls := binary.BigEndian.Uint64(fr.hdr[8:16])
		if ls < 16 || ls > math.MaxInt64/2 {
			return h, fr.errorf(h.at, "invalid box size %d", ls)
		}
		h.size = int64(ls)
	default:
		if size < 8 {
			return h, fr.errorf(h.at, "invalid box size %d", size)
		}
		h.size = int64(size)
	}
	return h, nil
}

// read fills p from the stream. It returns io.EOF if the stream ended before p,
// io.ErrUnexpectedEOF if it ended inside p.
func (fr *FragmentReader) read(p []byte) error {
	n, err := io.ReadFull(fr.r, p)
	fr.off += int64(n)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return fmt.Errorf("mp4: read at offset %d: %w", fr.off, err)
	}
	return err
}

// checkSize checks that box h, following have bytes of the same init segment or
// fragment, keeps it within limit.
func (fr *FragmentReader) checkSize(h boxHeader, have int, limit int64, what string) error {
	if h.size < 0 {
		return fr.errorf(h.at, "box %q of unknown size (0: to the end of the stream)", h.name())
	}
	if total := int64(have) + h.size; total > limit {
		return fr.errorf(h.at, "box %q too large: %s of %d bytes, limit %d", h.name(), what, total, limit)
	}
	return nil
}

// readBox appends box h, its header read, to b. It grows b as the bytes arrive
// rather than by the size the header claims.
func (fr *FragmentReader) readBox(b []byte, h boxHeader) ([]byte, error) {
	b = append(b, fr.hdr[:h.n]...)
	for left := h.size - int64(h.n); left > 0; {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), len(b)+int(min(left, max(int64(len(b)), readStep))))
			copy(nb, b)
			b = nb
		}
		k := int(min(left, int64(cap(b)-len(b))))
		if err := fr.read(b[len(b) : len(b)+k]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return b, fmt.Errorf("mp4: stream ends inside box %q at offset %d: %w", h.name(), h.at, io.ErrUnexpectedEOF)
			}
			return b, err
		}
		b = b[:len(b)+k]
		left -= int64(k)
	}
	return b, nil
}

// skip skips the body of box h.
func (fr *FragmentReader) skip(h boxHeader) error {
	if h.size < 0 {
		n, err := io.Copy(io.Discard, fr.r)
		fr.off += n
		if err != nil {
			return fmt.Errorf("mp4: read at offset %d: %w", fr.off, err)
		}
		return nil
	}
	body := h.size - int64(h.n)
	n, err := io.CopyN(io.Discard, fr.r, body)
	fr.off += n
	switch {
	case errors.Is(err, io.EOF):
		return fmt.Errorf("mp4: stream ends inside box %q at offset %d: %w", h.name(), h.at, io.ErrUnexpectedEOF)
	case err != nil:
		return fmt.Errorf("mp4: read at offset %d: %w", fr.off, err)
	}
	return nil
}

// child is a box inside a box held in memory: its type, and where it starts and
// its body is in the buffer.
type child struct {
	typ      uint32
	start    int
	from, to int // the body
}

// eachBox calls fn for each box in b[start:end]; b[i] is at offset base+i in the
// stream. Fewer than 8 bytes left at the end are ignored, as padding.
func (fr *FragmentReader) eachBox(b []byte, start, end int, base int64, fn func(c child) error) error {
	for i := start; end-i >= 8; {
		size := uint64(binary.BigEndian.Uint32(b[i:]))
		c := child{typ: binary.BigEndian.Uint32(b[i+4:]), start: i, from: i + 8}
		switch size {
		case 0:
			size = uint64(end - i)
		case 1:
			if end-i < 16 {
				return fr.errorf(base+int64(i), "box %q overflows its parent", typeName(c.typ))
			}
			size, c.from = binary.BigEndian.Uint64(b[i+8:]), i+16
			if size < 16 {
				return fr.errorf(base+int64(i), "invalid box size %d", size)
			}
		default:
			if size < 8 {
				return fr.errorf(base+int64(i), "invalid box size %d", size)
			}
		}
		if size > uint64(end-i) {
			return fr.errorf(base+int64(i), "box %q overflows its parent", typeName(c.typ))
		}
		c.to = i + int(size)
		if err := fn(c); err != nil {
			return err
		}
		i = c.to
	}
	return nil
}

// moov parses a moov into in; base+i is the stream offset of b[i].
func (fr *FragmentReader) moov(in *Init, b []byte, moov child, base int64) error {
	at := func(i int) int64 { return base + int64(i) }
	traks := 0
	mvex := false
	var trexes []child // matched to the track once it is known
	err := fr.eachBox(b, moov.from, moov.to, base, func(c child) error {
		switch c.typ {
		case boxTrak:
			traks++
			if traks > 1 {
				return fr.errorf(at(c.start), "a second trak: a fragment reader reads a stream of one track")
			}
			return fr.trak(in, b, c, base)
		case boxMvex:
			mvex = true
			return fr.eachBox(b, c.from, c.to, base, func(c child) error {
				if c.typ == boxTrex {
					if c.to-c.from < 24 {
						return fr.errorf(at(c.start), "trex too short")
					}
					if len(trexes) < maxTracks {
						trexes = append(trexes, c)
					}
				}
				return nil
			})
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case traks == 0:
		return fr.errorf(at(moov.start), "moov without a trak")
	case !mvex:
		return fr.errorf(at(moov.start), "moov without mvex: not a fragmented MP4")
	}
	for _, c := range trexes {
		if binary.BigEndian.Uint32(b[c.from+4:]) == in.TrackID {
			fr.defDur = binary.BigEndian.Uint32(b[c.from+12:])
			fr.defFlag = binary.BigEndian.Uint32(b[c.from+20:])
		}
	}
	return nil
}

func (fr *FragmentReader) trak(in *Init, b []byte, trak child, base int64) error {
	at := func(i int) int64 { return base + int64(i) }
	var handler uint32
	var entry child // the first sample entry
	// field returns the 32-bit field at v0 in the body of version 0 full box
	// c, at v1 in version 1.
	field := func(c child, v0, v1 int) (uint32, error) {
		if c.to > c.from && b[c.from] == 1 {
			v0 = v1
		}
		if c.to-c.from < v0+4 {
			return 0, fr.errorf(at(c.start), "%s too short", typeName(c.typ))
		}
		return binary.BigEndian.Uint32(b[c.from+v0:]), nil
	}
	// walk reads the boxes of parent, descending only where the scanner does
	// (mdia, minf, stbl), which bounds the depth.
	var walk func(parent uint32) func(c child) error
	walk = func(parent uint32) func(c child) error {
		return func(c child) error {
			var err error
			switch {
			case mp4Descends(parent, c.typ):
				err = fr.eachBox(b, c.from, c.to, base, walk(c.typ))
			case parent == boxTrak && c.typ == boxTkhd:
				in.TrackID, err = field(c, 12, 20)
			case parent == boxMdia && c.typ == boxMdhd:
				in.Timescale, err = field(c, 12, 20)
			case parent == boxMdia && c.typ == boxHdlr:
				handler, err = field(c, 8, 8)
			case parent == boxStbl && c.typ == boxStsd:
				if c.to-c.from < 8 {
					return fr.errorf(at(c.start), "stsd too short")
				}
				err = fr.eachBox(b, c.from+8, c.to, base, func(c child) error {
					if entry.typ == 0 {
						entry = c
					}
					return nil
				})
			}
			return err
		}
	}
	if err := fr.eachBox(b, trak.from, trak.to, base, walk(boxTrak)); err != nil {
		return err
	}
	switch {
	case in.Timescale == 0:
		return fr.errorf(at(trak.start), "trak without an mdhd timescale")
	case entry.typ == 0:
		return fr.errorf(at(trak.start), "trak without a sample entry")
	}
	switch handler {
	case handlerVide:
		in.Video = true
	case handlerSoun:
	default:
		return fr.errorf(at(trak.start), "track handler %q is neither vide nor soun", typeName(handler))
	}
	return fr.sampleEntry(in, b, entry, base)
}

// sampleEntry reads a sample entry: its dimensions or audio format, and the
// codecs value from its configuration box.
func (fr *FragmentReader) sampleEntry(in *Init, b []byte, e child, base int64) error {
	at := func(i int) int64 { return base + int64(i) }
	name := typeName(e.typ)
	var want uint32 // the configuration box
	video := true
	switch e.typ {
	case entryAvc1, entryAvc3:
		want = boxAvcC
	case entryVp08, entryVp09:
		want = boxVpcC
	case entryAv01:
		want = boxAv1C
	case entryMp4a:
		want, video = boxEsds, false
	case entryOpus:
		want, video = boxDOps, false
	default:
		return fr.errorf(at(e.start), "sample entry %q: codec not supported", name)
	}
	if video != in.Video {
		return fr.errorf(at(e.start), "sample entry %q in a track of another handler", name)
	}
	children := e.from + 78 // after the fields of a VisualSampleEntry
	if video {
		if e.to < children {
			return fr.errorf(at(e.start), "visual sample entry %q too short", name)
		}
		in.Width = int(binary.BigEndian.Uint16(b[e.from+24:]))
		in.Height = int(binary.BigEndian.Uint16(b[e.from+26:]))
	} else {
		children = e.from + 28 // AudioSampleEntry
		if e.to < children {
			return fr.errorf(at(e.start), "audio sample entry %q too short", name)
		}
		if v := binary.BigEndian.Uint16(b[e.from+8:]); v != 0 {
			return fr.errorf(at(e.start), "audio sample entry %q of version %d", name, v)
		}
		in.Channels = int(binary.BigEndian.Uint16(b[e.from+16:]))
		in.SampleRate = int(binary.BigEndian.Uint32(b[e.from+24:]) >> 16)
	}
	var conf child
	err := fr.eachBox(b, children, e.to, base, func(c child) error {
		if c.typ == want && conf.typ == 0 {
			conf = c
		}
		return nil
	})
	if err != nil {
		return err
	}
	if conf.typ == 0 {
		return fr.errorf(at(e.start), "sample entry %q without %s", name, typeName(want))
	}
	c := b[conf.from:conf.to]
	short := func() error { return fr.errorf(at(conf.start), "%s too short", typeName(want)) }
	switch e.typ {
	case entryAvc1, entryAvc3:
		// AVCDecoderConfigurationRecord: configurationVersion, then the
		// profile, constraint flags and level of RFC 6381's avc1.PPCCLL.
		if len(c) < 4 {
			return short()
		}
		in.Codec = fmt.Sprintf("%s.%02x%02x%02x", name, c[1], c[2], c[3])
	case entryVp08, entryVp09:
		// vpcC (VP Codec ISO Media File Format Binding): a full box, then
		// profile, level, bitDepth in the high 4 bits (versions 0 and 1).
		if len(c) < 7 {
			return short()
		}
		in.Codec = fmt.Sprintf("%s.%02d.%02d.%02d", name, c[4], c[5], c[6]>>4)
	case entryAv01:
		// av1C (AV1 Codec ISO Media File Format Binding, 2.3.3).
		if len(c) < 3 {
			return short()
		}
		tier, depth := 'M', 8
		if c[2]&0x80 != 0 {
			tier = 'H'
		}
		if c[2]&0x40 != 0 {
			depth = 10
			if c[2]&0x20 != 0 {
				depth = 12
			}
		}
		in.Codec = fmt.Sprintf("av01.%d.%02d%c.%02d", c[1]>>5, c[1]&0x1F, tier, depth)
	case entryMp4a:
		codec, channels, ok := esds(c)
		if !ok {
			return fr.errorf(at(conf.start), "esds without a decoder configuration")
		}
		in.Codec = codec
		if channels > 0 {
			in.Channels = channels
		}
	case entryOpus:
		// dOps: Version, OutputChannelCount, PreSkip, InputSampleRate...
		if len(c) < 11 {
			return short()
		}
		in.Codec = "opus"
		if c[1] > 0 {
			in.Channels = int(c[1])
		}
		in.SampleRate = opusRate
		binary.BigEndian.PutUint32(b[e.from+24:], opusRate<<16)
		binary.BigEndian.PutUint32(c[4:], opusRate)
	}
	return nil
}

// esds returns the codecs value of an esds body (ISO/IEC 14496-1 descriptors):
// mp4a.40.N with the audio object type of its AudioSpecificConfig for MPEG-4
// audio, else mp4a.OO with the objectTypeIndication; and the channel count of
// the AudioSpecificConfig, 0 if it does not say.
func esds(b []byte) (codec string, channels int, ok bool) {
	if len(b) < 4 {
		return "", 0, false
	}
	tag, es, _, ok := descriptor(b[4:])
	if !ok || tag != 0x03 || len(es) < 3 { // ES_Descriptor
		return "", 0, false
	}
	flags := es[2]
	es = es[3:]
	if flags&0x80 != 0 { // streamDependenceFlag
		es = es[min(2, len(es)):]
	}
	if flags&0x40 != 0 && len(es) > 0 { // URL_Flag
		es = es[min(1+int(es[0]), len(es)):]
	}
	if flags&0x20 != 0 { // OCRstreamFlag
		es = es[min(2, len(es)):]
	}
	for len(es) > 0 {
		tag, dc, rest, ok := descriptor(es)
		if !ok {
			return "", 0, false
		}
		es = rest
		if tag != 0x04 || len(dc) < 13 { // DecoderConfigDescriptor
			continue
		}
		oti := dc[0]
		if oti != 0x40 { // not MPEG-4 audio
			return fmt.Sprintf("mp4a.%02X", oti), 0, true
		}
		for dc = dc[13:]; len(dc) > 0; {
			tag, asc, rest, ok := descriptor(dc)
			if !ok {
				break
			}
			dc = rest
			if tag == 0x05 { // DecoderSpecificInfo: AudioSpecificConfig
				aot, channels, ok := audioSpecificConfig(asc)
				if !ok {
					return "", 0, false
				}
				return fmt.Sprintf("mp4a.40.%d", aot), channels, true
			}
		}
		return "", 0, false
	}
	return "", 0, false
}

// descriptor splits b into the first descriptor's tag and body and what follows.
func descriptor(b []byte) (tag byte, body, rest []byte, ok bool) {
	if len(b) < 2 {
		return 0, nil, nil, false
	}
	size := 0
	for i := 1; i < len(b) && i <= 4; i++ {
		size = size<<7 | int(b[i]&0x7F)
		if b[i]&0x80 == 0 {
			if size > len(b)-i-1 {
				return 0, nil, nil, false
			}
			return b[0], b[i+1 : i+1+size], b[i+1+size:], true
		}
	}
	return 0, nil, nil, false
}

// audioSpecificConfig returns the audio object type and the channel count of an
// AudioSpecificConfig (ISO/IEC 14496-3, 1.6.2.1); channels is 0 when it is not
// given there.
func audioSpecificConfig(b []byte) (aot, channels int, ok bool) {
	var v uint64
	n := 0
	for _, c := range b[:min(len(b), 8)] {
		v |= uint64(c) << (56 - 8*n)
		n++
	}
	pos := 0
	take := func(k int) int {
		x := int(v << pos >> (64 - k))
		pos += k
		return x
	}
	aot = take(5)
	if aot == 31 {
		aot = 32 + take(6)
	}
	if take(4) == 15 { // samplingFrequencyIndex: explicit frequency
		take(24)
	}
	ch := take(4)
	if pos > 8*n {
		return 0, 0, false
	}
	switch {
	case ch >= 1 && ch <= 6:
		channels = ch
	case ch == 7:
		channels = 8
	}
	return aot, channels, true
}

// moof parses a moof into f; base+i is the stream offset of b[i].
func (fr *FragmentReader) moof(f *Fragment, b []byte, moof child, base int64) error {
	at := func(i int) int64 { return base + int64(i) }
	trafs := 0
	err := fr.eachBox(b, moof.from, moof.to, base, func(c child) error {
		if c.typ != boxTraf {
			return nil
		}
		trafs++
		if trafs > 1 {
			return fr.errorf(at(c.start), "a second traf in a moof")
		}
		f.traf = c.start
		return fr.traf(f, b, c, base)
	})
	switch {
	case err != nil:
		return err
	case trafs == 0:
		return fr.errorf(at(moof.start), "moof without a traf")
	case !fr.init.Video:
		f.Key = true
	}
	return nil
}

func (fr *FragmentReader) traf(f *Fragment, b []byte, traf child, base int64) error {
	at := func(i int) int64 { return base + int64(i) }
	tfhd := false
	defDur, defFlags := fr.defDur, fr.defFlag
	first := true // no sample seen yet
	var dur, samples uint64
	err := fr.eachBox(b, traf.from, traf.to, base, func(c child) error {
		box := b[c.from:c.to]
		switch c.typ {
		case boxTfhd:
			if tfhd {
				return fr.errorf(at(c.start), "a second tfhd in a traf")
			}
			tfhd = true
			if len(box) < 8 {
				return fr.errorf(at(c.start), "tfhd too short")
			}
			flags := binary.BigEndian.Uint32(box) & 0xFFFFFF
			if id := binary.BigEndian.Uint32(box[4:]); id != fr.init.TrackID {
				return fr.errorf(at(c.start), "traf of track %d in a stream of track %d", id, fr.init.TrackID)
			}
			i := 8
			if flags&0x01 != 0 { // base-data-offset-present
				i += 8
			}
			if flags&0x02 != 0 { // sample-description-index-present
				i += 4
			}
			if flags&0x08 != 0 { // default-sample-duration-present
				if len(box) >= i+4 {
					defDur = binary.BigEndian.Uint32(box[i:])
				}
				i += 4
			}
			if flags&0x10 != 0 { // default-sample-size-present
				i += 4
			}
			if flags&0x20 != 0 { // default-sample-flags-present
				if len(box) >= i+4 {
					defFlags = binary.BigEndian.Uint32(box[i:])
				}
				i += 4
			}
			if len(box) < i {
				return fr.errorf(at(c.start), "tfhd too short")
			}
		case boxTfdt:
			if f.tfdt != 0 {
				return fr.errorf(at(c.start), "a second tfdt in a traf")
			}
			switch {
			case len(box) >= 12 && box[0] == 1:
				f.Time, f.tfdt, f.tfdtV1 = binary.BigEndian.Uint64(box[4:]), c.from+4, true
			case len(box) >= 8 && box[0] == 0:
				f.Time, f.tfdt = uint64(binary.BigEndian.Uint32(box[4:])), c.from+4
			default:
				return fr.errorf(at(c.start), "tfdt too short")
			}
		case boxTrun:
			if !tfhd {
				return fr.errorf(at(c.start), "trun before tfhd")
			}
			d, n, key, err := fr.trun(box, defDur, defFlags, at(c.start))
			if err != nil {
				return err
			}
			if f.truns == 0 {
				f.trun, f.defDur = c.start, defDur
			}
			f.truns++
			if first && n > 0 {
				first = false
				f.Key = key
			}
			var carry uint64
			if dur, carry = bits.Add64(dur, d, 0); carry != 0 {
				return fr.errorf(at(c.start), "fragment duration overflows")
			}
			samples += n
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case !tfhd:
		return fr.errorf(at(traf.start), "traf without a tfhd")
	case f.tfdt == 0:
		return fr.errorf(at(traf.start), "traf without a tfdt")
	}
	f.Duration, f.Samples = dur, int(samples)
	return nil
}

// trun returns the duration and the number of the samples of a trun body, and
// whether the first is a sync sample; defDur and defFlags are the defaults of the
// track fragment, at the box's offset.
func (fr *FragmentReader) trun(box []byte, defDur, defFlags uint32, at int64) (dur, count uint64, key bool, err error) {
	if len(box) < 8 {
		return 0, 0, false, fr.errorf(at, "trun too short")
	}
	flags := binary.BigEndian.Uint32(box) & 0xFFFFFF
	count = uint64(binary.BigEndian.Uint32(box[4:]))
	i := 8
	if flags&0x001 != 0 { // data-offset-present
		i += 4
	}
	firstFlags := defFlags
	if flags&0x004 != 0 { // first-sample-flags-present
		if len(box) >= i+4 {
			firstFlags = binary.BigEndian.Uint32(box[i:])
		}
		i += 4
	}
	rec := 4 * bits.OnesCount32(flags&0xF00) // bytes per sample
	if len(box) < i || uint64(len(box)-i) < count*uint64(rec) {
		return 0, 0, false, fr.errorf(at, "trun too short for its %d samples", count)
	}
	if count > 0 && flags&0x400 != 0 && flags&0x004 == 0 { // sample-flags-present
		j := i
		if flags&0x100 != 0 {
			j += 4
		}
		if flags&0x200 != 0 {
			j += 4
		}
		firstFlags = binary.BigEndian.Uint32(box[j:])
	}
	if flags&0x100 != 0 { // sample-duration-present
		for k := range int(count) {
			dur += uint64(binary.BigEndian.Uint32(box[i+k*rec:]))
		}
	} else {
		dur = count * uint64(defDur) // both 32 bits: no overflow
	}
	return dur, count, firstFlags&0x10000 == 0, nil // sample_is_non_sync_sample
}

// Shift adds delta (which may be negative) to the fragment's decode time, in Time
// and in the tfdt in Bytes. It fails, changing nothing, if the time would be
// negative or not fit the tfdt (a version 0 tfdt holds 32 bits).
func (f *Fragment) Shift(delta int64) error {
	n := 8
	if !f.tfdtV1 {
		n = 4
	}
	if f.tfdt == 0 || f.tfdt+n > len(f.Bytes) {
		return errors.New("mp4: shift a fragment without a tfdt")
	}
	t := f.Time
	if delta >= 0 {
		t += uint64(delta)
		if t < f.Time {
			return fmt.Errorf("mp4: shift time %d by %d: overflow", f.Time, delta)
		}
	} else {
		d := uint64(-delta) // -math.MinInt64 is itself, whose uint64 is right
		if d > t {
			return fmt.Errorf("mp4: shift time %d by %d: negative", f.Time, delta)
		}
		t -= d
	}
	if f.tfdtV1 {
		binary.BigEndian.PutUint64(f.Bytes[f.tfdt:], t)
	} else {
		if t > math.MaxUint32 {
			return fmt.Errorf("mp4: shift time %d by %d: does not fit a version 0 tfdt", f.Time, delta)
		}
		binary.BigEndian.PutUint32(f.Bytes[f.tfdt:], uint32(t))
	}
	f.Time = t
	return nil
}

// Stretch moves the fragment's start back by d and lengthens its first sample by as
// much, so that its other samples keep their times. A packager closes a hole in a
// track's timeline with it where a player's buffer must have none: audio that resumes
// after a restart a little later than its video does. The first sample is presented
// that much earlier; what the decoder makes of it is unchanged.
//
// A trun without sample durations gets them (4 bytes a sample, in the trun, traf and
// moof sizes and the data offset). Stretch fails, changing nothing, if the time would
// be negative, or the fragment is not the simple kind that FFmpeg writes: one trun
// with a data offset, 32-bit box sizes, no sidx counting its bytes.
func (f *Fragment) Stretch(d uint64) error {
	if d == 0 {
		return nil
	}
	b := f.Bytes
	size := func(at int) uint32 {
		if at < 0 || at+8 > len(b) {
			return 0
		}
		return binary.BigEndian.Uint32(b[at:])
	}
	switch {
	case f.truns != 1 || f.Samples == 0:
		return fmt.Errorf("mp4: stretch a fragment of %d truns and %d samples", f.truns, f.Samples)
	case f.sidx:
		return errors.New("mp4: stretch a fragment after a sidx")
	case size(f.moof) < 8 || size(f.traf) < 8 || size(f.trun) < 16:
		return errors.New("mp4: stretch a fragment whose boxes have 64-bit or open sizes")
	case d > f.Time:
		return fmt.Errorf("mp4: stretch time %d back by %d: negative", f.Time, d)
	}
	body := f.trun + 8
	flags := binary.BigEndian.Uint32(b[body:]) & 0xFFFFFF
	if flags&0x001 == 0 {
		return errors.New("mp4: stretch a trun without a data offset")
	}
	head := 12 // version and flags, sample count, data offset
	if flags&0x004 != 0 {
		head += 4 // first sample flags
	}
	if flags&0x100 != 0 { // sample durations: lengthen the first in place
		at := body + head
		first := uint64(binary.BigEndian.Uint32(b[at:])) + d
		if first > math.MaxUint32 {
			return fmt.Errorf("mp4: stretch a sample of %d by %d: too long", first-d, d)
		}
		if err := f.Shift(-int64(d)); err != nil {
			return err
		}
		binary.BigEndian.PutUint32(b[at:], uint32(first))
		f.Duration += d
		return nil
	}
	if uint64(f.defDur)+d > math.MaxUint32 {
		return fmt.Errorf("mp4: stretch a sample of %d by %d: too long", f.defDur, d)
	}
	// Rewrite the trun with a duration in front of each sample's record.
	rec := 4 * bits.OnesCount32(flags&0xE00) // the record's other fields
	grow := 4 * f.Samples
	out := make([]byte, 0, len(b)+grow)
	out = append(out, b[:body+head]...)
	for i := range f.Samples {
		dur := uint64(f.defDur)
		if i == 0 {
			dur += d
		}
		out = binary.BigEndian.AppendUint32(out, uint32(dur))
		at := body + head + i*rec
		out = append(out, b[at:at+rec]...)
	}
	out = append(out, b[body+head+f.Samples*rec:]...)
	for _, at := range []int{f.moof, f.traf, f.trun} {
		binary.BigEndian.PutUint32(out[at:], size(at)+uint32(grow))
	}
	binary.BigEndian.PutUint32(out[body:], (flags|0x100)|uint32(b[body])<<24)
	binary.BigEndian.PutUint32(out[body+8:], binary.BigEndian.Uint32(b[body+8:])+uint32(grow)) // the samples' data moved with the mdat
	g := *f
	g.Bytes, g.Size = out, int64(len(out))
	if g.tfdt > f.trun {
		g.tfdt += grow
	}
	if err := g.Shift(-int64(d)); err != nil {
		return err
	}
	g.Duration += d
	*f = g
	return nil
}
