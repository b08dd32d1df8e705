package dash

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/svtool/sv/stream"
)

// ErrNotOurs is returned when the output directory holds files that Run did not write.
var ErrNotOurs = errors.New("output directory holds files sv dash did not write")

// MarkerName is the file Run leaves in its output directory to recognize it later: a
// directory holding the marker and nothing but names Run writes is Run's to overwrite.
const MarkerName = ".sv-dash"

const markerText = "This directory is written by sv dash, which deletes and rewrites everything in it\n" +
	"whose name it uses (manifests, playlists, segments).\n"

// ownName matches every name Run writes, finished or in progress (".tmp"), and the
// segment names of sv versions that had no presentation id in them.
var ownName = regexp.MustCompile(`^(` + regexp.QuoteMeta(stream.Manifest) + `|` + regexp.QuoteMeta(stream.Playlist) + `|media_[0-9]+\.m3u8|init-stream[0-9]+(-[0-9a-z]+)?(\.[0-9]+)?\.m4s|chunk-stream[0-9]+-([0-9a-z]+-)?[0-9]+\.m4s|part-stream[0-9]+-[0-9a-z]+-[0-9]+\.[0-9]+\.m4s)(\.tmp)?$`)

// runName returns the id of a presentation that starts at now, which goes into its
// files' names: init-stream0-ID.m4s, chunk-stream0-ID-00001.m4s. Segments are served as
// immutable, and a new presentation in the same folder numbers its segments from 1 again:
// without the id in the name, a player, a browser's cache or a proxy that kept segment 1
// of the last one would play it for this one's. The id is the start time in
// milliseconds, base 36 (8 characters until the year 2059).
func runName(now time.Time) string { return strconv.FormatInt(now.UnixMilli(), 36) }

// checkOut reports whether dir may be used: it does not exist, is empty, or holds the
// marker and only names Run writes, and the analysis (stream.Analysis) that sv frames may
// write beside the media, which Run leaves alone. With force, any directory may be used.
func checkOut(dir string, force bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	if force || len(entries) == 0 {
		return nil
	}
	marked := false
	var foreign, own []string
	for _, e := range entries {
		switch {
		case e.Name() == MarkerName:
			marked = true
		case e.Name() == stream.Analysis && e.Type().IsRegular():
		case !ownName.MatchString(e.Name()) || !e.Type().IsRegular():
			foreign = append(foreign, e.Name())
		default:
			own = append(own, e.Name())
		}
	}
	if !marked && len(foreign) == 0 && len(own) > 0 {
		// Our names, but not our marker: another tool's output. Say which.
		foreign = append(foreign, own[0])
	}
	if len(foreign) > 0 {
		sort.Strings(foreign)
		more := ""
		if len(foreign) > 3 {
			more = fmt.Sprintf(" and %d more", len(foreign)-3)
			foreign = foreign[:3]
		}
		return fmt.Errorf("%w: %s holds %q%s", ErrNotOurs, dir, foreign, more)
	}
	return nil
}

// prepareOut creates dir, deletes the files a previous run left (only names Run writes)
// and writes the marker.
func prepareOut(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	for _, e := range entries {
		if ownName.MatchString(e.Name()) && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("clean output directory: %w", err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, MarkerName), []byte(markerText), 0o644); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	return nil
}

// isLive reports whether the manifests in dir still describe a live presentation: a
// dynamic MPD, or an HLS media playlist without #EXT-X-ENDLIST.
func isLive(dir string) bool {
	mpd, err := os.ReadFile(filepath.Join(dir, stream.Manifest))
	if err == nil && bytes.Contains(mpd, []byte(`type="dynamic"`)) {
		return true
	}
	playlists, _ := filepath.Glob(filepath.Join(dir, "media_*.m3u8"))
	for _, p := range playlists {
		b, err := os.ReadFile(p)
		if err == nil && !bytes.Contains(b, []byte("#EXT-X-ENDLIST")) {
			return true
		}
	}
	return false
}

// Abandon ends a presentation that no run will go on with, left live in dir by a
// process that died: what would make it look like a running live stream (removeLive) is
// deleted, so that players stop and stream lists do not show it, and the next Run starts
// a new presentation there. It reports whether there was one; a folder that is not sv
// dash's (ErrNotOurs) is left alone.
func Abandon(dir string) (bool, error) {
	if err := checkOut(dir, false); err != nil {
		return false, err
	}
	if !isLive(dir) && !hasInProgress(dir) {
		return false, nil
	}
	removeLive(dir)
	return true, nil
}

// hasInProgress reports whether dir holds a file Run was writing (".tmp").
func hasInProgress(dir string) bool {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if ownName.MatchString(e.Name()) && filepath.Ext(e.Name()) == ".tmp" {
			return true
		}
	}
	return false
}

// removeLive deletes what would make a failed run look like a running live stream: the
// manifests and playlists and the segments still in progress. Finished segments stay.
func removeLive(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		n := e.Name()
		if !ownName.MatchString(n) {
			continue
		}
		if filepath.Ext(n) == ".tmp" || filepath.Ext(n) == ".mpd" || filepath.Ext(n) == ".m3u8" {
			os.Remove(filepath.Join(dir, n))
		}
	}
}
