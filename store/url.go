package store

import (
	"errors"
	"fmt"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Location is a place in a bucket: s3://BUCKET/KEY, KEY a prefix or an object's key.
type Location struct {
	Bucket string
	Key    string // no leading or trailing slash; "" for the bucket's root
}

// ErrURL refuses a store URL that is not s3://BUCKET[/PREFIX].
var ErrURL = errors.New("want s3://BUCKET[/PREFIX]")

// ParseURL reads s3://BUCKET[/PREFIX]. The prefix's slashes at either end are dropped, and
// it may not hold empty, . or .. segments: it names folders of the bucket.
func ParseURL(s string) (Location, error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return Location{}, fmt.Errorf("%q: %w", s, ErrURL)
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if err := s3utils.CheckValidBucketNameStrict(bucket); err != nil {
		return Location{}, fmt.Errorf("%q: bucket %q: %w (%w)", s, bucket, ErrURL, err)
	}
	key = strings.Trim(key, "/")
	if key != "" {
		for seg := range strings.SplitSeq(key, "/") {
			if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "?#\\") || !printable(seg) {
				return Location{}, fmt.Errorf("%q: prefix %q: %w", s, key, ErrURL)
			}
		}
	}
	return Location{Bucket: bucket, Key: key}, nil
}

// String is the location as s3://BUCKET/KEY.
func (l Location) String() string {
	if l.Key == "" {
		return "s3://" + l.Bucket
	}
	return "s3://" + l.Bucket + "/" + l.Key
}

// Join is the location of name under l.
func (l Location) Join(name ...string) Location {
	parts := append([]string{}, name...)
	if l.Key != "" {
		parts = append([]string{l.Key}, parts...)
	}
	return Location{Bucket: l.Bucket, Key: strings.Join(parts, "/")}
}

// printable reports whether s is valid UTF-8 with no control characters.
func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}
