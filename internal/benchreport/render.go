package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// report writes the sections of BENCHMARKS.md; used marks the benchmarks a section has
// shown, so that others() lists the rest.
type report struct {
	w    io.Writer
	res  *results
	used map[string]bool
}

// p writes a line: format with args, or a plain line without them.
func (r *report) p(format string, args ...any) {
	if len(args) == 0 {
		fmt.Fprintln(r.w, format)
		return
	}
	fmt.Fprintf(r.w, format+"\n", args...)
}

// cell is a figure as "median (min–max)", or just the median when the runs agree or
// there was one; "–" when nothing was measured.
func cell(s stat, prec int) string {
	if s.n == 0 {
		return "–"
	}
	f := func(v float64) string { return fmt.Sprintf("%.*f", prec, v) }
	if s.n == 1 || f(s.min) == f(s.max) {
		return f(s.med)
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.med), f(s.min), f(s.max))
}

// ratioCell is a ratio as "12.3×" with its spread.
func ratioCell(s stat) string {
	if s.n == 0 {
		return "–"
	}
	prec := 2
	if s.med >= 10 {
		prec = 1
	}
	c := cell(s, prec)
	if med, spread, ok := strings.Cut(c, " ("); ok {
		return med + "× (" + spread
	}
	return c + "×"
}

func (r *report) stat(name, unit string) stat {
	if full := r.res.find(name); r.res.runs[full] != nil {
		r.used[full] = true
	}
	return summarize(r.res.values(name, unit))
}

func (r *report) ratio(num, den, unit string) stat {
	return summarize(r.res.ratio(num, den, unit))
}

func mark(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func (r *report) header(machine []string) {
	r.p("# sv benchmarks")
	r.p("")
	r.p("Written by `make bench` (`internal/benchreport`); do not edit by hand: the notes at the end come from `benchmarks/notes.md`.")
	r.p("Each figure is the median of repeated runs with the lowest and highest in brackets; each comparison is a ratio of runs made one after the other in the same `go test` process, and its median. The raw output is `benchmarks/bench.txt`.")
	r.p("")
	for _, m := range machine {
		r.p("- %s", m)
	}
}

// latencyConfigs are the lab's configurations, with the median each should meet (ms; 0:
// none): sv's own page 600, every stock player 1000. The first frame is held to its goal
// (firstFrameGoal) where the viewer was opened before the publisher started (first):
// a stock page that joins a stream already playing counts its own load after the
// stream's start, which is no measure of sv.
var latencyConfigs = []struct {
	name, what string
	goal       float64
	first      bool
}{
	{"low-copy", "sv all, `--latency low --video copy`, sv's viewer", 600, true},
	{"low-copy-dashjs", "the same, stock dash.js, its defaults", 1000, false},
	{"low-copy-shaka", "the same, stock Shaka Player, `lowLatencyMode`", 1000, false},
	{"low-copy-hlsjs", "the same, stock hls.js on LL-HLS", 1000, false},
	{"low-transcode", "sv all, `--latency low --video h264`, sv's viewer", 600, true},
	{"low-transcode-dashjs", "the same, stock dash.js", 1000, false},
	{"low-transcode-shaka", "the same, stock Shaka Player", 1000, false},
	{"low-transcode-hlsjs", "the same, stock hls.js", 1000, false},
	{"low-copy-dashjs-waiting", "low copy, stock dash.js opened before the publisher starts", 1000, true},
	{"low-copy-shaka-waiting", "low copy, stock Shaka Player opened before the publisher starts", 1000, true},
	{"low-copy-hlsjs-waiting", "low copy, stock hls.js opened before the publisher starts", 1000, true},
	{"normal-copy", "sv all, `--latency normal --video copy`", 0, true},
	{"normal-transcode", "sv all, `--latency normal --video h264`", 0, true},
	{"classic", "classic: 1 s chunks, `ffmpeg -i - -f dash -seg_duration 2`, dash.js defaults", 0, false},
}

// firstFrameGoal is the time to first frame, from the capture page's start, that a
// viewer opened first should meet (ms).
const firstFrameGoal = 1500

func (r *report) latency(plot string, series []latencySeries) {
	const bench = "BenchmarkGlassToGlass/"
	r.p("")
	r.p("## 1. Glass-to-glass latency and time to first frame")
	r.p("")
	r.p("Headless Chromium publishes the test clock (capture page, `source=clock`, 640x480 at 30 fps, H.264) over loopback; the viewer page plays it and decodes the capture time from every frame it shows, on the server's clock. Each configuration is watched for a minute from its first frame, with a fresh server and browser (`go -C internal/lab test -run '^$' -bench GlassToGlass -benchtime 1x ./bench`). Stalls are the player waiting for data after its first frame. The time to first frame runs from the capture page's start (before it asks for the camera) to the viewer's first frame on screen. sv's viewer and the stock pages *opened before the publisher starts* are opened first; the other stock pages join the stream once it can be played, as most viewers join a stream that is on, and their first frame includes their own page's load.")
	r.p("")
	r.p("Goal: median ≤ 600 ms in sv's viewer and ≤ 1000 ms in every stock player (their own pages, their documented low-latency settings, no sv code), no stall after start-up, first frame ≤ 1500 ms for a viewer opened first.")
	r.p("")
	r.p("| configuration | median, ms | p95, ms | max, ms | stalls | first frame, ms | median vs classic | goal met |")
	r.p("| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, c := range latencyConfigs {
		name := bench + c.name
		med, p95, mx := r.stat(name, "median-ms"), r.stat(name, "p95-ms"), r.stat(name, "max-ms")
		stalls, ttff := r.stat(name, "stalls"), r.stat(name, "ttff-ms")
		if med.n == 0 {
			r.p("| %s | not measured | | | | | | |", c.what)
			continue
		}
		vs, goal := "", "–"
		if c.name != "classic" {
			vs = ratioCell(r.ratio(bench+"classic", name, "median-ms")) + " lower"
			if r.res.values(bench+"classic", "median-ms") == nil {
				vs = "–"
			}
			if c.goal > 0 {
				goal = mark(med.med <= c.goal && stalls.max == 0 && (!c.first || ttff.med <= firstFrameGoal))
			} else {
				goal = "– (2 s segments, announced whole)"
			}
		}
		r.p("| %s | %s | %s | %s | %s | %s | %s | %s |", c.what, cell(med, 0), cell(p95, 0), cell(mx, 0), cell(stalls, 0), cell(ttff, 0), vs, goal)
	}
	if plot != "" {
		r.p("")
		runs := 0
		for _, s := range series {
			runs = max(runs, s.Runs)
		}
		which := "its run"
		if runs > 1 {
			which = fmt.Sprintf("the run with the median latency (of %d)", runs)
		}
		r.p("The latency of every frame over time in each configuration, %s (top: all, on a log scale; bottom: sv's low-latency ones, linear):", which)
		r.p("")
		r.p("![glass-to-glass latency over time](%s)", plot)
	}
}

var receivers = []struct{ name, what string }{
	{"sv", "`sv recv` (gobwas/ws, zero-copy reads)"},
	{"gorilla", "gorilla/websocket, `ReadMessage` (Go)"},
	{"node", "Node.js `ws`"},
}

func (r *report) ingest() {
	r.p("")
	r.p("## 2. Ingest cost")
	r.p("")
	r.p("Three receivers, each its own process on loopback, each writing every message to its stdout as a receiver piping into FFmpeg does; the benchmark is the publisher and reads the stdout back, checking every byte (`go -C internal/lab test -run '^$' -bench 'Ingest(Throughput|Realtime)' -benchtime ... ./bench`).")
	r.p("")
	r.p("Throughput: 64 KiB messages as fast as they go.")
	r.p("")
	r.p("| receiver | MB/s | receiver CPU per message, µs | sv's throughput is | sv's CPU per message is |")
	r.p("| --- | --- | --- | --- | --- |")
	const tp = "BenchmarkIngestThroughput/"
	for _, rc := range receivers {
		name := tp + rc.name
		mbs := r.stat(name, "MB/s")
		if mbs.n == 0 {
			r.p("| %s | not measured | | | |", rc.what)
			continue
		}
		a, c := "", ""
		if rc.name != "sv" {
			a = ratioCell(r.ratio(tp+"sv", name, "MB/s")) + " its"
			c = ratioCell(r.ratio(tp+"sv", name, "cpu-us/msg")) + " its"
		}
		r.p("| %s | %s | %s | %s | %s |", rc.what, cell(mbs, 0), cell(r.stat(name, "cpu-us/msg"), 1), a, c)
	}
	r.p("")
	r.p("One real-time stream as a browser sends it: about 1 Mbit/s, a message every 120 ms. Handoff: from the publisher's write of a message to its last byte read from the receiver's stdout.")
	r.p("")
	r.p("| receiver | CPU, % of a core | peak RSS, MB | handoff p50, µs | p99, µs | max, µs | sv's CPU is |")
	r.p("| --- | --- | --- | --- | --- | --- | --- |")
	const rt = "BenchmarkIngestRealtime/"
	for _, rc := range receivers {
		name := rt + rc.name
		cpu := r.stat(name, "cpu-%")
		if cpu.n == 0 {
			r.p("| %s | not measured | | | | | |", rc.what)
			continue
		}
		vs := ""
		if rc.name != "sv" {
			vs = ratioCell(r.ratio(rt+"sv", name, "cpu-%")) + " its"
		}
		r.p("| %s | %s | %s | %s | %s | %s | %s |", rc.what, cell(cpu, 2), cell(r.stat(name, "rss-MB"), 1),
			cell(r.stat(name, "handoff-p50-us"), 0), cell(r.stat(name, "handoff-p99-us"), 0), cell(r.stat(name, "handoff-max-us"), 0), vs)
	}
	r.p("")
	r.p("Allocations per received 16 KiB message, in process, over loopback (`go -C internal/lab test -run '^$' -bench IngestAllocs -benchmem ./bench`):")
	r.p("")
	r.p("| receiver | allocs per message | bytes per message | ns per message |")
	r.p("| --- | --- | --- | --- |")
	for _, rc := range receivers[:2] {
		name := "BenchmarkIngestAllocs/" + rc.name
		r.p("| %s | %s | %s | %s |", rc.what, cell(r.stat(name, "allocs/op"), 0), cell(r.stat(name, "B/op"), 0), cell(r.stat(name, "ns/op"), 0))
	}
}

func (r *report) scale(steps map[string]scaleResult) {
	r.p("")
	r.p("## 3. Scale")
	r.p("")
	r.p("Real-time publishers (`sv send`, one process each) added step by step to one `sv all --latency low`, each step held and every stream checked; the limit is the last step at which every stream kept up (`go -C internal/lab test -run '^$' -bench Scale -benchtime 1x -v ./bench`). Analysis that skips ahead is allowed (it is lossy by design) and counted apart: *analysed* is the most streams at which no analysis skipped. CPU figures are % of the whole machine at the limit.")
	r.p("")
	r.p("| mode | goal | streams held | analysed | machine CPU, % | sv, % | FFmpeg, % | sv send, % | memory (PSS), MB | fds |")
	r.p("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, m := range []struct{ name, what, goal string }{
		{"copy", "H.264 ~1 Mbit/s, copied", "≥ 50"},
		{"transcode", "480p30, transcoded", "≥ 4"},
	} {
		name := "BenchmarkScale/" + m.name
		n := r.stat(name, "streams")
		if n.n == 0 {
			r.p("| %s | %s | not measured | | | | | | | |", m.what, m.goal)
			continue
		}
		r.p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", m.what, m.goal, cell(n, 0), cell(r.stat(name, "analysed"), 0),
			cell(r.stat(name, "cpu-%"), 0), cell(r.stat(name, "sv-cpu-%"), 0), cell(r.stat(name, "ffmpeg-cpu-%"), 0), cell(r.stat(name, "send-cpu-%"), 0),
			cell(r.stat(name, "pss-MB"), 0), cell(r.stat(name, "fds"), 0))
	}
	names := make([]string, 0, len(steps))
	for k := range steps {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		s := steps[k]
		r.p("")
		r.p("Steps of the last %s run: the limit was %d; bottleneck: %s.", s.Mode, s.Limit, s.Bottleneck)
		r.p("")
		r.p("| streams | kept up | machine CPU, % | sv all | FFmpeg packagers | FFmpeg analysers | sv send | other | memory (PSS), MB | sv all's RSS, MB | fds | worst packager lag, s | analysis skips | /streams.json, ms |")
		r.p("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
		for _, st := range s.Steps {
			ok := "yes"
			if !st.OK {
				ok = "no: " + strings.ReplaceAll(st.Reason, "|", "/")
			}
			r.p("| %d | %s | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f | %d | %.1f | %d | %.0f |", st.Streams, ok, st.CPU,
				st.CPUBy["sv"], st.CPUBy["ffmpeg_dash"], st.CPUBy["ffmpeg_frames"], st.CPUBy["send"], st.CPUBy["other"], st.PSS, st.SVRSS, st.FDs, st.PackagerLag, st.AnalysisSkips, st.StreamsJSON)
		}
	}
}

func (r *report) analysis() {
	r.p("")
	r.p("## 5. Analysis")
	r.p("")
	r.p("Frames per second over the same 20 s H.264 file (test pattern with noise and scene changes, 1 s GOP): `sv frames` (decode and per-frame analysis, JSON lines out), FFmpeg decoding alone (`-f null`), and FFmpeg's `scdet` and `signalstats` filters, the nearest built-in analysis (`go -C internal/lab test -run '^$' -bench Analysis -benchtime 1x ./bench`).")
	r.p("")
	r.p("| size | sv frames, fps | FFmpeg decode, fps | FFmpeg scdet+signalstats, fps | sv frames vs decode | sv frames vs filters |")
	r.p("| --- | --- | --- | --- | --- | --- |")
	for _, size := range []string{"480p", "720p"} {
		b := "BenchmarkAnalysis/" + size + "/"
		sv := r.stat(b+"sv-frames", "fps")
		if sv.n == 0 {
			r.p("| %s | not measured | | | | |", size)
			continue
		}
		r.p("| %s | %s | %s | %s | %s | %s |", size, cell(sv, 0), cell(r.stat(b+"ffmpeg-decode", "fps"), 0), cell(r.stat(b+"ffmpeg-filters", "fps"), 0),
			ratioCell(r.ratio(b+"sv-frames", b+"ffmpeg-decode", "fps")), ratioCell(r.ratio(b+"sv-frames", b+"ffmpeg-filters", "fps")))
	}
}

// others lists every benchmark no section showed, with all its figures.
func (r *report) others() {
	var rest []string
	for _, n := range r.res.names {
		if !r.used[n] {
			rest = append(rest, n)
		}
	}
	if len(rest) == 0 {
		return
	}
	r.p("")
	r.p("## 6. Every other benchmark")
	r.p("")
	r.p("The packages' own benchmarks (`go test -run '^$' -bench . -benchmem ./...`), each figure the median of its runs.")
	r.p("")
	r.p("| benchmark | figures |")
	r.p("| --- | --- |")
	for _, n := range rest {
		units := map[string]bool{}
		var order []string
		for _, m := range r.res.runs[n] {
			for u := range m {
				if !units[u] {
					units[u] = true
					order = append(order, u)
				}
			}
		}
		// Go's own figures first, in go test's order, then the benchmark's, by name.
		std := map[string]int{"ns/op": 1, "MB/s": 2, "B/op": 3, "allocs/op": 4}
		sort.Slice(order, func(i, j int) bool {
			si, sj := std[order[i]], std[order[j]]
			if si != sj {
				return si != 0 && (sj == 0 || si < sj)
			}
			return order[i] < order[j]
		})
		var figs []string
		for _, u := range order {
			s := summarize(r.res.values(n, u))
			if s.med == 0 && s.max == 0 {
				continue // a figure the benchmark zeroes (ns/op of a lab run)
			}
			figs = append(figs, humanCell(s)+" "+u)
		}
		r.p("| %s | %s |", strings.Replace(n, ".Benchmark", ".", 1), strings.Join(figs, ", "))
	}
}

// humanCell picks a precision that suits the size of the figure.
func humanCell(s stat) string {
	a := math.Abs(s.med)
	switch {
	case a >= 100:
		return cell(s, 0)
	case a >= 1:
		return cell(s, 2)
	default:
		return cell(s, 4)
	}
}
