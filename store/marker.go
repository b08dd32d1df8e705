package store

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/svtool/sv/stream"
)

// MarkerSuffix names a file's marker: PATH.stored beside PATH says that PATH is stored.
const MarkerSuffix = stream.StoredSuffix

// Marker is what a marker file holds: where a file is stored and what was stored, as
// checked against the store.
type Marker struct {
	URL    string    `json:"url"`    // s3://BUCKET/KEY
	Size   int64     `json:"size"`   // bytes
	SHA256 string    `json:"sha256"` // hex, of the whole file
	ETag   string    `json:"etag,omitempty"`
	Stored time.Time `json:"stored"` // when the upload was checked
}

// ErrMarker refuses a marker file that does not say where a file is stored.
var ErrMarker = errors.New("not a marker of a stored file")

// maxMarker bounds the bytes of a marker file that are read.
const maxMarker = 4 << 10

// ReadMarker reads the marker of the file at path (PATH.stored). An error that
// errors.Is(err, fs.ErrNotExist) means that the file is not stored.
func ReadMarker(path string) (Marker, error) {
	f, err := os.Open(path + MarkerSuffix)
	if err != nil {
		return Marker{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMarker+1))
	if err != nil {
		return Marker{}, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	if len(b) > maxMarker {
		return Marker{}, fmt.Errorf("%s: too long: %w", f.Name(), ErrMarker)
	}
	m, err := ParseMarker(b)
	if err != nil {
		return Marker{}, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return m, nil
}

// ParseMarker reads a marker file's bytes.
func ParseMarker(b []byte) (Marker, error) {
	var m Marker
	if err := json.Unmarshal(b, &m); err != nil {
		return Marker{}, fmt.Errorf("%w: %w", ErrMarker, err)
	}
	loc, err := ParseURL(m.URL)
	switch {
	case err != nil:
		return Marker{}, fmt.Errorf("%w: url: %w", ErrMarker, err)
	case loc.Key == "":
		return Marker{}, fmt.Errorf("%w: url %q names no object", ErrMarker, m.URL)
	case m.Size < 0:
		return Marker{}, fmt.Errorf("%w: size %d", ErrMarker, m.Size)
	case len(m.SHA256) != 64 || !isHex(m.SHA256):
		return Marker{}, fmt.Errorf("%w: sha256 %q", ErrMarker, m.SHA256)
	}
	return m, nil
}

// Location is where the marker says its file is stored.
func (m Marker) Location() Location {
	loc, _ := ParseURL(m.URL) // checked by ParseMarker, or written by writeMarker
	return loc
}

// writeMarker writes the marker of the file at path atomically: to a temporary file,
// synced, renamed to PATH.stored, and the folder synced, so that after a crash the
// marker is either whole or absent.
func writeMarker(path string, m Marker) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	name := path + MarkerSuffix
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(name)+".*.tmp") // hidden: no recording's
	if err != nil {
		return fmt.Errorf("write marker: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write marker: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename or a removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}
