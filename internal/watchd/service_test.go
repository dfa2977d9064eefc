package watchd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// start runs a service on the trees and returns it once it serves.
func start(t *testing.T, o Options) *Service {
	t.Helper()
	if o.StateDir == "" {
		o.StateDir = t.TempDir()
	}
	if o.Tick == 0 {
		o.Tick = 50 * time.Millisecond
	}
	ready := make(chan struct{})
	o.Ready = func() { close(ready) }
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("service ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("service not ready")
	}
	return s
}

func ask(t *testing.T, s *Service, req Request) *Answer {
	t.Helper()
	a, err := Ask(context.Background(), s.Socket(), req, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// cursor returns the service's current cursor for dir.
func cursor(t *testing.T, s *Service, dir string) Request {
	a := ask(t, s, Request{Op: "changes", Dir: dir})
	if a.Hole != "no cursor yet" {
		t.Fatalf("first request: hole %q, want no cursor yet", a.Hole)
	}
	return Request{Op: "changes", Dir: dir, Epoch: a.Epoch, Since: a.Cursor}
}

// waitPaths polls until the changes since req include every path of want.
func waitPaths(t *testing.T, s *Service, req Request, want ...string) *Answer {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := ask(t, s, req)
		if a.Hole != "" {
			t.Fatalf("hole: %s", a.Hole)
		}
		ok := true
		for _, w := range want {
			ok = ok && slices.Contains(a.Paths, w)
		}
		if ok {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("paths %q, want %q", a.Paths, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitHole polls until the answer to req is a hole containing want.
func waitHole(t *testing.T, s *Service, req Request, want string) *Answer {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := ask(t, s, req)
		if strings.Contains(a.Hole, want) {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("hole %q (paths %q), want one saying %q", a.Hole, a.Paths, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func write(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestChangesPickedUp(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "old/a"), "a")
	write(t, filepath.Join(root, "keep"), "k")
	s := start(t, Options{Trees: []string{root}})
	req := cursor(t, s, root)
	write(t, filepath.Join(root, "new"), "n")
	write(t, filepath.Join(root, "old/a"), "changed")
	if err := os.Rename(filepath.Join(root, "old"), filepath.Join(root, "moved")); err != nil {
		t.Fatal(err)
	}
	// A directory created with its contents before any watch on it.
	if err := exec.Command("sh", "-c", "mkdir -p "+root+"/d/e/f && echo x > "+root+"/d/e/f/g").Run(); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "moved/a2"), "inside the moved directory")
	a := waitPaths(t, s, req, "new", "old/a", "old", "moved", "d", "d/e/f/g", "moved/a2")
	if slices.Contains(a.Paths, "keep") {
		t.Errorf("unchanged path reported: %q", a.Paths)
	}
	// Relative to a directory inside the tree, from the new cursor.
	sub := Request{Op: "changes", Dir: filepath.Join(root, "moved"), Epoch: a.Epoch, Since: a.Cursor}
	write(t, filepath.Join(root, "moved/b"), "b")
	write(t, filepath.Join(root, "outside"), "o")
	a = waitPaths(t, s, sub, "b")
	if slices.Contains(a.Paths, "outside") || slices.Contains(a.Paths, "../outside") {
		t.Errorf("path outside the directory reported: %q", a.Paths)
	}
	// Nothing changed: no paths, same cursor. The cursor is taken once
	// both writes above are journaled ("outside" may come in after "b").
	whole := waitPaths(t, s, Request{Op: "changes", Dir: root, Epoch: sub.Epoch, Since: sub.Since}, "moved/b", "outside")
	next := Request{Op: "changes", Dir: root, Epoch: whole.Epoch, Since: whole.Cursor}
	time.Sleep(100 * time.Millisecond)
	if b := ask(t, s, next); b.Hole != "" || len(b.Paths) != 0 {
		t.Errorf("no change: hole %q paths %q", b.Hole, b.Paths)
	}
}

func TestHoles(t *testing.T) {
	t.Run("restarted", func(t *testing.T) {
		root := t.TempDir()
		state := t.TempDir()
		s := start(t, Options{Trees: []string{root}, StateDir: filepath.Join(state, "a")})
		req := cursor(t, s, root)
		s2 := start(t, Options{Trees: []string{root}, StateDir: filepath.Join(state, "b")})
		waitHole(t, s2, req, "restarted")
	})
	t.Run("not watched", func(t *testing.T) {
		root, other := t.TempDir(), t.TempDir()
		s := start(t, Options{Trees: []string{root}})
		waitHole(t, s, Request{Op: "changes", Dir: other, Epoch: "x", Since: 1}, "does not watch")
	})
	for _, tc := range []struct{ watcher, queue, want string }{
		{WatcherInotify, "/proc/sys/fs/inotify/max_queued_events", "IN_Q_OVERFLOW"},
		{WatcherFanotify, "/proc/sys/fs/fanotify/max_queued_events", "FAN_Q_OVERFLOW"},
	} {
		t.Run("overflow "+tc.watcher, func(t *testing.T) {
			root := t.TempDir()
			if tc.watcher == WatcherFanotify {
				needFanotify(t, root)
			}
			stall := make(chan struct{})
			s := start(t, Options{Trees: []string{root}, stall: stall, Watcher: tc.watcher})
			req := cursor(t, s, root)
			limit := 16384
			if b, err := os.ReadFile(tc.queue); err == nil {
				fmt.Sscan(string(b), &limit)
			}
			if limit > 200000 {
				t.Skipf("%s is %d", tc.queue, limit)
			}
			for i := range limit + 100 {
				write(t, filepath.Join(root, fmt.Sprint(i)), "")
			}
			close(stall)
			waitHole(t, s, req, tc.want)
			if st := s.Status(); st.Trees[0].LastOverflow.IsZero() {
				t.Error("status: no last overflow")
			}
		})
	}
	t.Run("compacted", func(t *testing.T) {
		root := t.TempDir()
		s := start(t, Options{Trees: []string{root}, MaxEntries: 8})
		req := cursor(t, s, root)
		for i := range 20 {
			write(t, filepath.Join(root, fmt.Sprint(i)), "")
		}
		waitHole(t, s, req, "compacted")
	})
	t.Run("too many", func(t *testing.T) {
		root := t.TempDir()
		s := start(t, Options{Trees: []string{root}, MaxPaths: 5})
		req := cursor(t, s, root)
		for i := range 10 {
			write(t, filepath.Join(root, fmt.Sprint(i)), "")
		}
		waitHole(t, s, req, "more than 5")
	})
	t.Run("root removed", func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "tree")
		write(t, filepath.Join(root, "f"), "")
		s := start(t, Options{Trees: []string{root}})
		req := cursor(t, s, root)
		if err := os.RemoveAll(root); err != nil {
			t.Fatal(err)
		}
		waitHole(t, s, req, "the tree's root ") // its watch went away, or the service found it gone first
		write(t, filepath.Join(root, "g"), "")  // back: watched again, from a later cursor
		a := waitHole(t, s, req, "watched again")
		req2 := Request{Op: "changes", Dir: root, Epoch: a.Epoch, Since: a.Cursor}
		write(t, filepath.Join(root, "h"), "")
		waitPaths(t, s, req2, "h")
	})
	t.Run("remounted", func(t *testing.T) {
		root := t.TempDir()
		mnt := filepath.Join(root, "mnt")
		if err := os.Mkdir(mnt, 0o755); err != nil {
			t.Fatal(err)
		}
		s := start(t, Options{Trees: []string{root}})
		req := cursor(t, s, root)
		if out, err := exec.Command("mount", "-t", "tmpfs", "none", mnt).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", mnt).Run() })
		a := waitHole(t, s, req, "mounted")
		// Watched again, the new file system included.
		req2 := Request{Op: "changes", Dir: root, Epoch: a.Epoch, Since: a.Cursor}
		write(t, filepath.Join(mnt, "x"), "")
		a = waitPaths(t, s, req2, "mnt/x")
		req3 := Request{Op: "changes", Dir: root, Epoch: a.Epoch, Since: a.Cursor}
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Fatalf("umount: %v %s", err, out)
		}
		waitHole(t, s, req3, "mounted")
	})
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		watcher string
		watches int // directories watched, or file systems marked
	}{{WatcherInotify, 2}, {WatcherFanotify, 1}} {
		t.Run(tc.watcher, func(t *testing.T) {
			root := t.TempDir()
			if tc.watcher == WatcherFanotify {
				needFanotify(t, root)
			}
			write(t, filepath.Join(root, "d/f"), "")
			s := start(t, Options{Trees: []string{root}, Watcher: tc.watcher})
			req := cursor(t, s, root)
			write(t, filepath.Join(root, "d/g"), "")
			waitPaths(t, s, req, "d/g")
			a := ask(t, s, Request{Op: "status"})
			st := a.Status
			if st == nil || len(st.Trees) != 1 || st.Trees[0].Root != root || st.Trees[0].Watches != tc.watches || st.Trees[0].Events == 0 || st.Cursor == 0 || st.Trees[0].Watcher != tc.watcher {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

// needFanotify skips a test where fanotify with directory entry events
// and a filesystem mark is not to be had (an old kernel, no privilege).
func needFanotify(t *testing.T, root string) {
	t.Helper()
	w, err := newFanWatcher(root)
	if err != nil {
		t.Skipf("no fanotify here: %v", err)
	}
	w.close()
}

// TestWatcherSelection: auto takes fanotify where it can be had and
// inotify, saying why, where not; a watcher asked for is used or the
// tree is not watched, saying why.
func TestWatcherSelection(t *testing.T) {
	root := t.TempDir()
	_, fanErr := newFanWatcher(root)
	refused := errors.New("fanotify: operation not permitted (test)")
	tests := []struct {
		name    string
		o       Options
		want    string // the status's watcher, "" when broken
		broken  string
		journal bool // changes are journaled
	}{
		{"auto without fanotify", Options{noFanotify: refused}, "inotify (" + refused.Error() + ")", "", true},
		{"inotify asked for", Options{Watcher: WatcherInotify}, WatcherInotify, "", true},
		{"fanotify asked for and refused", Options{Watcher: WatcherFanotify, noFanotify: refused}, "", refused.Error(), false},
	}
	if fanErr == nil {
		tests = append(tests,
			struct {
				name    string
				o       Options
				want    string
				broken  string
				journal bool
			}{"auto with fanotify", Options{}, WatcherFanotify, "", true},
			struct {
				name    string
				o       Options
				want    string
				broken  string
				journal bool
			}{"fanotify asked for", Options{Watcher: WatcherFanotify}, WatcherFanotify, "", true})
	} else {
		t.Logf("no fanotify here (%v): its selection is not tested", fanErr)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			o := tc.o
			o.Trees = []string{root}
			s := start(t, o)
			st := s.Status().Trees[0]
			if st.Watcher != tc.want || !strings.Contains(st.Broken, tc.broken) || (tc.broken == "") != (st.Broken == "") {
				t.Fatalf("watcher %q broken %q, want %q broken %q", st.Watcher, st.Broken, tc.want, tc.broken)
			}
			req := cursor(t, s, root)
			if !tc.journal {
				waitHole(t, s, req, "not watched now")
				return
			}
			write(t, filepath.Join(root, "d/f"), "")
			waitPaths(t, s, req, "d", "d/f")
		})
	}
	if _, err := New(Options{Trees: []string{root}, StateDir: t.TempDir(), Watcher: "dnotify"}); err == nil || !strings.Contains(err.Error(), "dnotify") {
		t.Errorf("an unknown watcher: %v", err)
	}
}

func TestTokenRoundTrip(t *testing.T) {
	tok := Token{Epoch: "ab12", Cursor: 42, FP: "f00"}
	got, ok := ParseToken(tok.String())
	if !ok || got != tok {
		t.Fatalf("ParseToken(%q) = %+v %v", tok.String(), got, ok)
	}
	for _, bad := range []string{"", "watchd1 a b c", "watchd2 a 1 f", "watchd1 a 1"} {
		if _, ok := ParseToken(bad); ok {
			t.Errorf("ParseToken(%q) ok", bad)
		}
	}
}

func TestSinceReasons(t *testing.T) {
	root := t.TempDir()
	s := start(t, Options{Trees: []string{root}})
	_, next, why := Since(context.Background(), s.Socket(), root, "", "fp")
	if why != "no cursor yet" || next == "" {
		t.Fatalf("no prior: %q %q", next, why)
	}
	write(t, filepath.Join(root, "f"), "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		paths, _, why := Since(context.Background(), s.Socket(), root, next, "fp")
		if why != "" {
			t.Fatal(why)
		}
		if slices.Contains(paths, "f") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("paths %q", paths)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, _, why := Since(context.Background(), s.Socket(), root, next, "other"); !strings.Contains(why, "filters") {
		t.Errorf("fingerprint changed: %q", why)
	}
	down := Token{Epoch: "-", FP: "fp"}.String()
	if _, _, why := Since(context.Background(), s.Socket(), root, down, "fp"); !strings.Contains(why, "not running at the last run") {
		t.Errorf("down at the last run: %q", why)
	}
	_, next2, why := Since(context.Background(), filepath.Join(t.TempDir(), "none.sock"), root, next, "fp")
	if !strings.Contains(why, "not running") || !strings.HasPrefix(next2, "watchd1 - ") {
		t.Errorf("no service: %q %q", next2, why)
	}
}

// TestSamePathAgain: a path changed again after a client took its cursor
// is reported, though it was the path journaled last.
func TestSamePathAgain(t *testing.T) {
	root := t.TempDir()
	s := start(t, Options{Trees: []string{root}})
	req := cursor(t, s, root)
	p := filepath.Join(root, "m")
	write(t, p, "")
	a := waitPaths(t, s, req, "m")
	os.Remove(p)
	a = waitPaths(t, s, Request{Op: "changes", Dir: root, Epoch: a.Epoch, Since: a.Cursor}, "m")
	write(t, p, "again")
	waitPaths(t, s, Request{Op: "changes", Dir: root, Epoch: a.Epoch, Since: a.Cursor}, "m")
}

func TestHardLinkedFileChanged(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "a/f"), "1")
	if err := os.MkdirAll(filepath.Join(root, "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "a/f"), filepath.Join(root, "b/g")); err != nil {
		t.Fatal(err)
	}
	s := start(t, Options{Trees: []string{root}})
	req := cursor(t, s, root)
	write(t, filepath.Join(root, "a/f"), "2") // b/g changed too
	waitHole(t, s, req, "hard links")
}

func TestRemoteFileSystemRefused(t *testing.T) {
	if err := checkLocalFS(t.TempDir(), nil); err != nil {
		t.Fatalf("a local directory: %v", err)
	}
	// /proc/fs/nfsd or a FUSE mount are rarely there; use whatever
	// remote or FUSE file system the machine has mounted.
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if _, after, ok := strings.Cut(l, " - "); ok {
			typ := strings.Fields(after)[0]
			if strings.HasPrefix(typ, "fuse") || strings.HasPrefix(typ, "nfs") || typ == "cifs" || typ == "9p" {
				mp := unescapeMount(strings.Fields(l)[4])
				if err := checkLocalFS(mp, nil); err == nil {
					t.Errorf("%s (%s): not refused", mp, typ)
				}
				return
			}
		}
	}
	t.Skip("no network or FUSE file system mounted here")
}

// TestRootRemounted: the tree is itself a mount point, unmounted and
// mounted again: a hole, then the journal answers from after the mount.
func TestRootRemounted(t *testing.T) {
	root := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "none", root).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", root).Run() })
	s := start(t, Options{Trees: []string{root}})
	req := cursor(t, s, root)
	write(t, filepath.Join(root, "f"), "")
	a := waitPaths(t, s, req, "f")
	req = Request{Op: "changes", Dir: root, Epoch: a.Epoch, Since: a.Cursor}
	if out, err := exec.Command("umount", root).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	waitHole(t, s, req, "unmounted")
	if out, err := exec.Command("mount", "-t", "tmpfs", "none", root).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	a = waitHole(t, s, req, "") // still a hole for the old cursor
	if a.Hole == "" {
		t.Fatal("no hole after the remount")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.Status()
		if st.Trees[0].Broken == "" && strings.Contains(st.Trees[0].Why, "remounted") { // armed on the new mount
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not watched again: %+v", st.Trees[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
	b := ask(t, s, Request{Op: "changes", Dir: root, Epoch: a.Epoch, Since: s.Status().Cursor})
	req = Request{Op: "changes", Dir: root, Epoch: b.Epoch, Since: b.Cursor}
	write(t, filepath.Join(root, "g"), "")
	waitPaths(t, s, req, "g")
}

// TestTornJournalFilesRemoved: a watchd killed while Badger created a file
// leaves it empty; the next service starts anyway.
func TestTornJournalFilesRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "journal")
	j, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	j.db.Close()
	for _, n := range []string{"000009.vlog", "00010.mem"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	j, err = openJournal(dir)
	if err != nil {
		t.Fatalf("journal with torn files: %v", err)
	}
	j.db.Close()
}
