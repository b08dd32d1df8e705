package frames

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
	"time"
)

// A small Matroska writer for the tests: elements with known sizes, or unknown ones.

func vint(v uint64) []byte {
	for n := 1; n <= 8; n++ {
		if v < 1<<(7*n)-1 {
			b := make([]byte, n)
			for i := n - 1; i >= 0; i-- {
				b[i] = byte(v)
				v >>= 8
			}
			b[0] |= 0x80 >> (n - 1)
			return b
		}
	}
	panic("too big")
}

func idBytes(id uint32) []byte {
	switch {
	case id >= 1<<24:
		return []byte{byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
	case id >= 1<<16:
		return []byte{byte(id >> 16), byte(id >> 8), byte(id)}
	case id >= 1<<8:
		return []byte{byte(id >> 8), byte(id)}
	}
	return []byte{byte(id)}
}

func el(id uint32, body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	return append(append(idBytes(id), vint(uint64(len(b)))...), b...)
}

func elUnknown(id uint32, body ...[]byte) []byte {
	return append(append(idBytes(id), 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF), bytes.Join(body, nil)...)
}

func elUint(id uint32, v uint64) []byte {
	return el(id, []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func simpleBlock(track uint64, rel int16, payload []byte) []byte {
	return el(0xA3, vint(track), []byte{byte(uint16(rel) >> 8), byte(rel), 0x80}, payload)
}

func trackEntry(number, typ uint64, codec string, video []byte) []byte {
	return el(0xAE, elUint(0xD7, number), elUint(0x83, typ), el(0x86, []byte(codec)), video)
}

type testFrame struct {
	pts  time.Duration
	data []byte
}

// mkvStream writes frames of w×h bytes like FFmpeg does for Run, one cluster per frame,
// with an audio track's blocks between them when withAudio is set and clusters of
// unknown size when unknown is set.
func mkvStream(w, h int, frames []testFrame, withAudio, unknown bool) []byte {
	tracks := [][]byte{trackEntry(1, 1, "V_UNCOMPRESSED", el(0xE0, elUint(0xB0, uint64(w)), elUint(0xBA, uint64(h))))}
	if withAudio {
		tracks = append([][]byte{trackEntry(2, 2, "A_OPUS", nil)}, tracks...)
	}
	seg := [][]byte{
		el(0x1549A966, elUint(0x2AD7B1, 1000000)),
		el(0x1654AE6B, tracks...),
	}
	for _, f := range frames {
		ms := f.pts.Milliseconds()
		body := [][]byte{elUint(0xE7, uint64(ms)), el(0xBF, []byte{1, 2, 3, 4})} // Timecode, CRC-32
		if withAudio {
			body = append(body, simpleBlock(2, 0, bytes.Repeat([]byte{0xA5}, 50)))
		}
		body = append(body, simpleBlock(1, 0, f.data))
		if unknown {
			seg = append(seg, elUnknown(0x1F43B675, body...))
		} else {
			seg = append(seg, el(0x1F43B675, body...))
		}
	}
	seg = append(seg, el(0x1254C367, []byte("tags")))
	return append(el(0x1A45DFA3, el(0x4282, []byte("matroska"))), elUnknown(0x18538067, seg...)...)
}

func testFrames(w, h, n int) []testFrame {
	r := rand.New(rand.NewPCG(5, 6))
	var fs []testFrame
	for i := range n {
		d := make([]byte, w*h)
		for j := range d {
			d[j] = byte(r.Uint32())
		}
		fs = append(fs, testFrame{pts: time.Duration(i*33+i%3) * time.Millisecond, data: d})
	}
	return fs
}

// readAll reads every frame of a stream with a rawReader.
func readAll(r io.Reader) (w, h int, got []testFrame, err error) {
	rr := newRawReader(r)
	track, err := rr.track()
	if err != nil {
		return 0, 0, nil, err
	}
	w, h = track.Width, track.Height
	for {
		buf := make([]byte, w*h)
		pts, err := rr.next(buf)
		if errors.Is(err, io.EOF) {
			return w, h, got, nil
		}
		if err != nil {
			return w, h, got, err
		}
		got = append(got, testFrame{pts, buf})
	}
}

// chunked returns its Read calls in pieces of random sizes.
type chunked struct {
	r   io.Reader
	rnd *rand.Rand
}

func (c chunked) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1+c.rnd.IntN(min(len(p), 300))]
	}
	return c.r.Read(p)
}

func TestRawReader(t *testing.T) {
	const w, h = 64, 6
	frames := testFrames(w, h, 20)
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+err": iotest.DataErrReader,
		"chunks":   func(r io.Reader) io.Reader { return chunked{r, rand.New(rand.NewPCG(1, 2))} },
	}
	for _, audio := range []bool{false, true} {
		for _, unknown := range []bool{false, true} {
			stream := mkvStream(w, h, frames, audio, unknown)
			for name, wrap := range readers {
				gw, gh, got, err := readAll(wrap(bytes.NewReader(stream)))
				if err != nil {
					t.Fatalf("audio %v, unknown sizes %v, %s: %v", audio, unknown, name, err)
				}
				if gw != w || gh != h || len(got) != len(frames) {
					t.Fatalf("audio %v, unknown sizes %v, %s: %dx%d, %d frames", audio, unknown, name, gw, gh, len(got))
				}
				for i := range got {
					if got[i].pts != frames[i].pts || !bytes.Equal(got[i].data, frames[i].data) {
						t.Fatalf("audio %v, unknown sizes %v, %s: frame %d differs (pts %v, want %v)", audio, unknown, name, i, got[i].pts, frames[i].pts)
					}
				}
			}
		}
	}
}

func TestRawReaderErrors(t *testing.T) {
	const w, h = 64, 6
	frames := testFrames(w, h, 3)
	stream := mkvStream(w, h, frames, false, false)

	if _, _, _, err := readAll(bytes.NewReader(nil)); !errors.Is(err, io.EOF) {
		t.Errorf("empty stream: %v, want io.EOF", err)
	}
	if _, _, _, err := readAll(bytes.NewReader([]byte("this is not matroska at all"))); !errors.Is(err, ErrOutput) {
		t.Errorf("not Matroska: %v, want ErrOutput", err)
	}
	// Cut inside the last frame, and inside the header of a cluster.
	for _, cut := range []int{len(stream) - 100, len(stream) - w*h - 30} {
		_, _, got, err := readAll(bytes.NewReader(stream[:cut]))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d of %d: %v, want io.ErrUnexpectedEOF", cut, len(stream), err)
		}
		if len(got) != 2 {
			t.Errorf("cut at %d: %d whole frames, want 2", cut, len(got))
		}
	}
	// A frame of the wrong size.
	bad := mkvStream(w, h, []testFrame{{0, make([]byte, w*h-1)}}, false, false)
	if _, _, _, err := readAll(bytes.NewReader(bad)); !errors.Is(err, ErrOutput) {
		t.Errorf("short frame: %v, want ErrOutput", err)
	}
	// No video track.
	audioOnly := append(el(0x1A45DFA3), elUnknown(0x18538067,
		el(0x1654AE6B, trackEntry(2, 2, "A_OPUS", nil)),
		el(0x1F43B675, elUint(0xE7, 0), simpleBlock(2, 0, []byte{1, 2, 3})),
	)...)
	if _, _, _, err := readAll(bytes.NewReader(audioOnly)); !errors.Is(err, io.EOF) && !errors.Is(err, ErrOutput) {
		t.Errorf("audio only: %v", err)
	}
}

// FuzzRawReader reads arbitrary streams: the reader must end with a frame sequence or an
// error, never panic, and never read past what a frame holds.
func FuzzRawReader(f *testing.F) {
	f.Add(mkvStream(64, 2, testFrames(64, 2, 3), false, false))
	f.Add(mkvStream(64, 2, testFrames(64, 2, 2), true, true))
	f.Add([]byte{0x1A, 0x45, 0xDF, 0xA3, 0x80})
	f.Fuzz(func(t *testing.T, stream []byte) {
		rr := newRawReader(bytes.NewReader(stream))
		track, err := rr.track()
		if err != nil {
			return
		}
		size := track.Width * track.Height
		if size <= 0 || size > 1<<20 {
			return // Run refuses such sizes before reading a frame
		}
		buf := make([]byte, size)
		for range len(stream) + 1 {
			if _, err := rr.next(buf); err != nil {
				return
			}
		}
		t.Fatalf("more frames than bytes")
	})
}
