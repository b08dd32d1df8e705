package live

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/svtool/sv/event"
	"github.com/svtool/sv/internal/testenv"
)

// oldRecording writes a finished recording (with a seekable copy of size seekable, if >
// 0) under out, last written at mod.
func oldRecording(t *testing.T, out, name, file string, size, seekable int, mod time.Time) string {
	t.Helper()
	dir := filepath.Join(out, "recordings", name)
	os.MkdirAll(dir, 0o755)
	p := filepath.Join(dir, file)
	files := map[string]int{p: size}
	if seekable > 0 {
		files[filepath.Join(dir, file[:len(file)-len(".webm")]+".seekable.mkv")] = seekable
	}
	for f, n := range files {
		if err := os.WriteFile(f, make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestRetention: recordings older than KeepRecordings are deleted with their seekable
// copies, then the oldest while all of them take more than KeepBytes; one left
// unfinished, and one not yet in the Store, are kept whatever their age. Each deletion is
// announced and counted.
func TestRetention(t *testing.T) {
	out := t.TempDir()
	now := time.Now()
	old := oldRecording(t, out, "cam", "20261101T100000Z.webm", 1000, 500, now.Add(-48*time.Hour))
	older := oldRecording(t, out, "cam", "20261101T090000Z.webm", 1000, 0, now.Add(-72*time.Hour))
	unfinished := oldRecording(t, out, "cam", "20261101T080000Z.webm", 1000, 0, now.Add(-96*time.Hour))
	os.WriteFile(filepath.Join(out, "recordings", "cam", ".20261101T080000Z.webm.unfinished"), nil, 0o644)
	big1 := oldRecording(t, out, "lobby", "20261204T100000Z.webm", 4000, 4000, now.Add(-3*time.Hour))
	big2 := oldRecording(t, out, "lobby", "20261204T110000Z.webm", 4000, 4000, now.Add(-2*time.Hour))
	recent := oldRecording(t, out, "cam", "20261204T120000Z.webm", 3000, 0, now.Add(-time.Hour))

	log := newEventLog(t)
	addr, _ := serveTest(t, Options{Out: out, KeepRecordings: 24 * time.Hour, KeepBytes: 12000, Events: log.bus})
	testenv.WaitFor(t, "retention to delete", func() bool {
		return len(of(log.events(t), event.RecordingDeleted)) >= 3
	})
	for p, want := range map[string]bool{old: false, older: false, unfinished: true, big1: false, big2: true, recent: true} {
		if exists(p) != want {
			t.Errorf("%s: there %v, want %v", p, exists(p), want)
		}
	}
	if exists(filepath.Join(out, "recordings", "cam", "20261101T100000Z.seekable.mkv")) ||
		exists(filepath.Join(out, "recordings", "lobby", "20261204T100000Z.seekable.mkv")) {
		t.Error("a deleted recording's seekable copy is still there")
	}
	causes := map[string]int{}
	for _, e := range of(log.events(t), event.RecordingDeleted) {
		causes[e.Cause]++
	}
	if causes["age"] != 2 || causes["size"] != 1 {
		t.Errorf("recording_deleted causes %v, want 2 age, 1 size", causes)
	}
	if v := metricValue(t, addr, `sv_recordings_deleted_total{cause="age"}`); v != 2 {
		t.Errorf("sv_recordings_deleted_total{cause=age} %v", v)
	}
	if v := metricValue(t, addr, "sv_recordings_bytes"); v != 11000 {
		t.Errorf("sv_recordings_bytes %v, want 11000 (lobby's last with its copy, cam's recent)", v)
	}
}

// TestRetentionWaitsForStore: with a Store, a recording past its retention that is not
// stored yet is kept; once its marker (and its seekable copy's) is there, it is deleted
// from the disk, and the markers stay.
func TestRetentionWaitsForStore(t *testing.T) {
	out := t.TempDir()
	p := oldRecording(t, out, "cam", "20261101T100000Z.webm", 1000, 500, time.Now().Add(-48*time.Hour))
	seekable := filepath.Join(filepath.Dir(p), "20261101T100000Z.seekable.mkv")
	os.WriteFile(p+StoredSuffix, []byte(`{"url":"s3://b/k","size":1000}`), 0o644)
	srv, err := New(Options{Out: out, KeepRecordings: 10 * time.Second, Store: &putStore{}})
	if err != nil {
		t.Fatal(err)
	}
	srv.retain()
	if !exists(p) {
		t.Fatal("deleted while its seekable copy is not stored yet")
	}
	os.WriteFile(seekable+StoredSuffix, []byte(`{"url":"s3://b/k2","size":500}`), 0o644)
	srv.retain()
	if exists(p) || exists(seekable) || !exists(p+StoredSuffix) || !exists(seekable+StoredSuffix) {
		t.Errorf("once stored: recording there %v, copy %v, markers %v %v; want the files gone, the markers kept",
			exists(p), exists(seekable), exists(p+StoredSuffix), exists(seekable+StoredSuffix))
	}
	srv.Close()
}
