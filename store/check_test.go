package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/svtool/sv/internal/testenv"
)

// check tells an object that holds the file's bytes from one that does not, by the
// store's checksum, or by reading it back when the store keeps none.
func TestCheck(t *testing.T) {
	srv := testenv.StartS3(t)
	s, err := New(Options{URL: "s3://bkt/p", Endpoint: srv.Endpoint, AccessKey: srv.Access, SecretKey: srv.Secret, Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	raw, err := minio.New(strings.TrimPrefix(srv.Endpoint, "http://"), &minio.Options{Creds: credentials.NewStaticV4(srv.Access, srv.Secret, ""), BucketLookup: minio.BucketLookupPath, TrailingHeaders: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.MakeBucket(ctx, "bkt", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	file := bytes.Repeat([]byte("recording "), 1000)
	other := bytes.Clone(file)
	other[5000] ^= 1
	sum, otherSum := sha256.Sum256(file), sha256.Sum256(other)
	b64 := func(b [32]byte) string { return base64.StdEncoding.EncodeToString(b[:]) }

	withSum := Location{"bkt", "p/with"}
	if _, err := raw.PutObject(ctx, "bkt", withSum.Key, bytes.NewReader(file), int64(len(file)), minio.PutObjectOptions{Checksum: minio.ChecksumSHA256, DisableContentSha256: true}); err != nil {
		t.Fatal(err)
	}
	without := Location{"bkt", "p/without"}
	if _, err := raw.PutObject(ctx, "bkt", without.Key, bytes.NewReader(file), int64(len(file)), minio.PutObjectOptions{AutoChecksum: minio.ChecksumCRC32C, DisableContentSha256: true}); err != nil {
		t.Fatal(err)
	}
	if oi, err := raw.StatObject(ctx, "bkt", without.Key, minio.StatObjectOptions{Checksum: true}); err != nil || oi.ChecksumSHA256 != "" {
		t.Fatalf("an object stored without a SHA-256 checksum has %q (%v)", oi.ChecksumSHA256, err)
	}
	for _, tc := range []struct {
		name string
		loc  Location
		size int64
		want string
		sum  [32]byte
		ok   bool
	}{
		{"checksum", withSum, int64(len(file)), b64(sum), sum, true},
		{"checksum differs", withSum, int64(len(file)), b64(otherSum), otherSum, false},
		{"size differs", withSum, int64(len(file)) + 1, b64(sum), sum, false},
		{"read back", without, int64(len(file)), b64(sum), sum, true},
		{"read back differs", without, int64(len(file)), b64(otherSum), otherSum, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.check(ctx, tc.loc, tc.size, tc.want, tc.sum[:])
			if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrMismatch) {
				t.Errorf("check: %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// partHasher's checksum of an object uploaded in parts is the SHA-256 of the parts'
// SHA-256, whatever the writes' sizes.
func TestPartHasher(t *testing.T) {
	data := make([]byte, 10_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	const part = 3000
	var all []byte
	for off := 0; off < len(data); off += part {
		s := sha256.Sum256(data[off:min(off+part, len(data))])
		all = append(all, s[:]...)
	}
	c := sha256.Sum256(all)
	want := base64.StdEncoding.EncodeToString(c[:]) + "-4"
	whole := sha256.Sum256(data)
	for _, step := range []int{1, 7, 2999, 3000, 3001, 10_000} {
		h := newPartHasher(part)
		for off := 0; off < len(data); off += step {
			h.Write(data[off:min(off+step, len(data))])
		}
		if got := h.checksum(true, 4); got != want {
			t.Errorf("writes of %d: composite %s, want %s", step, got, want)
		}
		if got := h.checksum(false, 1); got != base64.StdEncoding.EncodeToString(whole[:]) {
			t.Errorf("writes of %d: whole %s", step, got)
		}
	}
}
