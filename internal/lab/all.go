package lab

import (
	"bufio"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ExitInterrupted is sv's exit status after an interrupt.
const ExitInterrupted = 130

// All is sv all, on a free loopback port, its output in a temporary folder.
type All struct {
	*Child
	Addr string
	Out  string
}

// StartAll starts sv all (sv being the binary's path) with args (flags) after its
// --listen and --out, and waits until it listens.
func StartAll(t testing.TB, sv string, args ...string) *All {
	t.Helper()
	return StartAllAt(t, sv, FreeAddr(t), filepath.Join(t.TempDir(), "out"), args...)
}

// StartAllAt is StartAll listening on addr, with the output folder out: a node started
// again on the port, or on the folder, of one that was killed.
func StartAllAt(t testing.TB, sv, addr, out string, args ...string) *All {
	t.Helper()
	s := &All{Addr: addr, Out: out}
	s.Child = Start(t, exec.Command(sv, append([]string{"all", "--listen", s.Addr, "--out", s.Out}, args...)...))
	WaitListen(t, s.Addr)
	return s
}

// Metric is the value of one series of sv all's /metrics, as it is written there
// (sv_ingest_bytes_total{stream="cam"}); false when it is not there.
func (s *All) Metric(t testing.TB, series string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(s.URL("/metrics"))
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// URL is the URL of path on the server.
func (s *All) URL(path string) string { return "http://" + s.Addr + path }

// FFmpegChildren returns the pids of sv all's FFmpeg children (Linux only: nil elsewhere).
func (s *All) FFmpegChildren(t testing.TB) []int {
	t.Helper()
	if s.Exited() {
		return nil
	}
	var kids []int
	for _, p := range Processes() {
		if p.PPid == s.Pid() && p.Comm == "ffmpeg" {
			kids = append(kids, p.Pid)
		}
	}
	return kids
}

// CheckGone fails the test if one of the FFmpeg processes pids still runs.
func CheckGone(t testing.TB, pids []int, when string) {
	t.Helper()
	for _, p := range Processes() {
		if slices.Contains(pids, p.Pid) && p.Comm == "ffmpeg" && p.State != "Z" {
			t.Errorf("%s: FFmpeg %d still runs (parent %d)", when, p.Pid, p.PPid)
		}
	}
}

// Interrupt stops sv all as Ctrl-C does: it must exit 130, without errors in its log and
// without leaving any FFmpeg behind. It fails the test if sv all has not exited within two
// minutes, which only a hang takes.
func (s *All) Interrupt(t testing.TB) {
	t.Helper()
	kids := s.FFmpegChildren(t)
	start := time.Now()
	s.Signal(syscall.SIGINT)
	if !s.Wait(2 * time.Minute) {
		s.Stop(syscall.SIGKILL, 0)
		t.Errorf("sv all did not exit within 2 minutes of an interrupt")
	}
	t.Logf("sv all exited %d, %s after the interrupt", s.ExitCode(), time.Since(start).Round(time.Millisecond))
	if code := s.ExitCode(); code != ExitInterrupted {
		t.Errorf("sv all exited %d on an interrupt, want %d", code, ExitInterrupted)
	}
	CheckGone(t, kids, "after sv all exited")
	for _, line := range s.SessionLines() {
		t.Logf("sv all: %s", line)
	}
	for _, line := range strings.Split(s.Log.String(), "\n") {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("sv all logged an error: %s", line)
		}
	}
}

// SessionLines are the lines of sv all's log about the end of a session.
func (s *All) SessionLines() []string {
	var lines []string
	for _, line := range strings.Split(s.Log.String(), "\n") {
		if strings.Contains(line, "session ended") {
			lines = append(lines, line)
		}
	}
	return lines
}
