package frames

import (
	"errors"
	"fmt"
)

// The timecode strip; the package documentation is its specification.
const (
	tcBlocks   = 64        // blocks across the picture
	tcDataBits = 44        // capture time in ms since the Unix epoch
	tcCRCBits  = 16        // CRC-16/CCITT-FALSE of the time
	tcMaxMS    = 1<<44 - 1 // the latest time a strip can carry (year 2527)
	minWidth   = tcBlocks  // narrower pictures cannot carry a strip
	tcMinLevel = 64        // white guards must be this much brighter than black ones (of 255)
	tcPoly     = 0x1021    // CRC-16/CCITT-FALSE polynomial
	tcInit     = 0xFFFF    // and its initial value
	tcWhiteEnd = 1         // block 63, the last bit of the word
	tcWhiteBeg = uint64(1) << 63
	tcMaxSide  = 1 << 16 // wider pictures, or longer rows, are refused
)

// tcFits reports whether a plane can hold the strip.
func tcFits(y []byte, width, height, stride int) bool {
	sh := tcStripHeight(width)
	return width >= minWidth && width <= tcMaxSide && stride >= width && stride <= 4*tcMaxSide &&
		height >= sh && len(y) >= (sh-1)*stride+width
}

// tcStripHeight is the height of the strip in a picture width pixels wide.
func tcStripHeight(width int) int { return width / 32 }

// tcBlockX is where block i starts in a picture width pixels wide; block i covers
// [tcBlockX(i), tcBlockX(i+1)).
func tcBlockX(i, width int) int { return i * width / tcBlocks }

// tcWord returns the 64 blocks of the strip for ms, block 0 in the most significant bit,
// 1 for white.
func tcWord(ms int64) uint64 {
	return tcWhiteBeg | uint64(ms)<<18 | uint64(crc16(ms))<<2 | tcWhiteEnd
}

// crc16 is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection, no
// final XOR) of ms as 6 big-endian bytes.
func crc16(ms int64) uint16 {
	crc := uint16(tcInit)
	for i := 5; i >= 0; i-- {
		crc = crc16Update(crc, byte(ms>>(8*i)))
	}
	return crc
}

func crc16Update(crc uint16, c byte) uint16 {
	crc ^= uint16(c) << 8
	for range 8 {
		if crc&0x8000 != 0 {
			crc = crc<<1 ^ tcPoly
		} else {
			crc <<= 1
		}
	}
	return crc
}

// errTimecodeRange is returned by DrawTimecode for a time it cannot encode.
var errTimecodeRange = errors.New("timecode: time out of range")

// DrawTimecode draws the timecode strip for ms (milliseconds since the Unix epoch) at
// the top of a luma plane of width×height pixels whose rows are stride bytes apart, with
// 0 as black and 255 as white. It is the reference encoder of the layout in the package
// documentation, for tests and for tools that make test pictures.
func DrawTimecode(y []byte, width, height, stride int, ms int64) error {
	if ms < 0 || ms > tcMaxMS {
		return fmt.Errorf("%w: %d ms", errTimecodeRange, ms)
	}
	if !tcFits(y, width, height, stride) {
		return fmt.Errorf("timecode: a %dx%d picture (stride %d, %d bytes) cannot hold the strip", width, height, stride, len(y))
	}
	word := tcWord(ms)
	for row := range tcStripHeight(width) {
		line := y[row*stride : row*stride+width]
		for i := range tcBlocks {
			v := byte(0)
			if word&(1<<(63-i)) != 0 {
				v = 255
			}
			for x := tcBlockX(i, width); x < tcBlockX(i+1, width); x++ {
				line[x] = v
			}
		}
	}
	return nil
}

// DecodeTimecode reads the timecode strip at the top of a luma plane of width×height
// pixels whose rows are stride bytes apart, 0 black and 255 white. It returns the capture
// time in milliseconds since the Unix epoch and true, or false when the picture carries no
// strip that it can read with certainty: the guard blocks must contrast, every block must
// be clearly black or white, and the CRC must match.
func DecodeTimecode(y []byte, width, height, stride int) (ms int64, ok bool) {
	if !tcFits(y, width, height, stride) {
		return 0, false
	}
	sh := tcStripHeight(width)
	// Sample the middle of each block: the middle half of its columns and of the strip's
	// rows, away from edges that compression and scaling blur.
	r0, r1 := sh/4, sh-sh/4
	level := func(i int) int {
		x0, x1 := tcBlockX(i, width), tcBlockX(i+1, width)
		q := (x1 - x0) / 4
		x0, x1 = x0+q, x1-q
		sum := 0
		for r := r0; r < r1; r++ {
			for _, v := range y[r*stride+x0 : r*stride+x1] {
				sum += int(v)
			}
		}
		return sum / ((x1 - x0) * (r1 - r0))
	}
	white := min(level(0), level(tcBlocks-1))
	black := max(level(1), level(tcBlocks-2))
	if white-black < tcMinLevel {
		return 0, false
	}
	mid, margin := (white+black)/2, (white-black)/6
	var word uint64
	for i := range tcBlocks {
		v := level(i)
		switch {
		case v >= mid+margin:
			word |= 1 << (63 - i)
		case v <= mid-margin:
		default:
			return 0, false
		}
	}
	ms = int64(word>>18) & tcMaxMS
	if word != tcWord(ms) {
		return 0, false
	}
	return ms, true
}
