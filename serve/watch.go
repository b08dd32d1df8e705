package serve

import (
	"sync"
	"sync/atomic"
	"time"
)

// A segment in progress may have many readers, one per player, and a segment or part
// not written yet many held requests. Rather than each of them polling the file, one
// watcher per file looks at it and wakes all its readers when it changes: the cost of
// following a file does not grow with the audience, only the reads of the new bytes do.
// A watcher looks when the notifier (inotify, on the stream folder) reports a change to
// the file, within a fraction of a millisecond of the write, and every notifiedPoll in
// case an event is lost; where the notifier cannot watch (another system, a folder that
// is a symlink or was replaced), every Options.Poll. Playlists that blocking reloads wait
// on have a watcher of their own kind (playlistWatch), on the same principle.

// signal wakes every waiter at once.
type signal struct {
	mu sync.Mutex
	ch chan struct{} // closed at the next broadcast; nil until someone waits
}

// next returns a channel that is closed at the first broadcast after the call. Take it
// before looking at what is watched, so that no change between the look and the wait is
// missed.
func (s *signal) next() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) broadcast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// watchers keeps one fileWatch per segment in progress that has readers.
type watchers struct {
	mu    sync.Mutex
	files map[string]*fileWatch
}

// fileWatch is the poller of one segment, NAME.tmp becoming NAME.
type fileWatch struct {
	signal                // broadcast at each change
	changes atomic.Uint64 // changes seen so far: incremented before each broadcast
	named   atomic.Bool   // NAME has been seen: set before the change that saw it is counted
	rel     string        // NAME, under the root
	refs    int           // readers; guarded by watchers.mu
	done    chan struct{}

	mu  sync.Mutex
	seg *sharedSegment // the segment's bytes as its clients stream them, once one has
}

// sharedSegment returns the segment's shared reader, made with open when there is none
// yet or the last one failed (a writer that started the file again).
func (fw *fileWatch) sharedSegment(open func() (*sharedSegment, error)) (*sharedSegment, error) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.seg != nil {
		fw.seg.mu.Lock()
		failed := fw.seg.err != nil
		fw.seg.mu.Unlock()
		if !failed {
			return fw.seg, nil
		}
	}
	seg, err := open()
	if err != nil {
		return nil, err
	}
	if fw.seg != nil {
		fw.seg.mu.Lock()
		fw.seg.uncount()
		fw.seg.mu.Unlock()
	}
	fw.seg = seg
	return seg, nil
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
		fw = &fileWatch{rel: rel, done: make(chan struct{})}
		w.files[rel] = fw
		// The first look comes before the caller's: a change between the two is seen.
		go s.poll(fw, s.stateOf(rel))
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
		fw.mu.Lock()
		if fw.seg != nil {
			fw.seg.close()
		}
		fw.mu.Unlock()
	}
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
	root, name := s.under(rel)
	if fi, err := root.Stat(name + ".tmp"); err == nil {
		st.tmpThere, st.tmpSize, st.tmpMod = true, fi.Size(), fi.ModTime()
	}
	if fi, err := root.Stat(name); err == nil {
		st.nameThere, st.nameMod = true, fi.ModTime()
	}
	return st
}

// poll looks at the segment whenever the notifier reports a change to it, and every
// Options.Poll (notifiedPoll while the notifier watches its folder), from state last,
// until its last reader is gone.
func (s *Server) poll(fw *fileWatch, last fileState) {
	l := s.newLooker(fw.rel)
	defer l.stop()
	for {
		// The first look comes once the notifier is listening: a change between the
		// caller's look and then is seen now, not at the next poll.
		if st := s.stateOf(fw.rel); st != last {
			last = st
			if st.nameThere {
				fw.named.Store(true)
			}
			fw.changes.Add(1)
			fw.broadcast()
		}
		if !l.wait(fw.done) {
			return
		}
	}
}

// notifiedPoll is how often a watcher looks at a file whose changes the notifier reports:
// only in case an event is lost.
const notifiedPoll = 100 * time.Millisecond

// looker paces the looks of one watcher at one file.
type looker struct {
	s     *Server
	sub   *notifySub // nil: the file is polled
	timer *time.Timer
}

func (s *Server) newLooker(rel string) *looker {
	l := &looker{s: s, sub: s.notify.subscribe(rel)}
	l.timer = time.NewTimer(l.interval())
	return l
}

// interval is the time to the next look when nothing is reported.
func (l *looker) interval() time.Duration {
	if l.sub != nil && l.sub.notified() {
		return max(l.s.o.Poll, notifiedPoll)
	}
	return l.s.o.Poll
}

// wait waits for the next look, and returns false if done is closed first.
func (l *looker) wait(done <-chan struct{}) bool {
	var events <-chan struct{}
	if l.sub != nil {
		events = l.sub.events()
	}
	select {
	case <-done:
		return false
	case <-events:
	case <-l.timer.C:
	}
	l.timer.Reset(l.interval())
	return true
}

func (l *looker) stop() {
	l.timer.Stop()
	l.s.notify.unsubscribe(l.sub)
}
