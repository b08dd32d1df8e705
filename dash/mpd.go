package dash

// The MPEG-DASH manifest (manifest.mpd) over the tracks marked dash, valid against
// ISO/IEC 23009-1's schema (MPEGGroup/DASHSchema, see dash/testdata/schema) and written
// for stock dash.js 5 and Shaka Player 5, whose sources decided the choices below.
//
// # Live
//
// A dynamic MPD with one Period starting at 0, media time 0 being presentation time 0,
// at availabilityStartTime. Each Representation has its own SegmentTemplate with @duration
// (the segment target) and $Number$: segment n nominally starts at (n-1) x @duration.
// @startNumber stays 1 however many segments the window has dropped: with @duration both
// players number segments from the period start (dash.js TemplateSegmentsGetter: number
// = floor(t / @duration) + @startNumber; Shaka SegmentTemplate likewise), so a
// @startNumber of the first segment listed would shift every number. The window is
// timeShiftBufferDepth instead. No segment is listed, so no update is needed to learn new
// ones: minimumUpdatePeriod is one segment only so that players learn the end soon.
//
// A restarted FFmpeg or a reconnected publisher continues the presentation in a new
// Period. A period whose run has ended (closed) lists its segments exactly, with a
// SegmentTimeline like the static MPD's: players count a period's @duration segments as
// ceil(period duration / @duration), and the next period starts where the new run's
// media is on the wall clock, often seconds after the last segment's nominal end, so
// @duration would promise segments that never come (dash.js asked for them, stalled
// there for good, and never moved on to the next period). Closed at once when its run
// ends, the last period also tells players, while the presentation waits for the next
// run, that no segment follows its last until the MPD says otherwise.
//
// The end of a live presentation is said in two steps. First the MPD stays dynamic and
// gets its mediaPresentationDuration, the DASH-IF IOP way, with a minimumUpdatePeriod
// of half a second at most (endedUpdate): dash.js plays to the end and fires ended. The
// last period keeps its @duration template (dash.js did not end on a SegmentTimeline
// there), with @endNumber: the duration is where the media ends (liveEnd), often a
// little past the last segment's nominal end, and players would otherwise count a
// segment more. Shaka ignores @endNumber, asks for the segment after the last, and ends
// no dynamic MPD: its StreamingEngine counts the time to the end as infinite while the
// MPD is dynamic. So finalAfter later (three updates, so that every player has seen the
// first step), the MPD becomes static (the final MPD), with the same periods and
// timeline as live, each period's segments listed by SegmentTimeline: Shaka plays to
// its end and fires ended. The order matters to Shaka: a static MPD straight after a
// live one (no duration) is, to it, a live stream turned into an on-demand one whose
// timeline starts where its seek range started, and it shifts every period by that much
// (DashParser's dynamic-to-static transition); after a dynamic MPD with a duration it
// takes the static one as it is. dash.js ignores a static MPD after a dynamic one (DASH-IF
// IOP 4.6.4: it stops updating and asks for no more segments) and has asked for every
// segment by then.
//
// Low latency (parts): @availabilityTimeOffset = segment - part on the open period's
// SegmentTemplate makes a segment available when its first part is written (the server
// streams the rest as it grows), and @availabilityTimeComplete="false" says so (a closed
// period's segments are all complete); dash.js turns on its low-latency mode from the
// latter, Shaka from a non-zero offset. The offset is on the
// Representation's SegmentTemplate only: Shaka adds up the offsets of every level.
//
// ServiceDescription (target latency, playback rates) is read by both; a
// ProducerReferenceTime in each Representation ties a media time to the wall clock.
// dash.js corrects its latency by it (applyProducerReferenceTime, in the timescale of the
// adaptation set's first Representation, hence one per Representation in its own
// timescale); Shaka parses its wallClockTime as an ISO date only when it has a UTCTiming
// child of a non-NTP scheme, as DASH-IF IOP wants anyway. UTCTiming at the end of the MPD
// points players at the server's clock.
//
// # Static
//
// After the end, an on-demand MPD lists exactly the segments still on disk with a
// SegmentTimeline (exact @t and @d, $Number$ from @startNumber), rebased so that the
// presentation starts at 0: presentationTimeOffset is the latest first-segment start of
// all tracks. A template with @duration would have the players compute
// ceil(duration / @duration) segments from nominal times that real, keyframe-cut
// segments only approximate: one too many at the end for a segment longer than the
// target, a request for a file that does not exist.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

const (
	mpdNamespace  = "urn:mpeg:dash:schema:mpd:2011"
	xsiNamespace  = "http://www.w3.org/2001/XMLSchema-instance"
	utcTiming     = "urn:mpeg:dash:utc:http-iso:2014"
	cicpChannels  = "urn:mpeg:mpegB:cicp:ChannelConfiguration"
	countChannels = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"
	// liveProfile alone: the CMAF (urn:mpeg:dash:profile:cmaf:2019) and DASH-IF
	// low-latency profiles would claim brands and constraints that FFmpeg's fragments
	// are not checked against, and neither player reads profiles.
	liveProfile = "urn:mpeg:dash:profile:isoff-live:2011"
)

// writeMPD writes p's MPD: dynamic while live, static once p.static.
func writeMPD(w io.Writer, p *presentation) error {
	var tracks []*track
	for _, t := range p.tracks {
		if !t.dash {
			continue
		}
		if err := checkManifestTrack(p, t); err != nil {
			return err
		}
		// Players compute the names from the $Number$ template: they must be these.
		for _, s := range t.segs {
			if want := segmentName(t.id, p.id, s.number); s.name != want {
				return fmt.Errorf("track %d: segment %d is named %q, not %q", t.id, s.number, s.name, want)
			}
		}
		tracks = append(tracks, t)
	}
	if len(tracks) == 0 {
		return errors.New("no track is in the mpd")
	}
	var x xmlWriter
	var err error
	if p.static {
		err = x.staticMPD(p, tracks)
	} else {
		err = x.liveMPD(p, tracks)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(x.b.Bytes())
	return err
}

func (x *xmlWriter) liveMPD(p *presentation, tracks []*track) error {
	if p.published.IsZero() {
		return errors.New("no publish time")
	}
	lowLatency := p.part > 0
	if lowLatency && p.part >= p.seg {
		return fmt.Errorf("part target %v is not below the segment duration %v", p.part, p.seg)
	}

	var attrs []string
	if p.final {
		attrs = mpdAttrs("static", "publishTime", isoMillis(p.published))
	} else {
		attrs = mpdAttrs("dynamic",
			"availabilityStartTime", isoMillis(p.ast),
			"publishTime", isoMillis(p.published))
	}
	switch {
	case p.ended:
		end, err := liveEnd(p, tracks)
		if err != nil {
			return err
		}
		attrs = append(attrs, "mediaPresentationDuration", xsDuration(end))
		if !p.final {
			attrs = append(attrs, "minimumUpdatePeriod", xsDuration(endedUpdate(p)))
		}
	default:
		attrs = append(attrs, "minimumUpdatePeriod", xsDuration(p.seg))
	}
	if p.window > 0 && !p.final {
		attrs = append(attrs, "timeShiftBufferDepth", xsDuration(time.Duration(p.window)*p.seg))
	}
	longest := time.Duration(0)
	for _, t := range tracks {
		listed, _ := manifestWindow(p, t)
		longest = max(longest, longestSegment(t, listed))
	}
	if longest == 0 {
		longest = p.seg
	}
	attrs = append(attrs,
		"maxSegmentDuration", xsDuration(longest),
		"minBufferTime", xsDuration(p.seg))
	if !lowLatency && !p.final {
		// Read by Shaka (dash.js prefers the ServiceDescription): how far behind its
		// live edge, now - availabilityStartTime - maxSegmentDuration, to play.
		//
		// Not with low latency, where the ServiceDescription says it. Shaka in its
		// low-latency mode (the default of 5.x) starts at its live edge plus the
		// availabilityTimeOffset (a part, and the longest segment's excess over the
		// target, behind now) minus this delay, and then holds its latency to that
		// point within the ServiceDescription's target plus half a second: a delay
		// here would count the target twice (it played 1.1 s behind with 0.5 s here,
		// where dash.js played 0.8 s). Without it Shaka takes its own low-latency
		// default, 0, and outside that mode 1.5 x minBufferTime.
		delay := 3 * p.seg
		if p.target > 0 {
			delay = p.target
		}
		attrs = append(attrs, "suggestedPresentationDelay", xsDuration(delay))
	}
	x.declaration()
	x.open("MPD", attrs...)

	prt := p.timeURL != "" && !p.final
	if p.target > 0 && !p.final {
		target := p.target.Milliseconds()
		latency := []string{
			"target", strconv.FormatInt(target, 10),
			"min", strconv.FormatInt(target/2, 10),
			// No max: dash.js would seek to its live point once its latency passed max
			// + 0.5 s, and while a publisher reconnects (or FFmpeg restarts) that point
			// is past the last segment. dash.js clamps the seek to the end of its
			// buffer, where it waits for good, seeking, with its gap jumping off, even
			// once the next period is buffered. Without max it seeks only 12 s out of
			// step (its default), and across a gap it waits until the next period is
			// buffered and jumps to it. (Shaka ignores max beside a target.)
		}
		if prt {
			latency = append([]string{"referenceId", "0"}, latency...)
		}
		x.open("ServiceDescription", "id", "0")
		x.empty("Latency", latency...)
		x.empty("PlaybackRate", "min", "0.96", "max", "1.04")
		x.close("ServiceDescription")
	}

	periods := livePeriods(p, tracks)
	for pi, per := range periods {
		exact := listedExactly(p, per)
		timed := make(map[*track]*timedTrack, len(tracks))
		for _, t := range tracks {
			segs := periodSegments(p, t, per)
			if len(segs) == 0 {
				exact = false // a period without segments of some track: see livePeriods
				break
			}
			timed[t] = &timedTrack{track: t, segs: segs, pto: ticksRounded(per.start, t.timescale)}
		}
		x.open("Period", "id", strconv.Itoa(per.index), "start", xsDuration(per.start))
		var err error
		for i, set := range adaptationSets(tracks) {
			x.adaptationSet(i, set, func(t *track) {
				if prt && pi == len(periods)-1 {
					x.producerReferenceTime(p, t)
				}
				if exact {
					if err == nil {
						err = x.timeline(p, timed[t])
					}
					return
				}
				// Each period has its own init segment and numbers its segments from
				// its own start (dash.js TemplateSegmentsGetter: number = floor((t -
				// period start) / duration) + startNumber).
				tmpl := []string{
					"timescale", strconv.FormatUint(uint64(t.timescale), 10),
					"duration", strconv.FormatInt(int64(math.Round(p.seg.Seconds()*float64(t.timescale))), 10),
					"startNumber", strconv.FormatInt(per.first(t.id), 10),
				}
				if per.start > 0 {
					tmpl = append(tmpl, "presentationTimeOffset", strconv.FormatUint(ticksRounded(per.start, t.timescale), 10))
				}
				tmpl = append(tmpl,
					"initialization", initName(t.id, p.id, per.index),
					"media", mediaTemplate(t.id, p.id))
				if lowLatency && !p.ended {
					tmpl = append(tmpl,
						"availabilityTimeOffset", decimalSeconds(p.seg-p.part),
						"availabilityTimeComplete", "false")
				}
				if p.ended {
					// The end is no segment boundary (liveEnd): players would count
					// one segment more to it. dash.js stops at @endNumber; Shaka
					// ignores it.
					if segs := periodSegments(p, t, per); len(segs) > 0 {
						tmpl = append(tmpl, "endNumber", strconv.FormatInt(segs[len(segs)-1].number, 10))
					}
				}
				x.empty("SegmentTemplate", tmpl...)
			})
		}
		if err != nil {
			return err
		}
		x.close("Period")
	}
	if prt {
		x.empty("UTCTiming", "schemeIdUri", utcTiming, "value", p.timeURL)
	}
	x.close("MPD")
	return nil
}

// livePeriods returns the periods a live MPD lists: the closed ones with a segment of
// every track listed, and the newest unless it is closed without. A closed period missing
// a track's segments (a run that died before that track's first) is left out, for its
// timeline would be empty: it is a gap in the presentation, as the time between runs is.
// Should no period be left, the newest is listed by @duration all the same.
func livePeriods(p *presentation, tracks []*track) []*period {
	if len(p.periods) == 0 {
		return []*period{{startNumber: 1}}
	}
	var ps []*period
	for i, per := range p.periods {
		every, some := true, false
		for _, t := range tracks {
			if len(periodSegments(p, t, per)) > 0 {
				some = true
			} else {
				every = false
			}
		}
		exact := listedExactly(p, per)
		if exact && every || !exact && (some || i == len(p.periods)-1) {
			ps = append(ps, per)
		}
	}
	if len(ps) == 0 {
		ps = append(ps, p.periods[len(p.periods)-1])
	}
	return ps
}

// listedExactly says whether a live MPD lists period per's segments by SegmentTimeline:
// when it is closed, but for the last period of an ended presentation, which stays
// @duration (dash.js, given its segments by SegmentTimeline in the MPD that ended it,
// waited at its end and never fired ended); every period of the final MPD.
func listedExactly(p *presentation, per *period) bool {
	return p.final || per.closed && !(p.ended && per.index == len(p.periods)-1)
}

// endedUpdate is the minimumUpdatePeriod of the MPD of a live presentation that has
// ended: a segment, at most half a second, so that players soon see the final MPD.
func endedUpdate(p *presentation) time.Duration { return min(p.seg, 500*time.Millisecond) }

// finalAfter is how long after the end the final MPD replaces the ended one: three of
// its updates, so that every player has read the ended one first.
func finalAfter(p *presentation) time.Duration { return 3 * endedUpdate(p) }

// periodSegments returns the complete segments of t in period per that a live manifest
// lists.
func periodSegments(p *presentation, t *track, per *period) []*segment {
	listed, _ := manifestWindow(p, t)
	var segs []*segment
	for _, s := range listed {
		if s.period == per.index {
			segs = append(segs, s)
		}
	}
	return segs
}

// liveEnd returns where an ended live presentation ends: where the media of its last
// track to end ends, rounded up to the millisecond. The last period's templates carry
// @endNumber, so that players do not count segments to that end (liveTemplate).
//
// Not earlier: dash.js checks every 200 ms whether its playhead has passed the end, and
// if so seeks to it and pauses. A last video segment that runs past its nominal end (its
// cut waits for a keyframe) left its media a few tens of milliseconds after a duration
// cut at the nominal end; when dash.js's check came first, the element, paused short of
// its media's end, never fired ended (1 run in 3 of TestPlayersEnd). MSE ends the
// element's media where its last track ends, and with the duration there, the element
// ends before dash.js's check can find the playhead past it.
func liveEnd(p *presentation, tracks []*track) (time.Duration, error) {
	end := time.Duration(-1)
	for _, t := range tracks {
		listed, _ := manifestWindow(p, t)
		if len(listed) == 0 {
			continue
		}
		s := listed[len(listed)-1]
		end = max(end, mediaDuration(t, s.start+s.duration))
	}
	if end < 0 {
		return 0, errors.New("the presentation ended without a complete segment")
	}
	return (end + time.Millisecond - 1).Truncate(time.Millisecond), nil
}

// ticksRounded converts d to the nearest whole unit of timescale ts.
func ticksRounded(d time.Duration, ts uint32) uint64 {
	return uint64(math.Round(d.Seconds() * float64(ts)))
}

// timedTrack is a track listed by a SegmentTimeline (a static MPD's, a closed period's):
// its segments, and the media time of the start (presentationTimeOffset).
type timedTrack struct {
	*track
	segs []*segment
	pto  uint64
}

func (x *xmlWriter) staticMPD(p *presentation, tracks []*track) error {
	// The presentation starts where every track has media: at the latest first start.
	var timed []*timedTrack
	var start time.Duration
	for _, t := range tracks {
		listed := completeSegments(t)
		if len(listed) == 0 {
			continue
		}
		timed = append(timed, &timedTrack{track: t, segs: listed})
		start = max(start, mediaDuration(t, listed[0].start))
	}
	if len(timed) == 0 {
		return errors.New("no complete segment for a static mpd")
	}
	var end, longest time.Duration
	kept := timed[:0]
	for _, tt := range timed {
		tt.pto = ticksRounded(start, tt.timescale)
		for len(tt.segs) > 0 && tt.segs[0].start+tt.segs[0].duration <= tt.pto {
			tt.segs = tt.segs[1:]
		}
		if len(tt.segs) == 0 {
			continue
		}
		last := tt.segs[len(tt.segs)-1]
		end = max(end, mediaDuration(tt.track, last.start+last.duration))
		longest = max(longest, longestSegment(tt.track, tt.segs))
		kept = append(kept, tt)
	}
	timed = kept

	attrs := mpdAttrs("static")
	if !p.published.IsZero() {
		attrs = append(attrs, "publishTime", isoMillis(p.published))
	}
	attrs = append(attrs,
		"mediaPresentationDuration", xsDuration((end - start).Truncate(time.Millisecond)),
		"maxSegmentDuration", xsDuration(longest),
		"minBufferTime", xsDuration(p.seg))
	x.declaration()
	x.open("MPD", attrs...)
	x.open("Period", "id", "0", "start", "PT0S")
	byTrack := make(map[*track]*timedTrack, len(timed))
	var sets []*track
	for _, tt := range timed {
		byTrack[tt.track] = tt
		sets = append(sets, tt.track)
	}
	for i, set := range adaptationSets(sets) {
		var err error
		x.adaptationSet(i, set, func(t *track) {
			if err == nil {
				err = x.timeline(p, byTrack[t])
			}
		})
		if err != nil {
			return err
		}
	}
	x.close("Period")
	x.close("MPD")
	return nil
}

// timeline writes a SegmentTemplate with the SegmentTimeline of tt's segments: runs of
// contiguous segments of equal duration in one S with @r, an explicit @t where one does
// not start where the previous one ended.
func (x *xmlWriter) timeline(p *presentation, tt *timedTrack) error {
	x.open("SegmentTemplate",
		"timescale", strconv.FormatUint(uint64(tt.timescale), 10),
		"presentationTimeOffset", strconv.FormatUint(tt.pto, 10),
		"startNumber", strconv.FormatInt(tt.segs[0].number, 10),
		"initialization", initSegmentOf(tt.track, tt.segs[0]),
		"media", mediaTemplate(tt.id, p.id))
	x.open("SegmentTimeline")
	type run struct {
		t, d uint64
		r    int
		at   bool // t is written
	}
	var runs []run
	var next uint64
	for i, s := range tt.segs {
		if i > 0 && s.start < next {
			return fmt.Errorf("track %d: segment %d starts before the end of the one before", tt.id, s.number)
		}
		if n := len(runs); n > 0 && s.start == next && s.duration == runs[n-1].d {
			runs[n-1].r++
		} else {
			runs = append(runs, run{t: s.start, d: s.duration, at: i == 0 || s.start != next})
		}
		next = s.start + s.duration
	}
	for _, r := range runs {
		var attrs []string
		if r.at {
			attrs = append(attrs, "t", strconv.FormatUint(r.t, 10))
		}
		attrs = append(attrs, "d", strconv.FormatUint(r.d, 10))
		if r.r > 0 {
			attrs = append(attrs, "r", strconv.Itoa(r.r))
		}
		x.empty("S", attrs...)
	}
	x.close("SegmentTimeline")
	x.close("SegmentTemplate")
	return nil
}

// adaptationSets groups tracks into adaptation sets of one kind and one codec family
// (avc1, opus, mp4a, ...): players switch between the Representations of a set, which
// needs the same codec. Video sets come first, each in the order of its tracks.
func adaptationSets(tracks []*track) [][]*track {
	var sets [][]*track
	for _, kind := range []trackKind{videoTrack, audioTrack} {
		first := len(sets)
	next:
		for _, t := range tracks {
			if t.kind != kind {
				continue
			}
			for i := first; i < len(sets); i++ {
				if codecPrefix(sets[i][0].codec) == codecPrefix(t.codec) {
					sets[i] = append(sets[i], t)
					continue next
				}
			}
			sets = append(sets, []*track{t})
		}
	}
	return sets
}

// codecPrefix is the sample entry part of an RFC 6381 codec string: avc1.42e01f -> avc1.
func codecPrefix(codec string) string {
	family, _, _ := strings.Cut(codec, ".")
	return family
}

// adaptationSet writes one AdaptationSet with a Representation per track; segments writes
// the end of each Representation (its ProducerReferenceTime and SegmentTemplate).
func (x *xmlWriter) adaptationSet(id int, set []*track, segments func(*track)) {
	attrs := []string{"id", strconv.Itoa(id)}
	if set[0].kind == videoTrack {
		attrs = append(attrs, "contentType", "video", "mimeType", "video/mp4")
	} else {
		attrs = append(attrs, "contentType", "audio", "mimeType", "audio/mp4")
	}
	// Segments are cut at keyframes, at the same numbers in every track.
	attrs = append(attrs, "segmentAlignment", "true", "startWithSAP", "1")
	x.open("AdaptationSet", attrs...)
	for _, t := range set {
		rep := []string{
			"id", strconv.Itoa(t.id),
			"bandwidth", strconv.Itoa(peakBandwidth(t)),
			"codecs", t.codec,
		}
		if t.kind == videoTrack {
			if t.width > 0 && t.height > 0 {
				rep = append(rep, "width", strconv.Itoa(t.width), "height", strconv.Itoa(t.height))
			}
		} else if t.sampleRate > 0 {
			rep = append(rep, "audioSamplingRate", strconv.Itoa(t.sampleRate))
		}
		x.open("Representation", rep...)
		if t.kind == audioTrack && t.channels > 0 {
			x.empty("AudioChannelConfiguration", channelConfiguration(t.channels)...)
		}
		segments(t)
		x.close("Representation")
	}
	x.close("AdaptationSet")
}

// channelConfiguration describes a channel count: by its ChannelConfiguration code point
// (ISO/IEC 23091-3) where one has exactly that many channels in the usual layout, else
// as a plain count.
func channelConfiguration(channels int) []string {
	switch channels {
	case 1, 2, 3, 4, 5, 6:
		return []string{"schemeIdUri", cicpChannels, "value", strconv.Itoa(channels)}
	case 8:
		return []string{"schemeIdUri", cicpChannels, "value", "12"} // 7.1, back surround
	}
	return []string{"schemeIdUri", countChannels, "value", strconv.Itoa(channels)}
}

// producerReferenceTime ties the start of t's newest segment (or media time 0 before
// the first) to the wall clock.
func (x *xmlWriter) producerReferenceTime(p *presentation, t *track) {
	listed, open := manifestWindow(p, t)
	newest := open
	if newest == nil && len(listed) > 0 {
		newest = listed[len(listed)-1]
	}
	media, wall := uint64(0), p.ast
	if newest != nil {
		media, wall = newest.start, segmentWallClock(p, t, newest)
	}
	x.open("ProducerReferenceTime", "id", "0", "type", "encoder",
		"wallClockTime", isoMillis(wall), "presentationTime", strconv.FormatUint(media, 10))
	x.empty("UTCTiming", "schemeIdUri", utcTiming, "value", p.timeURL)
	x.close("ProducerReferenceTime")
}

// mediaTemplate is the $Number$ template of segmentName.
func mediaTemplate(id int, pres string) string {
	return fmt.Sprintf("chunk-stream%d-%s-$Number%%05d$.m4s", id, pres)
}

// longestSegment returns the duration of the longest of segs, rounded up to the
// millisecond: maxSegmentDuration must not be below any.
func longestSegment(t *track, segs []*segment) time.Duration {
	var d uint64
	for _, s := range segs {
		d = max(d, s.duration)
	}
	ms := (d*1000 + uint64(t.timescale) - 1) / uint64(t.timescale)
	return time.Duration(ms) * time.Millisecond
}

// mediaDuration converts media time of t to a duration, to the nanosecond.
func mediaDuration(t *track, d uint64) time.Duration {
	return time.Duration(math.Round(t.seconds(d) * float64(time.Second)))
}

// xsDuration formats d as an xs:duration in seconds: PT0S, PT1S, PT0.8S, PT90.5S.
func xsDuration(d time.Duration) string { return "PT" + decimalSeconds(d) + "S" }

// mpdAttrs returns the MPD element's namespace and profile attributes, its type and the
// pairs given.
func mpdAttrs(typ string, more ...string) []string {
	return append([]string{
		"xmlns", mpdNamespace,
		"xmlns:xsi", xsiNamespace,
		"xsi:schemaLocation", mpdNamespace + " DASH-MPD.xsd",
		"profiles", liveProfile,
		"type", typ,
	}, more...)
}

// xmlWriter writes indented XML elements whose attributes are given as name, value
// pairs, in the order given: the same model gives the same bytes.
type xmlWriter struct {
	b     bytes.Buffer
	depth int
}

func (x *xmlWriter) declaration() { x.b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n") }

func (x *xmlWriter) open(name string, attrs ...string) {
	x.start(name, attrs)
	x.b.WriteString(">\n")
	x.depth++
}

func (x *xmlWriter) empty(name string, attrs ...string) {
	x.start(name, attrs)
	x.b.WriteString("/>\n")
}

func (x *xmlWriter) close(name string) {
	x.depth--
	x.indent()
	x.b.WriteString("</")
	x.b.WriteString(name)
	x.b.WriteString(">\n")
}

func (x *xmlWriter) start(name string, attrs []string) {
	x.indent()
	x.b.WriteByte('<')
	x.b.WriteString(name)
	for i := 0; i+1 < len(attrs); i += 2 {
		x.b.WriteByte(' ')
		x.b.WriteString(attrs[i])
		x.b.WriteString(`="`)
		attrEscaper.WriteString(&x.b, attrs[i+1])
		x.b.WriteByte('"')
	}
}

func (x *xmlWriter) indent() {
	for range x.depth {
		x.b.WriteString("  ")
	}
}

var attrEscaper = strings.NewReplacer(`&`, "&amp;", `<`, "&lt;", `>`, "&gt;", `"`, "&quot;",
	"\t", "&#9;", "\n", "&#10;", "\r", "&#13;")
