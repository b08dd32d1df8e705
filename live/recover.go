package live

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/svtool/sv/dash"
	"github.com/svtool/sv/event"
	"github.com/svtool/sv/stream"
)

// # Recovery
//
// A session's recording reaches its file as each message arrives (no buffer in the
// process), so a process that dies loses nothing it had accepted; only a power loss can
// cost what the kernel had not written yet. While the session runs, a hidden marker
// stands beside the recording (stream.UnfinishedMarker); the session removes it once the
// recording is stored, copied and announced. When a Server starts on an Out where a
// process died:
//
//   - New ends every presentation left live (dash.Abandon: its manifests and the segments
//     in progress are deleted, so that players stop and /streams.json shows no dead
//     stream as live), before anything is served; the streams can be published again at
//     once, each starting a new presentation;
//   - Serve finishes, in the background, every recording left with its marker: fsynced,
//     given its seekable copy (Options.Seekable), handed to Options.Store and announced
//     (recording_ready with Recovered set), then the marker is removed. Close waits for it.

// recoverOut is New's part of the recovery: it ends the presentations left live and
// returns the recordings left unfinished.
func (s *Server) recoverOut() []string {
	lives, _ := os.ReadDir(filepath.Join(s.o.Out, stream.LiveDir))
	for _, d := range lives {
		if !d.IsDir() || !stream.Valid(d.Name()) {
			continue
		}
		ended, err := dash.Abandon(stream.LiveFolder(s.o.Out, d.Name()))
		switch {
		case err != nil:
			s.log.Warn("cannot end a presentation left by an earlier run", "stream", d.Name(), "err", err)
		case ended:
			s.log.Warn("ended a presentation left live by an earlier run that did not finish it", "stream", d.Name())
		}
	}
	var unfinished []string
	for dir, files := range stream.RecordingFolders(s.o.Out) {
		for _, f := range files {
			if rec := stream.MarkedRecording(dir, f.Name()); rec != "" {
				unfinished = append(unfinished, rec)
			}
		}
	}
	return unfinished
}

// finishRecovered finishes the recordings a dead process left unfinished, one at a time.
func (s *Server) finishRecovered(ctx context.Context, recs []string) {
	for _, rec := range recs {
		if ctx.Err() != nil {
			return
		}
		if err := s.finishRecording(ctx, rec); err != nil {
			s.log.Error("cannot finish a recording left by an earlier run", "recording", rec, "err", err)
			continue
		}
		s.metrics.recovered.Inc()
	}
}

// finishRecording does for rec, left unfinished, what its session would have done.
func (s *Server) finishRecording(ctx context.Context, rec string) error {
	name := filepath.Base(filepath.Dir(rec))
	f, err := os.OpenFile(rec, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		os.Remove(stream.UnfinishedMarker(rec)) // nothing was written
		return nil
	}
	if err != nil {
		return err
	}
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		return fmt.Errorf("read %s: %w", rec, err)
	}
	if size == 0 {
		os.Remove(rec)
		os.Remove(stream.UnfinishedMarker(rec))
		return nil
	}
	s.log.Warn("finishing a recording left unfinished by an earlier run", "stream", name, "recording", rec, "bytes", size)
	var seekable string
	if s.o.Seekable {
		seekable, err = remux(ctx, s.o.Dash.FFmpeg, rec)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err() // the next start finishes it
			}
			s.log.Warn("no seekable copy of the recording", "recording", rec, "err", err)
		}
	}
	s.store(rec, seekable)
	if bus := s.o.Events; bus != nil {
		bus.Emit(event.Event{Type: event.RecordingReady, Time: time.Now(), Stream: name, Recording: absPath(rec),
			Seekable: absPath(seekable), Size: size, SHA256: hex.EncodeToString(h.Sum(nil)), Recovered: true})
	}
	return os.Remove(stream.UnfinishedMarker(rec))
}
