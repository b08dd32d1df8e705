package live

import (
	"fmt"
	"strings"
	"time"

	"github.com/svtool/sv/event"
	"github.com/svtool/sv/frames"
)

// appEvents are the analysis' events the application is told of (Options.Events).
var appEvents = map[frames.EventType]event.Type{
	frames.SceneCut:    event.SceneCut,
	frames.BlackStart:  event.BlackStart,
	frames.BlackEnd:    event.BlackEnd,
	frames.FreezeStart: event.FreezeStart,
	frames.FreezeEnd:   event.FreezeEnd,
}

// analysisOut writes the analysis of a session as one stream of JSON lines, as if one
// run of frames.Run had analysed the whole stream when there were several (the analysis
// fell behind and skipped ahead, or its FFmpeg died): frame numbers go on from run to
// run, a skip event marks where each later run begins, and one summary at the end covers
// every run. Its methods are called from the analysis branch's goroutine, finish after
// the branch has returned.
type analysisOut struct {
	w     *frames.Writer
	m     *streamMetrics
	event func(event.Event) // tells the application of the analysis' events

	base      int64 // frames decoded by the runs before this one
	runFrames int64 // frames decoded by this run
	lastPTS   time.Duration
	anyFrame  bool
	needSkip  bool // the next frame is the first of a later run

	sum  frames.Summary // of the runs that have ended
	runs int            // runs that gave a summary
}

// begin starts the n-th run.
func (o *analysisOut) begin(n int) {
	o.base += o.runFrames
	o.runFrames = 0
	o.needSkip = n > 0
}

// emit is frames.Run's emit function.
func (o *analysisOut) emit(rec frames.Record) error {
	switch r := rec.(type) {
	case *frames.Frame:
		if o.needSkip {
			o.needSkip = false
			if o.anyFrame {
				skip := frames.Event{Type: frames.Skip, N: o.base, PTS: r.PTS, Duration: max(0, r.PTS-o.lastPTS)}
				if err := o.w.Write(&skip); err != nil {
					return err
				}
			}
		}
		r.N += o.base
		o.runFrames++
		o.lastPTS, o.anyFrame = r.PTS, true
		o.m.analysed.Inc()
	case *frames.Event:
		r.N += o.base
		if t, ok := appEvents[r.Type]; ok && o.event != nil {
			o.event(event.Event{Type: t, DurationMs: r.Duration.Milliseconds(), Media: &event.Media{Frame: r.N, PTSMs: r.PTS.Milliseconds(), Score: r.Score}})
		}
	case *frames.Summary:
		if o.runs == 0 {
			o.sum = *r
		} else {
			o.sum.Add(r)
		}
		o.runs++
		return nil // one summary for all the runs, by finish
	}
	return o.w.Write(rec)
}

// finish writes the summary of every run, saying what was not analysed.
func (o *analysisOut) finish(b *branch) {
	if o.runs == 0 {
		return
	}
	var why []string
	if n := b.skips.Load(); n > 0 {
		why = append(why, fmt.Sprintf("fell behind the live stream and skipped ahead %d times (%d frames not analysed)", n, b.lostFrames.Load()))
	}
	if n := b.restarts.Load(); n > 0 {
		why = append(why, fmt.Sprintf("FFmpeg died and was restarted %d times", n))
	}
	if len(why) > 0 {
		if o.sum.Error != "" {
			why = append(why, o.sum.Error)
		}
		o.sum.Complete = false
		o.sum.Error = "analysis " + strings.Join(why, "; ")
	}
	o.w.Write(&o.sum)
}
