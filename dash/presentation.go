package dash

import (
	"context"
	"errors"
	"sync"
)

// Presentation carries a presentation from one Run to the next: with
// Options.Presentation set, a Run into the same Out continues what the last one packaged
// (a new period in the MPD, a discontinuity in the HLS playlists, the same file names and
// segment numbers going on) so that players keep playing, and when its input ends the
// presentation stays live, waiting for the next Run, until End. This is how `sv all`
// keeps one presentation across FFmpeg restarts and publisher reconnects.
//
// The zero value is ready to use. One Run at a time may use a Presentation.
type Presentation struct {
	mu      sync.Mutex
	pk      *packager // the last run's, nil before the first run or after End
	running bool
}

// errBusy is returned by a Run whose Presentation is in use by another Run.
var errBusy = errors.New("the presentation is in use by another run")

// take returns the packager a run into dir with the given outputs continues, nil for a
// new presentation, and marks the Presentation in use.
func (pr *Presentation) take(dir string, o *Options, outs []output) (*packager, error) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.running {
		return nil, errBusy
	}
	pr.running = true
	pk := pr.pk
	if pk == nil || pk.dir != dir || !pk.live || len(pk.p.tracks) != len(outs) ||
		pk.p.seg != o.segment() || pk.p.part != o.part() || pk.record != o.Record {
		return nil, nil
	}
	for i, out := range outs {
		t := pk.p.tracks[i]
		if t.kind != out.kind || t.dash != out.dash || t.hls != out.hls {
			return nil, nil
		}
	}
	return pk, nil
}

// done records the packager of a run that has ended.
func (pr *Presentation) done(pk *packager) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.running = false
	if pk != nil {
		pr.pk = pk
	}
}

// End ends the presentation: the manifests say no segment follows the last one (the MPD
// gets its duration, the playlists #EXT-X-ENDLIST; with Options.Record the MPD becomes
// static), so that players play to the end and stop. The next Run starts a new
// presentation. End does nothing while a Run is using the Presentation, or when there is
// nothing to end.
//
// A live presentation's final MPD comes a moment later (finalAfter, mpd.go says why): End
// returns once it is written, or once a Run has started a new presentation in the folder.
func (pr *Presentation) End() error {
	pr.mu.Lock()
	if pr.running || pr.pk == nil {
		pr.mu.Unlock()
		return nil
	}
	pk := pr.pk
	pr.pk = nil
	err := pk.end()
	pr.mu.Unlock()
	if err != nil {
		return err
	}
	pk.finish(context.Background())
	return nil
}
