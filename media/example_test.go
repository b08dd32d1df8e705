package media_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/svtool/sv/media"
)

// A live WebM stream as Chrome writes it: EBML header, unknown-size Segment,
// one VP8 track, an unknown-size Cluster with two frames.
var live = []byte{
	0x1a, 0x45, 0xdf, 0xa3, 0x87, 0x42, 0x82, 0x84, 0x77, 0x65, 0x62, 0x6d, 0x18, 0x53, 0x80, 0x67,
	0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x16, 0x54, 0xae, 0x6b, 0x8f, 0xae, 0x8d, 0xd7,
	0x81, 0x01, 0x83, 0x81, 0x01, 0x86, 0x85, 0x56, 0x5f, 0x56, 0x50, 0x38, 0x1f, 0x43, 0xb6, 0x75,
	0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xe7, 0x81, 0x00, 0xa3, 0x87, 0x81, 0x00, 0x00,
	0x80, 0xaa, 0xaa, 0xaa, 0xa3, 0x87, 0x81, 0x00, 0x21, 0x00, 0xbb, 0xbb, 0xbb,
}

func printEvent(ev media.Event) error {
	switch ev.Kind {
	case media.EventTrack:
		fmt.Printf("track %d: %s %s\n", ev.Track, ev.Info.Type, ev.Info.Codec)
	case media.EventHeader:
		fmt.Printf("header: bytes [0, %d)\n", ev.Offset)
	case media.EventCluster:
		fmt.Printf("cluster at %d: %v keyframe=%v\n", ev.Offset, ev.Time, ev.Keyframe)
	case media.EventBlock:
		fmt.Printf("frame [%d, %d): track %d %v keyframe=%v\n", ev.Offset, ev.Offset+ev.Size, ev.Track, ev.Time, ev.Keyframe)
	}
	return nil
}

// Feed a Scanner the pieces of a stream as they arrive, cut anywhere.
func ExampleNewScanner() {
	s := media.NewScanner(media.WebM, printEvent)
	for _, chunk := range [][]byte{live[:30], live[30:45], live[45:]} {
		if _, err := s.Write(chunk); err != nil {
			log.Fatal(err)
		}
	}
	if err := s.Close(); err != nil { // nil: the stream may end inside an unknown-size Cluster
		log.Fatal(err)
	}
	// Output:
	// track 1: video V_VP8
	// header: bytes [0, 44)
	// cluster at 44: 0s keyframe=true
	// frame [65, 68): track 1 0s keyframe=true
	// frame [74, 77): track 1 33ms keyframe=false
}

func ExampleScan() {
	kind, err := media.Scan(bytes.NewReader(live), printEvent)
	fmt.Println(kind, err)
	// Output:
	// track 1: video V_VP8
	// header: bytes [0, 44)
	// cluster at 44: 0s keyframe=true
	// frame [65, 68): track 1 0s keyframe=true
	// frame [74, 77): track 1 33ms keyframe=false
	// webm <nil>
}

// Split FFmpeg's fragmented MP4 of one track into the init segment and fragments,
// as a packager does before writing them to segment files: here H.264 from
// Chrome, copied by FFmpeg with -movflags
// +frag_every_frame+empty_moov+default_base_moof+cmaf, cut after 4 frames.
func ExampleFragmentReader() {
	f, err := os.Open("testdata/fragments/h264-copy.mp4")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	fr := media.NewFragmentReader(f)
	init, err := fr.Init()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("init segment: %d bytes, %s %dx%d, timescale %d\n", len(init.Bytes), init.Codec, init.Width, init.Height, init.Timescale)
	for {
		frag, err := fr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("fragment: %d bytes, time %d, duration %d, key %v\n", frag.Size, frag.Time, frag.Duration, frag.Key)
	}
	// Output:
	// init segment: 786 bytes, avc1.42c01f 640x480, timescale 16000
	// fragment: 3432 bytes, time 0, duration 880, key true
	// fragment: 1584 bytes, time 880, duration 528, key false
	// fragment: 1062 bytes, time 1408, duration 544, key false
	// fragment: 1142 bytes, time 1952, duration 528, key false
}
