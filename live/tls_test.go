package live

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/svtool/sv/internal/testenv"
	"github.com/svtool/sv/serve"
	"github.com/svtool/sv/ws"
)

// With TLS, one port takes publishers at wss:// and serves the media at https://, over
// HTTP/2 to a client that asks for it; the manifests name the https clock.
func TestTLS(t *testing.T) {
	testenv.RequireFFmpeg(t)
	cert, err := serve.SelfSigned([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ended := make(chan SessionStats, 1)
	addr, _ := serveTest(t, Options{Out: out, TLS: serve.TLSConfig(cert), OnSession: func(st SessionStats) { ended <- st }})
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	client := &tls.Config{RootCAs: pool}

	rec := filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm")
	f, err := os.Open(rec)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := ws.Publish(context.Background(), "wss://"+addr+"/ingest/cam", f, ws.PublishOptions{TLS: client}); err != nil {
		t.Fatalf("publish over wss: %v", err)
	}
	st := <-ended
	want, _ := os.ReadFile(rec)
	if got, err := os.ReadFile(st.Recording); err != nil || !bytes.Equal(got, want) {
		t.Errorf("the recording differs from what was sent over wss (%v)", err)
	}

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: client, ForceAttemptHTTP2: true}}
	resp, err := hc.Get("https://" + addr + "/live/cam/manifest.mpd")
	if err != nil {
		t.Fatal(err)
	}
	mpd, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Errorf("manifest: %s over %s, want 200 over HTTP/2", resp.Status, resp.Proto)
	}
	if !bytes.Contains(mpd, []byte(`value="https://`+addr+`/time`)) {
		t.Errorf("the MPD does not name the https clock:\n%s", mpd)
	}
	// Plain HTTP on the TLS port is no way in.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered on the TLS port")
		}
		resp.Body.Close()
	}
}
