package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/fsnotify/fsnotify"

	"github.com/async-sync/async/core"
)

var _ core.Watcher = (*FS)(nil)

// Watch follows the tree with inotify: one watch per directory, added as
// directories appear. Reserved names (async's own temporary files and
// private area) are not reported. Running out of inotify watches is an
// error that says how many the tree needs, never a silent gap.
func (f *FS) Watch(ctx context.Context, fn func(paths []string)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", f.root, err)
	}
	defer w.Close()
	root := fmt.Sprintf("/proc/self/fd/%d", f.rootFD)
	if real, err := os.Readlink(root); err == nil {
		root = real // events name paths under what the descriptor is
	}
	if _, err := f.watchTree(w, root, ""); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-w.Errors:
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				fn([]string{""}) // events were lost: everything may have changed
				continue
			}
			return fmt.Errorf("watch %s: %w", f.root, err)
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			batch := f.event(w, root, ev)
			// Take what else is queued, so that a burst is one call.
			for more := true; more; {
				select {
				case ev := <-w.Events:
					batch = append(batch, f.event(w, root, ev)...)
				default:
					more = false
				}
			}
			if len(batch) > 0 {
				fn(batch)
			}
		}
	}
}

// event turns one inotify event into the changed paths, watching a new
// directory (and what is already in it).
func (f *FS) event(w *fsnotify.Watcher, root string, ev fsnotify.Event) []string {
	rel, err := filepath.Rel(root, ev.Name)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return nil
	}
	p := filepath.ToSlash(rel)
	if core.IsReserved(p) || p == core.PrivateDir || strings.HasPrefix(p, core.PrivateDir+"/") {
		return nil
	}
	out := []string{p}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
			found, err := f.watchTree(w, root, p)
			if err != nil {
				out = append(out, "") // could not watch it: ask for a full scan
			}
			// What was created in it before its watch was in place has
			// no event of its own: the walk reports it.
			out = append(out, found...)
		}
	}
	return out
}

// watchTree adds a watch on the directory rel and every directory below,
// and returns the paths of the entries it found below rel.
func (f *FS) watchTree(w *fsnotify.Watcher, root, rel string) ([]string, error) {
	start := filepath.Join(root, filepath.FromSlash(rel))
	n := 0
	var found []string
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start {
				return err
			}
			return nil // vanished or unreadable below: its events are not ours to see
		}
		r, _ := filepath.Rel(root, p)
		r = filepath.ToSlash(r)
		if r != "." && (core.IsReserved(r) || r == core.PrivateDir) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if p != start && rel != "" {
			found = append(found, r)
		}
		if !d.IsDir() {
			return nil
		}
		n++
		if err := w.Add(p); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				dirs := countDirs(start)
				return fmt.Errorf("watch %s: the inotify watch limit is reached (fs.inotify.max_user_watches = %s; this tree needs %d more): raise it, e.g. sysctl fs.inotify.max_user_watches=%d",
					f.root, watchLimit(), dirs-n+1, 2*dirs+8192)
			}
			return fmt.Errorf("watch %s: %w", p, err)
		}
		return nil
	})
	return found, err
}

func watchLimit() string {
	b, err := os.ReadFile("/proc/sys/fs/inotify/max_user_watches")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func countDirs(root string) int {
	n := 0
	filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			n++
		}
		return nil
	})
	return n
}
