package dash_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"

	"github.com/svtool/sv/dash"
)

// Package a live stream read from stdin, as `sv recv | sv dash` does, until the input ends
// or Ctrl-C; either way the presentation is then complete.
func ExampleRun() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := dash.Run(ctx, os.Stdin, dash.Options{
		Out:     "output/live/cam",
		Latency: dash.Low,
		Ladder:  []int{720, 480, 240},
		Log:     slog.Default(),
		Progress: func(p dash.Progress) {
			fmt.Fprintf(os.Stderr, "\r%d segments, %d frames, %.2fx", p.Segments, p.Frames, p.Speed)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
}
