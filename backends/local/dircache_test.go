//go:build linux

package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/async-sync/async/core"
)

func put(t *testing.T, b *FS, p, data string) error {
	t.Helper()
	w, err := b.Create(ctx, p, core.CreateOptions{})
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(data)); err != nil {
		w.Abort()
		return err
	}
	_, err = w.Commit(ctx)
	return err
}

// The parent directory shared by the files created in it is looked up again
// after the FS moves or removes anything: a file never lands in a directory
// that moved away from its path.
func TestCreateAfterDirectoryMoves(t *testing.T) {
	tests := []struct {
		name   string
		change func(b *FS) error
		want   map[string]string // file → content after the second create ("" = absent)
		err    error             // of the second create
	}{
		{"renamed", func(b *FS) error { _, err := b.Rename(ctx, "d", "e", core.Precondition{Any: true}); return err },
			map[string]string{"e/one": "1", "e/two": ""}, fs.ErrNotExist},
		{"removed and made again", func(b *FS) error {
			if err := b.Remove(ctx, "d/one", core.Precondition{Any: true}); err != nil {
				return err
			}
			if err := b.Remove(ctx, "d", core.Precondition{Any: true}); err != nil {
				return err
			}
			_, err := b.Mkdir(ctx, "d", 0o755)
			return err
		}, map[string]string{"d/two": "2", "d/one": ""}, nil},
		{"replaced by a link", func(b *FS) error {
			if _, err := b.Rename(ctx, "d", "e", core.Precondition{Any: true}); err != nil {
				return err
			}
			_, err := b.Symlink(ctx, "d", "e", core.Precondition{})
			return err
		}, map[string]string{"e/one": "1", "e/two": ""}, errors.ErrUnsupported},
		// Someone else removes the directory; the FS then makes it again
		// (a sync restoring it), or someone else does.
		{"removed by another, made again", func(b *FS) error {
			if err := os.RemoveAll(filepath.Join(b.root, "d")); err != nil {
				return err
			}
			_, err := b.Mkdir(ctx, "d", 0o755)
			return err
		}, map[string]string{"d/two": "2", "d/one": ""}, nil},
		{"replaced by another", func(b *FS) error {
			if err := os.RemoveAll(filepath.Join(b.root, "d")); err != nil {
				return err
			}
			return os.Mkdir(filepath.Join(b.root, "d"), 0o755)
		}, map[string]string{"d/two": "2", "d/one": ""}, nil},
		{"removed by another", func(b *FS) error { return os.RemoveAll(filepath.Join(b.root, "d")) },
			map[string]string{"d/two": ""}, fs.ErrNotExist},
		// Someone else moves the directory: a file never follows it.
		{"moved by another", func(b *FS) error { return os.Rename(filepath.Join(b.root, "d"), filepath.Join(b.root, "e")) },
			map[string]string{"e/one": "1", "e/two": "", "d/two": ""}, fs.ErrNotExist},
		{"moved by another, made again", func(b *FS) error {
			if err := os.Rename(filepath.Join(b.root, "d"), filepath.Join(b.root, "e")); err != nil {
				return err
			}
			return os.Mkdir(filepath.Join(b.root, "d"), 0o755)
		}, map[string]string{"e/one": "1", "e/two": "", "d/two": "2"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			os.Mkdir(filepath.Join(root, "d"), 0o755)
			for _, d := range []string{"x", "y", "z", "w"} {
				os.Mkdir(filepath.Join(root, d), 0o755)
			}
			b := open(t, root)
			defer b.Close()
			for _, p := range []string{"x/0", "y/0", "d/one", "z/0", "w/0", "x/1"} { // all cached, d among others
				if err := put(t, b, p, map[string]string{"d/one": "1"}[p]); err != nil {
					t.Fatal(err)
				}
			}
			if err := tt.change(b); err != nil {
				t.Fatal(err)
			}
			err := put(t, b, "d/two", "2")
			switch {
			case tt.err == nil && err != nil:
				t.Fatalf("second create: %v", err)
			case tt.err == errors.ErrUnsupported && err == nil: // any error: the link is refused
				t.Fatal("second create through a link succeeded")
			case tt.err != nil && tt.err != errors.ErrUnsupported && !errors.Is(err, tt.err):
				t.Fatalf("second create: %v, want %v", err, tt.err)
			}
			for _, d := range []string{"d", "e"} { // no temporary file left behind
				names, _ := os.ReadDir(filepath.Join(root, d))
				for _, n := range names {
					if n.Name() != "one" && n.Name() != "two" {
						t.Errorf("%s/%s left behind", d, n.Name())
					}
				}
			}
			for p, want := range tt.want {
				got, err := os.ReadFile(filepath.Join(root, p))
				if want == "" && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s: %q, %v: want nothing", p, got, err)
				}
				if want != "" && string(got) != want {
					t.Errorf("%s = %q, %v; want %q", p, got, err, want)
				}
			}
		})
	}
}

// Files created one after another in one directory, and in turns in two,
// leave no descriptor open once the FS is closed, and one at most before.
func TestCreateSharesParentDescriptors(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "a"), 0o755)
	os.Mkdir(filepath.Join(root, "b"), 0o755)
	before := openFDs(t)
	b := open(t, root)
	var pending []core.Writer
	for i := range 40 {
		dir := "a"
		if i%10 >= 5 {
			dir = "b"
		}
		p := fmt.Sprintf("%s/f%d", dir, i)
		w, err := b.Create(ctx, p, core.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 { // some stay open across the others
			pending = append(pending, w)
			continue
		}
		if _, err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i, w := range pending {
		if i%2 == 0 {
			w.Abort()
		} else if _, err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := openFDs(t) - before; n > 3 { // the root and the two cached directories
		t.Errorf("%d descriptors open after the writers finished, want 3 at most", n)
	}
	b.Close()
	if n := openFDs(t) - before; n != 0 {
		t.Errorf("%d descriptors open after Close", n)
	}
	n := 0
	for _, dir := range []string{"a", "b"} {
		es, _ := os.ReadDir(filepath.Join(root, dir))
		n += len(es)
	}
	if want := 40 - (len(pending)+1)/2; n != want {
		t.Errorf("%d files, want %d", n, want)
	}
}

// A path that a fresh lookup refuses is refused too when its directory is
// the one already open.
func TestCreateChecksPathWithSharedParent(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "d"), 0o755)
	b := open(t, root)
	defer b.Close()
	if err := put(t, b, "d/one", "1"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"d/..", "d/.", "d//x", "", "d/x/"} {
		if err := put(t, b, p, "x"); err == nil {
			t.Errorf("create %q: no error", p)
		}
	}
}

// cached lists the directories the cache holds, sorted.
func cached(b *FS) []string {
	b.dirs.mu.Lock()
	defer b.dirs.mu.Unlock()
	var dirs []string
	for _, d := range b.dirs.dirs {
		dirs = append(dirs, d.path)
	}
	slices.Sort(dirs)
	return dirs
}

// The cache keeps the directories used last, up to dirCacheSize, one
// descriptor each, and lets the one used least recently go first.
func TestDirCacheKeepsRecentDirs(t *testing.T) {
	many := func(from, to int) []string {
		var dirs []string
		for i := from; i < to; i++ {
			dirs = append(dirs, fmt.Sprintf("d%02d", i))
		}
		return dirs
	}
	tests := []struct {
		name string
		use  []string // directories created in, in turn
		want []string // cached after
	}{
		{"one", []string{"d00", "d00", "d00"}, []string{"d00"}},
		{"two in turns", []string{"d00", "d01", "d00", "d01"}, []string{"d00", "d01"}},
		{"more than fit", many(0, dirCacheSize+3), many(3, dirCacheSize+3)},
		{"the one used stays", append(append(many(0, dirCacheSize), "d00"), many(dirCacheSize, dirCacheSize+1)...),
			append([]string{"d00"}, many(2, dirCacheSize+1)...)},
		{"the root's files", []string{"", "d00", ""}, []string{"", "d00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range many(0, dirCacheSize+3) {
				os.Mkdir(filepath.Join(root, d), 0o755)
			}
			before := openFDs(t)
			b := open(t, root)
			for i, d := range tt.use {
				if err := put(t, b, core.Join(d, fmt.Sprintf("f%d", i)), "x"); err != nil {
					t.Fatal(err)
				}
			}
			if got := cached(b); !slices.Equal(got, tt.want) {
				t.Errorf("cached %q, want %q", got, tt.want)
			}
			if n := openFDs(t) - before; n != 1+len(tt.want) {
				t.Errorf("%d descriptors open, want the root and %d cached", n, len(tt.want))
			}
			b.Close()
			if n := openFDs(t) - before; n != 0 {
				t.Errorf("%d descriptors open after Close", n)
			}
		})
	}
}

// Writers creating files at once in more directories than the cache
// holds, while the FS renames others, get every file where it was asked
// for and leave no descriptor behind (run with -race).
func TestDirCacheConcurrentWriters(t *testing.T) {
	tests := []struct {
		name    string
		writers int
		dirs    int
		renames bool
	}{
		{"fewer dirs than entries", 8, dirCacheSize / 2, false},
		{"more dirs than entries", 8, 2 * dirCacheSize, false},
		{"with renames", 8, 2 * dirCacheSize, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for i := range tt.dirs {
				os.Mkdir(filepath.Join(root, fmt.Sprintf("d%02d", i)), 0o755)
			}
			os.Mkdir(filepath.Join(root, "m"), 0o755)
			before := openFDs(t)
			b := open(t, root)
			const perWriter = 60
			done := make(chan struct{})
			var renamer sync.WaitGroup
			if tt.renames {
				renamer.Go(func() { // a directory no writer uses goes back and forth
					for i := 0; ; i++ {
						select {
						case <-done:
							return
						default:
						}
						from, to := "m", "n"
						if i%2 == 1 {
							from, to = to, from
						}
						if _, err := b.Rename(ctx, from, to, core.Precondition{Any: true}); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			var wg sync.WaitGroup
			for w := range tt.writers {
				wg.Go(func() {
					for i := range perWriter {
						p := fmt.Sprintf("d%02d/w%d-%d", (w*7+i)%tt.dirs, w, i)
						if err := put(t, b, p, p); err != nil {
							t.Errorf("%s: %v", p, err)
							return
						}
					}
				})
			}
			wg.Wait()
			close(done)
			renamer.Wait()
			for w := range tt.writers {
				for i := range perWriter {
					p := fmt.Sprintf("d%02d/w%d-%d", (w*7+i)%tt.dirs, w, i)
					if got, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(got) != p {
						t.Errorf("%s = %q, %v", p, got, err)
					}
				}
			}
			if n, most := openFDs(t)-before, 1+min(tt.dirs, dirCacheSize); n > most {
				t.Errorf("%d descriptors open after the writers finished, want %d at most", n, most)
			}
			b.Close()
			if n := openFDs(t) - before; n != 0 {
				t.Errorf("%d descriptors open after Close", n)
			}
		})
	}
}
