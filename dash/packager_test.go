package dash

import "testing"

// TestAudioParts lays out the parts of audio segments as the packager cuts them: each
// segment ends at the fragment nearest its nominal end, and only its first part may be
// shorter than the others, so that its last one is never a sliver (see partBreak).
func TestAudioParts(t *testing.T) {
	const partTicks, segTicks = 9600, 48000 // 200 ms parts, 1 s segments at 48 kHz
	for _, c := range []struct {
		name        string
		frag, start uint64 // fragment duration and the first fragment's time, in ticks
	}{
		{"AAC, 64 ms fragments", 3072, 0},
		{"AAC, a late first fragment", 3072, 1000},
		{"Opus, 60 ms fragments", 2880, 0},
		{"40 ms fragments", 1920, 700},
		{"fragments as long as a part", 9600, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := &trackWriter{t: &track{kind: audioTrack}, partTicks: partTicks, segTicks: segTicks, startNumber: 1}
			full := partTicks / c.frag * c.frag
			at := c.start
			for n := int64(1); n <= 8; n++ {
				w.seg = &segment{number: n}
				next := w.nextStart()
				var parts []uint64
				part := uint64(0)
				for {
					at += c.frag
					part += c.frag
					if at+c.frag/2 >= next { // the segment ends here (closeEarly)
						parts = append(parts, part)
						break
					}
					if part+c.frag > partTicks || w.partBreak(at, c.frag) {
						parts = append(parts, part)
						part = 0
					}
				}
				for i, p := range parts {
					if p > partTicks || i > 0 && p != full {
						t.Fatalf("segment %d: parts %v (ticks): want %d each but a shorter first", n, parts, full)
					}
				}
			}
		})
	}
}
