package frames

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/svtool/sv/ffmpeg"
	"github.com/svtool/sv/internal/queue"
)

// DefaultQueueLimit bounds the input queued for FFmpeg (Options.QueueLimit): about a
// minute of webcam video.
const DefaultQueueLimit = 8 << 20

// pipeSize is the buffer asked for FFmpeg's output pipe: a few frames at 320x240.
const pipeSize = 1 << 20

// progressPeriod is how often Options.Progress is called.
const progressPeriod = 250 * time.Millisecond

// Run decodes the media stream in (WebM/Matroska or MP4, as MediaRecorder writes it, or
// any file FFmpeg reads) with an FFmpeg child, analyses its video frames and calls emit
// with each record, in order: every analysed *Frame, followed by the *Events it caused,
// and a *Summary at the end. The records are valid only during the call. An error from
// emit stops the run and is returned.
//
// Run returns nil once the input has ended and everything that arrived is analysed, also
// when the input stops in the middle of a frame (a publisher that vanished). It returns
// an error wrapping ErrNoVideo if not a single frame could be decoded, and one wrapping
// ffmpeg.ErrNotFound if there is no FFmpeg. When ctx ends, or FFmpeg fails after some
// frames, or reading in fails, Run analyses what FFmpeg had decoded, emits the summary
// (Complete false, Error saying why) and returns ctx's error or the failure. A Read of in
// that blocks past the end of Run is left to finish on its own.
func Run(ctx context.Context, in io.Reader, emit func(Record) error, opts Options) error {
	o, err := opts.resolve()
	if err != nil {
		return err
	}
	if o.ThumbDir != "" {
		if fi, err := os.Stat(o.ThumbDir); err != nil {
			return fmt.Errorf("thumbnail directory: %w", err)
		} else if !fi.IsDir() {
			return fmt.Errorf("thumbnail directory: %s is not a directory", o.ThumbDir)
		}
	}
	started := o.now()
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	outR, outW, err := blockingPipe()
	if err != nil {
		return fmt.Errorf("start ffmpeg: %w", err)
	}
	defer outR.Close()
	growPipe(outR, pipeSize)
	var log *slog.Logger
	if o.Log != nil {
		log = o.Log.With("stage", "frames")
	}
	proc, err := ffmpeg.Start(ctx, ffmpeg.Config{
		Path:   o.FFmpeg,
		Args:   ffmpegArgs(o),
		Stdout: outW, // an *os.File: the child writes the pipe directly
		Log:    log,
	})
	outW.Close() // the child has its own copy now: EOF when it exits
	if err != nil {
		return err
	}

	type feedResult struct {
		n   int64
		err error
	}
	fed := make(chan feedResult, 1)
	go func() {
		stdin := proc.Stdin()
		limit := o.QueueLimit
		if limit <= 0 {
			limit = DefaultQueueLimit
		}
		n, err := queue.Copy(ctx, stdin, in, limit)
		stdin.Close()
		fed <- feedResult{n, err}
	}()

	p := &pipeline{o: o, emit: emit, started: started}
	runErr := p.run(outR)
	if runErr != nil {
		// Our side failed (emit, or FFmpeg's output made no sense): stop FFmpeg now.
		outR.Close()
		cancel()
	}
	waitErr := proc.Wait()
	cancel() // ends the feeder if the input is still open
	feed := <-fed
	if runErr != nil {
		return runErr
	}
	if errors.Is(feed.err, syscall.EPIPE) || errors.Is(feed.err, os.ErrClosed) {
		feed.err = nil // FFmpeg stopped reading: its exit status tells why
	}

	switch {
	case parent.Err() != nil:
		// Interrupted: what FFmpeg had decoded has been analysed.
		err = parent.Err()
		p.sum.Error = "interrupted"
	case p.frames == 0 && feed.n == 0 && feed.err == nil:
		return fmt.Errorf("%w: the input is empty", ErrNoVideo)
	case p.frames == 0:
		if waitErr == nil {
			waitErr = feed.err
		}
		if waitErr == nil {
			waitErr = errors.New("ffmpeg decoded nothing")
		}
		return fmt.Errorf("%w: %w", ErrNoVideo, waitErr)
	case waitErr != nil:
		// FFmpeg failed after some frames. A stream that merely stops (a publisher that
		// vanished) does not do that: FFmpeg decodes what it has and exits 0.
		err = waitErr
		p.sum.Error = waitErr.Error()
	case feed.err != nil:
		err = fmt.Errorf("read input: %w", feed.err)
		p.sum.Error = err.Error()
	}
	if ferr := p.finish(); ferr != nil {
		return ferr
	}
	return err
}

// ffmpegArgs returns FFmpeg's arguments: decode stdin, scale every frame to the analysis
// width, and write the raw planes with their source timestamps as Matroska on stdout.
// The package documentation explains each choice.
func ffmpegArgs(o resolved) []string {
	pixFmt := "gray"
	if o.ThumbDir != "" {
		pixFmt = "yuv420p"
	}
	args := []string{
		"-loglevel", "error",
		"-probesize", "32", "-analyzeduration", "0",
	}
	if o.LowDelay {
		args = append(args, "-flags", "low_delay")
	}
	return append(args,
		"-i", "pipe:0",
		"-map", "0:v:0",
		"-vf", "scale="+strconv.Itoa(o.Width)+":-2:flags=area:out_range=full,format="+pixFmt,
		"-fps_mode", "passthrough",
		"-enc_time_base", "-1",
		"-copyts",
		"-c:v", "rawvideo",
		"-f", "matroska", "-write_crc32", "0", "-cluster_size_limit", "1", "-flush_packets", "1",
		"pipe:1",
	)
}

// pipeline is one Run's reading and analysis loop.
type pipeline struct {
	o       resolved
	emit    func(Record) error
	started time.Time

	a      *analyzer
	thumbs *thumbnailer
	sample sampler

	frames         int64 // decoded
	first, last    time.Duration
	lastInterval   time.Duration
	firstFrameWall time.Time
	lastProgress   time.Time
	sum            Summary
}

func (p *pipeline) run(out io.Reader) error {
	rr := newRawReader(out)
	track, err := rr.track()
	if errors.Is(err, io.EOF) {
		return nil // no frame: Run reports why from FFmpeg's exit
	}
	if err != nil {
		return err
	}
	w, h := track.Width, track.Height
	if w != p.o.Width || h < 2 || h > 4*7680 { // at most a 1:100 picture, as a sanity bound
		return fmt.Errorf("%w: frames of %dx%d for an analysis width of %d", ErrOutput, w, h, p.o.Width)
	}
	size := w * h
	if p.o.ThumbDir != "" {
		size += 2 * ((w + 1) / 2) * ((h + 1) / 2)
		p.thumbs = newThumbnailer(p.o, w, h)
	}
	p.a = newAnalyzer(p.o, w, h, size)
	p.sample = sampler{fps: p.o.FPS}
	for {
		buf := p.a.next()
		pts, err := rr.next(buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				// FFmpeg stopped in the middle of a frame: its exit status says why.
				return nil
			}
			return err
		}
		if err := p.frame(buf, pts); err != nil {
			return err
		}
	}
}

func (p *pipeline) frame(buf []byte, pts time.Duration) error {
	n := p.frames
	p.frames++
	now := p.o.now()
	if n == 0 {
		p.first, p.firstFrameWall = pts, now
	} else {
		p.lastInterval = pts - p.last
	}
	p.last = pts
	if p.sample.take(pts) {
		a := p.a
		a.analyze(buf, n, pts)
		if err := p.emit(&a.frame); err != nil {
			return err
		}
		for i := range a.events {
			if err := p.emit(&a.events[i]); err != nil {
				return err
			}
		}
		if p.thumbs != nil {
			ev, err := p.thumbs.frame(buf, n, pts, a.sceneCut())
			if err != nil {
				return err
			}
			if ev != nil {
				if err := p.emit(ev); err != nil {
					return err
				}
			}
		}
	}
	if p.o.Progress != nil && now.Sub(p.lastProgress) >= progressPeriod {
		p.lastProgress = now
		p.o.Progress(p.stats(now))
	}
	return nil
}

func (p *pipeline) stats(now time.Time) Stats {
	s := Stats{Frames: p.frames, PTS: p.last, Elapsed: now.Sub(p.started)}
	if p.a != nil {
		s.Analysed = p.a.sum.Analysed
	}
	if s.Elapsed > 0 {
		s.FPS = float64(s.Analysed) / s.Elapsed.Seconds()
	}
	if wall := now.Sub(p.firstFrameWall); p.frames > 1 && wall > 0 {
		s.Speed = float64(p.last-p.first) / float64(wall)
	}
	return s
}

// finish closes the open stretches and emits their events and the summary.
func (p *pipeline) finish() error {
	now := p.o.now()
	end := p.last + p.lastInterval
	s := &p.sum
	errText := s.Error
	if p.a != nil {
		p.a.finish(p.frames, end)
		for i := range p.a.events {
			if err := p.emit(&p.a.events[i]); err != nil {
				return err
			}
		}
		*s = p.a.sum
	}
	s.Frames = p.frames
	s.Error = errText
	s.Complete = errText == ""
	if p.frames > 0 {
		s.FirstPTS, s.LastPTS, s.Duration = p.first, p.last, end-p.first
	}
	s.Elapsed = now.Sub(p.started).Round(time.Millisecond)
	if s.Elapsed > 0 {
		s.FPS = float64(s.Analysed) / s.Elapsed.Seconds()
		s.Speed = float64(s.Duration) / float64(s.Elapsed)
	}
	if p.o.Progress != nil {
		p.o.Progress(p.stats(now))
	}
	return p.emit(s)
}

// sampler picks the frames to analyse under Options.FPS: at most one per 1/fps of media
// time on average (any second holds at most fps+1 of them), on a grid that follows the
// timestamps. The grid forgives a few milliseconds, so that jittery timestamps (33, 34,
// 33 ms apart at 30 fps) do not make it skip frames it could keep.
type sampler struct {
	fps     float64
	due     time.Duration
	started bool
}

// samplerSlack is how early a frame may come on the grid and still count as on time.
const samplerSlack = 4 * time.Millisecond

func (s *sampler) take(pts time.Duration) bool {
	if s.fps <= 0 {
		return true
	}
	period := time.Duration(float64(time.Second) / s.fps)
	if s.started && pts < s.due-min(samplerSlack, period/4) {
		return false
	}
	if !s.started || pts-s.due > period {
		s.due = pts // the first frame, or after a gap: restart the grid here
	}
	s.started = true
	s.due += period
	return true
}
