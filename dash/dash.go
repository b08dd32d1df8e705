// Package dash turns one live WebM or MP4 byte stream, as a browser's MediaRecorder
// produces it, into a live MPEG-DASH presentation with an HLS playlist over the same CMAF
// segments, using one supervised FFmpeg child. [Run] is the whole job; `sv dash` wraps it
// and `sv all` composes it.
//
// # How Run works
//
// One goroutine reads the input into a bounded queue (internal/queue) while another writes
// the queue to FFmpeg's stdin, so a passing stall in FFmpeg never stalls the input; past
// the queue's limit, reads stop (backpressure) and no byte is ever dropped. The reading
// side also feeds a media.Scanner: Run waits for the input's header (a few hundred bytes)
// to learn the container and codecs before it starts FFmpeg, which is how it chooses copy
// or transcode and the demuxer, and how it fails fast, without FFmpeg, on input that is
// not media. After the header the scanner watches the video keyframes: when copying, a
// segment can only be cut at the publisher's keyframes, and an interval far above the
// segment duration is reported once, as a warning in Options.Log.
//
// FFmpeg's progress (-progress on its own pipe, see package ffmpeg) becomes
// Options.Progress; its log goes to Options.Log as debug records, and its last lines into
// the error when it fails. When the input ends, FFmpeg's stdin is closed, it writes its trailers and the MPD
// becomes static. When ctx ends, FFmpeg is stopped the same way (stdin closed, then
// SIGINT, then SIGKILL, 2 s apart). A run that fails leaves no manifest or playlist
// claiming to be live (they are deleted; finished segments stay).
//
// # The output directory
//
// Run writes manifest.mpd, master.m3u8, media_N.m3u8, init-streamN-RUN.m4s and
// chunk-streamN-RUN-NNNNN.m4s (N is the representation: the video renditions first, then
// the audio; RUN names the run, so that no segment name is ever used twice in a folder,
// even by a publisher that reconnects), and a marker file, .sv-dash; it first deletes
// what an earlier run left. FFmpeg writes each segment as NAME.tmp, growing fragment by
// fragment, and renames it when complete: a server that wants the lowest latency serves a
// missing NAME from NAME.tmp with chunked transfer until the rename.
// A directory that holds anything else, or our names without the marker (another tool's
// output), is refused with ErrNotOurs unless Options.Force: a typo in --out must not
// wipe a user's folder. Even with Force, Run deletes only names it writes.
//
// # The FFmpeg command line, and why
//
// Low latency, H.264 input copied, Opus audio copied (ffmpeg.Start prepends -hide_banner
// -nostats -progress pipe:3 -stats_period 0.5):
//
//	ffmpeg -loglevel warning -analyzeduration 500000 -f matroska -i pipe:0
//	  -map 0:v:0 -c:v copy -b:v 1000k -map 0:a:0 -c:a copy -b:a 64k
//	  -f dash -dash_segment_type mp4 -format_options movflags=+cmaf -seg_duration 1
//	  -use_template 1 -window_size 10 -extra_window_size 5
//	  -utc_timing_url http://127.0.0.1:8000/time -hls_playlist 1
//	  -init_seg_name 'init-stream$RepresentationID$-RUN.m4s'
//	  -media_seg_name 'chunk-stream$RepresentationID$-RUN-$Number%05d$.m4s'
//	  -ldash 1 -streaming 1 -use_timeline 0 -index_correction 1 -target_latency 0.5
//	  -min_playback_rate 0.95 -max_playback_rate 1.05 -write_prft 1
//	  -adaptation_sets "id=0,frag_type=every_frame,streams=v id=1,frag_type=duration,frag_duration=0.1,streams=a"
//	  OUT/manifest.mpd
//
// Transcoding replaces the video part with
//
//	-map 0:v:0 -c:v libx264 -preset veryfast -tune zerolatency -pix_fmt yuv420p -fps_mode vfr
//	  -force_key_frames expr:gte(t,n_forced*1) -x264-params keyint=infinite:scenecut=0
//	  -b:v:0 900k -maxrate:v:0 1080k -bufsize:v:0 900k
//
// and a ladder scales with -filter_complex "[0:v:0]setsar=1,split=3[s0][s1][s2];
// [s0]scale=-2:720[v0];..." and maps [v0] [v1] [v2], each with its own -b:v:N.
//
//   - -loglevel warning: at info level the dash muxer logs every file it opens, which
//     pushes the lines explaining a failure out of the error's tail of 20 lines.
//   - -analyzeduration 500000: FFmpeg's default probing holds the first output back ~2.4 s;
//     half a second of media is enough to see every stream (first segment ~1 s after the
//     first byte). Going lower (-probesize 32 -analyzeduration 0) leaves the frame rate
//     unknown and makes a CFR encoder duplicate frames up to 1000 fps.
//   - -f matroska or -f mp4, from the sniffed header: no format probing. Never
//     -use_wallclock_as_timestamps (bursty delivery gives non-monotonic DTS floods).
//   - -c:v copy: Chrome's H.264 (no CodecPrivate, SPS/PPS in band) copies fine. The
//     nominal -b:v/-b:a of copied streams is only for the manifests: without a bitrate
//     FFmpeg writes a master.m3u8 with no #EXT-X-STREAM-INF at all.
//   - libx264 -tune zerolatency: no lookahead, no B-frames, no frame threads' delay.
//     -fps_mode vfr passes the browser's variable frame timing through (no duplicated
//     frames, frame count = input's); the keyframes are therefore forced by time, exactly
//     at every segment boundary (-force_key_frames), and x264 adds none of its own
//     (keyint=infinite, scenecut=0), so every segment is exactly --seg long.
//     -maxrate 1.2x and a 1 s -bufsize keep the bitrate steady enough for 1 s segments.
//   - -dash_segment_type mp4: "auto" picks WebM for VP8/VP9/Opus, and one WebM stream
//     turns streaming off for every stream. Opus goes into MP4 fine; VP8 cannot (it is
//     transcoded, and refused with --video copy).
//   - movflags=+cmaf: CMAF brands and boxes, for the HLS side (Safari) and LL-DASH.
//   - -ldash 1 -streaming 1: each fragment is written to the segment file as soon as it is
//     complete, and the MPD gets availabilityTimeComplete="false", which is what makes
//     dash.js enter its low-latency mode by itself. Video fragments are one frame long;
//     audio fragments 100 ms (a 20 ms Opus packet per moof would double audio's size).
//   - -use_template 1 -use_timeline 0: $Number$ addressing with a fixed duration, the
//     only form for which FFmpeg writes availabilityTimeOffset (the player may fetch a
//     segment as soon as its first fragment exists).
//   - -index_correction 1: with copy, a segment ends at the first keyframe at or after its
//     nominal end, and FFmpeg numbers segments one by one. Chrome's "1 s" keyframes come
//     on the first frame after each second (1.00-1.03 s apart, no drift), but keyframes
//     steadily a little more than --seg apart would let the numbers fall further and
//     further behind the timeline the player computes from the MPD. With the correction a
//     segment's number always matches its start time, at the price of a skipped number
//     when no keyframe fell into a segment's time (FFmpeg logs "Correcting the segment
//     index").
//   - -utc_timing_url: the UTCTiming element players sync their clock to (otherwise
//     dash.js asks an internet time server); FFmpeg also drops -write_prft and
//     -target_latency without it. -target_latency, -min/max_playback_rate: the
//     ServiceDescription dash.js follows (0.5 s target; catch-up within +-5 %).
//     -write_prft: ProducerReferenceTime, for latency measurement.
//   - -window_size/-extra_window_size: the live manifest lists the last N segments and
//     FFmpeg deletes older ones 5 segments later; --record sets window 0: all kept, and a
//     complete on-demand presentation when the input ends.
//   - -hls_playlist 1: master.m3u8 and media_N.m3u8 over the same segments.
//   - -init_seg_name, -media_seg_name: FFmpeg's names with the run in them (see the
//     output directory, above), so that segments can be cached as immutable.
//   - FFmpeg runs at nice +5 (ffmpeg.Config.Nice): on two busy cores the goroutine
//     feeding it was delayed by up to several ms; the encoder does not mind yielding a
//     few hundred microseconds to the feeder.
//   - Normal latency instead: -seg_duration 2 -use_timeline 1 (exact durations whatever
//     the keyframes), one fragment per segment, no -ldash/-streaming.
package dash

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/svtool/sv/ffmpeg"
	"github.com/svtool/sv/internal/queue"
)

// ffmpegNice runs FFmpeg a little below sv's priority, so that when the cores are busy (a
// transcode, other processes) the goroutine feeding FFmpeg still gets a CPU at once: on two
// cores loaded by other work, writes into FFmpeg's pipe took up to several ms at nice 0 and
// none above 1 ms at nice 5. On an idle machine it makes no measurable difference.
const ffmpegNice = 5

// stopGrace is how long a cancelled Run waits for FFmpeg after closing its stdin, and
// again after SIGINT.
const stopGrace = 2 * time.Second

// Run reads one live WebM or MP4 stream from in and packages it into o.Out until the input
// ends or ctx is done. It returns nil when the presentation on disk is complete and
// static: the input ended, or ctx ended and FFmpeg finalized the manifest. Otherwise it
// returns why, having deleted any manifest that still claimed to be live.
//
// Run reads in from its own goroutine. If in can block forever (a pipe whose writer never
// closes), that goroutine may stay blocked in in.Read after Run has returned, until in
// ends or is closed.
func Run(ctx context.Context, in io.Reader, o Options) error {
	if err := o.validate(); err != nil {
		return err
	}
	ffPath, err := ffmpeg.LookPath(o.FFmpeg)
	if err != nil {
		return err
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	if err := checkOut(out, o.Force); err != nil {
		return err
	}
	seg := o.segment()

	// Read the input from now on, whatever FFmpeg does.
	limit := o.QueueLimit
	if limit <= 0 {
		limit = DefaultQueueLimit
	}
	q := queue.New(limit)
	if o.Handoff != nil {
		q.OnWrite(o.Handoff)
	}
	w := newWatcher()
	log := o.logger()
	kw := &keyframeWarning{seg: seg, warn: func(gap time.Duration) {
		log.Warn(fmt.Sprintf("the input has a keyframe only every %.1f s, and a copied stream can only be cut at keyframes: "+
			"segments will be that long instead of %s, and low-latency players will stall", gap.Seconds(), seg),
			KeyframeGapKey, gap)
	}}
	w.onKeyframeGap = kw.gap
	readCtx, cancelRead := context.WithCancel(ctx)
	defer cancelRead()
	readDone := make(chan error, 1)
	go func() {
		_, err := q.ReadFrom(readCtx, &reader{r: in, w: w})
		readDone <- err
	}()

	select {
	case <-w.header:
	case <-ctx.Done():
		return fmt.Errorf("interrupted while waiting for the input's header: %w", ctx.Err())
	}
	hdr, err := w.result()
	if err != nil {
		return err
	}
	p, err := makePlan(hdr, &o)
	if err != nil {
		return err
	}
	log.Info(p.describe(&o))
	kw.decide(p.videoCopy)
	if len(p.skipped) > 0 {
		log.Warn(fmt.Sprintf("ladder: skipping %s, above the input's %dp", heights(p.skipped), hdr.video.Height))
	}
	outs := p.outputs(&o)
	var pk *packager
	if pr := o.Presentation; pr != nil {
		if pk, err = pr.take(out, &o, outs); err != nil {
			return err
		}
		defer func() { pr.done(pk) }()
	}
	if pk != nil {
		pk.resume(log, w.timeline, w.firsts)
	} else {
		if err := prepareOut(out); err != nil {
			return err
		}
		pk = newPackager(out, o.presentation(outs, runName(time.Now())), log, o.Record, w.timeline, w.firsts)
	}
	cfg := ffmpeg.Config{
		Path:  ffPath,
		Args:  ffmpegArgs(p, &o),
		Pipes: len(outs),
		Log:   log,
		Grace: stopGrace,
		Nice:  ffmpegNice,
	}
	if o.Progress != nil {
		cfg.Progress = func(fp ffmpeg.Progress) {
			st := q.Stats()
			o.Progress(Progress{
				InputBytes: st.Pushed,
				Queued:     st.Queued,
				Frames:     fp.Frame,
				FPS:        fp.FPS,
				Speed:      fp.Speed,
				OutTime:    fp.OutTime,
				Segments:   pk.lastSegment(),
			})
		}
	}
	proc, err := ffmpeg.Start(ctx, cfg)
	if err != nil {
		return err
	}
	// Package every output; a track that fails stops FFmpeg.
	var tracks sync.WaitGroup
	terrs := make([]error, len(outs))
	for i := range outs {
		tracks.Add(1)
		go func() {
			defer tracks.Done()
			pipe := proc.Pipe(i)
			defer pipe.Close()
			if terrs[i] = pk.packTrack(i, pipe); terrs[i] != nil {
				go proc.Stop(stopGrace)
				io.Copy(io.Discard, pipe) // until FFmpeg is gone
			}
		}()
	}
	// Stop writing when FFmpeg exits, even while the input is silent.
	wctx, cancelWrite := context.WithCancel(ctx)
	defer cancelWrite()
	go func() {
		proc.Wait()
		cancelWrite()
	}()
	_, werr := q.WriteTo(wctx, proc.Stdin())
	proc.Stdin().Close() // end of input: FFmpeg finishes its outputs
	var rerr error
	if werr == nil {
		rerr = <-readDone // the queue was closed: the reader has returned
	}
	tracks.Wait()
	terr := errors.Join(terrs...)
	if v, a := w.seen(); !v && !a {
		// An input that ends in its header gives FFmpeg no frame to describe its tracks
		// with: what it writes is no presentation, for the reason said below.
		terr = nil
	}
	return outcome(ctx, out, proc, pk, o.Presentation == nil, terr, werr, rerr, q.Stats().Pushed)
}

// outcome decides what Run returns once FFmpeg has been told the input is over and every
// track is packaged. With final, it writes the final manifests, or deletes the manifests
// of a failed run; otherwise the presentation stays as it is, for the next run.
func outcome(ctx context.Context, out string, proc *ffmpeg.Process, pk *packager, final bool, terr, werr, rerr error, read int64) error {
	ferr := proc.Wait()
	removeLive := removeLive
	if !final {
		removeLive = func(string) {}
	}
	var exitErr *ffmpeg.ExitError
	switch {
	case terr != nil:
		removeLive(out)
		return fmt.Errorf("package: %w", terr)
	case errors.As(ferr, &exitErr):
		removeLive(out)
		return ferr
	case ferr != nil && !(ctx.Err() != nil && errors.Is(ferr, ctx.Err())):
		removeLive(out)
		return fmt.Errorf("ffmpeg: %w", ferr)
	case werr != nil && ctx.Err() == nil:
		removeLive(out)
		return fmt.Errorf("ffmpeg stopped reading before the end of the input: %w", werr)
	}
	// FFmpeg ended cleanly. Did it make a presentation?
	if pk.lastSegment() == 0 {
		removeLive(out)
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("interrupted before the first segment: %w", ctx.Err())
		case rerr != nil:
			return fmt.Errorf("read input: %w", rerr)
		}
		return fmt.Errorf("%w: it ends before its first media frame, after %d bytes", ErrTruncated, read)
	}
	if final {
		if err := pk.end(); err != nil {
			removeLive(out)
			return err
		}
	}
	if rerr != nil {
		return fmt.Errorf("read input: %w (the presentation ends there)", rerr)
	}
	return nil
}

func heights(hs []int) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = fmt.Sprintf("%dp", h)
	}
	return strings.Join(s, ",")
}

func lastLines(lines []string, n int) string {
	if len(lines) == 0 {
		return "(ffmpeg logged nothing)"
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// keyframeWarning warns once when a copied video has keyframes much further apart than
// the segment duration. Gaps arrive from the reading goroutine, possibly before Run has
// decided whether it copies.
type keyframeWarning struct {
	seg  time.Duration
	warn func(gap time.Duration)

	mu               sync.Mutex
	decided, copying bool
	pending          time.Duration // the largest gap seen before the decision
	warned           bool
}

func (k *keyframeWarning) gap(d time.Duration) {
	if d <= k.seg*3/2 {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.decided {
		k.pending = max(k.pending, d)
		return
	}
	k.fire(d)
}

func (k *keyframeWarning) decide(copying bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.decided, k.copying = true, copying
	if k.pending > 0 {
		k.fire(k.pending)
	}
}

func (k *keyframeWarning) fire(d time.Duration) {
	if k.copying && !k.warned {
		k.warned = true
		k.warn(d)
	}
}
