// Package dash turns one live WebM or MP4 byte stream, as a browser's MediaRecorder
// produces it, into a live presentation: MPEG-DASH (manifest.mpd) and low-latency HLS
// (master.m3u8) over the same CMAF segments. A supervised FFmpeg child encodes or remuxes
// the tracks; sv packages them itself. [Run] is the whole job; `sv dash` wraps it and
// `sv all` composes it.
//
// # How Run works
//
// One goroutine reads the input into a bounded queue (internal/queue) while another writes
// the queue to FFmpeg's stdin, so a passing stall in FFmpeg never stalls the input; past
// the queue's limit, reads stop (backpressure) and no byte is ever dropped. The reading
// side also feeds a media.Scanner: Run waits for the input's header (a few hundred bytes)
// to learn the container and codecs before it starts FFmpeg, which is how it chooses copy
// or transcode and the demuxer, and how it fails fast, without FFmpeg, on input that is
// not media. After the header the scanner notes when each frame arrives (the timeline,
// below) and watches the video keyframes: when a copied video's keyframes come much
// further apart than a segment, most segments cannot start with one, and a player that
// joins at such a segment shows no picture until the next keyframe; that is reported
// once, as a warning in Options.Log.
//
// FFmpeg writes each track as fragmented MP4 to a pipe of its own; one goroutine per track
// reads it with a media.FragmentReader and packages it (see Packaging). FFmpeg's progress
// (-progress on its own pipe, see package ffmpeg) becomes Options.Progress; its log goes
// to Options.Log as debug records, and its last lines into the error when it fails. When
// the input ends, FFmpeg's stdin is closed, it flushes its outputs, the last segments are
// completed and the manifests say the presentation has ended. When ctx ends, FFmpeg is
// stopped the same way (stdin closed, then SIGINT, then SIGKILL, 2 s apart) and the
// presentation ends too. A track that cannot be packaged stops FFmpeg. A run that fails
// leaves nothing claiming to be live: the manifests, the playlists and the files still
// in progress are deleted; complete segments stay. With Options.Presentation, a run that
// ends or fails leaves the presentation live for the next one instead (see Presentation,
// below).
//
// # Packaging
//
// sv cuts the segments, not FFmpeg, so that sv decides where each segment starts, how it
// is numbered and when each byte of it is on disk.
//
// The timeline. availabilityStartTime, the wall-clock time of media time 0, comes from
// the ingest clock: it is the earliest "received at minus media time" over the input's
// frames (received: read by Run), for the frame that arrived soonest after its capture
// tells best when the capture happened. A player that trusts the MPD (or
// EXT-X-PROGRAM-DATE-TIME) then knows where the live edge is, to within the publisher's
// own delay in handing a frame over, with no offset of its own. FFmpeg's mp4 muxer starts every track at 0 whatever the
// input's timestamps, so each track is shifted by the input time of its first frame, as
// the scanner saw it: the tracks keep their sync and the input's own timeline.
//
// Segments and parts. Segment n (from 1) nominally starts at (n-1) times the segment
// duration, which is where players using $Number$ addressing look for it. A video segment
// is cut at the first keyframe from half a segment before that; if none comes by half a
// segment after it, or keyframes are known to be more than one and a half segments apart,
// at a frame that is not one, so that its address stays right. Transcoded video has its
// keyframes forced on the nominal starts; audio is cut at the fragment nearest them.
// Numbers have no gaps, even over a hole in the input's time, for HLS counts segments.
// With low latency, each segment is also cut into LL-HLS parts of at most Options.Part,
// each a file of its own; a part ends where its segment ends.
//
// Files. A segment or part is written as NAME.tmp, growing fragment by fragment as FFmpeg
// delivers them, and renamed to NAME when complete: a server that wants the lowest latency
// serves a missing NAME from NAME.tmp with chunked transfer until the rename, as sv serve
// does. Manifests and playlists are replaced whole (written beside, renamed over), so that
// no reader sees half of one: a media playlist at every part, the MPD at every segment.
// None is written before every track has its first fragment, when the timeline is fixed.
// @bandwidth and BANDWIDTH are measured from the segments written (the plan's nominal
// bitrate until the first is complete).
//
// Retention. A live manifest lists the last Options.Window segments; the files of 5 more
// stay on disk, for players a little behind, and older ones are deleted. The parts of the
// segment in progress and of the last 4 complete ones are listed; the files of older
// parts are deleted 4 segments later. Options.Record keeps and lists every segment.
//
// # The manifests
//
// manifest.mpd (mpd.go says why each choice) is dynamic while live. Each Representation
// has a SegmentTemplate with @duration and $Number$, so that players compute every
// segment's address from the time, with no manifest update to learn of new ones; with low
// latency, @availabilityTimeOffset (segment minus part) and @availabilityTimeComplete
// "false" let a segment be fetched as soon as its first part is written, and turn on the
// low-latency modes of dash.js and Shaka Player. A ServiceDescription (low latency) gives
// the target latency (Options.TargetLatency) and catch-up rates, UTCTiming points the players at
// Options.TimeURL, and a ProducerReferenceTime in each Representation ties a media time
// to the wall clock. When the presentation ends the MPD stays dynamic and gets a
// mediaPresentationDuration, the end as DASH-IF IOP says it, with updates every half
// second; a moment later (finalAfter) the final MPD replaces it, static, with the same
// periods and every segment listed by SegmentTimeline: dash.js ends on the first, Shaka
// Player only on the second (mpd.go says why both, in that order). Run waits for the final
// MPD before it returns, and writes it at once when interrupted; Presentation.End
// likewise. With Options.Record the MPD becomes an on-demand one instead: every segment in
// a SegmentTimeline of exact times, rebased to start at 0.
//
// master.m3u8 and one media_N.m3u8 per track (hls.go gives their exact form) are LL-HLS
// with low latency: EXT-X-PART for the parts listed, EXT-X-PRELOAD-HINT for the next part,
// EXT-X-SERVER-CONTROL with CAN-BLOCK-RELOAD (sv serve answers blocking reloads) and
// EXT-X-RENDITION-REPORT; plain live HLS with normal latency. Every segment has its
// EXT-X-PROGRAM-DATE-TIME on the same clock as the MPD; a presentation that has ended gets
// EXT-X-ENDLIST.
//
// # Presentation
//
// A Run on its own makes one presentation, which ends with its input. With
// Options.Presentation, the next Run into the same Out continues it, as `sv all` does
// across FFmpeg restarts and publisher reconnects: the same availabilityStartTime and
// PRES in the file names (below), numbers going on, in a new Period of the MPD and after an
// EXT-X-DISCONTINUITY in the playlists, with init segments of its own. The new run's media
// is placed on the timeline by the wall clock, after everything already packaged. Between
// runs the manifests stay live and players keep playing; Presentation.End ends the
// presentation. A Run with another segment or part duration or other tracks starts a new
// presentation.
//
// # The output directory
//
// Run writes manifest.mpd, master.m3u8, media_N.m3u8, init-streamN-PRES.m4s (or
// init-streamN-PRES.P.m4s, from period P of a continued presentation),
// chunk-streamN-PRES-NNNNN.m4s and part-streamN-PRES-NNNNN.K.m4s, and a marker file,
// .sv-dash. N is the track: the video renditions first, then the audio, then the AAC audio
// made for HLS; NNNNN is the segment number and K the part within it, from 0. PRES names
// the presentation (its start time in milliseconds, base 36), so that no name is ever used
// twice in a folder, even by a publisher that comes back after its presentation has ended:
// segments are served as immutable, and a player, browser cache or proxy must never take
// an earlier presentation's segment for this one's. A new presentation first deletes what
// an earlier one left. A directory that holds anything else, or our names without the
// marker (another tool's output), is refused with ErrNotOurs unless Options.Force: a typo
// in --out must not wipe a user's folder. Even with Force, Run deletes only names it
// writes.
//
// # The FFmpeg command line, and why
//
// Low latency, H.264 and Opus input copied, with the AAC audio for HLS (ffmpeg.Start
// prepends -hide_banner -nostats and, for Options.Progress, -progress pipe:3
// -stats_period 0.5; output i goes to pipe i+4):
//
//	ffmpeg -loglevel warning -fpsprobesize 0 -f matroska -i pipe:0
//	  -map 0:v:0 -c:v copy
//	  -f mp4 -movflags +frag_every_frame+empty_moov+default_base_moof+cmaf pipe:4
//	  -map 0:a:0 -c:a copy
//	  -f mp4 -movflags +empty_moov+default_base_moof+cmaf -frag_duration 50000 pipe:5
//	  -map 0:a:0 -c:a aac -b:a 128k
//	  -f mp4 -movflags +empty_moov+default_base_moof+cmaf -frag_duration 50000 pipe:6
//
// Transcoding (720p input here) replaces the video output with
//
//	-map 0:v:0 -c:v libx264 -preset veryfast -tune zerolatency -pix_fmt yuv420p -fps_mode vfr
//	  -force_key_frames expr:gte(t,n_forced*1) -x264-params keyint=infinite:scenecut=0
//	  -b:v 2750k -maxrate:v 3300k -bufsize:v 2750k
//	  -f mp4 -movflags +frag_every_frame+empty_moov+default_base_moof+cmaf pipe:4
//
// and a ladder scales with -filter_complex "[0:v:0]setsar=1,split=3[s0][s1][s2];
// [s0]scale=-2:720[v0];..." and maps [v0] [v1] [v2], each to an output of its own.
//
//   - -loglevel warning: at info level FFmpeg describes every stream of every output, which
//     pushes the lines explaining a failure out of the error's tail of 20 lines.
//   - -fpsprobesize 0: FFmpeg probes the input until every stream has decoded a frame
//     (the video its first keyframe, whose H.264 parameter sets the MP4's avcC needs),
//     and no longer: by default it goes on for ~20 frames to guess the frame rate,
//     which held the first output back ~2.4 s, and half a second of media
//     (-analyzeduration 500000) still held it ~0.63 s after the first byte, a third of
//     the time to first frame. Less (-probesize 32) stops at the first packet, and an
//     FFmpeg restarted mid-stream, whose input begins with audio, wrote an empty avcC.
//     The frame rate stays unknown, which only a CFR encoder minds (it duplicates
//     frames up to 1000 fps): the encoder here keeps the input's timestamps
//     (-fps_mode vfr).
//   - -f matroska or -f mp4, from the sniffed header: no format probing. Never
//     -use_wallclock_as_timestamps (bursty delivery gives non-monotonic DTS floods).
//   - One output per track, each -f mp4 to its own pipe: a DASH Representation and an HLS
//     rendition are one track each, and each track gets the fragmenting that suits it. The
//     packager reads every fragment the moment FFmpeg writes it, with no file in between.
//     MP4 carries H.264, VP9, AV1, AAC and Opus alike; VP8 it cannot (VP8 is transcoded,
//     and refused with --video copy).
//   - -movflags +empty_moov: the init segment comes first and alone, before any media.
//     +default_base_moof: sample offsets count from each fragment's own moof, so that a
//     fragment stays valid wherever it lands in a segment or part file. +cmaf: CMAF brands
//     and boxes, for the HLS side (Safari) and LL-DASH.
//   - +frag_every_frame (video): a fragment per frame, so that each frame reaches the
//     segment file, and a player streaming it, as soon as it is encoded, and a part can end
//     after any frame. Audio: -frag_duration a quarter of the part (Options.Part), so that
//     parts fill evenly; a 20 ms Opus packet per fragment would double audio's size.
//   - Normal latency instead: +frag_keyframe, a video fragment per keyframe interval (per
//     segment when transcoding), and audio fragments of a segment: no parts, fewer and
//     larger writes.
//   - -c:v copy: Chrome's H.264 (no CodecPrivate, SPS/PPS in band) copies fine. A copied
//     stream has a nominal bitrate in the manifests until its first segment is measured:
//     HLS needs a BANDWIDTH from the start.
//   - libx264 -tune zerolatency: no lookahead, no B-frames, no frame threads' delay.
//     -fps_mode vfr passes the browser's variable frame timing through (no duplicated
//     frames, frame count = input's); the keyframes are therefore forced by time, exactly
//     at every segment boundary (-force_key_frames), and x264 adds none of its own
//     (keyint=infinite, scenecut=0), so that every segment starts with a keyframe and is
//     exactly --seg long. -maxrate 1.2x and a 1 s -bufsize keep the bitrate steady enough
//     for 1 s segments.
//   - -c:a aac -b:a 128k on a second output of the same audio, listed only in the HLS
//     playlists, when Opus input is copied and Options.HLSAudio is HLSAudioAAC (the
//     default, --hls-audio aac): Apple's players do not reliably play Opus in HLS, and DASH
//     players keep the Opus, which costs nothing to copy.
//   - FFmpeg runs at nice +5 (ffmpeg.Config.Nice): on two busy cores the goroutine
//     feeding it was delayed by up to several ms; the encoder does not mind yielding a
//     few hundred microseconds to the feeder.
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
// ends or ctx is done. It returns nil when the presentation on disk is complete: the
// input ended, or ctx ended, and the manifests say that no segment follows the last one
// (with Options.Presentation, they stay live for the next Run instead). Otherwise it
// returns why, having deleted any manifest that still claimed to be live (with
// Options.Presentation, the presentation is left as it is, for the next Run).
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
		log.Warn(fmt.Sprintf("the input has a keyframe only every %.1f s: most %s segments of a copied stream "+
			"will not start with one, and a player that joins there shows no picture until the next", gap.Seconds(), seg),
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
		pending.cancel(out) // the final MPD of the presentation before, not written yet
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
	pk.closeRun()
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
		pk.finish(ctx)
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
