// Package frames decodes a live video stream and analyses every frame: the stage behind
// sv frames, and a library function that sv all calls.
//
// [Run] feeds the stream (WebM or MP4 as a browser's MediaRecorder writes it, or any file
// FFmpeg reads) to an FFmpeg child that decodes it and scales every frame to the analysis
// width; Go then measures each frame, finds events, and hands both to a callback as
// records, which sv frames prints as JSON lines. Each frame keeps its presentation
// timestamp from the source: MediaRecorder streams have a variable frame rate, and a
// timestamp guessed from a frame counter would be wrong.
//
// # Metrics
//
// All metrics are computed in Go on the luma plane at the analysis size (320 pixels wide
// by default, aspect ratio kept, area-averaged so that the mean is the full picture's), in
// luma units: y/255 with 0 black and 1 white whatever the source's range.
//
//   - luma: the mean of y.
//   - contrast: the standard deviation of y.
//   - motion: the mean of |y - y'| over all pixels, y' the previous analysed frame; 0 for
//     the first.
//   - sharpness: the variance of the Laplacian L = up + down + left + right - 4·y over the
//     pixels that have four neighbours. It grows with fine detail and falls with blur, and
//     depends on the analysis width: compare figures measured at the same width.
//   - scene: min(motion, |motion - previous motion|), FFmpeg's scdet score divided by 100:
//     large only when the picture changes at once, not during steady motion.
//
// Computing them costs about 70 µs a frame at 320x180 and 1.1 ms at 1280x720 on one
// core of a 2-core EPYC, with no allocation (BenchmarkAnalyze).
//
// # Events
//
// Events come in stream order with the frames, each with the frame number n and the
// timestamp pts_ms of the frame it happened at:
//
//   - scene_cut: a frame whose scene score reached Options.SceneThreshold (0.10, scdet's
//     default). On the browser recordings in testdata they fall on the same frames as
//     scdet's.
//   - black_start, black_end: a stretch of black frames (at least Options.BlackRatio of
//     the pixels at or below Options.BlackPixel luma, as in FFmpeg's blackdetect) lasting
//     at least Options.BlackMin. Start is the first black frame; end the first frame that
//     is not, with duration_ms.
//   - freeze_start, freeze_end: a stretch of frames each within Options.FreezeNoise mean
//     absolute difference of the frame that began it (as FFmpeg's freezedetect), lasting
//     at least Options.FreezeMin. Start is that first frame; end the first frame that
//     differs, with duration_ms. A black stretch is usually frozen too.
//   - thumbnail: a JPEG written into Options.ThumbDir, named by the frame's timestamp.
//
// A start event is emitted once its stretch has lasted the minimum, after the frames it
// points at. A stretch still open at the end of the input ends there (the last frame's
// timestamp plus its duration; n is then the number of frames).
//
// # Output
//
// One JSON object per line, in this order of fields, a stable schema:
//
//	{"type":"frame","n":41,"pts_ms":1366,"luma":0.41,"contrast":0.18,"motion":0.02,"sharpness":0.007,"scene":0.01}
//	{"type":"frame","n":42,"pts_ms":1400,...,"scene":0.01,"capture_ms":1761234567890,"latency_ms":412}
//	{"type":"scene_cut","n":90,"pts_ms":3000,"score":0.33}
//	{"type":"black_start","n":30,"pts_ms":1000}
//	{"type":"black_end","n":75,"pts_ms":2500,"duration_ms":1500}
//	{"type":"freeze_start","n":90,"pts_ms":3000}
//	{"type":"freeze_end","n":135,"pts_ms":4500,"duration_ms":1500}
//	{"type":"thumbnail","n":150,"pts_ms":5000,"file":"thumbs/000005000.jpg"}
//	{"type":"summary","frames":452,"analysed":452,"width":320,"height":240,"first_pts_ms":0,
//	 "last_pts_ms":15032,"duration_ms":15065,"scene_cuts":5,"blacks":0,"black_ms":0,
//	 "freezes":0,"frozen_ms":0,"timecodes":0,"elapsed_ms":212,"fps":2132.1,"speed":71.06,
//	 "complete":true}
//
// n counts every decoded frame from 0, also those --fps skips; pts_ms is the source's
// presentation timestamp in milliseconds (ffprobe's pts_time × 1000). Metrics have at most
// 6 decimals. capture_ms and latency_ms appear on frames that carry a timecode (below):
// the capture wall-clock time, and the time from it to the analysis of the frame on this
// machine's clock. The summary comes last; it has latency_min_ms, latency_mean_ms and
// latency_max_ms when timecodes is not 0, and "error" when complete is false: the run was
// interrupted, FFmpeg failed after some frames, or the input could not be read. Consumers should ignore fields and record types they do not know: new ones
// may be added, existing ones keep their meaning.
//
// # Timecode
//
// A capture page may draw its wall clock into the picture so that the analysis can
// measure the true latency from capture to analysis (the same clock, or synchronised
// ones). This is the specification of that strip; the capture page must draw exactly
// this, and [DrawTimecode] is the reference encoder.
//
// The strip is a row of 64 blocks across the whole width W of the picture, at its top:
// block i covers columns floor(i·W/64) to floor((i+1)·W/64) - 1 and rows 0 to
// floor(W/32) - 1 (so blocks are about twice as high as wide). Each block is black
// (RGB 0,0,0) for a 0 bit or white (RGB 255,255,255) for a 1 bit. The 64 bits, left to
// right:
//
//	block 0        1 (white)  start guard
//	block 1        0 (black)  start guard
//	blocks 2-45    the capture time: milliseconds since the Unix epoch, 44 bits, most
//	               significant first (good until the year 2527)
//	blocks 46-61   CRC-16/CCITT-FALSE of the time written as 6 bytes, big-endian
//	               (polynomial 0x1021, initial value 0xFFFF, not reflected, no final XOR;
//	               its check value for "123456789" is 0x29B1), most significant bit first
//	block 62       0 (black)  end guard
//	block 63       1 (white)  end guard
//
// A page draws it over the top of the canvas it records, right after drawing the camera
// frame, with the time of that frame (performance.timeOrigin + the video frame
// callback's presentation time, or Date.now()); bitsOf(v, n) gives the n low bits of v
// most significant first, bytes48 the 6 big-endian bytes of the time:
//
//	const W = canvas.width, h = Math.floor(W / 32);
//	const bits = [1, 0, ...bitsOf(ms, 44), ...bitsOf(crc16(bytes48(ms)), 16), 0, 1];
//	bits.forEach((b, i) => {
//	  const x0 = Math.floor(i * W / 64), x1 = Math.floor((i + 1) * W / 64);
//	  ctx.fillStyle = b ? "#fff" : "#000";
//	  ctx.fillRect(x0, 0, x1 - x0, h);
//	});
//
// [DecodeTimecode] reads it at any scale that keeps the aspect ratio, through lossy
// compression: it averages the middle half (in both directions) of each block, takes the
// guards' levels as black and white (they must differ by at least a quarter of the range),
// requires every block to be clearly on one side of the middle (beyond a sixth of that
// difference), and the CRC to match; otherwise the frame has no timecode. The strip
// survives H.264 at CRF 35 and VP8 at 300 kb/s from 640x480, scaled to 320 wide, on every
// frame (TestRunTimecode); at 320 wide a block is 5 pixels. Pictures narrower than 64
// pixels cannot carry it.
//
// # Decoding
//
// The FFmpeg child gets the stream on stdin, through a bounded queue so that a slow
// decoder does not stall the sender, and is run with:
//
//	-probesize 32 -analyzeduration 0 [-flags low_delay] -i pipe:0 -map 0:v:0
//	-vf scale=W:-2:flags=area:out_range=full,format=gray
//	-fps_mode passthrough -enc_time_base -1 -copyts
//	-c:v rawvideo -f matroska -write_crc32 0 -cluster_size_limit 1 -flush_packets 1 pipe:1
//
// It writes raw luma planes (yuv420p with thumbnails) as Matroska blocks on stdout, each
// block a frame with its timestamp; Go reads the blocks with [media.Scanner], the shared
// container parser of sv, and reads each plane straight from the pipe into a buffer the
// analysis owns. Why each part:
//
//   - Timestamps travel in the same block as the pixels. The alternatives pair two
//     streams by counting: showinfo lines on the log (mixed with other messages, and
//     showinfo checksums every frame), or a framemd5 or framecrc second output (a second
//     pipe beside the supervised process's own, a split, a second copy of each frame). A
//     miscount there shifts every later timestamp; here it cannot happen. The Matroska
//     track header also gives the frame size.
//   - -enc_time_base -1: FFmpeg 5.1 gives the encoder a time base of 1/frame rate, which
//     moves every timestamp of a variable-rate stream onto a fixed grid (without it, 451
//     of the 452 frames of testdata/h264-opus-kf1s.webm come out moved, by up to 13 ms).
//     -1 keeps the source's time base; the muxer writes milliseconds, the unit of pts_ms.
//   - -fps_mode passthrough: every decoded frame once, none duplicated or dropped to fit
//     a guessed frame rate. -copyts keeps the source's timestamps instead of shifting
//     them to start at 0: pts_ms is ffprobe's pts_time.
//   - -probesize 32 -analyzeduration 0: the first frame comes out without waiting for
//     FFmpeg's stream probing (about 2.4 s by default); nothing downstream needs the
//     frame rate it would find.
//   - scale flags=area averages the pixels each output pixel covers (no aliasing, means
//     preserved); out_range=full maps the source's black and white to 0 and 255; gray
//     (luma only) is all the metrics need and half the bytes of yuv420p.
//   - -cluster_size_limit 1 -flush_packets 1: one cluster per frame, flushed at once, so
//     that small frames are not held in FFmpeg's 32 KiB output buffer. The Matroska
//     muxer still ends a cluster when the next frame arrives: frames reach Go one frame
//     interval late.
//   - -flags low_delay (Options.LowDelay, sv frames' default for pipes) turns off
//     FFmpeg's frame threading, which holds a frame per extra thread: 67 ms less latency
//     for a live 30 fps stream (BenchmarkLiveLatency: 102 ms from drawing a frame to its
//     analysis, the live encoder included, against 169 ms), at the cost of decoding on one
//     core.
//
// Frame counts and every timestamp equal ffprobe's on all the browser recordings in
// testdata and on generated variable-rate streams (TestRecordings,
// TestRunVariableFrameRate).
package frames
