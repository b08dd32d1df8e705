package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/svtool/sv/internal/testenv"
	"github.com/svtool/sv/store"
)

const bucket = "recordings"

// startS3 starts an S3-compatible server with the bucket made, and returns it with a
// client of its own, to look at what the store holds.
func startS3(t *testing.T) (*testenv.S3, *minio.Client) {
	t.Helper()
	srv := testenv.StartS3(t)
	c, err := minio.New(strings.TrimPrefix(srv.Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(srv.Access, srv.Secret, ""), BucketLookup: minio.BucketLookupPath, Region: "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// newStore makes a Store of the server for the output folder out, with o's other options.
func newStore(t *testing.T, srv *testenv.S3, out string, o store.Options) *store.Store {
	t.Helper()
	o.URL, o.Endpoint, o.Out = "s3://"+bucket+"/sv/rec", srv.Endpoint, out
	o.AccessKey, o.SecretKey = srv.Access, srv.Secret
	o.Log = slog.New(slog.NewTextHandler(testLog{t}, nil))
	if o.Backoff == 0 {
		o.Backoff, o.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	}
	s, err := store.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testLog writes a Store's log to the test's.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// run runs s until the test ends, or until the returned function is called.
func run(t *testing.T, s *store.Store) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// recording writes a file of n random bytes as a recording of stream under out.
func recording(t *testing.T, out, stream, file string, n int) string {
	t.Helper()
	dir := filepath.Join(out, "recordings", stream)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(n), byte(len(file))})
	r.Read(b)
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitStored waits for the marker of each file and returns them.
func waitStored(t *testing.T, paths ...string) []store.Marker {
	t.Helper()
	var ms []store.Marker
	for _, p := range paths {
		var m store.Marker
		testenv.WaitFor(t, "the marker of "+p, func() bool {
			var err error
			m, err = store.ReadMarker(p)
			return err == nil
		})
		ms = append(ms, m)
	}
	return ms
}

// object reads an object's bytes.
func object(t *testing.T, c *minio.Client, key string) []byte {
	t.Helper()
	obj, err := c.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// checkStored checks that the object of each file holds the file's bytes, and that its
// marker says so; want are the files' bytes.
func checkStored(t *testing.T, c *minio.Client, want map[string][]byte) {
	t.Helper()
	for p, b := range want {
		m, err := store.ReadMarker(p)
		if err != nil {
			t.Fatal(err)
		}
		key := "sv/rec/" + filepath.Base(filepath.Dir(p)) + "/" + filepath.Base(p)
		if m.URL != "s3://"+bucket+"/"+key || m.Size != int64(len(b)) || m.SHA256 != sha(b) {
			t.Errorf("marker of %s: %+v, want url s3://%s/%s, size %d, sha256 %s", p, m, bucket, key, len(b), sha(b))
		}
		oi, err := c.StatObject(context.Background(), bucket, key, minio.StatObjectOptions{Checksum: true})
		if err != nil {
			t.Fatal(err)
		}
		// The checksum the Store sent: of the whole, or of the parts for a multipart upload.
		sum := sha256.Sum256(b)
		if whole := base64.StdEncoding.EncodeToString(sum[:]); len(b) > 0 && oi.ChecksumSHA256 != whole && !strings.HasSuffix(oi.ChecksumSHA256, "-3") {
			t.Errorf("object %s: SHA-256 checksum %q, want %q (or a composite one of 3 parts)", key, oi.ChecksumSHA256, whole)
		}
		if got := object(t, c, key); !bytes.Equal(got, b) {
			t.Errorf("object %s: %d bytes, sha256 %s; want the file's %d bytes, %s", key, len(got), sha(got), len(b), sha(b))
		}
	}
}

func TestUpload(t *testing.T) {
	srv, c := startS3(t)
	out := t.TempDir()
	s := newStore(t, srv, out, store.Options{PartSize: store.MinPartSize})
	run(t, s)
	want := map[string][]byte{}
	for _, f := range []struct {
		stream, file string
		size         int
	}{
		{"cam", "20260101T000000Z.webm", 300 << 10},
		{"cam", "20260101T000000Z.seekable.mkv", 290 << 10},
		{"door-2", "20260101T000100Z.mp4", 1},
		{"door-2", "20260101T000100Z.seekable.mp4", 0},
		{"big", "20260101T000200Z.webm", 2*store.MinPartSize + 12345}, // three parts
		{"big", "20260101T000300Z.webm", store.MinPartSize},           // one, whole
	} {
		p := recording(t, out, f.stream, f.file, f.size)
		want[p], _ = os.ReadFile(p)
		s.Put(p)
	}
	for p := range want {
		waitStored(t, p)
	}
	checkStored(t, c, want)
	if st := s.Stats(); st.Stored != int64(len(want)) || st.Failures != 0 {
		t.Errorf("stats %+v, want %d stored, no failures", st, len(want))
	}
}
