// Command benchreport writes BENCHMARKS.md from the output of sv's benchmarks: the
// go test -bench lines of `make bench` and the series the lab benchmarks leave in a
// folder (latency of every frame over time, the steps of the scale test). Every figure
// it prints is the median of the repeated runs with their minimum and maximum, and every
// comparison is a ratio of runs made in the same go test process.
//
//	go run ./internal/benchreport -bench bench.txt -lab benchmarks -notes benchmarks/notes.md -out BENCHMARKS.md
//
// It also draws the latency of each configuration over time into the lab folder as
// latency.svg.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	bench := flag.String("bench", "bench.txt", "go test -bench output")
	lab := flag.String("lab", "benchmarks", "folder of the lab's series (SV_BENCH_DIR); the plot is written there")
	notes := flag.String("notes", "", "markdown appended after the tables")
	out := flag.String("out", "BENCHMARKS.md", "file to write")
	settings := flag.String("settings", "", "how the benchmarks were run (counts, durations), for the header")
	flag.Parse()
	if err := run(*bench, *lab, *notes, *settings, *out); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport: error:", err)
		os.Exit(1)
	}
}

func run(benchPath, lab, notesPath, settings, out string) error {
	f, err := os.Open(benchPath)
	if err != nil {
		return err
	}
	res, err := parse(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("read %s: %w", benchPath, err)
	}
	if len(res.names) == 0 {
		return fmt.Errorf("%s holds no benchmark results", benchPath)
	}
	series, err := readLatencySeries(lab)
	if err != nil {
		return err
	}
	scale, err := readScale(lab)
	if err != nil {
		return err
	}
	var notes []byte
	if notesPath != "" {
		if notes, err = os.ReadFile(notesPath); err != nil {
			return err
		}
	}
	plot := ""
	if len(series) > 0 {
		plot = filepath.Join(lab, "latency.svg")
		if err := os.WriteFile(plot, latencySVG(series), 0o644); err != nil {
			return err
		}
		if plot, err = filepath.Rel(filepath.Dir(out), plot); err != nil {
			return err
		}
	}
	var b bytes.Buffer
	r := &report{w: &b, res: res, used: map[string]bool{}}
	viewersPlot := ""
	if cpu, late := r.viewerLines("sv-cpu-%", "cpu-%"), r.viewerLines("late-p99-ms", "late-p99-ms"); len(cpu) > 0 {
		viewersPlot = filepath.Join(lab, "viewers.svg")
		if err := os.WriteFile(viewersPlot, viewersSVG(cpu, late), 0o644); err != nil {
			return err
		}
		if viewersPlot, err = filepath.Rel(filepath.Dir(out), viewersPlot); err != nil {
			return err
		}
	}
	m := machine(res)
	if settings != "" {
		m = append(m, "run with `"+settings+"`")
	}
	r.header(m)
	r.latency(plot, series)
	r.ingest()
	r.scale(scale)
	r.viewers(viewersPlot)
	r.analysis()
	r.others()
	if len(notes) > 0 {
		b.WriteString("\n")
		b.Write(notes)
	}
	return os.WriteFile(out, b.Bytes(), 0o644)
}

// machine describes where the benchmarks ran.
func machine(res *results) []string {
	first := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			return "not found"
		}
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return line
	}
	cpu := res.header["cpu"]
	if cpu == "" {
		cpu = "unknown CPU"
	}
	mem := "?"
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(data), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
		}
	}
	return []string{
		fmt.Sprintf("%s, %d cores, %s of memory, %s/%s", cpu, runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH),
		first("go", "version"),
		first("ffmpeg", "-hide_banner", "-version"),
		first("chromium", "--version"),
		"node " + first("node", "--version"),
		"sv " + first("git", "describe", "--tags", "--always", "--dirty") + ", " + time.Now().UTC().Format("2006-01-02"),
	}
}
