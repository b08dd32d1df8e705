package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"
)

// testServer is a Server on a real loopback listener, over a temporary media root.
type testServer struct {
	*Server
	root string // the media root
	dir  string // root/live/cam
	url  string
}

func newTestServer(t testing.TB, o Options) *testServer {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "root")
	dir := filepath.Join(root, "live", "cam")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	o.Root = root
	if o.Poll == 0 {
		o.Poll = time.Millisecond
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	// NewHTTPServer's server, as sv's: its responses that send a file cork the connection.
	hs := httptest.NewUnstartedServer(nil)
	hs.Config = NewHTTPServer(s.Handler(), nil)
	hs.Start()
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		// Every descriptor counted for a request is given back (open, closeFile).
		if !eventually(func() bool { return s.fds.Load() == 0 }) {
			t.Errorf("%d descriptors still counted once every request is over", s.fds.Load())
		}
		s.Close()
	})
	return &testServer{Server: s, root: root, dir: dir, url: hs.URL}
}

// write writes a file under root/live/cam.
func (ts *testServer) write(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(ts.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// do does a request and returns the response, its body unread.
func (ts *testServer) do(t *testing.T, method, path string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, ts.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := noGzipClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// get does a request and reads the whole body.
func (ts *testServer) get(t *testing.T, method, path string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	resp := ts.do(t, method, path, header)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, b
}

// fetch does a request and reads the whole body, for goroutines other than the test's.
func (ts *testServer) fetch(method, path string, header http.Header) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, ts.url+path, nil)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := noGzipClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// eventually reports whether cond became true within testenv.Hang; unlike
// testenv.WaitFor it may be called from any goroutine.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(testenv.Hang); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// noGzipClient leaves Accept-Encoding and Content-Encoding to the test.
var noGzipClient = &http.Client{
	Transport: &http.Transport{DisableCompression: true},
	Timeout:   30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// pattern makes n bytes that differ from one offset to the next.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed ^ byte(i>>8)
	}
	return b
}
