package frames_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/svtool/sv/frames"
)

// Analyse a recording and print its scene cuts and how long it took.
func ExampleRun() {
	f, err := os.Open("../testdata/h264-cuts.webm")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	err = frames.Run(context.Background(), f, func(r frames.Record) error {
		switch r := r.(type) {
		case *frames.Event:
			if r.Type == frames.SceneCut {
				fmt.Printf("cut at %v (frame %d)\n", r.PTS, r.N)
			}
		case *frames.Summary:
			fmt.Printf("%d frames in %v\n", r.Frames, r.Elapsed)
		}
		return nil
	}, frames.Options{})
	if err != nil {
		log.Fatal(err)
	}
}

// Print every record as a JSON line, as sv frames does.
func ExampleRecord() {
	emit := func(r frames.Record) error {
		_, err := os.Stdout.Write(append(r.AppendJSON(nil), '\n'))
		return err
	}
	emit(&frames.Event{Type: frames.BlackEnd, N: 75, PTS: 2500 * time.Millisecond, Duration: 1500 * time.Millisecond})
	// Output:
	// {"type":"black_end","n":75,"pts_ms":2500,"duration_ms":1500}
}

// Draw a timecode into a picture and read it back, as the capture page and the analysis do.
func ExampleDecodeTimecode() {
	const w, h = 320, 240
	luma := make([]byte, w*h)
	capture := time.Date(2026, 3, 1, 12, 0, 0, 123e6, time.UTC)
	if err := frames.DrawTimecode(luma, w, h, w, capture.UnixMilli()); err != nil {
		log.Fatal(err)
	}
	ms, ok := frames.DecodeTimecode(luma, w, h, w)
	fmt.Println(ok, time.UnixMilli(ms).UTC())
	// Output:
	// true 2026-03-01 12:00:00.123 +0000 UTC
}

// Write records as JSON lines, as sv frames does: here only the events and the summary.
func ExampleWriter() {
	w := frames.NewWriter(os.Stdout, frames.WriterOptions{EventsOnly: true})
	w.Write(&frames.Frame{N: 0, Luma: 0.02})
	w.Write(&frames.Event{Type: frames.BlackStart, N: 0})
	w.Write(&frames.Summary{Frames: 1, Analysed: 1, Blacks: 1, Complete: true})
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// {"type":"black_start","n":0,"pts_ms":0}
	// {"type":"summary","frames":1,"analysed":1,"width":0,"height":0,"first_pts_ms":0,"last_pts_ms":0,"duration_ms":0,"scene_cuts":0,"blacks":1,"black_ms":0,"freezes":0,"frozen_ms":0,"timecodes":0,"elapsed_ms":0,"fps":0,"speed":0,"complete":true}
}
