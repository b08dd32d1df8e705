package main

import (
	"bytes"
	"slices"
	"strings"
)

// ChunkSummary condenses a recording's chunks: sizes, spacing and where each one begins.
type ChunkSummary struct {
	Count         int
	First         int     // size of chunk 0, which carries the container header
	Min, Med, Max int     // sizes of the chunks after the first
	IntervalMs    float64 // median gap between successive BlobEvent.timecodes
	Starts        []ChunkStart
	HeaderInLater bool // some chunk after the first starts with a container header again
}

// ChunkStart lists the chunks that begin at the same kind of place.
type ChunkStart struct {
	Kind string
	Seqs []int
}

// Summarize computes a ChunkSummary.
func Summarize(chunks []Chunk) ChunkSummary {
	s := ChunkSummary{Count: len(chunks)}
	if len(chunks) == 0 {
		return s
	}
	s.First = chunks[0].Size
	var later []int
	var gaps []float64
	for i, c := range chunks {
		var prev []byte
		if i > 0 {
			prev = chunks[i-1].Tail
			later = append(later, c.Size)
			gaps = append(gaps, c.Timecode-chunks[i-1].Timecode)
			if containerOf(c.Head) != "unknown" {
				s.HeaderInLater = true
			}
		}
		k := chunkKind(prev, c.Head, c.Size)
		j := slices.IndexFunc(s.Starts, func(st ChunkStart) bool { return st.Kind == k })
		if j < 0 {
			s.Starts = append(s.Starts, ChunkStart{Kind: k})
			j = len(s.Starts) - 1
		}
		s.Starts[j].Seqs = append(s.Starts[j].Seqs, c.Seq)
	}
	if len(later) > 0 {
		slices.Sort(later)
		s.Min, s.Med, s.Max = later[0], later[len(later)/2], later[len(later)-1]
	}
	if len(gaps) > 0 {
		slices.Sort(gaps)
		s.IntervalMs = gaps[len(gaps)/2]
	}
	return s
}

// chunkKind says where in the container a chunk begins, judged from its first bytes and the
// last bytes of the chunk before it (prev is nil for the first chunk).
func chunkKind(prev, head []byte, size int) string {
	if size == 0 {
		return "nothing (empty)"
	}
	switch c := containerOf(head); {
	case c != "unknown":
		return "the " + strings.TrimSuffix(c[strings.Index(c, "(")+1:], ")")
	case bytes.HasPrefix(head, clusterID):
		return "a Cluster"
	case len(head) >= 8 && slices.Contains(mp4Boxes, string(head[4:8])):
		return "a " + string(head[4:8]) + " box"
	}
	// Chrome's WebM muxer writes an element's ID separately from the rest of the element, and
	// a chunk may end right after (part of) an ID: look for one split across the boundary.
	for _, e := range webmIDs {
		for k := 1; k <= len(e.id); k++ {
			if !bytes.HasSuffix(prev, e.id[:k]) || !bytes.HasPrefix(head, e.id[k:]) {
				continue
			}
			if k == len(e.id) {
				return "the size field of " + e.name + " whose ID ends the previous chunk"
			}
			return e.name + " split inside its ID"
		}
	}
	return "the middle of an element"
}

var clusterID = []byte{0x1f, 0x43, 0xb6, 0x75}

var mp4Boxes = []string{"moov", "moof", "mdat", "styp", "sidx", "free", "mfra"}

// webmIDs are the elements a Chrome WebM chunk boundary can fall into.
var webmIDs = []struct {
	name string
	id   []byte
}{
	{"a Cluster", clusterID},
	{"a SimpleBlock", []byte{0xa3}},
	{"a BlockGroup", []byte{0xa0}},
}
