package core_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/async-sync/async/core"
)

// slowAttrs counts the SetAttr calls of a backend in flight at once, and
// when each ended, with a delay that makes overlap visible.
type slowAttrs struct {
	core.Backend
	mu        sync.Mutex
	cur, peak int
	ended     map[string]time.Time
	started   map[string]time.Time
}

func (s *slowAttrs) SetAttr(ctx context.Context, p string, a core.Attrs) (core.Entry, error) {
	s.mu.Lock()
	s.cur++
	s.peak = max(s.peak, s.cur)
	s.started[p] = time.Now()
	s.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	e, err := s.Backend.SetAttr(ctx, p, a)
	s.mu.Lock()
	s.cur--
	s.ended[p] = time.Now()
	s.mu.Unlock()
	return e, err
}

// TestDirTimesByLevel: the directories' mtimes are set deepest level
// first, the directories of a level in parallel, and every one ends as
// the source's.
func TestDirTimesByLevel(t *testing.T) {
	w := newFaultWorld(t, core.Push)
	w.parallel = true
	dirs := []string{"a", "b", "c", "d", "a/x", "a/y", "b/x", "b/y", "a/x/deep"}
	for _, d := range dirs {
		w.put(core.Local, d+"/f", "content of "+d)
	}
	time.Sleep(10 * time.Millisecond)
	remote := &slowAttrs{Backend: w.fs[core.Remote], ended: map[string]time.Time{}, started: map[string]time.Time{}}
	if _, stats, err := w.sync([2]core.Backend{nil, remote}); err != nil || stats.Errors.Load() > 0 {
		t.Fatalf("sync: %v %v", err, w.errs)
	}
	for _, d := range dirs {
		src, err := w.fs[core.Local].Stat(bg, d)
		if err != nil {
			t.Fatal(err)
		}
		dst, err := w.fs[core.Remote].Stat(bg, d)
		if err != nil {
			t.Fatal(err)
		}
		if !dst.MTime.Equal(src.MTime) {
			t.Errorf("%s: mtime %v, want %v", d, dst.MTime, src.MTime)
		}
	}
	if remote.peak < 2 {
		t.Errorf("directory times set one at a time (peak %d in flight)", remote.peak)
	}
	// Deeper first: a directory's time is set only after its
	// subdirectories' were.
	for _, c := range [][2]string{{"a/x/deep", "a/x"}, {"a/x", "a"}, {"a/y", "a"}, {"b/x", "b"}} {
		if !remote.started[c[1]].After(remote.ended[c[0]]) {
			t.Errorf("%s set before %s was done", c[1], c[0])
		}
	}
}
