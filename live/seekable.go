package live

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/svtool/sv/ffmpeg"
)

// seekableName is the name of a recording's seekable copy: Matroska for a WebM recording
// (the WebM muxer refuses the H.264 that Chrome records), MP4 with its index first for an
// MP4 one.
func seekableName(rec string) (name, format string, extra []string) {
	if base, ok := strings.CutSuffix(rec, ".mp4"); ok {
		return base + ".seekable.mp4", "mp4", []string{"-movflags", "+faststart"}
	}
	return strings.TrimSuffix(rec, ".webm") + ".seekable.mkv", "matroska", nil
}

// remux writes a seekable copy of a finished recording: the browser's stream has no
// duration, no cues (WebM) or is fragmented (MP4), so players cannot seek in it. The
// streams are copied, not transcoded. The copy is written under a temporary name and
// renamed when complete, so that a file with the final name is always whole.
func remux(ctx context.Context, ffmpegPath, rec string) (string, error) {
	name, format, extra := seekableName(rec)
	tmp := name + ".tmp"
	args := []string{"-loglevel", "error", "-i", rec, "-map", "0", "-c", "copy"}
	args = append(args, extra...)
	args = append(args, "-f", format, "-y", tmp)
	p, err := ffmpeg.Start(ctx, ffmpeg.Config{Path: ffmpegPath, Args: args, Nice: ffmpegNice})
	if err != nil {
		return "", err
	}
	if err := p.Wait(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("seekable copy of %s: %w", rec, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("seekable copy: %w", err)
	}
	return name, nil
}

// ffmpegNice keeps the copy out of the way of the live stages.
const ffmpegNice = 10

// store hands a finished recording and its seekable copy ("" if none) to Options.Store.
func (s *Server) store(recording, seekable string) {
	if s.o.Store == nil {
		return
	}
	s.o.Store.Put(recording)
	if seekable != "" {
		s.o.Store.Put(seekable)
	}
}
