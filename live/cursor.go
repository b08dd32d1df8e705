package live

import (
	"time"

	"github.com/svtool/sv/media"
)

// maxRecent bounds the bytes a cursor keeps since the start of the current cluster. A
// browser's clusters are a recorder chunk or a keyframe interval long (a few hundred KB);
// past this bound, the current cluster cannot be joined and joiners wait for the next.
const maxRecent = 16 << 20

// A cursor follows a publisher's stream with a media.Scanner and keeps what a consumer
// needs to join the stream midway: the stream's header, the bytes since the start of the
// current cluster, and, for each write, where a cluster that opens with a keyframe began
// and where the video frames are. The session's writer goroutine owns it.
type cursor struct {
	sc     *media.Scanner
	failed error // the scanner's error: no more joins, the stream is passed on as it is
	off    int64 // bytes written so far

	header   []byte
	recent   []byte // the stream's bytes [recentAt, off)
	recentAt int64  // -1 while recent is not usable (a cluster over maxRecent)
	video    uint64 // the first video track's number, 0 if none yet

	// Found by the last write: the first cluster opening with a keyframe that was
	// reported (its offset, -1 if none, and its time), and the offsets of the video
	// frames whose blocks were reported.
	joinAt   int64
	joinTime time.Duration
	frames   []int64

	// The media clock: when the write with the first frame since the last stream header
	// came (wall0), that frame's time (media0), and the latest frame time since (media).
	now    time.Time        // of the current write
	clock  func() time.Time // time.Now when nil
	timed  bool
	wall0  time.Time
	media0 time.Duration
	media  time.Duration
}

// behind is how far the stream's media time has fallen behind the clock since its first
// frame (and since each new stream header), as of the last write, less 1% of that time
// (driftAllowance); negative when ahead. A recorder's clock drifts from the server's by
// far less: a stream of days must not fall behind by drift alone.
func (c *cursor) behind() time.Duration {
	if !c.timed {
		return 0
	}
	wall := c.now.Sub(c.wall0)
	return wall - (c.media - c.media0) - wall/driftAllowance
}

// driftAllowance: behind forgives 1/driftAllowance of the time.
const driftAllowance = 100

// write scans p, the stream's next bytes.
func (c *cursor) write(p []byte, kind media.Kind) {
	c.joinAt = -1
	c.frames = c.frames[:0]
	if c.clock != nil {
		c.now = c.clock()
	} else {
		c.now = time.Now()
	}
	if c.sc == nil && c.failed == nil {
		if kind == media.Unknown {
			kind = media.Sniff(p)
		}
		if kind == media.Unknown {
			c.failed = media.ErrNotMedia
		} else {
			c.sc = media.NewScanner(kind, c.event)
		}
	}
	if c.recentAt >= 0 {
		if len(c.recent)+len(p) > maxRecent {
			c.recent, c.recentAt = c.recent[:0], -1
		} else {
			c.recent = append(c.recent, p...)
		}
	}
	c.off += int64(len(p))
	if c.failed != nil {
		return
	}
	if _, err := c.sc.Write(p); err != nil {
		c.failed = err
		c.joinAt = -1
	}
}

func (c *cursor) event(e media.Event) error {
	switch e.Kind {
	case media.EventTrack:
		if c.video == 0 && e.Info != nil && e.Info.Type == "video" {
			c.video = e.Track
		}
	case media.EventHeader:
		c.timed = false // a new stream: its own clock
		start := e.Offset - e.Size
		if c.recentAt >= 0 && start >= c.recentAt && e.Offset <= c.recentAt+int64(len(c.recent)) {
			c.header = append(c.header[:0], c.recent[start-c.recentAt:e.Offset-c.recentAt]...)
		} else {
			c.header = c.header[:0] // a header too large to keep: no joins until the next
		}
	case media.EventCluster:
		if e.Keyframe && c.joinAt < 0 && len(c.header) > 0 && c.has(e.Offset) {
			c.joinAt, c.joinTime = e.Offset, e.Time
		}
		// Keep the bytes from this cluster on only. A keyframe cluster reported in this
		// write stays reachable: joinAt is its offset or an earlier one.
		c.trim(min(e.Offset, c.keep()))
	case media.EventBlock:
		if !c.timed {
			c.timed, c.wall0, c.media0, c.media = true, c.now, e.Time, e.Time
		}
		c.media = max(c.media, e.Time)
		if e.Track == c.video && c.video != 0 {
			c.frames = append(c.frames, e.Offset)
		}
	}
	return nil
}

// keep is the first offset the current write may still need.
func (c *cursor) keep() int64 {
	if c.joinAt >= 0 {
		return c.joinAt
	}
	return c.off
}

// has reports whether recent holds the stream from off to the end of the last write.
func (c *cursor) has(off int64) bool {
	return c.recentAt >= 0 && off >= c.recentAt && off <= c.off
}

// trim drops the bytes before off from recent. After a cluster too large to keep,
// recent starts again with the next write: the next cluster is joinable.
func (c *cursor) trim(off int64) {
	switch {
	case c.recentAt < 0:
		c.recent, c.recentAt = c.recent[:0], c.off
	case off > c.recentAt:
		n := copy(c.recent, c.recent[off-c.recentAt:])
		c.recent, c.recentAt = c.recent[:n], off
	}
}

// since returns the stream's bytes from off to the end of the last write, and false when
// recent does not hold them (has(off) is false).
func (c *cursor) since(off int64) ([]byte, bool) {
	if !c.has(off) {
		return nil, false
	}
	return c.recent[off-c.recentAt:], true
}

// framesFrom counts the video frames of the last write at or after off.
func (c *cursor) framesFrom(off int64) int64 {
	var n int64
	for _, f := range c.frames {
		if f >= off {
			n++
		}
	}
	return n
}
