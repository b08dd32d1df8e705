package dash

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"
)

// The manifest writers' tests: every MPD validates against the official schema and
// refers to no segment that does not exist; every playlist passes a strict playlistT of the
// RFC 8216bis rules that players rely on; one small presentation is checked to the byte.

// manifestAST is when media time 0 of the test presentations was captured.
var manifestAST = time.Date(2026, 12, 3, 21, 0, 0, 123_000_000, time.UTC)

// trackFixture is one track of a test presentation.
type trackFixture struct {
	kind          trackKind
	codec         string
	dash, hls     bool
	width, height int
	rate          int   // bit/s the segments are sized for
	first         int64 // first segment still on disk, when not the presentation's
}

// presentationFixture is a test presentation as the packager would keep it.
type presentationFixture struct {
	part, target time.Duration
	window       int
	first, last  int64 // segments on disk
	open         int   // the last segment is in progress with this many complete parts; -1: it is complete
	ended        bool
	waiting      bool // the last run has ended, the presentation has not: its period is closed
	static       bool
	final        bool          // a while after the end: the final MPD (finalAfter)
	gaps         []int64       // segments that follow a gap in media time, with a new init segment (a new period)
	audioTail    time.Duration // the audio's last segment ends this much after the video's
	tracks       []trackFixture
}

var (
	specH264      = trackFixture{kind: videoTrack, codec: "avc1.42e01f", dash: true, hls: true, width: 640, height: 480, rate: 1_000_000}
	specOpus      = trackFixture{kind: audioTrack, codec: "opus", dash: true, rate: 64_000}
	specAACForHLS = trackFixture{kind: audioTrack, codec: "mp4a.40.2", hls: true, rate: 128_000}
	specAAC       = trackFixture{kind: audioTrack, codec: "mp4a.40.2", dash: true, hls: true, rate: 128_000}
)

// testPresentations are the presentations both tests check.
func testPresentations() map[string]presentationFixture {
	ladder := []trackFixture{
		{kind: videoTrack, codec: "avc1.64001f", dash: true, hls: true, width: 1280, height: 720, rate: 3_000_000},
		{kind: videoTrack, codec: "avc1.64001e", dash: true, hls: true, width: 854, height: 480, rate: 1_500_000},
		{kind: videoTrack, codec: "avc1.640015", dash: true, hls: true, width: 640, height: 360, rate: 800_000},
		specOpus, specAACForHLS,
	}
	lateVideo := specH264
	lateVideo.first = 21
	return map[string]presentationFixture{
		"low latency": {part: 200 * time.Millisecond, target: 500 * time.Millisecond, window: 6,
			first: 1, last: 15, open: 3, tracks: []trackFixture{specH264, specOpus, specAACForHLS}},
		"low latency, first part in progress": {part: 200 * time.Millisecond, target: 500 * time.Millisecond, window: 6,
			first: 1, last: 4, open: 0, tracks: []trackFixture{specH264, specOpus, specAACForHLS}},
		"low latency, the first segment complete": {part: 200 * time.Millisecond, target: 500 * time.Millisecond, window: 6,
			first: 1, last: 2, open: 0, tracks: []trackFixture{specH264, specOpus, specAACForHLS}},
		"normal latency": {window: 6, first: 1, last: 10, open: 0, tracks: []trackFixture{specH264, specOpus, specAACForHLS}},
		"ended": {part: 200 * time.Millisecond, target: 500 * time.Millisecond, window: 6,
			first: 1, last: 8, open: -1, ended: true, tracks: []trackFixture{specH264, specOpus, specAACForHLS}},
		"static with a window": {part: 200 * time.Millisecond, window: 6, first: 20, last: 40, open: -1,
			ended: true, static: true, gaps: []int64{30}, tracks: []trackFixture{lateVideo, specOpus, specAACForHLS}},
		"ladder": {part: 200 * time.Millisecond, target: 800 * time.Millisecond, window: 4,
			first: 1, last: 7, open: 2, tracks: ladder},
		"discontinuities": {part: 200 * time.Millisecond, target: 500 * time.Millisecond, window: 4,
			first: 3, last: 12, open: 1, gaps: []int64{7, 10}, tracks: []trackFixture{specH264, specAAC}},
		"between runs": {part: 200 * time.Millisecond, target: 500 * time.Millisecond, window: 4,
			first: 3, last: 12, open: -1, waiting: true, gaps: []int64{7, 10}, tracks: []trackFixture{specH264, specAAC}},
		"ended, the audio longer": {part: 200 * time.Millisecond, target: 500 * time.Millisecond, window: 6,
			first: 1, last: 8, open: -1, ended: true, audioTail: 80 * time.Millisecond, tracks: []trackFixture{specH264, specOpus, specAACForHLS}},
		"ended after runs": {part: 200 * time.Millisecond, target: 500 * time.Millisecond, window: 6,
			first: 3, last: 12, open: -1, ended: true, gaps: []int64{7, 10}, tracks: []trackFixture{specH264, specOpus, specAACForHLS}},
		"final": {part: 200 * time.Millisecond, target: 500 * time.Millisecond, window: 6,
			first: 1, last: 8, open: -1, final: true, audioTail: 80 * time.Millisecond, tracks: []trackFixture{specH264, specOpus, specAACForHLS}},
		"final after runs, with a window": {part: 200 * time.Millisecond, target: 500 * time.Millisecond, window: 6,
			first: 3, last: 12, open: -1, final: true, gaps: []int64{7, 10}, tracks: []trackFixture{specH264, specOpus, specAACForHLS}},
		"final, normal latency": {window: 6, first: 1, last: 10, open: -1, final: true, tracks: []trackFixture{specH264, specAAC}},
		"audio only": {part: 200 * time.Millisecond, target: 500 * time.Millisecond, window: 5,
			first: 1, last: 6, open: 4, tracks: []trackFixture{specAAC}},
	}
}

// fakePresentation makes the model the packager would keep for s. Segment n nominally
// starts at n-1 seconds; the video's real start is up to 40 ms later (keyframes), after
// a gap 250 ms later, and every track's boundaries fall on its own frames.
func fakePresentation(s presentationFixture) *presentation {
	p := &presentation{id: "mtest1", ast: manifestAST, seg: time.Second, part: s.part, target: s.target,
		timeURL: "https://example.com/time?iso&ms", window: s.window, ended: s.ended || s.static || s.final, static: s.static, final: s.final}
	start := func(n int64) float64 {
		at := float64(n-1) + float64((n*7)%5)*0.01
		if slices.Contains(s.gaps, n) {
			at += 0.25
		}
		return at
	}
	end := func(n int64) float64 {
		if slices.Contains(s.gaps, n+1) {
			return start(n+1) - 0.25
		}
		return start(n + 1)
	}
	p.periods = []*period{{index: 0, startNumber: 1}}
	for i, g := range s.gaps {
		p.periods[i].closed = true
		p.periods = append(p.periods, &period{index: i + 1, start: time.Duration(start(g) * float64(time.Second)).Truncate(time.Millisecond), startNumber: g})
	}
	p.periods[len(p.periods)-1].closed = s.waiting || p.ended
	var newest time.Duration
	for id, ts := range s.tracks {
		t := &track{id: id, kind: ts.kind, codec: ts.codec, dash: ts.dash, hls: ts.hls,
			width: ts.width, height: ts.height, nominal: ts.rate, init: initName(id, p.id, 0)}
		frame := uint64(3000) // 30 fps at 90 kHz
		t.timescale = 90000
		if ts.kind == audioTrack {
			t.timescale, t.sampleRate, t.channels, frame = 48000, 48000, 2, 1024
		}
		onFrame := func(sec float64) uint64 { return uint64(math.Ceil(sec*float64(t.timescale)/float64(frame))) * frame }
		partLen := uint64(s.part.Seconds()*float64(t.timescale)) / frame * frame
		first := s.first
		if ts.first > 0 {
			first = ts.first
		}
		var peak, sum float64
		for n := first; n <= s.last; n++ {
			seg := &segment{number: n, name: segmentName(id, p.id, n), start: onFrame(start(n)), complete: true, independent: true}
			seg.duration = onFrame(end(n)) - seg.start
			per := 0
			for _, g := range s.gaps {
				if n >= g {
					per++
				}
			}
			seg.period, seg.disc, seg.init = per, per, initName(id, p.id, per)
			open := n == s.last && s.open >= 0
			if n == s.last && ts.kind == audioTrack {
				seg.duration += uint64(s.audioTail.Seconds() * float64(t.timescale))
			}
			if open {
				seg.complete = false
				seg.duration = uint64(s.open)*partLen + partLen/frame/2*frame
				if partLen == 0 {
					seg.duration = onFrame(0.5)
				}
			}
			if s.part > 0 && n >= s.last-3 {
				for k, at := 0, uint64(0); at < seg.duration; k++ {
					d := min(partLen, seg.duration-at)
					seg.parts = append(seg.parts, part{name: partName(id, p.id, n, k), duration: d,
						independent: k == 0 || ts.kind == audioTrack, complete: !open || k < s.open})
					at += d
				}
			}
			seg.wall = p.ast.Add(time.Duration(t.seconds(seg.start) * float64(time.Second)))
			secs := t.seconds(seg.duration)
			seg.bytes = int64(float64(ts.rate) * secs / 8 * (1 + 0.1*float64(n%3)))
			if seg.complete {
				rate := float64(seg.bytes) * 8 / secs
				peak, sum = max(peak, rate), sum+rate
			}
			newest = max(newest, time.Duration((t.seconds(seg.start+seg.duration))*float64(time.Second)))
			t.segs = append(t.segs, seg)
		}
		if sum > 0 {
			t.bandwidth, t.avgBandwidth = int(math.Ceil(peak)), int(sum/float64(len(completeSegments(t))))
		}
		p.tracks = append(p.tracks, t)
	}
	p.published = p.ast.Add(newest)
	return p
}

// The small presentation whose manifests are checked to the byte: two complete segments
// and one in progress, a video and an audio track, low latency.
func smallPresentation() *presentation {
	return fakePresentation(presentationFixture{part: 200 * time.Millisecond, target: 500 * time.Millisecond,
		first: 1, last: 3, open: 2, tracks: []trackFixture{specH264, specAAC}})
}

func TestMPDSchema(t *testing.T) {
	t.Run("golden", func(t *testing.T) {
		var b bytes.Buffer
		if err := writeMPD(&b, smallPresentation()); err != nil {
			t.Fatal(err)
		}
		if got := b.String(); got != goldenMPD {
			t.Errorf("MPD differs:\n%s\nwant:\n%s", got, goldenMPD)
		}
	})

	schema, err := filepath.Abs(filepath.Join("testdata", "schema", "DASH-MPD.xsd"))
	if err != nil {
		t.Fatal(err)
	}
	for name, spec := range testPresentations() {
		t.Run(name, func(t *testing.T) {
			p := fakePresentation(spec)
			var b bytes.Buffer
			if err := writeMPD(&b, p); err != nil {
				t.Fatal(err)
			}
			checkMPD(t, p, b.Bytes())
			// And again: the same model gives the same bytes.
			var again bytes.Buffer
			if err := writeMPD(&again, p); err != nil || !bytes.Equal(again.Bytes(), b.Bytes()) {
				t.Errorf("a second MPD of the same presentation differs (%v)", err)
			}

			xmllint := testenv.Require(t, "xmllint")[0]
			if _, err := os.Stat(schema); err != nil {
				// The schema cannot be kept in the repository (see its README) and its
				// host is not reachable from every machine: say so, loudly, and check
				// the rest.
				t.Skip("NOT VALIDATED: the MPD schema is not in dash/testdata/schema (scripts/deps.sh downloads it where its host can be reached)")
			}
			file := filepath.Join(t.TempDir(), "manifest.mpd")
			if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", schema, file).CombinedOutput()
			if err != nil {
				t.Errorf("xmllint: %v\n%s\n%s", err, out, b.String())
			}
		})
	}

	t.Run("refused", func(t *testing.T) {
		p := fakePresentation(testPresentations()["low latency"])
		p.tracks[0].segs[3].name = "chunk-other.m4s"
		if err := writeMPD(&bytes.Buffer{}, p); err == nil {
			t.Error("an MPD whose template misses a segment's name was written")
		}
		p = fakePresentation(testPresentations()["low latency"])
		for _, tr := range p.tracks {
			tr.dash = false
		}
		if err := writeMPD(&bytes.Buffer{}, p); err == nil {
			t.Error("an MPD without tracks was written")
		}
	})
}

// mpdDoc is what checkMPD reads back from an MPD.
type mpdDoc struct {
	XMLName  xml.Name
	Schema   string `xml:"http://www.w3.org/2001/XMLSchema-instance schemaLocation,attr"`
	Type     string `xml:"type,attr"`
	AST      string `xml:"availabilityStartTime,attr"`
	Duration string `xml:"mediaPresentationDuration,attr"`
	MUP      string `xml:"minimumUpdatePeriod,attr"`
	TSBD     string `xml:"timeShiftBufferDepth,attr"`
	MaxSeg   string `xml:"maxSegmentDuration,attr"`
	SPD      string `xml:"suggestedPresentationDelay,attr"`
	Latency  *struct {
		Target int `xml:"target,attr"`
	} `xml:"ServiceDescription>Latency"`
	UTCTiming []struct {
		Value string `xml:"value,attr"`
	} `xml:"UTCTiming"`
	Periods []struct {
		ID    string `xml:"id,attr"`
		Start string `xml:"start,attr"`
		Sets  []struct {
			Reps []struct {
				ID  string `xml:"id,attr"`
				PRT []struct {
					Wall string `xml:"wallClockTime,attr"`
					PT   uint64 `xml:"presentationTime,attr"`
					UTC  struct {
						Value string `xml:"value,attr"`
					} `xml:"UTCTiming"`
				} `xml:"ProducerReferenceTime"`
				ST struct {
					Timescale   uint64 `xml:"timescale,attr"`
					Duration    uint64 `xml:"duration,attr"`
					StartNumber int64  `xml:"startNumber,attr"`
					EndNumber   int64  `xml:"endNumber,attr"`
					PTO         uint64 `xml:"presentationTimeOffset,attr"`
					Init        string `xml:"initialization,attr"`
					Media       string `xml:"media,attr"`
					ATO         string `xml:"availabilityTimeOffset,attr"`
					ATC         string `xml:"availabilityTimeComplete,attr"`
					S           []struct {
						T *uint64 `xml:"t,attr"`
						D uint64  `xml:"d,attr"`
						R int     `xml:"r,attr"`
					} `xml:"SegmentTimeline>S"`
				} `xml:"SegmentTemplate"`
			} `xml:"Representation"`
		} `xml:"AdaptationSet"`
	} `xml:"Period"`
}

// checkMPD checks what the schema cannot: that the addresses players compute from the MPD
// are the segments the packager has, at the times it has them.
func checkMPD(t *testing.T, p *presentation, mpd []byte) {
	t.Helper()
	text := string(mpd)
	// Every mention of the namespace (the MPD's, xsi:schemaLocation's) is in lower case.
	if n := strings.Count(text, mpdNamespace); n == 0 || strings.Count(strings.ToLower(text), mpdNamespace) != n {
		t.Errorf("the MPD namespace is not urn:mpeg:dash:schema:mpd:2011 everywhere")
	}
	var doc mpdDoc
	if err := xml.Unmarshal(mpd, &doc); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if doc.XMLName.Space != mpdNamespace || doc.Schema != mpdNamespace+" DASH-MPD.xsd" {
		t.Errorf("MPD element in %q, schemaLocation %q", doc.XMLName.Space, doc.Schema)
	}
	var dashTracks []*track
	for _, tr := range p.tracks {
		if tr.dash {
			dashTracks = append(dashTracks, tr)
		}
	}
	periods := []*period{{startNumber: 1}}
	if p.final != (doc.Type == "static" && !p.static) {
		t.Errorf("MPD type %q, final %v", doc.Type, p.final)
	}
	if doc.Type == "static" && !p.final {
		if len(doc.Periods) != 1 {
			t.Fatalf("%d periods in a static MPD", len(doc.Periods))
		}
	} else {
		// A live MPD (and the final one) has a Period for each run of the packager that
		// still has segments listed, and the newest.
		periods = livePeriods(p, dashTracks)
		if len(doc.Periods) != len(periods) {
			t.Fatalf("%d periods, want %d", len(doc.Periods), len(periods))
		}
		for i, dp := range doc.Periods {
			if dp.ID != strconv.Itoa(periods[i].index) || dp.Start != xsDuration(periods[i].start) {
				t.Errorf("period %d: id %q start %q, want %d at %v", i, dp.ID, dp.Start, periods[i].index, periods[i].start)
			}
		}
	}
	seg := p.seg.Seconds()
	for pi, dp := range doc.Periods {
		per := periods[pi]
		newest := pi == len(doc.Periods)-1
		pto := func(tr *track) uint64 { return uint64(math.Round(per.start.Seconds() * float64(tr.timescale))) }
		first := func(n float64) int64 { return per.startNumber - 1 + int64(n) } // numbers in the period (one for every track in the tests)
		since := per.start.Seconds()
		seen := map[int]bool{}
		for _, set := range dp.Sets {
			for _, rep := range set.Reps {
				id, _ := strconv.Atoi(rep.ID)
				if id < 0 || id >= len(p.tracks) || !p.tracks[id].dash || seen[id] {
					t.Fatalf("period %s: representation %q is no dash track, or twice", dp.ID, rep.ID)
				}
				seen[id] = true
				tr, st := p.tracks[id], rep.ST
				if st.Timescale != uint64(tr.timescale) {
					t.Errorf("track %d: timescale %d", id, st.Timescale)
				}
				if (len(rep.PRT) > 0) != (doc.Type == "dynamic" && p.timeURL != "" && newest) {
					t.Errorf("period %s, track %d: %d ProducerReferenceTime", dp.ID, id, len(rep.PRT))
				}
				number := func(n int64) string {
					return strings.Replace(st.Media, "$Number%05d$", fmt.Sprintf("%05d", n), 1)
				}
				byNumber := map[int64]*segment{}
				for _, s := range tr.segs {
					byNumber[s.number] = s
					if number(s.number) != s.name {
						t.Errorf("track %d: the template gives %q for %q", id, number(s.number), s.name)
					}
				}
				last := tr.segs[len(tr.segs)-1]
				// timeline checks that every S is a complete segment of that number, at
				// that time, and returns the numbers listed and the end of the last.
				timeline := func() (listed []int64, end float64) {
					n, at := st.StartNumber, uint64(0)
					for i, s := range st.S {
						if s.T != nil {
							at = *s.T
						} else if i == 0 {
							t.Fatalf("track %d: the first S has no @t", id)
						}
						for range s.R + 1 {
							x := byNumber[n]
							if x == nil || !x.complete || x.start != at || x.duration != s.D {
								t.Errorf("track %d: S number %d t=%d d=%d is not a segment on disk", id, n, at, s.D)
							}
							listed = append(listed, n)
							n, at = n+1, at+s.D
						}
					}
					return listed, float64(at-st.PTO)/float64(st.Timescale) + since
				}

				switch {
				case p.final:
					// Every period lists exactly its segments still listed, from its
					// start, at the times the live MPD had them.
					if doc.AST != "" || doc.MUP != "" || doc.TSBD != "" || len(doc.UTCTiming) > 0 || len(rep.PRT) > 0 || st.ATO != "" || st.EndNumber != 0 {
						t.Errorf("track %d: the final MPD with live attributes", id)
					}
					listed, end := timeline()
					var want []int64
					for _, s := range periodSegments(p, tr, per) {
						want = append(want, s.number)
					}
					if !slices.Equal(listed, want) || len(want) == 0 {
						t.Errorf("period %s, track %d: the timeline lists %v, want %v", dp.ID, id, listed, want)
					}
					if st.PTO != pto(tr) || st.Duration != 0 || st.Init != initName(id, p.id, per.index) {
						t.Errorf("period %s, track %d: the final template: %+v", dp.ID, id, st)
					}
					if pi+1 < len(periods) && end > periods[pi+1].start.Seconds()+1e-9 {
						t.Errorf("period %s, track %d: the timeline ends at %vs, in the next period", dp.ID, id, end)
					}
					// It ends where the ended live MPD said, with the media of every track.
					if liveEnd, err := liveEnd(p, dashTracks); err != nil || doc.Duration != xsDuration(liveEnd) || end > xsSeconds(t, doc.Duration)+1e-9 {
						t.Errorf("track %d: timeline to %vs, duration %s, the live end %v (%v)", id, end, doc.Duration, liveEnd, err)
					}
				case doc.Type == "static":
					if doc.AST != "" || doc.MUP != "" || len(doc.UTCTiming) > 0 || len(rep.PRT) > 0 || st.ATO != "" {
						t.Errorf("track %d: a static MPD with live attributes", id)
					}
					// The timeline is in step with the presentation's start and end.
					_, end := timeline()
					if first := byNumber[st.StartNumber]; first == nil || first.start > st.PTO || first.start+first.duration <= st.PTO {
						t.Errorf("track %d: presentationTimeOffset %d is not within the first segment", id, st.PTO)
					}
					if end > xsSeconds(t, doc.Duration)+0.001 {
						t.Errorf("track %d: timeline ends at %vs, after the presentation (%s)", id, end, doc.Duration)
					}
				case doc.Type != "dynamic":
					t.Fatalf("MPD type %q", doc.Type)
				case per.closed && !(p.ended && newest):
					// A closed period lists exactly its segments still listed, from its
					// start: players ask for no other.
					listed, end := timeline()
					var want []int64
					for _, s := range periodSegments(p, tr, per) {
						want = append(want, s.number)
					}
					if !slices.Equal(listed, want) {
						t.Errorf("period %s, track %d: the timeline lists %v, want %v", dp.ID, id, listed, want)
					}
					if st.PTO != pto(tr) || st.Duration != 0 || st.ATO != "" || st.ATC != "" || st.Init != initName(id, p.id, per.index) {
						t.Errorf("period %s, track %d: a closed period's template: %+v", dp.ID, id, st)
					}
					if pi+1 < len(periods) && end > periods[pi+1].start.Seconds()+1e-9 {
						t.Errorf("period %s, track %d: the timeline ends at %vs, in the next period", dp.ID, id, end)
					}
				case !newest:
					t.Errorf("period %s is open, and not the newest", dp.ID)
				default:
					if st.StartNumber != per.startNumber || st.PTO != pto(tr) || len(st.S) > 0 {
						t.Errorf("track %d: startNumber %d, presentationTimeOffset %d, %d S", id, st.StartNumber, st.PTO, len(st.S))
					}
					if got := float64(st.Duration) / float64(st.Timescale); got != seg {
						t.Errorf("track %d: @duration is %vs", id, got)
					}
					if want := initSegmentOf(tr, last); st.Init != want {
						t.Errorf("track %d: initialization %q, want the newest, %q", id, st.Init, want)
					}
					if p.part > 0 && !p.ended {
						if st.ATO != decimalSeconds(p.seg-p.part) || st.ATC != "false" {
							t.Errorf("track %d: availabilityTimeOffset %q, availabilityTimeComplete %q", id, st.ATO, st.ATC)
						}
					} else if st.ATO != "" || st.ATC != "" {
						// Once ended every segment is complete.
						t.Errorf("track %d: availability offset without parts or after the end (ended %v)", id, p.ended)
					}
					if p.ended {
						// Players ask for ceil(duration / @duration) segments, dash.js no
						// more than @endNumber: each must exist, and @endNumber is the last.
						count := first(math.Ceil((xsSeconds(t, doc.Duration)-since)/seg - 1e-9))
						if st.EndNumber != last.number {
							t.Errorf("track %d: endNumber %d, the last segment is %d", id, st.EndNumber, last.number)
						}
						if count = min(count, st.EndNumber); count < last.number {
							t.Errorf("track %d: players would ask for %d segments, not the last, %d", id, count, last.number)
						}
						if x := byNumber[count]; x == nil || !x.complete {
							t.Errorf("track %d: players would ask for %d segments, up to a missing one", id, count)
						}
						// The presentation lasts until the media of every track has ended:
						// dash.js pauses the element at its end (liveEnd).
						if end := tr.seconds(last.start + last.duration); xsSeconds(t, doc.Duration) < end {
							t.Errorf("track %d: the presentation ends at %s, before its media (%vs)", id, doc.Duration, end)
						}
						break
					} else if st.EndNumber != 0 {
						t.Errorf("track %d: endNumber %d while live", id, st.EndNumber)
					}
					// At publish time, the newest segment players may ask for (available
					// availabilityTimeOffset before its nominal end) has been started, and the
					// oldest still in the time-shift buffer is still on disk.
					now := p.published.Sub(p.ast).Seconds()
					ato := 0.0
					if st.ATO != "" {
						ato, _ = strconv.ParseFloat(st.ATO, 64)
					}
					if newest := first(math.Floor((now - since + ato) / seg)); newest > last.number {
						t.Errorf("track %d: segment %d is available at %vs, the packager is at %d", id, newest, now, last.number)
					}
					if doc.TSBD != "" {
						if from := now - xsSeconds(t, doc.TSBD); from >= since {
							if oldest := first(math.Floor((from-since)/seg)) + 1; byNumber[oldest] == nil {
								t.Errorf("track %d: segment %d is in the time-shift buffer but not on disk", id, oldest)
							}
						}
					}
				}
				if doc.Type == "dynamic" && p.timeURL != "" && newest {
					if len(rep.PRT) != 1 || rep.PRT[0].UTC.Value != p.timeURL {
						t.Fatalf("track %d: %d ProducerReferenceTime", id, len(rep.PRT))
					}
					wall, err := time.Parse(time.RFC3339Nano, rep.PRT[0].Wall)
					want := p.ast.Add(time.Duration(float64(rep.PRT[0].PT) / float64(tr.timescale) * float64(time.Second)))
					if err != nil || wall.Sub(want).Abs() > time.Millisecond {
						t.Errorf("track %d: ProducerReferenceTime %s at %d, want %v", id, rep.PRT[0].Wall, rep.PRT[0].PT, want)
					}
				}
			}
		}
		for _, tr := range dashTracks {
			if !seen[tr.id] {
				t.Errorf("period %s: track %d is not in the MPD", dp.ID, tr.id)
			}
		}
	}
	if doc.Type == "dynamic" {
		switch {
		case p.ended:
			// Updates go on, for players to see the final MPD (Shaka ends only a static MPD).
			if doc.MUP != xsDuration(endedUpdate(p)) || doc.Duration == "" {
				t.Errorf("an ended MPD: minimumUpdatePeriod %q, mediaPresentationDuration %q", doc.MUP, doc.Duration)
			}
		case doc.MUP == "" || doc.Duration != "":
			t.Error("a live MPD without minimumUpdatePeriod, or with a duration")
		}
	}
	if (p.target > 0 && !p.static && !p.final) != (doc.Latency != nil) || doc.Latency != nil && doc.Latency.Target != int(p.target.Milliseconds()) {
		t.Errorf("ServiceDescription latency %+v for target %v", doc.Latency, p.target)
	}
	// Shaka subtracts suggestedPresentationDelay from its low-latency live edge and then
	// adds the ServiceDescription's target: a low-latency MPD must not have both.
	if doc.Type == "dynamic" && (p.part > 0) == (doc.SPD != "") {
		t.Errorf("suggestedPresentationDelay %q with part target %v", doc.SPD, p.part)
	}
	// maxSegmentDuration is at least every complete segment's duration.
	if longest := xsSeconds(t, doc.MaxSeg); longest > 0 {
		for _, tr := range p.tracks {
			for _, s := range completeSegments(tr) {
				if tr.dash && tr.seconds(s.duration) > longest+1e-9 && (doc.Type == "static" || s.number >= tr.segs[len(tr.segs)-1].number-int64(p.window)) {
					t.Errorf("track %d: segment %d lasts %vs, maxSegmentDuration is %s", tr.id, s.number, tr.seconds(s.duration), doc.MaxSeg)
				}
			}
		}
	} else {
		t.Error("no maxSegmentDuration")
	}
}

// xsSeconds reads the xs:durations the MPD writer writes: PT<seconds>S.
func xsSeconds(t *testing.T, d string) float64 {
	t.Helper()
	if d == "" {
		return 0
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(d, "PT"), "S"), 64)
	if err != nil || !strings.HasPrefix(d, "PT") || !strings.HasSuffix(d, "S") {
		t.Fatalf("duration %q", d)
	}
	return v
}

const goldenMPD = `<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:mpeg:dash:schema:mpd:2011 DASH-MPD.xsd" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="dynamic" availabilityStartTime="2026-12-03T21:00:00.123Z" publishTime="2026-12-03T21:00:02.656Z" minimumUpdatePeriod="PT1S" maxSegmentDuration="PT1.034S" minBufferTime="PT1S">
  <ServiceDescription id="0">
    <Latency referenceId="0" target="500" min="250"/>
    <PlaybackRate min="0.96" max="1.04"/>
  </ServiceDescription>
  <Period id="0" start="PT0S">
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1">
      <Representation id="0" bandwidth="1200000" codecs="avc1.42e01f" width="640" height="480">
        <ProducerReferenceTime id="0" type="encoder" wallClockTime="2026-12-03T21:00:02.156Z" presentationTime="183000">
          <UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="https://example.com/time?iso&amp;ms"/>
        </ProducerReferenceTime>
        <SegmentTemplate timescale="90000" duration="90000" startNumber="1" initialization="init-stream0-mtest1.m4s" media="chunk-stream0-mtest1-$Number%05d$.m4s" availabilityTimeOffset="0.8" availabilityTimeComplete="false"/>
      </Representation>
    </AdaptationSet>
    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" segmentAlignment="true" startWithSAP="1">
      <Representation id="1" bandwidth="153596" codecs="mp4a.40.2" audioSamplingRate="48000">
        <AudioChannelConfiguration schemeIdUri="urn:mpeg:mpegB:cicp:ChannelConfiguration" value="2"/>
        <ProducerReferenceTime id="0" type="encoder" wallClockTime="2026-12-03T21:00:02.149Z" presentationTime="97280">
          <UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="https://example.com/time?iso&amp;ms"/>
        </ProducerReferenceTime>
        <SegmentTemplate timescale="48000" duration="48000" startNumber="1" initialization="init-stream1-mtest1.m4s" media="chunk-stream1-mtest1-$Number%05d$.m4s" availabilityTimeOffset="0.8" availabilityTimeComplete="false"/>
      </Representation>
    </AdaptationSet>
  </Period>
  <UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="https://example.com/time?iso&amp;ms"/>
</MPD>
`

func TestPlaylists(t *testing.T) {
	t.Run("golden", func(t *testing.T) {
		p := smallPresentation()
		for _, c := range []struct {
			name, want string
			write      func(*bytes.Buffer) error
		}{
			{"master.m3u8", goldenMaster, func(b *bytes.Buffer) error { return writeMasterPlaylist(b, p) }},
			{"media_0.m3u8", goldenVideo, func(b *bytes.Buffer) error { return writeMediaPlaylist(b, p, p.tracks[0]) }},
		} {
			var b bytes.Buffer
			if err := c.write(&b); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != c.want {
				t.Errorf("%s differs:\n%s\nwant:\n%s", c.name, got, c.want)
			}
		}
	})

	for name, spec := range testPresentations() {
		t.Run(name, func(t *testing.T) {
			p := fakePresentation(spec)
			playlists := map[string]string{}
			for _, tr := range p.tracks {
				if !tr.hls {
					if err := writeMediaPlaylist(&bytes.Buffer{}, p, tr); err == nil {
						t.Errorf("track %d is not hls but has a playlist", tr.id)
					}
					continue
				}
				var b bytes.Buffer
				if err := writeMediaPlaylist(&b, p, tr); err != nil {
					t.Fatal(err)
				}
				playlists[playlistName(tr.id)] = b.String()
			}
			for _, tr := range p.tracks {
				if text, ok := playlists[playlistName(tr.id)]; ok {
					checkMediaPlaylist(t, p, tr, text, playlists)
				}
			}
			var b bytes.Buffer
			if err := writeMasterPlaylist(&b, p); err != nil {
				t.Fatal(err)
			}
			checkMasterPlaylist(t, p, b.String())
		})
	}

	t.Run("playlistT", func(t *testing.T) {
		// The playlistT itself catches what it is for.
		p := smallPresentation()
		var b bytes.Buffer
		if err := writeMediaPlaylist(&b, p, p.tracks[0]); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []struct{ from, to string }{
			{"#EXT-X-TARGETDURATION:1", "#EXT-X-TARGETDURATION:0"},
			{"PART-HOLD-BACK=0.5", "PART-HOLD-BACK=0.3"},
			{"#EXTINF:1.03333,", "#EXTINF:1.6,"},
			{"#EXTINF:1.03333,", "#EXTINF:1.60000,"},
			{"DURATION=0.20000", "DURATION=0.20100"},
			{"DURATION=0.20000,URI=\"part-stream0-mtest1-00001.1", "DURATION=0.16000,URI=\"part-stream0-mtest1-00001.1"},
			{"INDEPENDENT=YES", "INDEPENDENT=NO"},
			{"#EXT-X-MEDIA-SEQUENCE:1", "#EXT-X-MEDIA-SEQUENCE:2"},
			{"00003.2.m4s\"\n", "00003.3.m4s\"\n"},
			{"00002.m4s\n", "00003.m4s\n"},
			{"21:00:01.189Z", "21:00:01.18Z"},
			{"21:00:01.189Z", "21:00:01.289Z"},
			{"#EXT-X-PRELOAD-HINT", "#EXT-X-ENDLIST\n#EXT-X-PRELOAD-HINT"},
			{"#EXT-X-PART-INF:PART-TARGET=0.2\n", ""},
			{"CAN-BLOCK-RELOAD=YES", "CAN-BLOCK-RELOAD=\"YES\""},
			{"#EXT-X-INDEPENDENT-SEGMENTS\n", "#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-FOO\n"},
		} {
			broken := strings.Replace(b.String(), bad.from, bad.to, 1)
			if broken == b.String() {
				t.Fatalf("%q is not in the playlist", bad.from)
			}
			r := &failRecorder{}
			func() {
				defer func() {
					if v := recover(); v != nil && v != r {
						panic(v)
					}
				}()
				checkMediaPlaylist(r, p, p.tracks[0], broken, nil)
			}()
			if !r.failed {
				t.Errorf("the playlistT passes a playlist with %q for %q", bad.to, bad.from)
			}
		}
	})
}

// playlistT is what the playlist checkers report to: the test, or a failRecorder when the
// playlistT itself is tested.
type playlistT interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Error(args ...any)
	Fatal(args ...any)
}

// failRecorder is a playlistT that notes a failure; its Fatal panics with itself.
type failRecorder struct{ failed bool }

func (r *failRecorder) Helper()               {}
func (r *failRecorder) Errorf(string, ...any) { r.failed = true }
func (r *failRecorder) Fatalf(string, ...any) { r.failed = true; panic(r) }
func (r *failRecorder) Error(...any)          { r.failed = true }
func (r *failRecorder) Fatal(...any)          { r.failed = true; panic(r) }

// hlsLine is one line of a playlist: a tag, its value and attributes, or a URI.
type hlsLine struct {
	tag   string
	value string
	attrs map[string]string
	uri   string
}

// hlsAttrTypes are the attributes each tag with an attribute list may have, and the
// form of each value (RFC 8216bis, 4.2); required ones are marked with a !.
var hlsAttrTypes = map[string]map[string]string{
	"EXT-X-SERVER-CONTROL":   {"CAN-BLOCK-RELOAD": "yes", "PART-HOLD-BACK": "float", "HOLD-BACK": "float", "CAN-SKIP-UNTIL": "float", "CAN-SKIP-DATERANGES": "yes"},
	"EXT-X-PART-INF":         {"PART-TARGET": "float!"},
	"EXT-X-MAP":              {"URI": "quoted!", "BYTERANGE": "quoted"},
	"EXT-X-PART":             {"DURATION": "float!", "URI": "quoted!", "INDEPENDENT": "yes", "BYTERANGE": "quoted", "GAP": "yes"},
	"EXT-X-PRELOAD-HINT":     {"TYPE": "enum!", "URI": "quoted!", "BYTERANGE-START": "int", "BYTERANGE-LENGTH": "int"},
	"EXT-X-RENDITION-REPORT": {"URI": "quoted!", "LAST-MSN": "int!", "LAST-PART": "int"},
	"EXT-X-MEDIA":            {"TYPE": "enum!", "GROUP-ID": "quoted!", "NAME": "quoted!", "DEFAULT": "yesno", "AUTOSELECT": "yesno", "CHANNELS": "quoted", "URI": "quoted", "LANGUAGE": "quoted"},
	"EXT-X-STREAM-INF":       {"BANDWIDTH": "int!", "AVERAGE-BANDWIDTH": "int", "CODECS": "quoted", "RESOLUTION": "resolution", "AUDIO": "quoted", "FRAME-RATE": "float"},
}

// hlsValueTypes are the tags with a single value, and its form; "" is no value.
var hlsValueTypes = map[string]string{
	"EXTM3U": "", "EXT-X-INDEPENDENT-SEGMENTS": "", "EXT-X-DISCONTINUITY": "", "EXT-X-ENDLIST": "",
	"EXT-X-VERSION": "int", "EXT-X-TARGETDURATION": "int", "EXT-X-MEDIA-SEQUENCE": "int",
	"EXT-X-DISCONTINUITY-SEQUENCE": "int", "EXT-X-PROGRAM-DATE-TIME": "date", "EXTINF": "extinf",
}

var hlsForms = map[string]*regexp.Regexp{
	"int":        regexp.MustCompile(`^[0-9]{1,20}$`),
	"float":      regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`),
	"quoted":     regexp.MustCompile(`^"[^"\r\n]*"$`),
	"enum":       regexp.MustCompile(`^[^",\s]+$`),
	"yes":        regexp.MustCompile(`^YES$`),
	"yesno":      regexp.MustCompile(`^(YES|NO)$`),
	"resolution": regexp.MustCompile(`^[0-9]+x[0-9]+$`),
	// ISO 8601 with milliseconds and Z, as sv writes it.
	"date":   regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$`),
	"extinf": regexp.MustCompile(`^[0-9]+\.[0-9]{5},$`),
}

var attrNameForm = regexp.MustCompile(`^[A-Z0-9-]+$`)

// parsePlaylist splits a playlist into lines and checks every tag is known and
// well-formed.
func parsePlaylist(t playlistT, text string) []hlsLine {
	t.Helper()
	if !strings.HasSuffix(text, "\n") || strings.Contains(text, "\r") {
		t.Errorf("not LF-terminated lines")
	}
	var lines []hlsLine
	for i, raw := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if raw == "" || strings.TrimSpace(raw) != raw {
			t.Fatalf("line %d: %q: empty or blanks around", i+1, raw)
		}
		if i == 0 && raw != "#EXTM3U" {
			t.Fatalf("first line %q", raw)
		}
		if !strings.HasPrefix(raw, "#") {
			lines = append(lines, hlsLine{uri: raw})
			continue
		}
		if !strings.HasPrefix(raw, "#EXT") {
			t.Fatalf("line %d: %q: a comment", i+1, raw)
		}
		tag, value, hasValue := strings.Cut(raw[1:], ":")
		l := hlsLine{tag: tag, value: value}
		if types, ok := hlsAttrTypes[tag]; ok {
			l.attrs = parseAttrs(t, raw, value, types)
		} else if form, ok := hlsValueTypes[tag]; !ok {
			t.Fatalf("line %d: unknown tag %s", i+1, tag)
		} else if form == "" && hasValue || form != "" && !hlsForms[form].MatchString(value) {
			t.Fatalf("line %d: %q: not a %q value", i+1, raw, form)
		}
		lines = append(lines, l)
	}
	return lines
}

// parseAttrs reads an attribute list strictly: NAME=VALUE pairs separated by commas,
// each name once, each value of its attribute's form, every required one there.
func parseAttrs(t playlistT, line, list string, types map[string]string) map[string]string {
	t.Helper()
	attrs := map[string]string{}
	for list != "" {
		name, rest, ok := strings.Cut(list, "=")
		if !ok || !attrNameForm.MatchString(name) {
			t.Fatalf("%q: bad attribute name in %q", line, list)
		}
		var value string
		if strings.HasPrefix(rest, `"`) {
			end := strings.Index(rest[1:], `"`)
			if end < 0 {
				t.Fatalf("%q: unterminated quoted string", line)
			}
			value, rest = rest[:end+2], rest[end+2:]
		} else {
			value, rest, _ = strings.Cut(rest, ",")
			rest = "," + rest
			if rest == "," {
				rest = ""
			}
		}
		if rest != "" {
			if !strings.HasPrefix(rest, ",") || rest == "," {
				t.Fatalf("%q: junk after %s", line, name)
			}
			rest = rest[1:]
		}
		list = rest
		form, known := types[name]
		if !known {
			t.Fatalf("%q: unknown attribute %s", line, name)
		}
		if _, dup := attrs[name]; dup {
			t.Fatalf("%q: %s twice", line, name)
		}
		if !hlsForms[strings.TrimSuffix(form, "!")].MatchString(value) {
			t.Fatalf("%q: %s=%s is not a %s", line, name, value, form)
		}
		attrs[name] = strings.Trim(value, `"`)
	}
	for name, form := range types {
		if _, ok := attrs[name]; strings.HasSuffix(form, "!") && !ok {
			t.Fatalf("%q: no %s", line, name)
		}
	}
	return attrs
}

func attrFloat(t playlistT, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, ","), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func attrInt(t playlistT, s string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// checkMediaPlaylist checks the media playlist of tr against RFC 8216bis and the model;
// others are the other playlists, for the rendition reports.
func checkMediaPlaylist(t playlistT, p *presentation, tr *track, text string, others map[string]string) {
	t.Helper()
	lines := parsePlaylist(t, text)
	once := map[string]int{}
	for _, l := range lines {
		once[l.tag]++
	}
	for _, tag := range []string{"EXT-X-VERSION", "EXT-X-TARGETDURATION", "EXT-X-MEDIA-SEQUENCE", "EXT-X-SERVER-CONTROL",
		"EXT-X-PART-INF", "EXT-X-DISCONTINUITY-SEQUENCE", "EXT-X-INDEPENDENT-SEGMENTS", "EXT-X-PRELOAD-HINT", "EXT-X-ENDLIST"} {
		if once[tag] > 1 {
			t.Errorf("%s %d times", tag, once[tag])
		}
	}
	if once["EXT-X-TARGETDURATION"] != 1 || once["EXT-X-MEDIA-SEQUENCE"] != 1 {
		t.Fatal("no target duration or media sequence")
	}

	var (
		version, target, seq, discSeq int64
		partTarget, partHoldBack      float64
		partAt, lastPartEnd           float64 // seconds: where the next part starts, where the last ended
		holdBack                      = -1.0
		n                             int64 // number of the segment the next lines are about
		k                             int   // index of its next part
		parts                         []hlsLine
		lastDate                      time.Time
		dates                         int
		segments                      int
		ended, sawMap, sawSegment     bool
		hint                          string
		reports                       []hlsLine
	)
	byNumber := map[int64]*segment{}
	for _, s := range tr.segs {
		byNumber[s.number] = s
	}
	for i, l := range lines {
		if ended {
			t.Fatalf("%q after EXT-X-ENDLIST", l.tag+l.uri)
		}
		if hint != "" && l.tag != "EXT-X-RENDITION-REPORT" {
			t.Errorf("%q after the preload hint", l.tag+l.uri)
		}
		// Header tags come before the first segment's.
		switch l.tag {
		case "EXT-X-VERSION", "EXT-X-TARGETDURATION", "EXT-X-MEDIA-SEQUENCE", "EXT-X-DISCONTINUITY-SEQUENCE",
			"EXT-X-SERVER-CONTROL", "EXT-X-PART-INF", "EXT-X-INDEPENDENT-SEGMENTS":
			if sawMap || sawSegment {
				t.Errorf("%s after the first segment's tags", l.tag)
			}
		}
		switch l.tag {
		case "EXT-X-VERSION":
			version = attrInt(t, l.value)
		case "EXT-X-TARGETDURATION":
			target = attrInt(t, l.value)
		case "EXT-X-MEDIA-SEQUENCE":
			seq = attrInt(t, l.value)
			n = seq
		case "EXT-X-DISCONTINUITY-SEQUENCE":
			discSeq = attrInt(t, l.value)
		case "EXT-X-SERVER-CONTROL":
			partHoldBack = attrFloat(t, l.attrs["PART-HOLD-BACK"])
			if v, ok := l.attrs["HOLD-BACK"]; ok {
				holdBack = attrFloat(t, v)
			}
		case "EXT-X-PART-INF":
			partTarget = attrFloat(t, l.attrs["PART-TARGET"])
		case "EXT-X-MAP":
			s := byNumber[n]
			if s == nil || l.attrs["URI"] != initSegmentOf(tr, s) {
				t.Errorf("map %q before segment %d", l.attrs["URI"], n)
			}
			if sawMap && (s.init == "" || !follows(tr, s)) {
				t.Errorf("a second map before segment %d, which brings none", n)
			}
			sawMap = true
		case "EXT-X-DISCONTINUITY":
			if s := byNumber[n]; s == nil || !follows(tr, s) {
				t.Errorf("discontinuity before segment %d", n)
			}
		case "EXT-X-PROGRAM-DATE-TIME":
			date, err := time.Parse(time.RFC3339Nano, l.value)
			if err != nil {
				t.Fatal(err)
			}
			s := byNumber[n]
			if s == nil {
				t.Fatalf("date before segment %d, which does not exist", n)
			}
			want := p.ast.Add(time.Duration(tr.seconds(s.start) * float64(time.Second)))
			if d := date.Sub(want); d > 0 || d <= -time.Millisecond {
				t.Errorf("segment %d dated %s, starts at %s", n, l.value, isoMillis(want))
			}
			if dates > 0 && !date.After(lastDate) {
				t.Errorf("dates do not increase at segment %d", n)
			}
			lastDate = date
			dates++
		case "EXT-X-PART":
			name := partName(tr.id, p.id, n, k)
			if l.attrs["URI"] != name {
				t.Errorf("part %q where %q comes", l.attrs["URI"], name)
			}
			if k == 0 {
				if s := byNumber[n]; s != nil {
					partAt = tr.seconds(s.start)
				}
			}
			partAt += attrFloat(t, l.attrs["DURATION"])
			lastPartEnd = partAt
			parts = append(parts, l)
			k++
		case "EXTINF":
			if next := lines[i+1]; next.uri == "" {
				t.Fatalf("EXTINF without a URI after it")
			}
			d := attrFloat(t, l.value)
			if int64(math.Round(d)) > target {
				t.Errorf("segment %d lasts %vs, target %d", n, d, target)
			}
			if s := byNumber[n]; s == nil || math.Abs(d-tr.seconds(s.duration)) > 0.000005 {
				t.Errorf("segment %d: EXTINF %v", n, d)
			}
			checkParts(t, partTarget, parts, true)
			parts = nil
		case "EXT-X-PRELOAD-HINT":
			hint = l.attrs["URI"]
			if l.attrs["TYPE"] != "PART" {
				t.Errorf("preload hint of type %s", l.attrs["TYPE"])
			}
		case "EXT-X-RENDITION-REPORT":
			reports = append(reports, l)
		case "EXT-X-ENDLIST":
			ended = true
		case "":
			// The segment's URI: the name of segment n (numbers follow on).
			if l.uri != segmentName(tr.id, p.id, n) || lines[i-1].tag != "EXTINF" {
				t.Errorf("segment URI %q where segment %d comes", l.uri, n)
			}
			if dates == 0 {
				t.Errorf("segment %d has no date", n)
			}
			if !sawMap {
				t.Errorf("segment %d before any map", n)
			}
			segments++
			sawSegment = true
			n, k = n+1, 0
		}
	}
	// The parts after the last URI are those of a segment in progress, or of the last
	// complete one while it is shown in progress (playlistWindow): then its last is final.
	shownComplete := byNumber[n] != nil && byNumber[n].complete
	checkParts(t, partTarget, parts, shownComplete)

	if version < 6 {
		t.Errorf("version %d: EXT-X-MAP needs 6", version)
	}
	// What `sv serve` reads: the last complete segment and the parts of the one in progress.
	listed, open := playlistWindow(p, tr)
	if last := seq + int64(segments) - 1; len(listed) > 0 && last != listed[len(listed)-1].number {
		t.Errorf("last complete segment %d, the packager's is %d", last, listed[len(listed)-1].number)
	}
	if len(listed) > 0 && seq != listed[0].number {
		t.Errorf("media sequence %d, first segment listed %d", seq, listed[0].number)
	}
	wantParts := 0
	if p.part > 0 && open != nil {
		wantParts = completeParts(open)
	}
	if len(parts) != wantParts {
		t.Errorf("%d parts after the last segment, %d complete in progress", len(parts), wantParts)
	}
	disc := int64(0)
	if s := byNumber[seq]; s != nil {
		disc = int64(s.disc)
	}
	if discSeq != disc {
		t.Errorf("discontinuity sequence %d, %d discontinuities left the playlist", discSeq, disc)
	}
	if ended != noMoreSegments(p) {
		t.Errorf("EXT-X-ENDLIST: %v, ended: %v", ended, noMoreSegments(p))
	}
	if p.part == 0 {
		if once["EXT-X-SERVER-CONTROL"]+once["EXT-X-PART-INF"]+once["EXT-X-PART"]+once["EXT-X-PRELOAD-HINT"]+once["EXT-X-RENDITION-REPORT"] > 0 {
			t.Error("low-latency tags in a playlist without parts")
		}
		return
	}
	if partTarget != p.part.Seconds() {
		t.Errorf("part target %v", partTarget)
	}
	// PART-HOLD-BACK must be at least twice the part target (RFC 8216bis, 4.4.3.8),
	// which is what sv writes: the spec recommends three times, which costs hls.js a
	// part of latency (hls.go).
	if partHoldBack < 2*partTarget-1e-9 {
		t.Errorf("PART-HOLD-BACK %v for part target %v", partHoldBack, partTarget)
	}
	if holdBack != -1 && holdBack < float64(3*target) {
		t.Errorf("HOLD-BACK %v for target duration %d", holdBack, target)
	}
	if ended {
		if hint != "" || len(reports) > 0 {
			t.Error("an ended playlist with a preload hint or rendition reports")
		}
		// hls.js ends a track's stream once the middle of its last part is where every
		// track has media: the last part ends before every track's end, by a margin.
		for _, u := range p.tracks {
			if segs := completeSegments(u); u.hls && len(segs) > 0 {
				last := segs[len(segs)-1]
				if end := u.seconds(last.start + last.duration); lastPartEnd > end-endMargin.Seconds()+1e-6 {
					t.Errorf("the last part ends at %.3fs, less than %v before track %d's end, %.3fs", lastPartEnd, endMargin, u.id, end)
				}
			}
		}
		return
	}
	// The hint names the next part: the next of the segment in progress, else the first
	// of the next segment (also after a complete segment shown in progress).
	next := partName(tr.id, p.id, n, k)
	if shownComplete {
		next = partName(tr.id, p.id, n+1, 0)
	}
	if hint != next {
		t.Errorf("preload hint %q, the next part is %q", hint, next)
	}
	var want []string
	for _, u := range p.tracks {
		if u != tr && u.hls && u.kind == tr.kind {
			want = append(want, playlistName(u.id))
		}
	}
	if len(reports) != len(want) {
		t.Errorf("%d rendition reports for %d other renditions", len(reports), len(want))
	}
	for i, r := range reports {
		if i >= len(want) || r.attrs["URI"] != want[i] {
			t.Errorf("rendition report for %q", r.attrs["URI"])
			continue
		}
		if others == nil {
			continue
		}
		// LAST-MSN and LAST-PART say what that playlist says, read the way sv serve does.
		other := others[want[i]]
		msn, part := lastInPlaylist(t, other)
		if got := attrInt(t, r.attrs["LAST-MSN"]); got != msn {
			t.Errorf("rendition report of %s: LAST-MSN %d, its playlist ends at %d", want[i], got, msn)
		}
		if got, ok := r.attrs["LAST-PART"]; !ok || attrInt(t, got) != int64(part) {
			t.Errorf("rendition report of %s: LAST-PART %q, its playlist ends at part %d", want[i], got, part)
		}
	}
}

// checkParts checks the parts of one segment: each at most the part target, and at least
// 85% of it but for an independent one and the last of a complete segment (RFC 8216bis,
// 4.4.4.9); the first part of a segment is independent where the segment is.
func checkParts(t playlistT, target float64, parts []hlsLine, complete bool) {
	t.Helper()
	for i, pt := range parts {
		d := attrFloat(t, pt.attrs["DURATION"])
		if d > target {
			t.Errorf("part %s lasts %v, over the part target %v", pt.attrs["URI"], d, target)
		}
		final := complete && i == len(parts)-1
		if d < 0.85*target && pt.attrs["INDEPENDENT"] != "YES" && !final {
			t.Errorf("part %s lasts %v, under 85%% of the part target %v", pt.attrs["URI"], d, target)
		}
	}
}

// lastInPlaylist reads a media playlist the way sv serve does: the media sequence, the
// number of EXTINF lines and the parts after the last URI give the last segment with
// anything in it and the index of its last part.
func lastInPlaylist(t playlistT, text string) (msn int64, part int) {
	t.Helper()
	var seq int64
	segments, parts, lastParts := 0, 0, 0
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"):
			seq = attrInt(t, strings.TrimPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"))
		case strings.HasPrefix(line, "#EXTINF:"):
			segments++
			lastParts, parts = parts, 0
		case strings.HasPrefix(line, "#EXT-X-PART:"):
			parts++
		}
	}
	if parts > 0 {
		return seq + int64(segments), parts - 1
	}
	return seq + int64(segments) - 1, lastParts - 1
}

// checkMasterPlaylist checks the multivariant playlist: every hls track once, each
// variant's BANDWIDTH at least the peak rate of its segments plus its audio's.
func checkMasterPlaylist(t playlistT, p *presentation, text string) {
	t.Helper()
	lines := parsePlaylist(t, text)
	peak := func(tr *track) int {
		var rate float64
		for _, s := range completeSegments(tr) {
			rate = max(rate, float64(s.bytes)*8/tr.seconds(s.duration))
		}
		return int(math.Ceil(rate))
	}
	var video, audio []*track
	for _, tr := range p.tracks {
		if tr.hls && tr.kind == videoTrack {
			video = append(video, tr)
		} else if tr.hls {
			audio = append(audio, tr)
		}
	}
	audioPeak, codecs := 0, map[string]bool{}
	for _, tr := range audio {
		audioPeak = max(audioPeak, peak(tr))
		codecs[tr.codec] = true
	}
	var playlists []string
	groups := map[string]bool{}
	for i, l := range lines {
		switch l.tag {
		case "EXT-X-VERSION", "EXT-X-INDEPENDENT-SEGMENTS", "EXTM3U":
		case "EXT-X-MEDIA":
			if l.attrs["TYPE"] != "AUDIO" || l.attrs["URI"] == "" || len(video) == 0 {
				t.Errorf("media %v", l.attrs)
			}
			groups[l.attrs["GROUP-ID"]] = true
			playlists = append(playlists, l.attrs["URI"])
		case "EXT-X-STREAM-INF":
			uri := lines[i+1].uri
			if uri == "" {
				t.Fatal("EXT-X-STREAM-INF without a URI after it")
			}
			playlists = append(playlists, uri)
			var tr *track
			for _, x := range p.tracks {
				if x.hls && playlistName(x.id) == uri {
					tr = x
				}
			}
			if tr == nil {
				t.Fatalf("variant %q is no hls track", uri)
			}
			bandwidth, average := attrInt(t, l.attrs["BANDWIDTH"]), attrInt(t, l.attrs["AVERAGE-BANDWIDTH"])
			want := peak(tr)
			if tr.kind == videoTrack {
				want += audioPeak
				if !groups[l.attrs["AUDIO"]] && len(audio) > 0 {
					t.Errorf("variant %s: audio group %q", uri, l.attrs["AUDIO"])
				}
				if l.attrs["RESOLUTION"] != fmt.Sprintf("%dx%d", tr.width, tr.height) {
					t.Errorf("variant %s: resolution %s", uri, l.attrs["RESOLUTION"])
				}
			}
			if bandwidth < int64(want) || average > bandwidth {
				t.Errorf("variant %s: BANDWIDTH %d AVERAGE-BANDWIDTH %d, peak %d", uri, bandwidth, average, want)
			}
			got := strings.Split(l.attrs["CODECS"], ",")
			if got[0] != tr.codec || tr.kind == videoTrack && len(got)-1 != len(codecs) {
				t.Errorf("variant %s: codecs %q", uri, l.attrs["CODECS"])
			}
			for _, c := range got[1:] {
				if !codecs[c] {
					t.Errorf("variant %s: codec %q of no audio track", uri, c)
				}
			}
		case "":
			if i == 0 || lines[i-1].tag != "EXT-X-STREAM-INF" {
				t.Errorf("URI %q without EXT-X-STREAM-INF", l.uri)
			}
		default:
			t.Errorf("%s in a multivariant playlist", l.tag)
		}
	}
	var want []string
	for _, tr := range p.tracks {
		if tr.hls {
			want = append(want, playlistName(tr.id))
		}
	}
	slices.Sort(want)
	slices.Sort(playlists)
	if !slices.Equal(playlists, want) {
		t.Errorf("playlists %q, hls tracks %q", playlists, want)
	}
}

const goldenMaster = `#EXTM3U
#EXT-X-VERSION:6
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="media_1.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=1353596,AVERAGE-BANDWIDTH=1297193,CODECS="avc1.42e01f,mp4a.40.2",RESOLUTION=640x480,AUDIO="audio"
media_0.m3u8
`

const goldenVideo = `#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:1
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.5,HOLD-BACK=3
#EXT-X-PART-INF:PART-TARGET=0.2
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init-stream0-mtest1.m4s"
#EXT-X-PROGRAM-DATE-TIME:2026-12-03T21:00:00.156Z
#EXT-X-PART:DURATION=0.20000,URI="part-stream0-mtest1-00001.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.20000,URI="part-stream0-mtest1-00001.1.m4s"
#EXT-X-PART:DURATION=0.20000,URI="part-stream0-mtest1-00001.2.m4s"
#EXT-X-PART:DURATION=0.20000,URI="part-stream0-mtest1-00001.3.m4s"
#EXT-X-PART:DURATION=0.20000,URI="part-stream0-mtest1-00001.4.m4s"
#EXT-X-PART:DURATION=0.03333,URI="part-stream0-mtest1-00001.5.m4s"
#EXTINF:1.03333,
chunk-stream0-mtest1-00001.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-12-03T21:00:01.189Z
#EXT-X-PART:DURATION=0.20000,URI="part-stream0-mtest1-00002.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.20000,URI="part-stream0-mtest1-00002.1.m4s"
#EXT-X-PART:DURATION=0.20000,URI="part-stream0-mtest1-00002.2.m4s"
#EXT-X-PART:DURATION=0.20000,URI="part-stream0-mtest1-00002.3.m4s"
#EXT-X-PART:DURATION=0.16667,URI="part-stream0-mtest1-00002.4.m4s"
#EXTINF:0.96667,
chunk-stream0-mtest1-00002.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-12-03T21:00:02.156Z
#EXT-X-PART:DURATION=0.20000,URI="part-stream0-mtest1-00003.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.20000,URI="part-stream0-mtest1-00003.1.m4s"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-stream0-mtest1-00003.2.m4s"
`

// follows reports whether segment s of tr follows a discontinuity: it is the first of a
// period after the first.
func follows(tr *track, s *segment) bool {
	i := slices.Index(tr.segs, s)
	return i > 0 && tr.segs[i-1].disc != s.disc
}

// TestFirstSegmentListed checks that the presentation's first segment is listed complete
// as soon as it is, though the next has no part yet: hls.js needs a complete segment in
// the first playlist it loads, and starts a part sooner.
func TestFirstSegmentListed(t *testing.T) {
	p := fakePresentation(testPresentations()["low latency, the first segment complete"])
	for _, tr := range p.tracks {
		if !tr.hls {
			continue
		}
		var b bytes.Buffer
		if err := writeMediaPlaylist(&b, p, tr); err != nil {
			t.Fatal(err)
		}
		if want := "#EXTINF:"; strings.Count(b.String(), want) != 1 || !strings.Contains(b.String(), segmentName(tr.id, p.id, 1)+"\n") {
			t.Errorf("track %d: the first segment is not listed complete:\n%s", tr.id, b.String())
		}
	}
}
