// Command sv turns a camera in a web page into a live, low-latency stream: composable
// subcommands for WebSocket ingest, replay, DASH/HLS packaging, frame analysis and serving.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
