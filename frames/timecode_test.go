package frames

import (
	"math/rand/v2"
	"testing"
)

func TestCRC16(t *testing.T) {
	// The check value of CRC-16/CCITT-FALSE is 0x29B1 for "123456789"; crc16 hashes the
	// time as 6 bytes, so check the algorithm through a time whose bytes are known.
	crc := uint16(tcInit)
	for _, c := range []byte("123456789") {
		crc = crc16Update(crc, c)
	}
	if crc != 0x29B1 {
		t.Fatalf("CRC-16/CCITT-FALSE(123456789) = %#04x, want 0x29b1", crc)
	}
	// 1700000000000 ms = 0x018BCFE56800: the bytes 01 8B CF E5 68 00.
	want := uint16(tcInit)
	for _, c := range []byte{0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00} {
		want = crc16Update(want, c)
	}
	if got := crc16(1700000000000); got != want {
		t.Fatalf("crc16 = %#04x, want %#04x", got, want)
	}
}

func TestTimecodeRoundTrip(t *testing.T) {
	times := []int64{0, 1, 1700000000123, 1767225600000, tcMaxMS, 0x0AAAAAAAAAAA, 0x055555555555}
	for _, size := range [][2]int{{64, 2}, {64, 48}, {320, 240}, {320, 180}, {350, 20}, {640, 480}, {1280, 720}, {1919, 1080}} {
		w, h := size[0], size[1]
		for _, ms := range times {
			stride := w + 7
			y := make([]byte, stride*h)
			for i := range y {
				y[i] = 128
			}
			if err := DrawTimecode(y, w, h, stride, ms); err != nil {
				t.Fatalf("%dx%d: DrawTimecode(%d): %v", w, h, ms, err)
			}
			got, ok := DecodeTimecode(y, w, h, stride)
			if !ok || got != ms {
				t.Errorf("%dx%d: DecodeTimecode = %d, %v; want %d", w, h, got, ok, ms)
			}
		}
	}
}

// TestTimecodeDegraded checks that the strip survives what happens to it on the way: grey
// levels squeezed towards the middle, noise, blurred block edges, and a 2:1 downscale.
func TestTimecodeDegraded(t *testing.T) {
	const w, h, ms = 640, 480, 1761234567890
	y := make([]byte, w*h)
	if err := DrawTimecode(y, w, h, w, ms); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i, v := range y {
		// limited contrast (40..200) and ±20 noise
		x := 40 + int(v)*160/255 + r.IntN(41) - 20
		y[i] = byte(x)
	}
	// blur each row with a 3-tap box filter
	for row := range h {
		line := y[row*w : row*w+w]
		prev := line[0]
		for x := 1; x < w-1; x++ {
			cur := line[x]
			line[x] = byte((int(prev) + int(cur) + int(line[x+1])) / 3)
			prev = cur
		}
	}
	if got, ok := DecodeTimecode(y, w, h, w); !ok || got != ms {
		t.Fatalf("degraded: DecodeTimecode = %d, %v; want %d", got, ok, ms)
	}
	// 2:1 area downscale to 320x240
	small := make([]byte, w/2*h/2)
	for sy := range h / 2 {
		for sx := range w / 2 {
			s := int(y[2*sy*w+2*sx]) + int(y[2*sy*w+2*sx+1]) + int(y[(2*sy+1)*w+2*sx]) + int(y[(2*sy+1)*w+2*sx+1])
			small[sy*(w/2)+sx] = byte(s / 4)
		}
	}
	if got, ok := DecodeTimecode(small, w/2, h/2, w/2); !ok || got != ms {
		t.Fatalf("downscaled: DecodeTimecode = %d, %v; want %d", got, ok, ms)
	}
}

func TestTimecodeRejects(t *testing.T) {
	const w, h, ms = 320, 240, 1761234567890
	fresh := func() []byte {
		y := make([]byte, w*h)
		if err := DrawTimecode(y, w, h, w, ms); err != nil {
			t.Fatal(err)
		}
		return y
	}
	// flip one block at a time: every single-block error is caught
	for i := range tcBlocks {
		y := fresh()
		for row := range tcStripHeight(w) {
			for x := tcBlockX(i, w); x < tcBlockX(i+1, w); x++ {
				y[row*w+x] ^= 0xFF
			}
		}
		if got, ok := DecodeTimecode(y, w, h, w); ok {
			t.Errorf("block %d flipped: decoded %d", i, got)
		}
	}
	// a block at mid-grey is refused rather than guessed
	y := fresh()
	for row := range tcStripHeight(w) {
		for x := tcBlockX(20, w); x < tcBlockX(21, w); x++ {
			y[row*w+x] = 128
		}
	}
	if got, ok := DecodeTimecode(y, w, h, w); ok {
		t.Errorf("grey block: decoded %d", got)
	}
	// no strip at all: flat, noise, a natural-ish picture
	r := rand.New(rand.NewPCG(3, 4))
	for n := range 2000 {
		y := make([]byte, w*h)
		switch n % 3 {
		case 0:
			for i := range y {
				y[i] = byte(n)
			}
		case 1:
			for i := range y {
				y[i] = byte(r.Uint32())
			}
		case 2:
			for i := range y {
				if r.IntN(2) == 0 {
					y[i] = 255
				}
			}
		}
		if got, ok := DecodeTimecode(y, w, h, w); ok {
			t.Fatalf("picture %d without a strip: decoded %d", n, got)
		}
	}
	// pictures too small, strides too short, buffers too short
	for _, c := range []struct{ w, h, stride, n int }{
		{63, 100, 63, 6300}, {320, 9, 320, 2880}, {320, 240, 300, 320 * 240}, {320, 240, 320, 100}, {0, 0, 0, 0}, {-64, 10, 64, 640},
	} {
		if _, ok := DecodeTimecode(make([]byte, c.n), c.w, c.h, c.stride); ok {
			t.Errorf("%+v: decoded", c)
		}
		if err := DrawTimecode(make([]byte, c.n), c.w, c.h, c.stride, 1); err == nil {
			t.Errorf("%+v: drew", c)
		}
	}
	for _, bad := range []int64{-1, tcMaxMS + 1} {
		if err := DrawTimecode(make([]byte, w*h), w, h, w, bad); err == nil {
			t.Errorf("DrawTimecode(%d): no error", bad)
		}
	}
}

// FuzzDecodeTimecode feeds arbitrary pictures to the decoder: it must not panic, and a
// time it accepts must be one the encoder draws identically.
func FuzzDecodeTimecode(f *testing.F) {
	y := make([]byte, 320*20)
	DrawTimecode(y, 320, 20, 320, 1761234567890)
	f.Add(y, 320, 20, 320)
	f.Add(y[:64*4], 64, 4, 64)
	f.Add([]byte{}, 0, 0, 0)
	f.Add(make([]byte, 100), 64, 2, 50)
	f.Fuzz(func(t *testing.T, y []byte, w, h, stride int) {
		ms, ok := DecodeTimecode(y, w, h, stride)
		if !ok {
			return
		}
		if ms < 0 || ms > tcMaxMS {
			t.Fatalf("decoded %d, out of range", ms)
		}
		y2 := make([]byte, len(y))
		copy(y2, y)
		if err := DrawTimecode(y2, w, h, stride, ms); err != nil {
			t.Fatalf("decoded %d from a %dx%d picture the encoder refuses: %v", ms, w, h, err)
		}
		if got, ok := DecodeTimecode(y2, w, h, stride); !ok || got != ms {
			t.Fatalf("redrawn: %d, %v; want %d", got, ok, ms)
		}
	})
}
