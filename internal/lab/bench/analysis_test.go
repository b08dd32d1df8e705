package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/svtool/sv/internal/lab"
	"github.com/svtool/sv/internal/testenv"
)

// BenchmarkAnalysis puts sv frames beside FFmpeg alone, on the same H.264 file as a
// browser sends it: decoding only (the floor of any analysis built on FFmpeg's decoder)
// and decoding with FFmpeg's own per-frame analysis filters (scdet, signalstats), the
// alternative to analysing in Go. It reports frames per second of wall time and the CPU
// time of the whole process tree per frame. One pass per configuration is enough:
//
//	go test -run '^$' -bench Analysis -benchtime 1x -count 1 ./bench
//
// Threads: sv frames reading a regular file decodes with FFmpeg's default threading (it
// adds -flags low_delay, one decoding thread, only for pipes, and never sets -threads), so
// the FFmpeg commands keep FFmpeg's defaults too. sv all's analysis reads a pipe: it
// decodes on one thread, which this benchmark does not show.
func BenchmarkAnalysis(b *testing.B) {
	testenv.RequireFFmpeg(b)
	sv := lab.Bin(b, lab.SV)
	// The inputs are made once per run of this benchmark (-count N makes them N times).
	dir := b.TempDir()
	runs := []struct {
		name string
		run  func(b *testing.B, in analysisInput) analysisRun
	}{
		{"sv-frames", func(b *testing.B, in analysisInput) analysisRun { return runSVFrames(b, sv, in) }},
		{"ffmpeg-decode", runFFmpegDecode},
		{"ffmpeg-filters", runFFmpegFilters},
	}
	for _, size := range []struct {
		name string
		w, h int
	}{{"480p", 640, 480}, {"720p", 1280, 720}} {
		var once sync.Once
		var in analysisInput
		input := func(b *testing.B) analysisInput {
			once.Do(func() { in = makeAnalysisInput(b, dir, size.w, size.h) })
			if in.path == "" {
				b.Fatalf("no %s input: making it failed", size.name)
			}
			return in
		}
		b.Run(size.name, func(b *testing.B) {
			for _, r := range runs {
				b.Run(r.name, func(b *testing.B) {
					in := input(b)
					var frames int64
					var wall, cpu time.Duration
					for b.Loop() {
						res := r.run(b, in)
						frames += res.frames
						wall += res.wall
						cpu += res.cpu
					}
					b.ReportMetric(float64(frames)/wall.Seconds(), "fps")
					b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(frames), "cpu-ms/frame")
				})
			}
		})
	}
}

// Analysis inputs: a moving test pattern with sensor noise, so that the decoder has real
// work, and a scene change every analysisSceneEvery seconds (hue turned and luma
// inverted), which both analyses must find.
const (
	analysisSeconds    = 20
	analysisSceneEvery = 4
)

type analysisInput struct {
	path   string
	frames int64 // decoded frames, as ffprobe counts them
	cuts   int   // scene changes
}

// analysisRun is one pass over an input.
type analysisRun struct {
	frames int64
	wall   time.Duration
	cpu    time.Duration // the process and the children it waited for (rusage)
}

// makeAnalysisInput writes the input of w x h into dir as a browser records it: H.264
// Constrained Baseline in Matroska, at Chrome MediaRecorder's default 2.5 Mbit/s, here
// with a keyframe every second.
func makeAnalysisInput(b *testing.B, dir string, w, h int) analysisInput {
	b.Helper()
	in := analysisInput{
		path: filepath.Join(dir, fmt.Sprintf("%dx%d.mkv", w, h)),
		cuts: analysisSeconds/analysisSceneEvery - 1,
	}
	every := strconv.Itoa(analysisSceneEvery)
	src := fmt.Sprintf("testsrc2=size=%dx%d:rate=30:duration=%d,hue=h=72*floor(t/%s),"+
		"negate=enable='mod(floor(t/%s),2)',noise=alls=12:allf=t", w, h, analysisSeconds, every, every)
	start := time.Now()
	gen := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", src,
		"-c:v", "libx264", "-profile:v", "baseline", "-preset", "veryfast", "-b:v", "2500k",
		"-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
		"-f", "matroska", in.path)
	if out, err := gen.CombinedOutput(); err != nil {
		b.Fatalf("make %s: %v\n%s", in.path, err, out)
	}
	count := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", in.path)
	out, err := count.Output()
	if err != nil {
		b.Fatalf("count the frames of %s: %v", in.path, err)
	}
	if in.frames, err = strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err != nil || in.frames != 30*analysisSeconds {
		b.Fatalf("%s has %q frames, want %d", in.path, out, 30*analysisSeconds)
	}
	b.Logf("made %s (%d frames) in %s", filepath.Base(in.path), in.frames, time.Since(start).Round(time.Millisecond))
	return in
}

// runTimed runs cmd and measures it; it fails the benchmark if cmd fails.
func runTimed(b *testing.B, cmd *exec.Cmd, during func()) (wall, cpu time.Duration) {
	b.Helper()
	var stderr bytes.Buffer
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	if during != nil {
		during()
	}
	err := cmd.Wait()
	wall = time.Since(start)
	if err != nil {
		b.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.Bytes())
	}
	// wait4's rusage covers the child and every descendant it waited for: sv frames
	// waits for its FFmpeg, so its figure is the whole tree's.
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// runSVFrames analyses the input with sv frames, the file on its stdin, and checks that
// it reported every frame and every scene change.
func runSVFrames(b *testing.B, sv string, in analysisInput) analysisRun {
	b.Helper()
	f, err := os.Open(in.path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(sv, "frames", "--quiet")
	cmd.Stdin = f
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var frames, cuts int64
	var sum struct {
		Frames, Analysed int64
		Complete         bool
	}
	var scanErr error
	wall, cpu := runTimed(b, cmd, func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Bytes()
			switch {
			case bytes.HasPrefix(line, []byte(`{"type":"frame",`)):
				frames++
			case bytes.HasPrefix(line, []byte(`{"type":"scene_cut",`)):
				cuts++
			case bytes.HasPrefix(line, []byte(`{"type":"summary",`)):
				scanErr = json.Unmarshal(line, &sum)
			}
		}
		if err := sc.Err(); err != nil {
			scanErr = err
		}
	})
	switch {
	case scanErr != nil:
		b.Fatalf("sv frames output: %v", scanErr)
	case frames != in.frames || sum.Frames != in.frames || sum.Analysed != in.frames || !sum.Complete:
		b.Fatalf("sv frames wrote %d frame lines and a summary of %+v, want %d complete", frames, sum, in.frames)
	case cuts != int64(in.cuts):
		b.Fatalf("sv frames found %d scene cuts, want %d", cuts, in.cuts)
	}
	return analysisRun{frames: frames, wall: wall, cpu: cpu}
}

// runFFmpegDecode decodes the input with FFmpeg and drops the frames: the floor.
func runFFmpegDecode(b *testing.B, in analysisInput) analysisRun {
	b.Helper()
	var progress bytes.Buffer
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-nostats",
		"-progress", "pipe:1", "-i", in.path, "-map", "0:v", "-f", "null", "-")
	cmd.Stdout = &progress
	wall, cpu := runTimed(b, cmd, nil)
	frames := progressFrames(progress.String())
	if frames != in.frames {
		b.Fatalf("ffmpeg decoded %d frames, want %d", frames, in.frames)
	}
	return analysisRun{frames: frames, wall: wall, cpu: cpu}
}

// progressFrames is the last frame= of FFmpeg's -progress output, -1 if none.
func progressFrames(progress string) int64 {
	n := int64(-1)
	for line := range strings.Lines(progress) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "frame="); ok {
			if i, err := strconv.ParseInt(v, 10, 64); err == nil {
				n = i
			}
		}
	}
	return n
}

// runFFmpegFilters decodes the input and analyses every frame with FFmpeg's filters,
// printing their per-frame results to a file, and checks that every frame has them and
// that every scene change was found.
func runFFmpegFilters(b *testing.B, in analysisInput) analysisRun {
	b.Helper()
	dir := b.TempDir()
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", in.path,
		"-map", "0:v", "-vf", "scdet,signalstats,metadata=mode=print:file=metadata.txt", "-f", "null", "-")
	cmd.Dir = dir // a relative file= needs no escaping in the filter graph
	wall, cpu := runTimed(b, cmd, nil)
	out, err := os.ReadFile(filepath.Join(dir, "metadata.txt"))
	if err != nil {
		b.Fatal(err)
	}
	var frames, stats, scores, cuts int64
	for line := range strings.Lines(string(out)) {
		switch {
		case strings.HasPrefix(line, "frame:"):
			frames++
		case strings.HasPrefix(line, "lavfi.signalstats.YAVG="):
			stats++
		case strings.HasPrefix(line, "lavfi.scd.score="):
			scores++
		case strings.HasPrefix(line, "lavfi.scd.time="):
			cuts++
		}
	}
	switch {
	case frames != in.frames || stats != in.frames || scores != in.frames:
		b.Fatalf("ffmpeg printed %d frames, %d with signalstats, %d with a scene score, want %d each", frames, stats, scores, in.frames)
	case cuts != int64(in.cuts):
		b.Fatalf("ffmpeg's scdet found %d scene changes, want %d", cuts, in.cuts)
	}
	return analysisRun{frames: frames, wall: wall, cpu: cpu}
}
