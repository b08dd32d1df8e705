package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/svtool/sv/live"
)

// TestStatusLine: records written through the status line go above it, and the line is
// drawn again under them; set("") clears it for good.
func TestStatusLine(t *testing.T) {
	var out bytes.Buffer
	s := &statusLine{w: &out}
	s.Write([]byte("before any status\n"))
	s.set("sv: 1 live")
	s.Write([]byte("a record\n"))
	s.set("sv: 2 live")
	s.set("")
	s.Write([]byte("after\n"))
	const clear = "\r\033[K"
	want := "before any status\n" +
		clear + "sv: 1 live" +
		clear + "a record\n" + "sv: 1 live" +
		clear + "sv: 2 live" +
		clear +
		"after\n"
	if got := out.String(); got != want {
		t.Errorf("terminal got\n%q\nwant\n%q", got, want)
	}
}

// TestStatusText: bitrates over the last interval, a new session's average so far (a
// publisher that reconnected starts again from 0 bytes), viewers and restarts.
func TestStatusText(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	line, last := statusText(nil, nil, t0, time.Second)
	if line != "sv: no live streams" || len(last) != 0 {
		t.Errorf("no streams: %q %v", line, last)
	}
	streams := []live.StreamStatus{
		{Stream: "a", Since: t0.Add(-4 * time.Second), Bytes: 1_000_000, Viewers: 1},
		{Stream: "b", Since: t0.Add(-time.Second / 2), Bytes: 125_000, Viewers: 2, Restarts: 3},
	}
	line, last = statusText(streams, nil, t0, 0)
	// a: 8 Mbit in 4 s; b: 1 Mbit in half a second, averaged over at least 1 s.
	if want := "sv: 2 live | a 2.00 Mbit/s 1 viewer | b 1.00 Mbit/s 2 viewers 3 restarts"; line != want {
		t.Errorf("first redraw\n%q, want\n%q", line, want)
	}
	t1 := t0.Add(2 * time.Second)
	streams[0].Bytes += 250_000                                                             // 2 Mbit in 2 s
	streams[1] = live.StreamStatus{Stream: "b", Since: t1.Add(-time.Second), Bytes: 62_500} // reconnected
	line, _ = statusText(streams, last, t1, 2*time.Second)
	if want := "sv: 2 live | a 1.00 Mbit/s 1 viewer | b 0.50 Mbit/s 0 viewers"; line != want {
		t.Errorf("second redraw\n%q, want\n%q", line, want)
	}
	if strings.Contains(line, "-") {
		t.Errorf("a negative bitrate after a reconnect: %q", line)
	}
}
