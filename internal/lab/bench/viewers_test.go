package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/svtool/sv/internal/lab"
	"github.com/svtool/sv/internal/testenv"
)

// BenchmarkViewers is the fan-out of one live stream to many low-latency DASH viewers.
// sv all packages a recording that sv send publishes in real time; N simulated viewers
// in this process each play it as dash.js does at low latency: the MPD, both init
// segments, then every video and every audio segment from the one in progress on (video
// and audio side by side), each asked for as soon as the one before it is whole, and read
// as it grows (chunked transfer; a request for a segment not begun yet is held by sv).
// With two CPUs or more, sv all and its FFmpeg are pinned to CPU 0 and this process to
// the others (taskset), so that the viewers' own cost does not count as sv's.
//
// For each N in SV_BENCH_VIEWERS (default 100,500,1000,2000) the viewers play for
// SV_BENCH_VIEWERS_RUN (default 10s) after their first segment. Reported per N: sv all's
// CPU (% of one core, its threads only, not FFmpeg's), its peak RSS, the media delivered
// per second, and the lateness of each viewer's copy of each segment: when it had the
// whole segment, after the first viewer that had it (p50, p99, max); and the errors: a
// status other than 200, a body cut short or a request that failed.
//
//	go -C internal/lab test -run '^$' -bench Viewers -benchtime 1x ./bench
func BenchmarkViewers(b *testing.B) {
	testenv.Require(b, "ffmpeg", "ffprobe")
	counts := viewerCounts(b, "SV_BENCH_VIEWERS", []int{100, 500, 1000, 2000})
	run := benchDuration(b, "SV_BENCH_VIEWERS_RUN", 10*time.Second)
	for _, n := range counts {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			var r viewersRun
			for range b.N {
				r = measureViewers(b, n, run)
			}
			b.ReportMetric(r.cpu, "sv-cpu-%")
			b.ReportMetric(float64(r.rss)/(1<<20), "sv-rss-MB")
			b.ReportMetric(r.bytesPerSec/1e6, "MB/s")
			b.ReportMetric(r.late(0.5), "late-p50-ms")
			b.ReportMetric(r.late(0.99), "late-p99-ms")
			b.ReportMetric(r.late(1), "late-max-ms")
			b.ReportMetric(float64(r.errors), "errors")
			b.ReportMetric(float64(r.segments), "segments")
			b.ReportMetric(r.genCPU, "viewers-cpu-%")
		})
	}
}

// viewersRun is what one N measured.
type viewersRun struct {
	cpu         float64 // sv all's threads, % of one core, over the window
	rss         int64
	bytesPerSec float64
	lateness    []float64 // ms, one per viewer and segment
	errors      int
	segments    int     // whole segments received, all viewers
	genCPU      float64 // this process's threads (the viewers), % of one core
}

func (r viewersRun) late(q float64) float64 {
	ms := slices.Clone(r.lateness)
	slices.Sort(ms)
	return lab.Quantile(ms, q)
}

// mpdTemplate finds a Representation's SegmentTemplate in an MPD written by sv.
var mpdTemplate = regexp.MustCompile(`startNumber="(\d+)"[^>]*initialization="([^"]+)" media="([^"]+)\$Number%05d\$([^"]+)"`)

func measureViewers(b *testing.B, viewers int, run time.Duration) viewersRun {
	b.Helper()
	const name = "fan"
	sv := lab.Bin(b, lab.SV)
	s := lab.StartAll(b, sv)
	if runtime.NumCPU() >= 2 {
		pin(b, s.Pid(), "0")
		pin(b, os.Getpid(), fmt.Sprintf("1-%d", runtime.NumCPU()-1))
	}
	// The recording lasts 15 s, which bounds the run to about 12 s.
	if run > 12*time.Second {
		b.Fatalf("SV_BENCH_VIEWERS_RUN %s: at most 12s (the recording lasts 15 s)", run)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	send := exec.CommandContext(ctx, sv, "send", "-q", filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm"), "ws://"+s.Addr+"/ingest/"+name)
	if err := send.Start(); err != nil {
		b.Fatal(err)
	}
	defer send.Wait()
	defer cancel()

	base := s.URL("/live/" + name + "/")
	var tracks [][]string // init, media prefix, media suffix
	var first int
	lab.WaitFor(b, time.Minute, "the stream's MPD", func() (bool, string) {
		mpd, err := fetch(http.DefaultClient, base+"manifest.mpd")
		if err != nil {
			return false, err.Error()
		}
		tracks = nil
		for _, m := range mpdTemplate.FindAllStringSubmatch(string(mpd), -1) {
			tracks = append(tracks, m[2:])
		}
		// The segment in progress: the one after the newest complete one.
		done, _ := newestSegment(filepath.Join(s.Out, "live", name))
		first = done + 1
		return len(tracks) == 2 && done > 0, fmt.Sprintf("%d representations, newest segment %d", len(tracks), done)
	})

	tr := &http.Transport{MaxIdleConnsPerHost: 2 * viewers, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}

	var tl tally
	start := time.Now()
	end := start.Add(run + 2*time.Second) // a second or two to reach the stream
	var wg sync.WaitGroup
	for range viewers {
		for k, t := range tracks {
			wg.Go(func() {
				buf := make([]byte, 32<<10)
				if _, err := drain(client, base+t[0], buf); err != nil {
					tl.add([2]int{}, 0, err)
					return
				}
				for n := first; time.Now().Before(end); n++ {
					size, err := drain(client, base+t[1]+fmt.Sprintf("%05d", n)+t[2], buf)
					if tl.add([2]int{k, n}, size, err) != nil {
						return
					}
				}
			})
		}
	}
	time.Sleep(2 * time.Second)
	cpu0, _ := lab.ThreadsCPU(s.Pid())
	gen0, _ := lab.ThreadsCPU(os.Getpid())
	t0 := time.Now()
	time.Sleep(run)
	cpu1, _ := lab.ThreadsCPU(s.Pid())
	gen1, _ := lab.ThreadsCPU(os.Getpid())
	window := time.Since(t0)
	wg.Wait()

	r := viewersRun{cpu: 100 * (cpu1 - cpu0).Seconds() / window.Seconds(), errors: tl.errs,
		genCPU: 100 * (gen1 - gen0).Seconds() / window.Seconds()}
	r.rss, _ = lab.PeakRSS(s.Pid())
	r.bytesPerSec = float64(tl.bytes) / time.Since(start).Seconds()
	r.lateness = lateness(tl.received)
	r.segments = len(tl.received)
	b.Logf("%d viewers: sv all %.0f%% of a core, %.0f MB RSS, %.1f MB/s; lateness p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d segments; %d errors; the viewers' own CPU %.0f%%",
		viewers, r.cpu, float64(r.rss)/(1<<20), r.bytesPerSec/1e6, r.late(0.5), r.late(0.99), r.late(1), r.segments, r.errors, r.genCPU)
	return r
}

// viewerCounts reads the viewer counts to measure from the environment variable env
// (comma-separated), def when it is not set.
func viewerCounts(b *testing.B, env string, def []int) []int {
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	var counts []int
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("%s: %q", env, v)
		}
		counts = append(counts, n)
	}
	return counts
}

// tally adds up what the viewers received, from any number of goroutines.
type tally struct {
	mu       sync.Mutex
	received []arrival
	errs     int
	bytes    int64
}

// add counts a response of size bytes that was segment key, or failed with err, which it
// returns.
func (tl *tally) add(key [2]int, size int64, err error) error {
	at := time.Now()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if err != nil {
		tl.errs++
		return err
	}
	tl.bytes += size
	tl.received = append(tl.received, arrival{key, at})
	return nil
}

// arrival is when a viewer had a whole segment: key names the segment (its track and
// number, or second).
type arrival struct {
	key [2]int
	at  time.Time
}

// lateness returns, for each arrival, how long after the first viewer's arrival of the
// same segment it came, in ms.
func lateness(as []arrival) []float64 {
	first := map[[2]int]time.Time{}
	for _, a := range as {
		if f, ok := first[a.key]; !ok || a.at.Before(f) {
			first[a.key] = a.at
		}
	}
	ms := make([]float64, 0, len(as))
	for _, a := range as {
		ms = append(ms, float64(a.at.Sub(first[a.key]))/float64(time.Millisecond))
	}
	return ms
}

// fetch GETs u whole, and fails on any status but 200 or a body cut short.
func fetch(c *http.Client, u string) ([]byte, error) {
	resp, err := c.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	return body, nil
}

// drain GETs u and reads its body into buf, again and again, and returns its size: what
// fetch does, without keeping the body. It fails on any status but 200 or a body cut
// short.
func drain(c *http.Client, u string, buf []byte) (int64, error) {
	resp, err := c.Get(u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var n int64
	for {
		k, err := resp.Body.Read(buf)
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("%s: %s", u, resp.Status)
	}
	return n, nil
}

// pin sets the CPU affinity of every thread of process pid.
func pin(b testing.TB, pid int, cpus string) {
	b.Helper()
	if out, err := exec.Command("taskset", "-a", "-pc", cpus, strconv.Itoa(pid)).CombinedOutput(); err != nil {
		b.Fatalf("taskset %s %d: %v: %s", cpus, pid, err, out)
	}
}
