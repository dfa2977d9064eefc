package watchd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watchMask is what a watched directory reports: every change to its
// entries and to itself.
const watchMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MODIFY | unix.IN_ATTRIB |
	unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_CLOSE_WRITE |
	unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW

// watcher follows one tree with inotify, one watch per directory, added as
// directories appear, the same way `async -C` follows a local side.
type watcher struct {
	fd     int
	root   string
	wds    map[int32]string // watch → directory, relative to root ("" is the root)
	dirs   map[string]int32
	rootWD int32
	// stall, in tests, holds the reader back so that the kernel's queue
	// overflows.
	stall <-chan struct{}
}

// sink receives what a watcher sees: changed paths, and holes (events the
// watcher could not see; broken: it stopped watching).
type sink interface {
	changed(paths []string)
	hole(why string, broken bool)
}

func newWatcher(root string) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("watch %s: inotify: %w", root, err)
	}
	return &watcher{fd: fd, root: root, wds: map[int32]string{}, dirs: map[string]int32{}, rootWD: -1}, nil
}

func (w *watcher) close() { unix.Close(w.fd) }

func (w *watcher) watches() int { return len(w.dirs) }

// addTree watches the directory rel and every directory below it, calling
// found for every entry below rel (the entries that may have appeared
// before their directory was watched).
func (w *watcher) addTree(rel string, found func(string)) error {
	start := filepath.Join(w.root, filepath.FromSlash(rel))
	return filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		r, _ := filepath.Rel(w.root, p)
		r = filepath.ToSlash(r)
		if r == "." {
			r = ""
		}
		if err != nil {
			if p == start {
				return fmt.Errorf("watch %s: %w", p, err)
			}
			return nil // vanished or unreadable: its parent's events tell
		}
		if r != rel && found != nil {
			found(r)
		}
		if !d.IsDir() {
			return nil
		}
		wd, err := unix.InotifyAddWatch(w.fd, p, watchMask)
		if err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return fmt.Errorf("watch %s: the inotify watch limit is reached (fs.inotify.max_user_watches = %s): raise it, e.g. sysctl fs.inotify.max_user_watches=1048576", w.root, readLimit())
			}
			if p == start {
				return fmt.Errorf("watch %s: %w", p, err)
			}
			return nil // gone already, or not a directory any more: its parent's events tell
		}
		w.wds[int32(wd)] = r
		w.dirs[r] = int32(wd)
		if r == "" {
			w.rootWD = int32(wd)
		}
		return nil
	})
}

// dropTree stops watching the directory rel and those below it (moved
// away or deleted).
func (w *watcher) dropTree(rel string) {
	for d, wd := range w.dirs {
		if d == rel || strings.HasPrefix(d, rel+"/") {
			unix.InotifyRmWatch(w.fd, uint32(wd))
			delete(w.dirs, d)
			delete(w.wds, wd)
		}
	}
}

func readLimit() string {
	b, err := os.ReadFile("/proc/sys/fs/inotify/max_user_watches")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// run reads events until ctx ends or the tree cannot be watched any more
// (its root went away: reported to s as a broken hole).
func (w *watcher) run(ctx context.Context, s sink) {
	readEvents(ctx, w.fd, "inotify", w.stall, s, func(buf []byte, add func(string)) bool {
		stop := false
		for off := 0; off+unix.SizeofInotifyEvent <= len(buf); {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			name := string(bytes.TrimRight(nameBytes, "\x00"))
			if w.event(ev.Wd, ev.Mask, name, add, s) {
				stop = true
			}
		}
		return stop
	})
}

// event handles one inotify event; it reports true when the tree cannot
// be watched any more.
func (w *watcher) event(wd int32, mask uint32, name string, add func(string), s sink) bool {
	if mask&unix.IN_Q_OVERFLOW != 0 {
		s.hole("the kernel's event queue overflowed (IN_Q_OVERFLOW)", false)
		return false
	}
	if mask&unix.IN_UNMOUNT != 0 {
		s.hole("the tree's file system was unmounted", true)
		return true
	}
	dir, ok := w.wds[wd]
	if mask&unix.IN_IGNORED != 0 {
		if ok {
			delete(w.wds, wd)
			if w.dirs[dir] == wd {
				delete(w.dirs, dir)
			}
		}
		if wd == w.rootWD {
			s.hole("the tree's root was removed, moved or unmounted", true)
			return true
		}
		return false
	}
	if !ok {
		return false // a directory dropped already
	}
	if mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0 {
		if wd == w.rootWD {
			s.hole("the tree's root was removed, moved or unmounted", true)
			return true
		}
		return false // its parent reported it
	}
	p := name
	if dir != "" {
		p = dir + "/" + name
		if name == "" {
			p = dir
		}
	}
	if p == "" {
		return false // the root's own attributes
	}
	add(p)
	isDir := mask&unix.IN_ISDIR != 0
	if !isDir && mask&(unix.IN_MODIFY|unix.IN_CLOSE_WRITE|unix.IN_ATTRIB) != 0 {
		checkLinks(w.root, p, s)
	}
	switch {
	case isDir && mask&(unix.IN_MOVED_FROM|unix.IN_DELETE) != 0:
		w.dropTree(p)
	case isDir && mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
		if err := w.addTree(p, add); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			s.hole(err.Error(), true)
			return true
		}
	}
	return false
}
