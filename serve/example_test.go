package serve_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/svtool/sv/serve"
)

// A whole site over a media root: pages, /time, /streams.json and /live/{stream}/....
func Example() {
	root, _ := os.MkdirTemp("", "sv-example")
	defer os.RemoveAll(root)
	os.MkdirAll(filepath.Join(root, "live", "cam"), 0o755)
	os.WriteFile(filepath.Join(root, "live", "cam", "master.m3u8"), []byte("#EXTM3U\n"), 0o644)

	s, err := serve.New(serve.Options{Root: root})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- serve.Serve(ctx, ln, s.Handler(), nil, nil) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/live/cam/master.m3u8")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), strings.TrimSpace(string(body)))
	for _, st := range s.Streams() {
		fmt.Println(st.Name, "hls:", st.HLS, "live:", st.Live)
	}
	stop()
	fmt.Println(<-done)
	// Output:
	// application/vnd.apple.mpegurl public, max-age=0, s-maxage=1 #EXTM3U
	// cam hls: true live: false
	// <nil>
}

// sv all mounts the site next to its own WebSocket ingest, which the capture page then
// publishes to on the same origin.
func ExampleServer_Handler() {
	s, err := serve.New(serve.Options{Root: os.TempDir(), Ingest: serve.SameOriginIngest})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	var ingest http.Handler = http.NotFoundHandler() // sv all: a ws.Ingest
	mux := http.NewServeMux()
	mux.Handle("/ingest/", ingest)
	mux.Handle("/", s.Handler())
	fmt.Println(s.Config().Ingest)
	// Output: {ws}://{host}/ingest/{stream}
}
