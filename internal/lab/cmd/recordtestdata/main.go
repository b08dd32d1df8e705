// Command recordtestdata records real MediaRecorder output from headless Chromium, for tests.
//
// It serves a small embedded page on a loopback port, starts Chromium with a fake camera and
// microphone (or a y4m file as the camera), lets the page record with MediaRecorder and upload
// every chunk with a sequence number, and writes the chunks concatenated in order, byte for
// byte as the browser produced them. The page reports getUserMedia and MediaRecorder failures
// (including an unsupported mimeType) back, so they fail the run with the browser's message.
// Afterwards the file is checked with ffprobe and ffmpeg: container magic for the file name,
// a clean decode, audio present or not as asked, and optionally the keyframe interval, frame
// gaps, frame rate and size. It reports the recorder's mimeType, the chunk sizes and where in
// the container each chunk begins.
//
//	go run ./cmd/recordtestdata -mime 'video/webm;codecs=h264,opus' -keyframe-interval 1s -out x.webm
//	go run ./cmd/recordtestdata -inspect x.webm
//
// Run it from internal/lab. scripts/record-testdata.sh uses it to regenerate testdata/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// errUsage marks errors in the command line.
var errUsage = errors.New("usage")

func run(args []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := runContext(ctx, args, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		// A bare errUsage comes from fs.Parse, which has reported the problem already.
		if !errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "recordtestdata: error: %v\n", err)
		}
		return 2
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "recordtestdata: interrupted")
		return 130
	default:
		fmt.Fprintf(stderr, "recordtestdata: error: %v\n", err)
		return 1
	}
}

func runContext(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("recordtestdata", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := Options{
		MimeType:           "video/webm;codecs=h264,opus",
		Duration:           15 * time.Second,
		Timeslice:          250 * time.Millisecond,
		VideoBitsPerSecond: 600000,
		AudioBitsPerSecond: 64000,
		Audio:              true,
		Width:              640,
		Height:             480,
		FrameRate:          30,
	}
	var (
		out                   string
		rep                   reports
		inspect, verify, list bool
		maxSize               int64
		maxGap                time.Duration
		minFPS                float64
	)
	fs.StringVar(&out, "out", "", "output `file` (written as FILE.partial, renamed on success)")
	fs.StringVar(&o.MimeType, "mime", o.MimeType, "MediaRecorder `mimeType`, used exactly as given")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "recording length, from the recorder's start event to stop()")
	fs.DurationVar(&o.KeyframeInterval, "keyframe-interval", 0, "videoKeyFrameIntervalDuration (0: not set, Chrome's default)")
	fs.DurationVar(&o.Timeslice, "timeslice", o.Timeslice, "MediaRecorder.start timeslice")
	fs.IntVar(&o.VideoBitsPerSecond, "video-bps", o.VideoBitsPerSecond, "videoBitsPerSecond")
	fs.IntVar(&o.AudioBitsPerSecond, "audio-bps", o.AudioBitsPerSecond, "audioBitsPerSecond")
	fs.BoolVar(&o.Audio, "audio", o.Audio, "record the fake microphone too")
	fs.IntVar(&o.Width, "width", o.Width, "ideal camera width")
	fs.IntVar(&o.Height, "height", o.Height, "ideal camera height")
	fs.IntVar(&o.FrameRate, "fps", o.FrameRate, "fake camera frame rate")
	fs.StringVar(&o.FakeVideo, "fake-video", "", "y4m `file` to use as the camera (Chromium loops it)")
	fs.StringVar(&o.Chromium, "chromium", "chromium", "Chromium `binary`")
	fs.DurationVar(&o.Timeout, "timeout", 0, "give up after this long (0: duration + 1m)")
	fs.StringVar(&o.BrowserLog, "browser-log", "", "keep Chromium's output in this `file`")
	fs.BoolVar(&verify, "verify", true, "check the result with ffprobe and ffmpeg")
	fs.Int64Var(&maxSize, "max-size", 0, "fail if the result is larger than this many `bytes` (0: no limit)")
	fs.DurationVar(&maxGap, "max-frame-gap", 0, "fail if the video has a gap between frames longer than this (0: no limit)")
	fs.Float64Var(&minFPS, "min-fps", 0, "fail if the video has fewer frames per second than this (0: no limit)")
	fs.BoolVar(&list, "chunks", false, "list every chunk on stderr")
	fs.StringVar(&rep.chunkLog, "chunk-log", "", "write every chunk's size and BlobEvent.timecode to `file`")
	fs.StringVar(&rep.mdFiles, "md", "", "append a Markdown row describing the file to `file`")
	fs.StringVar(&rep.mdChunks, "md-chunks", "", "append a Markdown row describing the chunks to `file`")
	fs.BoolVar(&inspect, "inspect", false, "only inspect the files given as arguments")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: recordtestdata [flags] -out FILE\n       recordtestdata -inspect [-md FILE] FILE...\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}

	if inspect {
		if fs.NArg() == 0 {
			return fmt.Errorf("%w: -inspect needs files", errUsage)
		}
		for _, path := range fs.Args() {
			f, err := Inspect(ctx, path)
			if err != nil {
				return err
			}
			printFacts(stderr, f)
			if err := appendRow(rep.mdFiles, MarkdownFileHeader, markdownFileRow(f, "")); err != nil {
				return err
			}
		}
		return nil
	}

	switch {
	case out == "":
		return fmt.Errorf("%w: -out is required", errUsage)
	case fs.NArg() > 0:
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	case o.Duration <= 0 || o.Timeslice <= 0:
		return fmt.Errorf("%w: -duration and -timeslice must be positive", errUsage)
	}
	if o.FakeVideo != "" {
		abs, err := filepath.Abs(o.FakeVideo)
		if err != nil {
			return err
		}
		o.FakeVideo = abs
	}
	chromium, err := exec.LookPath(o.Chromium)
	if err != nil {
		return fmt.Errorf("find chromium: %w", err)
	}
	o.Chromium = chromium

	res, err := recordFile(ctx, out, o, func(msg string) {
		fmt.Fprintf(stderr, "recordtestdata: %s\n", msg)
	})
	if err != nil {
		return err
	}
	sum := Summarize(res.Chunks)
	printResult(stderr, out, res, sum)
	if list {
		printChunks(stderr, res, sum)
	}
	if !verify {
		return rep.write(out, o, res, sum, nil)
	}
	f, err := Inspect(ctx, out)
	if err != nil {
		return err
	}
	printFacts(stderr, f)
	err = f.Check(Expect{
		Audio:            o.Audio,
		Duration:         o.Duration.Seconds(),
		KeyframeInterval: o.KeyframeInterval.Seconds(),
		MaxFrameGap:      maxGap.Seconds(),
		MinFPS:           minFPS,
		MaxSize:          maxSize,
	})
	if err != nil {
		return err
	}
	// Only for recordings that passed, so a retried recording leaves nothing stale behind.
	return rep.write(out, o, res, sum, f)
}

// reports are the files, besides the recording, that the flags ask for; empty means none.
type reports struct {
	chunkLog, mdChunks, mdFiles string
}

// write writes the chunk log and appends the Markdown rows; f is nil when the recording was
// not inspected.
func (r reports) write(out string, o Options, res *Result, sum ChunkSummary, f *Facts) error {
	if r.chunkLog != "" {
		if err := os.WriteFile(r.chunkLog, []byte(chunkList(filepath.Base(out), res)), 0o644); err != nil {
			return err
		}
	}
	if err := appendRow(r.mdChunks, MarkdownChunkHeader, markdownChunkRow(out, res, sum)); err != nil {
		return err
	}
	if f == nil {
		return nil
	}
	return appendRow(r.mdFiles, MarkdownFileHeader, markdownFileRow(f, howMade(o, res)))
}

// recordFile records into path.partial and renames it to path only on success, so a failed
// run never leaves a truncated recording behind.
func recordFile(ctx context.Context, path string, o Options, progress func(string)) (*Result, error) {
	tmp := path + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, err
	}
	res, err := Record(ctx, f, o, progress)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return nil, err
	}
	return res, nil
}

// appendRow appends a table row to the Markdown file at path, starting the file with the
// table's header; an empty path means nowhere.
func appendRow(path, header, row string) error {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err == nil && st.Size() == 0 {
		_, err = fmt.Fprintln(f, header)
	}
	if err == nil {
		_, err = fmt.Fprintln(f, row)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
