package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
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
func startS3(t testing.TB) (*testenv.S3, *minio.Client) {
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
func newStore(t testing.TB, srv *testenv.S3, out string, o store.Options) *store.Store {
	t.Helper()
	o.URL, o.Endpoint, o.Out = "s3://"+bucket+"/sv/rec", srv.Endpoint, out
	o.AccessKey, o.SecretKey = srv.Access, srv.Secret
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(testLog{t}, nil))
	}
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
type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// run runs s until the test ends, or until the returned function is called.
func run(t testing.TB, s *store.Store) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// recording writes a file of n random bytes as a recording of stream under out.
func recording(t testing.TB, out, stream, file string, n int) string {
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
func waitStored(t testing.TB, paths ...string) []store.Marker {
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

// idle waits until s has nothing left to do: its last file marked and taken off the queue.
func idle(t testing.TB, s *store.Store) store.Stats {
	t.Helper()
	testenv.WaitFor(t, "the queue to empty", func() bool { return s.Stats().Queued == 0 })
	return s.Stats()
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

// composite is a composite checksum: of the parts' checksums, then the number of parts.
var composite = regexp.MustCompile(`^[A-Za-z0-9+/]{43}=-[0-9]+$`)

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
		if whole := base64.StdEncoding.EncodeToString(sum[:]); len(b) > 0 && oi.ChecksumSHA256 != whole && !composite.MatchString(oi.ChecksumSHA256) {
			t.Errorf("object %s: SHA-256 checksum %q, want %q or a composite one of parts", key, oi.ChecksumSHA256, whole)
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
	if st := idle(t, s); st.Stored != int64(len(want)) || st.Failures != 0 {
		t.Errorf("stats %+v, want %d stored, no failures", st, len(want))
	}
}

// gate holds the first request that match selects until release is closed (or the
// request is cancelled); hit is closed when it arrives.
type gate struct {
	match   func(*http.Request) bool
	hit     chan struct{}
	release chan struct{}
	once    sync.Once
	rt      http.RoundTripper
}

func newGate(match func(*http.Request) bool) *gate {
	return &gate{match: match, hit: make(chan struct{}), release: make(chan struct{}), rt: http.DefaultTransport.(*http.Transport).Clone()}
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	held := false
	if g.match(r) {
		g.once.Do(func() { held = true; close(g.hit) })
	}
	if held {
		select {
		case <-g.release:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return g.rt.RoundTrip(r)
}

// wait waits for the gate's request.
func (g *gate) wait(t *testing.T, what string) {
	t.Helper()
	select {
	case <-g.hit:
	case <-time.After(testenv.Hang):
		t.Fatalf("waited %s for %s", testenv.Hang, what)
	}
}

// secondPart is the upload of a multipart upload's second part.
func secondPart(r *http.Request) bool {
	return r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == "2"
}

// incomplete lists the multipart uploads under way under the prefix.
func incomplete(t *testing.T, c *minio.Client, prefix string) []string {
	t.Helper()
	var keys []string
	for u := range c.ListIncompleteUploads(context.Background(), bucket, prefix, true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		keys = append(keys, u.Key+" "+u.UploadID)
	}
	return keys
}

// An upload interrupted half-way (sv stopped) leaves its file without a marker; a new
// Store given the file again uploads it whole, and does not upload again a file stored
// already.
func TestResume(t *testing.T) {
	srv, c := startS3(t)
	out := t.TempDir()
	big := recording(t, out, "cam", "20260101T000000Z.webm", 3*store.MinPartSize+100)
	small := recording(t, out, "cam", "20260101T000000Z.seekable.mkv", 1000)
	g := newGate(secondPart)
	s := newStore(t, srv, out, store.Options{PartSize: store.MinPartSize, Transport: g})
	stop := run(t, s)
	s.Put(small)
	s.Put(big)
	waitStored(t, small)
	g.wait(t, "the second part of "+big)
	if len(incomplete(t, c, "sv/rec/cam/")) != 1 {
		t.Fatalf("no multipart upload under way")
	}
	stop() // as if sv stopped in the middle of the upload
	if _, err := store.ReadMarker(big); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("interrupted upload: marker: %v, want none", err)
	}

	// A recording whose session is running, with its hidden marker (or one left by a
	// process that died: sv finishes it first), is not uploaded.
	live := recording(t, out, "cam", "20260101T000100Z.webm", 1000)
	if err := os.WriteFile(filepath.Join(out, "recordings", "cam", ".20260101T000100Z.webm.unfinished"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	s2 := newStore(t, srv, out, store.Options{PartSize: store.MinPartSize})
	run(t, s2) // finds the file not stored
	waitStored(t, big)
	want := map[string][]byte{}
	for _, p := range []string{big, small} {
		want[p], _ = os.ReadFile(p)
	}
	checkStored(t, c, want)
	if st := idle(t, s2); st.Stored != 1 || st.Bytes != int64(len(want[big])) || st.Queued != 0 {
		t.Errorf("after the restart: %+v, want only %s uploaded", st, big)
	}
	if _, err := store.ReadMarker(live); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a recording being written: marker: %v, want none", err)
	}
	if left := incomplete(t, c, "sv/rec/"); len(left) != 0 {
		t.Errorf("the interrupted upload is still under way: %v", left)
	}
}

// While the store is down, uploads fail and are retried, the files stay where they are;
// once it is back, every file is stored, and (RemoveLocal) removed.
func TestStoreDown(t *testing.T) {
	srv, c := startS3(t)
	out := t.TempDir()
	big := recording(t, out, "cam", "20260101T000000Z.webm", 2*store.MinPartSize+1)
	g := newGate(secondPart)
	s := newStore(t, srv, out, store.Options{PartSize: store.MinPartSize, Transport: g, RemoveLocal: true})
	run(t, s)
	s.Put(big)
	g.wait(t, "the second part of "+big)
	srv.Stop() // in the middle of an upload
	close(g.release)
	want := map[string][]byte{}
	want[big], _ = os.ReadFile(big)
	paths := []string{big}
	for i := range 3 {
		p := recording(t, out, "door", fmt.Sprintf("20260101T00000%dZ.mp4", i), 1000+i)
		want[p], _ = os.ReadFile(p)
		paths = append(paths, p)
		s.Put(p)
	}
	testenv.WaitFor(t, "uploads to fail and be tried again", func() bool { return s.Stats().Failures >= 4 })
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("while the store is down: %v", err)
		}
		if _, err := store.ReadMarker(p); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("while the store is down: marker of %s: %v, want none", p, err)
		}
	}
	srv.Start()
	waitStored(t, paths...)
	for _, p := range paths {
		testenv.WaitFor(t, p+" to be removed", func() bool {
			_, err := os.Stat(p)
			return errors.Is(err, fs.ErrNotExist)
		})
	}
	checkStored(t, c, want)
	if st := idle(t, s); st.Stored != int64(len(paths)) || st.Queued != 0 {
		t.Errorf("stats %+v, want %d stored, none queued", st, len(paths))
	}
	// The upload the store's fall cut short could not be aborted then: it was, before
	// the file was uploaded again.
	if left := incomplete(t, c, "sv/rec/"); len(left) != 0 {
		t.Errorf("the interrupted upload is still under way: %v", left)
	}
}

// With RemoveLocal, a file is there until its marker is written, and gone after.
func TestRemoveLocal(t *testing.T) {
	srv, c := startS3(t)
	out := t.TempDir()
	p := recording(t, out, "cam", "20260101T000000Z.webm", 5000)
	b, _ := os.ReadFile(p)
	g := newGate(func(r *http.Request) bool { return r.Method == http.MethodHead }) // the check
	s := newStore(t, srv, out, store.Options{Transport: g, RemoveLocal: true})
	run(t, s)
	s.Put(p)
	g.wait(t, "the check of the upload")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("uploaded, not checked: %v", err)
	}
	if _, err := store.ReadMarker(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("uploaded, not checked: marker: %v, want none", err)
	}
	close(g.release)
	testenv.WaitFor(t, p+" to be removed", func() bool {
		_, err := os.Stat(p)
		return errors.Is(err, fs.ErrNotExist)
	})
	checkStored(t, c, map[string][]byte{p: b}) // the marker stays

	// A marker that cannot be written: the file stays, and is stored once it can be.
	r := recording(t, out, "cam", "20260101T000200Z.webm", 3000)
	rb, _ := os.ReadFile(r)
	if err := os.Mkdir(r+store.MarkerSuffix, 0o755); err != nil {
		t.Fatal(err)
	}
	s.Put(r)
	testenv.WaitFor(t, "the marker to fail", func() bool { return s.Stats().Failures > 0 })
	if _, err := os.Stat(r); err != nil {
		t.Fatalf("no marker written: %v", err)
	}
	if err := os.Remove(r + store.MarkerSuffix); err != nil {
		t.Fatal(err)
	}
	waitStored(t, r)
	testenv.WaitFor(t, r+" to be removed", func() bool {
		_, err := os.Stat(r)
		return errors.Is(err, fs.ErrNotExist)
	})
	checkStored(t, c, map[string][]byte{r: rb})

	// sv stopped between the marker and the removal: the file is removed, not uploaded.
	q := recording(t, out, "cam", "20260101T000100Z.webm", 7000)
	qb, _ := os.ReadFile(q)
	s.Put(q)
	waitStored(t, q)
	testenv.WaitFor(t, q+" to be removed", func() bool {
		_, err := os.Stat(q)
		return errors.Is(err, fs.ErrNotExist)
	})
	if err := os.WriteFile(q, []byte("not what was stored"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Put(q)
	testenv.WaitFor(t, q+" to be removed again", func() bool {
		_, err := os.Stat(q)
		return errors.Is(err, fs.ErrNotExist)
	})
	checkStored(t, c, map[string][]byte{q: qb})
	if st := idle(t, s); st.Stored != 3 {
		t.Errorf("stats %+v, want 3 uploads", st)
	}
}

// URL is a presigned URL that fetches the stored file, also once the file is removed;
// a file not stored has none.
func TestURL(t *testing.T) {
	srv, _ := startS3(t)
	out := t.TempDir()
	p := recording(t, out, "cam", "20260101T000000Z.seekable.mp4", 123456)
	b, _ := os.ReadFile(p)
	s := newStore(t, srv, out, store.Options{RemoveLocal: true, URLExpiry: time.Minute})
	ctx := context.Background()
	if u, ok := s.URL(ctx, p); ok {
		t.Fatalf("URL of a file not stored: %q", u)
	}
	run(t, s)
	s.Put(p)
	waitStored(t, p)
	testenv.WaitFor(t, p+" to be removed", func() bool {
		_, err := os.Stat(p)
		return errors.Is(err, fs.ErrNotExist)
	})
	u, ok := s.URL(ctx, p)
	if !ok {
		t.Fatal("no URL of a stored file")
	}
	if !strings.HasPrefix(u, srv.Endpoint+"/"+bucket+"/sv/rec/cam/20260101T000000Z.seekable.mp4?") || !strings.Contains(u, "X-Amz-Signature=") {
		t.Errorf("URL %s: want a presigned URL of the object", u)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, b) {
		t.Fatalf("GET the URL: %s, %d bytes, want 200 and the file's %d bytes", resp.Status, len(got), len(b))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "video/mp4" {
		t.Errorf("Content-Type %q, want video/mp4", ct)
	}
	// The URL is signed: changed, it is refused.
	resp2, err := http.Get(strings.Replace(u, "seekable.mp4", "seekable.mkv", 1))
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusForbidden {
		t.Errorf("a changed URL: %s, want 403", resp2.Status)
	}
}

// Files that are not recordings under the output folder are not stored.
func TestPutRefuses(t *testing.T) {
	srv, c := startS3(t)
	out := t.TempDir()
	s := newStore(t, srv, out, store.Options{})
	run(t, s)
	other := t.TempDir()
	var refused []string
	for _, p := range []string{
		filepath.Join(other, "recordings", "cam", "a.webm"),      // not under out
		filepath.Join(out, "live", "cam", "chunk-stream0-1.m4s"), // not a recording
		filepath.Join(out, "recordings", "a.webm"),               // no stream
		filepath.Join(out, "recordings", "cam", "a.webm.stored"), // a marker
		filepath.Join(out, "recordings", "c a m", "a.webm"),      // not a stream's name
		filepath.Join(out, "recordings", "cam", "x", "a.webm"),   // too deep
		filepath.Join(out, "recordings", "cam", ".a.webm"),       // hidden
		filepath.Join(out, "recordings", "cam", "..", "a.webm"),  // no stream
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		s.Put(p)
		refused = append(refused, p)
	}
	ok := recording(t, out, "cam", "b.webm", 10)
	s.Put(ok)
	waitStored(t, ok)
	if st := idle(t, s); st.Stored != 1 || st.Queued != 0 {
		t.Errorf("stats %+v, want only %s stored", st, ok)
	}
	for _, p := range refused {
		if _, err := store.ReadMarker(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: marker: %v, want none", p, err)
		}
	}
	var keys []string
	for o := range c.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		keys = append(keys, o.Key)
	}
	if len(keys) != 1 || keys[0] != "sv/rec/cam/b.webm" {
		t.Errorf("objects %v, want sv/rec/cam/b.webm", keys)
	}
}

// Options.Rate bounds how fast a file is read and sent.
func TestRate(t *testing.T) {
	srv, c := startS3(t)
	out := t.TempDir()
	p := recording(t, out, "cam", "20260101T000000Z.webm", 1<<20)
	b, _ := os.ReadFile(p)
	s := newStore(t, srv, out, store.Options{Rate: 1 << 20})
	run(t, s)
	start := time.Now()
	s.Put(p)
	waitStored(t, p)
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("1 MiB at 1 MiB/s stored in %s", d)
	}
	checkStored(t, c, map[string][]byte{p: b})
}
