package dash

// The HLS playlists over the tracks marked hls: one multivariant playlist (master.m3u8)
// and one media playlist per track (media_N.m3u8), per RFC 8216bis
// (draft-pantos-hls-rfc8216bis) with its low-latency part: partial segments, preload
// hints, blocking playlist reload and rendition reports.
//
// # The form of a media playlist
//
// `sv serve` answers blocking playlist reloads (_HLS_msn, _HLS_part) by reading the media
// playlist, so its form is fixed: one tag or URI a line, LF line ends, in this order.
// Lines in brackets are there only when the condition after them holds.
//
//	#EXTM3U
//	#EXT-X-VERSION:6
//	#EXT-X-TARGETDURATION:<integer seconds>
//	[#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=<s>,HOLD-BACK=<s>]  low latency (parts)
//	[#EXT-X-PART-INF:PART-TARGET=<s>]                                             low latency
//	#EXT-X-MEDIA-SEQUENCE:<number of the first segment listed>
//	[#EXT-X-DISCONTINUITY-SEQUENCE:<n>]                                           n > 0
//	[#EXT-X-INDEPENDENT-SEGMENTS]                                                 every segment listed starts with a keyframe
//	#EXT-X-MAP:URI="<init segment of the first segment listed>"
//
// then each complete segment, oldest first:
//
//	[#EXT-X-DISCONTINUITY]                                  it does not continue the previous one
//	[#EXT-X-MAP:URI="<its init segment>"]                   it brings a new init segment
//	#EXT-X-PROGRAM-DATE-TIME:<2026-12-03T21:00:00.123Z>
//	[#EXT-X-PART:DURATION=<s>,URI="<part>"[,INDEPENDENT=YES]]  each of its parts, low latency, while it keeps them
//	#EXTINF:<seconds, 5 decimals>,
//	<segment file name>
//
// then, low latency and live only, the segment in progress, without EXTINF or URI, and
// only once it has a complete part; until then, the last complete segment is shown this
// way instead (see playlistWindow), and the preload hint names the first part after it:
//
//	[#EXT-X-DISCONTINUITY] [#EXT-X-MAP:URI="..."]
//	#EXT-X-PROGRAM-DATE-TIME:<...>
//	#EXT-X-PART:DURATION=<s>,URI="<part>"[,INDEPENDENT=YES]  each complete part, K = 0, 1, ...
//
// then, low latency and live only:
//
//	#EXT-X-PRELOAD-HINT:TYPE=PART,URI="<the next part>"
//	#EXT-X-RENDITION-REPORT:URI="media_M.m3u8",LAST-MSN=<n>[,LAST-PART=<k>]  each other hls track of the same kind
//
// and once the input has ended (then there is no segment in progress, no preload hint
// and no rendition report):
//
//	#EXT-X-ENDLIST
//
// So with S = EXT-X-MEDIA-SEQUENCE and E = the number of #EXTINF lines, the last segment
// shown complete is S+E-1, and the #EXT-X-PART lines after the last URI line (none when
// no segment is shown in progress) are parts 0, 1, ... of segment S+E.
// Durations are decimal seconds; no line has trailing blanks.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// hlsVersion is the lowest protocol version that has every tag these playlists use:
// EXT-X-MAP outside an I-frame playlist needs 6 (RFC 8216bis, Protocol Version
// Compatibility); the low-latency tags need no higher one, and EXT-X-SKIP (9) is not
// used. Players read the version only to refuse a playlist above what they know.
const hlsVersion = 6

// Nominal bitrates, bit/s, for a track that has neither a measured nor a planned bitrate
// (copying input of unknown rate, before its first segment): BANDWIDTH (HLS) and
// @bandwidth (DASH) must be given, and 0 would make players' rate adaptation meaningless.
const (
	fallbackVideoBandwidth = 2_000_000
	fallbackAudioBandwidth = 128_000
)

// writeMasterPlaylist writes the multivariant playlist: one variant stream per hls video
// track (a ladder), each with the hls audio tracks as its audio group, or, with no video,
// one variant per audio track.
func writeMasterPlaylist(w io.Writer, p *presentation) error {
	var video, audio []*track
	for _, t := range p.tracks {
		if !t.hls {
			continue
		}
		if err := checkManifestTrack(p, t); err != nil {
			return err
		}
		if t.kind == videoTrack {
			video = append(video, t)
		} else {
			audio = append(audio, t)
		}
	}
	if len(video)+len(audio) == 0 {
		return errors.New("no track is in the hls playlists")
	}

	var b bytes.Buffer
	b.WriteString("#EXTM3U\n")
	fmt.Fprintf(&b, "#EXT-X-VERSION:%d\n", hlsVersion)
	if allIndependent(p, append(video[:len(video):len(video)], audio...)) {
		b.WriteString("#EXT-X-INDEPENDENT-SEGMENTS\n")
	}

	if len(video) == 0 {
		for _, t := range audio {
			fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,AVERAGE-BANDWIDTH=%d,CODECS=\"%s\"\n%s\n",
				peakBandwidth(t), averageBandwidth(t), t.codec, playlistName(t.id))
		}
		_, err := w.Write(b.Bytes())
		return err
	}

	// The audio renditions form one group, which every variant names. A variant's
	// BANDWIDTH is the peak of its video plus that of the richest audio rendition, the
	// largest sum any playable combination can reach (RFC 8216bis, EXT-X-STREAM-INF).
	var audioPeak, audioAverage int
	var audioCodecs []string
	for i, t := range audio {
		name, def := "audio", "YES"
		if len(audio) > 1 {
			name = fmt.Sprintf("audio %d", i+1)
		}
		if i > 0 {
			def = "NO"
		}
		fmt.Fprintf(&b, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"%s\",DEFAULT=%s,AUTOSELECT=YES", name, def)
		if t.channels > 0 {
			fmt.Fprintf(&b, ",CHANNELS=\"%d\"", t.channels)
		}
		fmt.Fprintf(&b, ",URI=\"%s\"\n", playlistName(t.id))
		audioPeak = max(audioPeak, peakBandwidth(t))
		audioAverage = max(audioAverage, averageBandwidth(t))
		if !slices.Contains(audioCodecs, t.codec) {
			audioCodecs = append(audioCodecs, t.codec)
		}
	}
	for _, t := range video {
		codecs := strings.Join(append([]string{t.codec}, audioCodecs...), ",")
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,AVERAGE-BANDWIDTH=%d,CODECS=\"%s\"",
			peakBandwidth(t)+audioPeak, averageBandwidth(t)+audioAverage, codecs)
		if t.width > 0 && t.height > 0 {
			fmt.Fprintf(&b, ",RESOLUTION=%dx%d", t.width, t.height)
		}
		if len(audio) > 0 {
			b.WriteString(",AUDIO=\"audio\"")
		}
		fmt.Fprintf(&b, "\n%s\n", playlistName(t.id))
	}
	_, err := w.Write(b.Bytes())
	return err
}

// writeMediaPlaylist writes the media playlist of t, in the form the comment at the top
// of this file gives.
func writeMediaPlaylist(w io.Writer, p *presentation, t *track) error {
	if !t.hls {
		return fmt.Errorf("track %d is not in the hls playlists", t.id)
	}
	if err := checkManifestTrack(p, t); err != nil {
		return err
	}
	lowLatency := p.part > 0
	if lowLatency && p.part >= p.seg {
		return fmt.Errorf("part target %v is not below the segment duration %v", p.part, p.seg)
	}
	listed, open := playlistWindow(p, t)
	if !lowLatency || open != nil && completeParts(open) == 0 {
		open = nil
	}

	// EXTINF is written with 5 decimals, and TARGETDURATION must be at least each of
	// them rounded to the nearest integer (RFC 8216bis, 4.4.3.1): round what is written.
	// It starts from the segment target, so that it stays the same as segments come and
	// go (a server must not change it), and counts a complete segment shown in progress
	// (playlistWindow), which will have its EXTINF a part later.
	target := max(1, int(math.Round(p.seg.Seconds())))
	written := func(s *segment) string {
		d := strconv.FormatFloat(t.seconds(s.duration), 'f', 5, 64)
		v, _ := strconv.ParseFloat(d, 64)
		target = max(target, int(math.Round(v)))
		return d
	}
	extinf := make([]string, len(listed))
	for i, s := range listed {
		extinf[i] = written(s)
	}
	if open != nil && open.complete {
		written(open)
	}

	var b bytes.Buffer
	b.WriteString("#EXTM3U\n")
	fmt.Fprintf(&b, "#EXT-X-VERSION:%d\n", hlsVersion)
	fmt.Fprintf(&b, "#EXT-X-TARGETDURATION:%d\n", target)
	if lowLatency {
		// PART-HOLD-BACK must be at least twice the part target and should be three
		// times (RFC 8216bis, 4.4.3.8); hls.js starts that far from the live edge of
		// the first playlist it loads, so a longer target latency is honoured by
		// starting further back. sv writes twice, the floor. hls.js keeps what it
		// loses while it starts, and its latency is this plus the publisher's delay
		// to the packager (0.2-0.3 s) plus the age of that playlist's last part (up to
		// a part): it changes its playback rate only with more than a second buffered
		// ahead. Three parts put hls.js at 1.04-1.22 s behind the camera on loopback,
		// two at 0.79-1.23 s (0.93 s the median of eight runs), with no stall in 60 s
		// beside a CPU burner (its parts are loaded by blocking requests the moment
		// they exist). HOLD-BACK must be at
		// least three target durations: players that do not do low latency start there.
		partHoldBack := max(2*p.part, p.target)
		fmt.Fprintf(&b, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=%s,HOLD-BACK=%d\n",
			decimalSeconds(partHoldBack), 3*target)
		fmt.Fprintf(&b, "#EXT-X-PART-INF:PART-TARGET=%s\n", decimalSeconds(p.part))
	}

	// The media sequence number of the first segment listed, or, before any is complete,
	// of the one in progress (or the first to come).
	seq := nextSegmentNumber(t)
	switch {
	case len(listed) > 0:
		seq = listed[0].number
	case open != nil:
		seq = open.number
	}
	fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n", seq)
	shown := listed
	if open != nil {
		shown = append(listed[:len(listed):len(listed)], open)
	}
	// Each discontinuity that has left the playlist counts in the discontinuity
	// sequence (RFC 8216bis, 6.2.2), so that a client can still match segments
	// across reloads: the packager numbers them.
	if len(shown) > 0 && shown[0].disc > 0 {
		fmt.Fprintf(&b, "#EXT-X-DISCONTINUITY-SEQUENCE:%d\n", shown[0].disc)
	}
	if allIndependent(p, []*track{t}) {
		b.WriteString("#EXT-X-INDEPENDENT-SEGMENTS\n")
	}
	mapURI := t.init
	if len(shown) > 0 {
		mapURI = initSegmentOf(t, shown[0])
	}
	fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"%s\"\n", mapURI)

	partsEnd := uint64(math.MaxUint64)
	if noMoreSegments(p) {
		if end := commonEnd(p); end < math.MaxInt64 {
			partsEnd = ticks(end-endMargin, t.timescale)
		}
	}
	// A segment's tags come before its parts: hls.js takes an EXT-X-MAP that follows a
	// part (which adds to the segment's duration) for the map of the next segment.
	for i, s := range shown {
		if i > 0 && s.disc != shown[i-1].disc {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if s.init != "" && s.init != mapURI {
			mapURI = s.init
			fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"%s\"\n", mapURI)
		}
		// On every segment rather than only where the spec requires it (the first and
		// after each discontinuity): each then states its own capture time, so that a
		// player's latency figure does not drift with the rounding of EXTINF.
		fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", isoMillis(segmentWallClock(p, t, s)))
		if lowLatency {
			at := s.start
			for _, pt := range s.parts[:completeParts(s)] {
				if at+pt.duration > partsEnd {
					break
				}
				at += pt.duration
				fmt.Fprintf(&b, "#EXT-X-PART:DURATION=%s,URI=\"%s\"", strconv.FormatFloat(t.seconds(pt.duration), 'f', 5, 64), pt.name)
				if pt.independent {
					b.WriteString(",INDEPENDENT=YES")
				}
				b.WriteByte('\n')
			}
		}
		if s == open {
			break
		}
		fmt.Fprintf(&b, "#EXTINF:%s,\n%s\n", extinf[i], s.name)
	}

	if lowLatency && !noMoreSegments(p) {
		fmt.Fprintf(&b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"%s\"\n", nextPartName(p, t))
		for _, u := range p.tracks {
			if u == t || !u.hls || u.kind != t.kind {
				continue
			}
			msn, part, ok := lastPartReport(p, u)
			if !ok {
				continue
			}
			fmt.Fprintf(&b, "#EXT-X-RENDITION-REPORT:URI=\"%s\",LAST-MSN=%d", playlistName(u.id), msn)
			if part >= 0 {
				fmt.Fprintf(&b, ",LAST-PART=%d", part)
			}
			b.WriteByte('\n')
		}
	}
	if noMoreSegments(p) {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

// noMoreSegments reports whether no segment will follow the last one.
func noMoreSegments(p *presentation) bool { return p.ended || p.static }

// manifestWindow returns the complete segments a manifest lists, oldest first: the last
// p.window of them while live, all of them when p.window is 0 or the presentation is
// over (static); and the segment in progress, if there is one and the input has not
// ended.
func manifestWindow(p *presentation, t *track) (listed []*segment, open *segment) {
	segs := completeSegments(t)
	if n := len(t.segs); n > len(segs) && !noMoreSegments(p) {
		open = t.segs[n-1]
	}
	if p.window > 0 && !p.static && len(segs) > p.window {
		segs = segs[len(segs)-p.window:]
	}
	return segs, open
}

// playlistWindow is manifestWindow as a live low-latency media playlist shows it: while
// the segment after the last complete one has no complete part, that last one is shown
// still in progress, its parts without its EXTINF and URI, which come with the next
// segment's first part.
//
// hls.js 1.7 takes a complete segment for buffered whole once no more than 0.2 s of it
// is missing (its fragment tracker's padding). A segment's last part is often a frame or
// two (the video's ends where the next keyframe comes), published a moment after the part
// before it: when hls.js read the segment as complete before it had appended that part
// before, it never loaded the last one, and playback stopped at the hole for 2.5-3 s
// until hls.js jumped it, latency it never made up. Shown in progress, the segment is a
// fragment hint to hls.js, which loads every part of it, for a part longer.
//
// Not the presentation's first segment: no player is playing yet, and hls.js needs a
// complete segment in its first playlist. Listed complete at once, it starts a part
// sooner.
func playlistWindow(p *presentation, t *track) (listed []*segment, open *segment) {
	listed, open = manifestWindow(p, t)
	if p.part <= 0 || noMoreSegments(p) || open != nil && completeParts(open) > 0 {
		return listed, open
	}
	if len(listed) == 1 && listed[0].number == 1 {
		return listed, open
	}
	if n := len(listed); n > 0 && len(listed[n-1].parts) > 0 {
		return listed[: n-1 : n-1], listed[n-1]
	}
	return listed, open
}

// endMargin is how far before commonEnd the last part listed in an ended playlist ends.
const endMargin = 50 * time.Millisecond

// commonEnd returns where every HLS track of an ended presentation has media: the
// earliest end of their last segments.
//
// An ended playlist lists no part that ends later than endMargin before it: hls.js 1.7
// ends a track's stream (its _streamEnded) only once the middle of the playlist's last
// part is in the media element's buffered ranges, which are where every track has media.
// When the audio ended 30-80 ms after the video, as it does when the publisher stops,
// its last part was never there, hls.js never called endOfStream, and the player stalled
// at the end instead of firing ended. The margin is for the AAC rendition, whose media
// hls.js buffers an encoder delay (1024 samples, 21 ms) earlier than its playlist's
// times say: the middle of a last part that ended at the video's end was 3 ms past the
// buffer. The media of a part left out is still in its segment.
func commonEnd(p *presentation) time.Duration {
	end := time.Duration(math.MaxInt64)
	for _, t := range p.tracks {
		segs := completeSegments(t)
		if !t.hls || len(segs) == 0 {
			continue
		}
		last := segs[len(segs)-1]
		end = min(end, time.Duration(t.seconds(last.start+last.duration)*float64(time.Second)))
	}
	return end
}

// completeSegments returns t's segments but the one in progress.
func completeSegments(t *track) []*segment {
	if n := len(t.segs); n > 0 && !t.segs[n-1].complete {
		return t.segs[:n-1]
	}
	return t.segs
}

// completeParts returns how many of s's parts, from the first, are complete.
func completeParts(s *segment) int {
	for k, pt := range s.parts {
		if !pt.complete {
			return k
		}
	}
	return len(s.parts)
}

// nextSegmentNumber returns the number of the segment after t's last (1 before the first).
func nextSegmentNumber(t *track) int64 {
	if n := len(t.segs); n > 0 {
		return t.segs[n-1].number + 1
	}
	return 1
}

// nextPartName names the part the packager writes next: the next one of the segment in
// progress, or the first of the next segment.
func nextPartName(p *presentation, t *track) string {
	if n := len(t.segs); n > 0 && !t.segs[n-1].complete {
		s := t.segs[n-1]
		k := completeParts(s)
		if k < len(s.parts) && s.parts[k].name != "" {
			return s.parts[k].name
		}
		return partName(t.id, p.id, s.number, k)
	}
	return partName(t.id, p.id, nextSegmentNumber(t), 0)
}

// lastPartReport returns what an EXT-X-RENDITION-REPORT says of t (LAST-MSN, LAST-PART):
// the number of its last segment and the index of that segment's last part, where a
// segment in progress counts once it has a complete part; part is -1 when that segment
// has no parts. ok is false when t has no segment yet.
func lastPartReport(p *presentation, t *track) (msn int64, part int, ok bool) {
	listed, open := playlistWindow(p, t)
	if open != nil {
		if k := completeParts(open); k > 0 {
			return open.number, k - 1, true
		}
	}
	if len(listed) == 0 {
		return 0, -1, false
	}
	s := listed[len(listed)-1]
	return s.number, completeParts(s) - 1, true
}

// initSegmentOf returns the init segment of s: the last one a segment up to s brought, or the
// track's.
func initSegmentOf(t *track, s *segment) string {
	name := t.init
	for _, x := range t.segs {
		if x.init != "" {
			name = x.init
		}
		if x == s {
			break
		}
	}
	return name
}

// allIndependent reports whether every segment the tracks list starts with a sync sample.
func allIndependent(p *presentation, tracks []*track) bool {
	for _, t := range tracks {
		listed, open := manifestWindow(p, t)
		for _, s := range listed {
			if !s.independent {
				return false
			}
		}
		if open != nil && !open.independent {
			return false
		}
	}
	return true
}

// segmentWallClock returns the wall-clock time of the start of s.
func segmentWallClock(p *presentation, t *track, s *segment) time.Time {
	if !s.wall.IsZero() {
		return s.wall
	}
	return p.ast.Add(time.Duration(math.Round(t.seconds(s.start) * float64(time.Second))))
}

// peakBandwidth is t's peak bitrate, for BANDWIDTH and @bandwidth.
func peakBandwidth(t *track) int {
	switch {
	case t.bandwidth > 0:
		return t.bandwidth
	case t.nominal > 0:
		return t.nominal
	case t.kind == videoTrack:
		return fallbackVideoBandwidth
	}
	return fallbackAudioBandwidth
}

// averageBandwidth is t's mean bitrate, never above its peak.
func averageBandwidth(t *track) int {
	avg := t.avgBandwidth
	if avg <= 0 {
		avg = t.nominal
	}
	if avg <= 0 {
		avg = peakBandwidth(t)
	}
	return min(avg, peakBandwidth(t))
}

// checkManifestTrack refuses what would make a manifest lie: no timescale, segment numbers with
// gaps, a segment in progress that is not the last, names that do not fit in a quoted
// string.
func checkManifestTrack(p *presentation, t *track) error {
	if t.timescale == 0 {
		return fmt.Errorf("track %d has no timescale", t.id)
	}
	if p.seg <= 0 {
		return fmt.Errorf("segment duration %v is not positive", p.seg)
	}
	if p.ast.IsZero() {
		return errors.New("no availability start time")
	}
	if !quotable(t.init) || t.init == "" {
		return fmt.Errorf("track %d: bad init segment name %q", t.id, t.init)
	}
	for i, s := range t.segs {
		if i > 0 && s.number != t.segs[i-1].number+1 {
			return fmt.Errorf("track %d: segment %d follows segment %d", t.id, s.number, t.segs[i-1].number)
		}
		if !s.complete && i != len(t.segs)-1 {
			return fmt.Errorf("track %d: segment %d is in progress but not the last", t.id, s.number)
		}
		if !quotable(s.name) || !quotable(s.init) {
			return fmt.Errorf("track %d: bad file name in segment %d", t.id, s.number)
		}
		for _, pt := range s.parts {
			if !quotable(pt.name) {
				return fmt.Errorf("track %d: bad part name %q", t.id, pt.name)
			}
		}
	}
	return nil
}

// quotable reports whether s can be written as a playlist's quoted-string and an XML
// attribute as is.
func quotable(s string) bool { return !strings.ContainsAny(s, "\"\r\n<>&") }

// isoMillis formats t as an ISO 8601 date and time in UTC with milliseconds, as
// EXT-X-PROGRAM-DATE-TIME and the MPD's times want it: 2026-12-03T21:00:00.123Z.
func isoMillis(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// decimalSeconds formats d as seconds with at most millisecond precision: 0.2, 1, 1.5.
func decimalSeconds(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Round(time.Millisecond).Milliseconds())/1000, 'f', -1, 64)
}
