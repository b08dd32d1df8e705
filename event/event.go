// Package event tells an application what happens to sv's streams: a publisher starts
// or stops, a recording is ready, FFmpeg is restarted, a stage fails, the analysis finds
// a cut, a black or a frozen stretch. Every event has one schema (Event, one JSON
// object) and reaches the application three ways, each a Sink:
//
//   - Lines: JSON lines to a writer (sv all --events FILE, or - for stdout);
//   - Webhook: a JSON POST to a URL, signed with HMAC-SHA256, retried with backoff;
//   - Command: a shell command run per event, the event on its stdin.
//
// A Bus hands each event to every sink through a bounded queue of the sink's own, so
// that Emit never blocks: the media path emits, and a receiver that is slow or down
// must not hold it up. A sink's events are delivered one at a time, in order. When a
// queue is full its oldest event is dropped and counted (Stats); within the bound,
// nothing is lost while a webhook's receiver is down: its events wait and are retried
// until it comes back.
//
// # Schema
//
// One JSON object per event, always with id, type, time and stream, and the fields of
// its type; consumers should ignore fields and types they do not know:
//
//	{"id":"lq3x9k2-17","type":"publish_start","time":"2026-12-05T10:00:00.120Z","stream":"cam","session":"20261205T100000.118Z","remote":"127.0.0.1:50312"}
//	{"id":"lq3x9k2-18","type":"scene_cut","time":"…","stream":"cam","session":"…","frame":90,"pts_ms":3000,"score":0.33}
//	{"id":"lq3x9k2-19","type":"ffmpeg_restart","time":"…","stream":"cam","session":"…","stage":"packaging","restarts":1,"error":"…"}
//	{"id":"lq3x9k2-20","type":"publish_end","time":"…","stream":"cam","session":"…","bytes":1048576,"duration_ms":15012,"cause":"stopped"}
//	{"id":"lq3x9k2-21","type":"recording_ready","time":"…","stream":"cam","session":"…","recording":"recordings/cam/20261205T100000Z.webm","seekable":"recordings/cam/20261205T100000Z.seekable.mkv","size":1048576,"sha256":"…"}
//
// id is unique per event within one run of sv (a webhook receiver can drop a retried
// duplicate by it), time is when it happened (RFC 3339, UTC, to the millisecond), session names
// the publisher's session (the time it began): every event of one session has the same.
package event

import "time"

// Type names what happened.
type Type string

// The event types.
const (
	// PublishStart: a publisher was admitted; Remote is its address.
	PublishStart Type = "publish_start"
	// PublishEnd: its session has ended and everything it sent is stored: Bytes,
	// DurationMs, Cause (see Causes), Error when it failed.
	PublishEnd Type = "publish_end"
	// RecordingReady: the session's recording is complete on disk: Recording, its
	// Seekable copy (if made), Size and SHA256 of the recording. Recovered: the
	// recording was found unfinished when sv started (the process had died while
	// writing it): it holds what was received, and Session is not known.
	RecordingReady Type = "recording_ready"
	// RecordingDeleted: retention deleted a finished recording and its seekable copy
	// from the disk: Recording, Size (both files), Cause ("age" or "size").
	RecordingDeleted Type = "recording_deleted"
	// FFmpegRestart: a stage's FFmpeg died and was started again: Stage, Restarts (in
	// this session), Error.
	FFmpegRestart Type = "ffmpeg_restart"
	// StageFailed: a stage failed for good (the stream goes on without it): Stage, Error.
	StageFailed Type = "stage_failed"
	// The analysis' events (package frames), with Frame, PTSMs and, per type, Score or
	// DurationMs.
	SceneCut    Type = "scene_cut"
	BlackStart  Type = "black_start"
	BlackEnd    Type = "black_end"
	FreezeStart Type = "freeze_start"
	FreezeEnd   Type = "freeze_end"
)

// Causes of a PublishEnd.
const (
	CauseStopped   = "stopped"    // the publisher closed its connection normally
	CauseDropped   = "dropped"    // its connection was lost or failed; it may come back
	CauseTakenOver = "taken_over" // another publisher took the stream over
	CauseKicked    = "kicked"     // the server's operator stopped it (the API)
	CauseShutdown  = "shutdown"   // the server is stopping
	CauseIdle      = "idle"       // the publisher sent nothing for too long
	CauseBehind    = "behind"     // the stream's media time fell too far behind the clock
	CauseError     = "error"      // sv refused its input or could not store it (Error)
)

// Event is one thing that happened to a stream. The fields after Session belong to
// some types only (see Type) and are left out of the JSON when not set.
type Event struct {
	ID      string    `json:"id"`
	Type    Type      `json:"type"`
	Time    time.Time `json:"time"`
	Stream  string    `json:"stream"`
	Session string    `json:"session,omitempty"`

	Remote     string `json:"remote,omitempty"`
	Bytes      int64  `json:"bytes,omitempty"`
	DurationMs int64  `json:"duration_ms,omitempty"`
	Cause      string `json:"cause,omitempty"`
	Recording  string `json:"recording,omitempty"`
	Seekable   string `json:"seekable,omitempty"`
	Size       int64  `json:"size,omitempty"`
	SHA256     string `json:"sha256,omitempty"`
	Stage      string `json:"stage,omitempty"`
	Restarts   int64  `json:"restarts,omitempty"`
	Error      string `json:"error,omitempty"`
	Recovered  bool   `json:"recovered,omitempty"`
	// Media is where in the stream an analysis event happened.
	*Media
}

// Media places an analysis event in the stream.
type Media struct {
	Frame int64   `json:"frame"`           // the frame's number in the session, from 0
	PTSMs int64   `json:"pts_ms"`          // its presentation time, ms
	Score float64 `json:"score,omitempty"` // SceneCut: the scene score
}

// SessionID names a session by the time it began.
func SessionID(started time.Time) string {
	return started.UTC().Format("20060102T150405.000Z")
}
