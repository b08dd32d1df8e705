package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Process is one line of /proc/PID/stat.
type Process struct {
	Pid, PPid   int
	Comm, State string
	Ticks       int64 // CPU time, user and system, in clock ticks (1/100 s)
	RSS         int64 // resident pages
}

// Processes lists the processes of the machine, from /proc (none where there is none).
func Processes() []Process {
	entries, _ := os.ReadDir("/proc")
	var ps []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		open, end := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(string(b[end+1:])) // from field 3, state
		if len(f) < 22 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		rss, _ := strconv.ParseInt(f[21], 10, 64)
		ps = append(ps, Process{Pid: pid, PPid: ppid, Comm: string(b[open+1 : end]), State: f[0], Ticks: utime + stime, RSS: rss})
	}
	return ps
}

// MachineTicks reads the CPU time of every core from /proc/stat: busy, and all.
func MachineTicks() (busy, all int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	// cpu user nice system idle iowait irq softirq steal guest guest_nice; guest time is
	// counted in user already.
	f := strings.Fields(line)
	for i := 1; i < len(f) && i <= 8; i++ {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		all += v
		if i != 4 && i != 5 { // idle, iowait
			busy += v
		}
	}
	return busy, all
}

// ThreadsCPU is the CPU time that the threads of pid have used so far: the sum of their run
// times in /proc/PID/task/*/schedstat, in nanoseconds (/proc/PID/stat counts 10 ms ticks,
// too coarse for a process that uses 0.2% of a core). Threads that have exited are not
// counted.
func ThreadsCPU(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no threads in /proc (%w)", err)
	}
	var d time.Duration
	for _, t := range tasks {
		stat, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that has just exited
		}
		f := strings.Fields(string(stat))
		if len(f) != 3 {
			return 0, fmt.Errorf("unexpected %s: %q", t, stat)
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", t, err)
		}
		d += time.Duration(ns)
	}
	return d, nil
}

// PeakRSS is the most resident memory pid has used, VmHWM of /proc/PID/status, in bytes.
func PeakRSS(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(status)) {
		if v, found := strings.CutPrefix(line, "VmHWM:"); found {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

// OpenFiles is the number of files pid has open.
func OpenFiles(pid int) int {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(fds)
}

// NofileLimit is the soft RLIMIT_NOFILE of pid, 0 if unknown or unlimited.
func NofileLimit(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		}
	}
	return 0
}

// ProportionalSet is the PSS of pid, in bytes.
func ProportionalSet(pid int) int64 {
	return procKB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
}

// MemAvailable is the machine's MemAvailable, in bytes.
func MemAvailable() int64 { return procKB("/proc/meminfo", "MemAvailable:") }

// procKB reads the "key N kB" line of a /proc file, in bytes; 0 if there is none.
func procKB(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, key); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
