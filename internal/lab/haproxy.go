package lab

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"
)

// HAProxyConfig is the repository's HAProxy configuration for several sv all nodes.
func HAProxyConfig() string {
	return filepath.Join(here(), "..", "..", "deploy", "haproxy", "haproxy.cfg")
}

// The addresses in HAProxyConfig that HAProxyConf replaces: where it listens, and its
// nodes, in order.
const haproxyFront = "127.0.0.1:8080"

var haproxyNodes = []string{"127.0.0.1:8081", "127.0.0.1:8082", "127.0.0.1:8083"}

// HAProxy is an HAProxy of a test, in the foreground, in front of sv all nodes.
type HAProxy struct {
	*Child
	Addr string // where it listens
}

// URL is the URL of path through the balancer.
func (h *HAProxy) URL(path string) string { return "http://" + h.Addr + path }

// HAProxyConf writes the repository's HAProxy configuration with its listening address
// made front and its nodes made nodes (as many as it names), into a temporary folder of
// the test's own, and returns its path. It fails the test if the configuration does not
// name the addresses it replaces.
func HAProxyConf(t testing.TB, front string, nodes []string) string {
	t.Helper()
	b, err := os.ReadFile(HAProxyConfig())
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != len(haproxyNodes) {
		t.Fatalf("%s names %d nodes, not %d", HAProxyConfig(), len(haproxyNodes), len(nodes))
	}
	conf := string(b)
	replace := func(old, new string) {
		if !strings.Contains(conf, old) {
			t.Fatalf("%s does not name %s", HAProxyConfig(), old)
		}
		conf = strings.ReplaceAll(conf, old, new)
	}
	replace("bind "+haproxyFront+"\n", "bind "+front+"\n")
	for i, n := range haproxyNodes {
		replace(" "+n+"\n", " "+nodes[i]+"\n")
		replace(" "+n+" ", " "+nodes[i]+" ")
	}
	p := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// RequireHAProxy returns the path of HAProxy: the one on PATH, or Debian's in /usr/sbin
// (not on a user's PATH). A missing one skips the test, and fails it in CI.
func RequireHAProxy(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
		return "/usr/sbin/haproxy"
	}
	return testenv.Require(t, "haproxy")[0]
}

// StartHAProxy starts HAProxy (bin) in the foreground with the repository's
// configuration in front of nodes (addresses of sv all), on a free loopback port, and
// waits until it listens. Its log (one line a request) and its messages are the Child's
// Log.
func StartHAProxy(t testing.TB, bin string, nodes ...string) *HAProxy {
	t.Helper()
	h := &HAProxy{Addr: FreeAddr(t)}
	conf := HAProxyConf(t, h.Addr, nodes)
	if out, err := exec.Command(bin, "-c", "-q", "-f", conf).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-db", "-f", conf)
	log := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	h.Child = Start(t, cmd)
	h.Log = log
	WaitFor(t, time.Minute, "haproxy to listen on "+h.Addr, func() (bool, string) {
		if h.Exited() {
			t.Fatalf("haproxy exited: %v\n%s", h.Err(), h.Log.String())
		}
		c, err := net.DialTimeout("tcp", h.Addr, time.Second)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
	return h
}
