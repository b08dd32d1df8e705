package serve

import (
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/svtool/sv/stream"
)

// Every open or stat under an os.Root walks the path a directory at a time (an openat
// and a close for each), so that nothing can lead out of the root. A stream's files are
// two directories down (live/NAME/FILE), and its segments are opened and stat'ed many
// times a second (every request, every poller's look): each stream folder gets a Root
// of its own, opened once, in which a file is one step away.

const (
	// maxFolders bounds the stream folders kept open; past it, files are reached from
	// the root as before.
	maxFolders = 1024
	// folderCheck is how often a kept folder is checked to be the one at its path still:
	// a folder removed and made again is found again within it.
	folderCheck = time.Second
)

// folders keeps a Root per stream folder, live/NAME.
type folders struct {
	mu sync.Mutex
	m  map[string]*folder
}

type folder struct {
	root    *os.Root
	id      fs.FileInfo // the folder it was opened on
	checked time.Time
}

// under returns the Root to reach rel in, and rel's path within it: the Root of its stream
// folder when rel is in one (live/NAME/...), else the server's.
func (s *Server) under(rel string) (*os.Root, string) {
	rest, ok := strings.CutPrefix(rel, stream.LiveDir+"/")
	if !ok {
		return s.root, rel
	}
	name, file, ok := strings.Cut(rest, "/")
	if !ok || file == "" {
		return s.root, rel
	}
	if r := s.folder(stream.LiveDir + "/" + name); r != nil {
		return r, file
	}
	return s.root, rel
}

// folder returns the Root of stream folder dir, opening it if need be; nil if it does
// not exist or too many are open.
func (s *Server) folder(dir string) *os.Root {
	now := time.Now()
	kept := &s.folders
	kept.mu.Lock()
	f := kept.m[dir]
	if f != nil && now.Sub(f.checked) < folderCheck {
		kept.mu.Unlock()
		return f.root
	}
	if f != nil {
		f.checked = now // this caller checks it; the others go on using it meanwhile
	}
	kept.mu.Unlock()

	// Open, or check, outside the lock: a walk under the root.
	fi, err := s.root.Stat(dir)
	kept.mu.Lock()
	defer kept.mu.Unlock()
	if cur := kept.m[dir]; cur != nil {
		if err == nil && os.SameFile(fi, cur.id) {
			cur.checked = now
			return cur.root
		}
		// Removed, or made again: forget it. A request using it has its own reference
		// (os.Root counts them) and ends as if the folder had gone under it.
		cur.root.Close()
		delete(kept.m, dir)
	}
	if err != nil || !fi.IsDir() || len(kept.m) >= maxFolders {
		return nil
	}
	r, err := s.root.OpenRoot(dir)
	if err != nil {
		return nil
	}
	id, err := r.Stat(".")
	if err != nil || !os.SameFile(id, fi) {
		r.Close()
		return nil
	}
	if kept.m == nil {
		kept.m = map[string]*folder{}
	}
	kept.m[dir] = &folder{root: r, id: id, checked: now}
	return r
}

// closeFolders closes the kept folders.
func (s *Server) closeFolders() {
	kept := &s.folders
	kept.mu.Lock()
	defer kept.mu.Unlock()
	for dir, f := range kept.m {
		f.root.Close()
		delete(kept.m, dir)
	}
}
