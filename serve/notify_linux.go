package serve

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The notifier tells the watchers of files in stream folders (segments in progress or
// awaited, playlists that blocking reloads wait on) the moment the kernel sees one of
// them written, created, renamed or removed: one inotify instance for the server, one
// watch per stream folder that has watchers. A watcher then looks at once, where it would
// otherwise find the change at its next poll; its poll goes on, far less often, in case
// an event is lost.

// notifyMask is what a stream folder is watched for: a file written or closed, and names
// coming and going (the packager's renames, a folder emptied). IN_DONT_FOLLOW and
// IN_ONLYDIR: a stream folder that is a symlink is not watched (it is polled), as os.Root
// would not follow it out of the media root either.
const notifyMask = unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_CREATE | unix.IN_DELETE |
	unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF |
	unix.IN_DONT_FOLLOW | unix.IN_ONLYDIR

type notifier struct {
	base string // the media root's path

	once   sync.Once
	f      *os.File // the inotify instance, read through the runtime's poller; nil when it could not be made
	fd     int      // its descriptor, for adding and removing watches (File.Fd would make it blocking)
	mu     sync.Mutex
	closed bool
	dirs   map[string]*notifyDir // by folder, relative to the root
	wds    map[int32]*notifyDir
}

// notifyDir is one watched folder and the subscriptions to its files.
type notifyDir struct {
	rel  string
	wd   int32
	subs map[string]map[*notifySub]bool // by file name
}

// notifySub is one watcher's subscription to one file: kick is sent to (without
// blocking) when the file, or NAME.tmp for it, changes; live says whether events still
// come (the folder's watch may be gone: the folder was removed or replaced).
type notifySub struct {
	kick chan struct{}
	live atomic.Bool
	dir  *notifyDir
	name string
}

// subscribe returns a subscription to file rel (live/STREAM/FILE), or nil when it cannot
// be watched: the watcher then polls.
func (n *notifier) subscribe(rel string) *notifySub {
	dir, name := filepath.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" || name == "" || n.base == "" {
		return nil
	}
	n.once.Do(n.start)
	if n.f == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	d := n.dirs[dir]
	if d == nil {
		wd, err := unix.InotifyAddWatch(n.fd, filepath.Join(n.base, dir), notifyMask)
		if err != nil {
			return nil
		}
		if old := n.wds[int32(wd)]; old != nil {
			// The same folder under another name: one watch, one entry.
			return n.add(old, name)
		}
		d = &notifyDir{rel: dir, wd: int32(wd), subs: map[string]map[*notifySub]bool{}}
		n.dirs[dir] = d
		n.wds[d.wd] = d
	}
	return n.add(d, name)
}

// add subscribes to file name in d. Called with n.mu held.
func (n *notifier) add(d *notifyDir, name string) *notifySub {
	sub := &notifySub{kick: make(chan struct{}, 1), dir: d, name: name}
	sub.live.Store(true)
	if d.subs[name] == nil {
		d.subs[name] = map[*notifySub]bool{}
	}
	d.subs[name][sub] = true
	return sub
}

// unsubscribe ends sub; the folder's last subscription removes its watch.
func (n *notifier) unsubscribe(sub *notifySub) {
	if sub == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	d := sub.dir
	delete(d.subs[sub.name], sub)
	if len(d.subs[sub.name]) == 0 {
		delete(d.subs, sub.name)
	}
	if len(d.subs) == 0 && n.wds[d.wd] == d {
		n.forget(d)
		if !n.closed {
			unix.InotifyRmWatch(n.fd, uint32(d.wd))
		}
	}
}

// forget drops d from the maps. Called with n.mu held.
func (n *notifier) forget(d *notifyDir) {
	delete(n.wds, d.wd)
	if n.dirs[d.rel] == d {
		delete(n.dirs, d.rel)
	}
}

// start makes the inotify instance and its reader.
func (n *notifier) start() {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return
	}
	n.fd = fd
	n.f = os.NewFile(uintptr(fd), "inotify")
	n.dirs = map[string]*notifyDir{}
	n.wds = map[int32]*notifyDir{}
	go n.read()
}

// close stops the reader and releases the instance.
func (n *notifier) close() {
	n.once.Do(func() {}) // no start after this
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	if n.f != nil {
		n.f.Close()
	}
}

// read hands each event to the subscriptions of its file until the instance is closed.
func (n *notifier) read() {
	buf := make([]byte, 64<<10)
	for {
		k, err := n.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				n.fail()
			}
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= k; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := ""
			if ev.Len > 0 {
				raw := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
				if i := strings.IndexByte(string(raw), 0); i >= 0 {
					raw = raw[:i]
				}
				name = string(raw)
			}
			n.event(ev.Wd, ev.Mask, name)
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
	}
}

// fail gives up on the notifier after a read error: every watcher polls from now on.
func (n *notifier) fail() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	for _, d := range n.wds {
		n.forget(d)
		kickAll(d, true)
	}
}

// event wakes the subscriptions an event concerns: those of the file it names (NAME.tmp
// counts as NAME), all of them when events were lost, and all of a folder whose watch is
// gone, which from then on poll.
func (n *notifier) event(wd int32, mask uint32, name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case mask&unix.IN_Q_OVERFLOW != 0:
		for _, d := range n.wds {
			kickAll(d, false)
		}
	case mask&(unix.IN_IGNORED|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0:
		if d := n.wds[wd]; d != nil {
			n.forget(d)
			kickAll(d, true)
			if mask&unix.IN_IGNORED == 0 && !n.closed {
				unix.InotifyRmWatch(n.fd, uint32(wd))
			}
		}
	default:
		d := n.wds[wd]
		if d == nil {
			return
		}
		for sub := range d.subs[strings.TrimSuffix(name, ".tmp")] {
			sub.wake()
		}
	}
}

// kickAll wakes every subscription of d, marking them no longer live if gone.
func kickAll(d *notifyDir, gone bool) {
	for _, subs := range d.subs {
		for sub := range subs {
			if gone {
				sub.live.Store(false)
			}
			sub.wake()
		}
	}
}

func (sub *notifySub) wake() {
	select {
	case sub.kick <- struct{}{}:
	default:
	}
}

// events is where the subscription's wakes come.
func (sub *notifySub) events() <-chan struct{} { return sub.kick }

// notified reports whether events still come for the subscription.
func (sub *notifySub) notified() bool { return sub.live.Load() }
