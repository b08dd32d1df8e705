package media

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"
)

func TestSniff(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want Kind
	}{
		{"empty", nil, Unknown},
		{"ebml magic only", []byte{0x1A, 0x45, 0xDF, 0xA3}, WebM},
		{"ebml header", []byte{0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01}, WebM},
		{"ebml prefix", []byte{0x1A, 0x45, 0xDF}, Unknown},
		{"ftyp", []byte("\x00\x00\x00\x18ftypisom"), MP4},
		{"styp", []byte("\x00\x00\x00\x18stypmsdh"), MP4},
		{"moof", []byte("\x00\x00\x01\x00moof"), MP4},
		{"ftyp box type only", []byte("\x00\x00\x00ftyp"), Unknown},
		{"moov first", []byte("\x00\x00\x01\x00moov"), Unknown},
		{"mdat", []byte("\x00\x00\x01\x00mdat"), Unknown},
		{"ftyp elsewhere", []byte("ftyp\x00\x00\x00\x00"), Unknown},
		{"text", []byte("hello, world"), Unknown},
		{"riff", []byte("RIFF\x00\x00\x00\x00WAVE"), Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sniff(tt.in); got != tt.want {
				t.Errorf("Sniff(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	for k, want := range map[Kind]string{Unknown: "unknown", WebM: "webm", MP4: "mp4", Kind(9): "unknown"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
	for k, want := range map[EventKind]string{EventTrack: "track", EventHeader: "header", EventCluster: "cluster", EventBlock: "block"} {
		if got := k.String(); got != want {
			t.Errorf("EventKind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

// result is what scanning a stream gives.
type result struct {
	events   []Event
	writeErr string
	closeErr string
}

// scanSplit scans data written in pieces whose lengths next returns.
func scanSplit(k Kind, data []byte, next func() int) result {
	var r result
	s := NewScanner(k, func(ev Event) error {
		r.events = append(r.events, ev)
		return nil
	})
	for len(data) > 0 {
		n := min(max(next(), 1), len(data))
		if _, err := s.Write(data[:n]); err != nil {
			r.writeErr = err.Error()
			break
		}
		data = data[n:]
	}
	if err := s.Close(); err != nil {
		r.closeErr = err.Error()
	}
	return r
}

func scanAll(k Kind, data []byte) result {
	return scanSplit(k, data, func() int { return len(data) })
}

// checkSplits checks that the events and errors do not depend on how data is
// split into writes, and returns them.
func checkSplits(t testing.TB, k Kind, data []byte, seed uint64) result {
	t.Helper()
	want := scanAll(k, data)
	splits := []struct {
		name string
		next func() int
	}{
		{"bytes", func() int { return 1 }},
		{"64KiB", func() int { return 64 << 10 }},
	}
	for i := range 3 {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		splits = append(splits, struct {
			name string
			next func() int
		}{fmt.Sprintf("random%d", i), func() int { return rng.IntN(1 << (2 + 3*i)) }})
	}
	for _, sp := range splits {
		got := scanSplit(k, data, sp.next)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("split %s: events differ from a single write:\n%s", sp.name, diffResults(got, want))
		}
	}
	return want
}

func diffResults(got, want result) string {
	var b strings.Builder
	if got.writeErr != want.writeErr || got.closeErr != want.closeErr {
		fmt.Fprintf(&b, "errors: got %q/%q, want %q/%q\n", got.writeErr, got.closeErr, want.writeErr, want.closeErr)
	}
	for i := range max(len(got.events), len(want.events)) {
		var g, w string
		if i < len(got.events) {
			g = fmtEvent(got.events[i])
		}
		if i < len(want.events) {
			w = fmtEvent(want.events[i])
		}
		if g != w {
			fmt.Fprintf(&b, "event %d: got %s, want %s\n", i, g, w)
			break
		}
	}
	fmt.Fprintf(&b, "%d events, want %d", len(got.events), len(want.events))
	return b.String()
}

func fmtEvent(ev Event) string {
	s := fmt.Sprintf("%v@%d+%d t=%v track=%d key=%v", ev.Kind, ev.Offset, ev.Size, ev.Time, ev.Track, ev.Keyframe)
	if ev.Info != nil {
		s += fmt.Sprintf(" %+v", *ev.Info)
	}
	return s
}

func TestScannerSniffs(t *testing.T) {
	webm := liveWebM(2)
	mp4 := fragmentedMP4(2)
	for _, tt := range []struct {
		name string
		data []byte
		kind Kind
	}{
		{"webm", webm, WebM},
		{"mp4", mp4, MP4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := scanAll(tt.kind, tt.data)
			got := checkSplits(t, Unknown, tt.data, 1)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("sniffing scanner differs:\n%s", diffResults(got, want))
			}
			s := NewScanner(Unknown, func(Event) error { return nil })
			s.Write(tt.data[:3])
			if s.Kind() != Unknown || s.Offset() != 3 {
				t.Errorf("after 3 bytes: kind %v offset %d, want unknown 3", s.Kind(), s.Offset())
			}
			s.Write(tt.data[3:10])
			if s.Kind() != tt.kind || s.Offset() != 10 {
				t.Errorf("after 10 bytes: kind %v offset %d, want %v 10", s.Kind(), s.Offset(), tt.kind)
			}
		})
	}
}

func TestScannerUnrecognized(t *testing.T) {
	s := NewScanner(Unknown, func(Event) error { return nil })
	if _, err := s.Write([]byte("GET / HT")); !errors.Is(err, ErrNotMedia) {
		t.Fatalf("Write(http) = %v, want ErrNotMedia", err)
	}
	if _, err := s.Write([]byte("TP/1.1")); !errors.Is(err, ErrNotMedia) {
		t.Fatalf("second Write = %v, want the same error", err)
	}

	s = NewScanner(Unknown, func(Event) error { return nil })
	s.Write([]byte{0x1A, 0x45})
	if err := s.Close(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Close after 2 bytes = %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := s.Write([]byte{0xDF}); err == nil {
		t.Fatal("Write after Close succeeded")
	}

	s = NewScanner(Unknown, func(Event) error { return nil })
	if err := s.Close(); err != nil {
		t.Fatalf("Close of an empty stream = %v", err)
	}
	if _, err := s.Write([]byte{0x1A}); err == nil {
		t.Fatal("Write after Close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

func TestScan(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   []byte
		kind Kind
		err  error
	}{
		{"empty", nil, Unknown, ErrNotMedia},
		{"garbage", []byte("not a media file at all"), Unknown, ErrNotMedia},
		{"short", []byte("abc"), Unknown, io.ErrUnexpectedEOF},
		{"webm", liveWebM(3), WebM, nil},
		{"mp4", fragmentedMP4(3), MP4, nil},
		{"truncated webm", liveWebM(3)[:300], WebM, io.ErrUnexpectedEOF},
		{"truncated mp4", fragmentedMP4(3)[:300], MP4, io.ErrUnexpectedEOF},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			kind, err := Scan(iotestHalfReader{bytes.NewReader(tt.in)}, func(Event) error { n++; return nil })
			if kind != tt.kind || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("Scan = %v, %v; want %v, %v", kind, err, tt.kind, tt.err)
			}
			if tt.err == nil && n == 0 {
				t.Error("no events")
			}
		})
	}

	readErr := errors.New("connection reset")
	_, err := Scan(io.MultiReader(bytes.NewReader(liveWebM(1)), errReader{readErr}), func(Event) error { return nil })
	if !errors.Is(err, readErr) {
		t.Errorf("Scan of a failing reader = %v, want %v", err, readErr)
	}
}

type iotestHalfReader struct{ r io.Reader }

func (h iotestHalfReader) Read(p []byte) (int, error) {
	return h.r.Read(p[:(len(p)+1)/2])
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestCallbackErrorStops(t *testing.T) {
	for _, tt := range []struct {
		kind Kind
		data []byte
	}{{WebM, liveWebM(3)}, {MP4, fragmentedMP4(3)}} {
		t.Run(tt.kind.String(), func(t *testing.T) {
			stop := errors.New("stop")
			calls := 0
			s := NewScanner(tt.kind, func(Event) error {
				calls++
				if calls == 5 {
					return stop
				}
				return nil
			})
			var err error
			for i := range tt.data {
				if _, err = s.Write(tt.data[i : i+1]); err != nil {
					break
				}
			}
			if !errors.Is(err, stop) {
				t.Fatalf("Write = %v, want the callback's error", err)
			}
			if _, err := s.Write(tt.data); !errors.Is(err, stop) {
				t.Fatalf("later Write = %v, want the callback's error", err)
			}
			if err := s.Close(); !errors.Is(err, stop) {
				t.Fatalf("Close = %v, want the callback's error", err)
			}
			if calls != 5 {
				t.Fatalf("callback called %d times after it failed", calls-5)
			}
		})
	}
}

// checkBounded checks the Scanner's memory stayed within its limits.
func checkBounded(t testing.TB, s *Scanner) {
	t.Helper()
	if c := cap(s.webm.buf); c > maxBody {
		t.Fatalf("webm buffer grew to %d bytes", c)
	}
	if c := cap(s.mp4.buf); c > 64 {
		t.Fatalf("mp4 buffer grew to %d bytes", c)
	}
	if c := cap(s.em.queue); c != maxQueue {
		t.Fatalf("event queue grew to %d", c)
	}
	if n := max(len(s.webm.tracks), len(s.mp4.tracks)); n > maxTracks {
		t.Fatalf("%d tracks", n)
	}
}

// fuzzScan is the body of the fuzz tests: no panic, the same events and errors
// whatever the split, bounded memory.
func fuzzScan(t *testing.T, k Kind, data []byte) {
	seed := uint64(len(data))
	for _, c := range data[:min(len(data), 32)] {
		seed = seed*31 + uint64(c)
	}
	checkSplits(t, k, data, seed)
	s := NewScanner(k, func(Event) error { return nil })
	for i := 0; i < len(data); i += 7 {
		if _, err := s.Write(data[i:min(i+7, len(data))]); err != nil {
			break
		}
		checkBounded(t, s)
	}
	s.Close()
	checkBounded(t, s)
}

// FFmpeg-generated files and ffprobe cross-checks.

// ffmpeg runs ffmpeg with args and returns what it wrote to stdout (write to
// pipe:1 for a live stream) or, if the last argument is a file name in dir,
// that file's contents.
func ffmpeg(t testing.TB, args ...string) []byte {
	t.Helper()
	testenv.RequireFFmpeg(t)
	cmd := exec.Command("ffmpeg", append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	if out := args[len(args)-1]; out != "pipe:1" {
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	return stdout.Bytes()
}

// lavfi inputs: 320x240 test pattern at 30 fps and a sine tone.
func lavfi(seconds string) []string {
	return []string{"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine", "-t", seconds}
}

type probed struct {
	packets   int
	keyframes []time.Duration // presentation times of the video keyframes, in stream order
}

// ffprobeVideo returns what ffprobe finds in the video streams of a file.
func ffprobeVideo(t testing.TB, path string) probed {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-count_packets",
		"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe -count_packets %s: %v", path, err)
	}
	var p probed
	for _, line := range strings.Fields(string(out)) {
		n, err := strconv.Atoi(strings.Trim(line, ","))
		if err != nil {
			t.Fatalf("ffprobe -count_packets: %q: %v", out, err)
		}
		p.packets += n
	}
	cmd := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_packets",
		"-show_entries", "packet=pts_time,flags", "-of", "csv=p=0", path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		pts, flags, ok := strings.Cut(sc.Text(), ",")
		if !ok || !strings.Contains(flags, "K") {
			continue
		}
		sec, err := strconv.ParseFloat(pts, 64)
		if err != nil {
			t.Fatalf("ffprobe packet %q: %v", sc.Text(), err)
		}
		p.keyframes = append(p.keyframes, time.Duration(sec*1e9))
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ffprobe -show_packets %s: %v", path, err)
	}
	return p
}

// crossCheck scans a file and compares its video frames with ffprobe's
// packets: same number, keyframes at the same times. It returns the events.
func crossCheck(t *testing.T, path string) []Event {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k := Sniff(data)
	if k == Unknown {
		t.Fatalf("%s: not recognized", path)
	}
	r := checkSplits(t, k, data, 42)
	if r.writeErr != "" || r.closeErr != "" {
		t.Fatalf("%s: %s%s", path, r.writeErr, r.closeErr)
	}
	video := map[uint64]bool{}
	var frames int
	var keys []time.Duration
	var headers int
	for _, ev := range r.events {
		switch ev.Kind {
		case EventTrack:
			video[ev.Track] = ev.Info.Type == "video"
		case EventHeader:
			headers++
		case EventBlock:
			if video[ev.Track] {
				frames++
				if ev.Keyframe {
					keys = append(keys, ev.Time)
				}
			}
		}
	}
	if headers == 0 {
		t.Errorf("%s: no header event", path)
	}
	p := ffprobeVideo(t, path)
	if frames != p.packets {
		t.Errorf("%s: %d video frames, ffprobe counts %d", path, frames, p.packets)
	}
	if len(keys) != len(p.keyframes) {
		t.Errorf("%s: %d keyframes at %v\nffprobe: %d at %v", path, len(keys), keys, len(p.keyframes), p.keyframes)
	} else {
		for i := range keys {
			// ffprobe prints microseconds.
			if d := keys[i] - p.keyframes[i]; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("%s: keyframe %d at %v, ffprobe says %v", path, i, keys[i], p.keyframes[i])
			}
		}
	}
	checkClusters(t, k, r.events, video)
	return r.events
}

// checkClusters checks that each cluster's keyframe flag is its first video
// frame's, that each header ends where a cluster starts, and that frames lie
// inside their known-size WebM Cluster or after their MP4 moof.
func checkClusters(t *testing.T, k Kind, events []Event, video map[uint64]bool) {
	t.Helper()
	var cluster *Event
	firstVideo := false
	for i, ev := range events {
		switch ev.Kind {
		case EventHeader:
			if i+1 >= len(events) || events[i+1].Kind != EventCluster || events[i+1].Offset != ev.Offset {
				t.Errorf("header event %d is not followed by a cluster at its offset", i)
			}
		case EventCluster:
			cluster = &events[i]
			firstVideo = true
		case EventBlock:
			if cluster == nil {
				t.Errorf("block %d before any cluster", i)
				continue
			}
			if video[ev.Track] && firstVideo {
				firstVideo = false
				if cluster.Keyframe != ev.Keyframe {
					t.Errorf("cluster at %d: keyframe %v, its first video frame's is %v", cluster.Offset, cluster.Keyframe, ev.Keyframe)
				}
			}
			if cluster.Size < 0 || ev.Offset < 0 {
				continue
			}
			end := cluster.Offset + cluster.Size
			if k == WebM && (ev.Offset < cluster.Offset || ev.Offset+ev.Size > end) {
				t.Errorf("frame at %d+%d outside its cluster at %d+%d", ev.Offset, ev.Size, cluster.Offset, cluster.Size)
			}
			if k == MP4 && ev.Offset < end {
				t.Errorf("sample at %d inside its moof at %d+%d", ev.Offset, cluster.Offset, cluster.Size)
			}
		}
	}
}

// TestTestdata scans the recordings in ../testdata (real MediaRecorder output,
// when present) and cross-checks them with ffprobe.
func TestTestdata(t *testing.T) {
	var files []string
	for _, pat := range []string{"*.webm", "*.mkv", "*.mp4"} {
		m, err := filepath.Glob(filepath.Join("..", "testdata", pat))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skip("no recordings in ../testdata")
	}
	testenv.RequireFFmpeg(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			events := crossCheck(t, f)
			var tracks, clusters, frames int
			for _, ev := range events {
				switch ev.Kind {
				case EventTrack:
					tracks++
					t.Logf("track %d: %+v", ev.Track, *ev.Info)
				case EventCluster:
					clusters++
				case EventBlock:
					frames++
				}
			}
			t.Logf("%d tracks, %d clusters, %d frames", tracks, clusters, frames)
		})
	}
}
