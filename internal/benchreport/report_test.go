package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/svtool/sv/dash
cpu: AMD EPYC
BenchmarkHandoff/copy-2   	       5	         0 ns/op	        21.00 p50-µs	       241.0 p99-µs
BenchmarkHandoff/copy-2   	       5	         0 ns/op	        23.00 p50-µs	       250.0 p99-µs
pkg: github.com/svtool/sv/internal/queue
BenchmarkHandoff-2   	  100000	     32388 ns/op	2023.47 MB/s	   68728 B/op	      12 allocs/op
pkg: github.com/svtool/sv/internal/lab/bench
BenchmarkGlassToGlass/low-copy
    latency_test.go:45: low-copy: a log line that is not a result
BenchmarkGlassToGlass/low-copy-2   	1	60000000000 ns/op	 800.0 median-ms	 900.0 p95-ms	 950.0 max-ms	 0 stalls	 1700 ttff-ms
BenchmarkGlassToGlass/classic-2    	1	60000000000 ns/op	 9600 median-ms	 12000 p95-ms	 13000 max-ms	 2.000 stalls	 21000 ttff-ms
BenchmarkGlassToGlass/low-copy-2   	1	60000000000 ns/op	 780.0 median-ms	 880.0 p95-ms	 990.0 max-ms	 0 stalls	 1600 ttff-ms
BenchmarkGlassToGlass/classic-2    	1	60000000000 ns/op	 7800 median-ms	 11000 p95-ms	 12000 max-ms	 1.000 stalls	 19000 ttff-ms
BenchmarkGlassToGlass/low-copy-2   	1	60000000000 ns/op	 820.0 median-ms	 1400 p95-ms	 1500 max-ms	 1.000 stalls	 1800 ttff-ms
BenchmarkGlassToGlass/classic-2    	1	60000000000 ns/op	 8200 median-ms	 11500 p95-ms	 12500 max-ms	 1.000 stalls	 20000 ttff-ms
BenchmarkGlassToGlass/low-copy-dashjs-2   	1	60000000000 ns/op	 550.0 median-ms	 600.0 p95-ms	 700.0 max-ms	 0 stalls	 2700 ttff-ms
BenchmarkGlassToGlass/low-copy-dashjs-waiting-2   	1	60000000000 ns/op	 550.0 median-ms	 600.0 p95-ms	 700.0 max-ms	 0 stalls	 1600 ttff-ms
BenchmarkAnalysis/480p/sv-frames-2      	1	1 ns/op	 1500 fps
BenchmarkViewers/viewers=0-2   	1	0 ns/op	 0 MB/s	 0 errors	 110.0 packaged-p50-ms	 150.0 packaged-p99-ms	 12.00 sv-cpu-%	 80.00 sv-rss-MB
BenchmarkViewers/viewers=5000-2   	1	0 ns/op	 200.0 MB/s	 0 errors	 4000 late-max-ms	 880.0 late-p50-ms	 3900 late-p99-ms	 150.0 packaged-p50-ms	 880.0 packaged-p99-ms	 73.00 sv-cpu-%	 485.0 sv-rss-MB	 73.00 viewers-cpu-%
BenchmarkViewers/streams=20/viewers=5000-2   	1	0 ns/op	 190.0 MB/s	 2.000 errors	 300.0 late-max-ms	 20.00 late-p50-ms	 40.00 late-p99-ms	 160.0 packaged-p50-ms	 500.0 packaged-p99-ms	 90.00 sv-cpu-%	 600.0 sv-rss-MB	 70.00 viewers-cpu-%
BenchmarkOrigin/viewers=1000/server=nginx-2   	1	12000000000 ns/op	 57.00 MB/s	 4.000 cpu-%	 0.7000 cpu-s/GB	 0 errors	 25.00 late-p50-ms	 90.00 late-p99-ms	 9.000 viewers-cpu-%
BenchmarkOrigin/viewers=1000/server=sv-2   	1	12000000000 ns/op	 57.00 MB/s	 8.000 cpu-%	 1.400 cpu-s/GB	 0 errors	 24.00 late-p50-ms	 80.00 late-p99-ms	 9.000 viewers-cpu-%	 2.000 x-nginx-cpu/GB
BenchmarkAnalysis/480p/ffmpeg-decode-2  	1	1 ns/op	 3000 fps
PASS
ok  	github.com/svtool/sv/internal/lab/bench	200.0s
`

func TestParse(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	// The same name in two packages is two benchmarks.
	if got := res.values("dash.BenchmarkHandoff/copy", "p99-µs"); len(got) != 2 || got[1] != 250 {
		t.Errorf("dash's handoff p99: %v", got)
	}
	if got := res.values("queue.BenchmarkHandoff", "allocs/op"); len(got) != 1 || got[0] != 12 {
		t.Errorf("queue's handoff allocs: %v", got)
	}
	// A name without its package finds it; the -GOMAXPROCS suffix is gone.
	if got := summarize(res.values("BenchmarkGlassToGlass/low-copy", "median-ms")); got != (stat{med: 800, min: 780, max: 820, n: 3}) {
		t.Errorf("low-copy median: %+v", got)
	}
	// Ratios pair the runs in order: 9600/800, 7800/780, 8200/820.
	if got := summarize(res.ratio("BenchmarkGlassToGlass/classic", "BenchmarkGlassToGlass/low-copy", "median-ms")); got.med != 10 || got.min != 10 || got.max != 12 {
		t.Errorf("classic/low-copy: %+v", got)
	}
	if res.header["cpu"] != "AMD EPYC" {
		t.Errorf("header: %v", res.header)
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"BenchmarkX-2   1   100 ns/op  5\n",         // a value without its unit
		"BenchmarkX-2   1   100 ns/op  five MB/s\n", // not a number
	} {
		if _, err := parse(strings.NewReader(in)); err == nil {
			t.Errorf("parse(%q): no error", in)
		}
	}
}

func TestReport(t *testing.T) {
	dir := t.TempDir()
	bench := filepath.Join(dir, "bench.txt")
	if err := os.WriteFile(bench, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	lab := filepath.Join(dir, "lab")
	os.Mkdir(lab, 0o755)
	os.WriteFile(filepath.Join(lab, "latency-low-copy-1.json"), []byte(`{"config":"low-copy","ttff_ms":1700,"samples":[[1.7,800],[1.8,810],[2.4,790]]}`), 0o644)
	os.WriteFile(filepath.Join(lab, "latency-low-copy-2.json"), []byte(`{"config":"low-copy","ttff_ms":1600,"samples":[[1.6,1400],[1.8,1500],[2.4,1300]]}`), 0o644)
	os.WriteFile(filepath.Join(lab, "latency-low-copy-3.json"), []byte(`{"config":"low-copy","ttff_ms":1800,"samples":[[1.8,700],[1.9,720],[2.4,710]]}`), 0o644)
	os.WriteFile(filepath.Join(lab, "latency-classic.json"), []byte(`{"config":"classic","ttff_ms":20000,"samples":[[20,9000],[21,9100]]}`), 0o644)
	os.WriteFile(filepath.Join(lab, "scale-copy.json"), []byte(`{"mode":"copy","limit":60,"bottleneck":"CPU, FFmpeg analysis","steps":[{"streams":60,"ok":true,"cpu_pct":80,"cpu_by":{"sv":10},"rss_mb":900,"fds":700},{"streams":70,"ok":false,"reason":"s3: no new segment for 4.1 s","cpu_pct":99}]}`), 0o644)
	notes := filepath.Join(dir, "notes.md")
	os.WriteFile(filepath.Join(dir, "notes.md"), []byte("## Notes\n\nhand-written\n"), 0o644)
	out := filepath.Join(dir, "BENCHMARKS.md")
	if err := run(bench, lab, notes, "LAB_COUNT=3", out); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		// median (min–max) of three runs; 10× (10–12) lower than classic; one run stalled.
		"| sv all, `--latency low --video copy`, sv's viewer | 800 (780–820) | 900 (880–1400) | 990 (950–1500) | 0 (0–1) | 1700 (1600–1800) | 10.0× (10.0–12.0) lower | **no** |",
		// A stock page that joins a playing stream is not held to the first frame's goal;
		// one opened before the publisher is.
		"| the same, stock dash.js, its defaults | 550 | 600 | 700 | 0 | 2700 | 17.5× lower | yes |",
		"| low copy, stock dash.js opened before the publisher starts | 550 | 600 | 700 | 0 | 1600 | 17.5× lower | **no** |",
		"| classic: 1 s chunks, `ffmpeg -i - -f dash -seg_duration 2`, dash.js defaults | 8200 (7800–9600) |",
		"| sv all, `--latency normal --video copy` | not measured |",
		"![glass-to-glass latency over time](lab/latency.svg)",
		"in each configuration, the run with the median latency (of 3)",
		"| 480p | 1500 | 3000 | – | 0.50× | – |",
		"the limit was 60; bottleneck: CPU, FFmpeg analysis.",
		"| 70 | no: s3: no new segment for 4.1 s | 99 | 0.0 |",
		// What no section shows is listed, by package.
		"| dash.Handoff/copy | 22.00 (21.00–23.00) p50-µs, 246 (241–250) p99-µs |",
		"| queue.Handoff | 32388 ns/op, 2023 MB/s, 68728 B/op, 12.00 allocs/op |",
		// The viewers, live and from finished files: the goal is judged at 5,000 viewers
		// of one stream, and against nginx.
		"| 1 | 5000 | 73 | 485 | 200.0 | 880 | 3900 | 4000 | 0 | 150 | 880 | 73 | **no** |",
		"| 20 | 5000 | 90 | 600 | 190.0 | 20 | 40 | 300 | 2 | 160 | 500 | 70 | – |",
		"| 1 | 0 | 12 | 80 | 0.0 | – | – | – | 0 | 110 | 150 | – | – |",
		"| 1000 | 8 | 4 | 1.40 | 0.70 | 2.00× | 80 | 90 | 0 | 0 | yes |",
		"![CPU and lateness against viewers](lab/viewers.svg)",
		"## 6. Every other benchmark",
		"## Notes\n\nhand-written\n",
		"- run with `LAB_COUNT=3`",
	} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("BENCHMARKS.md lacks %q", want)
		}
	}
	// The plot shows each configuration's median run, in the order of latencyConfigs.
	series, err := readLatencySeries(lab)
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 2 || series[0].Config != "low-copy" || series[0].TTFF != 1700 || series[0].Runs != 3 || series[1].Config != "classic" {
		t.Errorf("plotted series: %+v", series)
	}
	if bytes.Contains(md, []byte("| bench.GlassToGlass")) {
		t.Errorf("the latency benchmarks are listed again among the others:\n%s", md)
	}
	if bytes.Contains(md, []byte("| bench.Viewers")) || bytes.Contains(md, []byte("| bench.Origin")) {
		t.Errorf("the viewers benchmarks are listed again among the others:\n%s", md)
	}
	if svg, err := os.ReadFile(filepath.Join(lab, "viewers.svg")); err != nil || bytes.Count(svg, []byte("<polyline")) != 6 || !bytes.Contains(svg, []byte(">nginx, finished segments</text>")) {
		t.Errorf("viewers.svg (%v):\n%s", err, svg)
	}
	svg, err := os.ReadFile(filepath.Join(lab, "latency.svg"))
	if err != nil || !bytes.Contains(svg, []byte("<polyline")) || !bytes.Contains(svg, []byte(">classic</text>")) {
		t.Errorf("latency.svg (%v):\n%s", err, svg)
	}
	if t.Failed() {
		t.Logf("BENCHMARKS.md:\n%s", md)
	}
}
