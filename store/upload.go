package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/minio/minio-go/v7"
)

// ErrMismatch: what the store holds is not what was read from the file.
var ErrMismatch = errors.New("the stored object does not match the file")

// store uploads the file at path, checks what the store holds and writes the marker;
// with Options.RemoveLocal it then removes the file. A file stored already is not
// uploaded again.
func (s *Store) store(ctx context.Context, path string) error {
	if _, err := ReadMarker(path); err == nil {
		return s.removeLocal(path)
	}
	loc, err := s.object(path)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return errGone
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	start := time.Now()
	multipart := size > s.o.PartSize // as minio-go decides
	parts, partSize := 1, max(size, 1)
	if multipart {
		if parts, partSize, _, err = minio.OptimalPartInfo(size, uint64(s.o.PartSize)); err != nil {
			return err
		}
		// The parts of an upload that was interrupted (sv stopped, the store went down)
		// are of no use: this one starts again from the first byte.
		if err := s.client.RemoveIncompleteUpload(ctx, loc.Bucket, loc.Key); err != nil {
			return fmt.Errorf("abort an earlier upload of %s: %w", loc, err)
		}
	}
	h := newPartHasher(partSize)
	var r io.Reader = f
	if s.o.Rate > 0 {
		r = &pacedReader{ctx: ctx, r: f, rate: s.o.Rate, start: time.Now()}
	}
	info, err := s.client.PutObject(ctx, loc.Bucket, loc.Key, io.TeeReader(r, h), size, minio.PutObjectOptions{
		ContentType:          contentType(path),
		PartSize:             uint64(s.o.PartSize),
		Checksum:             minio.ChecksumSHA256,
		DisableContentSha256: true,
	})
	if err != nil {
		return fmt.Errorf("upload %s to %s: %w", path, loc, err)
	}
	sum := h.sum()
	if h.n != size || info.Size != size {
		return fmt.Errorf("upload %s: %d bytes read and %d sent, want %d: %w", path, h.n, info.Size, size, ErrMismatch)
	}
	want := h.checksum(multipart, parts)
	if err := s.check(ctx, loc, size, want, sum); err != nil {
		return fmt.Errorf("check %s: %w", loc, err)
	}
	m := Marker{URL: loc.String(), Size: size, SHA256: hex.EncodeToString(sum), ETag: info.ETag, Stored: time.Now().UTC()}
	if err := writeMarker(path, m); err != nil {
		return err
	}
	s.bytes.Add(size)
	s.stored.Add(1)
	d := time.Since(start)
	s.log.Info("stored", "file", path, "url", m.URL, "size", size, "parts", parts, "duration", d.Round(time.Millisecond),
		"mb_per_s", strconv.FormatFloat(float64(size)/1e6/max(d.Seconds(), 1e-6), 'f', 1, 64))
	return s.removeLocal(path)
}

// check compares the object at loc with the file it was read from: its size, and the
// SHA-256 checksum the store keeps of it (want, as the store writes it); when the store
// keeps none, the SHA-256 of the object read back with the file's (sum).
func (s *Store) check(ctx context.Context, loc Location, size int64, want string, sum []byte) error {
	oi, err := s.client.StatObject(ctx, loc.Bucket, loc.Key, minio.StatObjectOptions{Checksum: true})
	if err != nil {
		return err
	}
	if oi.Size != size {
		return fmt.Errorf("%w: %d bytes, want %d", ErrMismatch, oi.Size, size)
	}
	if got := oi.ChecksumSHA256; got != "" {
		if got != want {
			return fmt.Errorf("%w: SHA-256 checksum %s, want %s", ErrMismatch, got, want)
		}
		return nil
	}
	obj, err := s.client.GetObject(ctx, loc.Bucket, loc.Key, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer obj.Close()
	h := sha256.New()
	n, err := io.Copy(h, obj)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if n != size || !bytes.Equal(h.Sum(nil), sum) {
		return fmt.Errorf("%w: read back %d bytes, SHA-256 %x, want %d bytes, %x", ErrMismatch, n, h.Sum(nil), size, sum)
	}
	return nil
}

// removeLocal removes the stored file at path with Options.RemoveLocal.
func (s *Store) removeLocal(path string) error {
	if !s.o.RemoveLocal {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the stored file: %w", err)
	}
	return nil
}

// partHasher computes, from the bytes written to it, the SHA-256 of the whole and of each
// part of partSize bytes: what a store's checksum of an object uploaded whole, or in
// parts, is made of.
type partHasher struct {
	whole, part hash.Hash
	partSize    int64
	inPart, n   int64
	parts       []byte // the parts' SHA-256, one after the other
}

func newPartHasher(partSize int64) *partHasher {
	return &partHasher{whole: sha256.New(), part: sha256.New(), partSize: partSize}
}

func (h *partHasher) Write(p []byte) (int, error) {
	n := len(p)
	h.whole.Write(p)
	h.n += int64(n)
	for len(p) > 0 {
		k := min(int64(len(p)), h.partSize-h.inPart)
		h.part.Write(p[:k])
		h.inPart += k
		p = p[k:]
		if h.inPart == h.partSize {
			h.parts = h.part.Sum(h.parts)
			h.part.Reset()
			h.inPart = 0
		}
	}
	return n, nil
}

// sum is the SHA-256 of everything written.
func (h *partHasher) sum() []byte { return h.whole.Sum(nil) }

// checksum is the SHA-256 checksum a store keeps of the object, base64: of the whole for
// an object uploaded whole; for one uploaded in parts, of the parts' SHA-256 one after
// the other, followed by -PARTS (a composite checksum).
func (h *partHasher) checksum(multipart bool, parts int) string {
	if !multipart {
		return base64.StdEncoding.EncodeToString(h.sum())
	}
	all := h.parts
	if h.inPart > 0 {
		all = h.part.Sum(all)
	}
	c := sha256.Sum256(all)
	return base64.StdEncoding.EncodeToString(c[:]) + "-" + strconv.Itoa(parts)
}

// pacedReader reads at rate bytes a second at most, on average since start.
type pacedReader struct {
	ctx   context.Context
	r     io.Reader
	rate  int64
	start time.Time
	n     int64
}

func (p *pacedReader) Read(b []byte) (int, error) {
	b = b[:min(int64(len(b)), max(p.rate/10, 32<<10))] // a tenth of a second at a time
	n, err := p.r.Read(b)
	p.n += int64(n)
	due := time.Duration(float64(p.n) / float64(p.rate) * float64(time.Second))
	if wait := due - time.Since(p.start); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-p.ctx.Done():
			return n, p.ctx.Err()
		case <-t.C:
		}
	}
	return n, err
}
