package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/svtool/sv/internal/lab"
)

// browser is a headless Chromium started for one recording. It runs in its own process group
// so that stop can end the renderer, GPU and utility processes it forks as well.
type browser struct {
	cmd     *exec.Cmd
	dir     string // fresh --user-data-dir, removed by close
	logPath string
	log     *os.File
	exited  chan struct{} // closed once the browser process has been waited for
	err     error         // Wait's result, valid after exited is closed
}

// browserArgs are the lab's Chromium flags (lab.ChromiumFlags, the same as the browser
// tests'), with the fake camera at the recording's frame rate and, if asked, a file as
// the camera.
func browserArgs(o Options, userDataDir, url string) []string {
	args := append(lab.ChromiumArgs(o.FrameRate), "--user-data-dir="+userDataDir)
	if o.FakeVideo != "" {
		args = append(args, "--use-file-for-fake-video-capture="+o.FakeVideo)
	}
	return append(args, url)
}

func startBrowser(o Options, url string) (*browser, error) {
	if o.FakeVideo != "" {
		// Chromium silently falls back to its own test pattern when the file is unusable.
		if err := checkY4M(o.FakeVideo); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "recordtestdata-chromium-")
	if err != nil {
		return nil, fmt.Errorf("create user data dir: %w", err)
	}
	b := &browser{dir: dir, exited: make(chan struct{})}
	b.logPath = o.BrowserLog
	if b.logPath == "" {
		b.logPath = filepath.Join(dir, "chromium.log")
	}
	b.log, err = os.Create(b.logPath)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("create chromium log: %w", err)
	}
	profile := filepath.Join(dir, "profile")
	b.cmd = exec.Command(o.Chromium, browserArgs(o, profile, url)...)
	b.cmd.Stdout = b.log
	b.cmd.Stderr = b.log
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		b.log.Close()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	go func() {
		b.err = b.cmd.Wait()
		close(b.exited)
	}()
	return b, nil
}

func (b *browser) pid() int { return b.cmd.Process.Pid }

// stop kills the browser's process group and waits for the browser to exit. Chromium's state
// is thrown away with the temporary profile, so there is nothing to shut down gracefully.
func (b *browser) stop() error {
	// The group id is the browser's pid, which the kernel does not reuse while any member
	// of the group is alive.
	err := syscall.Kill(-b.pid(), syscall.SIGKILL)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill chromium: %w", err)
	}
	select {
	case <-b.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("chromium (pid %d) did not exit after SIGKILL", b.pid())
	}
}

// close removes the temporary profile; call it after stop.
func (b *browser) close() {
	b.log.Close()
	_ = os.RemoveAll(b.dir)
}

// logTail returns the end of Chromium's output, formatted for appending to an error.
func (b *browser) logTail() string {
	data, err := os.ReadFile(b.logPath)
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	lines = lines[max(0, len(lines)-15):]
	return "\nchromium output (last lines):\n  " + strings.Join(lines, "\n  ")
}

// checkY4M fails unless path starts like a YUV4MPEG2 file.
func checkY4M(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("fake video: %w", err)
	}
	defer f.Close()
	head := make([]byte, 10)
	if _, err := f.Read(head); err != nil || !bytes.HasPrefix(head, []byte("YUV4MPEG2 ")) {
		return fmt.Errorf("fake video %s: not a y4m file (make one with ffmpeg ... -pix_fmt yuv420p out.y4m)", path)
	}
	return nil
}
