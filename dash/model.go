package dash

import (
	"fmt"
	"time"
)

// The model of a presentation that the packager keeps and the manifest writers read. The
// packager owns it and hands the writers a consistent snapshot (under its lock); the
// writers only read it.
//
// Times of one track are in that track's timescale, on the presentation's media
// timeline: media time 0 is presentation time 0, which happened at presentation.ast on
// the wall clock. A segment numbered n (n >= 1) nominally starts at (n-1)*seg; its real
// start (segment.start) is within a fraction of a segment of that, so that the
// $Number$ addressing players compute from the MPD finds it.

// presentation is everything the manifests say.
type presentation struct {
	id      string        // names this presentation's files (see runName); kept across restarts
	ast     time.Time     // availabilityStartTime: the wall-clock time of media time 0
	seg     time.Duration // target segment duration (@duration, EXT-X-TARGETDURATION's basis)
	part    time.Duration // part target (LL-HLS PART-TARGET, DASH availabilityTimeOffset); 0: no parts
	target  time.Duration // target latency (ServiceDescription); 0: none
	timeURL string        // UTCTiming (urn:mpeg:dash:utc:http-iso:2014)
	window  int           // segments listed in a live manifest; 0: all
	ended   bool          // the input ended: no segment will follow the last one
	static  bool          // write a static (on-demand) MPD: the presentation is over
	// final is set a while after a live presentation that is not recorded ended
	// (finalAfter): its MPD is static, with its periods and timeline as they were live.
	final  bool
	tracks []*track
	// periods are the runs of the packager that made the presentation, oldest first: a
	// restarted FFmpeg or a publisher that reconnected continues the presentation in a new
	// period (DASH) after a discontinuity (HLS), with the numbers going on. A manifest lists
	// the periods that still have segments listed.
	periods []*period
	// published is when the manifests were written, for publishTime.
	published time.Time
}

// period is one run of the packager within the presentation.
type period struct {
	index       int           // in presentation.periods; names the period ("P0", "P1", ...) and its init segments
	start       time.Duration // presentation time of its start: no segment of it starts earlier
	startNumber int64         // the number of its first segment; segment n nominally starts at start+(n-startNumber)*seg
	// numbers, if set, is each track's own first number in the period (by track id): a
	// track goes on from its own last segment, which may be a number behind another's.
	numbers []int64
	// closed: its run has ended, and no segment will be added to it. The MPD lists a
	// closed period's segments exactly (a SegmentTimeline), not by @duration.
	closed bool
}

// first returns the number of track id's first segment in the period.
func (per *period) first(id int) int64 {
	if id < len(per.numbers) && per.numbers[id] > 0 {
		return per.numbers[id]
	}
	return per.startNumber
}

// trackKind is video or audio.
type trackKind int

const (
	videoTrack trackKind = iota
	audioTrack
)

// track is one representation (DASH) and one media playlist (HLS).
type track struct {
	id   int // representation id and N in media_N.m3u8, init-streamN-ID.m4s: video renditions first, then audio
	kind trackKind
	// dash and hls say which manifests list the track: an AAC rendition made for HLS next
	// to an Opus track is hls only, the Opus track dash only.
	dash, hls bool

	codec         string // RFC 6381: avc1.42e01f, mp4a.40.2, opus, vp09.00.10.08
	timescale     uint32
	width, height int // video
	sampleRate    int // audio
	channels      int // audio

	init string // init segment's file name, in the current period

	// bandwidth is the peak bitrate in bit/s over the last few segments (each segment's
	// size over its duration), avgBandwidth the mean over them; both 0 until the first
	// segment is complete, when the plan's nominal figures stand in.
	bandwidth, avgBandwidth int
	nominal                 int // the plan's bitrate, bit/s

	// segs are the segments still on disk, oldest first; the last may be in progress
	// (complete false) and then lists the parts written so far.
	segs []*segment
}

// segment is one media segment: a file written fragment by fragment as NAME.tmp and
// renamed to NAME when complete.
type segment struct {
	number   int64  // 1, 2, ... without gaps, for the life of the output folder
	name     string // chunk-streamN-ID-NNNNN.m4s
	start    uint64 // media time of its first sample
	duration uint64 // media time it covers; while in progress, what is written so far
	bytes    int64
	complete bool
	// independent: it starts with a sync sample (a keyframe). Audio always is.
	independent bool
	// period is the index of its period in presentation.periods; the first segment of a
	// period after the first follows a discontinuity (HLS: EXT-X-DISCONTINUITY, and the
	// period's own EXT-X-MAP).
	period int
	disc   int    // its discontinuity sequence number (HLS): how many period changes came before it
	init   string // its period's init segment
	// parts are the LL-HLS parts of the segment, each its own file
	// (part-streamN-ID-NNNNN.K.m4s, K from 0), written as NAME.tmp and renamed when
	// complete. Only the segments of the last few target durations keep their parts.
	parts []part
	// wall is the wall-clock time of its start: ast + start (for EXT-X-PROGRAM-DATE-TIME).
	wall time.Time
}

// part is one LL-HLS partial segment.
type part struct {
	name        string
	duration    uint64 // media time; while in progress, what is written so far
	independent bool   // starts with a sync sample
	complete    bool
}

// seconds converts a duration in a track's timescale to seconds.
func (t *track) seconds(d uint64) float64 { return float64(d) / float64(t.timescale) }

// File names. pres is the presentation's id; gen counts init segments of a track within a
// presentation (a reconnect with other codec parameters needs a new one), from 0.
func initName(id int, pres string, gen int) string {
	if gen == 0 {
		return fmt.Sprintf("init-stream%d-%s.m4s", id, pres)
	}
	return fmt.Sprintf("init-stream%d-%s.%d.m4s", id, pres, gen)
}

func segmentName(id int, pres string, n int64) string {
	return fmt.Sprintf("chunk-stream%d-%s-%05d.m4s", id, pres, n)
}

func partName(id int, pres string, n int64, k int) string {
	return fmt.Sprintf("part-stream%d-%s-%05d.%d.m4s", id, pres, n, k)
}

// playlistName is the HLS media playlist of a track.
func playlistName(id int) string { return fmt.Sprintf("media_%d.m3u8", id) }
