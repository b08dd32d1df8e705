package testenv

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// S3 is an S3-compatible server for tests: versitygw serving a temporary folder on
// loopback, each of its folders a bucket. It can be stopped and started again on the same
// address, as a store that is down for a while.
type S3 struct {
	// Endpoint is the server's URL, as http://127.0.0.1:PORT.
	Endpoint string
	// Access and Secret are the root user's credentials.
	Access, Secret string
	// Dir is the folder the buckets are kept in.
	Dir string

	t    testing.TB
	bin  string
	addr string
	log  bytes.Buffer

	mu  sync.Mutex
	cmd *exec.Cmd
}

// RequireVersityGW returns the path of versitygw, which scripts/deps.sh installs into
// $(go env GOPATH)/bin, found there even when that folder is not on PATH.
func RequireVersityGW(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(string(bytes.TrimSpace(out))) {
			p := filepath.Join(dir, "bin", "versitygw")
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				return p
			}
		}
	}
	missing(t, "versitygw is not installed: run scripts/deps.sh")
	return ""
}

// StartS3 starts an S3-compatible server on a free loopback port, stopped when the test
// ends, and waits until it answers.
func StartS3(t testing.TB) *S3 {
	t.Helper()
	s := &S3{t: t, bin: RequireVersityGW(t), Access: "svtestaccess", Secret: "svtestsecret0123456789", Dir: t.TempDir()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	ln.Close()
	s.Endpoint = "http://" + s.addr
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

// Start starts the server again after Stop, on the same address, and waits until it
// answers.
func (s *S3) Start() {
	s.t.Helper()
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return
	}
	cmd := exec.Command(s.bin, "--access", s.Access, "--secret", s.Secret, "--port", s.addr, "posix", s.Dir)
	cmd.Stdout, cmd.Stderr = &s.log, &s.log
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		s.t.Fatalf("start versitygw: %v", err)
	}
	s.cmd = cmd
	s.mu.Unlock()
	WaitFor(s.t, "versitygw to answer on "+s.addr, func() bool {
		resp, err := http.Get(s.Endpoint + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true // an anonymous request is refused: the server is up
	})
}

// Stop stops the server (kill -9: a store that vanishes) and waits for it to exit.
func (s *S3) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
	if s.t.Failed() {
		s.t.Logf("versitygw's log:\n%s", s.log.String())
	}
}
