// Package store keeps sv's finished recordings in an S3-compatible object store: AWS S3,
// or a self-hosted one (MinIO, Ceph, Garage, versitygw, ...).
//
// A Store uploads each file it is given (Put) to s3://BUCKET/PREFIX/{stream}/{file}, one
// file at a time, in a goroutine of its own (Run), so that the live streams never wait
// for it. A file larger than the part size goes up in parts (multipart upload), read
// from the disk one part at a time: the memory an upload takes is one part at most.
//
// Every upload is checked. The SHA-256 of the file is computed while it is read for the
// upload, and the store is sent a SHA-256 checksum of what it receives (of the object, or
// of each part), which it verifies on receipt, refusing bytes that do not match. Once the
// upload is complete, the object's size and the checksum the store keeps for it are
// compared with the ones computed from the file (the SHA-256 of the object, or the
// SHA-256 of its parts' SHA-256, for an object uploaded in parts): they match only if the
// store holds the very bytes read from the file. A store that keeps no checksum has the
// object read back and hashed instead.
//
// The queue is on disk. A file is stored once its marker, PATH.stored, exists beside it:
// JSON with the object's URL, the size and the SHA-256 (Marker), written atomically once
// the upload is checked. A file without a marker is not stored yet, whatever happened to
// sv meanwhile: the caller hands it to Put again after a restart and its upload starts
// again. While the store is down, uploads are retried with exponential backoff; the files
// stay on the disk until they are stored. With Options.RemoveLocal, a file is removed
// once its marker is written; the marker stays, and says where the file went (URL).
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/svtool/sv/stream"
)

// Defaults of Options.
const (
	DefaultPartSize   = 16 << 20
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = time.Minute
	DefaultURLExpiry  = time.Hour
)

// MinPartSize is the smallest part S3 accepts, but for the last.
const MinPartSize = 5 << 20

// Addressing is how a bucket is named in a request.
type Addressing string

// Addressings.
const (
	// AddressingAuto is path-style with an Options.Endpoint, as self-hosted stores
	// expect, and virtual-host style on AWS S3.
	AddressingAuto Addressing = "auto"
	// AddressingPath puts the bucket in the URL's path: ENDPOINT/BUCKET/KEY.
	AddressingPath Addressing = "path"
	// AddressingVirtual puts it in the host name: BUCKET.ENDPOINT/KEY.
	AddressingVirtual Addressing = "virtual"
)

// ParseAddressing reads auto, path or virtual.
func ParseAddressing(s string) (Addressing, error) {
	switch a := Addressing(s); a {
	case AddressingAuto, AddressingPath, AddressingVirtual:
		return a, nil
	case "":
		return AddressingAuto, nil
	}
	return "", fmt.Errorf("want auto, path or virtual, not %q", s)
}

// Options configures a Store.
type Options struct {
	// URL is where the files go: s3://BUCKET/PREFIX (ParseURL).
	URL string
	// Endpoint is the store's URL, http:// or https://HOST[:PORT]; empty for AWS S3.
	Endpoint string
	// Region is the bucket's region; empty asks the store.
	Region string
	// AccessKey, SecretKey and SessionToken are the credentials (the last for temporary
	// ones).
	AccessKey, SecretKey, SessionToken string
	// Addressing is how buckets are named in requests; "" is AddressingAuto.
	Addressing Addressing
	// Out is sv's output folder: only files under OUT/recordings/{stream}/ are stored, as
	// PREFIX/{stream}/{file}.
	Out string
	// RemoveLocal removes a file once it is stored (its marker stays).
	RemoveLocal bool
	// PartSize is the size of the parts of a multipart upload, used for files larger than
	// it, and the memory an upload takes at most; 0 means DefaultPartSize. At least
	// MinPartSize.
	PartSize int64
	// Backoff is the wait after a failed upload, doubled after each failure in a row up to
	// MaxBackoff; 0 means DefaultBackoff and DefaultMaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Rate bounds the bytes a second an upload reads and sends, and with them the CPU it
	// takes (BenchmarkUpload: a few ms a MB); 0 means no bound.
	Rate int64
	// URLExpiry is how long a URL (presigned) is valid; 0 means DefaultURLExpiry.
	URLExpiry time.Duration
	// Transport carries the requests to the store (an https endpoint's own certificate
	// authorities, a proxy); nil is minio-go's default.
	Transport http.RoundTripper
	// Log receives what the Store does; nil discards it.
	Log *slog.Logger
}

// Store uploads finished files to an object store. Put queues a file, Run uploads the
// queued files until its context ends, URL gives the address of a stored file.
type Store struct {
	o      Options
	loc    Location
	client *minio.Client
	log    *slog.Logger
	wake   chan struct{}

	mu     sync.Mutex
	queue  []string // in order, each once
	queued map[string]bool

	stored, bytes, failures atomic.Int64
}

// New checks o and makes a Store; nothing is sent to the store until Run.
func New(o Options) (*Store, error) {
	loc, err := ParseURL(o.URL)
	if err != nil {
		return nil, err
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.PartSize < MinPartSize {
		return nil, fmt.Errorf("part size %d: want at least %d", o.PartSize, MinPartSize)
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.URLExpiry <= 0 {
		o.URLExpiry = DefaultURLExpiry
	}
	if o.URLExpiry > 7*24*time.Hour {
		return nil, fmt.Errorf("url expiry %s: a presigned URL is valid for 7 days at most", o.URLExpiry)
	}
	if o.AccessKey == "" || o.SecretKey == "" {
		return nil, ErrNoCredentials
	}
	if o.Addressing, err = ParseAddressing(string(o.Addressing)); err != nil {
		return nil, err
	}
	if o.Out == "" {
		return nil, errors.New("no output folder")
	}
	host, secure := "s3.amazonaws.com", true
	if o.Endpoint != "" {
		if host, secure, err = parseEndpoint(o.Endpoint); err != nil {
			return nil, err
		}
	}
	lookup := minio.BucketLookupAuto
	switch {
	case o.Addressing == AddressingPath, o.Addressing == AddressingAuto && o.Endpoint != "":
		lookup = minio.BucketLookupPath
	case o.Addressing == AddressingVirtual:
		lookup = minio.BucketLookupDNS
	}
	client, err := minio.New(host, &minio.Options{
		Creds:           credentials.NewStaticV4(o.AccessKey, o.SecretKey, o.SessionToken),
		Secure:          secure,
		Region:          o.Region,
		BucketLookup:    lookup,
		TrailingHeaders: true, // the checksum of a streamed object follows it
		MaxRetries:      3,    // then Run's backoff
		Transport:       o.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("store client: %w", err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{o: o, loc: loc, client: client, log: log, wake: make(chan struct{}, 1), queued: map[string]bool{}}, nil
}

// ErrNoCredentials refuses a Store with no access key or secret key.
var ErrNoCredentials = errors.New("no credentials for the object store")

// parseEndpoint reads http:// or https://HOST[:PORT].
func parseEndpoint(s string) (host string, secure bool, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", false, fmt.Errorf("endpoint: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
		return "", false, fmt.Errorf("endpoint %q: want http:// or https://HOST[:PORT]", s)
	}
	return u.Host, u.Scheme == "https", nil
}

// Location is where the files go: s3://BUCKET/PREFIX.
func (s *Store) Location() Location { return s.loc }

// Put queues a finished file under Options.Out, a recording or its seekable copy, for
// upload; it returns at once. A file already stored (it has a marker) is not uploaded
// again, a file queued already (or being uploaded) is not queued twice.
func (s *Store) Put(path string) {
	if _, err := s.object(path); err != nil {
		s.log.Warn("not stored", "file", path, "err", err)
		return
	}
	s.mu.Lock()
	if !s.queued[path] {
		s.queued[path] = true
		s.queue = append(s.queue, path)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// URL is where the stored copy of a file under Options.Out can be fetched, a presigned
// URL valid for Options.URLExpiry, if the file is stored.
func (s *Store) URL(ctx context.Context, path string) (string, bool) {
	m, err := ReadMarker(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("no stored copy", "file", path, "err", err)
		}
		return "", false
	}
	loc := m.Location()
	u, err := s.client.PresignedGetObject(ctx, loc.Bucket, loc.Key, s.o.URLExpiry, nil)
	if err != nil {
		s.log.Warn("cannot sign a URL of the stored copy", "file", path, "url", m.URL, "err", err)
		return "", false
	}
	return u.String(), true
}

// Stats is what a Store has done.
type Stats struct {
	Stored   int64 // files uploaded and checked
	Bytes    int64 // their bytes
	Failures int64 // uploads that failed (and were tried again)
	Queued   int   // files waiting
}

// Stats is what s has done so far.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	n := len(s.queue)
	s.mu.Unlock()
	return Stats{Stored: s.stored.Load(), Bytes: s.bytes.Load(), Failures: s.failures.Load(), Queued: n}
}

// Run first queues every finished file under OUT/recordings that is not stored yet (an
// earlier run stopped before it was, or the store was down), then uploads the queued
// files, one at a time, until ctx ends. A failed upload is tried
// again after the others, after a backoff (Options.Backoff) that doubles with each
// failure in a row. An upload that ctx interrupts leaves its file without a marker: it
// starts again from the beginning when the file is Put again.
func (s *Store) Run(ctx context.Context) {
	s.resume()
	var delay time.Duration
	for {
		path, ok := s.next()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			}
			continue
		}
		err := s.store(ctx, path)
		if ctx.Err() != nil {
			return
		}
		if err == nil || errors.Is(err, errGone) {
			if err != nil {
				s.log.Warn("not stored: the file is gone", "file", path)
			}
			s.done(path, false)
			delay = 0
			continue
		}
		s.failures.Add(1)
		delay = min(max(2*delay, s.o.Backoff), s.o.MaxBackoff)
		s.log.Warn("upload failed", "file", path, "err", err, "retry_in", delay)
		s.done(path, true)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// resume queues the files under OUT/recordings that are finished and not stored: a
// recording whose session is over (it has no unfinished marker), or its seekable copy;
// with Options.RemoveLocal, also those stored and not removed yet.
func (s *Store) resume() {
	for dir, files := range stream.RecordingFolders(s.o.Out) {
		have := map[string]bool{}
		for _, f := range files {
			have[f.Name()] = true
		}
		for _, f := range files {
			name := f.Name()
			rec := name
			if stream.IsSeekable(name) {
				rec = recordingOf(name)
			}
			switch {
			case !f.Type().IsRegular() || !stream.IsRecording(rec):
			case have[filepath.Base(stream.UnfinishedMarker(rec))]: // the session, or the recovery, hands it over
			case have[name+MarkerSuffix] && !s.o.RemoveLocal:
			default:
				s.Put(filepath.Join(dir, name))
			}
		}
	}
}

// recordingOf is the name of the recording a seekable copy is of.
func recordingOf(seekable string) string {
	for _, ext := range []string{".webm", ".mp4"} {
		if rec := strings.TrimSuffix(strings.TrimSuffix(seekable, filepath.Ext(seekable)), ".seekable") + ext; stream.SeekableOf(rec) == seekable {
			return rec
		}
	}
	return ""
}

// next is the file to upload next.
func (s *Store) next() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return "", false
	}
	return s.queue[0], true
}

// done takes path off the head of the queue, and puts it at its end to try again.
func (s *Store) done(path string, again bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = s.queue[1:]
	if again {
		s.queue = append(s.queue, path)
	} else {
		delete(s.queued, path)
	}
}

// errGone: the file to upload is not there any more (deleted meanwhile).
var errGone = errors.New("file is gone")

// object is where the file at path goes: PREFIX/{stream}/{file}, for a recording or a
// seekable copy in OUT/recordings/{stream}/.
func (s *Store) object(path string) (Location, error) {
	root, err := filepath.Abs(filepath.Join(s.o.Out, stream.RecordingsDir))
	if err != nil {
		return Location{}, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Location{}, err
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return Location{}, err
	}
	name, file, ok := strings.Cut(filepath.ToSlash(rel), "/")
	if !ok || !stream.Valid(name) || strings.Contains(file, "/") || !(stream.IsRecording(file) || stream.IsSeekable(file)) {
		return Location{}, fmt.Errorf("not a recording in %s/{stream}/", root)
	}
	return s.loc.Join(name, file), nil
}

// contentType is the media type of a recording (.webm, .mp4) or of its seekable copy
// (.seekable.mkv, .seekable.mp4).
func contentType(file string) string {
	switch filepath.Ext(file) {
	case ".webm":
		return "video/webm"
	case ".mp4":
		return "video/mp4"
	case ".mkv":
		return "video/x-matroska"
	}
	return "application/octet-stream"
}
