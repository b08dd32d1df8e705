package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Text and Markdown output for main; the recorder and the inspector never print.

func printResult(w io.Writer, path string, r *Result, s ChunkSummary) {
	fmt.Fprintf(w, "recordtestdata: wrote %s: %d bytes in %d chunks, recorded for %.2f s\n",
		path, r.Bytes, len(r.Chunks), r.Elapsed.Seconds())
	fmt.Fprintf(w, "  browser:        %s\n", r.UserAgent)
	fmt.Fprintf(w, "  recorder:       mimeType %q (after stop %q), video %.0f b/s, audio %.0f b/s\n",
		r.MimeType, r.FinalMimeType, r.VideoBitsPerSecond, r.AudioBitsPerSecond)
	if v := r.Video; v != nil {
		fmt.Fprintf(w, "  camera:         %vx%v at %v fps\n", v["width"], v["height"], v["frameRate"])
	}
	if a := r.Audio; a != nil {
		fmt.Fprintf(w, "  microphone:     %v Hz, %v channel(s)\n", a["sampleRate"], a["channelCount"])
	}
	fmt.Fprintf(w, "  chunk sizes:    first %d, later min %d, median %d, max %d bytes\n", s.First, s.Min, s.Med, s.Max)
	fmt.Fprintf(w, "  chunk interval: median %.0f ms (BlobEvent.timecode)\n", s.IntervalMs)
	for _, st := range s.Starts {
		fmt.Fprintf(w, "  %d chunk(s) start with %s %s\n", len(st.Seqs), st.Kind, seqList(st.Seqs))
	}
}

func printChunks(w io.Writer, r *Result, s ChunkSummary) {
	kind := map[int]string{}
	for _, st := range s.Starts {
		for _, seq := range st.Seqs {
			kind[seq] = st.Kind
		}
	}
	fmt.Fprintln(w, "  seq      size  timecode ms  arrived ms  starts with")
	for _, c := range r.Chunks {
		fmt.Fprintf(w, "  %3d  %8d  %11.0f  %10d  %s\n",
			c.Seq, c.Size, c.Timecode, c.Arrived.Milliseconds(), kind[c.Seq])
	}
}

// chunkList is the -chunk-log format: a comment, then "size timecode" per chunk, in order.
func chunkList(name string, r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s as MediaRecorder delivered it (%s): one line per dataavailable chunk,\n", name, r.MimeType)
	b.WriteString("# size in bytes, BlobEvent.timecode in ms; the file is these chunks concatenated\n")
	for _, c := range r.Chunks {
		fmt.Fprintf(&b, "%d %.0f\n", c.Size, c.Timecode)
	}
	return b.String()
}

func seqList(seqs []int) string {
	var b strings.Builder
	for i, s := range seqs {
		if i == 8 {
			b.WriteString(", ...")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "#%d", s)
	}
	return "(" + b.String() + ")"
}

func printFacts(w io.Writer, f *Facts) {
	fmt.Fprintf(w, "recordtestdata: %s: %s, ffprobe format %s, %d bytes, %.3f s\n",
		f.Path, f.Container, f.Format, f.Size, f.Duration)
	if v := f.Video; v != nil {
		fmt.Fprintf(w, "  video: %s %s %dx%d, %d frames in %.3f s (%.2f fps), keyframes every %s\n",
			v.Codec, v.Profile, v.Width, v.Height, v.Packets, v.Duration, v.FPS, v.KeyframeSummary())
		fmt.Fprintf(w, "  keyframes at: %s\n", floatList(v.Keyframes))
		fmt.Fprintf(w, "  longest gap between frames: %.3f s after %.3f s\n", v.MaxGap, v.MaxGapAt)
	}
	if a := f.Audio; a != nil {
		fmt.Fprintf(w, "  audio: %s %d Hz %d ch, %d packets in %.3f s\n",
			a.Codec, a.SampleRate, a.Channels, a.Packets, a.Duration)
	}
	if f.DecodeErrors == "" {
		fmt.Fprintln(w, "  decode: clean (ffmpeg -v error -f null)")
	} else {
		fmt.Fprintf(w, "  decode errors:\n%s\n", f.DecodeErrors)
	}
}

func floatList(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.3f", x)
	}
	return strings.Join(s, " ")
}

// howMade describes the recorder settings for the README table.
func howMade(o Options, r *Result) string {
	parts := []string{"`" + o.MimeType + "`"}
	if o.KeyframeInterval > 0 {
		parts = append(parts, fmt.Sprintf("videoKeyFrameIntervalDuration %d", o.KeyframeInterval.Milliseconds()))
	} else {
		parts = append(parts, "keyframe option not set")
	}
	parts = append(parts, fmt.Sprintf("%d/%d b/s", o.VideoBitsPerSecond, o.AudioBitsPerSecond),
		fmt.Sprintf("timeslice %d ms", o.Timeslice.Milliseconds()))
	if !o.Audio {
		parts = append(parts, "camera only (no audio track)")
	}
	if o.FakeVideo != "" {
		parts = append(parts, "y4m file as camera")
	}
	return strings.Join(parts, ", ")
}

// MarkdownFileHeader heads the table markdownFileRow writes rows of.
const MarkdownFileHeader = "| file | how it was made | video | audio | resolution | duration | video frames | keyframe interval (mean, min-max) | size |\n" +
	"| --- | --- | --- | --- | --- | --- | --- | --- | --- |"

func markdownFileRow(f *Facts, how string) string {
	video, res, frames, kf := "none", "", "", ""
	if v := f.Video; v != nil {
		video = v.Codec
		if v.Profile != "" {
			video += " (" + v.Profile + ")"
		}
		res = fmt.Sprintf("%dx%d", v.Width, v.Height)
		frames = fmt.Sprintf("%d (%.2f fps, longest gap %.3f s)", v.Packets, v.FPS, v.MaxGap)
		kf = v.KeyframeSummary()
	}
	audio := "none"
	if a := f.Audio; a != nil {
		audio = fmt.Sprintf("%s %d Hz %d ch", a.Codec, a.SampleRate, a.Channels)
	}
	if how == "" {
		how = "?"
	}
	return fmt.Sprintf("| `%s` | %s | %s | %s | %s | %.2f s | %s | %s | %s |",
		filepath.Base(f.Path), how, video, audio, res, f.Duration, frames, kf, humanSize(f.Size))
}

// MarkdownChunkHeader heads the table markdownChunkRow writes rows of.
const MarkdownChunkHeader = "| file | recorder.mimeType | chunks | median interval | first chunk | later chunks (min / median / max) | where chunks start |\n" +
	"| --- | --- | --- | --- | --- | --- | --- |"

func markdownChunkRow(path string, r *Result, s ChunkSummary) string {
	var starts []string
	for _, st := range s.Starts {
		starts = append(starts, fmt.Sprintf("%d× %s", len(st.Seqs), st.Kind))
	}
	return fmt.Sprintf("| `%s` | `%s` | %d | %.0f ms | %d B | %d / %d / %d B | %s |",
		filepath.Base(path), r.MimeType, s.Count, s.IntervalMs, s.First, s.Min, s.Med, s.Max,
		strings.Join(starts, "; "))
}

func humanSize(n int64) string {
	return fmt.Sprintf("%.2f MB (%d B)", float64(n)/1e6, n)
}
