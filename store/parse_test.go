package store_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/svtool/sv/store"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in, bucket, key string
		ok              bool
	}{
		{"s3://recordings", "recordings", "", true},
		{"s3://recordings/", "recordings", "", true},
		{"s3://recordings/sv/cams/", "recordings", "sv/cams", true},
		{"s3://my.bucket-1/a", "my.bucket-1", "a", true},
		{"s3://Recordings/a", "", "", false}, // upper case
		{"s3://ab/a", "", "", false},         // too short
		{"s3:///a", "", "", false},
		{"https://recordings/a", "", "", false},
		{"recordings/a", "", "", false},
		{"s3://recordings/a//b", "", "", false},
		{"s3://recordings/a/../b", "", "", false},
		{"s3://recordings/./b", "", "", false},
		{"s3://recordings/a?b", "", "", false},
		{"s3://recordings/a\x00b", "", "", false},
		{"s3://recordings/a\xffb", "", "", false},
	} {
		loc, err := store.ParseURL(tc.in)
		if tc.ok != (err == nil) || loc.Bucket != tc.bucket || loc.Key != tc.key {
			t.Errorf("ParseURL(%q) = %+v, %v; want %q %q ok %v", tc.in, loc, err, tc.bucket, tc.key, tc.ok)
		}
		if err != nil && !errors.Is(err, store.ErrURL) {
			t.Errorf("ParseURL(%q): %v, want ErrURL", tc.in, err)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"s3://recordings/sv/cams", "s3://a.b-c/", "s3://x", "s3://recordings/a/../b", "s3://rec/\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		loc, err := store.ParseURL(s)
		if err != nil {
			return
		}
		// A location reads back as itself, and names its objects under its key.
		again, err := store.ParseURL(loc.String())
		if err != nil || again != loc {
			t.Fatalf("ParseURL(%q) = %+v, whose String %q reads as %+v, %v", s, loc, loc.String(), again, err)
		}
		obj := loc.Join("cam", "a.webm")
		if back, err := store.ParseURL(obj.String()); err != nil || back != obj || back.Bucket != loc.Bucket {
			t.Fatalf("%+v joined: %+v reads as %+v, %v", loc, obj, back, err)
		}
	})
}

func TestReadMarker(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.webm")
	if _, err := store.ReadMarker(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no marker: %v, want ErrNotExist", err)
	}
	good := `{"url":"s3://recordings/sv/cam/a.webm","size":12,"sha256":"` + sha([]byte("hello world\n")) + `"}`
	for _, tc := range []struct {
		marker string
		ok     bool
	}{
		{good, true},
		{`{"url":"s3://recordings","size":1,"sha256":"` + sha(nil) + `"}`, false}, // no key
		{`{"url":"s3://recordings/a","size":-1,"sha256":"` + sha(nil) + `"}`, false},
		{`{"url":"s3://recordings/a","size":1,"sha256":"abc"}`, false},
		{`{"url":"/tmp/a","size":1,"sha256":"` + sha(nil) + `"}`, false},
		{`not json`, false},
		{good[:len(good)-1], false},
	} {
		if err := os.WriteFile(p+store.MarkerSuffix, []byte(tc.marker), 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := store.ReadMarker(p)
		if tc.ok != (err == nil) {
			t.Errorf("marker %s: %+v, %v; want ok %v", tc.marker, m, err, tc.ok)
		}
		if err != nil && !errors.Is(err, store.ErrMarker) {
			t.Errorf("marker %s: %v, want ErrMarker", tc.marker, err)
		}
	}
}

func FuzzParseMarker(f *testing.F) {
	f.Add([]byte(`{"url":"s3://recordings/sv/cam/a.webm","size":12,"sha256":"a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447","etag":"x","stored":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"url":"s3://recordings","size":-1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := store.ParseMarker(b)
		if err != nil {
			if !errors.Is(err, store.ErrMarker) {
				t.Fatalf("%v: not ErrMarker", err)
			}
			return
		}
		// A marker that reads names an object, and reads the same once written again.
		if loc := m.Location(); loc.Bucket == "" || loc.Key == "" {
			t.Fatalf("marker %+v names no object", m)
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := store.ParseMarker(again)
		if err != nil || m2.URL != m.URL || m2.Size != m.Size || m2.SHA256 != m.SHA256 || !m2.Stored.Equal(m.Stored) {
			t.Fatalf("marker %+v written again reads as %+v, %v", m, m2, err)
		}
	})
}
