package frames

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/svtool/sv/media"
)

// rawReader reads the frames of the Matroska stream that FFmpeg writes for Run: one video
// track of raw planes (V_UNCOMPRESSED), one frame per block, each with its timestamp.
//
// The container is parsed by media.Scanner, a push parser that reports where each
// block's payload lies in the stream. The reader feeds it the bytes between payloads in
// small pieces, so that a block is reported before much of its payload has been fed,
// keeps the last few fed bytes buffered, and then reads the payload straight into the
// caller's buffer: the pixels are copied once, out of the pipe.
type rawReader struct {
	br      *bufio.Reader
	sc      *media.Scanner
	off     int64 // stream offset of the next byte read out of br
	scanOff int64 // stream offset of the next byte fed to the scanner; >= off

	video     media.TrackInfo // the first video track
	haveVideo bool
	block     media.Event // the video block whose payload comes next
	pending   bool
	skipTo    int64 // the end of a block of another track: fed in large pieces
}

const (
	// headerPiece is the most bytes fed to the scanner at once between payloads: less
	// than the smallest frame, so that a piece never holds a whole block.
	headerPiece = 32
	// keepFed is how many fed bytes stay buffered until a block is reported: the scanner
	// reads a few payload bytes with a block's header before reporting it.
	keepFed = 16
)

var errNoVideoTrack = errors.New("no video track")

func newRawReader(r io.Reader) *rawReader {
	rr := &rawReader{br: bufio.NewReaderSize(r, 4096)}
	rr.sc = media.NewScanner(media.WebM, rr.event)
	return rr
}

func (r *rawReader) event(e media.Event) error {
	switch e.Kind {
	case media.EventTrack:
		if !r.haveVideo && e.Info != nil && e.Info.Type == "video" {
			r.video, r.haveVideo = *e.Info, true
		}
	case media.EventBlock:
		if !r.haveVideo || e.Track != r.video.Number {
			r.skipTo = e.Offset + e.Size
			return nil
		}
		if r.pending {
			return fmt.Errorf("a block at offset %d inside the block at offset %d", e.Offset, r.block.Offset)
		}
		r.block, r.pending = e, true
	}
	return nil
}

// track reads up to the first frame and returns the video track, whose Width and Height
// give the frame size. It returns io.EOF if the stream ends before any frame.
func (r *rawReader) track() (media.TrackInfo, error) {
	if err := r.feedToBlock(); err != nil {
		return media.TrackInfo{}, err
	}
	if !r.haveVideo {
		return media.TrackInfo{}, fmt.Errorf("%w: %w", ErrOutput, errNoVideoTrack)
	}
	return r.video, nil
}

// next reads the next video frame into dst, which must be the size of a frame, and
// returns its timestamp. It returns io.EOF at the clean end of the stream.
func (r *rawReader) next(dst []byte) (time.Duration, error) {
	if err := r.feedToBlock(); err != nil {
		return 0, err
	}
	b := r.block
	if b.Size != int64(len(dst)) {
		return 0, fmt.Errorf("%w: a frame of %d bytes at offset %d, expected %d", ErrOutput, b.Size, b.Offset, len(dst))
	}
	if _, err := io.ReadFull(r.br, dst); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, fmt.Errorf("%w: frame at offset %d: %w", ErrOutput, b.Offset, err)
	}
	r.off += b.Size
	// The scanner has seen the first bytes of the payload with the block header.
	if _, err := r.sc.Write(dst[r.scanOff-b.Offset:]); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrOutput, err)
	}
	r.scanOff = r.off
	r.pending = false
	return b.Time, nil
}

// feedToBlock feeds the scanner until it reports a video block and leaves the reader at
// the start of its payload. At the end of the stream it returns io.EOF, or an error
// wrapping io.ErrUnexpectedEOF if the stream ends inside an element.
func (r *rawReader) feedToBlock() error {
	for !r.pending {
		fed := int(r.scanOff - r.off) // fed but still buffered
		if r.br.Buffered() <= fed {
			if _, err := r.br.Peek(fed + 1); err != nil {
				if err != io.EOF {
					return err
				}
				if cerr := r.sc.Close(); cerr != nil {
					return fmt.Errorf("%w: %w", ErrOutput, cerr)
				}
				return io.EOF
			}
		}
		n := min(r.br.Buffered()-fed, headerPiece)
		if r.skipTo > r.scanOff {
			n = int(min(int64(r.br.Buffered()-fed), r.skipTo-r.scanOff))
		}
		p, _ := r.br.Peek(fed + n)
		if _, err := r.sc.Write(p[fed:]); err != nil {
			return fmt.Errorf("%w: %w", ErrOutput, err)
		}
		r.scanOff += int64(n)
		if !r.pending {
			if d := r.scanOff - r.off - keepFed; d > 0 {
				r.discard(d)
			}
		}
	}
	if r.block.Offset < r.off || r.block.Offset > r.scanOff {
		return fmt.Errorf("%w: block payload at offset %d out of reach", ErrOutput, r.block.Offset)
	}
	r.discard(r.block.Offset - r.off)
	return nil
}

func (r *rawReader) discard(n int64) {
	d, _ := r.br.Discard(int(n)) // n bytes are buffered
	r.off += int64(d)
}
