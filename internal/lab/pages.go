package lab

import "math"

// CaptureState is what the capture page's svCapture.state() says.
type CaptureState struct {
	Phase     string   `json:"phase"`
	Sessions  int      `json:"sessions"`
	Sent      int64    `json:"sent"`
	Buffered  int64    `json:"buffered"`
	Bitrate   float64  `json:"bitrate"`
	Mime      string   `json:"mime"`
	LastClose string   `json:"lastClose"`
	Refusal   *Refusal `json:"refusal"`
	Offset    int      `json:"offset"`
	StartedAt *float64 `json:"startedAt"`
}

// Refusal is why the server refused the capture page, which then stopped.
type Refusal struct {
	Status int    `json:"status"`
	Reason string `json:"reason"`
}

// ViewerStats is what the viewer page's svViewer.stats() says.
type ViewerStats struct {
	Phase        string   `json:"phase"`
	Session      string   `json:"session"`
	Tech         string   `json:"tech"`
	Loads        int      `json:"loads"`
	CurrentTime  float64  `json:"currentTime"`
	Buffer       float64  `json:"buffer"`
	Width        int      `json:"width"`
	Height       int      `json:"height"`
	Rate         float64  `json:"rate"`
	Stalls       int      `json:"stalls"`
	StallMs      float64  `json:"stallMs"`
	Dropped      int      `json:"dropped"`
	Frames       int      `json:"frames"`
	G2G          float64  `json:"g2g"`
	TCFrames     int      `json:"tcFrames"`
	FirstFrameAt *float64 `json:"firstFrameAt"`
	Latency      float64  `json:"latency"`
	Target       float64  `json:"target"`
	LowLatency   bool     `json:"lowLatency"`
	Errors       []string `json:"errors"`
	Failure      *string  `json:"failure"`  // why the current load failed, while it waits to load again
	Failures     int      `json:"failures"` // failed loads in a row
	Analysis     struct {
		Frames  int     `json:"frames"`
		Cuts    int     `json:"cuts"`
		Latency float64 `json:"latency"`
	} `json:"analysis"`
}

// Quantile is the q-quantile of sorted values (NaN when there are none).
func Quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(len(sorted)-1, max(0, i))]
}
