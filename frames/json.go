package frames

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// JSON encoding of the records, by hand: a frame line is appended to a reused buffer
// without allocating, and the field order is fixed (the schema is in the package
// documentation).

// AppendJSON appends the frame as one JSON object.
func (f *Frame) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":"frame","n":`...)
	b = strconv.AppendInt(b, f.N, 10)
	b = appendMS(b, `,"pts_ms":`, f.PTS)
	b = appendMetric(b, `,"luma":`, f.Luma)
	b = appendMetric(b, `,"contrast":`, f.Contrast)
	b = appendMetric(b, `,"motion":`, f.Motion)
	b = appendMetric(b, `,"sharpness":`, f.Sharpness)
	b = appendMetric(b, `,"scene":`, f.Scene)
	if f.HasTimecode() {
		b = append(b, `,"capture_ms":`...)
		b = strconv.AppendInt(b, f.Capture.UnixMilli(), 10)
		b = appendMS(b, `,"latency_ms":`, f.Latency)
	}
	return append(b, '}')
}

// AppendJSON appends the event as one JSON object.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, e.Type.String()...)
	b = append(b, `","n":`...)
	b = strconv.AppendInt(b, e.N, 10)
	b = appendMS(b, `,"pts_ms":`, e.PTS)
	switch e.Type {
	case SceneCut:
		b = appendMetric(b, `,"score":`, e.Score)
	case BlackEnd, FreezeEnd, Skip:
		b = appendMS(b, `,"duration_ms":`, e.Duration)
	case Thumbnail:
		b = appendString(b, `,"file":`, e.File)
	}
	return append(b, '}')
}

// AppendJSON appends the summary as one JSON object.
func (s *Summary) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":"summary"`...)
	b = appendInt(b, `,"frames":`, s.Frames)
	b = appendInt(b, `,"analysed":`, s.Analysed)
	b = appendInt(b, `,"width":`, int64(s.Width))
	b = appendInt(b, `,"height":`, int64(s.Height))
	b = appendMS(b, `,"first_pts_ms":`, s.FirstPTS)
	b = appendMS(b, `,"last_pts_ms":`, s.LastPTS)
	b = appendMS(b, `,"duration_ms":`, s.Duration)
	b = appendInt(b, `,"scene_cuts":`, int64(s.SceneCuts))
	b = appendInt(b, `,"blacks":`, int64(s.Blacks))
	b = appendMS(b, `,"black_ms":`, s.Black)
	b = appendInt(b, `,"freezes":`, int64(s.Freezes))
	b = appendMS(b, `,"frozen_ms":`, s.Frozen)
	b = appendInt(b, `,"timecodes":`, s.Timecodes)
	if s.Timecodes > 0 {
		b = appendMS(b, `,"latency_min_ms":`, s.LatencyMin)
		b = appendMS(b, `,"latency_mean_ms":`, s.LatencyMean)
		b = appendMS(b, `,"latency_max_ms":`, s.LatencyMax)
	}
	b = appendMS(b, `,"elapsed_ms":`, s.Elapsed)
	b = appendFloat(b, `,"fps":`, s.FPS, 1)
	b = appendFloat(b, `,"speed":`, s.Speed, 2)
	b = append(b, `,"complete":`...)
	b = strconv.AppendBool(b, s.Complete)
	if s.Error != "" {
		b = appendString(b, `,"error":`, s.Error)
	}
	return append(b, '}')
}

// MarshalJSON encodes the frame as AppendJSON does.
func (f *Frame) MarshalJSON() ([]byte, error) { return f.AppendJSON(nil), nil }

// MarshalJSON encodes the event as AppendJSON does.
func (e *Event) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

// MarshalJSON encodes the summary as AppendJSON does.
func (s *Summary) MarshalJSON() ([]byte, error) { return s.AppendJSON(nil), nil }

func appendInt(b []byte, key string, v int64) []byte {
	return strconv.AppendInt(append(b, key...), v, 10)
}

// appendMS appends a duration as whole milliseconds.
func appendMS(b []byte, key string, d time.Duration) []byte {
	return appendInt(b, key, d.Round(time.Millisecond).Milliseconds())
}

// appendMetric appends a metric rounded to 6 decimals, in its shortest form.
func appendMetric(b []byte, key string, v float64) []byte {
	return appendFloat(b, key, v, 6)
}

func appendFloat(b []byte, key string, v float64, decimals int) []byte {
	b = append(b, key...)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, '0') // JSON has no NaN; the metrics never produce one
	}
	p := math.Pow10(decimals)
	return strconv.AppendFloat(b, math.Round(v*p)/p, 'f', -1, 64)
}

func appendString(b []byte, key, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(append(b, key...), q...)
}
