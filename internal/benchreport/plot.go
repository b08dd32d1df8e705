package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// latencySeries is what BenchmarkGlassToGlass writes as latency-CONFIG-N.json.
type latencySeries struct {
	Config  string       `json:"config"`
	TTFF    float64      `json:"ttff_ms"`
	Samples [][2]float64 `json:"samples"` // [s since the capture page's start, ms]
	Runs    int          `json:"-"`       // how many runs of its configuration there were
}

// median is the run's median latency, in ms.
func (s latencySeries) median() float64 {
	ms := make([]float64, len(s.Samples))
	for i, p := range s.Samples {
		ms[i] = p[1]
	}
	slices.Sort(ms)
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)/2]
}

// scaleResult is what BenchmarkScale writes as scale-MODE.json.
type scaleResult struct {
	Mode       string      `json:"mode"`
	Limit      int         `json:"limit"`
	Bottleneck string      `json:"bottleneck"`
	Steps      []scaleStep `json:"steps"`
}

type scaleStep struct {
	Streams       int                `json:"streams"`
	OK            bool               `json:"ok"`
	Reason        string             `json:"reason"`
	CPU           float64            `json:"cpu_pct"`
	CPUBy         map[string]float64 `json:"cpu_by"`
	PSS           float64            `json:"pss_mb"`    // sv all and its children, shared pages shared out
	SVRSS         float64            `json:"sv_rss_mb"` // sv all alone
	FDs           int                `json:"fds"`
	PackagerLag   float64            `json:"max_packager_lag_s"`
	StreamsJSON   float64            `json:"streams_json_ms"`
	AnalysisSkips int                `json:"analysis_skips"`
}

func readJSONs[T any](dir, pattern string) ([]T, error) {
	paths, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		return nil, err
	}
	slices.Sort(paths)
	var out []T
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// readLatencySeries reads the lab's series, one per configuration in the order of
// latencyConfigs: of several runs, the one with the median latency (the lower middle one
// of an even number), so that the plot shows a typical run.
func readLatencySeries(dir string) ([]latencySeries, error) {
	runs, err := readJSONs[latencySeries](dir, "latency-*.json")
	if err != nil {
		return nil, err
	}
	byConfig := map[string][]latencySeries{}
	for _, s := range runs {
		byConfig[s.Config] = append(byConfig[s.Config], s)
	}
	var all []latencySeries
	for _, rs := range byConfig {
		slices.SortStableFunc(rs, func(a, b latencySeries) int { return cmp.Compare(a.median(), b.median()) })
		m := rs[(len(rs)-1)/2]
		m.Runs = len(rs)
		all = append(all, m)
	}
	rank := func(name string) int {
		for i, c := range latencyConfigs {
			if c.name == name {
				return i
			}
		}
		return len(latencyConfigs)
	}
	slices.SortStableFunc(all, func(a, b latencySeries) int { return rank(a.Config) - rank(b.Config) })
	return all, nil
}

func readScale(dir string) (map[string]scaleResult, error) {
	all, err := readJSONs[scaleResult](dir, "scale-*.json")
	if err != nil {
		return nil, err
	}
	m := map[string]scaleResult{}
	for _, s := range all {
		m[s.Mode] = s
	}
	return m, nil
}

var colors = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#d62728", "#8c564b"}

// latencySVG draws two panels: every configuration on a log scale, and sv's low-latency
// ones on a linear one. Each line is the median of the frames shown in each
// half second.
func latencySVG(series []latencySeries) []byte {
	const w, panelH, left, right, top, gap = 900, 300, 70, 190, 30, 70
	h := top + 2*panelH + gap + 50
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	xmax := 0.0
	for _, s := range series {
		for _, p := range s.Samples {
			xmax = max(xmax, p[0])
		}
	}
	xmax = math.Ceil(xmax/10) * 10
	if xmax == 0 {
		xmax = 10
	}
	ours := slices.DeleteFunc(slices.Clone(series), func(s latencySeries) bool { return !strings.HasPrefix(s.Config, "low") })
	ymaxLin := 1500.0
	for _, s := range ours {
		for _, p := range binned(s.Samples) {
			ymaxLin = max(ymaxLin, p[1])
		}
	}
	ymaxLin = math.Ceil(ymaxLin/500) * 500
	panels := []struct {
		title  string
		series []latencySeries
		y      func(ms float64) float64 // 0 at the bottom, 1 at the top
		ticks  []float64
	}{
		{"glass-to-glass latency, all configurations (log scale)", series,
			func(ms float64) float64 { return math.Log10(max(ms, 100)/100) / math.Log10(300) },
			[]float64{100, 200, 500, 1000, 2000, 5000, 10000, 20000, 30000}},
		{"sv's low-latency configurations (linear scale)", ours,
			func(ms float64) float64 { return ms / ymaxLin },
			linTicks(ymaxLin)},
	}
	pw := float64(w - left - right)
	for i, pn := range panels {
		y0 := float64(top + i*(panelH+gap))
		py := func(ms float64) float64 { return y0 + panelH*(1-min(1, max(0, pn.y(ms)))) }
		px := func(s float64) float64 { return left + pw*s/xmax }
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" font-weight="bold">%s</text>`+"\n", left, y0-10, pn.title)
		fmt.Fprintf(&b, `<rect x="%d" y="%.0f" width="%.0f" height="%d" fill="none" stroke="#999"/>`+"\n", left, y0, pw, panelH)
		for _, t := range pn.ticks {
			y := py(t)
			fmt.Fprintf(&b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n",
				left, left+pw, y, y, left-6, y+4, msLabel(t))
		}
		for s := 0.0; s <= xmax; s += 10 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%.0f</text>`+"\n", px(s), y0+panelH+16, s)
		}
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">seconds since the capture page started</text>`+"\n", left+pw/2, y0+panelH+34)
		for j, s := range pn.series {
			c := colors[colorIndex(series, s.Config)%len(colors)]
			var pts []string
			for _, p := range binned(s.Samples) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p[0]), py(p[1])))
			}
			plotLine(&b, c, pts, left+pw+10, y0+14+float64(j)*18, s.Config)
		}
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// plotLine draws a line of color c through pts, and its legend at (x, y): a stroke of its
// color, then its label.
func plotLine(b *bytes.Buffer, c string, pts []string, x, y float64, label string) {
	fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", c, strings.Join(pts, " "))
	fmt.Fprintf(b, `<line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f" stroke="%s" stroke-width="3"/><text x="%.0f" y="%.0f">%s</text>`+"\n",
		x, x+20, y, y, c, x+26, y+4, label)
}

func colorIndex(all []latencySeries, config string) int {
	for i, s := range all {
		if s.Config == config {
			return i
		}
	}
	return 0
}

// binned is the median latency of each half second of a series, in time order.
func binned(samples [][2]float64) [][2]float64 {
	bins := map[int][]float64{}
	for _, p := range samples {
		k := int(math.Floor(p[0] * 2))
		bins[k] = append(bins[k], p[1])
	}
	keys := make([]int, 0, len(bins))
	for k := range bins {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([][2]float64, 0, len(keys))
	for _, k := range keys {
		out = append(out, [2]float64{(float64(k) + 0.5) / 2, summarize(bins[k]).med})
	}
	return out
}

func linTicks(ymax float64) []float64 {
	step := 250.0
	if ymax > 2000 {
		step = 500
	}
	var t []float64
	for v := 0.0; v <= ymax; v += step {
		t = append(t, v)
	}
	return t
}

func msLabel(ms float64) string {
	if ms >= 1000 {
		return fmt.Sprintf("%g s", ms/1000)
	}
	return fmt.Sprintf("%g ms", ms)
}
