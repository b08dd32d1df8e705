package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Facts describe a recorded file as FFmpeg sees it.
type Facts struct {
	Path      string
	Size      int64
	Container string // "webm (EBML header)" or "mp4 (ftyp box)"
	Format    string // ffprobe format_name
	Video     *StreamFacts
	Audio     *StreamFacts
	Duration  float64 // seconds, from the first to the end of the last packet of any stream
	// DecodeErrors is what `ffmpeg -v error -i FILE -f null -` printed; empty when clean.
	DecodeErrors string
}

// StreamFacts describe one stream.
type StreamFacts struct {
	Codec      string
	Profile    string
	Width      int
	Height     int
	SampleRate int
	Channels   int
	Packets    int
	Duration   float64 // first pts to end of last packet
	FPS        float64 // measured from packet timestamps
	Keyframes  []float64
	MaxGap     float64 // longest time between successive packets (video: frames)
	MaxGapAt   float64 // pts of the packet before that gap
}

// KeyframeIntervals returns the gaps between successive keyframes, in seconds.
func (s *StreamFacts) KeyframeIntervals() []float64 {
	var iv []float64
	for i := 1; i < len(s.Keyframes); i++ {
		iv = append(iv, s.Keyframes[i]-s.Keyframes[i-1])
	}
	return iv
}

// KeyframeSummary is e.g. "1.03 s (1.00-1.07, 15 keyframes)".
func (s *StreamFacts) KeyframeSummary() string {
	iv := s.KeyframeIntervals()
	if len(iv) == 0 {
		return fmt.Sprintf("single keyframe (%d keyframes)", len(s.Keyframes))
	}
	mean, lo, hi := stats(iv)
	return fmt.Sprintf("%.2f s (%.2f-%.2f, %d keyframes)", mean, lo, hi, len(s.Keyframes))
}

func stats(v []float64) (mean, lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range v {
		mean += x
		lo = min(lo, x)
		hi = max(hi, x)
	}
	return mean / float64(len(v)), lo, hi
}

type probeOutput struct {
	Format struct {
		FormatName string `json:"format_name"`
	} `json:"format"`
	Streams []struct {
		Index      int    `json:"index"`
		CodecType  string `json:"codec_type"`
		CodecName  string `json:"codec_name"`
		Profile    string `json:"profile"`
		Width      int    `json:"width"`
		Height     int    `json:"height"`
		SampleRate string `json:"sample_rate"`
		Channels   int    `json:"channels"`
	} `json:"streams"`
	Packets []struct {
		StreamIndex  int    `json:"stream_index"`
		PTSTime      string `json:"pts_time"`
		DurationTime string `json:"duration_time"`
		Flags        string `json:"flags"`
	} `json:"packets"`
}

// Inspect runs ffprobe and ffmpeg on path.
func Inspect(ctx context.Context, path string) (*Facts, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	f := &Facts{Path: path, Size: st.Size()}
	if f.Container, err = sniff(path); err != nil {
		return nil, err
	}

	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-of", "json",
		"-show_entries", "format=format_name:stream=index,codec_type,codec_name,profile,width,height,sample_rate,channels"+
			":packet=stream_index,pts_time,duration_time,flags",
		path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("ffprobe %s: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	var p probeOutput
	if err := json.Unmarshal(out, &p); err != nil {
		return nil, fmt.Errorf("ffprobe %s: decode json: %w", path, err)
	}
	f.Format = p.Format.FormatName

	byIndex := map[int]*StreamFacts{}
	for _, s := range p.Streams {
		sf := &StreamFacts{Codec: s.CodecName, Profile: s.Profile, Width: s.Width, Height: s.Height, Channels: s.Channels}
		sf.SampleRate, _ = strconv.Atoi(s.SampleRate)
		switch {
		case s.CodecType == "video" && f.Video == nil:
			f.Video = sf
		case s.CodecType == "audio" && f.Audio == nil:
			f.Audio = sf
		default:
			continue
		}
		byIndex[s.Index] = sf
	}
	first, last := map[*StreamFacts]float64{}, map[*StreamFacts]float64{}
	pts := map[*StreamFacts][]float64{}
	for _, pk := range p.Packets {
		sf := byIndex[pk.StreamIndex]
		if sf == nil {
			continue
		}
		t, err := strconv.ParseFloat(pk.PTSTime, 64)
		if err != nil {
			return nil, fmt.Errorf("ffprobe %s: packet without pts in stream %d", path, pk.StreamIndex)
		}
		d, _ := strconv.ParseFloat(pk.DurationTime, 64)
		sf.Packets++
		pts[sf] = append(pts[sf], t)
		if v, ok := first[sf]; !ok || t < v {
			first[sf] = t
		}
		last[sf] = max(last[sf], t+d)
		if strings.Contains(pk.Flags, "K") {
			sf.Keyframes = append(sf.Keyframes, t)
		}
	}
	start, end := math.Inf(1), math.Inf(-1)
	for sf, t0 := range first {
		sf.Duration = last[sf] - t0
		start = min(start, t0)
		end = max(end, last[sf])
		slices.Sort(sf.Keyframes)
	}
	if len(first) > 0 {
		f.Duration = end - start
	}
	for sf, t := range pts {
		slices.Sort(t)
		for i := 1; i < len(t); i++ {
			if g := t[i] - t[i-1]; g > sf.MaxGap {
				sf.MaxGap, sf.MaxGapAt = g, t[i-1]
			}
		}
		if sf == f.Video && len(t) > 1 {
			sf.FPS = float64(len(t)-1) / (t[len(t)-1] - t[0])
		}
	}

	dec := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-")
	var decErr bytes.Buffer
	dec.Stderr = &decErr
	if err := dec.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return nil, fmt.Errorf("ffmpeg decode %s: %w", path, err)
		}
		decErr.WriteString(err.Error())
	}
	f.DecodeErrors = strings.TrimSpace(decErr.String())
	return f, nil
}

// sniff names the container from the file's first bytes.
func sniff(path string) (string, error) {
	file, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer file.Close()
	head := make([]byte, 12)
	n, _ := file.Read(head)
	return containerOf(head[:n]), nil
}

// containerOf names the container a byte stream starts with.
func containerOf(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x1a, 0x45, 0xdf, 0xa3}):
		return "webm (EBML header)"
	case len(head) >= 8 && string(head[4:8]) == "ftyp":
		return "mp4 (ftyp box)"
	default:
		return "unknown"
	}
}

// Expect is what a recording was asked to be; zero fields are not checked.
type Expect struct {
	Audio            bool    // an audio stream must be present (and absent if false)
	Duration         float64 // seconds; the video must cover at least 90% of it
	KeyframeInterval float64 // seconds; the mean interval must not exceed 1.5 times it
	MaxFrameGap      float64 // seconds without a video frame that count as a stall
	MinFPS           float64 // frames per second over the whole video (dropped frames)
	MaxSize          int64   // bytes
}

// Check returns an error listing every way the facts contradict e, the container magic the
// file name implies, or a clean decode.
func (f *Facts) Check(e Expect) error {
	var problems []string
	switch ext := strings.ToLower(filepath.Ext(f.Path)); {
	case f.Container == "unknown":
		problems = append(problems, "file starts with neither an EBML header nor an ftyp box")
	case (ext == ".webm" || ext == ".mkv") && !strings.HasPrefix(f.Container, "webm"):
		problems = append(problems, ext+" file without an EBML header")
	case ext == ".mp4" && !strings.HasPrefix(f.Container, "mp4"):
		problems = append(problems, ".mp4 file without an ftyp box")
	}
	if f.DecodeErrors != "" {
		problems = append(problems, "ffmpeg reported errors: "+f.DecodeErrors)
	}
	v := f.Video
	if v == nil || v.Packets == 0 {
		problems = append(problems, "no video packets")
		v = &StreamFacts{}
	}
	if e.Audio && (f.Audio == nil || f.Audio.Packets == 0) {
		problems = append(problems, "no audio packets")
	}
	if !e.Audio && f.Audio != nil {
		problems = append(problems, "unexpected audio stream")
	}
	if e.Duration > 0 && v.Duration < 0.9*e.Duration {
		problems = append(problems, fmt.Sprintf("video covers %.2f s of %.2f s", v.Duration, e.Duration))
	}
	if e.KeyframeInterval > 0 {
		if iv := v.KeyframeIntervals(); len(iv) > 0 {
			if mean, _, _ := stats(iv); mean > 1.5*e.KeyframeInterval {
				problems = append(problems, fmt.Sprintf("keyframes every %.2f s on average, asked for %.2f s", mean, e.KeyframeInterval))
			}
		} else {
			problems = append(problems, fmt.Sprintf("only %d keyframe(s), asked for one every %.2f s", len(v.Keyframes), e.KeyframeInterval))
		}
	}
	if e.MaxFrameGap > 0 && v.MaxGap > e.MaxFrameGap {
		problems = append(problems, fmt.Sprintf("video stalls: %.3f s without a frame after %.3f s (CPU starved?)", v.MaxGap, v.MaxGapAt))
	}
	if e.MinFPS > 0 && v.FPS < e.MinFPS {
		problems = append(problems, fmt.Sprintf("%.2f fps, fewer than %.2f (dropped frames, CPU starved?)", v.FPS, e.MinFPS))
	}
	if e.MaxSize > 0 && f.Size > e.MaxSize {
		problems = append(problems, fmt.Sprintf("%d bytes, more than the limit of %d", f.Size, e.MaxSize))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %s", f.Path, strings.Join(problems, "; "))
	}
	return nil
}
