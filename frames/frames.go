package frames

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Defaults of Options, the values a zero field stands for.
const (
	DefaultWidth          = 320
	DefaultSceneThreshold = 0.10
	DefaultBlackPixel     = 0.10
	DefaultBlackRatio     = 0.98
	DefaultBlackMin       = 2 * time.Second
	DefaultFreezeNoise    = 0.001
	DefaultFreezeMin      = 2 * time.Second
	DefaultThumbEvery     = 5 * time.Second
)

// Options configure Run. The zero value of every field means its default.
type Options struct {
	// Width is the analysis width in pixels: FFmpeg scales every frame to it, keeping the
	// aspect ratio. Even, from 64 to 7680; 0 means DefaultWidth. Sharpness depends on it:
	// compare figures measured at the same width.
	Width int
	// FPS analyses at most FPS frames per second of media time; 0 analyses every frame.
	// Frames are still decoded and counted; the analysed ones keep their exact timestamps.
	FPS float64
	// SceneThreshold is the scene score from which a frame is a scene cut, 0 to 1.
	SceneThreshold float64
	// BlackPixel is the luma, 0 to 1, at or below which a pixel is black.
	BlackPixel float64
	// BlackRatio is the share of black pixels, 0 to 1, from which a frame is black.
	BlackRatio float64
	// BlackMin is the shortest black stretch reported.
	BlackMin time.Duration
	// FreezeNoise is the mean absolute luma difference, 0 to 1, up to which a frame is
	// taken as a repeat of the one that started the stretch.
	FreezeNoise float64
	// FreezeMin is the shortest frozen stretch reported.
	FreezeMin time.Duration
	// ThumbDir, if set, receives JPEG thumbnails at analysis size: one every ThumbEvery
	// of media time and one at each scene cut. It must exist.
	ThumbDir string
	// ThumbEvery is the interval between periodic thumbnails.
	ThumbEvery time.Duration
	// LowDelay decodes each frame as soon as it arrives, for live input: without it
	// FFmpeg decodes several frames in parallel, faster but a few frames later.
	LowDelay bool
	// FFmpeg is the FFmpeg binary, a path or a name looked up on PATH; "" means "ffmpeg".
	FFmpeg string
	// QueueLimit bounds the input read ahead of FFmpeg; 0 means DefaultQueueLimit. A
	// live consumer that wants to notice when the analysis falls behind keeps it small.
	QueueLimit int64
	// Log, if set, receives FFmpeg's log (errors only) as debug records (see
	// ffmpeg.Config.Log), each with stage=frames.
	Log *slog.Logger
	// Progress, if set, is called from Run's goroutine about four times a second and once
	// at the end.
	Progress func(Stats)

	now func() time.Time // the wall clock, for latency; tests replace it
}

// Stats is a progress report.
type Stats struct {
	Frames   int64         // frames decoded
	Analysed int64         // frames analysed
	PTS      time.Duration // timestamp of the last frame
	Elapsed  time.Duration // since Run started
	FPS      float64       // frames analysed per second of Elapsed
	Speed    float64       // media time per wall time since the first frame; 1 is real time
}

// ErrNoVideo is returned by Run when FFmpeg could not decode a single video frame: the
// input is not a media stream, has no video, or is empty. It wraps FFmpeg's own error.
var ErrNoVideo = errors.New("no video frame in the input")

// ErrOutput is returned by Run when FFmpeg's output is not what Run asked for.
var ErrOutput = errors.New("unexpected output from ffmpeg")

// Record is one object of Run's output: a *Frame, an *Event or the *Summary.
type Record interface {
	// AppendJSON appends the record as one JSON object, without a newline.
	AppendJSON(b []byte) []byte
	isRecord()
}

// Frame is the analysis of one frame. All metrics are in luma units: 0 is black, 1 white.
type Frame struct {
	N         int64         // number of the frame among the decoded ones, from 0
	PTS       time.Duration // presentation timestamp, from the source, to the millisecond
	Luma      float64       // mean luma
	Contrast  float64       // standard deviation of luma
	Motion    float64       // mean absolute luma difference from the previous analysed frame
	Sharpness float64       // variance of the Laplacian of luma
	Scene     float64       // scene-change score: min(Motion, |Motion - previous Motion|)
	// Capture is the capture wall-clock time read from the picture's timecode, and Latency
	// the time from capture to this analysis; both are zero when the picture has none.
	Capture time.Time
	Latency time.Duration
}

// HasTimecode reports whether the frame carried a capture timecode.
func (f *Frame) HasTimecode() bool { return !f.Capture.IsZero() }

// EventType says what an Event reports.
type EventType uint8

// Event types; String gives their JSON names.
const (
	SceneCut    EventType = iota + 1 // a hard cut: a frame's scene score reached the threshold
	BlackStart                       // a black stretch of at least BlackMin began at PTS
	BlackEnd                         // the black stretch ended at PTS (the first frame that is not black)
	FreezeStart                      // a frozen stretch of at least FreezeMin began at PTS
	FreezeEnd                        // the frozen stretch ended at PTS (the first frame that differs)
	Thumbnail                        // a thumbnail of the frame at PTS was written to File
	// Skip: the analysis fell behind the live stream and skipped ahead; it goes on at
	// PTS, and Duration of media before it was not analysed. Run never reports it: the
	// live server (package live) does, between two runs over the same stream.
	Skip
)

var eventNames = [...]string{
	SceneCut:    "scene_cut",
	BlackStart:  "black_start",
	BlackEnd:    "black_end",
	FreezeStart: "freeze_start",
	FreezeEnd:   "freeze_end",
	Thumbnail:   "thumbnail",
	Skip:        "skip",
}

func (t EventType) String() string {
	if int(t) < len(eventNames) && eventNames[t] != "" {
		return eventNames[t]
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is something that happened at a point of the stream. Start events are reported
// once the stretch has lasted its minimum duration, so they come after the frames they
// point at.
type Event struct {
	Type     EventType
	N        int64         // the frame it happened at; for an end at the end of the input, the frame count
	PTS      time.Duration // when it happened, in media time
	Score    float64       // SceneCut: the scene score
	Duration time.Duration // BlackEnd, FreezeEnd: the length of the stretch; Skip: the media skipped
	File     string        // Thumbnail: the JPEG file
}

// Summary is the last record of a run.
type Summary struct {
	Frames        int64         // frames decoded
	Analysed      int64         // frames analysed
	Width, Height int           // analysis size
	FirstPTS      time.Duration // timestamp of the first frame
	LastPTS       time.Duration // timestamp of the last frame
	Duration      time.Duration // from the first frame to the end of the last one
	SceneCuts     int
	Blacks        int           // black stretches
	Black         time.Duration // their total length
	Freezes       int           // frozen stretches
	Frozen        time.Duration // their total length
	Timecodes     int64         // analysed frames that carried a timecode
	// Latency from capture to analysis over the frames with a timecode.
	LatencyMin, LatencyMean, LatencyMax time.Duration
	Elapsed                             time.Duration // wall time of the run
	FPS                                 float64       // frames analysed per second of Elapsed
	Speed                               float64       // Duration per Elapsed: 1 is real time
	// Complete is false when the run stopped before the end of the input: interrupted,
	// FFmpeg failed, or the input could not be read. Error says why.
	Complete bool
	Error    string
}

// Add adds the summary of a later run over the same stream, later, to s: as if one run
// had analysed both. Frame counts, stretches and elapsed time add up, the time span and
// the latency statistics cover both, and Complete and Error are the later run's.
func (s *Summary) Add(later *Summary) {
	if later.Frames > 0 {
		if s.Frames == 0 {
			s.FirstPTS = later.FirstPTS
		}
		s.Width, s.Height = later.Width, later.Height
		s.LastPTS = later.LastPTS
		s.Duration = later.FirstPTS + later.Duration - s.FirstPTS
	}
	if later.Timecodes > 0 {
		if s.Timecodes == 0 || later.LatencyMin < s.LatencyMin {
			s.LatencyMin = later.LatencyMin
		}
		s.LatencyMax = max(s.LatencyMax, later.LatencyMax)
		n := s.Timecodes + later.Timecodes
		s.LatencyMean = time.Duration((int64(s.LatencyMean)*s.Timecodes + int64(later.LatencyMean)*later.Timecodes) / n)
		s.Timecodes = n
	}
	s.Frames += later.Frames
	s.Analysed += later.Analysed
	s.SceneCuts += later.SceneCuts
	s.Blacks += later.Blacks
	s.Black += later.Black
	s.Freezes += later.Freezes
	s.Frozen += later.Frozen
	s.Elapsed += later.Elapsed
	if s.Elapsed > 0 {
		s.FPS = float64(s.Analysed) / s.Elapsed.Seconds()
		s.Speed = s.Duration.Seconds() / s.Elapsed.Seconds()
	}
	s.Complete, s.Error = later.Complete, later.Error
}

func (*Frame) isRecord()   {}
func (*Event) isRecord()   {}
func (*Summary) isRecord() {}

// resolved holds Options with the defaults filled in and the thresholds in pixel units.
type resolved struct {
	Options
	blackLevel uint8 // highest y of a black pixel
}

func (o Options) resolve() (resolved, error) {
	r := resolved{Options: o}
	if r.Width == 0 {
		r.Width = DefaultWidth
	}
	if r.Width < minWidth || r.Width > 7680 || r.Width%2 != 0 {
		return r, fmt.Errorf("analysis width must be even and from %d to 7680, not %d", minWidth, o.Width)
	}
	if r.FPS < 0 || math.IsNaN(r.FPS) || math.IsInf(r.FPS, 0) {
		return r, fmt.Errorf("fps must not be negative, not %v", o.FPS)
	}
	fill := func(v *float64, def float64, name string) error {
		if *v == 0 {
			*v = def
		}
		if !(*v > 0 && *v <= 1) {
			return fmt.Errorf("%s must be in (0, 1], not %v", name, *v)
		}
		return nil
	}
	for _, f := range []struct {
		v    *float64
		def  float64
		name string
	}{
		{&r.SceneThreshold, DefaultSceneThreshold, "scene threshold"},
		{&r.BlackPixel, DefaultBlackPixel, "black pixel threshold"},
		{&r.BlackRatio, DefaultBlackRatio, "black ratio"},
		{&r.FreezeNoise, DefaultFreezeNoise, "freeze noise"},
	} {
		if err := fill(f.v, f.def, f.name); err != nil {
			return r, err
		}
	}
	for _, d := range []struct {
		v    *time.Duration
		def  time.Duration
		name string
	}{
		{&r.BlackMin, DefaultBlackMin, "black minimum duration"},
		{&r.FreezeMin, DefaultFreezeMin, "freeze minimum duration"},
		{&r.ThumbEvery, DefaultThumbEvery, "thumbnail interval"},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
		if *d.v < 0 {
			return r, fmt.Errorf("%s must be positive, not %v", d.name, *d.v)
		}
	}
	r.blackLevel = uint8(math.Floor(r.BlackPixel * 255))
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}
