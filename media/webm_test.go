package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"
)

// Builders for hand-made WebM streams.

func ebmlID(id uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, id)
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

func ebmlVint(v uint64) []byte {
	l := 1
	for v >= 1<<(7*l)-1 {
		l++
	}
	b := binary.BigEndian.AppendUint64(nil, v|1<<(7*l))
	return b[8-l:]
}

var unknownSize = []byte{0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}

func el(id uint32, body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	return append(append(ebmlID(id), ebmlVint(uint64(len(b)))...), b...)
}

// elOpen is the header of an unknown-size element: its children follow.
func elOpen(id uint32) []byte { return append(ebmlID(id), unknownSize...) }

func uintEl(id uint32, v uint64) []byte {
	b := binary.BigEndian.AppendUint64(nil, v)
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	return el(id, b)
}

func strEl(id uint32, s string) []byte { return el(id, []byte(s)) }

func floatEl(id uint32, f float64) []byte {
	return el(id, binary.BigEndian.AppendUint64(nil, math.Float64bits(f)))
}

// blockBody is a block's body: track, relative timecode, flags, then n bytes of
// fill, a byte that tells frames apart in the payload checks.
func blockBody(track uint64, rel int16, flags byte, n int, fill byte) []byte {
	b := append(ebmlVint(track), byte(uint16(rel)>>8), byte(rel), flags)
	return append(b, bytes.Repeat([]byte{fill}, n)...)
}

func simpleBlock(track uint64, rel int16, key bool, n int, fill byte) []byte {
	var flags byte
	if key {
		flags = 0x80
	}
	return el(idSimpleBlock, blockBody(track, rel, flags, n, fill))
}

func webmHead(scale uint64) []byte {
	return bytes.Join([][]byte{
		el(idEBML, uintEl(0x4286, 1), uintEl(0x42F7, 1), strEl(0x4282, "webm"), uintEl(0x4287, 4), uintEl(0x4285, 2)),
		elOpen(idSegment),
		el(idInfo, uintEl(idTimecodeScale, scale), strEl(0x4D80, "Chrome"), strEl(0x5741, "Chrome")),
		el(idTracks,
			el(idTrackEntry, uintEl(idTrackNumber, 1), uintEl(0x73C5, 7), uintEl(idTrackType, 1),
				strEl(idCodecID, "V_MPEG4/ISO/AVC"), el(idVideo, uintEl(idPixelWidth, 640), uintEl(idPixelHeight, 480))),
			el(idTrackEntry, uintEl(idTrackNumber, 2), uintEl(0x73C5, 8), uintEl(idTrackType, 2),
				strEl(idCodecID, "A_OPUS"), el(idAudio, floatEl(idSamplingFrequency, 48000), uintEl(idChannels, 1)))),
	}, nil)
}

// liveWebM is a stream like Chrome's: unknown-size Segment and Clusters, one
// cluster per second opening with a video keyframe.
func liveWebM(clusters int) []byte {
	b := webmHead(1e6)
	for i := range clusters {
		fill := byte(0x11 * (i%4 + 1))
		b = append(b, elOpen(idCluster)...)
		b = append(b, uintEl(idTimecode, uint64(i*1000))...)
		b = append(b, simpleBlock(1, 0, true, 300, fill)...)
		b = append(b, simpleBlock(2, 0, true, 20, fill+1)...)
		b = append(b, simpleBlock(1, 33, false, 100, fill+2)...)
		b = append(b, simpleBlock(2, 20, true, 20, fill+3)...)
	}
	return b
}

// short describes an event without its offsets.
func short(ev Event) string {
	switch ev.Kind {
	case EventTrack:
		i := ev.Info
		return fmt.Sprintf("track %d %s %s %dx%d %vHz %dch", i.Number, i.Type, i.Codec, i.Width, i.Height, i.SampleRate, i.Channels)
	case EventHeader:
		return "header"
	case EventCluster:
		return fmt.Sprintf("cluster %v key=%v", ev.Time, ev.Keyframe)
	}
	return fmt.Sprintf("block %d %v key=%v", ev.Track, ev.Time, ev.Keyframe)
}

func shorts(events []Event) []string {
	var s []string
	for _, ev := range events {
		s = append(s, short(ev))
	}
	return s
}

// checkPayloads checks that each frame's [Offset, Offset+Size) is its fill.
func checkPayloads(t *testing.T, data []byte, events []Event) {
	t.Helper()
	for _, ev := range events {
		if ev.Kind != EventBlock {
			continue
		}
		if ev.Offset < 0 || ev.Size <= 0 || ev.Offset+ev.Size > int64(len(data)) {
			t.Errorf("frame %s at %d+%d: out of the stream", short(ev), ev.Offset, ev.Size)
			continue
		}
		p := data[ev.Offset : ev.Offset+ev.Size]
		if bytes.Count(p, p[:1]) != len(p) || (ev.Offset+ev.Size < int64(len(data)) && data[ev.Offset+ev.Size] == p[0]) {
			t.Errorf("frame %s at %d+%d is not its payload", short(ev), ev.Offset, ev.Size)
		}
	}
}

func TestWebMLive(t *testing.T) {
	data := liveWebM(3)
	r := checkSplits(t, WebM, data, 1)
	if r.writeErr != "" || r.closeErr != "" {
		t.Fatalf("errors: %q %q", r.writeErr, r.closeErr)
	}
	want := []string{
		"track 1 video V_MPEG4/ISO/AVC 640x480 0Hz 0ch",
		"track 2 audio A_OPUS 0x0 48000Hz 1ch",
		"header",
	}
	for i := range 3 {
		t0 := time.Duration(i) * time.Second
		want = append(want,
			fmt.Sprintf("cluster %v key=true", t0),
			fmt.Sprintf("block 1 %v key=true", t0),
			fmt.Sprintf("block 2 %v key=true", t0),
			fmt.Sprintf("block 1 %v key=false", t0+33*time.Millisecond),
			fmt.Sprintf("block 2 %v key=true", t0+20*time.Millisecond))
	}
	if got := shorts(r.events); !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	checkPayloads(t, data, r.events)
	head := webmHead(1e6)
	if h := r.events[2]; h.Offset != int64(len(head)) || h.Size != int64(len(head)) {
		t.Errorf("header at %d+%d, want %d+%d", h.Offset, h.Size, len(head), len(head))
	}
	for _, ev := range r.events {
		if ev.Kind == EventCluster && (ev.Size != -1 || !bytes.HasPrefix(data[ev.Offset:], ebmlID(idCluster))) {
			t.Errorf("cluster at %d+%d", ev.Offset, ev.Size)
		}
	}
}

// TestWebMKnownSizes reads a stream as FFmpeg writes files: Segment and
// Clusters of known size.
func TestWebMKnownSizes(t *testing.T) {
	var b []byte
	b = append(b, el(idEBML, strEl(0x4282, "webm"))...)
	var clusters [][]byte
	for i := range 2 {
		clusters = append(clusters, el(idCluster, uintEl(idTimecode, uint64(i*500)),
			simpleBlock(1, 0, i == 0, 50, 0x33), simpleBlock(1, 40, false, 50, 0x44)))
	}
	head := webmHead(1e6)
	seg := head[bytes.Index(head, ebmlID(idInfo)):]
	b = append(b, el(idSegment, seg, clusters[0], clusters[1])...)
	r := checkSplits(t, WebM, b, 2)
	want := []string{
		"track 1 video V_MPEG4/ISO/AVC 640x480 0Hz 0ch",
		"track 2 audio A_OPUS 0x0 48000Hz 1ch",
		"header",
		"cluster 0s key=true",
		"block 1 0s key=true",
		"block 1 40ms key=false",
		"cluster 500ms key=false",
		"block 1 500ms key=false",
		"block 1 540ms key=false",
	}
	if got := shorts(r.events); !reflect.DeepEqual(got, want) || r.closeErr != "" {
		t.Fatalf("events:\n%s\nwant:\n%s\nclose: %s", strings.Join(got, "\n"), strings.Join(want, "\n"), r.closeErr)
	}
	checkPayloads(t, b, r.events)
	if c := r.events[6]; c.Size != int64(len(clusters[1])) || c.Offset != int64(len(b)-len(clusters[1])) {
		t.Errorf("second cluster at %d+%d, want %d+%d", c.Offset, c.Size, len(b)-len(clusters[1]), len(clusters[1]))
	}
	// Cut inside the known-size Segment: the stream is truncated.
	r = scanAll(WebM, b[:len(b)-len(clusters[1])])
	if !strings.Contains(r.closeErr, "unexpected EOF") {
		t.Errorf("truncated known-size segment: close error %q", r.closeErr)
	}
}

func TestWebMBlockGroups(t *testing.T) {
	b := webmHead(1e6)
	b = append(b, elOpen(idCluster)...)
	b = append(b, uintEl(idTimecode, 100)...)
	b = append(b, el(idBlockGroup, el(idBlock, blockBody(1, 0, 0, 40, 0x55)), uintEl(0x9B, 33))...)
	b = append(b, el(idBlockGroup, el(idBlock, blockBody(1, 33, 0, 40, 0x66)), el(idReferenceBlock, []byte{0xDF}))...)
	b = append(b, el(idBlockGroup, el(idBlock, blockBody(2, -5, 0, 40, 0x77)))...)
	// An unknown-size BlockGroup, ended by the next Cluster.
	b = append(b, elOpen(idBlockGroup)...)
	b = append(b, el(idBlock, blockBody(1, 66, 0, 40, 0x88))...)
	b = append(b, uintEl(idReferenceBlock, 0)...)
	b = append(b, elOpen(idCluster)...)
	b = append(b, uintEl(idTimecode, 200)...)
	r := checkSplits(t, WebM, b, 3)
	want := []string{
		"cluster 100ms key=true",
		"block 1 100ms key=true",
		"block 1 133ms key=false",
		"block 2 95ms key=true",
		"block 1 166ms key=false",
		"cluster 200ms key=false",
	}
	if got := shorts(r.events[3:]); !reflect.DeepEqual(got, want) || r.closeErr != "" {
		t.Fatalf("events:\n%s\nwant:\n%s\nclose: %s", strings.Join(got, "\n"), strings.Join(want, "\n"), r.closeErr)
	}
	checkPayloads(t, b, r.events)
}

func TestWebMClusterWaitsForVideo(t *testing.T) {
	t.Run("audio first", func(t *testing.T) {
		b := webmHead(1e6)
		b = append(b, elOpen(idCluster)...)
		b = append(b, uintEl(idTimecode, 0)...)
		b = append(b, simpleBlock(2, 0, true, 10, 0x11)...)
		b = append(b, simpleBlock(2, 20, true, 10, 0x22)...)
		b = append(b, simpleBlock(1, 30, true, 10, 0x33)...)
		r := checkSplits(t, WebM, b, 4)
		want := []string{"cluster 0s key=true", "block 2 0s key=true", "block 2 20ms key=true", "block 1 30ms key=true"}
		if got := shorts(r.events[3:]); !reflect.DeepEqual(got, want) {
			t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("no video in cluster", func(t *testing.T) {
		b := webmHead(1e6)
		b = append(b, elOpen(idCluster)...)
		b = append(b, simpleBlock(2, 0, true, 10, 0x11)...)
		b = append(b, el(idCues)...)
		r := checkSplits(t, WebM, b, 5)
		want := []string{"cluster 0s key=false", "block 2 0s key=true"}
		if got := shorts(r.events[3:]); !reflect.DeepEqual(got, want) {
			t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("too many audio frames", func(t *testing.T) {
		b := webmHead(1e6)
		b = append(b, elOpen(idCluster)...)
		for i := range maxQueue + 1 {
			b = append(b, simpleBlock(2, int16(i), true, 10, 0x11)...)
		}
		b = append(b, simpleBlock(1, 100, true, 10, 0x22)...)
		r := checkSplits(t, WebM, b, 6)
		got := shorts(r.events[3:])
		if len(got) != maxQueue+3 || got[0] != "cluster 0s key=false" || got[1] != "block 2 0s key=true" ||
			got[len(got)-1] != "block 1 100ms key=true" {
			t.Fatalf("events:\n%s", strings.Join(got, "\n"))
		}
	})
	t.Run("audio only stream", func(t *testing.T) {
		b := el(idEBML)
		b = append(b, elOpen(idSegment)...)
		b = append(b, el(idTracks, el(idTrackEntry, uintEl(idTrackNumber, 1), strEl(idCodecID, "A_OPUS")))...)
		b = append(b, elOpen(idCluster)...)
		b = append(b, uintEl(idTimecode, 5)...)
		b = append(b, simpleBlock(1, 0, true, 10, 0x11)...)
		r := checkSplits(t, WebM, b, 7)
		want := []string{"track 1 audio A_OPUS 0x0 0Hz 0ch", "header", "cluster 5ms key=true", "block 1 5ms key=true"}
		if got := shorts(r.events); !reflect.DeepEqual(got, want) {
			t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

func TestWebMConcatenated(t *testing.T) {
	first := liveWebM(2)
	// The second recording starts in the middle of the first's open cluster.
	data := append(append([]byte{}, first...), liveWebM(1)...)
	r := checkSplits(t, WebM, data, 8)
	var headers []Event
	tracks := 0
	for _, ev := range r.events {
		switch ev.Kind {
		case EventHeader:
			headers = append(headers, ev)
		case EventTrack:
			tracks++
		}
	}
	head := int64(len(webmHead(1e6)))
	if len(headers) != 2 || tracks != 4 {
		t.Fatalf("%d headers, %d tracks; want 2 and 4", len(headers), tracks)
	}
	if h := headers[1]; h.Offset-h.Size != int64(len(first)) || h.Size != head {
		t.Errorf("second header at [%d, %d), want [%d, %d)", h.Offset-h.Size, h.Offset, len(first), int64(len(first))+head)
	}
	if got, want := shorts(r.events[len(r.events)-5:]), shorts(scanAll(WebM, liveWebM(1)).events[3:]); !reflect.DeepEqual(got, want) {
		t.Errorf("second stream's events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	checkPayloads(t, data, r.events)
}

func TestWebMTimecodeScale(t *testing.T) {
	b := webmHead(100000) // 0.1 ms
	b = append(b, elOpen(idCluster)...)
	b = append(b, uintEl(idTimecode, 30000)...)
	b = append(b, simpleBlock(1, -10, true, 10, 0x11)...)
	r := checkSplits(t, WebM, b, 9)
	want := []string{"cluster 3s key=true", "block 1 2.999s key=true"}
	if got := shorts(r.events[3:]); !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWebMSkipsUnknownElements(t *testing.T) {
	b := webmHead(1e6)
	b = append(b, el(0xEC, make([]byte, 100))...)             // Void at Segment level
	b = append(b, el(idTags, el(0x7373, make([]byte, 9)))...) // Tags
	b = append(b, elOpen(idCues)...)                          // an unknown-size master that is skipped
	b = append(b, el(0xBB, uintEl(0xB3, 0))...)               // CuePoint
	b = append(b, elOpen(idCluster)...)                       // ends the Cues
	b = append(b, el(0xBF, []byte{1, 2, 3, 4})...)            // CRC-32 in the Cluster
	b = append(b, el(0x4123, make([]byte, 70000))...)         // an unknown element bigger than the buffer
	b = append(b, el(idCodecID, []byte("V_NOT_HERE"))...)     // a stray element, skipped
	b = append(b, simpleBlock(1, 1, true, 10, 0x11)...)
	b = append(b, el(idTags)...)                        // ends the Cluster
	b = append(b, simpleBlock(1, 2, true, 10, 0x22)...) // a stray block at Segment level
	r := checkSplits(t, WebM, b, 10)
	want := []string{"header", "cluster 0s key=true", "block 1 1ms key=true"}
	if got := shorts(r.events[2:]); !reflect.DeepEqual(got, want) || r.closeErr != "" {
		t.Fatalf("events:\n%s\nwant:\n%s\nclose: %s", strings.Join(got, "\n"), strings.Join(want, "\n"), r.closeErr)
	}
}

func TestWebMLongElements(t *testing.T) {
	codec := strings.Repeat("V", 100000)
	b := el(idEBML)
	b = append(b, elOpen(idSegment)...)
	b = append(b, el(idTracks, el(idTrackEntry, uintEl(idTrackNumber, 1), strEl(idCodecID, codec)))...)
	b = append(b, elOpen(idCluster)...)
	b = append(b, simpleBlock(1, 0, true, 100000, 0x11)...)
	r := checkSplits(t, WebM, b, 13)
	if len(r.events) != 4 || r.events[0].Info.Codec != codec[:maxBody] || r.events[3].Size != 100000 {
		t.Fatalf("events:\n%s", strings.Join(shorts(r.events), "\n"))
	}
	s := NewScanner(WebM, func(Event) error { return nil })
	s.Write(b)
	checkBounded(t, s)
}

func TestWebMErrors(t *testing.T) {
	head := webmHead(1e6)
	cluster := append(append([]byte{}, head...), elOpen(idCluster)...)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	deep := append([]byte{}, head...)
	for range maxDepth {
		deep = append(deep, elOpen(0x4123)...)
	}
	h, c := len(head), len(cluster) // offsets of the element after them
	tests := []struct {
		name     string
		data     []byte
		writeErr string // substring; "" for none
		closeErr string
	}{
		{"ok", cat(cluster, simpleBlock(1, 0, true, 5, 1)), "", ""},
		{"invalid id", cat(head, []byte{0x00, 0x81}), fmt.Sprintf("webm: invalid element id at offset %d", h), ""},
		{"invalid size", cat(head, []byte{0xEC, 0x00}), fmt.Sprintf("webm: invalid element size at offset %d", h), ""},
		{"overflow", el(idSegment, el(idInfo, []byte{0xEC, 0x85})), "webm: element 0xEC overflows its parent at offset 10", ""},
		{"unknown-size leaf", cat(cluster, elOpen(idSimpleBlock)), fmt.Sprintf("webm: element 0xA3 with unknown size at offset %d", c), ""},
		{"unknown-size EBML", elOpen(idEBML), "webm: element 0x1A45DFA3 with unknown size at offset 0", ""},
		{"long integer", cat(cluster, el(idTimecode, make([]byte, 9))), fmt.Sprintf("webm: element 0xE7: invalid integer size 9 at offset %d", c), ""},
		{"bad float", cat(el(idEBML), elOpen(idSegment), el(idTracks, el(idTrackEntry, el(idAudio, el(idSamplingFrequency, []byte{1, 2}))))),
			"invalid float size 2", ""},
		{"short block", cat(cluster, el(idSimpleBlock, []byte{0x81, 0})), fmt.Sprintf("webm: block too short at offset %d", c), ""},
		{"bad block track", cat(cluster, el(idSimpleBlock, []byte{0x00, 0, 0, 0, 0})), fmt.Sprintf("webm: invalid block header at offset %d", c), ""},
		{"zero scale", cat(el(idEBML), elOpen(idSegment), el(idInfo, uintEl(idTimecodeScale, 0))), "invalid TimecodeScale 0", ""},
		{"too deep", deep, "webm: elements nested too deep at offset", ""},
		{"ends in header", cat(cluster, []byte{0xA3}), "", fmt.Sprintf("webm: stream ends inside an element header at offset %d: unexpected EOF", c)},
		{"ends in size", cat(cluster, []byte{0xA3, 0x40}), "", "webm: stream ends inside an element header"},
		{"ends in block", cat(cluster, simpleBlock(1, 0, true, 50, 1))[:len(cluster)+20], "", fmt.Sprintf("webm: stream ends inside element 0xA3 at offset %d: unexpected EOF", c)},
		{"ends in block header", cat(cluster, simpleBlock(1, 0, true, 50, 1))[:len(cluster)+4], "", "webm: stream ends inside element 0xA3"},
		{"ends in known cluster", cat(head, el(idCluster, simpleBlock(1, 0, true, 50, 1)))[:len(head)+10], "", "webm: stream ends inside element 0xA3"},
		{"ends after known child", cat(head, el(idCluster, uintEl(idTimecode, 1), uintEl(idTimecode, 1)))[:len(head)+8], "", fmt.Sprintf("webm: stream ends inside element 0x1F43B675 at offset %d", h)},
		{"ends in unknown cluster", cluster, "", ""},
		{"too many tracks", cat(el(idEBML), elOpen(idSegment), el(idTracks, bytes.Repeat(el(idTrackEntry), maxTracks+1))), "webm: more than 64 tracks at offset", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := checkSplits(t, WebM, tt.data, 11)
			if (tt.writeErr == "") != (r.writeErr == "") || !strings.Contains(r.writeErr, tt.writeErr) {
				t.Errorf("write error %q, want %q", r.writeErr, tt.writeErr)
			}
			if tt.writeErr == "" && ((tt.closeErr == "") != (r.closeErr == "") || !strings.Contains(r.closeErr, tt.closeErr)) {
				t.Errorf("close error %q, want %q", r.closeErr, tt.closeErr)
			}
		})
	}
	// Close errors wrap io.ErrUnexpectedEOF.
	s := NewScanner(WebM, func(Event) error { return nil })
	s.Write(cat(cluster, []byte{0xA3}))
	if err := s.Close(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Close = %v, want io.ErrUnexpectedEOF", err)
	}
}

// unknownSizes rewrites a WebM file as Chrome writes live streams: the Segment
// and every Cluster get the unknown size (same length, same offsets).
func unknownSizes(t *testing.T, data []byte, events []Event) []byte {
	t.Helper()
	out := append([]byte{}, data...)
	setUnknown := func(at int64) {
		l := vintLen(out[at])
		out[at] = 0xFF >> (l - 1)
		for i := 1; i < l; i++ {
			out[at+int64(i)] = 0xFF
		}
	}
	hl := vintLen(data[4])
	ebmlSize := int64(beUint(data[4:4+hl]) &^ (1 << (7 * hl)))
	seg := 4 + int64(hl) + ebmlSize
	if !bytes.HasPrefix(data[seg:], ebmlID(idSegment)) {
		t.Fatalf("no Segment after the EBML header")
	}
	setUnknown(seg + 4)
	for _, ev := range events {
		if ev.Kind == EventCluster {
			setUnknown(ev.Offset + 4)
		}
	}
	return out
}

func TestWebMFFmpeg(t *testing.T) {
	testenv.RequireFFmpeg(t)
	dir := t.TempDir()
	tests := []struct {
		name, file string
		args       []string
		codecs     []string
	}{
		{"h264 opus matroska", "h264.mkv",
			[]string{"-c:v", "libx264", "-g", "15", "-c:a", "libopus", "-f", "matroska"}, []string{"V_MPEG4/ISO/AVC", "A_OPUS"}},
		{"vp8 opus webm", "vp8.webm",
			[]string{"-c:v", "libvpx", "-g", "15", "-c:a", "libopus", "-f", "webm"}, []string{"V_VP8", "A_OPUS"}},
		{"vp9 webm without audio", "vp9.webm",
			[]string{"-an", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "30", "-f", "webm"}, []string{"V_VP9"}},
		{"h264 matroska to a pipe", "pipe:1",
			[]string{"-c:v", "libx264", "-bf", "0", "-g", "20", "-c:a", "libopus", "-f", "matroska"}, []string{"V_MPEG4/ISO/AVC", "A_OPUS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := tt.file
			if out != "pipe:1" {
				out = filepath.Join(dir, tt.file)
			}
			data := ffmpeg(t, append(append(lavfi("3"), tt.args...), out)...)
			path := out
			if out == "pipe:1" {
				path = filepath.Join(dir, "pipe.mkv")
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			events := crossCheck(t, path)
			var codecs []string
			for _, ev := range events {
				if ev.Kind == EventTrack {
					codecs = append(codecs, ev.Info.Codec)
					if ev.Info.Type == "video" && (ev.Info.Width != 320 || ev.Info.Height != 240) {
						t.Errorf("video track %+v, want 320x240", *ev.Info)
					}
					if ev.Info.Type == "audio" && (ev.Info.SampleRate != 48000 || ev.Info.Channels != 1) {
						t.Errorf("audio track %+v, want 48000 Hz mono", *ev.Info)
					}
				}
			}
			if !reflect.DeepEqual(codecs, tt.codecs) {
				t.Errorf("codecs %q, want %q", codecs, tt.codecs)
			}

			// The same stream as Chrome would write it live gives the
			// same events, clusters of unknown size.
			live := unknownSizes(t, data, events)
			r := checkSplits(t, WebM, live, 12)
			if r.writeErr != "" || r.closeErr != "" {
				t.Fatalf("live: %s%s", r.writeErr, r.closeErr)
			}
			want := append([]Event{}, events...)
			for i := range want {
				if want[i].Kind == EventCluster {
					want[i].Size = -1
				}
			}
			if !reflect.DeepEqual(r.events, want) {
				t.Fatalf("live stream:\n%s", diffResults(r, result{events: want}))
			}
		})
	}
}

// TestWebMWriteAllocs checks that Write does not allocate once the stream's
// header has been read.
func TestWebMWriteAllocs(t *testing.T) {
	data := liveWebM(200)
	head := len(webmHead(1e6))
	events := 0
	s := NewScanner(WebM, func(Event) error { events++; return nil })
	if _, err := s.Write(data[:head+2000]); err != nil {
		t.Fatal(err)
	}
	body := data[head+2000:]
	allocs := testing.AllocsPerRun(1, func() {
		for p := body; len(p) > 0; {
			n := min(len(p), 1000)
			if _, err := s.Write(p[:n]); err != nil {
				t.Fatal(err)
			}
			p = p[n:]
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations writing %d bytes (%d events)", allocs, len(body), events)
	}
}

func FuzzWebM(f *testing.F) {
	f.Add(liveWebM(2))
	f.Add(liveWebM(1)[:200])
	f.Add(append(liveWebM(1), liveWebM(1)...))
	b := webmHead(1e6)
	b = append(b, elOpen(idCluster)...)
	b = append(b, el(idBlockGroup, el(idBlock, blockBody(1, 0, 0, 4, 1)), uintEl(idReferenceBlock, 1))...)
	b = append(b, elOpen(idBlockGroup)...)
	b = append(b, el(idBlock, blockBody(2, 0, 0, 4, 1))...)
	f.Add(b)
	f.Add([]byte{0x1A, 0x45, 0xDF, 0xA3, 0x80})
	if _, err := exec.LookPath("ffmpeg"); err == nil { // seeds from FFmpeg when it is there
		f.Add(ffmpeg(f, "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-f", "lavfi", "-i", "sine",
			"-t", "0.5", "-c:v", "libx264", "-g", "3", "-c:a", "libopus", "-f", "matroska", "pipe:1"))
		f.Add(ffmpeg(f, "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-t", "0.5",
			"-c:v", "libvpx", "-g", "3", "-f", "webm", "pipe:1"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzScan(t, WebM, data)
	})
}

// BenchmarkScanWebM scans a generated ~2 MB H.264/Opus Matroska stream in
// 64 KiB writes. "stream": one Scanner reads the clusters again and again, the
// steady state of a live stream (allocs/op is per pass over ~2 MB, ~32 writes);
// "file": a new Scanner per pass, header included.
func BenchmarkScanWebM(b *testing.B) {
	// Written to a pipe, so the Segment has unknown size and the clusters can
	// be repeated.
	data := ffmpeg(b, "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30", "-f", "lavfi", "-i", "sine", "-t", "10",
		"-c:v", "libx264", "-preset", "ultrafast", "-b:v", "1500k", "-g", "30", "-c:a", "libopus", "-f", "matroska", "pipe:1")
	benchScan(b, WebM, data, bytes.Index(data, ebmlID(idCluster)))
}

// benchScan benchmarks scanning data whose media (clusters or fragments)
// start at media.
func benchScan(b *testing.B, k Kind, data []byte, media int) {
	if media < 0 {
		b.Fatal("no media in the generated stream")
	}
	write := func(s *Scanner, p []byte) {
		for len(p) > 0 {
			n := min(len(p), 64<<10)
			if _, err := s.Write(p[:n]); err != nil {
				b.Fatal(err)
			}
			p = p[n:]
		}
	}
	frames := 0
	count := func(ev Event) error {
		if ev.Kind == EventBlock {
			frames++
		}
		return nil
	}
	b.Run("stream", func(b *testing.B) {
		s := NewScanner(k, count)
		write(s, data)
		body := data[media:]
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			write(s, body)
		}
		b.ReportMetric(float64((len(body)+64<<10-1)/(64<<10)), "writes/op")
	})
	b.Run("file", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			s := NewScanner(k, count)
			write(s, data)
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
