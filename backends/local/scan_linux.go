package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/treewalk"
	"golang.org/x/sys/unix"
)

// defaultScanThreads is how many directories are listed at once by default.
const defaultScanThreads = 8

// orderedAhead is how many listings per thread an ordered scan may hold
// ahead of the entries it has passed on.
const orderedAhead = 4

// Scan lists the tree below the root with opts.Threads directory listers.
// With opts.Ordered the entries are passed on one at a time, in path
// order (core.ComparePaths: depth first, each directory's names sorted),
// the listers reading ahead of them a few directories at most.
// Each directory is opened relative to its parent's descriptor (never
// following a link unless links are followed), its names read with
// getdents and each entry described with fstatat relative to it: no path
// is resolved again from the root. Skip is asked before an entry is stat'ed
// when the directory listing tells its type. Leftover temporary files of
// the session (their names carry opts.TempToken) whose processes are gone
// are removed on the way; other names that look temporary are left alone.
func (f *FS) Scan(ctx context.Context, opts core.ScanOptions, fn func(core.Entry) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !core.ValidTempToken(opts.TempToken) {
		return fmt.Errorf("scan: invalid temporary-file token %q: %w", opts.TempToken, fs.ErrInvalid)
	}
	n := opts.Threads
	if n <= 0 {
		n = defaultScanThreads
	}
	skip, descend, err := opts.Prune.Funcs()
	if err != nil {
		return err
	}
	s := &scanner{fs: f, opts: opts, skip: skip, descend: descend, fn: fn, ctx: ctx,
		follow: opts.FollowLinks || f.opts.FollowLinks}
	s.bufs.New = func() any { b := make([]byte, 64<<10); return &b }
	var root dirJob
	if s.follow {
		var st unix.Stat_t
		if err := unix.Fstat(f.rootFD, &st); err != nil {
			return pathErr("scan", "", err)
		}
		root.anc = &ancestor{dev: uint64(st.Dev), ino: st.Ino}
	}
	wo := treewalk.Options{Workers: n, Pause: opts.Pause, PauseEvery: opts.PauseEvery}
	var left []dirJob
	if opts.Ordered {
		left, err = treewalk.Ordered(root, wo, orderedAhead*n, func(a, b dirJob) int { return core.ComparePaths(a.path, b.path) },
			s.listOrdered, fn)
	} else {
		left, err = treewalk.Walk(root, wo, s.list)
	}
	for _, j := range left { // never listed, after an error
		if j.parent != nil {
			j.parent.release()
		}
	}
	if err != nil {
		return err
	}
	return ctx.Err()
}

// scanner is one Scan in progress: treewalk lists its directories, depth
// first, which keeps few directory descriptors open.
type scanner struct {
	fs      *FS
	opts    core.ScanOptions
	skip    func(string, bool) bool
	descend func(*core.Entry) bool
	fn      func(core.Entry) error
	ctx     context.Context
	follow  bool
	bufs    sync.Pool    // getdents buffers
	sized   atomic.Int64 // entries of the last directory listed in order
}

// dirJob is a directory to list: name in the open directory parent.
type dirJob struct {
	parent *dirRef // nil: the root
	name   string
	path   string
	link   bool      // reached through a followed link
	anc    *ancestor // the directories above (links followed only)
}

// ancestor chains the directories above one, to tell a link loop.
type ancestor struct {
	dev, ino uint64
	up       *ancestor
}

func (a *ancestor) has(dev, ino uint64) bool {
	for ; a != nil; a = a.up {
		if a.dev == dev && a.ino == ino {
			return true
		}
	}
	return false
}

// dirRef is an open directory shared by the jobs of its subdirectories; the
// last one to open its subdirectory closes it.
type dirRef struct {
	fd   int
	refs atomic.Int32
}

func (d *dirRef) release() {
	if d.refs.Add(-1) == 0 {
		unix.Close(d.fd)
	}
}

// open opens the directory of job j for listing.
func (s *scanner) open(j dirJob) (int, error) {
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	switch {
	case j.parent == nil:
		return openat(s.fs.rootFD, ".", flags)
	case j.link && s.fs.opts.Confined:
		return s.fs.openBelow(j.path, flags, true) // stays beneath the root
	case j.link:
		return openat(j.parent.fd, j.name, flags)
	}
	return openat(j.parent.fd, j.name, flags|unix.O_NOFOLLOW)
}

var direntNameOff = int(unsafe.Offsetof(unix.Dirent{}.Name))

// list reports the entries of one directory and returns its subdirectories.
func (s *scanner) list(j dirJob, stopped func() bool) ([]dirJob, error) {
	var subdirs []dirJob
	drop, err := s.read(j, stopped, func(e core.Entry, sub dirJob, descend bool) error {
		if err := s.fn(e); err != nil {
			return err
		}
		if descend {
			subdirs = append(subdirs, sub)
		}
		return nil
	})
	if err != nil || drop {
		for _, sub := range subdirs {
			sub.parent.release()
		}
		return nil, err
	}
	return subdirs, nil
}

// scanItem is an entry of an ordered scan, and the directory below it.
type scanItem = treewalk.Item[dirJob, core.Entry]

// listOrdered returns the entries of one directory in name order, each
// with the job of listing it when it is a directory to descend into.
func (s *scanner) listOrdered(j dirJob, stopped func() bool) ([]scanItem, error) {
	items := make([]scanItem, 0, min(s.sized.Load(), 1024)) // about as many as the last one
	defer func() { s.sized.Store(int64(len(items))) }()
	drop, err := s.read(j, stopped, func(e core.Entry, sub dirJob, descend bool) error {
		items = append(items, scanItem{Value: e, Sub: sub, Descend: descend})
		return nil
	})
	if err != nil || drop {
		for i := range items {
			if it := &items[i]; it.Descend {
				it.Sub.parent.release()
				it.Sub, it.Descend = dirJob{}, false
			}
		}
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(items, func(a, b scanItem) int { return strings.Compare(a.Value.Path, b.Value.Path) })
	return items, nil
}

// read passes add each entry of directory j to report (and, when descend,
// the job of listing it: a directory to descend into). The subdirectories
// added are to be dropped (their references released) when it fails, or
// when drop: the directory could not be read to the end (what was
// listed is dropped with the rest of the subtree).
func (s *scanner) read(j dirJob, stopped func() bool, add func(e core.Entry, sub dirJob, descend bool) error) (drop bool, err error) {
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	buf := *bp
	fd, err := s.open(j)
	if j.parent != nil {
		j.parent.release()
	}
	if err != nil {
		if j.parent != nil && s.opts.Unreadable != nil {
			return false, s.unreadable(j.path, j.link, pathErr("open", j.path, err))
		}
		return false, fmt.Errorf("scan: %w", pathErr("open", j.path, err))
	}
	if stopped() {
		unix.Close(fd)
		return false, nil
	}
	dir := &dirRef{fd: fd}
	dir.refs.Store(1)
	defer dir.release()
	prefix := j.path
	if prefix != "" {
		prefix += "/"
	}
	count := 0
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			err = pathErr("list", j.path, err)
			if j.parent != nil && s.opts.Unreadable != nil {
				return true, s.opts.Unreadable(j.path, err)
			}
			return false, fmt.Errorf("scan: %w", err)
		}
		if n <= 0 {
			return false, nil
		}
		for off := 0; off < n; {
			d := (*unix.Dirent)(unsafe.Pointer(&buf[off]))
			rec := buf[off : off+int(d.Reclen)]
			off += int(d.Reclen)
			raw := rec[direntNameOff:]
			if i := bytes.IndexByte(raw, 0); i >= 0 {
				raw = raw[:i]
			}
			if len(raw) == 0 || raw[0] == '.' && (len(raw) == 1 || len(raw) == 2 && raw[1] == '.') {
				continue
			}
			if count++; count&255 == 0 {
				if stopped() {
					return false, nil
				}
				if err := s.ctx.Err(); err != nil {
					return false, err
				}
			}
			e, sub, ok, err := s.entry(j, dir, prefix+string(raw), len(prefix), d.Type)
			if err != nil {
				return false, err
			}
			if !ok {
				continue
			}
			descend := sub.path != ""
			if err := add(e, sub, descend); err != nil {
				if descend {
					sub.parent.release()
				}
				return false, err
			}
		}
	}
}

// entry describes the entry p (its name starting at p[nameAt:]) of
// directory j, open as dir, whose listing says it has type dtype; ok is
// false when it is not to be reported. It returns the job of listing it
// when it is a directory to descend into (a job with a path), which holds
// a reference to dir.
func (s *scanner) entry(j dirJob, dir *dirRef, p string, nameAt int, dtype uint8) (core.Entry, dirJob, bool, error) {
	name := p[nameAt:]
	if core.IsReserved(p) { // only the session's own leftovers are removed
		tok := s.opts.TempToken
		switch {
		case tok == "":
		case strings.HasPrefix(name, core.PartialPrefix+tok+"-"):
			if age := s.opts.PartialMaxAge; age > 0 {
				var st unix.Stat_t
				if unix.Fstatat(dir.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil &&
					time.Since(time.Unix(int64(st.Mtim.Sec), 0)) > age {
					unix.Unlinkat(dir.fd, name, 0)
				}
			}
		case ownLeftover(name, tok):
			unix.Unlinkat(dir.fd, name, 0)
		}
		return core.Entry{}, dirJob{}, false, nil
	}
	// Ask Skip before the stat when the listing tells the type (a followed
	// link's type is its target's: the stat comes first).
	asked := false
	switch dtype {
	case unix.DT_DIR, unix.DT_REG, unix.DT_LNK:
		if dtype != unix.DT_LNK || !s.follow {
			if s.skip != nil && s.skip(p, dtype == unix.DT_DIR) {
				return core.Entry{}, dirJob{}, false, nil
			}
			asked = true
		}
	case unix.DT_UNKNOWN:
	default:
		return core.Entry{}, dirJob{}, false, nil // devices, sockets, fifos are not synchronized
	}
	var st unix.Stat_t
	if err := fstatat(dir.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if err == unix.ENOENT {
			return core.Entry{}, dirJob{}, false, nil // gone since the listing
		}
		return core.Entry{}, dirJob{}, false, s.failed(p, pathErr("stat", p, err))
	}
	link := false
	if st.Mode&unix.S_IFMT == unix.S_IFLNK && s.follow {
		if err := s.followLink(dir.fd, name, p, &st); err != nil {
			if s.opts.Unreadable == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ELOOP) {
				return core.Entry{}, dirJob{}, false, nil // dangling, or leaving a confined tree (or nobody asks)
			}
			return core.Entry{}, dirJob{}, false, s.failed(p, err) // a loop, or cannot be read
		}
		link, asked = true, false
	}
	e, ok := entryFrom(p, &st)
	if !ok {
		return core.Entry{}, dirJob{}, false, nil
	}
	isDir := e.Type == core.TypeDir
	if asked && isDir != (dtype == unix.DT_DIR) {
		asked = false // changed since the listing
	}
	if !asked && s.skip != nil && s.skip(p, isDir) {
		return core.Entry{}, dirJob{}, false, nil
	}
	if e.Type == core.TypeSymlink {
		t, err := readlinkAt(dir.fd, name)
		if err != nil {
			if err == unix.ENOENT || err == unix.EINVAL {
				return core.Entry{}, dirJob{}, false, nil // gone or replaced since
			}
			return core.Entry{}, dirJob{}, false, s.failed(p, pathErr("readlink", p, err))
		}
		e.Target = t
	}
	var anc *ancestor
	if isDir && s.follow {
		if j.anc.has(uint64(st.Dev), st.Ino) { // a loop through links
			if s.opts.Unreadable == nil {
				return core.Entry{}, dirJob{}, false, nil
			}
			return core.Entry{}, dirJob{}, false, s.opts.Unreadable(p, core.ErrSymlinkLoop)
		}
		anc = &ancestor{dev: uint64(st.Dev), ino: st.Ino, up: j.anc}
	}
	if !isDir {
		return e, dirJob{}, true, nil
	}
	if s.descend != nil {
		d := e // asked through a pointer: on the heap, for directories only
		if !s.descend(&d) {
			return e, dirJob{}, true, nil
		}
	}
	dir.refs.Add(1)
	return e, dirJob{parent: dir, name: name, path: p, link: link, anc: anc}, true, nil
}

// followLink replaces st, the stat of link name in dirfd, with the stat of
// what it points to. The error wraps fs.ErrNotExist when the link dangles,
// and is core.ErrSymlinkLoop when links lead to each other in a loop.
func (s *scanner) followLink(dirfd int, name, p string, st *unix.Stat_t) error {
	if !s.fs.opts.Confined {
		err := fstatat(dirfd, name, st, 0)
		if err == unix.ELOOP {
			return core.ErrSymlinkLoop
		}
		if err != nil {
			return pathErr("stat", p, err)
		}
		return nil
	}
	fd, err := s.fs.openBelow(p, unix.O_PATH, true)
	if err != nil {
		if errors.Is(err, unix.ELOOP) && s.fs.openat2 {
			return core.ErrSymlinkLoop // openat2 tells a way out of the tree by EXDEV
		}
		return err
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, st); err != nil {
		return pathErr("stat", p, err)
	}
	return nil
}

// failed reports the entry p that cannot be read to ScanOptions.Unreadable
// and goes on, or fails the scan when nobody listens.
func (s *scanner) failed(p string, err error) error {
	if s.opts.Unreadable != nil {
		return s.opts.Unreadable(p, err)
	}
	if errors.Is(err, core.ErrSymlinkLoop) {
		return nil // skipped, as before anyone listened
	}
	return fmt.Errorf("scan: %w", err)
}

// unreadable reports the directory p that cannot be opened; a followed
// link whose directory cannot be reached in a confined tree (it leaves it)
// is left out without a word.
func (s *scanner) unreadable(p string, link bool, err error) error {
	if link && s.fs.opts.Confined && (errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ELOOP)) {
		return nil
	}
	if errors.Is(err, unix.ELOOP) && link {
		err = core.ErrSymlinkLoop
	}
	return s.opts.Unreadable(p, err)
}
