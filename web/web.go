// Package web holds the pages of sv, embedded in the binary so that it works from any
// directory: the index, the capture page and the viewer page, their scripts and style,
// and the players they use, dash.js and hls.js, vendored from the npm registry with their
// licences by scripts/vendor-web.sh (web/vendor). The pages are plain HTML and
// JavaScript with no build step; package serve serves them.
//
// # Files
//
//	index.html    the live streams and links to their pages
//	capture.html  the publisher: camera or test clock, MediaRecorder, WebSocket
//	view.html     the player: dash.js in low-latency mode, hls.js, native HLS
//	common.js     configuration from /config.json, clock sync with /time, helpers
//	timecode.js   the capture timecode strip, drawn and decoded (see below)
//	sha256.js     incremental SHA-256: the capture page's digest of what it sent
//	capture.js, view.js, index.js, sv.css
//	vendor/       dash.all.min.js and hls.min.js, their licences and VERSIONS
//
// The pages ask the server for what they need to know at /config.json (see serve.Config):
// where to publish, whether a token is needed, where the clock and media are.
//
// # The timecode
//
// The test clock (capture?source=clock) draws, at the top of every frame, the capture
// wall-clock time in milliseconds as the strip that package frames specifies and decodes
// (frames.DrawTimecode, frames.DecodeTimecode): 64 blocks across the whole width, block i
// covering columns [i*W/64, (i+1)*W/64), W/32 rows high, each black (0) or white (1),
// block 0 first:
//
//	1 0 | 44 bits of milliseconds since the Unix epoch | 16 bits of CRC-16/CCITT-FALSE | 0 1
//
// The CRC covers the time as 6 big-endian bytes. A decoder samples the middle half of
// each block, takes the guard blocks (white 0 and 63, black 1 and 62) as its levels and
// accepts a strip only when every block is clearly one or the other and the CRC matches,
// so a picture without a strip is never misread. timecode.js implements both sides the
// same way; a test checks it against package frames, bit for bit.
//
// The time drawn is the server's clock (the page's clock corrected by its offset to
// /time), so that the viewer page, on any machine, and sv frames, on the server, both
// measure true glass-to-glass latency against the same clock.
package web

import (
	"embed"
	"io/fs"
)

//go:embed *.html *.js *.css vendor
var files embed.FS

// FS returns the pages and their assets, at the root of the file system.
func FS() fs.FS { return files }
