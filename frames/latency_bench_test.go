package frames

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"
)

// liveSource draws frames at fps in real time, each with the timecode of the moment it is
// drawn, and encodes them live with x264 (zerolatency), like a capture page and its
// MediaRecorder: the stream it returns is what sv recv would pass on.
func liveSource(tb testing.TB, ctx context.Context, w, h, fps int, d time.Duration) io.ReadCloser {
	tb.Helper()
	testenv.RequireFFmpeg(tb)
	cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "gray",
		"-s", fmt.Sprintf("%dx%d", w, h), "-use_wallclock_as_timestamps", "1", "-i", "pipe:0",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
		"-g", "30", "-fps_mode", "passthrough", "-enc_time_base", "1:1000",
		"-f", "matroska", "-cluster_size_limit", "1", "-flush_packets", "1", "pipe:1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		defer stdin.Close()
		tick := time.NewTicker(time.Second / time.Duration(fps))
		defer tick.Stop()
		end := time.Now().Add(d)
		for i := 0; time.Now().Before(end); i++ {
			p := synthPlane(w, h, i)
			DrawTimecode(p, w, h, w, time.Now().UnixMilli())
			if _, err := stdin.Write(p); err != nil {
				return
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return readCloser{out, cmd}
}

type readCloser struct {
	io.Reader
	cmd *exec.Cmd
}

func (r readCloser) Close() error { return r.cmd.Wait() }

// BenchmarkLiveLatency measures the latency from drawing a frame to analysing it, read from
// the timecode, for a live 640x480 30 fps stream: the encoder's share plus Run's. Each
// iteration is a 4 s stream; run it with -benchtime 1x.
func BenchmarkLiveLatency(b *testing.B) {
	for _, low := range []bool{false, true} {
		b.Run(fmt.Sprintf("lowdelay=%v", low), func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				ctx, cancel := context.WithCancel(context.Background())
				src := liveSource(b, ctx, 640, 480, 30, 4*time.Second)
				err := Run(ctx, src, func(r Record) error {
					if f, ok := r.(*Frame); ok && f.HasTimecode() && f.N >= 30 {
						lat = append(lat, f.Latency)
					}
					return nil
				}, Options{LowDelay: low})
				cancel()
				src.Close()
				if err != nil {
					b.Fatal(err)
				}
			}
			slices.Sort(lat)
			if len(lat) == 0 {
				b.Fatal("no timecodes")
			}
			b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "median-ms")
			b.ReportMetric(float64(lat[len(lat)*9/10].Milliseconds()), "p90-ms")
		})
	}
}
