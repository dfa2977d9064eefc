package local

import (
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/async-sync/async/core"
)

// dirReuse is how long an opened parent directory is reused for the files
// created in it after it was opened: long enough for a burst of small files
// to share it, short enough that a directory moved by someone else is
// looked up again soon.
const dirReuse = 250 * time.Millisecond

// dirCacheSize is how many parent directories stay open at once: enough
// for the concurrent writers of a sync (each usually in its own directory
// of small files) to keep theirs, few enough to cost nothing in
// descriptors.
const dirCacheSize = 12

// dirCache keeps the parent directories of the files created last open, so
// that a directory of small files costs one lookup instead of one per
// file (rsync, which works in the directory it receives, does none), also
// when several writers create files in different directories at once.
// Files created in a directory hold a reference; the descriptor is closed
// when the last one is released after it left the cache. When full, the
// directory used least recently leaves it. Any rename, removal, link or
// symbolic link of this FS empties the cache before and after it acts
// (gen), and a directory looked up while that happened is not cached, so
// that the sync's own directory moves are always seen; a mkdir drops what
// was cached under its path. Moves by others are caught at commit: a file
// is renamed into place only in the directory now at its path (inPlace).
type dirCache struct {
	mu   sync.Mutex
	dirs []*openDir // at most dirCacheSize
	gen  uint64
	tick uint64 // use counter: orders dirs by last use
}

// openDir is an open parent directory shared by the writers in it.
type openDir struct {
	path     string
	fd       int
	dev, ino uint64 // its identity, to tell whether it is still at path
	opened   time.Time
	used     uint64 // tick of the last use while cached
	refs     int    // writers holding it, plus one while it is cached
}

// parentForCreate is parent for a file about to be created: the directory
// is shared with the other files created in it shortly before. release
// gives it back.
func (f *FS) parentForCreate(p string) (*openDir, string, error) {
	if p == "" {
		return nil, "", fmt.Errorf("the root has no parent: %w", fs.ErrInvalid)
	}
	if err := checkPath(p); err != nil {
		return nil, "", err
	}
	dir := core.Parent(p)
	c := &f.dirs
	c.mu.Lock()
	r, stale := c.lookupLocked(dir, time.Now())
	gen := c.gen
	c.mu.Unlock()
	if stale != nil {
		unix.Close(stale.fd)
	}
	if r != nil {
		return r, core.Base(p), nil
	}
	fd, name, err := f.parent(p, false)
	if err != nil {
		return nil, "", err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, "", pathErr("stat the directory of", p, err)
	}
	r = &openDir{path: dir, fd: fd, dev: st.Dev, ino: st.Ino, opened: time.Now(), refs: 1}
	c.mu.Lock()
	old := c.insertLocked(r, gen)
	c.mu.Unlock()
	if old != nil {
		unix.Close(old.fd)
	}
	return r, name, nil
}

// lookupLocked returns the cached directory dir with a reference taken, or
// nil. A cached dir opened too long ago leaves the cache instead, and is
// returned as stale when nothing else holds it (the caller closes it).
func (c *dirCache) lookupLocked(dir string, now time.Time) (r, stale *openDir) {
	for i, d := range c.dirs {
		if d.path != dir {
			continue
		}
		if now.Sub(d.opened) >= dirReuse {
			return nil, c.dropLocked(i)
		}
		c.tick++
		d.used = c.tick
		d.refs++
		return d, nil
	}
	return nil, nil
}

// insertLocked caches r unless a directory moved since the lookup that
// opened it started (gen) or another writer cached the same directory
// meanwhile. It returns the directory that left the cache to make room
// when nothing else holds it (the caller closes it).
func (c *dirCache) insertLocked(r *openDir, gen uint64) *openDir {
	if c.gen != gen {
		return nil
	}
	for _, d := range c.dirs {
		if d.path == r.path {
			return nil
		}
	}
	var old *openDir
	if len(c.dirs) >= dirCacheSize {
		lru := 0
		for i, d := range c.dirs {
			if d.used < c.dirs[lru].used {
				lru = i
			}
		}
		old = c.dropLocked(lru)
	}
	c.tick++
	r.used = c.tick
	r.refs++
	c.dirs = append(c.dirs, r)
	return old
}

// release gives back a directory taken by parentForCreate.
func (f *FS) release(r *openDir) {
	c := &f.dirs
	c.mu.Lock()
	r.refs--
	last := r.refs == 0
	c.mu.Unlock()
	if last {
		unix.Close(r.fd)
	}
}

// forgetDirs empties the cache: directories may move.
func (f *FS) forgetDirs() { f.forgetDir("") }

// inPlace reports whether d is still the directory at its path (nobody
// moved or replaced it since it was opened). A path through a link that
// leads back to d counts: the file lands in d, inside the tree.
func (f *FS) inPlace(d *openDir) bool {
	if d.path == "" {
		return true // the root does not move under its descriptor
	}
	var st unix.Stat_t
	err := unix.Fstatat(f.rootFD, d.path, &st, unix.AT_SYMLINK_NOFOLLOW)
	return err == nil && st.Dev == d.dev && st.Ino == d.ino
}

// forgetDir drops dir and the directories below it from the cache (all of
// them for the root, ""): a directory made at dir is new, so what was
// cached under its path is gone (removed or moved by someone else).
// Lookups under way are not cached.
func (f *FS) forgetDir(dir string) {
	c := &f.dirs
	c.mu.Lock()
	c.gen++
	var closing []*openDir
	for i := len(c.dirs) - 1; i >= 0; i-- {
		if p := c.dirs[i].path; p == dir || dir == "" || strings.HasPrefix(p, dir) && p[len(dir)] == '/' {
			if r := c.dropLocked(i); r != nil {
				closing = append(closing, r)
			}
		}
	}
	c.mu.Unlock()
	for _, r := range closing {
		unix.Close(r.fd)
	}
}

// dropLocked takes the i-th cached directory out of the cache and returns
// it when nothing else holds it (the caller closes it).
func (c *dirCache) dropLocked(i int) *openDir {
	r := c.dirs[i]
	last := len(c.dirs) - 1
	c.dirs[i] = c.dirs[last]
	c.dirs[last] = nil
	c.dirs = c.dirs[:last]
	r.refs--
	if r.refs == 0 {
		return r
	}
	return nil
}
