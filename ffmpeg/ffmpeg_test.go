package ffmpeg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"
)

func TestNotFound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ffmpeg")
	_, err := Start(context.Background(), Config{Path: path})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Start with a missing binary: %v, want ErrNotFound", err)
	}
	// The fact, and which binary: what to do about it is the caller's to say.
	if want := "ffmpeg not found: " + path; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestProgress(t *testing.T) {
	testenv.RequireFFmpeg(t)
	var reports []Progress
	p, err := Start(context.Background(), Config{
		Args: []string{"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30", "-t", "2",
			"-c:v", "rawvideo", "-f", "null", "-"},
		Progress:       func(pr Progress) { reports = append(reports, pr) },
		ProgressPeriod: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(reports) == 0 {
		t.Fatal("no progress reports")
	}
	last := reports[len(reports)-1]
	if !last.End || last.Frame != 60 || last.OutTime != 2*time.Second {
		t.Errorf("last report = %+v, want End, 60 frames, 2s", last)
	}
	for _, r := range reports[:len(reports)-1] {
		if r.End {
			t.Errorf("End before the last report: %+v", r)
		}
	}
}

// TestStdinStdout pipes raw audio through FFmpeg unchanged, both through Process.Stdin and
// through Config.Stdin.
func TestStdinStdout(t *testing.T) {
	testenv.RequireFFmpeg(t)
	in := make([]byte, 1<<20)
	for i := range in {
		in[i] = byte(i * 7)
	}
	args := []string{"-f", "s16le", "-ar", "8000", "-ac", "1", "-i", "pipe:0", "-f", "s16le", "pipe:1"}
	for _, viaConfig := range []bool{false, true} {
		t.Run(fmt.Sprintf("config=%v", viaConfig), func(t *testing.T) {
			var out bytes.Buffer
			cfg := Config{Args: args, Stdout: &out}
			if viaConfig {
				cfg.Stdin = bytes.NewReader(in)
			}
			p, err := Start(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !viaConfig {
				if _, err := p.Stdin().Write(in); err != nil {
					t.Fatal(err)
				}
				p.Stdin().Close()
			} else if p.Stdin() != nil {
				t.Error("Stdin() is not nil with Config.Stdin set")
			}
			if err := p.Wait(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), in) {
				t.Errorf("got %d bytes back, want the %d written", out.Len(), len(in))
			}
		})
	}
}

func TestExitError(t *testing.T) {
	testenv.RequireFFmpeg(t)
	var log bytes.Buffer
	p, err := Start(context.Background(), Config{
		Args: []string{"-i", filepath.Join(t.TempDir(), "missing.webm"), "-f", "null", "-"},
		Log:  slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Wait()
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("Wait = %v, want *ExitError", err)
	}
	if ee.State.ExitCode() != 1 || ee.Killed {
		t.Errorf("exit code %d, killed %v; want 1, false", ee.State.ExitCode(), ee.Killed)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "ffmpeg exited with status 1: ") || !strings.Contains(msg, "No such file or directory") {
		t.Errorf("error %q does not carry the status and log", msg)
	}
	if !strings.Contains(log.String(), "No such file or directory") {
		t.Errorf("log not copied: %q", log.String())
	}
	if tail := p.Tail(); len(tail) == 0 || !strings.Contains(tail[len(tail)-1], "No such file") {
		t.Errorf("Tail = %q", tail)
	}
}

func TestTailKeepsLastLines(t *testing.T) {
	p := &Process{}
	var in bytes.Buffer
	for i := range 50 {
		fmt.Fprintf(&in, "line %d\r\n", i)
	}
	in.WriteString(strings.Repeat("x", 10000)) // unterminated and over-long
	var out bytes.Buffer
	p.readLog(&in, slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})))
	tail := p.Tail()
	if len(tail) != tailLines {
		t.Fatalf("tail has %d lines, want %d", len(tail), tailLines)
	}
	if tail[0] != "line 31" || len(tail[19]) != maxLine+3 {
		t.Errorf("tail = %q ... %d bytes", tail[0], len(tail[19]))
	}
	if got := strings.Count(out.String(), "\n"); got != 51 {
		t.Errorf("log has %d lines, want 51", got)
	}
}

// TestStopClosesStdin: FFmpeg reading a pipe ends cleanly once its stdin is closed, with
// no signal: the grace before one is longer than any test waits.
func TestStopClosesStdin(t *testing.T) {
	testenv.RequireFFmpeg(t)
	out := filepath.Join(t.TempDir(), "out.wav")
	p, err := Start(context.Background(), Config{
		Args: []string{"-f", "s16le", "-ar", "8000", "-ac", "1", "-i", "pipe:0", out},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Stdin().Write(make([]byte, 16000)); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(testenv.Hang); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	signalled := p.stopping
	p.mu.Unlock()
	if signalled {
		t.Error("FFmpeg needed SIGINT: stdin was not closed")
	}
	if st, err := os.Stat(out); err != nil || st.Size() < 16000 {
		t.Errorf("output not finalized: %v", err)
	}
}

// TestStopInterrupts: FFmpeg that does not read stdin stops on SIGINT and still finalizes
// its output; that counts as a clean stop.
func TestStopInterrupts(t *testing.T) {
	testenv.RequireFFmpeg(t)
	out := filepath.Join(t.TempDir(), "out.mkv")
	p, err := Start(context.Background(), Config{
		Args: []string{"-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30",
			"-c:v", "rawvideo", out},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Frames written, so that there is something to finalize.
	testenv.WaitFor(t, "FFmpeg's first frames", func() bool {
		st, err := os.Stat(out)
		return err == nil && st.Size() > 100_000
	})
	// FFmpeg does not end at the end of its stdin here: SIGINT comes after the grace, and
	// FFmpeg has as long again to finalize its output before it is killed.
	if err := p.Stop(2 * time.Second); err != nil {
		t.Fatalf("Stop = %v, want nil after SIGINT", err)
	}
	probe, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration",
		"-of", "csv=p=0", out).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	if d, _ := strconv.ParseFloat(strings.TrimSpace(string(probe)), 64); d <= 0 {
		t.Errorf("output duration %q: not finalized", probe)
	}
}

// stubborn writes a fake ffmpeg that ignores SIGINT and stdin's end.
func stubborn(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "ffmpeg")
	script := "#!/bin/sh\ntrap '' INT\necho 'stubborn: started' >&2\nexec sleep 30\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStopKills(t *testing.T) {
	p, err := Start(context.Background(), Config{Path: stubborn(t)})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Stop(100 * time.Millisecond)
	var ee *ExitError
	if !errors.As(err, &ee) || !ee.Killed {
		t.Fatalf("Stop = %v, want a killed *ExitError", err)
	}
	if !strings.Contains(err.Error(), "did not stop in time") {
		t.Errorf("error %q", err)
	}
}

func TestContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, Config{Path: stubborn(t), Grace: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	err = p.Wait()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Wait = %v, want context.Canceled", err)
	}
	var ee *ExitError
	if !errors.As(err, &ee) || !ee.Killed {
		t.Errorf("Wait = %v, want it to wrap a killed *ExitError", err)
	}
	if err := p.Wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("second Wait = %v", err)
	}
}

// TestParentDeath kills a process that started FFmpeg with SIGKILL (no chance to clean up)
// and checks that FFmpeg goes too.
func TestParentDeath(t *testing.T) {
	testenv.RequireFFmpeg(t)
	if os.Getenv("SV_FFMPEG_TEST_PARENT") == "1" {
		p, err := Start(context.Background(), Config{
			Args: []string{"-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30", "-f", "null", "-"},
		})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(p.Pid())
		select {}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestParentDeath$")
	cmd.Env = append(os.Environ(), "SV_FFMPEG_TEST_PARENT=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("helper: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("helper said %q", line)
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(testenv.Hang)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("ffmpeg (pid %d) outlived its parent", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processAlive reports whether pid runs and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

func TestParseProgress(t *testing.T) {
	in := "frame=90\nfps=29.97\nstream_0_0_q=-1.0\nbitrate=N/A\ntotal_size=12345\n" +
		"out_time_us=3000000\nout_time_ms=3000000\nout_time=00:00:03.000000\ndup_frames=2\n" +
		"drop_frames=0\nspeed=1.01x\nprogress=continue\n" +
		"frame=120\r\nfps=N/A\r\nout_time_us=N/A\r\nspeed=N/A\r\nprogress=end\r\n"
	var got []Progress
	parseProgress(strings.NewReader(in), func(p Progress) { got = append(got, p) })
	want := []Progress{
		{Frame: 90, FPS: 29.97, OutTime: 3 * time.Second, Speed: 1.01, TotalSize: 12345, DupFrames: 2},
		{Frame: 120, End: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d reports, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("report %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// FuzzParseProgress: any bytes are read to the end without panicking, and every report
// comes from a progress= line.
func FuzzParseProgress(f *testing.F) {
	f.Add([]byte("frame=1\nfps=30\nout_time_us=33333\nspeed=1x\nprogress=continue\n"))
	f.Add([]byte("progress=end"))
	f.Add([]byte("speed=NaNx\nfps=1e400\nframe=-9223372036854775808\nprogress=\n"))
	f.Add(bytes.Repeat([]byte("x"), 10000))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &countingReader{r: bytes.NewReader(b)}
		n := 0
		parseProgress(r, func(Progress) { n++ })
		if r.n != int64(len(b)) {
			t.Errorf("read %d of %d bytes", r.n, len(b))
		}
		if max := bytes.Count(b, []byte("progress=")); n > max {
			t.Errorf("%d reports from %d progress= lines", n, max)
		}
	})
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestNice(t *testing.T) {
	testenv.RequireFFmpeg(t)
	p, err := Start(context.Background(), Config{
		Args: []string{"-f", "s16le", "-ar", "8000", "-ac", "1", "-i", "pipe:0", "-f", "null", "-"},
		Nice: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(time.Second)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
	if err != nil {
		t.Skip("no /proc")
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	fields := strings.Fields(rest)
	self, _ := os.ReadFile("/proc/self/stat")
	_, selfRest, _ := strings.Cut(string(self), ") ")
	selfFields := strings.Fields(selfRest)
	// Field 19 of stat is nice; fields here start at field 3.
	got, _ := strconv.Atoi(fields[16])
	ours, _ := strconv.Atoi(selfFields[16])
	if got != min(ours+5, 19) {
		t.Errorf("ffmpeg runs at nice %d, want ours (%d) + 5", got, ours)
	}
}

// records keeps the records logged through it.
type records struct{ got []slog.Record }

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	h.got = append(h.got, r)
	return nil
}
func (h *records) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *records) WithGroup(string) slog.Handler      { return h }

func TestIsLog(t *testing.T) {
	h := &records{}
	log := slog.New(h).With("stage", "dash")
	(&Process{}).readLog(strings.NewReader("Invalid data found\n"), log)
	log.Debug("a record of the stage's own")
	if len(h.got) != 2 {
		t.Fatalf("%d records, want 2", len(h.got))
	}
	if r := h.got[0]; !IsLog(r) || r.Level != slog.LevelDebug || r.Message != "Invalid data found" {
		t.Errorf("FFmpeg's line: %v %q, IsLog %v", r.Level, r.Message, IsLog(r))
	}
	if IsLog(h.got[1]) {
		t.Errorf("IsLog(%q) = true", h.got[1].Message)
	}
}

func TestPipes(t *testing.T) {
	testenv.Require(t, "ffmpeg")
	ctx := context.Background()
	p, err := Start(ctx, Config{
		Args: []string{"-loglevel", "error", "-f", "lavfi", "-i", "sine=d=0.5",
			"-map", "0", "-f", "s16le", PipeURL(0), "-map", "0", "-f", "u8", PipeURL(1)},
		Pipes:    2,
		Progress: func(Progress) {},
	})
	if err != nil {
		t.Fatal(err)
	}
	sizes := make([]int64, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sizes[i], _ = io.Copy(io.Discard, p.Pipe(i))
			p.Pipe(i).Close()
		}()
	}
	wg.Wait()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	// Half a second of 44.1 kHz mono: 2 bytes a sample in s16le, 1 in u8.
	if sizes[0] != 44100 || sizes[1] != 22050 {
		t.Errorf("pipes got %d and %d bytes, want 44100 and 22050", sizes[0], sizes[1])
	}
}
