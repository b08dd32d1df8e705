package bench

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/svtool/sv/internal/lab"
	"github.com/svtool/sv/internal/testenv"
)

// BenchmarkOrigin compares sv serve with nginx (from Debian, as scripts/deps.sh bench
// installs it) serving the same finished segments to the same viewers, one server after
// the other in one run, each pinned to CPU 0 and the viewers to the others. Every second
// a new video and audio segment "becomes available" (42 and 8 KB, about what sv delivers
// of a webcam stream), and each of N viewers fetches both at once, like players that
// have just learned of them: the burst a live origin sees at every segment.
//
// Reported per server and N: the server's CPU (% of one core; nginx's master and
// worker), the media delivered per second, the CPU it spent per GB delivered, and the
// lateness of each viewer's copy of each segment after the first viewer's (p50, p99);
// errors (any status but 200, a short body, a failed request). The ratio of sv's CPU
// per GB to nginx's is the figure to watch: this is the cost of serving completed files,
// without the segment in progress that only sv streams (reported with sv's figures as
// x-nginx-cpu/GB).
//
// N is 100, 500, 1000, 2000 and 5000 unless SV_BENCH_ORIGIN_VIEWERS says otherwise:
//
//	SV_BENCH_ORIGIN_VIEWERS=1000,2000 go -C internal/lab test -run '^$' -bench Origin -benchtime 1x ./bench
func BenchmarkOrigin(b *testing.B) {
	testenv.Require(b, "nginx")
	counts := viewerCounts(b, "SV_BENCH_ORIGIN_VIEWERS", 1, []int{100, 500, 1000, 2000, 5000})
	run := benchDuration(b, "SV_BENCH_ORIGIN_RUN", 10*time.Second)
	raiseFiles(b)
	root := b.TempDir()
	segments := originSegments(b, root)
	for _, n := range counts {
		perGB := map[string]float64{}
		for _, server := range []string{"nginx", "sv"} {
			b.Run(fmt.Sprintf("viewers=%d/server=%s", n, server), func(b *testing.B) {
				var r originRun
				for range b.N {
					addr, pids := startOrigin(b, server, root)
					r = measureOrigin(b, addr, pids, segments, n, run)
				}
				perGB[server] = r.cpuPerGB
				if server == "sv" && perGB["nginx"] > 0 {
					b.ReportMetric(r.cpuPerGB/perGB["nginx"], "x-nginx-cpu/GB")
				}
				b.ReportMetric(r.cpu, "cpu-%")
				b.ReportMetric(r.bytesPerSec/1e6, "MB/s")
				b.ReportMetric(r.cpuPerGB, "cpu-s/GB")
				b.ReportMetric(r.late(0.5), "late-p50-ms")
				b.ReportMetric(r.late(0.99), "late-p99-ms")
				b.ReportMetric(float64(r.errors), "errors")
				b.ReportMetric(r.genCPU, "viewers-cpu-%")
			})
		}
	}
}

// originRun is what one server measured for one N.
type originRun struct {
	viewersRun
	cpuPerGB float64 // CPU seconds per GB delivered
}

const (
	originVideo = 42 << 10
	originAudio = 8 << 10
	originCount = 20 // segments of each kind, asked for in turn
)

// originSegments writes the segments both servers serve to root/live/origin, and returns
// their URL paths, video and audio for each second.
func originSegments(b *testing.B, root string) [][2]string {
	b.Helper()
	dir := filepath.Join(root, "live", "origin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var paths [][2]string
	for i := 1; i <= originCount; i++ {
		var pair [2]string
		for k, size := range []int{originVideo, originAudio} {
			name := fmt.Sprintf("chunk-stream%d-%05d.m4s", k, i)
			data := make([]byte, size)
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				b.Fatal(err)
			}
			pair[k] = "/live/origin/" + name
		}
		paths = append(paths, pair)
	}
	return paths
}

// startOrigin starts server ("sv" or "nginx") on root, pinned to CPU 0, and returns its
// address and the pids whose CPU counts as the server's.
func startOrigin(b *testing.B, server, root string) (string, []int) {
	b.Helper()
	addr := lab.FreeAddr(b)
	onCPU0 := func(args ...string) []string {
		if runtime.NumCPU() >= 2 {
			return append([]string{"taskset", "-c", "0"}, args...)
		}
		return args
	}
	var args []string
	switch server {
	case "sv":
		args = onCPU0(lab.Bin(b, lab.SV), "serve", "--listen", addr, "--root", root)
	case "nginx":
		// One worker, like sv's one core; sendfile, keep-alive: nginx as one would set it
		// up to serve segments.
		conf := lab.NginxConf(b, "worker_rlimit_nofile 65536;\nevents { worker_connections 16384; }", fmt.Sprintf(`	sendfile on;
	tcp_nopush on;
	keepalive_timeout 60;
	keepalive_requests 1000000;
	types { video/iso.segment m4s; }
	server {
		listen %s;
		root %s;
		add_header Cache-Control "public, max-age=31536000, immutable";
	}`, addr, root))
		tmp := filepath.Dir(conf)
		args = onCPU0("nginx", "-c", conf, "-e", filepath.Join(tmp, "error.log"))
	}
	c := lab.Start(b, exec.Command(args[0], args[1:]...))
	lab.WaitListen(b, addr)
	pids := []int{c.Pid()}
	if server == "nginx" {
		// The worker is the master's child (taskset execs nginx in its own place).
		out, _ := exec.Command("pgrep", "-P", strconv.Itoa(c.Pid())).Output()
		for f := range strings.FieldsSeq(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		if len(pids) < 2 {
			b.Fatalf("no nginx worker under %d", c.Pid())
		}
	}
	return addr, pids
}

func processCPU(pids []int) time.Duration {
	var d time.Duration
	for _, pid := range pids {
		c, _ := lab.ThreadsCPU(pid)
		d += c
	}
	return d
}

func measureOrigin(b *testing.B, addr string, pids []int, segments [][2]string, viewers int, run time.Duration) originRun {
	b.Helper()
	if runtime.NumCPU() >= 2 {
		pin(b, os.Getpid(), fmt.Sprintf("1-%d", runtime.NumCPU()-1))
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 2 * viewers, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	base := "http://" + addr

	var tl tally
	// Each viewer connects and warms up with one request, then all start at the same
	// second boundaries.
	start := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	seconds := int(run / time.Second)
	var wg sync.WaitGroup
	for range viewers {
		for k := range 2 {
			wg.Go(func() {
				buf := make([]byte, 32<<10)
				if _, err := drain(client, base+segments[0][k], buf); err != nil {
					tl.add([2]int{}, 0, err)
					return
				}
				for s := range seconds {
					time.Sleep(time.Until(start.Add(time.Duration(s) * time.Second)))
					size, err := drain(client, base+segments[s%len(segments)][k], buf)
					tl.add([2]int{s, k}, size, err)
				}
			})
		}
	}
	time.Sleep(time.Until(start))
	cpu0, gen0 := processCPU(pids), processCPU([]int{os.Getpid()})
	t0 := time.Now()
	wg.Wait()
	window := time.Since(t0)
	cpu1, gen1 := processCPU(pids), processCPU([]int{os.Getpid()})

	r := originRun{viewersRun: viewersRun{
		cpu:         100 * (cpu1 - cpu0).Seconds() / window.Seconds(),
		genCPU:      100 * (gen1 - gen0).Seconds() / window.Seconds(),
		bytesPerSec: float64(tl.bytes) / window.Seconds(),
		errors:      tl.errs,
		segments:    len(tl.received),
	}}
	if tl.bytes > 0 {
		r.cpuPerGB = (cpu1 - cpu0).Seconds() / (float64(tl.bytes) / 1e9)
	}
	r.lateness = lateness(tl.received)
	b.Logf("%d viewers: %.0f%% of a core, %.1f MB/s, %.2f CPU-s per GB; lateness p50 %.1f ms, p99 %.1f ms over %d segments; %d errors; the viewers' own CPU %.0f%%",
		viewers, r.cpu, r.bytesPerSec/1e6, r.cpuPerGB, r.late(0.5), r.late(0.99), r.segments, r.errors, r.genCPU)
	return r
}
