package live

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/svtool/sv/ffmpeg"
	"github.com/svtool/sv/stream"
)

// seekableName is the name of a recording's seekable copy (stream.SeekableOf), the
// format FFmpeg writes it in and the options it needs: an MP4 has its index first.
func seekableName(rec string) (name, format string, extra []string) {
	name = filepath.Join(filepath.Dir(rec), stream.SeekableOf(filepath.Base(rec)))
	if strings.HasSuffix(name, ".mp4") {
		return name, "mp4", []string{"-movflags", "+faststart"}
	}
	return name, "matroska", nil
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
