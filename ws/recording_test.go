package ws

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCreateRecording(t *testing.T) {
	dir := t.TempDir()
	var names []string
	for _, data := range []string{"first", "second"} {
		r, err := CreateRecording(dir, "20260101T000000Z", ".webm", 4)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.Base(r.Name()))
		if b, err := os.ReadFile(r.Name()); err != nil || string(b) != data {
			t.Errorf("%s holds %q, %v; want %q", r.Name(), b, err, data)
		}
	}
	// The same start time again: a new name, the first recording untouched.
	if names[0] != "20260101T000000Z.webm" || names[1] != "20260101T000000Z-2.webm" {
		t.Errorf("names %q", names)
	}
}

func TestRecordingPipe(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	r := NewRecording(pw, 0)
	if _, err := r.Write([]byte("live")); err != nil {
		t.Fatal(err)
	}
	// Unbuffered: the reader has the bytes at once. A pipe has nothing to fsync.
	buf := make([]byte, 4)
	if n, err := pr.Read(buf); err != nil || string(buf[:n]) != "live" {
		t.Errorf("read %q, %v", buf[:n], err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
