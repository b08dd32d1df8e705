package frames

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"
)

// benchInput returns an H.264 file (Constrained Baseline, like a browser's) of size WxH at
// 30 fps, made once per test binary run: a moving test pattern with noise, so that the
// decoder has real work.
func benchInput(b *testing.B, size string, seconds int) string {
	b.Helper()
	testenv.RequireFFmpeg(b)
	benchInputs.Lock()
	defer benchInputs.Unlock()
	if p, ok := benchInputs.m[size]; ok {
		return p
	}
	if benchInputs.dir == "" {
		dir, err := os.MkdirTemp("", "sv-frames-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchInputs.dir = dir
	}
	p := filepath.Join(benchInputs.dir, size+".mkv")
	cmd := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size="+size+":rate=30",
		"-t", itoa(seconds), "-vf", "noise=alls=12:allf=t", "-c:v", "libx264", "-profile:v", "baseline",
		"-preset", "veryfast", "-b:v", "2500k", "-g", "30", "-f", "matroska", p)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("make %s: %v\n%s", p, err, out)
	}
	if benchInputs.m == nil {
		benchInputs.m = map[string]string{}
	}
	benchInputs.m[size] = p
	return p
}

var benchInputs struct {
	sync.Mutex
	dir string            // removed by TestMain
	m   map[string]string // size -> file
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchInputs.dir != "" {
		os.RemoveAll(benchInputs.dir)
	}
	os.Exit(code)
}

func itoa(i int) string { return fmtInt(int64(i)) }

func cpuTimes() (self, children time.Duration) {
	var s, c syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &s)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &c)
	tv := func(r *syscall.Rusage) time.Duration {
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	return tv(&s), tv(&c)
}

// BenchmarkRun decodes and analyses H.264 files and reports frames per second and where
// the CPU time goes: FFmpeg (decode, scale, output), Go (reading and analysis), and FFmpeg
// decoding the same file to -f null, the floor.
func BenchmarkRun(b *testing.B) {
	for _, size := range []string{"640x480", "1280x720"} {
		b.Run(size, func(b *testing.B) {
			in := benchInput(b, size, 10)
			var frames int64
			var goCPU, ffCPU, wall time.Duration
			for b.Loop() {
				f, err := os.Open(in)
				if err != nil {
					b.Fatal(err)
				}
				s0, c0 := cpuTimes()
				t0 := time.Now()
				err = Run(context.Background(), f, func(r Record) error {
					if s, ok := r.(*Summary); ok {
						frames += s.Analysed
					}
					return nil
				}, Options{})
				wall += time.Since(t0)
				s1, c1 := cpuTimes()
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
				goCPU += s1 - s0
				ffCPU += c1 - c0
			}
			_, n0 := cpuTimes()
			null := exec.Command("ffmpeg", "-v", "error", "-i", in, "-f", "null", "-")
			if out, err := null.CombinedOutput(); err != nil {
				b.Fatalf("ffmpeg -f null: %v\n%s", err, out)
			}
			_, n1 := cpuTimes()
			nullCPU := float64(n1-n0) / float64(frames/int64(b.N))
			b.ReportMetric(float64(frames)/wall.Seconds(), "frames/s")
			b.ReportMetric(float64(goCPU)/float64(frames)/1e3, "go-µs/frame")
			b.ReportMetric(float64(ffCPU)/float64(frames)/1e3, "ffmpeg-µs/frame")
			b.ReportMetric(nullCPU/1e3, "null-µs/frame")
			b.ReportMetric(100*float64(goCPU)/float64(frames)/nullCPU, "go-%-of-null")
		})
	}
}

// synthPlane draws frame t of a test scene, like FFmpeg's testsrc2: a gradient, moving
// shapes with hard edges, fine stripes and sensor noise.
func synthPlane(w, h, t int) []byte {
	p := make([]byte, w*h)
	r := rand.New(rand.NewPCG(uint64(t), 7))
	for y := range h {
		for x := range w {
			v := 40 + 150*x/w + 30*y/h
			// a square moving right, a disc moving down, stripes at the bottom
			if sx := (x - t*4) % w; sx >= w/8 && sx < w/3 && y > h/4 && y < h/2 {
				v = 230
			}
			if dx, dy := x-w*2/3, y-(h/3+t*3)%h; dx*dx+dy*dy < (h/6)*(h/6) {
				v = 20
			}
			if y > h*3/4 && (x/3)%2 == 0 {
				v -= 60
			}
			v += r.IntN(9) - 4
			p[y*w+x] = byte(min(max(v, 0), 255))
		}
	}
	return p
}

// BenchmarkAnalyze measures the Go analysis of one frame (all metrics, events and the
// timecode search) at the default analysis width and at full 720p.
func BenchmarkAnalyze(b *testing.B) {
	for _, sz := range []struct{ w, h int }{{320, 180}, {320, 240}, {1280, 720}} {
		b.Run(fmtInt(int64(sz.w))+"x"+fmtInt(int64(sz.h)), func(b *testing.B) {
			o, err := Options{}.resolve()
			if err != nil {
				b.Fatal(err)
			}
			a := newAnalyzer(o, sz.w, sz.h, sz.w*sz.h)
			for i := range a.planes {
				a.planes[i] = synthPlane(sz.w, sz.h, i)
			}
			b.SetBytes(int64(sz.w * sz.h))
			b.ReportAllocs()
			var n int64
			for b.Loop() {
				a.analyze(a.next(), n, time.Duration(n)*33*time.Millisecond)
				n++
			}
		})
	}
}
