package bench

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/svtool/sv/internal/lab"
	"github.com/svtool/sv/internal/testenv"
	"github.com/svtool/sv/media"
)

// BenchmarkScale finds how many publishers, each sending 480p30 H.264 (~1 Mbit/s, 1 s
// GOP, Opus) in real time as a browser does, one sv all holds before any stream falls
// behind: copy adds ten publishers per step (video copied into the DASH segments),
// transcode two, up to 30 (--video h264: every stream re-encoded by the packager). Each
// step is held for SV_BENCH_SCALE_HOLD (15s) once its new streams are live, then every
// stream is checked; the ramp stops at the first step where one fell behind, and the
// result is the step before. SV_BENCH_SCALE_MAX (100) bounds both ramps; SV_BENCH_DIR,
// when set, gets scale-{copy,transcode}.json with every step's figures. It takes a while:
//
//	SV_BENCH_DIR=bench go test -run '^$' -bench Scale -benchtime 1x -count 1 -timeout 60m -v ./bench
//
// A stream falls behind when, over the hold or at its end:
//   - its sv send exited (refused, closed by the server, failed);
//   - its ingest is late: the media in the bytes sv all has taken in (sv_ingest_bytes_total,
//     mapped to media time through the file) trails the wall time since its first byte was
//     seen by more than scaleIngestSlack, or grew by less than the hold minus a second;
//   - its packager is late: the newest complete video segment ends more than
//     scalePackagerSlack of media before what was taken in, or was written longer than
//     scalePackagerSlack ago, or sv_segments_written_total grew by less than one per 1.2 s;
//   - sv_ffmpeg_restarts_total or sv_stage_failures_total counts anything for it;
//   - its manifest.mpd is not live (the session ended).
//
// Beyond /metrics answering within 30 s, sv all's answers are timed, not checked:
// /streams.json reads every live stream's manifest and newest segments, and under load
// takes seconds.
//
// The analysis skipping ahead is allowed (that is how it keeps up by design) but counted:
// the metric analysed is the most streams at which no stream's analysis skipped.
//
// The figures of each step come from /proc over the hold: the machine's CPU (all cores),
// and by group: sv all, its FFmpeg packagers, its FFmpeg analyses, the sv send
// processes, and everything else (this benchmark, other work on the machine, processes
// that ended during the hold); sv all's RSS with its children's, its open files. Other
// work on a shared machine shows in "other", and moves the limit.
func BenchmarkScale(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("BenchmarkScale reads /proc")
	}
	testenv.RequireFFmpeg(b)
	sv := lab.Bin(b, lab.SV)
	most := scaleEnvInt(b, "SV_BENCH_SCALE_MAX", 100)
	hold := scaleEnvDuration(b, "SV_BENCH_SCALE_HOLD", 15*time.Second)
	dir := b.TempDir()
	var once sync.Once
	var clip string
	for _, mode := range []scaleMode{
		{name: "copy", video: "copy", step: min(10, most), most: most},
		{name: "transcode", video: "h264", step: 2, most: min(scaleTranscodeMost, most)},
	} {
		b.Run(mode.name, func(b *testing.B) {
			once.Do(func() { clip = makeScaleClip(b, dir) })
			if clip == "" {
				b.Fatal("no input: making it failed")
			}
			in := loopScaleInput(b, clip, mode.inputLength(hold))
			var rep scaleReport
			for b.Loop() {
				rep = runScale(b, sv, in, mode, hold)
			}
			at := rep.atLimit()
			b.ReportMetric(float64(rep.Limit), "streams")
			b.ReportMetric(float64(rep.Analysed), "analysed")
			b.ReportMetric(at.CPUPct, "cpu-%")
			b.ReportMetric(at.CPUBy.SV, "sv-cpu-%")
			b.ReportMetric(at.CPUBy.FFmpegDash+at.CPUBy.FFmpegFrames, "ffmpeg-cpu-%")
			b.ReportMetric(at.CPUBy.Send, "send-cpu-%")
			b.ReportMetric(at.RSSMB, "rss-MB")
			b.ReportMetric(at.PSSMB, "pss-MB")
			b.ReportMetric(float64(at.FDs), "fds")
			b.Logf("%s: limit %d streams (%d with no analysis skipped); bottleneck: %s", mode.name, rep.Limit, rep.Analysed, rep.Bottleneck)
			if out := os.Getenv("SV_BENCH_DIR"); out != "" {
				js, err := json.MarshalIndent(rep, "", "  ")
				if err != nil {
					b.Fatal(err)
				}
				if err := os.MkdirAll(out, 0o755); err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(out, "scale-"+mode.name+".json"), append(js, '\n'), 0o644); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Bounds of the checks, and of the ramp.
const (
	// scaleTranscodeMost bounds the transcode ramp. A 480p30 transcode takes about 4% of
	// two cores (x264 veryfast, zerolatency), and twelve of them (the bound first chosen)
	// left the machine at 84%: not yet a limit.
	scaleTranscodeMost = 30
	// scaleIngestSlack is how far behind real time a stream's ingest may be: a
	// publisher's message holds 250 ms of media, and its first byte is seen at the next
	// poll of /metrics, 250 ms apart.
	scaleIngestSlack = 2 * time.Second
	// scalePackagerSlack is how stale the newest complete segment may be: low latency
	// means 1 s segments, written by FFmpeg a fraction of a second after their media.
	scalePackagerSlack = 3 * time.Second
	// scaleSegment is the segment duration of --latency low.
	scaleSegment = time.Second
	// scaleSpacing is the time between two publishers' starts within a step.
	scaleSpacing = 200 * time.Millisecond
	// scaleLiveTimeout bounds the wait for a step's publishers to have a segment.
	scaleLiveTimeout = 20 * time.Second
	// scalePoll is how often /metrics is read while waiting for publishers.
	scalePoll = 250 * time.Millisecond
)

type scaleMode struct {
	name  string
	video string // sv all --video
	step  int    // publishers added per step
	most  int    // the last step's publishers
}

// inputLength is how long a publisher's input must last: the first publisher sends for
// the whole ramp, even if every step waits as long as allowed for its streams.
func (m scaleMode) inputLength(hold time.Duration) time.Duration {
	steps := m.most / m.step
	return time.Duration(steps)*(hold+time.Duration(m.step)*scaleSpacing+scaleLiveTimeout) + 30*time.Second
}

// scaleClipSeconds is the length of the encoded clip, which is looped to the length a
// ramp needs (streams copied: no second encode).
const scaleClipSeconds = 60

// makeScaleClip encodes the publishers' clip as a browser would send it: H.264
// Constrained Baseline at ~1 Mbit/s with a keyframe every second, and Opus, in Matroska;
// the picture a test pattern with sensor noise, so that it costs a decoder what a camera's
// does.
func makeScaleClip(b *testing.B, dir string) string {
	b.Helper()
	start := time.Now()
	clip := filepath.Join(dir, "clip.mkv")
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error",
		"-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30,noise=alls=12:allf=t",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", strconv.Itoa(scaleClipSeconds),
		"-c:v", "libx264", "-profile:v", "baseline", "-preset", "veryfast", "-pix_fmt", "yuv420p",
		"-b:v", "1M", "-maxrate", "1.2M", "-bufsize", "1M", "-g", "30", "-keyint_min", "30", "-sc_threshold", "0",
		"-c:a", "libopus", "-b:a", "64k",
		"-f", "matroska", clip)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("make %s: %v\n%s", clip, err, out)
	}
	b.Logf("made a %ds 640x480@30 H.264+Opus clip in %s", scaleClipSeconds, time.Since(start).Round(time.Millisecond))
	return clip
}

// scaleInput is a publisher's input and where its media time is at each byte.
type scaleInput struct {
	path  string
	ends  []int64         // end offsets of the media blocks, in file order
	times []time.Duration // the latest media time complete at each of those ends
}

// loopScaleInput writes clip looped to at least length (timestamps go on from loop to
// loop) and indexes it.
func loopScaleInput(b *testing.B, clip string, length time.Duration) *scaleInput {
	b.Helper()
	loops := int(math.Ceil(length.Seconds() / scaleClipSeconds))
	in := &scaleInput{path: filepath.Join(b.TempDir(), "publisher.mkv")}
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-stream_loop", strconv.Itoa(loops-1),
		"-i", clip, "-c", "copy", "-f", "matroska", in.path)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("loop %s: %v\n%s", clip, err, out)
	}
	f, err := os.Open(in.path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var first, latest time.Duration
	seen := false
	_, err = media.Scan(f, func(e media.Event) error {
		if e.Kind != media.EventBlock || e.Offset < 0 {
			return nil
		}
		if !seen {
			first, seen = e.Time, true
		}
		latest = max(latest, e.Time-first)
		in.ends = append(in.ends, e.Offset+e.Size)
		in.times = append(in.times, latest)
		return nil
	})
	if err != nil {
		b.Fatalf("scan %s: %v", in.path, err)
	}
	if got := in.mediaAt(math.MaxInt64); got < length-time.Second {
		b.Fatalf("%s holds %s of media, want %s", in.path, got, length)
	}
	return in
}

// mediaAt is how much media the first n bytes of the input hold: the time of the latest
// block complete within them.
func (in *scaleInput) mediaAt(n int64) time.Duration {
	i := sort.Search(len(in.ends), func(i int) bool { return in.ends[i] > n })
	if i == 0 {
		return 0
	}
	return in.times[i-1]
}

// scaleReport is one ramp, as SV_BENCH_DIR/scale-MODE.json holds it.
type scaleReport struct {
	Mode       string      `json:"mode"`
	Limit      int         `json:"limit"`    // most streams that all kept up
	Analysed   int         `json:"analysed"` // most streams, all kept up, no analysis skipped
	Bottleneck string      `json:"bottleneck"`
	Cores      int         `json:"cores"`
	NoFile     int         `json:"nofile"` // sv all's RLIMIT_NOFILE (soft)
	HoldS      float64     `json:"hold_s"`
	Steps      []scaleStep `json:"steps"`
}

// atLimit is the step of the limit, or the first step when none kept up.
func (r *scaleReport) atLimit() scaleStep {
	for i := len(r.Steps) - 1; i >= 0; i-- {
		if r.Steps[i].Streams == r.Limit {
			return r.Steps[i]
		}
	}
	if len(r.Steps) == 0 {
		return scaleStep{}
	}
	return r.Steps[0]
}

type scaleStep struct {
	Streams int      `json:"streams"`
	OK      bool     `json:"ok"`
	Reason  string   `json:"reason,omitempty"` // the first stream that fell behind, and why
	Behind  int      `json:"behind"`           // streams that fell behind
	more    []string // the next ones
	// From the first new publisher's start until every new stream had a segment.
	LiveS float64 `json:"live_s"`
	// CPU over the hold, in % of all cores.
	CPUPct float64  `json:"cpu_pct"`
	CPUBy  scaleCPU `json:"cpu_by"`
	// At the end of the hold.
	// Memory of sv all and its children, MiB: RSS counts the pages the FFmpeg processes
	// share (their libraries) once per process, PSS shares them out.
	RSSMB      float64 `json:"rss_mb"`
	SVRSSMB    float64 `json:"sv_rss_mb"` // sv all's own RSS
	PSSMB      float64 `json:"pss_mb"`
	FDs        int     `json:"fds"` // sv all's open files
	MemAvailMB float64 `json:"mem_available_mb"`
	// From the step's first new publisher to the end of the hold.
	AnalysisSkips int64 `json:"analysis_skips"`
	FramesSkipped int64 `json:"frames_skipped"`
	// Over the hold, all streams.
	IngestMessages int64   `json:"ingest_messages"`
	IngestBytes    int64   `json:"ingest_bytes"`
	StreamMbps     float64 `json:"stream_mbps"` // per stream, on average
	// The worst stream at the end of the hold. The ingest's is measured from the first
	// poll that saw bytes, up to 250 ms after the first byte: it can be below 0.
	IngestLagS   float64 `json:"max_ingest_lag_s"`
	PackagerLagS float64 `json:"max_packager_lag_s"`
	// How long sv all took to answer, at the end of the hold: /metrics, and
	// /streams.json (which reads every live stream's manifest and newest segments), with
	// the live streams it listed.
	MetricsMS       int64 `json:"metrics_ms"`
	StreamsJSONMS   int64 `json:"streams_json_ms"`
	StreamsJSONLive int   `json:"streams_json_live"`
}

type scaleCPU struct {
	SV           float64 `json:"sv"`
	FFmpegDash   float64 `json:"ffmpeg_dash"`
	FFmpegFrames float64 `json:"ffmpeg_frames"`
	Send         float64 `json:"send"`
	Other        float64 `json:"other"`
}

// scaleRun is one ramp in progress.
type scaleRun struct {
	b      *testing.B
	sv     string
	in     *scaleInput
	mode   scaleMode
	hold   time.Duration
	addr   string
	out    string
	all    *lab.Child
	pubs   []*scalePublisher
	client *http.Client
	roles  map[int]string // sv all's children seen, by pid: "ffmpeg_dash", "ffmpeg_frames" or "other"
}

type scalePublisher struct {
	name      string
	proc      *lab.Child
	firstSeen time.Time // the first poll of /metrics that counted bytes from it
}

func runScale(b *testing.B, sv string, in *scaleInput, mode scaleMode, hold time.Duration) scaleReport {
	r := &scaleRun{b: b, sv: sv, in: in, mode: mode, hold: hold, addr: lab.FreeAddr(b),
		out: filepath.Join(b.TempDir(), "out"), client: &http.Client{Timeout: 30 * time.Second}, roles: map[int]string{}}
	defer r.client.CloseIdleConnections()
	// The seekable copies are made after the measurement, and would only slow the stop.
	r.all = lab.Start(b, exec.Command(sv, "all", "--listen", r.addr, "--out", r.out, "--latency", "low",
		"--max-streams", "1000", "--video", mode.video, "--seekable=false"))
	lab.WaitListen(b, r.addr)
	rep := scaleReport{Mode: mode.name, Cores: runtime.NumCPU(), NoFile: lab.NofileLimit(r.all.Pid()), HoldS: hold.Seconds()}
	b.Logf("%s: sv all --video %s, RLIMIT_NOFILE %d, %d cores, steps of %d up to %d, held %s",
		mode.name, mode.video, rep.NoFile, rep.Cores, mode.step, mode.most, hold)

	var failed *scaleStep
	for n := mode.step; n <= mode.most; n += mode.step {
		st := r.step(n)
		rep.Steps = append(rep.Steps, st)
		b.Logf("%s", st)
		if len(st.more) > 0 {
			b.Logf("%3d streams: also behind: %s", n, strings.Join(st.more[:min(len(st.more), 5)], "; "))
		}
		if !st.OK {
			failed = &st
			break
		}
		rep.Limit = n
	}
	for _, st := range rep.Steps {
		if !st.OK || st.AnalysisSkips > 0 {
			break
		}
		rep.Analysed = st.Streams
	}
	switch {
	case failed != nil:
		rep.Bottleneck = bottleneck(*failed, rep.NoFile)
	case len(rep.Steps) > 0:
		rep.Bottleneck = fmt.Sprintf("none up to %d streams, the end of the ramp; at %d: %s",
			mode.most, rep.Limit, bottleneck(rep.Steps[len(rep.Steps)-1], rep.NoFile))
	}
	r.stop()
	return rep
}

// stop interrupts sv all as Ctrl-C does, which closes the publishers, and reaps everyone.
func (r *scaleRun) stop() {
	start := time.Now()
	clean := r.all.Stop(os.Interrupt, time.Minute)
	if clean {
		r.b.Logf("sv all stopped %s after the interrupt, with %d streams (exit %d)",
			time.Since(start).Round(time.Millisecond), len(r.pubs), r.all.ExitCode())
	} else {
		r.b.Errorf("sv all did not stop within a minute of the interrupt, with %d streams: killed", len(r.pubs))
	}
	var errs []string
	for line := range strings.Lines(r.all.Log.String()) {
		if strings.Contains(line, "level=ERROR") {
			errs = append(errs, strings.TrimSpace(line))
		}
	}
	if len(errs) > 0 {
		r.b.Logf("sv all logged %d errors; the first: %s", len(errs), errs[0])
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range r.pubs {
		p.proc.Stop(os.Interrupt, time.Until(deadline))
	}
}

// step adds publishers up to n, holds, and checks every stream.
func (r *scaleRun) step(n int) scaleStep {
	st := scaleStep{Streams: n}
	before, _ := r.scrape()
	var added []*scalePublisher
	start := time.Now()
	for i := len(r.pubs) + 1; i <= n; i++ {
		if len(added) > 0 {
			time.Sleep(scaleSpacing)
		}
		name := "s" + strconv.Itoa(i)
		p := &scalePublisher{name: name, proc: lab.Start(r.b, exec.Command(r.sv, "send", "--quiet", "--rate", "realtime",
			r.in.path, "ws://"+r.addr+"/ingest/"+name))}
		r.pubs = append(r.pubs, p)
		added = append(added, p)
	}
	r.waitLive(added)
	st.LiveS = round1(time.Since(start).Seconds())
	a := r.sample()
	time.Sleep(r.hold)
	z := r.sample()
	r.check(&st, before, a, z)
	st.MetricsMS = z.metricsIn.Milliseconds()
	var err error
	var took time.Duration
	st.StreamsJSONLive, took, err = r.streamsJSON()
	st.StreamsJSONMS = took.Milliseconds()
	if err != nil {
		r.b.Logf("%d streams: /streams.json: %v", n, err)
	}
	return st
}

// waitLive polls /metrics until each publisher in pubs has had a segment packaged, or
// has gone, or scaleLiveTimeout has passed; it notes when their first bytes are seen.
func (r *scaleRun) waitLive(pubs []*scalePublisher) {
	deadline := time.Now().Add(scaleLiveTimeout)
	for {
		m, err := r.scrape()
		now := time.Now()
		live := 0
		for _, p := range pubs {
			c := m[p.name]
			if err == nil && c != nil && c.bytes > 0 && p.firstSeen.IsZero() {
				p.firstSeen = now
			}
			if c != nil && c.segments > 0 || p.proc.Exited() {
				live++
			}
		}
		if live == len(pubs) || now.After(deadline) || r.all.Exited() {
			return
		}
		time.Sleep(scalePoll)
	}
}

// scaleSample is what the checks and the figures need, at one moment.
type scaleSample struct {
	at         time.Time
	busy, all  int64 // machine CPU ticks: busy, and all (every core)
	procs      map[int]scaleProc
	metrics    map[string]*scaleCounters
	metricsErr error
	metricsAt  time.Time // when the answer had arrived
	metricsIn  time.Duration
	packaged   map[string]scalePackaged
}

// scalePackaged is what a stream's folder shows, right after the metrics were read.
type scalePackaged struct {
	segment int           // the newest complete video segment, 0 if none
	age     time.Duration // since it was last written
	live    bool          // manifest.mpd is dynamic
}

type scaleProc struct {
	role  string // "sv", "ffmpeg_dash", "ffmpeg_frames", "send", "other"
	ticks int64
	rss   int64 // pages
}

func (r *scaleRun) sample() scaleSample {
	s := scaleSample{at: time.Now(), procs: map[int]scaleProc{}}
	s.busy, s.all = lab.MachineTicks()
	sends := map[int]bool{}
	for _, p := range r.pubs {
		sends[p.proc.Pid()] = true
	}
	svPid := r.all.Pid()
	for _, p := range lab.Processes() {
		role := ""
		switch {
		case p.Pid == svPid:
			role = "sv"
		case sends[p.Pid]:
			role = "send"
		case p.PPid == svPid:
			role = r.childRole(p.Pid)
		default:
			continue
		}
		s.procs[p.Pid] = scaleProc{role: role, ticks: p.Ticks, rss: p.RSS}
	}
	start := time.Now()
	s.metrics, s.metricsErr = r.scrape()
	s.metricsAt = time.Now()
	s.metricsIn = s.metricsAt.Sub(start)
	s.packaged = map[string]scalePackaged{}
	for _, p := range r.pubs {
		dir := filepath.Join(r.out, "live", p.name)
		var pk scalePackaged
		var written time.Time
		pk.segment, written = newestSegment(dir)
		pk.age = time.Since(written)
		pk.live = dynamicManifest(dir)
		s.packaged[p.name] = pk
	}
	return s
}

// childRole tells sv all's FFmpeg packagers from its analyses by their arguments.
func (r *scaleRun) childRole(pid int) string {
	if role, ok := r.roles[pid]; ok {
		return role
	}
	role := "other"
	if args, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		argv := strings.Split(string(args), "\x00")
		switch {
		case filepath.Base(argv[0]) != "ffmpeg":
		case slices.Contains(argv, "pipe:4"): // its first output, to sv's packager
			role = "ffmpeg_dash"
		case slices.Contains(argv, "rawvideo"):
			role = "ffmpeg_frames"
		}
	}
	r.roles[pid] = role
	return role
}

// check fills in st from the samples: before the step's publishers started, at the start
// of the hold (a) and at its end (z).
func (r *scaleRun) check(st *scaleStep, before map[string]*scaleCounters, a, z scaleSample) {
	fail := func(format string, args ...any) {
		if st.Reason == "" {
			st.Reason = fmt.Sprintf(format, args...)
		}
	}
	// The figures.
	if d := z.all - a.all; d > 0 {
		pct := func(ticks int64) float64 { return round1(100 * float64(ticks) / float64(d)) }
		by := map[string]int64{}
		for pid, p := range z.procs {
			t := p.ticks
			if pa, ok := a.procs[pid]; ok && pa.role == p.role {
				t -= pa.ticks
			}
			by[p.role] += t
		}
		busy := z.busy - a.busy
		st.CPUPct = pct(busy)
		st.CPUBy = scaleCPU{SV: pct(by["sv"]), FFmpegDash: pct(by["ffmpeg_dash"]), FFmpegFrames: pct(by["ffmpeg_frames"]),
			Send: pct(by["send"]), Other: pct(max(0, busy-by["sv"]-by["ffmpeg_dash"]-by["ffmpeg_frames"]-by["send"]))}
	}
	var rss, svRSS, pss int64
	for pid, p := range z.procs {
		switch p.role {
		case "send":
			continue
		case "sv":
			svRSS = p.rss
		}
		rss += p.rss
		pss += lab.ProportionalSet(pid)
	}
	mib := func(bytes int64) float64 { return round1(float64(bytes) / (1 << 20)) }
	page := int64(os.Getpagesize())
	st.RSSMB, st.SVRSSMB, st.PSSMB = mib(rss*page), mib(svRSS*page), mib(pss)
	st.FDs = lab.OpenFiles(r.all.Pid())
	st.MemAvailMB = round1(float64(lab.MemAvailable()) / (1 << 20))

	// The checks.
	if r.all.Exited() {
		fail("sv all exited: %v: %s", r.all.Cmd.ProcessState, lastLine(r.all.Log.String()))
	}
	if z.metricsErr != nil || a.metricsErr != nil {
		fail("sv all did not answer /metrics: %v", errors.Join(a.metricsErr, z.metricsErr))
	}
	wantSegments := int64(r.hold / (scaleSegment * 6 / 5))
	ingestLag, packagerLag := math.Inf(-1), math.Inf(-1)
	for _, p := range r.pubs {
		var why []string
		behind := func(format string, args ...any) { why = append(why, fmt.Sprintf(format, args...)) }
		ca, cz := a.metrics[p.name], z.metrics[p.name]
		if cb := before[p.name]; cz != nil {
			if cb == nil {
				cb = &scaleCounters{}
			}
			st.AnalysisSkips += int64(cz.skips - cb.skips)
			st.FramesSkipped += int64(cz.framesSkipped - cb.framesSkipped)
		}
		if ca != nil && cz != nil {
			st.IngestMessages += int64(cz.messages - ca.messages)
			st.IngestBytes += int64(cz.bytes - ca.bytes)
		}
		switch {
		case p.proc.Exited() && p.proc.ExitCode() == 0:
			behind("sv send finished its input: make the input longer for this ramp")
		case p.proc.Exited():
			behind("sv send exited %d: %s", p.proc.ExitCode(), lastLine(p.proc.Log.String()))
		}
		if cz == nil || ca == nil || p.firstSeen.IsZero() {
			behind("nothing received")
		} else {
			got := r.in.mediaAt(int64(cz.bytes))
			lag := z.metricsAt.Sub(p.firstSeen) - got
			ingestLag = max(ingestLag, lag.Seconds())
			if lag > scaleIngestSlack {
				behind("ingest %.1fs behind real time", lag.Seconds())
			}
			if held := got - r.in.mediaAt(int64(ca.bytes)); held < r.hold-time.Second {
				behind("ingest took in %.1fs of media in the %s hold", held.Seconds(), r.hold)
			}
			pk := z.packaged[p.name]
			if pk.segment == 0 {
				behind("no complete segment")
			} else {
				// Segment n holds the media from n-1 to n segment durations.
				lag := got - time.Duration(pk.segment)*scaleSegment
				packagerLag = max(packagerLag, lag.Seconds())
				if lag > scalePackagerSlack {
					behind("packager %.1fs behind the ingest (newest segment %d)", lag.Seconds(), pk.segment)
				}
				if pk.age > scalePackagerSlack {
					behind("newest segment (%d) written %.1fs ago", pk.segment, pk.age.Seconds())
				}
			}
			if n := int64(cz.segments - ca.segments); n < wantSegments {
				behind("%d segments written in the %s hold, want %d or more", n, r.hold, wantSegments)
			}
			if cz.restarts > 0 {
				behind("%.0f FFmpeg restarts", cz.restarts)
			}
			if cz.failures > 0 {
				behind("%.0f stage failures", cz.failures)
			}
		}
		if !z.packaged[p.name].live {
			behind("its manifest is not live")
		}
		if len(why) > 0 {
			st.Behind++
			if st.Reason != "" {
				st.more = append(st.more, p.name+": "+strings.Join(why, "; "))
			}
			fail("%s: %s", p.name, strings.Join(why, "; "))
		}
	}
	if !math.IsInf(ingestLag, -1) {
		st.IngestLagS = round1(ingestLag)
	}
	if !math.IsInf(packagerLag, -1) {
		st.PackagerLagS = round1(packagerLag)
	}
	if held := z.metricsAt.Sub(a.metricsAt).Seconds(); held > 0 {
		st.StreamMbps = math.Round(float64(st.IngestBytes)*8/1e6/held/float64(st.Streams)*100) / 100
	}
	st.OK = st.Reason == ""
}

func (st scaleStep) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%3d streams: ", st.Streams)
	if st.OK {
		b.WriteString("ok")
	} else {
		fmt.Fprintf(&b, "BEHIND (%d): %s", st.Behind, st.Reason)
	}
	fmt.Fprintf(&b, " | live after %.1fs", st.LiveS)
	c := st.CPUBy
	fmt.Fprintf(&b, " | cpu %.0f%% (sv %.1f, ffmpeg dash %.1f, ffmpeg frames %.1f, send %.1f, other %.1f)",
		st.CPUPct, c.SV, c.FFmpegDash, c.FFmpegFrames, c.Send, c.Other)
	fmt.Fprintf(&b, " | rss %.0f MiB (sv all %.0f), pss %.0f MiB | fds %d | mem avail %.0f MiB", st.RSSMB, st.SVRSSMB, st.PSSMB, st.FDs, st.MemAvailMB)
	fmt.Fprintf(&b, " | ingest over the hold %d msgs %.1f MB (%.2f Mbit/s per stream) | worst lag ingest %.1fs packager %.1fs | analysis skips %d (%d frames)",
		st.IngestMessages, float64(st.IngestBytes)/1e6, st.StreamMbps, st.IngestLagS, st.PackagerLagS, st.AnalysisSkips, st.FramesSkipped)
	fmt.Fprintf(&b, " | /metrics %d ms, /streams.json %d ms (%d live)", st.MetricsMS, st.StreamsJSONMS, st.StreamsJSONLive)
	return b.String()
}

// bottleneck names what ran out at a step, from its figures.
func bottleneck(st scaleStep, nofile int) string {
	type group struct {
		name string
		pct  float64
	}
	c := st.CPUBy
	groups := []group{{"FFmpeg analysis", c.FFmpegFrames}, {"FFmpeg packagers", c.FFmpegDash}, {"sv all", c.SV}, {"sv send", c.Send}, {"other processes", c.Other}}
	slices.SortStableFunc(groups, func(x, y group) int { return cmp.Compare(y.pct, x.pct) })
	var split []string
	for _, g := range groups {
		split = append(split, fmt.Sprintf("%s %.0f%%", g.name, g.pct))
	}
	cpu := fmt.Sprintf("machine CPU %.0f%% of %d cores (%s)", st.CPUPct, runtime.NumCPU(), strings.Join(split, ", "))
	switch {
	case nofile > 0 && st.FDs >= nofile*9/10:
		return fmt.Sprintf("file descriptors: sv all has %d open of %d; %s", st.FDs, nofile, cpu)
	case st.MemAvailMB < 512:
		return fmt.Sprintf("memory: %.0f MiB available; %s", st.MemAvailMB, cpu)
	case st.CPUPct >= 90:
		return fmt.Sprintf("CPU, %s: %s", groups[0].name, cpu)
	}
	if st.Reason != "" {
		return fmt.Sprintf("not CPU, memory or files (%s): %s", cpu, st.Reason)
	}
	return cpu
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// scaleCounters are one stream's series in /metrics (summed over stages).
type scaleCounters struct {
	bytes, messages, segments, framesSkipped, skips, restarts, failures float64
}

// scrape reads sv all's /metrics.
func (r *scaleRun) scrape() (map[string]*scaleCounters, error) {
	resp, err := r.client.Get("http://" + r.addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	m := map[string]*scaleCounters{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, `{stream="`)
		if !ok {
			continue
		}
		stream, rest, ok := strings.Cut(rest, `"`)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(rest[strings.LastIndexByte(rest, ' ')+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("/metrics: %q: %w", line, err)
		}
		c := m[stream]
		if c == nil {
			c = &scaleCounters{}
			m[stream] = c
		}
		switch name {
		case "sv_ingest_bytes_total":
			c.bytes = v
		case "sv_ingest_messages_total":
			c.messages = v
		case "sv_segments_written_total":
			c.segments = v
		case "sv_frames_skipped_total":
			c.framesSkipped = v
		case "sv_analysis_skips_total":
			c.skips = v
		case "sv_ffmpeg_restarts_total":
			c.restarts += v
		case "sv_stage_failures_total":
			c.failures += v
		}
	}
	return m, sc.Err()
}

// streamsJSON times /streams.json and counts the live streams it lists.
func (r *scaleRun) streamsJSON() (live int, took time.Duration, err error) {
	start := time.Now()
	resp, err := r.client.Get("http://" + r.addr + "/streams.json")
	if err != nil {
		return 0, time.Since(start), err
	}
	defer resp.Body.Close()
	var list struct {
		Streams []struct {
			Name string `json:"name"`
			Live bool   `json:"live"`
		} `json:"streams"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return 0, time.Since(start), fmt.Errorf("/streams.json: %w", err)
	}
	for _, s := range list.Streams {
		if s.Live {
			live++
		}
	}
	return live, time.Since(start), nil
}

// newestSegment is the number of the newest complete video segment in dir (FFmpeg writes
// NAME.tmp and renames it when complete), 0 if none, and when it was last written.
func newestSegment(dir string) (n int, written time.Time) {
	entries, _ := os.ReadDir(dir)
	name := ""
	for _, e := range entries {
		num, isSeg := strings.CutPrefix(e.Name(), "chunk-stream0-")
		num, isSeg2 := strings.CutSuffix(num, ".m4s")
		if !isSeg || !isSeg2 {
			continue
		}
		num = num[strings.LastIndexByte(num, '-')+1:] // after the run: chunk-stream0-RUN-00001.m4s
		if i, err := strconv.Atoi(num); err == nil && i > n {
			n, name = i, e.Name()
		}
	}
	if name == "" {
		return 0, time.Time{}
	}
	fi, err := os.Stat(filepath.Join(dir, name))
	if err != nil {
		return 0, time.Time{}
	}
	return n, fi.ModTime()
}

// dynamicManifest reports whether dir's manifest.mpd is a live one.
func dynamicManifest(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "manifest.mpd"))
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 4096) // the MPD element and its attributes come first
	n, _ := io.ReadFull(f, head)
	return strings.Contains(string(head[:n]), `type="dynamic"`)
}

func scaleEnvInt(b *testing.B, name string, def int) int {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

func scaleEnvDuration(b *testing.B, name string, def time.Duration) time.Duration {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 2*time.Second {
		b.Fatalf("%s=%q: want a duration of 2s or more", name, s)
	}
	return d
}
