package frames

import (
	"math"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"
)

// recordings returns the browser recordings in the repository's testdata.
func recordings(t *testing.T) []string { t.Helper(); return testenv.Recordings(t) }

// ffmpegLog runs ffmpeg with a video filter over path and returns the submatches of re
// in its log, in order.
func ffmpegLog(t *testing.T, path, vf string, re *regexp.Regexp) [][]string {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-i", path, "-map", "0:v:0",
		"-vf", vf, "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg -vf %s %s: %v\n%s", vf, path, err, out)
	}
	return re.FindAllStringSubmatch(string(out), -1)
}

func seconds(t *testing.T, s string) time.Duration {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return time.Duration(math.Round(v*1000)) * time.Millisecond
}

var scdetTime = regexp.MustCompile(`lavfi\.scd\.time: ([0-9.]+)`)

// TestRecordings checks Run against FFmpeg on real MediaRecorder output: the frames and
// their timestamps are ffprobe's, the scene cuts are scdet's (same threshold) within one
// frame, and the mean luma matches signalstats.
func TestRecordings(t *testing.T) {
	testenv.RequireFFmpeg(t)
	for _, path := range recordings(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			r := runFile(t, path, Options{})
			checkPTS(t, path, r) // count and every timestamp

			index := map[time.Duration]int{}
			for i, f := range r.frames {
				index[f.PTS] = i
			}
			var want []int
			for _, m := range ffmpegLog(t, path, "scdet=threshold=10", scdetTime) {
				i, ok := index[seconds(t, m[1])]
				if !ok {
					t.Fatalf("scdet cut at %s s is no frame of ours", m[1])
				}
				want = append(want, i)
			}
			var got []int
			for _, e := range r.eventsOf(SceneCut) {
				got = append(got, int(e.N))
			}
			if !matchWithin(got, want, 1) {
				t.Errorf("scene cuts at frames %v, scdet %v", got, want)
			}
			t.Logf("%d frames, %d scene cuts (scdet %d)", len(r.frames), len(got), len(want))
		})
	}
}

// matchWithin reports whether a and b pair up one to one, each pair at most tol apart.
func matchWithin(a, b []int, tol int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if d := a[i] - b[i]; d < -tol || d > tol {
			return false
		}
	}
	return true
}

var yavg = regexp.MustCompile(`lavfi\.signalstats\.YAVG=([0-9.]+)`)

func TestLumaMatchesSignalstats(t *testing.T) {
	testenv.RequireFFmpeg(t)
	path := recordings(t)[0]
	r := runFile(t, path, Options{})
	stats := ffmpegLog(t, path, "signalstats,metadata=mode=print:key=lavfi.signalstats.YAVG:file=/dev/stderr", yavg)
	if len(stats) != len(r.frames) {
		t.Fatalf("%d frames, signalstats %d", len(r.frames), len(stats))
	}
	for i, m := range stats {
		v, _ := strconv.ParseFloat(m[1], 64)
		want := (v - 16) / 219 // limited range Y to 0..1; area scaling keeps the mean
		if d := math.Abs(r.frames[i].Luma - want); d > 0.01 {
			t.Fatalf("frame %d: luma %.4f, signalstats %.4f", i, r.frames[i].Luma, want)
		}
	}
}

var (
	blackdetect  = regexp.MustCompile(`black_start:([0-9.]+) black_end:([0-9.]+)`)
	freezedetect = regexp.MustCompile(`freeze_(start|end): ([0-9.]+)`)
)

// TestEventsMatchFFmpeg cross-checks black and freeze stretches with blackdetect and
// freezedetect, run with the same thresholds on the same input.
func TestEventsMatchFFmpeg(t *testing.T) {
	t.Parallel()
	in := lavfi(t, "detect", "testsrc2=s=320x240:r=30:d=6,"+
		"drawbox=enable='gte(t,0.5)*lt(t,1.7)':color=black:t=fill,split[x][y];"+
		"[x][y]freezeframes=first=90:last=160:replace=90,format=yuv420p")
	o := Options{BlackMin: time.Second, FreezeMin: time.Second}
	r := runFile(t, in, o)

	var ffBlack [][2]time.Duration
	for _, m := range ffmpegLog(t, in, "blackdetect=d=1:pic_th=0.98:pix_th=0.10", blackdetect) {
		ffBlack = append(ffBlack, [2]time.Duration{seconds(t, m[1]), seconds(t, m[2])})
	}
	ours := r.eventsOf(BlackStart, BlackEnd)
	if len(ffBlack) != 1 || len(ours) != 2 {
		t.Fatalf("black: ours %+v, blackdetect %v", ours, ffBlack)
	}
	withinFrame(t, "black_start", ours[0].PTS, ffBlack[0][0], 30)
	withinFrame(t, "black_end", ours[1].PTS, ffBlack[0][1], 30)

	var ffFreeze []time.Duration
	for _, m := range ffmpegLog(t, in, "freezedetect=n=0.001:d=1", freezedetect) {
		ffFreeze = append(ffFreeze, seconds(t, m[2]))
	}
	var oursFreeze []time.Duration
	for _, e := range r.eventsOf(FreezeStart, FreezeEnd) {
		oursFreeze = append(oursFreeze, e.PTS)
	}
	// Sort both: our start events come out when the stretch has lasted its minimum.
	sort.Slice(ffFreeze, func(i, j int) bool { return ffFreeze[i] < ffFreeze[j] })
	sort.Slice(oursFreeze, func(i, j int) bool { return oursFreeze[i] < oursFreeze[j] })
	if len(ffFreeze) != len(oursFreeze) || len(ffFreeze) == 0 {
		t.Fatalf("freeze: ours %v, freezedetect %v", oursFreeze, ffFreeze)
	}
	for i := range ffFreeze {
		withinFrame(t, "freeze event", oursFreeze[i], ffFreeze[i], 30)
	}
}
