package dash

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"
)

// BenchmarkHandoff measures the handoff latency, from input bytes read to the same bytes
// written into FFmpeg's stdin, for a recording published in real time in 60 ms chunks
// (MediaRecorder's smallest timeslice) for 6 s: p50, p99 and max, in µs. The first chunk of
// each run is reported on its own: it waits, by design, for FFmpeg to start (Run reads and
// queues the input while it looks at the header and starts FFmpeg).
func BenchmarkHandoff(b *testing.B) {
	testenv.RequireFFmpeg(b)
	path := longInput(b)
	for _, c := range []struct {
		name  string
		video VideoMode
	}{{"copy", VideoAuto}, {"transcode", VideoH264}} {
		b.Run(c.name, func(b *testing.B) {
			var all []time.Duration
			var first time.Duration
			for range b.N {
				var mu sync.Mutex
				var waits []time.Duration
				o := Options{Out: b.TempDir(), Video: c.video, TimeURL: "http://127.0.0.1:1/time"}
				o.Handoff = func(d time.Duration) {
					mu.Lock()
					waits = append(waits, d)
					mu.Unlock()
				}
				p := newPacer(b, path, 60*time.Millisecond)
				p.limit(6 * time.Second)
				pr, pw := io.Pipe()
				go p.run(context.Background(), pw, nil)
				if err := Run(context.Background(), pr, o); err != nil {
					b.Fatal(err)
				}
				first += waits[0]
				all = append(all, waits[1:]...)
			}
			slices.Sort(all)
			q := func(f float64) float64 { return float64(all[int(f*float64(len(all)-1))]) / 1e3 }
			b.ReportMetric(q(0.5), "p50-µs")
			b.ReportMetric(q(0.99), "p99-µs")
			b.ReportMetric(q(1), "max-µs")
			b.ReportMetric(float64(first.Microseconds())/float64(b.N), "first-chunk-µs")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkStartup measures, for a recording published in real time in 250 ms chunks, the
// time from its first byte to the first media segment in progress on disk (what a server
// streaming in-progress segments can serve) and to the first complete segment; then how
// long an interrupt takes to end Run with the presentation finalized.
func BenchmarkStartup(b *testing.B) {
	testenv.RequireFFmpeg(b)
	path := longInput(b)
	for _, c := range []struct {
		name  string
		video VideoMode
	}{{"copy", VideoAuto}, {"transcode", VideoH264}} {
		b.Run(c.name, func(b *testing.B) {
			var frag, seg, interrupt time.Duration
			for range b.N {
				o := Options{Out: b.TempDir(), Video: c.video, TimeURL: "http://127.0.0.1:1/time"}
				st, stop := realtime(b, path, o)
				start := time.Now()
				if err := stop(true); err != nil {
					b.Fatal(err)
				}
				interrupt += time.Since(start)
				frag += st.fragment
				seg += st.segment
			}
			b.ReportMetric(float64(frag.Milliseconds())/float64(b.N), "first-fragment-ms")
			b.ReportMetric(float64(seg.Milliseconds())/float64(b.N), "first-segment-ms")
			b.ReportMetric(float64(interrupt.Milliseconds())/float64(b.N), "interrupt-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkCPU measures the CPU FFmpeg and sv spend per second of media, as a percentage of
// one core at real time, packaging the 640x480 30 fps recording as fast as they can: copy,
// and a transcode with the default x264 preset.
func BenchmarkCPU(b *testing.B) {
	testenv.RequireFFmpeg(b)
	path := longInput(b)
	media := probe(b, path, nil, "v").duration
	for _, c := range []struct {
		name  string
		video VideoMode
	}{{"copy", VideoAuto}, {"transcode-640x480", VideoH264}} {
		b.Run(c.name, func(b *testing.B) {
			var child, self time.Duration
			for range b.N {
				o := Options{Out: b.TempDir(), Video: c.video, TimeURL: "http://127.0.0.1:1/time"}
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				c0, s0 := cpu(syscall.RUSAGE_CHILDREN), cpu(syscall.RUSAGE_SELF)
				err = Run(context.Background(), f, o)
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
				child += cpu(syscall.RUSAGE_CHILDREN) - c0
				self += cpu(syscall.RUSAGE_SELF) - s0
			}
			n := float64(b.N) * media.Seconds()
			b.ReportMetric(child.Seconds()/n*100, "ffmpeg-cpu-%")
			b.ReportMetric(self.Seconds()/n*100, "sv-cpu-%")
		})
		// The baseline: FFmpeg's own dash muxer packaging the same input with the command
		// line sv gave it before it packaged streams itself (no AAC rendition for HLS).
		b.Run(c.name+"-ffmpeg-dash-muxer", func(b *testing.B) {
			video := []string{"-c:v", "copy"}
			if c.video == VideoH264 {
				video = []string{"-c:v", "libx264", "-preset", DefaultPreset, "-tune", "zerolatency", "-pix_fmt", "yuv420p",
					"-fps_mode", "vfr", "-force_key_frames", "expr:gte(t,n_forced*1)", "-x264-params", "keyint=infinite:scenecut=0",
					"-b:v:0", "900k", "-maxrate:v:0", "1080k", "-bufsize:v:0", "900k"}
			}
			var child time.Duration
			for range b.N {
				args := append([]string{"-hide_banner", "-loglevel", "error", "-fpsprobesize", "0", "-f", "matroska", "-i", path,
					"-map", "0:v:0"}, video...)
				args = append(args, "-b:v", "1000k", "-map", "0:a:0", "-c:a", "copy", "-b:a", "64k",
					"-f", "dash", "-dash_segment_type", "mp4", "-format_options", "movflags=+cmaf", "-seg_duration", "1",
					"-use_template", "1", "-window_size", "10", "-extra_window_size", "5",
					"-utc_timing_url", "http://127.0.0.1:1/time", "-hls_playlist", "1",
					"-ldash", "1", "-streaming", "1", "-use_timeline", "0", "-index_correction", "1", "-target_latency", "0.5",
					"-write_prft", "1",
					"-adaptation_sets", "id=0,frag_type=every_frame,streams=v id=1,frag_type=duration,frag_duration=0.1,streams=a",
					filepath.Join(b.TempDir(), "manifest.mpd"))
				c0 := cpu(syscall.RUSAGE_CHILDREN)
				if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
					b.Fatalf("ffmpeg: %v\n%s", err, out)
				}
				child += cpu(syscall.RUSAGE_CHILDREN) - c0
			}
			b.ReportMetric(child.Seconds()/(float64(b.N)*media.Seconds())*100, "ffmpeg-cpu-%")
		})
	}
}

// cpu returns the user+system CPU time of who.
func cpu(who int) time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
