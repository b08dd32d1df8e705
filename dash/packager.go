package dash

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/svtool/sv/media"
	"github.com/svtool/sv/stream"
)

// The packager cuts the fragmented MP4 that FFmpeg writes, one stream per track, into
// segments and parts, writes them into the output folder as they grow, and writes the
// MPD and the HLS playlists from what it wrote.
//
// Timeline. A track's fragments arrive with times that start at 0 (FFmpeg's mp4 muxer
// starts every track there); adding the input time of the track's first packet, which the
// watcher saw go by, puts every track on the input's own media timeline. The wall-clock
// time of media time 0, availabilityStartTime, is the earliest "received at minus media
// time" over the input's frames (the frame that arrived soonest after its capture tells
// best when the capture happened): a player that trusts the MPD is then right about
// where the live edge is, to within the publisher's own delay in handing over a frame.
//
// Cutting. Segment n (from 1) nominally starts at (n-1)*seg. A video segment is cut at
// the first keyframe from half a segment before its nominal start; if none has come half
// a segment after it, or keyframes are known to be further apart than one and a half
// segments, at the first frame from there (or from the nominal start): that segment does
// not start with a keyframe, but its address stays right. A publisher whose keyframes come
// a little less often than once a segment (Chrome's "1 s" is often 31 frames at 30 fps)
// drifts through the half-segment window and gets such a cut about once every
// seg/(interval-seg) segments; transcoded video has its keyframes forced on the nominal
// starts. An audio segment is cut at the fragment nearest its nominal start. So $Number$
// addressing, which players compute from the time, finds every segment within half a
// segment of where they expect it, and numbers have no gaps. Parts group fragments up to
// the part target; a part ends where its segment ends.

// partsKept is how many of a track's most recent segments keep their parts listed; the
// part files of older ones are deleted partsDeleted segments later.
const (
	partsKept    = 4
	partsDeleted = 8
	// extraKept is how many segments beyond the window stay on disk for players that
	// are a little behind.
	extraKept = 5
)

type packager struct {
	dir    string
	log    *slog.Logger
	record bool
	anchor func() (time.Time, bool)            // the wall-clock time of the input's media time 0, once known
	firsts func() (video, audio time.Duration) // the input times of the first video and audio frames
	now    func() time.Time

	mu      sync.Mutex
	p       presentation
	started []bool // tracks whose first fragment has arrived
	run     *period
	offset  time.Duration // presentation time minus input time, in this run
	// videoGap is, in a run that continues the presentation, how much later its video
	// starts than the last run's ended (negative: earlier); gapped says it is known.
	videoGap time.Duration
	gapped   bool
	// videoLeft counts the video tracks of this run still being read.
	videoLeft int
	// moved is closed, and replaced, whenever a video track of this run writes a
	// fragment or ends: held audio may go (holdAudio, endAudio).
	moved  chan struct{}
	live   bool  // the manifests have been written once
	master []int // bandwidths in the last master playlist written
	// final is closed once the final MPD of the ended presentation is written, or once
	// it will not be (another presentation took the folder): see finish.
	final chan struct{}
}

// trackWriter is the goroutine side of one track: the files it is writing.
type trackWriter struct {
	pk    *packager
	t     *track
	index int
	shift uint64 // added to every fragment's time: the input time of the track's first packet

	segTicks, partTicks, tol uint64
	pstart                   uint64 // the period's start, in ticks
	startNumber              int64  // the period's first number
	periodIndex              int

	seg      *segment // in progress
	segFile  *os.File
	partFile *os.File
	partDur  uint64
	lastKey  uint64
	keyGap   uint64 // between the last two keyframes
	keys     int

	closed int         // segments completed
	last   int64       // the number of the last one
	stale  []stalePart // part files no longer listed, oldest first

	// held are audio fragments not yet written, oldest first, because the video has
	// not reached their end (see holdAudio).
	held []*media.Fragment
}

// stalePart is a part file to delete once the track has completed until segments.
type stalePart struct {
	name  string
	until int
}

func newPackager(dir string, p presentation, log *slog.Logger, record bool, anchor func() (time.Time, bool), firsts func() (video, audio time.Duration)) *packager {
	pk := &packager{dir: dir, log: log, record: record, anchor: anchor, firsts: firsts, now: time.Now, p: p, started: make([]bool, len(p.tracks))}
	pk.moved = make(chan struct{})
	pk.videoLeft = pk.videoTracks()
	return pk
}

// videoTracks counts the presentation's video tracks.
func (pk *packager) videoTracks() int {
	n := 0
	for _, t := range pk.p.tracks {
		if t.kind == videoTrack {
			n++
		}
	}
	return n
}

// resume readies a packager whose run has ended for the next run, which continues the
// presentation in a new period with init segments of its own.
func (pk *packager) resume(log *slog.Logger, anchor func() (time.Time, bool), firsts func() (video, audio time.Duration)) {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	pk.log, pk.anchor, pk.firsts = log, anchor, firsts
	pk.started = make([]bool, len(pk.p.tracks))
	pk.run, pk.offset = nil, 0
	pk.videoLeft = pk.videoTracks()
	for _, t := range pk.p.tracks {
		t.init = initName(t.id, pk.p.id, len(pk.p.periods))
	}
}

// begin starts this run's period, when the first fragment of any track arrives, and
// returns it with the shift of track kind k's fragments (FFmpeg starts each track at 0).
//
// A new presentation's availabilityStartTime is the wall-clock time of the input's media
// time 0, and presentation time is input time. A continued presentation keeps its
// availabilityStartTime: this run's input is placed on its timeline by the wall clock,
// after everything already packaged, and its period starts where all its tracks have
// begun.
func (pk *packager) begin(k trackKind) (*period, time.Duration) {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	v, a := pk.firsts()
	if pk.run == nil {
		origin, ok := pk.anchor()
		if !ok {
			origin = pk.now()
		}
		// The period starts where every track has media: a player that jumps to a
		// period's start across a gap (dash.js) waits there for good when one track's
		// first frame is a few milliseconds later (the video's keyframe after the audio).
		first := time.Duration(0)
		for _, t := range pk.p.tracks {
			f := v
			if t.kind == audioTrack {
				f = a
			}
			first = max(first, f)
		}
		per := &period{index: len(pk.p.periods), startNumber: 1}
		if per.index == 0 {
			pk.p.ast = origin
		} else {
			pk.offset = origin.Sub(pk.p.ast)
		}
		per.start = (pk.offset + first).Truncate(time.Millisecond)
		per.numbers = make([]int64, len(pk.p.tracks))
		for i, t := range pk.p.tracks {
			per.numbers[i] = 1
			if n := len(t.segs); n > 0 {
				last := t.segs[n-1]
				end := time.Duration(t.seconds(last.start+last.duration) * float64(time.Second))
				if end > per.start {
					pk.offset += end - per.start
					per.start = end
				}
				per.numbers[i] = last.number + 1
				per.startNumber = max(per.startNumber, last.number+1)
			}
		}
		per.start = per.start.Truncate(time.Millisecond)
		pk.gapped = false
		if per.index > 0 {
			for _, t := range pk.p.tracks {
				if t.kind == videoTrack && len(t.segs) > 0 {
					last := t.segs[len(t.segs)-1]
					pk.videoGap = pk.offset + v - time.Duration(t.seconds(last.start+last.duration)*float64(time.Second))
					pk.gapped = true
					break
				}
			}
		}
		pk.p.periods = append(pk.p.periods, per)
		pk.run = per
		if per.index > 0 {
			pk.log.Info(fmt.Sprintf("the presentation goes on: period %d from %.3fs, segment %d", per.index, per.start.Seconds(), per.startNumber))
		}
	}
	if k == audioTrack {
		return pk.run, pk.offset + a
	}
	return pk.run, pk.offset + v
}

// packTrack packages track i from r, FFmpeg's output for it, until r ends.
func (pk *packager) packTrack(i int, r io.Reader) error {
	t := pk.p.tracks[i]
	if t.kind == videoTrack {
		defer func() {
			pk.mu.Lock()
			pk.videoLeft--
			pk.videoMoved()
			pk.mu.Unlock()
		}()
	}
	fr := media.NewFragmentReader(r)
	ini, err := fr.Init()
	if err != nil {
		return fmt.Errorf("track %d: %w", i, err)
	}
	pk.mu.Lock()
	t.codec, t.timescale = ini.Codec, ini.Timescale
	t.width, t.height, t.sampleRate, t.channels = ini.Width, ini.Height, ini.SampleRate, ini.Channels
	pk.mu.Unlock()
	if err := writeFile(filepath.Join(pk.dir, t.init), ini.Bytes); err != nil {
		return err
	}
	ts := uint64(t.timescale)
	w := &trackWriter{pk: pk, t: t, index: i,
		segTicks:  uint64(pk.p.seg) * ts / uint64(time.Second),
		partTicks: uint64(pk.p.part) * ts / uint64(time.Second),
	}
	w.tol = w.segTicks / 2
	// In low latency, audio waits for the video (holdAudio); normal latency writes a
	// whole segment per fragment, which would wait a segment for the next one.
	hold := t.kind == audioTrack && w.partTicks > 0 && pk.videoTracks() > 0
	defer w.abandon()
	for first := true; ; first = false {
		f, err := fr.Next()
		if errors.Is(err, io.EOF) {
			if hold {
				if err := w.endAudio(); err != nil {
					return err
				}
			}
			return w.finish()
		}
		if err != nil {
			return fmt.Errorf("track %d: %w", i, err)
		}
		if first {
			per, offset := pk.begin(t.kind)
			w.shift = ticks(offset, t.timescale)
			w.pstart, w.startNumber, w.periodIndex = ticks(per.start, t.timescale), per.first(t.id), per.index
		}
		if w.shift > 0 {
			if err := f.Shift(int64(w.shift)); err != nil {
				return fmt.Errorf("track %d: %w", i, err)
			}
		}
		if first && t.kind == audioTrack {
			w.closeAudioHole(f)
		}
		if hold {
			w.held = append(w.held, f)
			err = w.holdAudio()
		} else {
			err = w.fragment(f)
		}
		if err != nil {
			return err
		}
	}
}

// holdAudio writes the held audio fragments that the video of this run has reached the
// end of, or that span more than a segment (a video that stopped). It waits for the
// video to reach them as long as the span allows, so that the audio goes out as soon
// as the video has covered it, not with the next audio fragment.
//
// Audio never gets ahead of the video this way, so that a run ends with the audio no
// later than the video: FFmpeg, stopped, flushes its audio a frame or a few after the
// video, often into a segment of its own. Played across a discontinuity, that short
// audio segment past the video's end stalled hls.js 1.7 for good after one reconnect
// in about four: it dropped the part when it moved to the next period, found the hole,
// and nudged the playhead over it while its audio controller was parsing the next
// period's first part, which never went on. HLS players also end a stream only where
// every track has media. The audio waits only while it is ahead of the video (by up to
// a quarter second with a browser's WebM, whose audio comes first), and players need
// the video of the same time to play it anyway: glass-to-glass did not change.
func (w *trackWriter) holdAudio() error {
	for {
		end, moved, left := w.videoEnd()
		for len(w.held) > 0 {
			f, last := w.held[0], w.held[len(w.held)-1]
			if f.Time+f.Duration > end && last.Time+last.Duration-f.Time <= w.segTicks {
				break
			}
			w.held = w.held[1:]
			if err := w.fragment(f); err != nil {
				return err
			}
		}
		if len(w.held) == 0 || left == 0 {
			return nil
		}
		// Wait for the video, until the span would allow no more: then read on.
		f, last := w.held[0], w.held[len(w.held)-1]
		span := last.Time + last.Duration - f.Time
		wait := time.NewTimer(time.Duration(w.t.seconds(w.segTicks-span) * float64(time.Second)))
		select {
		case <-moved:
			wait.Stop()
		case <-wait.C:
			return nil
		}
	}
}

// endAudio writes, at the end of the audio, the held fragments that the video reached
// once every video track of the run has ended, and leaves out the rest.
func (w *trackWriter) endAudio() error {
	pk := w.pk
	for _, moved, left := w.videoEnd(); left > 0; _, moved, left = w.videoEnd() {
		<-moved
	}
	if err := w.holdAudio(); err != nil { // which returns at once: no video is left
		return err
	}
	if len(w.held) > 0 {
		f, last := w.held[0], w.held[len(w.held)-1]
		pk.log.Debug(fmt.Sprintf("track %d: the last %.0f ms of audio, after the video's end, left out", w.t.id, w.t.seconds(last.Time+last.Duration-f.Time)*1000))
		w.held = nil
	}
	return nil
}

// videoEnd returns, in w's timescale, the end of the media that the video tracks have
// written in this run (the furthest of them), 0 before any; with the channel that the
// next move of the video closes, and how many video tracks are still being read.
func (w *trackWriter) videoEnd() (end uint64, moved <-chan struct{}, left int) {
	pk := w.pk
	pk.mu.Lock()
	defer pk.mu.Unlock()
	for _, t := range pk.p.tracks {
		n := len(t.segs)
		if t.kind != videoTrack || n == 0 || t.segs[n-1].period != w.periodIndex {
			continue
		}
		last := t.segs[n-1]
		end = max(end, (last.start+last.duration)*uint64(w.t.timescale)/uint64(t.timescale))
	}
	return end, pk.moved, pk.videoLeft
}

// videoMoved tells the audio waiting in holdAudio that the video has moved. Called with
// pk.mu held.
func (pk *packager) videoMoved() {
	close(pk.moved)
	pk.moved = make(chan struct{})
}

// maxStretch bounds the hole that closeAudioHole closes: a few lost audio frames.
const maxStretch = 500 * time.Millisecond

// closeAudioHole stretches the first audio fragment of a run that continues the
// presentation back over the hole in the audio, where the audio resumes later after
// the last run's audio ended than the video does after its video: by up to 80 ms after
// a restart, the audio the killed FFmpeg had not flushed yet. HLS players place a
// discontinuity's audio by the video's timestamps, and hls.js, which finds the hole in
// its audio buffer, never ends the stream (_streamEnded allows no hole). Only the first
// frame moves, so the audio keeps its sync: a browser plays the frames one after the
// other across such a hole anyway.
func (w *trackWriter) closeAudioHole(f *media.Fragment) {
	pk, t := w.pk, w.t
	pk.mu.Lock()
	gap, ok := pk.videoGap, pk.gapped
	var end uint64
	if n := len(t.segs); n > 0 {
		end = t.segs[n-1].start + t.segs[n-1].duration
	} else {
		ok = false
	}
	pk.mu.Unlock()
	if !ok {
		return
	}
	want := end // where the audio resumes if it keeps the video's gap, never before its end
	if gap > 0 {
		want += ticks(gap, t.timescale)
	}
	if f.Time <= want {
		return
	}
	hole := f.Time - want
	d := time.Duration(t.seconds(hole) * float64(time.Second))
	if d > maxStretch {
		pk.log.Info(fmt.Sprintf("track %d: the audio resumes %.0f ms after the video: the hole stays", t.id, d.Seconds()*1000))
		return
	}
	if err := f.Stretch(hole); err != nil {
		pk.log.Warn(fmt.Sprintf("track %d: the hole of %.0f ms in the audio stays: %v", t.id, d.Seconds()*1000, err))
		return
	}
	pk.log.Info(fmt.Sprintf("track %d: the audio's first frame stretched back %.0f ms, over the hole after the last run's audio", t.id, d.Seconds()*1000))
}

// fragment writes one fragment, cutting a part or a segment before it if it is time.
func (w *trackWriter) fragment(f *media.Fragment) error {
	video := w.t.kind == videoTrack
	if video && f.Key {
		if w.keys > 0 {
			w.keyGap = f.Time - w.lastKey
		}
		w.lastKey = f.Time
		w.keys++
	}
	if w.seg == nil {
		n := w.number(f.Time)
		if w.closed > 0 {
			n = w.last + 1 // numbers never skip
		}
		if err := w.open(f, n); err != nil {
			return err
		}
		return w.closeEarly(f)
	}
	next := w.pstart + uint64(w.seg.number+1-w.startNumber)*w.segTicks // the next segment's nominal start
	cut := false
	switch {
	case !video:
		cut = f.Time+f.Duration/2 >= next
	case f.Key:
		cut = f.Time+w.tol >= next
	case w.keys > 1 && w.keyGap > w.segTicks*3/2:
		cut = f.Time >= next
	default:
		cut = f.Time >= next+w.tol
	}
	if cut {
		// Numbers never skip, even over a hole in the input's time: HLS counts segments.
		n := w.seg.number + 1
		if err := w.closeSegment(f.Time); err != nil {
			return err
		}
		if err := w.open(f, n); err != nil {
			return err
		}
		return w.closeEarly(f)
	}
	if w.partTicks > 0 && w.partFile != nil && w.partDur > 0 && w.partDur+f.Duration > w.partTicks {
		if err := w.closePart(); err != nil {
			return err
		}
	}
	if err := w.write(f); err != nil {
		return err
	}
	return w.closeEarly(f)
}

// closeEarly completes the segment as soon as the fragment just written ends it, rather
// than when the next fragment arrives: when that one will surely be cut. Audio is cut by
// time alone; in normal latency every video fragment starts with a keyframe (FFmpeg
// fragments at keyframes), and is a whole keyframe interval long, which would otherwise
// hold every segment back by one.
func (w *trackWriter) closeEarly(f *media.Fragment) error {
	end := f.Time + f.Duration
	next := w.pstart + uint64(w.seg.number+1-w.startNumber)*w.segTicks
	switch {
	case w.t.kind == audioTrack:
		if end+f.Duration/2 < next {
			return nil
		}
	case w.partTicks == 0:
		if end+w.tol < next {
			return nil
		}
	default:
		return nil
	}
	return w.closeSegment(end)
}

// number is the segment whose nominal time span holds time t (ticks).
func (w *trackWriter) number(t uint64) int64 {
	if t+w.tol < w.pstart {
		return w.startNumber
	}
	return w.startNumber + int64((t+w.tol-w.pstart)/w.segTicks)
}

// ticks converts d to units of timescale ts.
func ticks(d time.Duration, ts uint32) uint64 {
	return uint64(max(d, 0)) * uint64(ts) / uint64(time.Second)
}

// open starts segment n with fragment f.
func (w *trackWriter) open(f *media.Fragment, n int64) error {
	pk := w.pk
	name := segmentName(w.t.id, pk.p.id, n)
	sf, err := os.Create(filepath.Join(pk.dir, name+".tmp"))
	if err != nil {
		return fmt.Errorf("segment: %w", err)
	}
	w.segFile = sf
	pk.mu.Lock()
	w.seg = &segment{number: n, name: name, start: f.Time, independent: f.Key || w.t.kind == audioTrack, period: w.periodIndex, init: w.t.init}
	if k := len(w.t.segs); k > 0 {
		// A new period follows a discontinuity (HLS counts them).
		prev := w.t.segs[k-1]
		w.seg.disc = prev.disc
		if prev.period != w.seg.period {
			w.seg.disc++
		}
	}
	w.t.segs = append(w.t.segs, w.seg)
	pk.mu.Unlock()
	return w.write(f)
}

// write appends f to the segment and the part in progress, opening a part if needed.
func (w *trackWriter) write(f *media.Fragment) error {
	pk := w.pk
	if _, err := w.segFile.Write(f.Bytes); err != nil {
		return fmt.Errorf("segment: %w", err)
	}
	if w.partTicks > 0 {
		if w.partFile == nil {
			k := len(w.seg.parts)
			name := partName(w.t.id, pk.p.id, w.seg.number, k)
			pf, err := os.Create(filepath.Join(pk.dir, name+".tmp"))
			if err != nil {
				return fmt.Errorf("part: %w", err)
			}
			w.partFile, w.partDur = pf, 0
			pk.mu.Lock()
			w.seg.parts = append(w.seg.parts, part{name: name, independent: f.Key || w.t.kind == audioTrack})
			pk.mu.Unlock()
		}
		if _, err := w.partFile.Write(f.Bytes); err != nil {
			return fmt.Errorf("part: %w", err)
		}
		w.partDur += f.Duration
	}
	pk.mu.Lock()
	w.seg.duration += f.Duration
	w.seg.bytes += f.Size
	if w.partTicks > 0 {
		w.seg.parts[len(w.seg.parts)-1].duration = w.partDur
	}
	if w.t.kind == videoTrack {
		pk.videoMoved()
	}
	first := !pk.started[w.index]
	pk.started[w.index] = true
	pk.mu.Unlock()
	if first {
		pk.changed(w.t, false)
	}
	// A part that the next fragment of the same length would overflow is complete now,
	// rather than one fragment later.
	if w.partTicks > 0 && w.partDur+f.Duration > w.partTicks {
		return w.closePart()
	}
	return nil
}

// closePart completes the part in progress.
func (w *trackWriter) closePart() error {
	if w.partFile == nil {
		return nil
	}
	pk := w.pk
	pf := w.partFile
	w.partFile = nil
	name := filepath.Base(pf.Name())
	if err := pf.Close(); err != nil {
		return fmt.Errorf("part: %w", err)
	}
	final := name[:len(name)-len(".tmp")]
	if err := os.Rename(filepath.Join(pk.dir, name), filepath.Join(pk.dir, final)); err != nil {
		return fmt.Errorf("part: %w", err)
	}
	pk.mu.Lock()
	w.seg.parts[len(w.seg.parts)-1].complete = true
	pk.mu.Unlock()
	pk.changed(w.t, false)
	return nil
}

// closeSegment completes the segment in progress, which ends at media time end.
func (w *trackWriter) closeSegment(end uint64) error {
	if err := w.closePart(); err != nil {
		return err
	}
	pk := w.pk
	name := w.segFile.Name()
	if err := w.segFile.Close(); err != nil {
		return fmt.Errorf("segment: %w", err)
	}
	w.segFile = nil
	if err := os.Rename(name, name[:len(name)-len(".tmp")]); err != nil {
		return fmt.Errorf("segment: %w", err)
	}
	pk.mu.Lock()
	if end > w.seg.start {
		w.seg.duration = end - w.seg.start
	}
	w.seg.complete = true
	w.measure()
	old := w.prune()
	pk.mu.Unlock()
	for _, n := range old {
		os.Remove(filepath.Join(pk.dir, n))
	}
	w.last = w.seg.number
	w.seg = nil
	pk.changed(w.t, true)
	return nil
}

// measure sets the track's bandwidth from its complete segments: the peak and the mean
// bitrate over the last window of them. Called with pk.mu held.
func (w *trackWriter) measure() {
	segs := w.t.segs
	if n := max(w.pk.p.window, DefaultWindow); len(segs) > n {
		segs = segs[len(segs)-n:]
	}
	var peak, bits, secs float64
	for _, s := range segs {
		if !s.complete || s.duration == 0 {
			continue
		}
		d := w.t.seconds(s.duration)
		b := float64(s.bytes * 8)
		peak = max(peak, b/d)
		bits += b
		secs += d
	}
	if secs > 0 {
		w.t.bandwidth = int(peak)
		w.t.avgBandwidth = int(bits / secs)
	}
}

// prune forgets the segments past the window (and their parts), returning the names of
// the files to delete. Called with pk.mu held.
func (w *trackWriter) prune() []string {
	var old []string
	t := w.t
	if !w.pk.record && w.pk.p.window > 0 {
		if n := len(t.segs) - (w.pk.p.window + extraKept); n > 0 {
			for _, s := range t.segs[:n] {
				old = append(old, s.name)
				for _, p := range s.parts {
					old = append(old, p.name)
				}
			}
			t.segs = append(t.segs[:0], t.segs[n:]...)
		}
	}
	// Parts are listed for the last partsKept segments; their files stay a little longer
	// for players that fetched the playlist just before.
	for i, s := range t.segs {
		if age := len(t.segs) - 1 - i; age >= partsKept && s.parts != nil {
			for _, p := range s.parts {
				w.stale = append(w.stale, stalePart{name: p.name, until: w.closed + partsDeleted - partsKept})
			}
			s.parts = nil
		}
	}
	w.closed++
	for len(w.stale) > 0 && w.stale[0].until <= w.closed {
		old = append(old, w.stale[0].name)
		w.stale = w.stale[1:]
	}
	return old
}

// finish completes the segment in progress at the end of the track.
func (w *trackWriter) finish() error {
	if w.seg == nil {
		return nil
	}
	return w.closeSegment(w.seg.start + w.seg.duration)
}

// abandon ends the segment in progress of a track that failed (FFmpeg died): it holds
// whole fragments only, so it is complete as far as it goes, and a run that continues the
// presentation starts after it.
func (w *trackWriter) abandon() {
	if w.seg != nil {
		if err := w.finish(); err != nil {
			w.pk.log.Warn("cannot finish the last segment", "track", w.t.id, "err", err)
		}
	}
}

// lastSegment returns the number of the first track's last complete segment, 0 if none.
func (pk *packager) lastSegment() int {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	segs := pk.p.tracks[0].segs
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i].complete {
			return int(segs[i].number)
		}
	}
	return 0
}

// changed rewrites the manifests after a part (or, with seg, a segment) of track t was
// completed. Nothing is written until every track has its first fragment, when the
// timeline's origin is fixed.
func (pk *packager) changed(t *track, seg bool) {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if !pk.live {
		for _, s := range pk.started {
			if !s {
				return
			}
		}
		pk.live = true
		pk.log.Debug("presentation starts", "availability_start", pk.p.ast)
		for _, t := range pk.p.tracks {
			pk.writePlaylist(t)
		}
		pk.writeMaster()
		pk.writeMPD()
		return
	}
	pk.writePlaylist(t)
	if seg {
		// The MPD changes with the window and the measured bandwidth; the master playlist
		// with the bandwidth, when it moved by a tenth.
		pk.writeMPD()
		for i, t := range pk.p.tracks {
			if i >= len(pk.master) || t.bandwidth > pk.master[i]*11/10 || t.bandwidth < pk.master[i]*9/10 {
				pk.writeMaster()
				break
			}
		}
	}
}

// closeRun closes this run's period once every track of the run has ended: the MPD then
// lists its segments exactly, so that players ask for none after its last while the
// presentation waits for the next run (or its end).
func (pk *packager) closeRun() {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if pk.run == nil || pk.run.closed {
		return
	}
	pk.run.closed = true
	if pk.live {
		pk.writeMPD()
	}
}

// end writes the final manifests: every track has ended.
func (pk *packager) end() error {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if !pk.live {
		return nil
	}
	pk.p.ended = true
	pk.p.static = pk.record
	for _, t := range pk.p.tracks {
		pk.writePlaylist(t)
	}
	pk.writeMaster()
	return pk.writeMPD()
}

// finish writes the final MPD of a live presentation that has ended (mpd.go) finalAfter
// from now, or at once when ctx ends first (the process is ending, and an ended MPD left
// asking players to update it would be left so for good), and returns once it is written.
// It writes none if another presentation takes the folder meanwhile (finals.cancel).
func (pk *packager) finish(ctx context.Context) {
	pk.mu.Lock()
	if !pk.live || !pk.p.ended || pk.p.static || pk.final != nil {
		pk.mu.Unlock()
		return
	}
	pk.final = make(chan struct{})
	pk.mu.Unlock()
	pending.add(pk)
	defer pending.remove(pk)
	t := time.NewTimer(finalAfter(&pk.p))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-pk.final:
		return
	}
	pk.mu.Lock()
	defer pk.mu.Unlock()
	select {
	case <-pk.final: // cancelled meanwhile
		return
	default:
	}
	pk.p.final = true
	if err := pk.writeMPD(); err != nil {
		pk.log.Warn("cannot write the final manifest", "err", err)
	}
	close(pk.final)
}

// cancelFinal gives up the final MPD: another presentation has taken the folder.
func (pk *packager) cancelFinal() {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if pk.final == nil {
		return
	}
	select {
	case <-pk.final:
	default:
		close(pk.final)
	}
}

// pending are the packagers whose final MPD is still to be written, by folder: a new
// presentation in the folder cancels it, so that it does not replace the new MPD.
var pending = finals{m: map[string]*packager{}}

type finals struct {
	mu sync.Mutex
	m  map[string]*packager
}

func (f *finals) add(pk *packager) {
	f.mu.Lock()
	old := f.m[pk.dir]
	f.m[pk.dir] = pk
	f.mu.Unlock()
	if old != nil && old != pk {
		old.cancelFinal()
	}
}

func (f *finals) remove(pk *packager) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m[pk.dir] == pk {
		delete(f.m, pk.dir)
	}
}

// cancel gives up the final MPD pending in folder dir, if any.
func (f *finals) cancel(dir string) {
	f.mu.Lock()
	pk := f.m[dir]
	delete(f.m, dir)
	f.mu.Unlock()
	if pk != nil {
		pk.cancelFinal()
	}
}

// stamp sets each segment's wall-clock start and the publish time. Called with pk.mu held.
func (pk *packager) stamp() {
	pk.p.published = pk.now()
	for _, t := range pk.p.tracks {
		for _, s := range t.segs {
			s.wall = pk.p.ast.Add(time.Duration(t.seconds(s.start) * float64(time.Second)))
		}
	}
}

func (pk *packager) writeMPD() error {
	pk.stamp()
	var b bytes.Buffer
	if err := writeMPD(&b, &pk.p); err != nil {
		return pk.failed(stream.Manifest, err)
	}
	return pk.failed(stream.Manifest, writeFile(filepath.Join(pk.dir, stream.Manifest), b.Bytes()))
}

func (pk *packager) writeMaster() error {
	pk.master = pk.master[:0]
	for _, t := range pk.p.tracks {
		pk.master = append(pk.master, t.bandwidth)
	}
	var b bytes.Buffer
	if err := writeMasterPlaylist(&b, &pk.p); err != nil {
		return pk.failed(stream.Playlist, err)
	}
	return pk.failed(stream.Playlist, writeFile(filepath.Join(pk.dir, stream.Playlist), b.Bytes()))
}

// writePlaylist writes track t's media playlist, once it lists a complete segment: a
// playlist of parts alone is one that hls.js takes for an error (levelEmptyError) and asks
// for again only a second or two later, where a request for a playlist not written yet is
// held by sv serve until it is.
func (pk *packager) writePlaylist(t *track) error {
	if !t.hls {
		return nil
	}
	if listed, _ := playlistWindow(&pk.p, t); len(listed) == 0 {
		return nil
	}
	pk.stamp()
	var b bytes.Buffer
	name := playlistName(t.id)
	if err := writeMediaPlaylist(&b, &pk.p, t); err != nil {
		return pk.failed(name, err)
	}
	return pk.failed(name, writeFile(filepath.Join(pk.dir, name), b.Bytes()))
}

func (pk *packager) failed(name string, err error) error {
	if err != nil {
		pk.log.Error("cannot write "+name, "err", err)
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// writeFile replaces the file at path with b by renaming a complete temporary file over
// it, so that a reader never sees half of it.
func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
