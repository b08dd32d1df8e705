package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// results are the benchmark lines of `go test -bench` output: every run of every
// benchmark, in the order they ran, with the header lines (goos, cpu, ...) kept.
type results struct {
	names  []string                        // "pkg.BenchmarkX/sub", in the order first seen
	runs   map[string][]map[string]float64 // name → one map of unit → value per run
	header map[string]string               // "cpu" → "AMD EPYC ...", from the output's key: value lines
}

// procsSuffix is the -GOMAXPROCS that go test appends to each benchmark's name.
var procsSuffix = regexp.MustCompile(`-\d+$`)

// parse reads go test -bench output. Lines that are not benchmark results or header
// lines (logs, PASS, ok ...) are skipped; a benchmark line that is cut short is an error.
func parse(r io.Reader) (*results, error) {
	res := &results{runs: map[string][]map[string]float64{}, header: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	pkg := ""
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = path.Base(strings.TrimSpace(p)) + "."
			continue
		}
		if k, v, ok := strings.Cut(line, ": "); ok && (k == "goos" || k == "goarch" || k == "cpu") {
			res.header[k] = strings.TrimSpace(v)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // "BenchmarkX  ... some log", not a result
		}
		if len(f)%2 != 0 {
			return nil, fmt.Errorf("line %d: a value without its unit: %q", n, line)
		}
		m := map[string]float64{}
		for i := 2; i < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: %q is not a number: %q", n, f[i], line)
			}
			m[f[i+1]] = v
		}
		name := pkg + procsSuffix.ReplaceAllString(f[0], "")
		if _, seen := res.runs[name]; !seen {
			res.names = append(res.names, name)
		}
		res.runs[name] = append(res.runs[name], m)
	}
	return res, sc.Err()
}

// find gives the full name of a benchmark named without its package ("BenchmarkX/sub"),
// or name itself.
func (r *results) find(name string) string {
	if _, ok := r.runs[name]; ok {
		return name
	}
	for _, n := range r.names {
		if _, short, ok := strings.Cut(n, "."); ok && short == name {
			return n
		}
	}
	return name
}

// values are a benchmark's figures in one unit, one per run that has it.
func (r *results) values(name, unit string) []float64 {
	var vs []float64
	for _, m := range r.runs[r.find(name)] {
		if v, ok := m[unit]; ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// ratio divides num's figure by den's, run by run: the i-th run of each was measured in
// the same go test process, one after the other.
func (r *results) ratio(num, den, unit string) []float64 {
	a, b := r.values(num, unit), r.values(den, unit)
	var vs []float64
	for i := range min(len(a), len(b)) {
		if b[i] != 0 {
			vs = append(vs, a[i]/b[i])
		}
	}
	return vs
}

// stat is the median of repeated runs with their spread.
type stat struct {
	med, min, max float64
	n             int
}

func summarize(vs []float64) stat {
	if len(vs) == 0 {
		return stat{med: math.NaN(), min: math.NaN(), max: math.NaN()}
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{med: med, min: s[0], max: s[len(s)-1], n: len(s)}
}
