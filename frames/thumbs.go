package frames

import (
	"bufio"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"time"
)

// thumbnailer writes JPEG thumbnails of analysed frames (yuv420p, full range, as
// ffmpegArgs asks for when thumbnails are on) into Options.ThumbDir.
type thumbnailer struct {
	dir     string
	every   time.Duration
	w, h    int
	due     time.Duration // the next periodic thumbnail is the first frame at or after it
	started bool
}

func newThumbnailer(o resolved, w, h int) *thumbnailer {
	return &thumbnailer{dir: o.ThumbDir, every: o.ThumbEvery, w: w, h: h}
}

// thumbName names the thumbnail of the frame at pts: its timestamp in milliseconds,
// zero-padded so that names sort by time for the first 11 days of a stream.
func thumbName(pts time.Duration) string {
	return fmt.Sprintf("%09d.jpg", pts.Round(time.Millisecond).Milliseconds())
}

// frame writes a thumbnail of the frame in buf (n, pts) if a periodic one is due or the
// frame is a scene cut, and returns the event that reports it, or nil.
func (t *thumbnailer) frame(buf []byte, n int64, pts time.Duration, cut bool) (*Event, error) {
	periodic := !t.started || pts >= t.due
	if !periodic && !cut {
		return nil, nil
	}
	if periodic {
		if !t.started {
			t.started, t.due = true, pts
		}
		if pts >= t.due {
			t.due += ((pts-t.due)/t.every + 1) * t.every
		}
	}
	path := filepath.Join(t.dir, thumbName(pts))
	if err := writeJPEG(path, t.image(buf)); err != nil {
		return nil, fmt.Errorf("write thumbnail: %w", err)
	}
	return &Event{Type: Thumbnail, N: n, PTS: pts, File: path}, nil
}

// image wraps a yuv420p frame without copying it.
func (t *thumbnailer) image(buf []byte) *image.YCbCr {
	w, h := t.w, t.h
	cw, ch := (w+1)/2, (h+1)/2
	ySize, cSize := w*h, cw*ch
	return &image.YCbCr{
		Y:              buf[:ySize],
		Cb:             buf[ySize : ySize+cSize],
		Cr:             buf[ySize+cSize : ySize+2*cSize],
		YStride:        w,
		CStride:        cw,
		SubsampleRatio: image.YCbCrSubsampleRatio420,
		Rect:           image.Rect(0, 0, w, h),
	}
}

// writeJPEG writes img to path through a temporary file, so that whoever watches the
// directory never sees half a picture.
func writeJPEG(path string, img image.Image) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".thumb-*.jpg")
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = jpeg.Encode(w, img, &jpeg.Options{Quality: 85})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
