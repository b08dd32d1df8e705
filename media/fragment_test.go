package media

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/svtool/sv/internal/testenv"
)

var updateFragments = flag.Bool("update-fragments", false, "remake testdata/fragments with ffmpeg from the recordings in ../testdata")

// fragmentFixtures are the fragmented MP4 streams FFmpeg writes for sv's packager,
// one track each, made from the browser recordings and cut after a few fragments.
// -update-fragments remakes them from these recipes.
var fragmentFixtures = []struct {
	file      string   // in testdata/fragments
	input     string   // recording in ../testdata
	opusRate  uint32   // if set, the recording's OpusHead says this input sample rate, as Firefox's do
	args      []string // FFmpeg's output options
	fragments int      // kept after the init segment
	want      Init     // but Bytes
	keys      string   // Key of each fragment: K or -
}{
	{
		file: "h264-copy.mp4", input: "h264-opus-kf1s.webm", fragments: 4,
		args: []string{"-map", "0:v:0", "-c:v", "copy", "-f", "mp4", "-movflags", "+frag_every_frame+empty_moov+default_base_moof+cmaf"},
		want: Init{TrackID: 1, Timescale: 16000, Video: true, Codec: "avc1.42c01f", Width: 640, Height: 480},
		keys: "K---",
	},
	{
		file: "h264-libx264.mp4", input: "vp8-opus.webm", fragments: 6,
		args: []string{"-map", "0:v:0", "-t", "1", "-vf", "scale=160:120", "-c:v", "libx264", "-preset", "veryfast", "-g", "4",
			"-f", "mp4", "-movflags", "+frag_every_frame+empty_moov+default_base_moof+cmaf"},
		want: Init{TrackID: 1, Timescale: 15360, Video: true, Codec: "avc1.64000b", Width: 160, Height: 120},
		keys: "K---K-",
	},
	{
		file: "vp9-copy.mp4", input: "vp9-opus.mp4", fragments: 3,
		args: []string{"-map", "0:v:0", "-c:v", "copy", "-f", "mp4", "-movflags", "+frag_every_frame+empty_moov+default_base_moof+cmaf"},
		want: Init{TrackID: 1, Timescale: 30000, Video: true, Codec: "vp09.00.30.08", Width: 640, Height: 480},
		keys: "K--",
	},
	{
		file: "opus-copy-44100.mp4", input: "h264-opus-kf1s.webm", opusRate: 44100, fragments: 3,
		args: []string{"-map", "0:a:0", "-c:a", "copy", "-f", "mp4", "-movflags", "+empty_moov+default_base_moof+cmaf", "-frag_duration", "50000"},
		want: Init{TrackID: 1, Timescale: 48000, Codec: "opus", SampleRate: 48000, Channels: 1},
		keys: "KKK",
	},
	{
		file: "opus-libopus.mp4", input: "h264-opus-kf1s.webm", fragments: 3,
		args: []string{"-map", "0:a:0", "-t", "1", "-c:a", "libopus", "-f", "mp4", "-movflags", "+empty_moov+default_base_moof+cmaf", "-frag_duration", "50000"},
		want: Init{TrackID: 1, Timescale: 48000, Codec: "opus", SampleRate: 48000, Channels: 1},
		keys: "KKK",
	},
	{
		file: "aac.mp4", input: "h264-opus-kf1s.webm", fragments: 3,
		args: []string{"-map", "0:a:0", "-t", "1", "-c:a", "aac", "-b:a", "32k", "-f", "mp4", "-movflags", "+empty_moov+default_base_moof+cmaf", "-frag_duration", "50000"},
		want: Init{TrackID: 1, Timescale: 48000, Codec: "mp4a.40.2", SampleRate: 48000, Channels: 1},
		keys: "KKK",
	},
}

func fixturePath(file string) string { return filepath.Join("testdata", "fragments", file) }

// makeFragmentFixture runs FFmpeg on a recording and keeps the init segment and
// the first fragments.
func makeFragmentFixture(t *testing.T, file, input string, opusRate uint32, args []string, fragments int) {
	t.Helper()
	in := filepath.Join(testenv.Dir(), input)
	if opusRate != 0 {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(data, []byte("OpusHead"))
		if i < 0 {
			t.Fatalf("%s: no OpusHead", input)
		}
		binary.LittleEndian.PutUint32(data[i+12:], opusRate)
		in = filepath.Join(t.TempDir(), input)
		if err := os.WriteFile(in, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := []string{"-copyts"}
	if strings.HasSuffix(in, ".webm") {
		cmd = append(cmd, "-f", "matroska")
	}
	cmd = append(append(append(cmd, "-i", in), args...), filepath.Join(t.TempDir(), "out.mp4"))
	data := ffmpeg(t, cmd...)
	// Cut after the mdat of the last fragment kept, walking the top-level
	// boxes without the reader under test.
	end := 0
	for n := 0; n < fragments && end+8 <= len(data); {
		typ := string(data[end+4 : end+8])
		end += int(binary.BigEndian.Uint32(data[end:]))
		if typ == "mdat" {
			n++
		}
	}
	if err := os.WriteFile(fixturePath(file), data[:end], 0o644); err != nil {
		t.Fatal(err)
	}
}

// fragResult is everything a FragmentReader returns for a stream.
type fragResult struct {
	init  *Init
	frags []*Fragment
	err   string // of Init or the last Next; "EOF" at a clean end
}

func readFragments(r io.Reader) fragResult {
	var res fragResult
	fr := NewFragmentReader(r)
	init, err := fr.Init()
	res.init = init
	for err == nil {
		var f *Fragment
		if f, err = fr.Next(); err == nil {
			res.frags = append(res.frags, f)
		}
	}
	res.err = err.Error()
	if _, again := fr.Next(); again == nil || again.Error() != res.err {
		res.err += fmt.Sprintf(" (then %v)", again)
	}
	return res
}

// withOpusRate returns a copy of an init segment whose Opus sample entry and dOps
// say 48000 Hz.
func withOpusRate(init []byte) []byte {
	b := bytes.Clone(init)
	if i := bytes.Index(b, []byte("Opus")); i >= 0 {
		binary.BigEndian.PutUint32(b[i+4+24:], opusRate<<16)
	}
	if i := bytes.Index(b, []byte("dOps")); i >= 0 {
		binary.BigEndian.PutUint32(b[i+4+4:], opusRate)
	}
	return b
}

func TestFragmentReader(t *testing.T) {
	for _, fx := range fragmentFixtures {
		t.Run(fx.file, func(t *testing.T) {
			if *updateFragments {
				makeFragmentFixture(t, fx.file, fx.input, fx.opusRate, fx.args, fx.fragments)
			}
			data, err := os.ReadFile(fixturePath(fx.file))
			if err != nil {
				t.Fatal(err)
			}
			res := readFragments(bytes.NewReader(data))
			if res.err != "EOF" {
				t.Fatalf("error %s", res.err)
			}
			// A pipe gives little at a time.
			if r := readFragments(iotest.OneByteReader(bytes.NewReader(data))); !reflect.DeepEqual(r, res) {
				t.Errorf("read one byte at a time: %+v, want %+v", r, res)
			}

			got := *res.init
			got.Bytes = nil
			if !reflect.DeepEqual(got, fx.want) {
				t.Errorf("init %+v, want %+v", got, fx.want)
			}
			head := bytes.Index(data, []byte("moof")) - 4
			if want := withOpusRate(data[:head]); !bytes.Equal(res.init.Bytes, want) {
				t.Errorf("init segment differs from the stream's first %d bytes", head)
			}
			if fx.opusRate != 0 && bytes.Equal(res.init.Bytes, data[:head]) {
				t.Errorf("init segment not changed for Opus at %d Hz", fx.opusRate)
			}

			if len(res.frags) != fx.fragments {
				t.Fatalf("%d fragments, want %d", len(res.frags), fx.fragments)
			}
			keys, at := "", head
			for i, f := range res.frags {
				keys += map[bool]string{true: "K", false: "-"}[f.Key]
				if f.Size != int64(len(f.Bytes)) || !bytes.Equal(f.Bytes, data[at:at+len(f.Bytes)]) {
					t.Errorf("fragment %d: %d bytes (Size %d) not the stream's at %d", i, len(f.Bytes), f.Size, at)
				}
				at += len(f.Bytes)
				if string(f.Bytes[4:8]) != "moof" {
					t.Errorf("fragment %d starts with %q", i, f.Bytes[4:8])
				}
				if f.Samples < 1 || f.Duration == 0 {
					t.Errorf("fragment %d: %d samples, duration %d", i, f.Samples, f.Duration)
				}
				if i == 0 && f.Time != 0 {
					t.Errorf("fragment 0 at %d, want 0 (the recordings start at 0)", f.Time)
				}
				if p := res.frags[max(i-1, 0)]; i > 0 && f.Time != p.Time+p.Duration {
					t.Errorf("fragment %d at %d, want %d+%d", i, f.Time, p.Time, p.Duration)
				}
			}
			if at != len(data) {
				t.Errorf("fragments end at %d of %d bytes", at, len(data))
			}
			if keys != fx.keys {
				t.Errorf("keys %s, want %s", keys, fx.keys)
			}
		})
	}
}

// TestFragmentReaderFFmpeg checks the fixtures against ffprobe, and reads whole
// streams from FFmpeg through a pipe as the packager does.
func TestFragmentReaderFFmpeg(t *testing.T) {
	testenv.RequireFFmpeg(t)
	for _, fx := range fragmentFixtures {
		t.Run(fx.file, func(t *testing.T) {
			path := fixturePath(fx.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			res := readFragments(bytes.NewReader(data))
			packets := ffprobePackets(t, path)
			i := 0
			for n, f := range res.frags {
				if i >= len(packets) {
					t.Fatalf("%d packets for %d fragments", len(packets), len(res.frags))
				}
				if p := packets[i]; p.dts != int64(f.Time) || fx.want.Video && p.key != f.Key {
					t.Errorf("fragment %d at %d key=%v, packet %d at %d key=%v", n, f.Time, f.Key, i, p.dts, p.key)
				}
				i += f.Samples
			}
			if i != len(packets) {
				t.Errorf("%d samples in fragments, ffprobe finds %d packets", i, len(packets))
			}
		})
	}
	for _, stream := range []string{"0:v:0", "0:a:0"} {
		t.Run("pipe "+stream, func(t *testing.T) {
			input := filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm")
			cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-copyts", "-f", "matroska", "-i", input,
				"-map", stream, "-c", "copy", "-f", "mp4", "-movflags", "+frag_every_frame+empty_moov+default_base_moof+cmaf", "pipe:1")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			res := readFragments(out)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("ffmpeg: %v\n%s", err, stderr.Bytes())
			}
			if res.err != "EOF" { // FFmpeg's mfra at the end is skipped
				t.Fatalf("error %s", res.err)
			}
			keys, samples := 0, 0
			for i, f := range res.frags {
				if p := res.frags[max(i-1, 0)]; i > 0 && f.Time != p.Time+p.Duration {
					t.Errorf("fragment %d at %d, want %d+%d", i, f.Time, p.Time, p.Duration)
				}
				if f.Key {
					keys++
				}
				samples += f.Samples
			}
			packets := ffprobePackets(t, input, "-select_streams", stream[2:])
			wantKeys := 0
			for _, p := range packets {
				if p.key {
					wantKeys++
				}
			}
			if !res.init.Video {
				wantKeys = len(res.frags)
			}
			if samples != len(packets) || keys != wantKeys {
				t.Errorf("%d samples, %d keyframe fragments; ffprobe finds %d packets, %d keyframes", samples, keys, len(packets), wantKeys)
			}
		})
	}
}

type probedPacket struct {
	dts int64
	key bool
}

// ffprobePackets returns the decode time (in the stream's time base) and the
// keyframe flag of every packet in a file.
func ffprobePackets(t *testing.T, path string, args ...string) []probedPacket {
	t.Helper()
	args = append(append([]string{"-v", "error"}, args...), "-show_entries", "packet=dts,flags", "-of", "csv=p=0", path)
	out, err := exec.Command("ffprobe", args...).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var packets []probedPacket
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		dts, flags, _ := strings.Cut(sc.Text(), ",")
		n, err := strconv.ParseInt(dts, 10, 64)
		if err != nil {
			t.Fatalf("ffprobe packet %q: %v", sc.Text(), err)
		}
		packets = append(packets, probedPacket{n, strings.Contains(flags, "K")})
	}
	return packets
}

// Builders for hand-made fragmented MP4 streams of one track.

func fragInit(handler string, timescale uint32, entry []byte, mvex ...[]byte) []byte {
	return bytes.Join([][]byte{
		box("ftyp", []byte("iso6"), u32(0x200), []byte("iso6cmfc")),
		box("moov",
			box("mvhd", full(0, 0), u32(0, 0, 1000, 0), make([]byte, 80)),
			trak(1, handler, timescale, entry),
			box("mvex", mvex...)),
	}, nil)
}

func opusEntry(entryRate, inputRate uint32) []byte {
	return box("Opus", make([]byte, 6), u16(1), make([]byte, 8), u16(2), u16(16), u16(0), u16(0), u32(entryRate<<16),
		box("dOps", []byte{0, 2}, u16(312), u32(inputRate), u16(0), []byte{0}),
		box("btrt", u32(0, 64000, 64000)))
}

// fragVisual is a 1280x720 visual sample entry with a configuration box.
func fragVisual(typ string, conf []byte) []byte {
	return box(typ, make([]byte, 6), u16(1), make([]byte, 16), u16(1280), u16(720),
		u32(0x480000, 0x480000, 0), u16(1), make([]byte, 32), u16(0x18), u16(0xFFFF), box("colr", []byte("nclx"), make([]byte, 7)), conf)
}

// fragAudio is an audio sample entry with a configuration box.
func fragAudio(typ string, channels uint16, rate uint32, conf []byte) []byte {
	return box(typ, make([]byte, 6), u16(1), make([]byte, 8), u16(channels), u16(16), u16(0), u16(0), u32(rate<<16), conf)
}

// fragVideoInit is a VP9 track at 1/30000 s whose trex makes samples of 1000
// units, not sync samples.
func fragVideoInit() []byte {
	return fragInit("vide", 30000, visualEntry("vp09", 640, 480), trex(1, 1000, 0, nonSyncFlags))
}

// frag is a moof with one traf of track 1 with the given boxes after its tfhd,
// and an mdat of n bytes.
func frag(tfhd []byte, boxes []byte, n int) []byte {
	return append(box("moof", box("mfhd", full(0, 0), u32(1)), box("traf", tfhd, boxes)), box("mdat", make([]byte, n))...)
}

func tfhdBox(flags uint32, fields ...uint32) []byte {
	return box("tfhd", full(0, 0x020000|flags), u32(1), u32(fields...))
}

func tfdtBox(version byte, t uint64) []byte {
	if version == 0 {
		return box("tfdt", full(0, 0), u32(uint32(t)))
	}
	return box("tfdt", full(1, 0), u64(t))
}

// TestFragmentReaderBoxes covers what other muxers than FFmpeg with these flags
// write: defaults from tfhd and trex, first_sample_flags or sample flags, version
// 0 boxes, several truns, boxes before and between fragments, a largesize mdat.
func TestFragmentReaderBoxes(t *testing.T) {
	init := fragVideoInit()
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	type want struct {
		time, dur uint64
		samples   int
		key       bool
		prefix    string // boxes kept before the moof
	}
	largeMdat := func(f []byte) []byte { // the same fragment with a 64-bit mdat size
		m := binary.BigEndian.Uint32(f)
		mdat := f[m:]
		return cat(f[:m], u32(1), []byte("mdat"), u64(uint64(len(mdat)+8)), mdat[8:])
	}
	tests := []struct {
		name  string
		data  []byte
		wants []want
	}{
		{"trex defaults, first_sample_flags", cat(init,
			frag(tfhdBox(0), cat(tfdtBox(1, 5000), box("trun", full(0, 0x005), u32(3, 0, syncFlags))), 30)),
			[]want{{5000, 3000, 3, true, ""}}},
		{"trex defaults, not sync", cat(init,
			frag(tfhdBox(0), cat(tfdtBox(1, 0), box("trun", full(0, 0x001), u32(2, 0))), 30)),
			[]want{{0, 2000, 2, false, ""}}},
		{"tfhd defaults", cat(init,
			frag(tfhdBox(0x08|0x20, 512, syncFlags), cat(tfdtBox(0, 7), box("trun", full(0, 0), u32(2))), 30)),
			[]want{{7, 1024, 2, true, ""}}},
		{"tfhd base offset, description index, size", cat(init,
			frag(tfhdBox(0x01|0x02|0x08|0x10|0x20, 0, 100, 1, 40, 10, nonSyncFlags), cat(tfdtBox(1, 1), box("trun", full(0, 0), u32(1))), 10)),
			[]want{{1, 40, 1, false, ""}}},
		{"sample flags and durations", cat(init,
			frag(tfhdBox(0), cat(tfdtBox(1, 0), box("trun", full(1, 0x701), u32(2, 0), u32(100, 5, syncFlags), u32(200, 5, nonSyncFlags))), 10),
			frag(tfhdBox(0x20, syncFlags), cat(tfdtBox(1, 300), box("trun", full(1, 0x501), u32(1, 0), u32(50, nonSyncFlags))), 10)),
			[]want{{0, 300, 2, true, ""}, {300, 50, 1, false, ""}}},
		{"several truns, the first empty", cat(init,
			frag(tfhdBox(0), cat(box("trun", full(0, 0x004), u32(0, syncFlags)), tfdtBox(1, 9),
				box("trun", full(0, 0x100), u32(2, 10, 20)), box("trun", full(0, 0x400), u32(1, syncFlags))), 10)),
			[]want{{9, 1030, 3, false, ""}}},
		{"prefix boxes kept, others skipped", cat(init, box("free", make([]byte, 3)),
			box("styp", []byte("msdh"), u32(0)), box("free"), box("sidx", full(1, 0), make([]byte, 40)),
			box("prft", full(1, 0), u32(1), u64(2), u64(3)), box("emsg", full(1, 0), make([]byte, 30)),
			frag(tfhdBox(0), cat(tfdtBox(1, 0), box("trun", full(0, 0x004), u32(1, syncFlags))), 10),
			box("udta"), box("mfra", box("mfro", full(0, 0), u32(16)))),
			[]want{{0, 1000, 1, true, "styp sidx prft emsg"}}},
		{"largesize mdat", cat(init,
			largeMdat(frag(tfhdBox(0), cat(tfdtBox(1, 0), box("trun", full(0, 0x004), u32(1, syncFlags))), 10))),
			[]want{{0, 1000, 1, true, ""}}},
		{"size-0 box at the end", cat(init,
			frag(tfhdBox(0), cat(tfdtBox(1, 0), box("trun", full(0, 0x004), u32(1, syncFlags))), 10),
			u32(0), []byte("free"), make([]byte, 100)),
			[]want{{0, 1000, 1, true, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := readFragments(bytes.NewReader(tt.data))
			if res.err != "EOF" {
				t.Fatalf("error %s", res.err)
			}
			if r := readFragments(iotest.OneByteReader(bytes.NewReader(tt.data))); !reflect.DeepEqual(r, res) {
				t.Errorf("read one byte at a time: %+v, want %+v", r, res)
			}
			if !bytes.Equal(res.init.Bytes, init) {
				t.Errorf("init segment of %d bytes, want %d", len(res.init.Bytes), len(init))
			}
			var got []want
			for _, f := range res.frags {
				var prefix []string
				moof := f.Bytes
				for ; string(moof[4:8]) != "moof"; moof = moof[binary.BigEndian.Uint32(moof):] {
					prefix = append(prefix, string(moof[4:8]))
				}
				if f.Size != int64(len(f.Bytes)) || !bytes.Contains(tt.data, moof) {
					t.Errorf("fragment of %d bytes (Size %d): its moof and mdat are not the stream's", len(f.Bytes), f.Size)
				}
				got = append(got, want{f.Time, f.Duration, f.Samples, f.Key, strings.Join(prefix, " ")})
			}
			if !reflect.DeepEqual(got, tt.wants) {
				t.Errorf("fragments\n%+v, want\n%+v", got, tt.wants)
			}
		})
	}
}

func TestFragmentReaderCodecs(t *testing.T) {
	avcC := box("avcC", []byte{1, 0x4d, 0x40, 0x28, 0xff, 0xe0, 0})
	esds := func(asc ...byte) []byte {
		dsi := append([]byte{0x05, 0x80, 0x80, 0x80, byte(len(asc))}, asc...)
		dc := append([]byte{0x04, byte(13 + len(dsi)), 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, dsi...)
		es := append([]byte{0x03, byte(3 + len(dc) + 3), 0, 1, 0}, dc...)
		es = append(es, 0x06, 0x01, 0x02) // SLConfigDescriptor
		return box("esds", full(0, 0), es)
	}
	visual, audio := fragVisual, fragAudio
	tests := []struct {
		name  string
		video bool
		entry []byte
		want  Init
	}{
		{"avc1", true, visual("avc1", avcC), Init{Codec: "avc1.4d4028", Width: 1280, Height: 720}},
		{"avc3", true, visual("avc3", avcC), Init{Codec: "avc3.4d4028", Width: 1280, Height: 720}},
		{"vp08", true, visual("vp08", box("vpcC", full(1, 0), []byte{0, 10, 0x80, 2, 2, 2, 0, 0})), Init{Codec: "vp08.00.10.08", Width: 1280, Height: 720}},
		{"vp09 profile 2", true, visual("vp09", box("vpcC", full(1, 0), []byte{2, 41, 0xa2, 9, 16, 9, 0, 0})), Init{Codec: "vp09.02.41.10", Width: 1280, Height: 720}},
		{"av01", true, visual("av01", box("av1C", []byte{0x81, 0x08, 0x0c, 0})), Init{Codec: "av01.0.08M.08", Width: 1280, Height: 720}},
		{"av01 high tier 10 bit", true, visual("av01", box("av1C", []byte{0x81, 0x2d, 0xc0, 0})), Init{Codec: "av01.1.13H.10", Width: 1280, Height: 720}},
		{"av01 12 bit", true, visual("av01", box("av1C", []byte{0x81, 0x40, 0x60, 0})), Init{Codec: "av01.2.00M.12", Width: 1280, Height: 720}},
		// FFmpeg writes channelcount 2 in every mp4a; the AudioSpecificConfig says 1.
		{"mp4a AAC-LC mono", false, audio("mp4a", 2, 44100, esds(0x12, 0x08)), Init{Codec: "mp4a.40.2", SampleRate: 44100, Channels: 1}},
		{"mp4a HE-AAC 5.1", false, audio("mp4a", 2, 48000, esds(0x29, 0xb0)), Init{Codec: "mp4a.40.5", SampleRate: 48000, Channels: 6}},
		{"mp4a escaped object type", false, audio("mp4a", 2, 48000, esds(0xf8, 0x46, 0x40)), Init{Codec: "mp4a.40.34", SampleRate: 48000, Channels: 2}},
		{"mp4a explicit frequency, 7.1", false, audio("mp4a", 2, 22050, esds(0x17, 0x80, 0x2b, 0x11, 0x38)), Init{Codec: "mp4a.40.2", SampleRate: 22050, Channels: 8}},
		{"mp4a MP3", false, audio("mp4a", 2, 44100, box("esds", full(0, 0), []byte{0x03, 0x17, 0, 1, 0xe0, 0, 2, 0, 0x01, 0x10,
			0x04, 0x0d, 0x6b, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})), Init{Codec: "mp4a.6B", SampleRate: 44100, Channels: 2}},
		{"Opus", false, opusEntry(48000, 48000), Init{Codec: "opus", SampleRate: 48000, Channels: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handler, timescale := "soun", uint32(48000)
			if tt.video {
				handler, timescale = "vide", 90000
			}
			data := fragInit(handler, timescale, tt.entry, trex(1, 0, 0, 0))
			in, err := NewFragmentReader(bytes.NewReader(data)).Init()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(in.Bytes, data) {
				t.Errorf("init segment changed")
			}
			in.Bytes = nil
			want := tt.want
			want.TrackID, want.Timescale, want.Video = 1, timescale, tt.video
			if !reflect.DeepEqual(*in, want) {
				t.Errorf("init %+v, want %+v", *in, want)
			}
		})
	}
}

// TestFragmentReaderOpusRate: Chromium refuses an Opus sample entry whose rate
// differs from its dOps's; Firefox's recordings give FFmpeg an input rate of 44100.
// (The FFmpeg-made opus-copy-44100.mp4 is checked in TestFragmentReader.)
func TestFragmentReaderOpusRate(t *testing.T) {
	for _, rates := range [][2]uint32{{48000, 44100}, {44100, 44100}, {48000, 48000}, {16000, 0}} {
		t.Run(fmt.Sprint(rates), func(t *testing.T) {
			data := fragInit("soun", 48000, opusEntry(rates[0], rates[1]), trex(1, 960, 0, 0))
			in, err := NewFragmentReader(bytes.NewReader(data)).Init()
			if err != nil {
				t.Fatal(err)
			}
			want := fragInit("soun", 48000, opusEntry(48000, 48000), trex(1, 960, 0, 0))
			if !bytes.Equal(in.Bytes, want) {
				t.Errorf("init segment\n%x, want\n%x", in.Bytes, want)
			}
			if in.SampleRate != 48000 || in.Channels != 2 || in.Codec != "opus" {
				t.Errorf("init %+v", *in)
			}
		})
	}
}

func TestFragmentShift(t *testing.T) {
	data, err := os.ReadFile(fixturePath("h264-copy.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	res := readFragments(bytes.NewReader(data))
	f := res.frags[1] // tfdt version 1 at 880
	if f.Time != 880 {
		t.Fatalf("fragment 1 at %d", f.Time)
	}
	orig := bytes.Clone(f.Bytes)
	for _, tt := range []struct {
		delta int64
		want  uint64
		err   string
	}{
		{1 << 40, 1<<40 + 880, ""},
		{-1 << 40, 880, ""},
		{-880, 0, ""},
		{-1, 0, "mp4: shift time 0 by -1: negative"},
		{-1 << 63, 0, "negative"},
		{1<<63 - 1, 1<<63 - 1, ""},
		{1<<63 - 1, 1<<64 - 2, ""},
		{2, 0, "overflow"},
		{-(1<<63 - 1), 1<<63 - 1, ""},
		{-(1<<63 - 1), 0, ""},
		{880, 880, ""},
	} {
		err := f.Shift(tt.delta)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Shift(%d) = %v, want %q", tt.delta, err, tt.err)
			}
			continue
		}
		if err != nil || f.Time != tt.want {
			t.Fatalf("Shift(%d): time %d, %v; want %d", tt.delta, f.Time, err, tt.want)
		}
		// The bytes say the same time.
		again := readFragments(bytes.NewReader(append(bytes.Clone(res.init.Bytes), f.Bytes...)))
		if len(again.frags) != 1 || again.frags[0].Time != tt.want || !bytes.Equal(again.frags[0].Bytes, f.Bytes) {
			t.Fatalf("Shift(%d): fragment read again: %+v", tt.delta, again)
		}
	}
	if !bytes.Equal(f.Bytes, orig) {
		t.Errorf("shifted back, bytes differ")
	}

	// A version 0 tfdt holds 32 bits.
	v0 := readFragments(bytes.NewReader(append(fragVideoInit(),
		frag(tfhdBox(0), append(tfdtBox(0, 10), box("trun", full(0, 0), u32(1))...), 4)...))).frags[0]
	if err := v0.Shift(maxTfdtV0 - 10); err != nil || v0.Time != maxTfdtV0 {
		t.Errorf("Shift to 2^32-1: %v, time %d", err, v0.Time)
	}
	before := bytes.Clone(v0.Bytes)
	if err := v0.Shift(1); err == nil || !strings.Contains(err.Error(), "does not fit a version 0 tfdt") || v0.Time != maxTfdtV0 || !bytes.Equal(v0.Bytes, before) {
		t.Errorf("Shift past 2^32-1: %v, time %d", err, v0.Time)
	}
	if err := new(Fragment).Shift(1); err == nil {
		t.Errorf("Shift of a zero Fragment: no error")
	}
	v0.Bytes = v0.Bytes[:20]
	if err := v0.Shift(1); err == nil {
		t.Errorf("Shift of a cut fragment: no error")
	}
}

const maxTfdtV0 = 1<<32 - 1 // the largest time of a version 0 tfdt

// TestFragmentStretch stretches a fragment of each of FFmpeg's streams: read again,
// and by ffprobe, its first sample starts d earlier and lasts d longer, and every other
// sample, its data too, is as it was.
func TestFragmentStretch(t *testing.T) {
	testenv.Require(t, "ffprobe")
	for _, fx := range fragmentFixtures {
		t.Run(fx.file, func(t *testing.T) {
			data, err := os.ReadFile(fixturePath(fx.file))
			if err != nil {
				t.Fatal(err)
			}
			orig := readFragments(bytes.NewReader(data))
			res := readFragments(bytes.NewReader(data))
			if len(res.frags) < 3 {
				t.Fatalf("%d fragments", len(res.frags))
			}
			f := res.frags[1]
			const d = 100
			if err := f.Stretch(d); err != nil {
				t.Fatal(err)
			}
			o := orig.frags[1]
			type summary struct {
				time, duration uint64
				samples        int
				key            bool
				size           int64
			}
			want := summary{o.Time - d, o.Duration + d, o.Samples, o.Key, int64(len(f.Bytes))}
			stream := func(frags ...*Fragment) (string, fragResult) {
				b := bytes.Clone(res.init.Bytes)
				for _, f := range frags {
					b = append(b, f.Bytes...)
				}
				path := filepath.Join(t.TempDir(), "s.mp4")
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
				return path, readFragments(bytes.NewReader(b))
			}
			before, _ := stream(orig.frags[:3]...)
			after, again := stream(orig.frags[0], f, orig.frags[2])
			if again.err != "EOF" || len(again.frags) != 3 {
				t.Fatalf("read again: %+v", again)
			}
			for _, g := range []*Fragment{f, again.frags[1]} {
				if got := (summary{g.Time, g.Duration, g.Samples, g.Key, g.Size}); got != want {
					t.Errorf("stretched fragment %+v, want %+v", got, want)
				}
			}
			// ffprobe takes a packet's duration from the next one's time: only the
			// times and the data tell.
			wantp, gotp := probeData(t, before), probeData(t, after)
			if len(gotp) != len(wantp) {
				t.Fatalf("%d packets, want %d", len(gotp), len(wantp))
			}
			first := orig.frags[0].Samples
			wantp[first].dts -= d
			wantp[first].pts -= d
			for i := range wantp {
				if gotp[i] != wantp[i] {
					t.Errorf("packet %d: %+v, want %+v", i, gotp[i], wantp[i])
				}
			}

			// Bad stretches change nothing.
			kept := bytes.Clone(f.Bytes)
			if err := f.Stretch(f.Time + 1); err == nil || f.Time != want.time || !bytes.Equal(f.Bytes, kept) {
				t.Errorf("Stretch past time 0: %v", err)
			}
			if err := f.Stretch(1 << 32); err == nil || f.Time != want.time || !bytes.Equal(f.Bytes, kept) {
				t.Errorf("Stretch of a sample past 32 bits: %v", err)
			}
		})
	}

	// A trun with sample durations is stretched in place.
	init := fragVideoInit()
	in := readFragments(bytes.NewReader(append(bytes.Clone(init),
		frag(tfhdBox(0), append(tfdtBox(1, 500), box("trun", full(0, 0x301), u32(2, 0, 40, 4, 60, 4))...), 8)...))).frags[0]
	size := in.Size
	if err := in.Stretch(30); err != nil || in.Time != 470 || in.Duration != 130 || in.Size != size {
		t.Fatalf("Stretch(30) in place: %v, time %d, duration %d, size %d", err, in.Time, in.Duration, in.Size)
	}
	again := readFragments(bytes.NewReader(append(bytes.Clone(init), in.Bytes...)))
	if len(again.frags) != 1 || again.frags[0].Time != 470 || again.frags[0].Duration != 130 {
		t.Errorf("stretched in place, read again: %+v", again)
	}

	// A fragment unlike FFmpeg's is not stretched.
	for name, boxes := range map[string][]byte{
		"two truns":         append(box("trun", full(0, 1), u32(1, 0)), box("trun", full(0, 1), u32(1, 0))...),
		"no data offset":    box("trun", full(0, 0), u32(1)),
		"no sample":         box("trun", full(0, 1), u32(0, 0)),
		"no trun":           nil,
		"a 64-bit box size": append(u32(1), append([]byte("trun"), append(u32(0, 28), append(full(0, 1), u32(1, 0)...)...)...)...),
	} {
		f := readFragments(bytes.NewReader(append(bytes.Clone(init), frag(tfhdBox(0), append(tfdtBox(0, 10), boxes...), 4)...))).frags
		if len(f) != 1 {
			t.Fatalf("%s: %d fragments read", name, len(f))
		}
		kept := bytes.Clone(f[0].Bytes)
		if err := f[0].Stretch(1); err == nil || !bytes.Equal(f[0].Bytes, kept) || f[0].Time != 10 {
			t.Errorf("Stretch with %s: %v", name, err)
		}
	}
}

type probedData struct {
	pts, dts int64
	hash     string
}

// probeData returns the times and the data of every packet in a file.
func probeData(t *testing.T, path string) []probedData {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_data_hash", "md5", "-show_entries", "packet=pts,dts,data_hash",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var packets []probedData
	for _, line := range strings.Fields(string(out)) {
		var p probedData
		f := strings.Split(line, ",")
		if len(f) != 3 {
			t.Fatalf("ffprobe packet %q", line)
		}
		for i, v := range []*int64{&p.pts, &p.dts} {
			if *v, err = strconv.ParseInt(f[i], 10, 64); err != nil {
				t.Fatalf("ffprobe packet %q: %v", line, err)
			}
		}
		p.hash = f[2]
		packets = append(packets, p)
	}
	return packets
}

func TestFragmentReaderErrors(t *testing.T) {
	init := fragVideoInit()
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	ok := frag(tfhdBox(0), cat(tfdtBox(1, 0), box("trun", full(0, 0x004), u32(1, syncFlags))), 10)
	n := len(init)
	moovAt := len(box("ftyp", []byte("iso6"), u32(0x200), []byte("iso6cmfc")))
	ftyp := init[:moovAt]
	withTraf := func(traf ...[]byte) []byte {
		return cat(init, box("moof", box("traf", traf...)), box("mdat"))
	}
	unexpected := func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }
	tests := []struct {
		name string
		data []byte
		err  string           // from Init, or from Next after the fragments that read
		is   func(error) bool // if set, the error must satisfy it
	}{
		{"ok", cat(init, ok), "EOF", func(err error) bool { return errors.Is(err, io.EOF) }},
		{"empty", nil, "mp4: empty stream: unexpected EOF", unexpected},
		{"webm", []byte{0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81}, `mp4: stream starts with box "0x9F428681", not ftyp at offset 0`, nil},
		{"no ftyp", ok, `mp4: stream starts with box "moof", not ftyp at offset 0`, nil},
		{"ends in ftyp", init[:20], `mp4: stream ends inside box "ftyp" at offset 0: unexpected EOF`, unexpected},
		{"no moov", ftyp, "mp4: stream ends before its moov: unexpected EOF", unexpected},
		{"moof before moov", cat(ftyp, ok), fmt.Sprintf(`mp4: box "moof" before the moov at offset %d`, moovAt), nil},
		{"huge moov", cat(ftyp, u32(maxInitSize), []byte("moov")),
			fmt.Sprintf(`mp4: box "moov" too large: init segment of %d bytes, limit 1048576 at offset %d`, maxInitSize+moovAt, moovAt), nil},
		{"size-0 moov", cat(ftyp, u32(0), []byte("moov"), init[moovAt+8:]), fmt.Sprintf(`mp4: box "moov" of unknown size (0: to the end of the stream) at offset %d`, moovAt), nil},
		{"ends in moov", init[:n-1], fmt.Sprintf(`mp4: stream ends inside box "moov" at offset %d: unexpected EOF`, moovAt), unexpected},
		{"ends in header", init[:moovAt+5], fmt.Sprintf("mp4: stream ends inside a box header at offset %d: unexpected EOF", moovAt), unexpected},
		{"ends in largesize", cat(ftyp, u32(1), []byte("moov"), u32(0)), "mp4: stream ends inside a box header", unexpected},
		{"box size 7", cat(ftyp, u32(7), []byte("moov")), fmt.Sprintf("mp4: invalid box size 7 at offset %d", moovAt), nil},
		{"largesize 15", cat(ftyp, u32(1), []byte("moov"), u64(15)), "mp4: invalid box size 15", nil},
		{"two traks", cat(ftyp, box("moov", trak(1, "vide", 1, visualEntry("vp09", 1, 1)), trak(2, "soun", 1, opusEntry(48000, 48000)), box("mvex"))),
			"mp4: a second trak: a fragment reader reads a stream of one track", nil},
		{"no trak", cat(ftyp, box("moov", box("mvex"))), "mp4: moov without a trak", nil},
		{"no mvex", cat(ftyp, box("moov", trak(1, "vide", 1, visualEntry("vp09", 1, 1)))), "not a fragmented MP4", nil},
		{"subtitles", fragInit("subt", 1000, box("wvtt", make([]byte, 8)), trex(1, 0, 0, 0)), `mp4: track handler "subt" is neither vide nor soun`, nil},
		{"audio in a video track", fragInit("vide", 48000, opusEntry(48000, 48000), trex(1, 0, 0, 0)), `mp4: sample entry "Opus" in a track of another handler`, nil},
		{"hevc", fragInit("vide", 90000, visualEntry("hvc1", 1, 1), trex(1, 0, 0, 0)), `mp4: sample entry "hvc1": codec not supported`, nil},
		{"no avcC", fragInit("vide", 90000, visualEntry("avc1", 1, 1), trex(1, 0, 0, 0)), `mp4: sample entry "avc1" without avcC`, nil},
		{"short avcC", fragInit("vide", 90000, fragVisual("avc1", box("avcC", []byte{1, 0x42, 0})), trex(1, 0, 0, 0)), "mp4: avcC too short", nil},
		{"short vpcC", fragInit("vide", 90000, fragVisual("vp09", box("vpcC", full(1, 0), []byte{0, 0})), trex(1, 0, 0, 0)), "mp4: vpcC too short", nil},
		{"short av1C", fragInit("vide", 90000, fragVisual("av01", box("av1C", []byte{0x81, 0})), trex(1, 0, 0, 0)), "mp4: av1C too short", nil},
		{"short dOps", fragInit("soun", 48000, fragAudio("Opus", 2, 48000, box("dOps", []byte{0, 2})), trex(1, 0, 0, 0)), "mp4: dOps too short", nil},
		{"bad esds", fragInit("soun", 48000, fragAudio("mp4a", 2, 48000, box("esds", full(0, 0), []byte{0x03, 0x05, 0, 1, 0, 0x04, 0x80})), trex(1, 0, 0, 0)),
			"mp4: esds without a decoder configuration", nil},
		{"esds without AudioSpecificConfig", fragInit("soun", 48000, fragAudio("mp4a", 2, 48000, box("esds", full(0, 0), []byte{0x03, 0x12, 0, 1, 0,
			0x04, 0x0d, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})), trex(1, 0, 0, 0)), "mp4: esds without a decoder configuration", nil},
		{"short AudioSpecificConfig", fragInit("soun", 48000, fragAudio("mp4a", 2, 48000, box("esds", full(0, 0), []byte{0x03, 0x14, 0, 1, 0,
			0x04, 0x0f, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05, 0x00})), trex(1, 0, 0, 0)), "mp4: esds without a decoder configuration", nil},
		{"short visual entry", fragInit("vide", 90000, box("avc1", make([]byte, 70)), trex(1, 0, 0, 0)), `visual sample entry "avc1" too short`, nil},
		{"audio entry version 1", fragInit("soun", 48000, box("mp4a", make([]byte, 8), u16(1), make([]byte, 18)), trex(1, 0, 0, 0)), `audio sample entry "mp4a" of version 1`, nil},
		{"no timescale", fragInit("vide", 0, visualEntry("vp09", 1, 1), trex(1, 0, 0, 0)), "mp4: trak without an mdhd timescale", nil},
		{"short trex", fragInit("vide", 1, visualEntry("vp09", 1, 1), box("trex", full(0, 0), u32(1))), "mp4: trex too short", nil},

		{"mdat without moof", cat(init, box("mdat")), fmt.Sprintf("mp4: mdat without a moof at offset %d", n), nil},
		{"moof without mdat", cat(init, ok[:binary.BigEndian.Uint32(ok)], box("free")), `mp4: box "free" after a moof, want mdat`, nil},
		{"ends after moof", cat(init, ok[:binary.BigEndian.Uint32(ok)]), fmt.Sprintf("mp4: stream ends after the moof at offset %d: unexpected EOF", n), unexpected},
		{"ends in mdat", cat(init, ok[:len(ok)-1]), fmt.Sprintf(`mp4: stream ends inside box "mdat" at offset %d: unexpected EOF`, n+int(binary.BigEndian.Uint32(ok))), unexpected},
		{"ends after styp", cat(init, ok, box("styp", []byte("msdh"))), fmt.Sprintf("mp4: stream ends after the box at offset %d without a moof: unexpected EOF", n+len(ok)), unexpected},
		{"ends in skipped box", cat(init, ok, u32(100), []byte("free")), fmt.Sprintf(`mp4: stream ends inside box "free" at offset %d: unexpected EOF`, n+len(ok)), unexpected},
		{"new stream", cat(init, ok, init), fmt.Sprintf(`mp4: box "ftyp" after the init segment (a new stream?) at offset %d`, n+len(ok)), nil},
		{"huge mdat", cat(init, ok[:binary.BigEndian.Uint32(ok)], u32(maxFragmentSize), []byte("mdat")),
			fmt.Sprintf(`mp4: box "mdat" too large: fragment of %d bytes, limit 33554432 at offset %d`, maxFragmentSize+binary.BigEndian.Uint32(ok), n+int(binary.BigEndian.Uint32(ok))), nil},
		{"huge largesize mdat", cat(init, ok[:binary.BigEndian.Uint32(ok)], u32(1), []byte("mdat"), u64(1<<40)), `mp4: box "mdat" too large`, nil},
		{"size-0 mdat", cat(init, ok[:binary.BigEndian.Uint32(ok)], u32(0), []byte("mdat"), make([]byte, 10)), `mp4: box "mdat" of unknown size`, nil},
		{"huge styp", cat(init, u32(maxFragmentSize+1), []byte("styp")), `mp4: box "styp" too large`, nil},
		{"no traf", cat(init, box("moof", box("mfhd", full(0, 0), u32(1))), box("mdat")), fmt.Sprintf("mp4: moof without a traf at offset %d", n), nil},
		{"two trafs", cat(init, box("moof", box("traf", tfhdBox(0), tfdtBox(1, 0)), box("traf")), box("mdat")), "mp4: a second traf in a moof", nil},
		{"other track", withTraf(box("tfhd", full(0, 0), u32(2))), "mp4: traf of track 2 in a stream of track 1", nil},
		{"no tfhd", withTraf(tfdtBox(1, 0)), fmt.Sprintf("mp4: traf without a tfhd at offset %d", n+8), nil},
		{"two tfhd", withTraf(tfhdBox(0), tfhdBox(0)), "mp4: a second tfhd in a traf", nil},
		{"short tfhd", withTraf(box("tfhd", full(0, 0), u16(0))), "mp4: tfhd too short", nil},
		{"short tfhd fields", withTraf(tfhdBox(0x01|0x08|0x10, 0)), "mp4: tfhd too short", nil},
		{"no tfdt", withTraf(tfhdBox(0), box("trun", full(0, 0), u32(1))), "mp4: traf without a tfdt", nil},
		{"two tfdt", withTraf(tfhdBox(0), tfdtBox(1, 0), tfdtBox(0, 0)), "mp4: a second tfdt in a traf", nil},
		{"short tfdt", withTraf(tfhdBox(0), box("tfdt", full(1, 0), u32(0))), "mp4: tfdt too short", nil},
		{"trun before tfhd", withTraf(box("trun", full(0, 0), u32(0)), tfhdBox(0)), "mp4: trun before tfhd", nil},
		{"short trun", withTraf(tfhdBox(0), box("trun", full(0, 0))), "mp4: trun too short", nil},
		{"short trun fields", withTraf(tfhdBox(0), box("trun", full(0, 0x005), u32(0))), "mp4: trun too short for its 0 samples", nil},
		{"trun samples overflow", withTraf(tfhdBox(0), box("trun", full(0, 0x300), u32(2, 1, 1, 1))), "mp4: trun too short for its 2 samples", nil},
		{"trun duration overflows", withTraf(tfhdBox(0x08, 1<<32-1), box("trun", full(0, 0), u32(1<<32-1)), box("trun", full(0, 0), u32(1<<32-1))),
			"mp4: fragment duration overflows", nil},
		{"traf overflows moof", cat(init, u32(16), []byte("moof"), u32(100), []byte("traf"), box("mdat")), `mp4: box "traf" overflows its parent`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := NewFragmentReader(bytes.NewReader(tt.data))
			_, err := fr.Init()
			for err == nil {
				_, err = fr.Next()
			}
			if !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %q, want %q", err, tt.err)
			}
			if tt.is != nil && !tt.is(err) {
				t.Errorf("error %q is not the right kind", err)
			}
			if _, again := fr.Next(); again == nil || again.Error() != err.Error() {
				t.Errorf("Next after the error: %v", again)
			}
		})
	}

	if _, err := NewFragmentReader(bytes.NewReader(init)).Next(); !errors.Is(err, ErrNoInit) {
		t.Errorf("Next before Init: %v", err)
	}
	readErr := errors.New("pipe broke")
	fr := NewFragmentReader(io.MultiReader(bytes.NewReader(init), iotest.ErrReader(readErr)))
	if _, err := fr.Init(); err != nil {
		t.Fatal(err)
	}
	if _, err := fr.Next(); !errors.Is(err, readErr) || !strings.Contains(err.Error(), fmt.Sprintf("mp4: read at offset %d", n)) {
		t.Errorf("read error: %v", err)
	}
	if in, err := fr.Init(); in == nil || err != nil {
		t.Errorf("Init after a failed Next: %v, %v", in, err)
	}
}

// TestFragmentReaderMemory: what a stream claims costs no memory until its bytes
// arrive.
func TestFragmentReaderMemory(t *testing.T) {
	init := fragVideoInit()
	moof := box("moof", box("traf", tfhdBox(0), tfdtBox(1, 0), box("trun", full(0, 0), u32(1))))
	for _, data := range [][]byte{
		append(append(bytes.Clone(init), moof...), append(u32(maxFragmentSize-uint32(len(moof))), "mdat"...)...),
		append(bytes.Clone(init[:28]), append(u32(maxInitSize-28), "moov"...)...),
		append(bytes.Clone(init), append(u32(maxFragmentSize-1), "styp"...)...),
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		res := readFragments(bytes.NewReader(data))
		runtime.ReadMemStats(&after)
		if !strings.Contains(res.err, "unexpected EOF") {
			t.Errorf("error %s", res.err)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 2*readStep {
			t.Errorf("%d bytes allocated for a stream of %d", n, len(data))
		}
	}

	// A large fragment, read in steps, is all there.
	big := make([]byte, 3*readStep+5)
	for i := range big {
		big[i] = byte(i * 7)
	}
	data := append(append(bytes.Clone(init), moof...), box("mdat", big)...)
	res := readFragments(iotest.HalfReader(bytes.NewReader(data)))
	if res.err != "EOF" || len(res.frags) != 1 || !bytes.Equal(res.frags[0].Bytes, data[len(init):]) {
		t.Errorf("large fragment: %s", res.err)
	}
}

// shortMdats returns a stream with the media data of its mdat boxes cut to 8
// bytes: the reader does not look at them, and the fuzzer minimizes short
// inputs faster.
func shortMdats(data []byte) []byte {
	var out []byte
	for len(data) >= 8 {
		n := min(int(binary.BigEndian.Uint32(data)), len(data))
		if n < 8 {
			break
		}
		if string(data[4:8]) == "mdat" {
			out = append(out, box("mdat", data[8:min(n, 16)])...)
		} else {
			out = append(out, data[:n]...)
		}
		data = data[n:]
	}
	return out
}

// shortReader returns 1, 2, ... 13 bytes a read, a pipe's pieces (in fewer reads
// than iotest.OneByteReader, to keep fuzzing fast).
type shortReader struct {
	r io.Reader
	n int
}

func (s *shortReader) Read(p []byte) (int, error) {
	s.n = s.n%13 + 1
	return s.r.Read(p[:min(len(p), s.n)])
}

func FuzzFragmentReader(f *testing.F) {
	for _, fx := range fragmentFixtures {
		data, err := os.ReadFile(fixturePath(fx.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(shortMdats(data))
	}
	init := fragVideoInit()
	f.Add(append(bytes.Clone(init), frag(tfhdBox(0x3B, 0, 0, 1, 2, 3, 4), append(tfdtBox(0, 5), box("trun", full(1, 0xF05), u32(1, 0, 0, 1, 2, 3, 4))...), 2)...))
	f.Add(append(fragInit("soun", 48000, opusEntry(44100, 44100), trex(1, 960, 0, 0)),
		box("styp", []byte("msdh"))...))
	f.Fuzz(func(t *testing.T, data []byte) {
		res := readFragments(bytes.NewReader(data))
		if r := readFragments(&shortReader{r: bytes.NewReader(data)}); !reflect.DeepEqual(r, res) {
			t.Fatalf("read in short pieces: %+v, want %+v", r, res)
		}
		if res.init == nil {
			return
		}
		// The init segment and the fragments, read again, are what they were.
		all := bytes.Clone(res.init.Bytes)
		for _, f := range res.frags {
			if f.Size != int64(len(f.Bytes)) || f.Size < 16 || cap(f.Bytes) != len(f.Bytes) {
				t.Fatalf("fragment of %d bytes (Size %d, cap %d)", len(f.Bytes), f.Size, cap(f.Bytes))
			}
			all = append(all, f.Bytes...)
		}
		if len(all) > len(data) {
			t.Fatalf("%d bytes out of %d", len(all), len(data))
		}
		again := readFragments(bytes.NewReader(all))
		if again.err != "EOF" || !reflect.DeepEqual(again.init, res.init) || !reflect.DeepEqual(again.frags, res.frags) {
			t.Fatalf("read again: %+v, want %+v", again, res)
		}
		for _, f := range res.frags {
			before := bytes.Clone(f.Bytes)
			if err := f.Shift(1); err == nil {
				if err := f.Shift(-1); err != nil {
					t.Fatalf("Shift(-1) after Shift(1): %v", err)
				}
			}
			if !bytes.Equal(f.Bytes, before) {
				t.Fatalf("Shift(1), Shift(-1) changed the bytes")
			}
			// A stretched fragment reads as one that starts 1 earlier and lasts 1 longer.
			g := *f
			g.Bytes = bytes.Clone(f.Bytes)
			if err := g.Stretch(1); err != nil {
				if !bytes.Equal(g.Bytes, f.Bytes) || g.Time != f.Time {
					t.Fatalf("a failed Stretch changed the fragment: %v", err)
				}
				continue
			}
			s := readFragments(bytes.NewReader(append(bytes.Clone(res.init.Bytes), g.Bytes...)))
			if len(s.frags) != 1 || s.frags[0].Time != f.Time-1 || s.frags[0].Duration != f.Duration+1 || s.frags[0].Samples != f.Samples || s.frags[0].Key != f.Key {
				t.Fatalf("stretched %+v, read again: %+v", f, s)
			}
		}
	})
}
