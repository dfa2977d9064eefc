package local

import (
	"fmt"
	"io/fs"
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

// dirCache keeps the parent directory of the last file created open, so
// that a directory of small files costs one lookup instead of one per
// file (rsync, which works in the directory it receives, does none).
// Files created in it hold a reference; the descriptor is closed when the
// last one is released after it left the cache. Any rename, removal, link
// or symbolic link of this FS empties the cache before and after it acts
// (gen), so that the sync's own directory moves are always seen.
type dirCache struct {
	mu  sync.Mutex
	cur *openDir
	gen uint64
}

// openDir is an open parent directory shared by the writers in it.
type openDir struct {
	path   string
	fd     int
	opened time.Time
	refs   int // writers holding it, plus one while it is cached
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
	if r := c.cur; r != nil && r.path == dir && time.Since(r.opened) < dirReuse {
		r.refs++
		c.mu.Unlock()
		return r, core.Base(p), nil
	}
	gen := c.gen
	c.mu.Unlock()
	fd, name, err := f.parent(p, false)
	if err != nil {
		return nil, "", err
	}
	r := &openDir{path: dir, fd: fd, opened: time.Now(), refs: 1}
	var old *openDir
	c.mu.Lock()
	if c.gen == gen { // nothing moved while it was looked up
		old = c.dropLocked()
		c.cur = r
		r.refs++
	}
	c.mu.Unlock()
	if old != nil {
		unix.Close(old.fd)
	}
	return r, name, nil
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
func (f *FS) forgetDirs() {
	c := &f.dirs
	c.mu.Lock()
	c.gen++
	r := c.dropLocked()
	c.mu.Unlock()
	if r != nil {
		unix.Close(r.fd)
	}
}

// dropLocked takes the cached directory out of the cache and returns it
// when nothing else holds it (the caller closes it).
func (c *dirCache) dropLocked() *openDir {
	r := c.cur
	if r == nil {
		return nil
	}
	c.cur = nil
	r.refs--
	if r.refs == 0 {
		return r
	}
	return nil
}
