package frames

import (
	"encoding/json"
	"testing"
	"time"
)

func TestJSON(t *testing.T) {
	capture := time.UnixMilli(1761234567890)
	tests := []struct {
		rec  Record
		want string
	}{
		{&Frame{N: 41, PTS: 1366 * time.Millisecond, Luma: 0.41, Contrast: 0.18, Motion: 0.0200001, Sharpness: 0.0071234567, Scene: 1e-9},
			`{"type":"frame","n":41,"pts_ms":1366,"luma":0.41,"contrast":0.18,"motion":0.02,"sharpness":0.007123,"scene":0}`},
		{&Frame{N: 0, PTS: -33 * time.Millisecond, Luma: 1, Capture: capture, Latency: 412 * time.Millisecond},
			`{"type":"frame","n":0,"pts_ms":-33,"luma":1,"contrast":0,"motion":0,"sharpness":0,"scene":0,"capture_ms":1761234567890,"latency_ms":412}`},
		{&Event{Type: SceneCut, N: 90, PTS: 3 * time.Second, Score: 0.8312345},
			`{"type":"scene_cut","n":90,"pts_ms":3000,"score":0.831235}`},
		{&Event{Type: BlackStart, N: 30, PTS: time.Second},
			`{"type":"black_start","n":30,"pts_ms":1000}`},
		{&Event{Type: BlackEnd, N: 75, PTS: 2500 * time.Millisecond, Duration: 1500 * time.Millisecond},
			`{"type":"black_end","n":75,"pts_ms":2500,"duration_ms":1500}`},
		{&Event{Type: FreezeStart, N: 1, PTS: 33 * time.Millisecond},
			`{"type":"freeze_start","n":1,"pts_ms":33}`},
		{&Event{Type: FreezeEnd, N: 9, PTS: 300 * time.Millisecond, Duration: 267 * time.Millisecond},
			`{"type":"freeze_end","n":9,"pts_ms":300,"duration_ms":267}`},
		{&Event{Type: Thumbnail, N: 150, PTS: 5 * time.Second, File: "thumbs/\"x\"\n/000005000.jpg"},
			`{"type":"thumbnail","n":150,"pts_ms":5000,"file":"thumbs/\"x\"\n/000005000.jpg"}`},
		{&Event{Type: Skip, N: 300, PTS: 20 * time.Second, Duration: 9500 * time.Millisecond},
			`{"type":"skip","n":300,"pts_ms":20000,"duration_ms":9500}`},
		{&Summary{Frames: 452, Analysed: 452, Width: 320, Height: 240, LastPTS: 15031 * time.Millisecond,
			Duration: 15065 * time.Millisecond, SceneCuts: 5, Elapsed: 242 * time.Millisecond, FPS: 1867.77, Speed: 62.2512, Complete: true},
			`{"type":"summary","frames":452,"analysed":452,"width":320,"height":240,"first_pts_ms":0,"last_pts_ms":15031,"duration_ms":15065,"scene_cuts":5,"blacks":0,"black_ms":0,"freezes":0,"frozen_ms":0,"timecodes":0,"elapsed_ms":242,"fps":1867.8,"speed":62.25,"complete":true}`},
		{&Summary{Frames: 3, Analysed: 1, Timecodes: 1, LatencyMin: time.Second, LatencyMean: time.Second, LatencyMax: time.Second, Error: "interrupted"},
			`{"type":"summary","frames":3,"analysed":1,"width":0,"height":0,"first_pts_ms":0,"last_pts_ms":0,"duration_ms":0,"scene_cuts":0,"blacks":0,"black_ms":0,"freezes":0,"frozen_ms":0,"timecodes":1,"latency_min_ms":1000,"latency_mean_ms":1000,"latency_max_ms":1000,"elapsed_ms":0,"fps":0,"speed":0,"complete":false,"error":"interrupted"}`},
	}
	for _, tt := range tests {
		got := string(tt.rec.AppendJSON([]byte("prefix")))[len("prefix"):]
		if got != tt.want {
			t.Errorf("AppendJSON:\n got %s\nwant %s", got, tt.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("invalid JSON: %s", got)
		}
		m, err := json.Marshal(tt.rec)
		if err != nil || string(m) != tt.want {
			t.Errorf("json.Marshal = %s, %v", m, err)
		}
	}
}

func TestFrameJSONAllocs(t *testing.T) {
	f := &Frame{N: 41, PTS: 1366 * time.Millisecond, Luma: 0.41, Contrast: 0.18, Motion: 0.02, Sharpness: 0.07, Scene: 0.01,
		Capture: time.UnixMilli(1761234567890), Latency: time.Second}
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { buf = f.AppendJSON(buf[:0]) }); n != 0 {
		t.Errorf("%v allocations per frame line, want 0", n)
	}
}
