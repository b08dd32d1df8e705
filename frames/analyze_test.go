package frames

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

func testAnalyzer(t *testing.T, w, h int, o Options) *analyzer {
	t.Helper()
	r, err := o.resolve()
	if err != nil {
		t.Fatal(err)
	}
	return newAnalyzer(r, w, h, w*h)
}

// feed analyses one frame drawn by fill into the analyzer's next plane.
func feed(a *analyzer, n int64, pts time.Duration, fill func(p []byte)) {
	p := a.next()
	fill(p[:a.w*a.h])
	a.analyze(p, n, pts)
}

func uniform(v byte) func([]byte) {
	return func(p []byte) {
		for i := range p {
			p[i] = v
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestMetrics(t *testing.T) {
	const w, h = 64, 36
	a := testAnalyzer(t, w, h, Options{})

	feed(a, 0, 0, uniform(100))
	f := a.frame
	if !near(f.Luma, 100.0/255) || f.Contrast != 0 || f.Sharpness != 0 || f.Motion != 0 || f.Scene != 0 {
		t.Errorf("uniform 100: %+v", f)
	}

	feed(a, 1, 33*time.Millisecond, uniform(150))
	f = a.frame
	if !near(f.Motion, 50.0/255) || !near(f.Scene, 50.0/255) {
		t.Errorf("100 -> 150: motion %v scene %v, want %v", f.Motion, f.Scene, 50.0/255)
	}

	// Half black, half white: mean 0.5, standard deviation 0.5.
	feed(a, 2, 67*time.Millisecond, func(p []byte) {
		for i := range p {
			if i%w >= w/2 {
				p[i] = 255
			} else {
				p[i] = 0
			}
		}
	})
	f = a.frame
	if !near(f.Luma, 0.5) || !near(f.Contrast, 0.5) {
		t.Errorf("halves: luma %v contrast %v", f.Luma, f.Contrast)
	}
	// The motion from 150 is |0-150| or |255-150| on each half; the scene score is the
	// smaller of that and its change from the previous motion.
	wantMotion := (150.0 + 105.0) / 2 / 255
	if !near(f.Motion, wantMotion) || !near(f.Scene, math.Min(wantMotion, math.Abs(wantMotion-50.0/255))) {
		t.Errorf("halves: motion %v scene %v", f.Motion, f.Scene)
	}

	// A checkerboard: the Laplacian is ±4 (in luma units) everywhere inside.
	feed(a, 3, 100*time.Millisecond, func(p []byte) {
		for i := range p {
			if (i%w+i/w)%2 == 0 {
				p[i] = 255
			} else {
				p[i] = 0
			}
		}
	})
	if f := a.frame; !near(f.Sharpness, 16) {
		t.Errorf("checkerboard: sharpness %v, want 16", f.Sharpness)
	}

	// A smooth ramp has no second derivative.
	feed(a, 4, 133*time.Millisecond, func(p []byte) {
		for i := range p {
			p[i] = byte(i%w + i/w)
		}
	})
	if f := a.frame; f.Sharpness != 0 {
		t.Errorf("ramp: sharpness %v, want 0", f.Sharpness)
	}
}

// sequence describes a test stream frame by frame.
type sequence struct {
	fps    float64
	frames int
	// kind of frame i: 'n' a texture with noise (different every frame), 'b' black, 'f'
	// frozen (a copy of the last 'n' frame), 'a'/'c' two fixed textures (a scene each)
	kind func(i int) byte
}

// run analyses the sequence and returns its events of the given types.
func (s sequence) run(t *testing.T, o Options, types ...EventType) []Event {
	t.Helper()
	const w, h = 64, 36
	a := testAnalyzer(t, w, h, o)
	var events []Event
	last := make([]byte, w*h)
	texture := func(seed uint64) []byte {
		r := rand.New(rand.NewPCG(seed, seed))
		p := make([]byte, w*h)
		for i := range p {
			p[i] = byte(r.IntN(256))
		}
		return p
	}
	ta, tc := texture(100), texture(200)
	r := rand.New(rand.NewPCG(1, 1))
	var pts time.Duration
	for i := range s.frames {
		pts = s.pts(i)
		kind := s.kind(i)
		feed(a, int64(i), pts, func(p []byte) {
			switch kind {
			case 'n':
				for j := range p {
					p[j] = byte(int(ta[j])/2 + 60 + r.IntN(9))
				}
				copy(last, p)
			case 'b':
				for j := range p {
					p[j] = byte(r.IntN(10)) // black with a little noise
				}
			case 'f':
				copy(p, last)
			case 'a':
				copy(p, ta)
			case 'c':
				copy(p, tc)
			}
		})
		events = append(events, a.events...)
	}
	a.finish(int64(s.frames), s.pts(s.frames))
	events = append(events, a.events...)
	var kept []Event
	for _, e := range events {
		if slices.Contains(types, e.Type) {
			kept = append(kept, e)
		}
	}
	return kept
}

func (s sequence) pts(i int) time.Duration {
	return time.Duration(float64(i) / s.fps * float64(time.Second)).Round(time.Millisecond)
}

func TestEvents(t *testing.T) {
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	o := Options{BlackMin: time.Second, FreezeMin: time.Second}
	black := []EventType{BlackStart, BlackEnd}
	freeze := []EventType{FreezeStart, FreezeEnd}
	tests := []struct {
		name  string
		seq   sequence
		types []EventType
		want  []Event
	}{{
		name: "scene cuts",
		seq: sequence{fps: 30, frames: 90, kind: func(i int) byte {
			if i < 30 || i >= 60 {
				return 'a'
			}
			return 'c'
		}},
		types: []EventType{SceneCut},
		want:  []Event{{Type: SceneCut, N: 30, PTS: ms(1000)}, {Type: SceneCut, N: 60, PTS: ms(2000)}},
	}, {
		name: "black stretch",
		seq: sequence{fps: 30, frames: 120, kind: func(i int) byte {
			if i >= 30 && i < 75 {
				return 'b'
			}
			return 'n'
		}},
		types: black,
		want: []Event{
			{Type: BlackStart, N: 30, PTS: ms(1000)},
			{Type: BlackEnd, N: 75, PTS: ms(2500), Duration: ms(1500)},
		},
	}, {
		name: "black too short",
		seq: sequence{fps: 30, frames: 90, kind: func(i int) byte {
			if i >= 30 && i < 59 {
				return 'b'
			}
			return 'n'
		}},
		types: black,
	}, {
		name: "black exactly the minimum",
		seq: sequence{fps: 30, frames: 90, kind: func(i int) byte {
			if i >= 30 && i < 60 {
				return 'b'
			}
			return 'n'
		}},
		types: black,
		want: []Event{
			{Type: BlackStart, N: 30, PTS: ms(1000)},
			{Type: BlackEnd, N: 60, PTS: ms(2000), Duration: ms(1000)},
		},
	}, {
		name: "black until the end",
		seq: sequence{fps: 30, frames: 90, kind: func(i int) byte {
			if i >= 45 {
				return 'b'
			}
			return 'n'
		}},
		types: black,
		want: []Event{
			{Type: BlackStart, N: 45, PTS: ms(1500)},
			{Type: BlackEnd, N: 90, PTS: ms(3000), Duration: ms(1500)},
		},
	}, {
		name: "freeze",
		seq: sequence{fps: 25, frames: 100, kind: func(i int) byte {
			if i >= 26 && i < 75 {
				return 'f' // frame 25 is the last noise frame: the freeze starts there
			}
			return 'n'
		}},
		types: freeze,
		want: []Event{
			{Type: FreezeStart, N: 25, PTS: ms(1000)},
			{Type: FreezeEnd, N: 75, PTS: ms(3000), Duration: ms(2000)},
		},
	}, {
		name: "a still picture is frozen, not black",
		seq: sequence{fps: 10, frames: 40, kind: func(i int) byte {
			if i >= 10 && i < 30 {
				return 'a' // the same texture: frozen, not black
			}
			return 'n'
		}},
		types: append([]EventType{SceneCut}, append(black, freeze...)...),
		want: []Event{
			{Type: SceneCut, N: 10, PTS: ms(1000)},
			{Type: FreezeStart, N: 10, PTS: ms(1000)},
			{Type: SceneCut, N: 30, PTS: ms(3000)},
			{Type: FreezeEnd, N: 30, PTS: ms(3000), Duration: ms(2000)},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.seq.run(t, o, tt.types...)
			for i := range got {
				got[i].Score = 0
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestAnalyzeAllocs(t *testing.T) {
	a := testAnalyzer(t, 320, 180, Options{})
	for i := range a.planes {
		a.planes[i] = synthPlane(320, 180, i)
	}
	var n int64
	allocs := testing.AllocsPerRun(100, func() {
		a.analyze(a.next(), n, time.Duration(n)*33*time.Millisecond)
		n++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame, want 0", allocs)
	}
}

func TestSampler(t *testing.T) {
	// MediaRecorder-like timestamps: 30 fps with 1 ms jitter, and a 2 s gap.
	var pts []time.Duration
	for i := range 300 {
		ms := i*1000/30 + (i*7)%3 - 1
		if i >= 150 {
			ms += 2000
		}
		pts = append(pts, time.Duration(max(ms, 0))*time.Millisecond)
	}
	for _, fps := range []float64{0, 30, 10, 1, 0.5} {
		s := sampler{fps: fps}
		var taken []time.Duration
		for _, p := range pts {
			if s.take(p) {
				taken = append(taken, p)
			}
		}
		if fps == 0 || fps == 30 {
			if len(taken) != len(pts) {
				t.Errorf("fps %v: took %d of %d frames", fps, len(taken), len(pts))
			}
			continue
		}
		period := time.Duration(float64(time.Second) / fps)
		// At most fps frames per second on average, fps+1 however the second is placed...
		for i := range taken {
			j := i
			for j < len(taken) && taken[j]-taken[i] < time.Second {
				j++
			}
			if limit := int(math.Ceil(fps)) + 1; j-i > limit {
				t.Errorf("fps %v: %d frames within a second from %v", fps, j-i, taken[i])
			}
		}
		span := (taken[len(taken)-1] - taken[0]).Seconds()
		if rate := float64(len(taken)-1) / span; rate > fps*1.01 {
			t.Errorf("fps %v: %.2f frames per second", fps, rate)
		}
		// ...and not much fewer: no gap between taken frames grows past a period and a frame,
		// except across the gap in the input.
		for i := 1; i < len(taken); i++ {
			if d := taken[i] - taken[i-1]; d > period+40*time.Millisecond && !(taken[i-1] < pts[150] && taken[i] >= pts[150]) {
				t.Errorf("fps %v: %v between frames at %v and %v", fps, d, taken[i-1], taken[i])
			}
		}
	}
}
