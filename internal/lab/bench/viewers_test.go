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
	"syscall"
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
// For each N in SV_BENCH_VIEWERS (default 0,100,500,1000,2000,5000; 0 measures the stream
// alone) the viewers play for SV_BENCH_VIEWERS_RUN (default 10s) after their first
// segment. With SV_BENCH_STREAMS=S (default 1), S recordings are published at once as S
// streams and the N viewers are shared out among them. Reported per N: sv all's CPU (% of
// one core, its threads only, not FFmpeg's), its peak RSS, the media delivered per
// second, and the lateness of each viewer's copy of each segment: when it had the whole
// segment, after the first viewer that had it (p50, p99, max); the errors: a status
// other than 200, a body cut short or a request that failed (but the 404 of the segment
// after the last, once the recording is over), counted by kind in the log; and how late
// the packager finished each video segment (the file's last write after the wall-clock
// time of the segment's end, from the playlist's EXT-X-PROGRAM-DATE-TIME and EXTINF):
// what serving costs the live stream itself, to compare with N=0.
//
//	go -C internal/lab test -run '^$' -bench Viewers -benchtime 1x ./bench
//	SV_BENCH_STREAMS=20 SV_BENCH_VIEWERS=0,5000 go -C internal/lab test -run '^$' -bench Viewers -benchtime 1x ./bench
func BenchmarkViewers(b *testing.B) {
	testenv.Require(b, "ffmpeg", "ffprobe")
	counts := viewerCounts(b, "SV_BENCH_VIEWERS", 0, []int{0, 100, 500, 1000, 2000, 5000})
	streams := viewerCounts(b, "SV_BENCH_STREAMS", 1, []int{1})
	raiseFiles(b)
	if len(streams) != 1 {
		b.Fatalf("SV_BENCH_STREAMS: one number")
	}
	run := benchDuration(b, "SV_BENCH_VIEWERS_RUN", 10*time.Second)
	for _, n := range counts {
		name := fmt.Sprintf("viewers=%d", n)
		if streams[0] > 1 {
			name = fmt.Sprintf("streams=%d/viewers=%d", streams[0], n)
		}
		b.Run(name, func(b *testing.B) {
			var r viewersRun
			for range b.N {
				r = measureViewers(b, n, streams[0], run)
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
			b.ReportMetric(r.ffmpegCPU, "ffmpeg-cpu-%")
			b.ReportMetric(quantile(r.packaged, 0.5), "packaged-p50-ms")
			b.ReportMetric(quantile(r.packaged, 0.99), "packaged-p99-ms")
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
	segments    int       // whole segments received, all viewers
	genCPU      float64   // this process's threads (the viewers), % of one core
	packaged    []float64 // ms, one per stream and video segment: its completion after its end
	ffmpegCPU   float64   // sv all's FFmpeg children that ran through the window, % of one core
}

// childrenCPU returns the CPU time used so far by each of sv all's FFmpeg children.
func childrenCPU(b testing.TB, s *lab.All) map[int]time.Duration {
	cpu := map[int]time.Duration{}
	for _, pid := range s.FFmpegChildren(b) {
		if c, err := lab.ThreadsCPU(pid); err == nil {
			cpu[pid] = c
		}
	}
	return cpu
}

func (r viewersRun) late(q float64) float64 { return quantile(r.lateness, q) }

// quantile is lab.Quantile of an unsorted sample.
func quantile(sample []float64, q float64) float64 {
	ms := slices.Clone(sample)
	slices.Sort(ms)
	return lab.Quantile(ms, q)
}

// mpdTemplate finds a Representation's SegmentTemplate in an MPD written by sv.
var mpdTemplate = regexp.MustCompile(`startNumber="(\d+)"[^>]*initialization="([^"]+)" media="([^"]+)\$Number%05d\$([^"]+)"`)

func measureViewers(b *testing.B, viewers, streams int, run time.Duration) viewersRun {
	b.Helper()
	sv := lab.Bin(b, lab.SV)
	s := lab.StartAll(b, sv, "--max-streams", strconv.Itoa(max(streams, 16)))
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
	var sends sync.WaitGroup
	defer sends.Wait()
	defer cancel()
	names := make([]string, streams)
	for i := range names {
		names[i] = "fan"
		if streams > 1 {
			names[i] = fmt.Sprintf("fan%d", i)
		}
		publish(ctx, b, &sends, sv, "ws://"+s.Addr+"/ingest/"+names[i])
	}

	lives := make([]dashStream, streams)
	for i, name := range names {
		lives[i] = waitDASHStream(b, s, name)
	}

	tr := &http.Transport{MaxIdleConnsPerHost: 2*viewers + 1, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}

	var tl tally
	start := time.Now()
	end := start.Add(run + 2*time.Second) // a second or two to reach the stream
	var wg sync.WaitGroup
	playDASH(&wg, client, lives, viewers, end, &tl)
	packaged := make([]*packagingWatch, streams)
	for i, name := range names {
		packaged[i] = watchPackaging(ctx, filepath.Join(s.Out, "live", name))
	}
	time.Sleep(2 * time.Second)
	cpu0, _ := lab.ThreadsCPU(s.Pid())
	gen0, _ := lab.ThreadsCPU(os.Getpid())
	kids0 := childrenCPU(b, s)
	t0 := time.Now()
	time.Sleep(run)
	cpu1, _ := lab.ThreadsCPU(s.Pid())
	gen1, _ := lab.ThreadsCPU(os.Getpid())
	kids1 := childrenCPU(b, s)
	window := time.Since(t0)
	wg.Wait()

	r := viewersRun{cpu: 100 * (cpu1 - cpu0).Seconds() / window.Seconds(), errors: tl.errs,
		genCPU: 100 * (gen1 - gen0).Seconds() / window.Seconds()}
	for pid, c := range kids1 {
		if c0, ok := kids0[pid]; ok {
			r.ffmpegCPU += 100 * (c - c0).Seconds() / window.Seconds()
		}
	}
	r.rss, _ = lab.PeakRSS(s.Pid())
	r.bytesPerSec = float64(tl.bytes) / time.Since(start).Seconds()
	r.lateness = lateness(tl.received)
	r.segments = len(tl.received)
	for _, w := range packaged {
		r.packaged = append(r.packaged, w.stop()...)
	}
	b.Logf("%d streams, %d viewers: sv all %.0f%% of a core, %.0f MB RSS, %.1f MB/s; lateness p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d segments; %d errors; the viewers' own CPU %.0f%%, sv all's FFmpeg %.0f%%; video segments finished p50 %.0f ms, p99 %.0f ms, max %.0f ms after their end (%d)",
		streams, viewers, r.cpu, float64(r.rss)/(1<<20), r.bytesPerSec/1e6, r.late(0.5), r.late(0.99), r.late(1), r.segments, r.errors, r.genCPU, r.ffmpegCPU,
		quantile(r.packaged, 0.5), quantile(r.packaged, 0.99), quantile(r.packaged, 1), len(r.packaged))
	if tl.errs > 0 {
		b.Logf("errors: %s", tl.kindsText())
	}
	return r
}

// publish publishes the recording h264-opus-kf1s.webm (15 s) in real time at url with
// sv send, in wg, until it ends or ctx does.
func publish(ctx context.Context, b testing.TB, wg *sync.WaitGroup, sv, url string) {
	b.Helper()
	send := exec.CommandContext(ctx, sv, "send", "-q", filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm"), url)
	if err := send.Start(); err != nil {
		b.Fatal(err)
	}
	wg.Go(func() { send.Wait() })
}

// dashStream is a live stream as the simulated viewers play it: its folder's URL, each
// track's init segment and the media name before and after its number, and the segment
// in progress when they start (the one after the newest complete one).
type dashStream struct {
	base   string
	tracks [][]string
	first  int
}

// waitDASHStream waits until stream name of s has an MPD of two tracks and a complete
// segment, and returns it.
func waitDASHStream(b testing.TB, s *lab.All, name string) dashStream {
	b.Helper()
	l := dashStream{base: s.URL("/live/" + name + "/")}
	lab.WaitFor(b, time.Minute, "the MPD of "+name, func() (bool, string) {
		mpd, err := fetch(http.DefaultClient, l.base+"manifest.mpd")
		if err != nil {
			return false, err.Error()
		}
		l.tracks = nil
		for _, m := range mpdTemplate.FindAllStringSubmatch(string(mpd), -1) {
			l.tracks = append(l.tracks, m[2:])
		}
		done, _ := newestSegment(filepath.Join(s.Out, "live", name))
		l.first = done + 1
		return len(l.tracks) == 2 && done > 0, fmt.Sprintf("%d representations, newest segment %d", len(l.tracks), done)
	})
	return l
}

// playDASH starts n simulated low-latency DASH viewers of lives (viewer v plays stream v
// mod len(lives)), as BenchmarkViewers says, until end, in wg, and counts what they
// receive in tl: segment n of track k of stream i as [2]int{i*len(tracks)+k, n}.
func playDASH(wg *sync.WaitGroup, client *http.Client, lives []dashStream, n int, end time.Time, tl *tally) {
	for v := range n {
		i := v % len(lives)
		l := lives[i]
		for k, t := range l.tracks {
			wg.Go(func() {
				buf := make([]byte, 32<<10)
				if _, err := drain(client, l.base+t[0], buf); err != nil {
					tl.add([2]int{}, 0, err)
					return
				}
				for n := l.first; time.Now().Before(end); n++ {
					size, err := drain(client, l.base+t[1]+fmt.Sprintf("%05d", n)+t[2], buf)
					if err != nil && streamEnded(client, l.base) {
						return // the recording is over: there is no segment n
					}
					if tl.add([2]int{i*len(l.tracks) + k, n}, size, err) != nil {
						return
					}
				}
			})
		}
	}
}

// packagingWatch reads a stream's video playlist from disk every quarter second and notes,
// for each complete segment it lists, how long after the wall-clock time of its end
// (EXT-X-PROGRAM-DATE-TIME plus EXTINF) the packager last wrote its file.
type packagingWatch struct {
	done chan struct{}
	late chan []float64
}

func watchPackaging(ctx context.Context, dir string) *packagingWatch {
	w := &packagingWatch{done: make(chan struct{}), late: make(chan []float64, 1)}
	go func() {
		seen := map[string]bool{}
		var late []float64
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
			case <-w.done:
			case <-tick.C:
				late = append(late, packagingLateness(dir, seen)...)
				continue
			}
			w.late <- late
			return
		}
	}()
	return w
}

// stop ends the watch and returns the lateness of each segment seen, ms.
func (w *packagingWatch) stop() []float64 {
	close(w.done)
	return <-w.late
}

// packagingLateness returns the lateness of the complete segments that dir's media_0.m3u8
// lists and seen does not have, and adds them to seen.
func packagingLateness(dir string, seen map[string]bool) []float64 {
	pl, err := os.ReadFile(filepath.Join(dir, "media_0.m3u8"))
	if err != nil {
		return nil
	}
	var late []float64
	var pdt time.Time
	var dur float64
	for line := range strings.Lines(string(pl)) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"):
			pdt, _ = time.Parse(time.RFC3339Nano, strings.TrimPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"))
		case strings.HasPrefix(line, "#EXTINF:"):
			dur, _ = strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(line, "#EXTINF:"), ","), 64)
		case line != "" && !strings.HasPrefix(line, "#"):
			if seen[line] || pdt.IsZero() {
				continue
			}
			seen[line] = true
			fi, err := os.Stat(filepath.Join(dir, line))
			if err != nil {
				continue
			}
			end := pdt.Add(time.Duration(dur * float64(time.Second)))
			late = append(late, float64(fi.ModTime().Sub(end))/float64(time.Millisecond))
		}
	}
	return late
}

// viewerCounts reads the counts to measure from the environment variable env
// (comma-separated, none below least), def when it is not set.
// viewerFiles is the open-file limit raiseFiles asks for: thousands of viewers hold
// two connections or more each, in this process and in the server.
const viewerFiles = 65536

// raiseFiles raises this process's open-file limit, which the servers it starts
// inherit, to viewerFiles where it can (as root, past the hard limit too), else to the
// hard limit, and logs what it got.
func raiseFiles(b *testing.B) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Logf("open-file limit unknown: %v", err)
		return
	}
	want := syscall.Rlimit{Cur: max(lim.Cur, viewerFiles), Max: max(lim.Max, viewerFiles)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		want = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want)
	}
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	b.Logf("open-file limit %d (this process and the servers it starts)", lim.Cur)
}

func viewerCounts(b *testing.B, env string, least int, def []int) []int {
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	var counts []int
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < least {
			b.Fatalf("%s: %q: counts of at least %d", env, v, least)
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
	kinds    map[string]int // errs by kind: the error without its URL's path
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
		if tl.kinds == nil {
			tl.kinds = make(map[string]int)
		}
		tl.kinds[errorKind(err)]++
		return err
	}
	tl.bytes += size
	tl.received = append(tl.received, arrival{key, at})
	return nil
}

// errorKind is err as the benchmark reports it: the segment's or manifest's name left out,
// so that errors of one kind count together.
func errorKind(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "/"); i >= 0 {
		if j := strings.IndexAny(msg[i:], ": \""); j > 0 {
			return msg[:i] + "/…" + msg[i+j:]
		}
	}
	return msg
}

// kindsText returns the errors' kinds, the most frequent first, with their counts.
func (tl *tally) kindsText() string {
	type kind struct {
		msg string
		n   int
	}
	var ks []kind
	for m, n := range tl.kinds {
		ks = append(ks, kind{m, n})
	}
	slices.SortFunc(ks, func(a, b kind) int { return b.n - a.n })
	var parts []string
	for i, k := range ks {
		if i == 5 {
			break
		}
		parts = append(parts, fmt.Sprintf("%d× %s", k.n, k.msg))
	}
	return strings.Join(parts, "; ")
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

// streamEnded reports whether the stream at base has ended: its MPD has a duration.
func streamEnded(c *http.Client, base string) bool {
	mpd, err := fetch(c, base+"manifest.mpd")
	return err == nil && strings.Contains(string(mpd), "mediaPresentationDuration=")
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
