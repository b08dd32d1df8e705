package lab

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// stopGrace is how long a child still running when its test ends has to stop on an
// interrupt before it is killed.
const stopGrace = 30 * time.Second

// Child is a process of a test or a benchmark, waited for from the moment it starts, so
// that it can be watched for its end and stopped whatever happened.
type Child struct {
	Cmd  *exec.Cmd
	Log  *SyncBuffer   // its stderr, unless the caller had set cmd.Stderr
	done chan struct{} // closed once it has been waited for
	err  error         // how it ended, once done is closed
}

// Start starts cmd and waits for it in the background. When the test ends, the process is
// interrupted if it still runs (and killed if it does not stop), and, if the test failed,
// its stderr is logged.
func Start(t testing.TB, cmd *exec.Cmd) *Child {
	t.Helper()
	c := &Child{Cmd: cmd, Log: &SyncBuffer{}, done: make(chan struct{})}
	if cmd.Stderr == nil {
		cmd.Stderr = c.Log
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", c.Name(), err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		if !c.Stop(os.Interrupt, stopGrace) {
			t.Logf("%s did not stop within %s of an interrupt: killed", c.Name(), stopGrace)
		}
		if t.Failed() && c.Log.Len() > 0 {
			t.Logf("%s stderr:\n%s", c.Name(), c.Log.String())
		}
	})
	return c
}

// Name is the program and its first argument, e.g. "sv all".
func (c *Child) Name() string {
	name := filepath.Base(c.Cmd.Path)
	if len(c.Cmd.Args) > 1 && !strings.HasPrefix(c.Cmd.Args[1], "-") {
		name += " " + c.Cmd.Args[1]
	}
	return name
}

// Pid is the process id.
func (c *Child) Pid() int { return c.Cmd.Process.Pid }

// Signal sends sig to the process, if it still runs.
func (c *Child) Signal(sig os.Signal) {
	if !c.Exited() {
		c.Cmd.Process.Signal(sig)
	}
}

// Done is closed once the process has ended and been waited for.
func (c *Child) Done() <-chan struct{} { return c.done }

// Exited reports whether the process has ended.
func (c *Child) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Err is how the process ended (Wait's error), once it has.
func (c *Child) Err() error {
	<-c.done
	return c.err
}

// ExitCode is the process's exit status, once it has ended (-1 if a signal ended it).
func (c *Child) ExitCode() int {
	<-c.done
	return c.Cmd.ProcessState.ExitCode()
}

// Wait waits up to d for the process to end, and reports whether it did.
func (c *Child) Wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.done:
		return true
	case <-t.C:
		return false
	}
}

// Stop sends sig and waits up to grace, then kills; it reports whether the process ended
// by itself.
func (c *Child) Stop(sig os.Signal, grace time.Duration) bool {
	if c.Exited() {
		return true
	}
	c.Cmd.Process.Signal(sig)
	if c.Wait(max(grace, 0)) {
		return true
	}
	c.Cmd.Process.Kill()
	<-c.done
	return false
}

// SyncBuffer is a bytes.Buffer for a child's output, read while it runs.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *SyncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}
