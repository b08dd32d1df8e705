package lab

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// VCL is the path of the repository's Varnish configuration for sv, as users run it.
func VCL() string { return filepath.Join(here(), "..", "..", "deploy", "varnish", "sv.vcl") }

// Varnish is varnishd, in the foreground, with the repository's VCL in front of an
// origin, on a free loopback port.
type Varnish struct {
	*Child
	Addr string
	Dir  string // its working folder (varnishd -n), where its shared log is
}

// StartVarnish starts varnishd with VCL() whose backend is made origin (host:port), 64
// MB of memory for the cache and the parameters params (-p name=value), and waits until
// it listens. It stops with the test.
func StartVarnish(t testing.TB, origin string, params ...string) *Varnish {
	t.Helper()
	host, port, ok := strings.Cut(origin, ":")
	if !ok {
		t.Fatalf("origin %q: want host:port", origin)
	}
	vcl, err := os.ReadFile(VCL())
	if err != nil {
		t.Fatal(err)
	}
	conf := string(vcl)
	for _, r := range [][2]string{{`.host = "127.0.0.1";`, `.host = "` + host + `";`}, {`.port = "8080";`, `.port = "` + port + `";`}} {
		if strings.Count(conf, r[0]) != 1 {
			t.Fatalf("%s: no single %s to point at the origin", VCL(), r[0])
		}
		conf = strings.Replace(conf, r[0], r[1], 1)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "sv.vcl")
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	v := &Varnish{Addr: FreeAddr(t), Dir: filepath.Join(dir, "varnish")}
	// -j none: no jail (as root it would run its cache process as another user, who could
	// not read the test's folder).
	args := []string{"-F", "-j", "none", "-n", v.Dir, "-a", v.Addr, "-f", p, "-s", "malloc,64m"}
	for _, param := range params {
		args = append(args, "-p", param)
	}
	v.Child = Start(t, exec.Command("varnishd", args...))
	WaitListen(t, v.Addr)
	return v
}

// Pids are varnishd's processes: its manager and its cache process, which serves.
func (v *Varnish) Pids() []int {
	pids := []int{v.Pid()}
	for _, p := range Processes() {
		if p.PPid == v.Pid() {
			pids = append(pids, p.Pid)
		}
	}
	return pids
}

// VarnishLog is varnishncsa recording the requests of a Varnish, one line each.
type VarnishLog struct {
	c    *Child
	path string
}

// Record starts recording v's requests: sides "-c" (the clients'), "-b" (the backend
// requests, to the origin), or both.
func (v *Varnish) Record(t testing.TB, sides ...string) *VarnishLog {
	t.Helper()
	l := &VarnishLog{path: filepath.Join(t.TempDir(), "requests.log")}
	args := append([]string{"-n", v.Dir, "-w", l.path, "-F", `%{Varnish:side}x %s %{Varnish:handling}x %U%q`}, sides...)
	l.c = Start(t, exec.Command("varnishncsa", args...))
	// varnishncsa reads the log from where it is when it attaches: give it the moment.
	WaitFor(t, time.Minute, "varnishncsa to open "+l.path, func() (bool, string) {
		_, err := os.Stat(l.path)
		return err == nil, "not yet"
	})
	return l
}

// EdgeRequest is a request that Varnish logged.
type EdgeRequest struct {
	Backend  bool   // a request to the origin; else a client's
	Status   int    // 0 when none (a pipe)
	Handling string // a client request's: hit, miss, pass, pipe, synth
	URL      string // path and query
}

// Stop ends the recording and returns the requests recorded.
func (l *VarnishLog) Stop(t testing.TB) []EdgeRequest {
	t.Helper()
	l.c.Stop(os.Interrupt, 10*time.Second)
	f, err := os.Open(l.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var reqs []EdgeRequest
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 4 {
			continue
		}
		status, _ := strconv.Atoi(fields[1])
		reqs = append(reqs, EdgeRequest{Backend: fields[0] == "b", Status: status, Handling: fields[2], URL: fields[3]})
	}
	return reqs
}
