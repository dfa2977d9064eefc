package watchd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fanMask is what a fanotify filesystem mark reports: every change to a
// directory entry, to a file's contents and to attributes, of files and
// directories.
const fanMask = unix.FAN_CREATE | unix.FAN_DELETE | unix.FAN_MOVED_FROM | unix.FAN_MOVED_TO |
	unix.FAN_MODIFY | unix.FAN_ATTRIB | unix.FAN_CLOSE_WRITE | unix.FAN_ONDIR

// fanWatcher follows one tree with fanotify: a filesystem mark on each
// file system that makes up the tree, reporting each event by the handle
// of the directory it happened in and the entry's name
// (FAN_REPORT_DFID_NAME). Nothing is added as directories appear, and no
// per-directory limit applies; events of the rest of the file system are
// read and dropped.
type fanWatcher struct {
	fd    int
	root  string
	marks int
	// mounts holds, per file system id, a directory on it to open handles
	// through (opened when needed: an open one would keep the file
	// system from being unmounted).
	mounts map[[2]int32]string
	// dirs caches directory handles: where each was found, "" outside the
	// tree, and at which generation; a directory moved anywhere starts a
	// new one, after which an entry is looked up again before use (but
	// still names a directory removed before its events were read).
	dirs map[string]fanDir
	gen  int
	// stall, in tests, holds the reader back so that the queue overflows.
	stall <-chan struct{}
}

// fanDir is a cached directory handle.
type fanDir struct {
	abs string
	gen int
}

// newFanWatcher marks the file systems of the tree at root. It fails
// where the kernel or the privileges do not allow it (fanotify with
// directory entry events needs Linux 5.9 and CAP_SYS_ADMIN; some file
// systems cannot report file handles).
func newFanWatcher(root string) (*fanWatcher, error) {
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_NOTIF|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK|unix.FAN_REPORT_DFID_NAME,
		unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fanotify: %w", err)
	}
	w := &fanWatcher{fd: fd, root: root, mounts: map[[2]int32]string{}, dirs: map[string]fanDir{}}
	for _, p := range append([]string{root}, mountsBelow(root)...) {
		if err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, fanMask, unix.AT_FDCWD, p); err != nil {
			w.close()
			return nil, fmt.Errorf("fanotify mark of the file system at %s: %w", p, err)
		}
		w.marks++
		var st unix.Statfs_t
		if err := unix.Statfs(p, &st); err != nil {
			w.close()
			return nil, fmt.Errorf("fanotify: statfs %s: %w", p, err)
		}
		if _, ok := w.mounts[st.Fsid.Val]; !ok {
			w.mounts[st.Fsid.Val] = p
		}
	}
	// The root's handle must resolve back to it, or no event could be
	// placed.
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, root, 0)
	if err != nil {
		w.close()
		return nil, fmt.Errorf("fanotify: file handle of %s: %w", root, err)
	}
	var st unix.Statfs_t
	unix.Statfs(root, &st)
	if p, err := w.open(st.Fsid.Val, h); err != nil || p != root {
		w.close()
		return nil, fmt.Errorf("fanotify: the file handle of %s does not resolve back to it (%q, %v)", root, p, err)
	}
	w.learn("")
	return w, nil
}

func (w *fanWatcher) close() { unix.Close(w.fd) }

func (w *fanWatcher) watches() int { return w.marks }

// open resolves a directory handle to its absolute path now.
func (w *fanWatcher) open(fsid [2]int32, h unix.FileHandle) (string, error) {
	mp, ok := w.mounts[fsid]
	if !ok {
		return "", errOtherFS
	}
	m, err := unix.Open(mp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(m)
	fd, err := unix.OpenByHandleAt(m, h, unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", err
	}
	if strings.HasSuffix(p, " (deleted)") {
		return "", unix.ESTALE
	}
	return p, nil
}

// errOtherFS is an event of a file system the watcher did not mark.
var errOtherFS = errors.New("event of another file system")

// dir returns a directory handle's path relative to the root ("" is the
// root), or in false that it lies outside the tree. A directory removed
// before its events are read, and not cached, is taken to be outside:
// if it was inside, its removal (or its moving away) is an event of a
// directory above it, up to one still there, and is journaled, and what
// was inside it went with it.
func (w *fanWatcher) dir(fsid [2]int32, htype int32, handle []byte) (string, bool) {
	key := handleKey(fsid, htype, handle)
	d, cached := w.dirs[key]
	if !cached || d.gen != w.gen {
		p, err := w.open(fsid, unix.NewFileHandle(htype, handle))
		switch {
		case err == nil:
			d = fanDir{gen: w.gen}
			if within(p, w.root) {
				d.abs = p
			}
			if len(w.dirs) > 1<<20 {
				clear(w.dirs)
			}
			w.dirs[key] = d
		case !cached:
			return "", false
		}
	}
	if d.abs == "" {
		return "", false
	}
	if d.abs == w.root {
		return "", true
	}
	return strings.TrimPrefix(d.abs, strings.TrimSuffix(w.root, "/")+"/"), true
}

// run reads events until ctx ends.
func (w *fanWatcher) run(ctx context.Context, s sink) {
	readEvents(ctx, w.fd, "fanotify", w.stall, s, func(buf []byte, add func(string)) bool {
		const metaLen = int(unsafe.Sizeof(unix.FanotifyEventMetadata{}))
		for off := 0; off+metaLen <= len(buf); {
			m := (*unix.FanotifyEventMetadata)(unsafe.Pointer(&buf[off]))
			l := int(m.Event_len)
			if l < metaLen || off+l > len(buf) {
				break
			}
			w.event(m, buf[off+int(m.Metadata_len):off+l], add, s)
			off += l
		}
		return false
	})
}

// event handles one fanotify event whose information records are info.
func (w *fanWatcher) event(m *unix.FanotifyEventMetadata, info []byte, add func(string), s sink) {
	if m.Fd >= 0 {
		unix.Close(int(m.Fd))
	}
	if m.Mask&unix.FAN_Q_OVERFLOW != 0 {
		s.hole("the kernel's event queue overflowed (FAN_Q_OVERFLOW)", false)
		return
	}
	ne := binary.NativeEndian
	for len(info) >= 4 {
		typ, l := info[0], int(ne.Uint16(info[2:]))
		if l < 4 || l > len(info) {
			return
		}
		rec := info[:l]
		info = info[l:]
		if typ != unix.FAN_EVENT_INFO_TYPE_DFID_NAME && typ != unix.FAN_EVENT_INFO_TYPE_DFID || len(rec) < 20 {
			continue
		}
		fsid := [2]int32{int32(ne.Uint32(rec[4:])), int32(ne.Uint32(rec[8:]))}
		hb, htype := int(ne.Uint32(rec[12:])), int32(ne.Uint32(rec[16:]))
		if 20+hb > len(rec) {
			continue
		}
		name := ""
		if typ == unix.FAN_EVENT_INFO_TYPE_DFID_NAME {
			name = string(rec[20+hb:])
			if i := strings.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
		}
		dir, in := w.dir(fsid, htype, rec[20:20+hb])
		if !in {
			continue
		}
		p := dir
		if name != "" && name != "." {
			p = Join(dir, name)
		}
		if p == "" {
			continue // the root's own attributes
		}
		add(p)
		isDir := m.Mask&unix.FAN_ONDIR != 0
		if isDir && m.Mask&unix.FAN_CREATE != 0 {
			w.learn(p)
		}
		if !isDir && m.Mask&(unix.FAN_MODIFY|unix.FAN_CLOSE_WRITE|unix.FAN_ATTRIB) != 0 {
			checkLinks(w.root, p, s)
		}
	}
	if m.Mask&(unix.FAN_MOVED_FROM|unix.FAN_MOVED_TO) != 0 && m.Mask&unix.FAN_ONDIR != 0 {
		// A directory moved: the paths of the handles below it changed,
		// and one moved in from outside is inside now.
		w.gen++
	}
}

// learn caches the handles of the directories at and below rel, so that
// the events of one removed before they are read still find it.
func (w *fanWatcher) learn(rel string) {
	start := filepath.Join(w.root, filepath.FromSlash(rel))
	filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, p, 0)
		if err != nil {
			return nil
		}
		var st unix.Statfs_t
		if unix.Statfs(p, &st) != nil {
			return nil
		}
		if len(w.dirs) > 1<<20 {
			return filepath.SkipAll
		}
		w.dirs[handleKey(st.Fsid.Val, h.Type(), h.Bytes())] = fanDir{abs: p, gen: w.gen}
		return nil
	})
}

// handleKey is a directory handle as a map key.
func handleKey(fsid [2]int32, htype int32, handle []byte) string {
	return fmt.Sprintf("%d:%d:%d:%s", fsid[0], fsid[1], htype, handle)
}

// Join joins a relative directory and a name.
func Join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
