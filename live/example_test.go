package live_test

import (
	"context"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"

	"github.com/svtool/sv/live"
)

// The whole pipeline on one address until Ctrl-C: publishers at
// ws://127.0.0.1:8080/ingest/{stream}, pages and media at http://127.0.0.1:8080/.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	srv, err := live.New(live.Options{
		Out:      "output",
		Seekable: true,
		Log:      slog.New(slog.NewTextHandler(os.Stderr, nil)),
		OnSession: func(st live.SessionStats) {
			log.Printf("%s: %d bytes recorded in %s", st.Stream, st.Bytes, st.Recording)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	// Serve returns once every stream is finished: recordings fsynced, manifests static.
	if err := srv.Serve(ctx, ln); err != nil {
		log.Fatal(err)
	}
}
