package frames

import (
	"math"
	"time"
)

// analyzer computes the metrics and events of a sequence of luma planes of one size. It
// owns the planes: fill the one next returns, then pass it to analyze. It keeps the
// previous plane (motion, scene) and the first plane of a possible freeze (freeze
// detection), so three planes are enough and nothing is allocated per frame.
type analyzer struct {
	o    resolved
	w, h int

	planes [3][]byte
	prev   int // index of the previous analysed plane, -1 before the first
	ref    int // index of the plane a freeze is measured against, -1 before the first

	sums planeSums
	hist histogram

	prevMotion float64
	refPTS     time.Duration
	refN       int64

	black, freeze stretch

	frame  Frame
	events []Event // of the last analyze or finish call

	sum        Summary
	latencySum time.Duration
}

// stretch tracks a run of black or frozen frames.
type stretch struct {
	on       bool // the last analysed frame belongs to it
	reported bool // its start event was emitted
	start    time.Duration
	startN   int64
}

// newAnalyzer returns an analyzer of w×h luma planes held in buffers of size bytes: the
// luma plane comes first, and whatever follows it (chroma, for thumbnails) is ignored.
func newAnalyzer(o resolved, w, h, size int) *analyzer {
	a := &analyzer{o: o, w: w, h: h, prev: -1, ref: -1, events: make([]Event, 0, 8)}
	for i := range a.planes {
		a.planes[i] = make([]byte, max(size, w*h))
	}
	a.sum.Width, a.sum.Height = w, h
	return a
}

// next returns the buffer to fill with the next frame: its luma plane, w×h bytes, stride
// w, comes first.
func (a *analyzer) next() []byte {
	for i := range a.planes {
		if i != a.prev && i != a.ref {
			return a.planes[i]
		}
	}
	return a.planes[0] // not reached: three planes, at most two held
}

func (a *analyzer) index(p []byte) int {
	for i := range a.planes {
		if &a.planes[i][0] == &p[0] {
			return i
		}
	}
	return -1
}

// analyze measures plane cur (from next, filled) of frame n at pts. The result is in
// a.frame and the events it caused in a.events, both valid until the next call.
func (a *analyzer) analyze(cur []byte, n int64, pts time.Duration) {
	ci := a.index(cur)
	w, h := a.w, a.h
	var prev []byte
	if a.prev >= 0 {
		prev = a.planes[a.prev]
	}
	measure(&a.sums, &a.hist, cur, prev, w, h, w, a.o.blackLevel)
	s := &a.sums
	npix := float64(s.n)

	f := &a.frame
	*f = Frame{N: n, PTS: pts}
	mean := float64(s.sum) / npix
	f.Luma = mean / 255
	f.Contrast = math.Sqrt(max(float64(s.sumSq)/npix-mean*mean, 0)) / 255
	if s.lapN > 0 {
		m := float64(s.lapSum) / float64(s.lapN)
		f.Sharpness = max(float64(s.lapSq)/float64(s.lapN)-m*m, 0) / (255 * 255)
	}
	if prev != nil {
		f.Motion = float64(s.sad) / npix / 255
		f.Scene = min(f.Motion, math.Abs(f.Motion-a.prevMotion))
	}
	if ms, ok := DecodeTimecode(cur, w, h, w); ok {
		f.Capture = time.UnixMilli(ms)
		f.Latency = a.o.now().Sub(f.Capture).Round(time.Millisecond)
		a.sum.Timecodes++
		a.latencySum += f.Latency
		if a.sum.Timecodes == 1 || f.Latency < a.sum.LatencyMin {
			a.sum.LatencyMin = f.Latency
		}
		if a.sum.Timecodes == 1 || f.Latency > a.sum.LatencyMax {
			a.sum.LatencyMax = f.Latency
		}
	}

	a.events = a.events[:0]
	if prev != nil && f.Scene >= a.o.SceneThreshold {
		a.events = append(a.events, Event{Type: SceneCut, N: n, PTS: pts, Score: f.Scene})
		a.sum.SceneCuts++
	}

	isBlack := float64(s.dark) >= a.o.BlackRatio*npix
	a.track(&a.black, isBlack, n, pts, pts, n, a.o.BlackMin, BlackStart, BlackEnd)

	frozen := false
	if a.ref >= 0 {
		d := f.Motion
		if a.ref != a.prev {
			d = float64(planeSAD(cur, a.planes[a.ref], w, h, w)) / npix / 255
		}
		frozen = d <= a.o.FreezeNoise
	}
	a.track(&a.freeze, frozen, n, pts, a.refPTS, a.refN, a.o.FreezeMin, FreezeStart, FreezeEnd)
	if !frozen {
		a.ref, a.refPTS, a.refN = ci, pts, n
	}

	a.prev = ci
	a.prevMotion = f.Motion
	if a.sum.Analysed == 0 {
		a.sum.FirstPTS = pts
	}
	a.sum.Analysed++
	a.sum.LastPTS = pts
}

// sceneCut reports whether the last analysed frame is a scene cut.
func (a *analyzer) sceneCut() bool {
	for _, e := range a.events {
		if e.Type == SceneCut {
			return true
		}
	}
	return false
}

// track advances stretch st with one frame (n, pts) that is in it or not. A stretch that
// begins with this frame begins at (startN, startPTS): the frame itself for black, the
// reference frame for a freeze. It emits the start event once the stretch has lasted min,
// and the end event at the first frame out of a stretch that did.
func (a *analyzer) track(st *stretch, in bool, n int64, pts, startPTS time.Duration, startN int64, minDur time.Duration, startType, endType EventType) {
	if in {
		if !st.on {
			*st = stretch{on: true, start: startPTS, startN: startN}
		}
		if !st.reported && pts-st.start >= minDur {
			a.startStretch(st, startType)
		}
		return
	}
	if st.on {
		a.endStretch(st, n, pts, minDur, startType, endType)
	}
}

func (a *analyzer) startStretch(st *stretch, typ EventType) {
	st.reported = true
	a.events = append(a.events, Event{Type: typ, N: st.startN, PTS: st.start})
}

// endStretch ends stretch st at frame n, pts, reporting it if it lasted min.
func (a *analyzer) endStretch(st *stretch, n int64, pts, minDur time.Duration, startType, endType EventType) {
	d := pts - st.start
	if st.reported || d >= minDur {
		if !st.reported {
			a.startStretch(st, startType)
		}
		a.events = append(a.events, Event{Type: endType, N: n, PTS: pts, Duration: d})
		if endType == BlackEnd {
			a.sum.Blacks++
			a.sum.Black += d
		} else {
			a.sum.Freezes++
			a.sum.Frozen += d
		}
	}
	*st = stretch{}
}

// finish ends the open stretches at end, the end of the input (the timestamp of the last
// decoded frame plus its duration), where frames is the number of frames decoded. The
// events are in a.events. It also completes the analysis fields of the summary.
func (a *analyzer) finish(frames int64, end time.Duration) {
	a.events = a.events[:0]
	if a.black.on {
		a.endStretch(&a.black, frames, end, a.o.BlackMin, BlackStart, BlackEnd)
	}
	if a.freeze.on {
		a.endStretch(&a.freeze, frames, end, a.o.FreezeMin, FreezeStart, FreezeEnd)
	}
	if a.sum.Timecodes > 0 {
		a.sum.LatencyMean = (a.latencySum / time.Duration(a.sum.Timecodes)).Round(time.Millisecond)
	}
}
