package live

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/svtool/sv/event"
	"github.com/svtool/sv/stream"
)

// # Retention
//
// With Options.KeepRecordings or Options.KeepBytes, the finished recordings on this
// server's disk are deleted, oldest first, once they are older than KeepRecordings (by
// their file's last write), and while all of them together (each with its seekable copy)
// take more than KeepBytes. A recording being written, or left unfinished by a process
// that died, is never deleted. Retention runs when Serve starts, after every session and
// every so often (retainEvery); each deletion is logged, announced (recording_deleted,
// Cause "age" or "size") and counted (sv_recordings_deleted_total). A recording whose copy
// is in the Store keeps its marker: it is still listed, and played from the Store, whose
// own rules (a bucket's lifecycle) decide how long it keeps it; with a Store, a recording
// is not deleted before it is stored.

// retainEvery is how often retention runs: a tenth of KeepRecordings, within [1 s, 1 min].
func (s *Server) retainEvery() time.Duration {
	if s.o.KeepRecordings <= 0 {
		return time.Minute
	}
	return min(time.Minute, max(time.Second, s.o.KeepRecordings/10))
}

// retaining runs retention until ctx ends.
func (s *Server) retaining(ctx context.Context) {
	if s.o.KeepRecordings <= 0 && s.o.KeepBytes <= 0 {
		return
	}
	t := time.NewTicker(s.retainEvery())
	defer t.Stop()
	for {
		s.retain()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.retainNow:
		}
	}
}

// retainSoon asks for retention to run now (a session has ended).
func (s *Server) retainSoon() {
	select {
	case s.retainNow <- struct{}{}:
	default:
	}
}

// stored reports whether a recording, and its seekable copy if it has one, are in the
// Store (their markers are there).
func stored(p string) bool {
	seekable := filepath.Join(filepath.Dir(p), stream.SeekableOf(filepath.Base(p)))
	if _, err := os.Stat(p + StoredSuffix); err != nil {
		return false
	}
	if _, err := os.Stat(seekable); err == nil {
		if _, err := os.Stat(seekable + StoredSuffix); err != nil {
			return false
		}
	}
	return true
}

// localRecording is a finished recording on disk, with its seekable copy.
type localRecording struct {
	stream, path string
	modified     time.Time
	bytes        int64 // the recording's and its seekable copy's
}

// retain deletes what the retention options say must go, and updates the gauges.
func (s *Server) retain() {
	recs := s.localRecordings()
	slices.SortFunc(recs, func(a, b localRecording) int { return a.modified.Compare(b.modified) })
	var total int64
	for _, r := range recs {
		total += r.bytes
	}
	now := time.Now()
	kept := 0
	for _, r := range recs {
		if s.o.Store != nil && !stored(r.path) {
			kept++ // not in the store yet: it would be lost
			continue
		}
		cause := ""
		switch {
		case s.o.KeepRecordings > 0 && now.Sub(r.modified) > s.o.KeepRecordings:
			cause = "age"
		case s.o.KeepBytes > 0 && total > s.o.KeepBytes:
			cause = "size"
		default:
			kept++
			continue
		}
		if err := s.deleteLocal(r.path); err != nil {
			s.log.Error("cannot delete a recording past its retention", "recording", r.path, "err", err)
			kept++
			continue
		}
		total -= r.bytes
		s.log.Info("recording deleted", "stream", r.stream, "recording", r.path, "cause", cause,
			"age", now.Sub(r.modified).Round(time.Second), "bytes", r.bytes)
		s.metrics.deleted.WithLabelValues(cause).Inc()
		if bus := s.o.Events; bus != nil {
			bus.Emit(event.Event{Type: event.RecordingDeleted, Stream: r.stream, Recording: absPath(r.path), Size: r.bytes, Cause: cause})
		}
	}
	s.metrics.recordings.Set(float64(kept))
	s.metrics.recordingBytes.Set(float64(total))
}

// localRecordings lists the finished recordings on disk: not those being written or
// left unfinished.
func (s *Server) localRecordings() []localRecording {
	s.mu.Lock()
	live := map[string]bool{}
	for _, sess := range s.streams {
		live[sess.recPath] = true
	}
	s.mu.Unlock()
	var out []localRecording
	for dir, files := range stream.RecordingFolders(s.o.Out) {
		for _, f := range files {
			p := filepath.Join(dir, f.Name())
			if !stream.IsRecording(f.Name()) || live[p] {
				continue
			}
			if _, err := os.Stat(stream.UnfinishedMarker(p)); err == nil {
				continue
			}
			fi, err := f.Info()
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			r := localRecording{stream: filepath.Base(dir), path: p, modified: fi.ModTime(), bytes: fi.Size()}
			if si, err := os.Stat(filepath.Join(dir, stream.SeekableOf(f.Name()))); err == nil {
				r.bytes += si.Size()
			}
			out = append(out, r)
		}
	}
	return out
}

// deleteLocal deletes a recording's files from this server's disk: the recording and its
// seekable copy. The markers of their stored copies stay.
func (s *Server) deleteLocal(p string) error {
	for _, f := range []string{p, filepath.Join(filepath.Dir(p), stream.SeekableOf(filepath.Base(p)))} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
