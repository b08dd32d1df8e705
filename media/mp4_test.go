package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"
)

// Builders for hand-made MP4 streams.

func box(typ string, body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	return append(append(u32(uint32(8+len(b))), typ...), b...)
}

func full(version byte, flags uint32) []byte { return u32(uint32(version)<<24 | flags) }

func u32(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func trak(id uint32, handler string, timescale uint32, entry []byte) []byte {
	return box("trak",
		box("tkhd", full(0, 3), u32(0, 0, id, 0, 0), make([]byte, 60)),
		box("mdia",
			box("mdhd", full(0, 0), u32(0, 0, timescale, 0), u16(0x55C4), u16(0)),
			box("hdlr", full(0, 0), u32(0), []byte(handler), u32(0, 0, 0), []byte("x\x00")),
			box("minf", box("dinf"), box("stbl",
				box("stsd", full(0, 0), u32(1), entry),
				box("stts", full(0, 0), u32(0)), box("stsc", full(0, 0), u32(0)),
				box("stsz", full(0, 0), u32(0, 0)), box("stco", full(0, 0), u32(0))))))
}

func visualEntry(typ string, w, h uint16) []byte {
	return box(typ, make([]byte, 6), u16(1), make([]byte, 16), u16(w), u16(h),
		u32(0x480000, 0x480000, 0), u16(1), make([]byte, 32), u16(0x18), u16(0xFFFF), box("vpcC", make([]byte, 12)))
}

func audioEntry(typ string, channels uint16, rate uint32) []byte {
	return box(typ, make([]byte, 6), u16(1), make([]byte, 8), u16(channels), u16(16), u16(0), u16(0), u32(rate<<16),
		box("dOps", make([]byte, 11)))
}

func trex(id, dur, size, flags uint32) []byte {
	return box("trex", full(0, 0), u32(id, 1, dur, size, flags))
}

// mp4Init is an init segment like Chrome's: VP9 track 1 at 1/30000 s, Opus
// track 2 at 1/48000 s.
func mp4Init() []byte {
	return bytes.Join([][]byte{
		box("ftyp", []byte("isom"), u32(0x200), []byte("isomiso6mp41")),
		box("moov",
			box("mvhd", full(0, 0), u32(0, 0, 1000, 0), make([]byte, 80)),
			trak(1, "vide", 30000, visualEntry("vp09", 640, 480)),
			trak(2, "soun", 48000, audioEntry("Opus", 2, 48000)),
			box("mvex", trex(1, 0, 0, 0), trex(2, 0, 0, 0))),
	}, nil)
}

type mp4Sample struct {
	dur, size, flags uint32
	cto              int32
}

type trafRun struct {
	track   uint32
	decode  uint64
	samples []mp4Sample
}

const (
	syncFlags    = 0x02000000
	nonSyncFlags = 0x01010000
)

// moofMdat is a fragment like Chrome's: default-base-is-moof, tfdt and trun
// version 1, data offsets, every per-sample field; the samples' payloads are
// filled with distinct bytes from fill on.
func moofMdat(seq uint32, fill byte, runs ...trafRun) []byte {
	build := func(offsets []uint32) []byte {
		trafs := [][]byte{box("mfhd", full(0, 0), u32(seq))}
		for i, r := range runs {
			tr := [][]byte{full(1, 0xF01), u32(uint32(len(r.samples)), offsets[i])}
			for _, s := range r.samples {
				tr = append(tr, u32(s.dur, s.size, s.flags, uint32(s.cto)))
			}
			trafs = append(trafs, box("traf",
				box("tfhd", full(0, 0x020000), u32(r.track)),
				box("tfdt", full(1, 0), u64(r.decode)),
				box("trun", tr...)))
		}
		return box("moof", trafs...)
	}
	offsets := make([]uint32, len(runs))
	moof := build(offsets)
	at := uint32(len(moof) + 8)
	var data []byte
	for i, r := range runs {
		offsets[i] = at
		for _, s := range r.samples {
			data = append(data, bytes.Repeat([]byte{fill}, int(s.size))...)
			fill++
			at += s.size
		}
	}
	return append(build(offsets), box("mdat", data)...)
}

// fragmentedMP4 is an init segment and one fragment per second: three video
// frames, the first a keyframe, and two audio frames.
func fragmentedMP4(fragments int) []byte {
	b := mp4Init()
	for i := range fragments {
		b = append(b, moofMdat(uint32(i+1), byte(0x10*(i+1)),
			trafRun{1, uint64(i) * 30000, []mp4Sample{
				{1000, 300, syncFlags, 0}, {1000, 100, nonSyncFlags, 1000}, {1000, 100, nonSyncFlags, -1000}}},
			trafRun{2, uint64(i) * 48000, []mp4Sample{{960, 20, syncFlags, 0}, {960, 20, syncFlags, 0}}},
		)...)
	}
	return b
}

func TestMP4Fragmented(t *testing.T) {
	data := fragmentedMP4(3)
	r := checkSplits(t, MP4, data, 1)
	if r.writeErr != "" || r.closeErr != "" {
		t.Fatalf("errors: %q %q", r.writeErr, r.closeErr)
	}
	want := []string{
		"track 1 video vp09 640x480 0Hz 0ch",
		"track 2 audio Opus 0x0 48000Hz 2ch",
		"header",
	}
	for i := range 3 {
		t0 := time.Duration(i) * time.Second
		want = append(want,
			fmt.Sprintf("cluster %v key=true", t0),
			fmt.Sprintf("block 1 %v key=true", t0),
			fmt.Sprintf("block 1 %v key=false", t0+2*time.Second/30),
			fmt.Sprintf("block 1 %v key=false", t0+time.Second/30),
			fmt.Sprintf("block 2 %v key=true", t0),
			fmt.Sprintf("block 2 %v key=true", t0+20*time.Millisecond))
	}
	if got := shorts(r.events); !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	checkPayloads(t, data, r.events)
	init := int64(len(mp4Init()))
	if h := r.events[2]; h.Offset != init || h.Size != init {
		t.Errorf("header at %d+%d, want %d+%d", h.Offset, h.Size, init, init)
	}
	if c := r.events[3]; c.Offset != init || !bytes.Equal(data[c.Offset+4:c.Offset+8], []byte("moof")) ||
		!bytes.Equal(data[c.Offset+c.Size+4:c.Offset+c.Size+8], []byte("mdat")) {
		t.Errorf("cluster at %d+%d is not a moof", c.Offset, c.Size)
	}
}

// TestMP4Defaults covers what FFmpeg and other muxers write besides Chrome's
// layout: trex and tfhd defaults, first_sample_flags, version 0 boxes, a traf
// without tfdt, trafs whose data follows each other, runs without data offset.
func TestMP4Defaults(t *testing.T) {
	init := bytes.Join([][]byte{
		box("ftyp", []byte("iso5"), u32(0)),
		box("moov",
			trak(1, "vide", 90000, visualEntry("avc1", 320, 240)),
			trak(2, "soun", 44100, audioEntry("mp4a", 1, 44100)),
			box("mvex", trex(1, 3000, 0, nonSyncFlags), trex(2, 1024, 10, syncFlags))),
	}, nil)
	// moof: traf 1 (tfhd without base flags, tfdt v0, two truns: the first
	// with a data offset and first_sample_flags, the second continuing),
	// traf 2 (no tfdt, data after traf 1's, trex defaults only).
	moof := func(off uint32) []byte {
		return box("moof", box("mfhd", full(0, 0), u32(1)),
			box("traf",
				box("tfhd", full(0, 0x10), u32(1, 50)), // default size 50
				box("tfdt", full(0, 0), u32(9000)),
				box("trun", full(0, 0x005|0x800), u32(2, off, syncFlags), u32(6000), u32(0)),
				box("trun", full(0, 0x200), u32(1), u32(70))),
			box("traf",
				box("tfhd", full(0, 0), u32(2)),
				box("trun", full(0, 0), u32(2))))
	}
	m := moof(0)
	m = moof(uint32(len(m) + 8))
	var mdat []byte
	for i, n := range []int{50, 50, 70, 10, 10} {
		mdat = append(mdat, bytes.Repeat([]byte{byte(0x21 + i)}, n)...)
	}
	data := bytes.Join([][]byte{init, m, box("mdat", mdat)}, nil)
	r := checkSplits(t, MP4, data, 2)
	want := []string{
		"track 1 video avc1 320x240 0Hz 0ch",
		"track 2 audio mp4a 0x0 44100Hz 1ch",
		"header",
		"cluster 166.666666ms key=true",
		"block 1 166.666666ms key=true",
		"block 1 133.333333ms key=false",
		"block 1 166.666666ms key=false",
		"block 2 0s key=true",
		"block 2 23.219954ms key=true",
	}
	if got := shorts(r.events); !reflect.DeepEqual(got, want) || r.closeErr != "" {
		t.Fatalf("events:\n%s\nwant:\n%s\nclose: %s", strings.Join(got, "\n"), strings.Join(want, "\n"), r.closeErr)
	}
	checkPayloads(t, data, r.events)

	// A second fragment: traf 2 has no tfdt and continues where it stopped.
	moof2 := func(off uint32) []byte {
		return box("moof", box("traf", box("tfhd", full(0, 0x020000), u32(2)), box("trun", full(0, 0x001), u32(1, off))))
	}
	data = append(data, moof2(uint32(len(moof2(0))+8))...)
	data = append(data, box("mdat", bytes.Repeat([]byte{0x31}, 10))...)
	r = checkSplits(t, MP4, data, 3)
	want = []string{"cluster 46.439909ms key=false", "block 2 46.439909ms key=true"}
	if got := shorts(r.events[9:]); !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	checkPayloads(t, data, r.events)
}

func TestMP4BaseDataOffset(t *testing.T) {
	init := mp4Init()
	moof := func(base uint64) []byte {
		return box("moof", box("traf",
			box("tfhd", full(0, 0x01|0x08|0x20), u32(1), u64(base), u32(1000, syncFlags)),
			box("trun", full(0, 0x200), u32(2, 30, 40))))
	}
	// The base data offset counts from the start of the stream (its ftyp).
	m := moof(0)
	prefix := box("free", make([]byte, 10)) // before the first ftyp: part of the first stream
	m = moof(uint64(len(prefix) + len(init) + len(m) + 8))
	data := bytes.Join([][]byte{prefix, init, m, box("mdat", bytes.Repeat([]byte{1}, 30), bytes.Repeat([]byte{2}, 40))}, nil)
	r := checkSplits(t, MP4, data, 4)
	checkPayloads(t, data, r.events)
	if got := shorts(r.events[3:]); len(got) != 3 || got[1] != "block 1 0s key=true" || got[2] != "block 1 33.333333ms key=true" {
		t.Fatalf("events:\n%s", strings.Join(got, "\n"))
	}
	if h := r.events[2]; h.Offset-h.Size != 0 {
		t.Errorf("header starts at %d, want 0", h.Offset-h.Size)
	}
}

func TestMP4BoxSizes(t *testing.T) {
	init := mp4Init()
	frag := moofMdat(1, 0x40, trafRun{1, 0, []mp4Sample{{1000, 50, syncFlags, 0}}})
	// The same fragment with a 64-bit moof size, then a last mdat of size 0
	// (to the end of the stream).
	moofLen := binary.BigEndian.Uint32(frag)
	large := append(append(u32(1), "moof"...), u64(uint64(moofLen)+8)...)
	large = append(large, frag[8:moofLen]...)
	// Its trun data offset grows by the 8 bytes of largesize.
	at := bytes.Index(large, []byte("trun")) + 4 + 8
	binary.BigEndian.PutUint32(large[at:], binary.BigEndian.Uint32(large[at:])+8)
	mdat := frag[moofLen:]
	last := append(u32(0), "mdat"...)
	last = append(last, mdat[8:]...)
	data := bytes.Join([][]byte{init, large, mdat, frag[:moofLen], last}, nil)
	r := checkSplits(t, MP4, data, 5)
	if r.writeErr != "" || r.closeErr != "" {
		t.Fatalf("errors: %q %q", r.writeErr, r.closeErr)
	}
	checkPayloads(t, data, r.events)
	var clusters []Event
	for _, ev := range r.events {
		if ev.Kind == EventCluster {
			clusters = append(clusters, ev)
		}
	}
	if len(clusters) != 2 || clusters[0].Size != int64(moofLen)+8 || clusters[1].Size != int64(moofLen) {
		t.Fatalf("clusters %+v", clusters)
	}
}

func TestMP4Concatenated(t *testing.T) {
	first := fragmentedMP4(2)
	data := append(append([]byte{}, first...), fragmentedMP4(1)...)
	r := checkSplits(t, MP4, data, 6)
	var headers []Event
	for _, ev := range r.events {
		if ev.Kind == EventHeader {
			headers = append(headers, ev)
		}
	}
	init := int64(len(mp4Init()))
	if len(headers) != 2 || headers[1].Offset-headers[1].Size != int64(len(first)) || headers[1].Size != init {
		t.Fatalf("headers %+v", headers)
	}
	checkPayloads(t, data, r.events)

	// A styp between fragments does not start a new stream.
	data = append(append([]byte{}, first...), box("styp", []byte("msdh"), u32(0))...)
	data = append(data, moofMdat(3, 0x70, trafRun{1, 60000, []mp4Sample{{1000, 10, syncFlags, 0}}})...)
	r = checkSplits(t, MP4, data, 7)
	if got := shorts(r.events); got[len(got)-2] != "cluster 2s key=true" || strings.Count(strings.Join(got, ","), "header") != 1 {
		t.Fatalf("events:\n%s", strings.Join(got, "\n"))
	}
}

func TestMP4UnknownSampleSize(t *testing.T) {
	data := bytes.Join([][]byte{
		box("ftyp", []byte("iso5"), u32(0)),
		box("moov", trak(1, "vide", 1000, visualEntry("avc1", 2, 2))), // no mvex: no defaults
		box("moof", box("traf", box("tfhd", full(0, 0), u32(1)), box("trun", full(0, 0x100), u32(2, 40, 40)))),
		box("mdat", make([]byte, 20)),
	}, nil)
	r := checkSplits(t, MP4, data, 8)
	got := r.events[len(r.events)-2:]
	for i, ev := range got {
		if ev.Kind != EventBlock || ev.Offset != -1 || ev.Size != -1 || ev.Time != time.Duration(40*i)*time.Millisecond {
			t.Errorf("sample %d: %s", i, fmtEvent(ev))
		}
	}
}

func TestMP4Errors(t *testing.T) {
	init := mp4Init()
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	frag := moofMdat(1, 0x40, trafRun{1, 0, []mp4Sample{{1000, 50, syncFlags, 0}}})
	moofLen := binary.BigEndian.Uint32(frag)
	n := len(init)
	tests := []struct {
		name     string
		data     []byte
		writeErr string
		closeErr string
	}{
		{"ok", cat(init, frag), "", ""},
		{"size 4", cat(init, u32(4), []byte("free")), fmt.Sprintf("mp4: invalid box size 4 at offset %d", n), ""},
		{"largesize 8", cat(init, u32(1), []byte("free"), u64(8)), fmt.Sprintf("mp4: invalid box size 8 at offset %d", n), ""},
		{"huge largesize", cat(init, u32(1), []byte("free"), u64(1<<63)), "mp4: invalid box size", ""},
		{"overflow", cat(box("moov", u32(100), []byte("trak"))), `mp4: box "trak" overflows its parent at offset 8`, ""},
		{"short tkhd", cat(box("moov", box("trak", box("tkhd", full(1, 0), u32(0, 0))))), `mp4: tkhd too short at offset 16`, ""},
		{"short mdhd", cat(box("moov", box("trak", box("mdia", box("mdhd", full(0, 0)))))), `mp4: mdhd too short`, ""},
		{"short hdlr", cat(box("moov", box("trak", box("mdia", box("hdlr", full(0, 0)))))), `mp4: hdlr too short`, ""},
		{"short stsd", cat(box("moov", box("trak", box("mdia", box("minf", box("stbl", box("stsd", full(0, 0)))))))), `mp4: stsd too short`, ""},
		{"short trex", cat(box("moov", box("mvex", box("trex", full(0, 0), u32(1))))), `mp4: trex too short`, ""},
		{"short tfhd", cat(box("moof", box("traf", box("tfhd", full(0, 0))))), `mp4: tfhd too short at offset 16`, ""},
		{"short tfhd fields", cat(box("moof", box("traf", box("tfhd", full(0, 0x01), u32(1, 0))))), `mp4: tfhd too short`, ""},
		{"short tfdt", cat(box("moof", box("traf", box("tfdt", full(1, 0), u32(0))))), `mp4: tfdt too short`, ""},
		{"short trun", cat(box("moof", box("traf", box("trun", full(0, 0))))), `mp4: trun too short`, ""},
		{"trun overflow", cat(box("moof", box("traf", box("trun", full(0, 0x100), u32(3, 1, 1))))), `mp4: trun samples overflow the box at offset 16`, ""},
		{"trun count", cat(box("moof", box("traf", box("trun", full(0, 0), u32(maxSamples+1))))), `mp4: trun with 4097 samples`, ""},
		{"nested size-0 boxes", cat(append(u32(0), "moov"...), append(u32(0), "trak"...), append(u32(0), "mdia"...),
			append(u32(0), "minf"...), append(u32(0), "stbl"...), box("stsd", full(0, 0), u32(1), visualEntry("avc1", 1, 1))), "", ""},
		{"ends in header", cat(init, []byte{0, 0}), "", fmt.Sprintf("mp4: stream ends inside a box header at offset %d: unexpected EOF", n)},
		{"ends in largesize", cat(init, u32(1), []byte("mdat"), u32(0)), "", "mp4: stream ends inside a box header"},
		{"ends in moof", cat(init, frag[:moofLen-5]), "", `mp4: stream ends inside box "trun"`},
		{"ends in mdat", cat(init, frag[:len(frag)-1]), "", fmt.Sprintf(`mp4: stream ends inside box "mdat" at offset %d: unexpected EOF`, n+int(moofLen))},
		{"ends in size-0 mdat", cat(init, frag[:moofLen], u32(0), []byte("mdat"), []byte{1, 2, 3}), "", ""},
		{"too many tracks", cat(box("moov", bytes.Repeat(box("trak", box("tkhd", full(0, 0), u32(0, 0, 1))), 1),
			box("mvex", func() []byte {
				var b []byte
				for i := range maxTracks + 1 {
					b = append(b, trex(uint32(i+2), 0, 0, 0)...)
				}
				return b
			}()))), "mp4: more than 64 tracks at offset", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := checkSplits(t, MP4, tt.data, 9)
			if (tt.writeErr == "") != (r.writeErr == "") || !strings.Contains(r.writeErr, tt.writeErr) {
				t.Errorf("write error %q, want %q", r.writeErr, tt.writeErr)
			}
			if tt.writeErr == "" && ((tt.closeErr == "") != (r.closeErr == "") || !strings.Contains(r.closeErr, tt.closeErr)) {
				t.Errorf("close error %q, want %q", r.closeErr, tt.closeErr)
			}
		})
	}
	s := NewScanner(MP4, func(Event) error { return nil })
	s.Write(cat(init, frag[:10]))
	if err := s.Close(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Close = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestMP4FFmpeg(t *testing.T) {
	testenv.RequireFFmpeg(t)
	dir := t.TempDir()
	frag := []string{"-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-frag_duration", "500000"}
	tests := []struct {
		name   string
		args   []string
		codecs []string
	}{
		{"h264 opus", append([]string{"-c:v", "libx264", "-g", "15", "-c:a", "libopus"}, frag...), []string{"avc1", "Opus"}},
		{"vp9 opus like chrome", append([]string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "30", "-c:a", "libopus"}, frag...),
			[]string{"vp09", "Opus"}},
		{"h264 aac explicit base offsets", []string{"-c:v", "libx264", "-g", "15", "-c:a", "aac",
			"-f", "mp4", "-movflags", "frag_keyframe+empty_moov", "-frag_duration", "500000"}, []string{"avc1", "mp4a"}},
		{"h264 dash-like fragments", []string{"-c:v", "libx264", "-bf", "0", "-g", "30", "-an",
			"-f", "mp4", "-movflags", "frag_every_frame+empty_moov+default_base_moof+separate_moof"}, []string{"avc1"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("%d.mp4", i))
			ffmpeg(t, append(append(lavfi("3"), tt.args...), path)...)
			events := crossCheck(t, path)
			var codecs []string
			for _, ev := range events {
				if ev.Kind == EventTrack {
					codecs = append(codecs, ev.Info.Codec)
					if ev.Info.Type == "video" && (ev.Info.Width != 320 || ev.Info.Height != 240) {
						t.Errorf("video track %+v, want 320x240", *ev.Info)
					}
					// FFmpeg writes the template channelcount 2 in mp4a
					// sample entries; the real count is in the esds.
					if i := ev.Info; i.Type == "audio" && !(i.Codec == "Opus" && i.SampleRate == 48000 && i.Channels == 1 ||
						i.Codec == "mp4a" && i.SampleRate == 44100 && i.Channels == 2) {
						t.Errorf("audio track %+v", *i)
					}
				}
				if ev.Kind == EventBlock && (ev.Offset < 0 || ev.Size <= 0) {
					t.Fatalf("sample without a location: %s", fmtEvent(ev))
				}
			}
			if !reflect.DeepEqual(codecs, tt.codecs) {
				t.Errorf("codecs %q, want %q", codecs, tt.codecs)
			}
		})
	}
}

func TestMP4WriteAllocs(t *testing.T) {
	data := fragmentedMP4(200)
	head := len(mp4Init())
	events := 0
	s := NewScanner(MP4, func(Event) error { events++; return nil })
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

func FuzzMP4(f *testing.F) {
	f.Add(fragmentedMP4(2))
	f.Add(fragmentedMP4(1)[:600])
	f.Add(append(fragmentedMP4(1), fragmentedMP4(1)...))
	f.Add(append(u32(1), "moof"...))
	f.Add(bytes.Join([][]byte{mp4Init(),
		box("moof", box("traf", box("tfhd", full(0, 0x3B), u32(1), u64(0), u32(1, 2, 3, 4)), box("tfdt", full(0, 0), u32(5)),
			box("trun", full(0, 0xF05), u32(1, 0, 0, 1, 2, 3, 4)))),
		u32(0), []byte("mdat")}, nil))
	if _, err := exec.LookPath("ffmpeg"); err == nil { // seeds from FFmpeg when it is there
		dir := f.TempDir()
		for i, mov := range []string{"frag_keyframe+empty_moov+default_base_moof", "frag_keyframe+empty_moov"} {
			path := filepath.Join(dir, fmt.Sprintf("%d.mp4", i))
			f.Add(ffmpeg(f, "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-f", "lavfi", "-i", "sine",
				"-t", "0.5", "-c:v", "libx264", "-g", "3", "-c:a", "aac", "-f", "mp4", "-movflags", mov, "-frag_duration", "100000", path))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzScan(t, MP4, data)
	})
}

// BenchmarkScanMP4 is BenchmarkScanWebM for a generated ~2 MB fragmented MP4.
func BenchmarkScanMP4(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.mp4")
	data := ffmpeg(b, "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30", "-f", "lavfi", "-i", "sine", "-t", "10",
		"-c:v", "libx264", "-preset", "ultrafast", "-b:v", "1500k", "-g", "30", "-c:a", "libopus",
		"-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof", path)
	benchScan(b, MP4, data, bytes.Index(data, []byte("moof"))-4)
}
