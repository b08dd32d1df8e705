package main

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// viewerRow is one viewer count of BenchmarkViewers (streams > 1: the viewers shared out
// among that many streams) or of BenchmarkOrigin.
type viewerRow struct {
	name    string // the benchmark, without its package
	streams int
	viewers int
}

// viewerRows finds the benchmarks under prefix ("BenchmarkViewers/") named
// [streams=S/]viewers=N[/rest], in order of streams then viewers; rest must be suffix.
func (r *report) viewerRows(prefix, suffix string) []viewerRow {
	var rows []viewerRow
	for _, full := range r.res.names {
		_, name, _ := strings.Cut(full, ".")
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		if suffix != "" {
			if rest, ok = strings.CutSuffix(rest, suffix); !ok {
				continue
			}
		}
		row := viewerRow{name: name, streams: 1}
		if s, after, ok := strings.Cut(rest, "/"); ok {
			n, err := strconv.Atoi(strings.TrimPrefix(s, "streams="))
			if err != nil || !strings.HasPrefix(s, "streams=") {
				continue
			}
			row.streams, rest = n, after
		}
		n, err := strconv.Atoi(strings.TrimPrefix(rest, "viewers="))
		if err != nil || !strings.HasPrefix(rest, "viewers=") {
			continue
		}
		row.viewers = n
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b viewerRow) int {
		if a.streams != b.streams {
			return a.streams - b.streams
		}
		return a.viewers - b.viewers
	})
	return rows
}

// viewerGoal is the count of viewers of one stream the goal is set at, and its lateness.
const (
	viewerGoal     = 5000
	viewerGoalLate = 50.0 // ms, p99
	originGoal     = 2.0  // sv's CPU per byte at most this many times nginx's
)

func (r *report) viewers(plot string) {
	live := r.viewerRows("BenchmarkViewers/", "")
	origin := r.viewerRows("BenchmarkOrigin/", "/server=sv")
	if len(live) == 0 && len(origin) == 0 {
		return
	}
	r.p("")
	r.p("## 4. Viewers")
	r.p("")
	r.p("One `sv all` with one live stream (a recording published in real time by `sv send`), pinned to one core; N simulated low-latency DASH viewers on the other core, each fetching the manifest and every video and audio segment in turn as dash.js does, the segment in progress included (chunked transfer). Lateness is how long after the first viewer each viewer had the whole of a segment; *packaged* is how long after its media's end the packager finished each video segment, which N = 0 shows for the stream alone (`go -C internal/lab test -run '^$' -bench Viewers -benchtime 1x ./bench`; `SV_BENCH_VIEWERS`, `SV_BENCH_STREAMS`).")
	r.p("")
	r.p("Goal: ≥ %d viewers of one stream with lateness p99 ≤ %.0f ms and no error; segments packaged as fast with viewers as without.", viewerGoal, viewerGoalLate)
	r.p("")
	if len(live) > 0 {
		r.p("| streams | viewers | sv all CPU, % of a core | sv all RSS, MB | MB/s | lateness p50, ms | p99, ms | max, ms | errors | packaged p50, ms | p99, ms | viewers' own CPU, % | goal met |")
		r.p("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
		for _, row := range live {
			n := row.name
			late := r.stat(n, "late-p99-ms")
			errs := r.stat(n, "errors")
			goal := "–"
			if row.streams == 1 && row.viewers == viewerGoal {
				goal = mark(late.n > 0 && late.med <= viewerGoalLate && errs.max == 0)
			}
			r.p("| %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", row.streams, row.viewers,
				cell(r.stat(n, "sv-cpu-%"), 0), cell(r.stat(n, "sv-rss-MB"), 0), cell(r.stat(n, "MB/s"), 1),
				cell(r.stat(n, "late-p50-ms"), 0), cell(late, 0), cell(r.stat(n, "late-max-ms"), 0), cell(errs, 0),
				cell(r.stat(n, "packaged-p50-ms"), 0), cell(r.stat(n, "packaged-p99-ms"), 0), cell(r.stat(n, "viewers-cpu-%"), 0), goal)
		}
		r.p("")
	}
	if len(origin) > 0 {
		r.p("Finished segments only, the same files served by `sv serve` and by nginx (Debian's, one worker, sendfile, `tcp_nopush`), each pinned to one core in turn: two requests a viewer a second, a 42 KB video and an 8 KB audio segment (`go -C internal/lab test -run '^$' -bench Origin -benchtime 1x ./bench`; `SV_BENCH_ORIGIN_VIEWERS`). The ratio is of runs made one after the other.")
		r.p("")
		r.p("Goal: sv's CPU per byte within %.0f× nginx's.", originGoal)
		r.p("")
		r.p("| viewers | sv CPU, % of a core | nginx CPU, % | sv CPU-s per GB | nginx CPU-s per GB | sv vs nginx | lateness p99, ms, sv | nginx | errors, sv | nginx | goal met |")
		r.p("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
		for _, row := range origin {
			sv, ng := row.name, strings.TrimSuffix(row.name, "/server=sv")+"/server=nginx"
			ratio := r.ratio(sv, ng, "cpu-s/GB")
			goal := "–"
			if ratio.n > 0 {
				goal = mark(ratio.med <= originGoal)
			}
			r.p("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", row.viewers,
				cell(r.stat(sv, "cpu-%"), 0), cell(r.stat(ng, "cpu-%"), 0), cell(r.stat(sv, "cpu-s/GB"), 2), cell(r.stat(ng, "cpu-s/GB"), 2),
				ratioCell(ratio), cell(r.stat(sv, "late-p99-ms"), 0), cell(r.stat(ng, "late-p99-ms"), 0),
				cell(r.stat(sv, "errors"), 0), cell(r.stat(ng, "errors"), 0), goal)
		}
		r.p("")
	}
	if plot != "" {
		r.p("CPU and lateness p99 against viewers (log scales):")
		r.p("")
		r.p("![CPU and lateness against viewers](%s)", plot)
	}
}

// viewerLine is one line of viewersSVG: (viewers, figure) points.
type viewerLine struct {
	label  string
	points [][2]float64
}

// viewerLines are the lines of the viewers plot: sv all live, sv serve and nginx on
// finished segments, for one unit each of the live and the origin benchmarks.
func (r *report) viewerLines(liveUnit, originUnit string) []viewerLine {
	var lines []viewerLine
	add := func(label string, rows []viewerRow, rename func(string) string, unit string) {
		l := viewerLine{label: label}
		for _, row := range rows {
			if row.streams != 1 || row.viewers == 0 {
				continue
			}
			if s := summarize(r.res.values(rename(row.name), unit)); s.n > 0 {
				l.points = append(l.points, [2]float64{float64(row.viewers), s.med})
			}
		}
		if len(l.points) > 0 {
			lines = append(lines, l)
		}
	}
	same := func(s string) string { return s }
	add("sv all, live (segments in progress)", r.viewerRows("BenchmarkViewers/", ""), same, liveUnit)
	origin := r.viewerRows("BenchmarkOrigin/", "/server=sv")
	add("sv serve, finished segments", origin, same, originUnit)
	add("nginx, finished segments", origin, func(s string) string { return strings.TrimSuffix(s, "/server=sv") + "/server=nginx" }, originUnit)
	return lines
}

// viewersSVG draws two panels against viewers on a log scale: CPU (% of a core) and
// lateness p99 (ms, log scale).
func viewersSVG(cpu, late []viewerLine) []byte {
	const w, panelH, left, right, top, gap = 900, 260, 70, 250, 30, 70
	h := top + 2*panelH + gap + 50
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	xmin, xmax := 100.0, 10000.0
	for _, l := range append(slices.Clone(cpu), late...) {
		for _, p := range l.points {
			xmin, xmax = min(xmin, p[0]), max(xmax, p[0])
		}
	}
	xmin = math.Pow(10, math.Floor(math.Log10(xmin)))
	xmax = math.Pow(10, math.Ceil(math.Log10(xmax)))
	pw := float64(w - left - right)
	px := func(v float64) float64 { return left + pw*math.Log10(v/xmin)/math.Log10(xmax/xmin) }
	panels := []struct {
		title string
		lines []viewerLine
		y     func(v float64) float64 // 0 at the bottom, 1 at the top
		ticks []float64
		label func(v float64) string
	}{
		{"CPU, % of one core", cpu, func(v float64) float64 { return v / 100 }, []float64{0, 25, 50, 75, 100},
			func(v float64) string { return fmt.Sprintf("%g%%", v) }},
		{"lateness p99 (log scale)", late, func(v float64) float64 { return math.Log10(max(v, 1)) / 4 }, []float64{1, 10, 50, 100, 1000, 10000}, msLabel},
	}
	for i, pn := range panels {
		y0 := float64(top + i*(panelH+gap))
		py := func(v float64) float64 { return y0 + panelH*(1-min(1, max(0, pn.y(v)))) }
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" font-weight="bold">%s</text>`+"\n", left, y0-10, pn.title)
		fmt.Fprintf(&b, `<rect x="%d" y="%.0f" width="%.0f" height="%d" fill="none" stroke="#999"/>`+"\n", left, y0, pw, panelH)
		for _, t := range pn.ticks {
			y := py(t)
			fmt.Fprintf(&b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n",
				left, left+pw, y, y, left-6, y+4, pn.label(t))
		}
		for v := xmin; v <= xmax*1.001; v *= 10 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%g</text>`+"\n", px(v), y0+panelH+16, v)
		}
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">viewers</text>`+"\n", left+pw/2, y0+panelH+34)
		for j, l := range pn.lines {
			c := colors[j%len(colors)]
			var pts []string
			for _, p := range l.points {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p[0]), py(p[1])))
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(p[0]), py(p[1]), c)
			}
			plotLine(&b, c, pts, left+pw+10, y0+14+float64(j)*18, l.label)
		}
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}
