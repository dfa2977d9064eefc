//go:build linux

package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			os.Mkdir(filepath.Join(root, "d"), 0o755)
			b := open(t, root)
			defer b.Close()
			if err := put(t, b, "d/one", "1"); err != nil {
				t.Fatal(err)
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
	if n := openFDs(t) - before; n > 2 { // the root and one cached directory
		t.Errorf("%d descriptors open after the writers finished, want 2 at most", n)
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
