package serve

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/svtool/sv/media"
)

// The lead of a live presentation is how far ahead of its MPD timeline the segments are
// really written. FFmpeg sets availabilityStartTime to its clock when the first packet
// reaches the muxer, which is after it has probed half a second of input: from then on,
// media is written about that much before the time the MPD gives it. A player that knows
// the lead can put its clock forward by it and play at the true live edge, half a second
// closer to the camera, without asking for anything that does not exist yet.
//
// The server measures it from the files. FFmpeg finishes (renames) segment n when the
// first packet of segment n+1 reaches it, so at that moment, the segment's mtime, the
// media has reached the start time of segment n+1, read from the tfdt of its first
// fragment (a copied stream's segments start at the publisher's keyframes, not on the
// nominal grid). The lead is availabilityStartTime + that start - the mtime: the most over
// the last few segments of a representation (a write can only be late), the least over
// the representations.

// mpdInfo is what the lead needs from an MPD.
type mpdInfo struct {
	XMLName xml.Name `xml:"MPD"`
	Type    string   `xml:"type,attr"`
	AST     string   `xml:"availabilityStartTime,attr"`
	Periods []struct {
		Start string `xml:"start,attr"`
		Sets  []struct {
			Template *segmentTemplate `xml:"SegmentTemplate"`
			Reps     []struct {
				ID        string           `xml:"id,attr"`
				Bandwidth string           `xml:"bandwidth,attr"`
				Template  *segmentTemplate `xml:"SegmentTemplate"`
			} `xml:"Representation"`
		} `xml:"AdaptationSet"`
	} `xml:"Period"`
}

type segmentTemplate struct {
	Timescale      int64  `xml:"timescale,attr"`
	Duration       int64  `xml:"duration,attr"`
	StartNumber    *int64 `xml:"startNumber,attr"`
	Media          string `xml:"media,attr"`
	Initialization string `xml:"initialization,attr"`
}

// leadSegments is how many of the newest segments of a representation are looked at.
const leadSegments = 6

// lead measures the lead of the live MPD mpd in the folder base (a path under the root
// ending in "/") at time now. ok is false when it cannot be measured: not a live MPD with
// numbered segments of a fixed duration, or no segment finished yet.
func (s *Server) lead(mpd []byte, base string, now time.Time) (lead time.Duration, ok bool) {
	var m mpdInfo
	if err := xml.Unmarshal(mpd, &m); err != nil || m.Type != "dynamic" || len(m.Periods) != 1 {
		return 0, false
	}
	ast, err := time.Parse(time.RFC3339Nano, m.AST)
	if err != nil {
		return 0, false
	}
	if p := m.Periods[0].Start; p != "" && p != "PT0S" && p != "PT0.0S" {
		return 0, false // a period that starts later: not what sv dash writes
	}
	first := true
	for _, set := range m.Periods[0].Sets {
		for _, rep := range set.Reps {
			t := rep.Template
			if t == nil {
				t = set.Template
			}
			l, found := s.repLead(t, rep.ID, rep.Bandwidth, base, ast, now)
			if !found {
				return 0, false
			}
			if first || l < lead {
				lead, first = l, false
			}
		}
	}
	return lead, !first
}

// repLead is the lead of one representation.
func (s *Server) repLead(t *segmentTemplate, id, bandwidth, base string, ast, now time.Time) (time.Duration, bool) {
	if t == nil || t.Timescale <= 0 || t.Duration <= 0 || t.Media == "" || t.Initialization == "" {
		return 0, false
	}
	start := int64(1)
	if t.StartNumber != nil {
		start = *t.StartNumber
	}
	seg := time.Duration(t.Duration) * time.Second / time.Duration(t.Timescale)
	if seg <= 0 {
		return 0, false
	}
	initName, ok := expandTemplate(t.Initialization, id, bandwidth, 0)
	if !ok || !plainName(initName) {
		return 0, false
	}
	init, ok := s.readInit(base + initName)
	if !ok {
		return 0, false
	}
	name := func(n int64) (string, bool) {
		name, ok := expandTemplate(t.Media, id, bandwidth, n)
		return base + name, ok && plainName(name)
	}
	// The newest segments are around the number the timeline gives for now.
	live := start + int64(now.Sub(ast)/seg)
	var lead time.Duration
	found := 0
	for n := live + 2; n >= start && n >= live-3*leadSegments && found < leadSegments; n-- {
		this, ok1 := name(n)
		next, ok2 := name(n + 1)
		if !ok1 || !ok2 {
			return 0, false
		}
		fi, err := s.root.Stat(this)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		nextStart, ok := s.segmentStart(init, next, ast)
		if !ok {
			continue
		}
		if l := ast.Add(nextStart).Sub(fi.ModTime()); found == 0 || l > lead {
			lead = l
		}
		found++
	}
	return lead, found > 0
}

// startCache keeps the start times of segments, which never change once they have a
// fragment, and initialization segments.
type startCache struct {
	mu     sync.Mutex
	starts map[string]time.Duration
	inits  map[string][]byte
}

const maxCached = 4096

// readInit returns an initialization segment (cached: it does not change within a
// session, and a new session rewrites it with another mtime).
func (s *Server) readInit(rel string) ([]byte, bool) {
	f, fi, err := s.open(rel)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	key := fmt.Sprintf("%s@%d@%d", rel, fi.ModTime().UnixNano(), fi.Size())
	c := &s.cache
	c.mu.Lock()
	b, ok := c.inits[key]
	c.mu.Unlock()
	if ok {
		return b, true
	}
	if fi.Size() > 1<<20 {
		return nil, false
	}
	b, err = io.ReadAll(f)
	if err != nil {
		return nil, false
	}
	c.mu.Lock()
	if c.inits == nil || len(c.inits) > maxCached {
		c.inits = map[string][]byte{}
	}
	c.inits[key] = b
	c.mu.Unlock()
	return b, true
}

var errFound = errors.New("found")

// segmentStart returns the presentation time of the first fragment of segment rel,
// finished or in progress, read with the track's timescale from init. Names repeat from
// one session to the next: the session (availabilityStartTime) is part of the cache key.
func (s *Server) segmentStart(init []byte, rel string, session time.Time) (time.Duration, bool) {
	key := rel + "@" + strconv.FormatInt(session.UnixNano(), 10)
	c := &s.cache
	c.mu.Lock()
	d, ok := c.starts[key]
	c.mu.Unlock()
	if ok {
		return d, true
	}
	f, _, err := s.open(rel)
	if err != nil {
		if f, _, err = s.open(rel + ".tmp"); err != nil {
			return 0, false
		}
	}
	head := make([]byte, 64<<10) // the first moof is far smaller
	n, _ := io.ReadFull(f, head)
	f.Close()
	found := false
	sc := media.NewScanner(media.MP4, func(e media.Event) error {
		if e.Kind == media.EventCluster && e.Offset >= int64(len(init)) {
			d, found = e.Time, true
			return errFound
		}
		return nil
	})
	sc.Write(init)
	sc.Write(head[:n])
	if !found {
		return 0, false
	}
	c.mu.Lock()
	if c.starts == nil || len(c.starts) > maxCached {
		c.starts = map[string]time.Duration{}
	}
	c.starts[key] = d
	c.mu.Unlock()
	return d, true
}

// expandTemplate fills a DASH SegmentTemplate@media for a segment number: $$,
// $RepresentationID$, $Bandwidth$, $Number$ and $Number%0Nd$. $Time$ is not for numbers.
func expandTemplate(tmpl, id, bandwidth string, n int64) (string, bool) {
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '$')
		if i < 0 {
			b.WriteString(tmpl)
			return b.String(), true
		}
		b.WriteString(tmpl[:i])
		j := strings.IndexByte(tmpl[i+1:], '$')
		if j < 0 {
			return "", false
		}
		ident := tmpl[i+1 : i+1+j]
		tmpl = tmpl[i+2+j:]
		name, format, _ := strings.Cut(ident, "%")
		var v string
		switch name {
		case "":
			b.WriteByte('$')
			continue
		case "RepresentationID":
			v = id
		case "Bandwidth":
			v = bandwidth
		case "Number":
			v = strconv.FormatInt(n, 10)
			if format != "" {
				width, ok := strings.CutPrefix(format, "0")
				w, err := strconv.Atoi(strings.TrimSuffix(width, "d"))
				if !ok || err != nil || !strings.HasSuffix(format, "d") || w > 20 {
					return "", false
				}
				v = fmt.Sprintf("%0*d", w, n)
			}
		default:
			return "", false
		}
		b.WriteString(v)
	}
}
