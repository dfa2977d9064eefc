package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/async-sync/async/core"
	"golang.org/x/sys/unix"
)

// defaultScanThreads is how many directories are listed at once by default.
const defaultScanThreads = 8

// Scan lists the tree below the root with opts.Threads directory listers.
// Leftover temporary files of processes that are gone are removed on the way.
func (f *FS) Scan(ctx context.Context, opts core.ScanOptions, fn func(core.Entry) error) error {
	n := opts.Threads
	if n <= 0 {
		n = defaultScanThreads
	}
	s := &scan{fs: f, opts: opts, fn: fn, ctx: ctx, queue: []string{""}, pending: 1, seen: map[string]bool{}}
	s.cond = sync.NewCond(&s.mu)
	var wg sync.WaitGroup
	for range n {
		wg.Go(s.work)
	}
	wg.Wait()
	if s.err != nil {
		return s.err
	}
	return ctx.Err()
}

// scan is one Scan in progress: a queue of directories to list.
type scan struct {
	fs      *FS
	opts    core.ScanOptions
	fn      func(core.Entry) error
	ctx     context.Context
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []string
	pending int             // directories queued or being listed
	err     error           // the first error; stops the scan
	seen    map[string]bool // directories reached through links (loops)
}

func (s *scan) work() {
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && s.pending > 0 && s.err == nil {
			s.cond.Wait()
		}
		if s.pending == 0 || s.err != nil {
			s.mu.Unlock()
			s.cond.Broadcast()
			return
		}
		dir := s.queue[len(s.queue)-1]
		s.queue = s.queue[:len(s.queue)-1]
		s.mu.Unlock()

		subdirs, err := s.list(dir)
		if err == nil {
			err = s.ctx.Err()
		}
		s.mu.Lock()
		if err != nil && s.err == nil {
			s.err = err
		}
		s.queue = append(s.queue, subdirs...)
		s.pending += len(subdirs) - 1
		s.mu.Unlock()
		s.cond.Broadcast()
	}
}

// list reports the entries of one directory and returns its subdirectories.
func (s *scan) list(dir string) ([]string, error) {
	fd, err := s.fs.openDir(dir, unix.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	d := os.NewFile(uintptr(fd), dir)
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", core.DisplayPath(dir), err)
	}
	var subdirs []string
	for _, name := range names {
		p := core.Join(dir, name)
		if core.IsReserved(p) {
			if strings.HasPrefix(name, core.ReservedPrefix) && stale(name) {
				unix.Unlinkat(fd, name, 0)
			}
			continue
		}
		e, err := s.fs.statAt(fd, name, p, false)
		if errors.Is(err, os.ErrNotExist) {
			continue // gone since the listing
		}
		if errors.Is(err, core.ErrUnsupported) {
			continue // devices, sockets, fifos are not synchronized
		}
		if err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		if e.Type == core.TypeSymlink && s.opts.FollowLinks {
			t, err := s.fs.statAt(fd, name, p, true)
			if err != nil {
				continue // dangling or leaving a confined tree: nothing to follow
			}
			if t.Type == core.TypeDir && !s.firstVisit(t.FileID) {
				continue // a loop through links
			}
			e = t
		}
		if s.opts.Skip != nil && s.opts.Skip(p, e.Type == core.TypeDir) {
			continue
		}
		if err := s.fn(e); err != nil {
			return nil, err
		}
		if e.Type == core.TypeDir {
			subdirs = append(subdirs, p)
		}
	}
	return subdirs, nil
}

// firstVisit records a directory reached through a link; false when it was
// reached before.
func (s *scan) firstVisit(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[id] {
		return false
	}
	s.seen[id] = true
	return true
}
