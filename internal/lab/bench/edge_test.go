package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/svtool/sv/internal/lab"
	"github.com/svtool/sv/internal/testenv"
)

// edgeDirect is how many viewers of BenchmarkEdge play straight from sv: the reference
// the viewers through the edge are measured against.
const edgeDirect = 10

// BenchmarkEdge is the fan-out of one live stream through Varnish with the repository's
// VCL (deploy/varnish/sv.vcl) in front of sv all: N simulated low-latency DASH viewers
// (BenchmarkViewers' own) play through the edge, and edgeDirect more straight from sv,
// side by side, while sv send publishes a recording in real time. sv all and varnishd
// share CPU 0, the viewers have the others (taskset).
//
// Reported per N: the requests sv got from the edge per segment (Varnish's own log of
// its backend requests: the goal is one), the lateness of each viewer's copy of each
// segment (when it had it whole) after the first direct viewer's, p50 and p99, through
// the edge and direct (the goal: the edge within 150 ms of direct), the errors of each
// (as BenchmarkViewers counts them), and the CPU of varnishd (its manager and cache
// processes) and of sv all (its threads), in % of one core.
//
// N is 1000 unless SV_BENCH_EDGE_VIEWERS says otherwise; the viewers play for
// SV_BENCH_EDGE_RUN (10s, at most 12s) after their first segment:
//
//	go -C internal/lab test -run '^$' -bench Edge -benchtime 1x ./bench
func BenchmarkEdge(b *testing.B) {
	testenv.Require(b, "ffmpeg", "ffprobe", "varnishd", "varnishncsa")
	counts := viewerCounts(b, "SV_BENCH_EDGE_VIEWERS", 1, []int{1000})
	run := benchDuration(b, "SV_BENCH_EDGE_RUN", 10*time.Second)
	if run > 12*time.Second {
		b.Fatalf("SV_BENCH_EDGE_RUN %s: at most 12s (the recording lasts 15 s)", run)
	}
	raiseFiles(b)
	for _, n := range counts {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			var r edgeRun
			for range b.N {
				r = measureEdge(b, n, run)
			}
			b.ReportMetric(r.perSegment, "origin-req/segment")
			b.ReportMetric(quantile(r.edge, 0.5), "edge-late-p50-ms")
			b.ReportMetric(quantile(r.edge, 0.99), "edge-late-p99-ms")
			b.ReportMetric(quantile(r.direct, 0.5), "direct-late-p50-ms")
			b.ReportMetric(quantile(r.direct, 0.99), "direct-late-p99-ms")
			b.ReportMetric(float64(r.edgeErrors), "edge-errors")
			b.ReportMetric(float64(r.directErrors), "direct-errors")
			b.ReportMetric(r.varnishCPU, "varnish-cpu-%")
			b.ReportMetric(r.svCPU, "sv-cpu-%")
			b.ReportMetric(r.genCPU, "viewers-cpu-%")
		})
	}
}

// edgeRun is what one N measured.
type edgeRun struct {
	perSegment           float64   // requests to sv per segment the edge fetched
	edge, direct         []float64 // lateness, ms, after the first direct viewer's copy
	edgeErrors           int
	directErrors         int
	varnishCPU, svCPU    float64 // % of one core over the window
	genCPU               float64
	segments, fetchedSeg int
}

// edgeSegment is a media segment's URL path.
var edgeSegment = regexp.MustCompile(`^/live/[^/]+/chunk-[^?]+\.m4s$`)

func measureEdge(b *testing.B, viewers int, run time.Duration) edgeRun {
	b.Helper()
	sv := lab.Bin(b, lab.SV)
	s := lab.StartAll(b, sv)
	// Threads enough for every viewer's two segments streaming at once (Varnish serves a
	// client a thread each), started beforehand: a burst past the pools' queue is dropped.
	v := lab.StartVarnish(b, s.Addr, "thread_pools=2", "thread_pool_min="+strconv.Itoa(max(100, viewers+edgeDirect)), "thread_pool_max=5000")
	if runtime.NumCPU() >= 2 {
		pin(b, s.Pid(), "0")
		for _, pid := range v.Pids() {
			pin(b, pid, "0")
		}
		pin(b, os.Getpid(), fmt.Sprintf("1-%d", runtime.NumCPU()-1))
	}
	backend := v.Record(b, "-b")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sends sync.WaitGroup
	defer sends.Wait()
	defer cancel()
	const name = "edge"
	publish(ctx, b, &sends, sv, "ws://"+s.Addr+"/ingest/"+name)
	direct := waitDASHStream(b, s, name)
	edge := direct
	edge.base = "http://" + v.Addr + "/live/" + name + "/"

	tr := &http.Transport{MaxIdleConnsPerHost: 2*(viewers+edgeDirect) + 1, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}

	var viaEdge, straight tally
	end := time.Now().Add(run + 2*time.Second)
	var wg sync.WaitGroup
	playDASH(&wg, client, []dashStream{direct}, edgeDirect, end, &straight)
	playDASH(&wg, client, []dashStream{edge}, viewers, end, &viaEdge)
	time.Sleep(2 * time.Second)
	pids := v.Pids()
	vcpu0, svcpu0, gen0 := processCPU(pids), processCPU([]int{s.Pid()}), processCPU([]int{os.Getpid()})
	t0 := time.Now()
	time.Sleep(run)
	vcpu1, svcpu1, gen1 := processCPU(pids), processCPU([]int{s.Pid()}), processCPU([]int{os.Getpid()})
	window := time.Since(t0)
	wg.Wait()
	reqs := backend.Stop(b)

	r := edgeRun{
		varnishCPU:   100 * (vcpu1 - vcpu0).Seconds() / window.Seconds(),
		svCPU:        100 * (svcpu1 - svcpu0).Seconds() / window.Seconds(),
		genCPU:       100 * (gen1 - gen0).Seconds() / window.Seconds(),
		edgeErrors:   viaEdge.errs,
		directErrors: straight.errs,
	}
	fetched := map[string]int{}
	for _, q := range reqs {
		if q.Backend && edgeSegment.MatchString(q.URL) {
			fetched[q.URL]++
			r.fetchedSeg++
		}
	}
	r.segments = len(fetched)
	if r.segments > 0 {
		r.perSegment = float64(r.fetchedSeg) / float64(r.segments)
	}
	// Lateness after the first direct viewer that had each segment.
	first := map[[2]int]time.Time{}
	for _, a := range straight.received {
		if f, ok := first[a.key]; !ok || a.at.Before(f) {
			first[a.key] = a.at
		}
	}
	for _, as := range []struct {
		from []arrival
		to   *[]float64
	}{{straight.received, &r.direct}, {viaEdge.received, &r.edge}} {
		for _, a := range as.from {
			if f, ok := first[a.key]; ok {
				*as.to = append(*as.to, float64(a.at.Sub(f))/float64(time.Millisecond))
			}
		}
	}
	b.Logf("%d viewers through Varnish, %d straight to sv: %d segments fetched %d times from sv (%.2f each); lateness through the edge p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d segments, direct p50 %.1f ms, p99 %.1f ms; errors %d through the edge, %d direct; varnishd %.0f%% of a core, sv all %.0f%%, the viewers %.0f%%",
		viewers, edgeDirect, r.segments, r.fetchedSeg, r.perSegment, quantile(r.edge, 0.5), quantile(r.edge, 0.99), quantile(r.edge, 1), len(r.edge),
		quantile(r.direct, 0.5), quantile(r.direct, 0.99), r.edgeErrors, r.directErrors, r.varnishCPU, r.svCPU, r.genCPU)
	for _, tl := range []*tally{&viaEdge, &straight} {
		if tl.errs > 0 {
			b.Logf("errors: %s", tl.kindsText())
		}
	}
	return r
}
