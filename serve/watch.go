package serve

import (
	"sync"
	"time"
)

// A segment in progress may have many readers, one per player. Rather than each of them
// polling the file, one poller per segment looks at it every Options.Poll and wakes its
// readers when it changes: the cost of following a segment does not grow with the
// audience, only the reads of the new bytes do.

// watchers keeps one fileWatch per segment in progress that has readers.
type watchers struct {
	mu    sync.Mutex
	files map[string]*fileWatch
}

// fileWatch is the poller of one segment in progress, NAME.tmp becoming NAME.
type fileWatch struct {
	rel  string // NAME, under the root
	refs int    // readers; guarded by watchers.mu
	done chan struct{}

	mu      sync.Mutex
	changed chan struct{} // closed at the next change, then replaced
}

// watch returns the watch of segment rel, starting its poller if it has none yet. Call
// release when done with it.
func (s *Server) watch(rel string) *fileWatch {
	w := &s.watchers
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.files == nil {
		w.files = map[string]*fileWatch{}
	}
	fw := w.files[rel]
	if fw == nil {
		fw = &fileWatch{rel: rel, done: make(chan struct{}), changed: make(chan struct{})}
		w.files[rel] = fw
		go s.poll(fw)
	}
	fw.refs++
	return fw
}

// release ends a reader's use of fw; the last one stops the poller.
func (s *Server) release(fw *fileWatch) {
	w := &s.watchers
	w.mu.Lock()
	defer w.mu.Unlock()
	fw.refs--
	if fw.refs == 0 {
		close(fw.done)
		delete(w.files, fw.rel)
	}
}

// next returns a channel that is closed at the first change after the call. Take it
// before looking at the file, so that no change between the look and the wait is missed.
func (fw *fileWatch) next() <-chan struct{} {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return fw.changed
}

func (fw *fileWatch) broadcast() {
	fw.mu.Lock()
	close(fw.changed)
	fw.changed = make(chan struct{})
	fw.mu.Unlock()
}

// fileState is what a change is: NAME.tmp growing or being touched, NAME appearing,
// either going away.
type fileState struct {
	tmpSize   int64
	tmpMod    time.Time
	tmpThere  bool
	nameThere bool
	nameMod   time.Time
}

func (s *Server) stateOf(rel string) fileState {
	var st fileState
	if fi, err := s.root.Stat(rel + ".tmp"); err == nil {
		st.tmpThere, st.tmpSize, st.tmpMod = true, fi.Size(), fi.ModTime()
	}
	if fi, err := s.root.Stat(rel); err == nil {
		st.nameThere, st.nameMod = true, fi.ModTime()
	}
	return st
}

// poll looks at the segment every Options.Poll until its last reader is gone.
func (s *Server) poll(fw *fileWatch) {
	t := time.NewTicker(s.o.Poll)
	defer t.Stop()
	last := s.stateOf(fw.rel)
	for {
		select {
		case <-fw.done:
			return
		case <-t.C:
		}
		if st := s.stateOf(fw.rel); st != last {
			last = st
			fw.broadcast()
		}
	}
}
