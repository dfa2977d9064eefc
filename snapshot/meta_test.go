package snapshot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/async-sync/async/core"
)

func TestPeekMeta(t *testing.T) {
	ctx := context.Background()
	running := core.Meta{Session: "s", Local: "/a", Remote: "/b", Direction: "push", Side: "local",
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	done := running
	done.Stopped, done.Journal = running.Started.Add(time.Minute), "watchd1 e 42 fp"
	tests := []struct {
		name   string
		setup  func(t *testing.T, dir string) // leaves the snapshot closed
		wantOK bool
		want   core.Meta
	}{
		{"no snapshot", func(t *testing.T, dir string) {}, false, core.Meta{}},
		{"no identity yet", func(t *testing.T, dir string) {
			openT(t, dir, Options{}).Close()
		}, false, core.Meta{}},
		{"last identity", func(t *testing.T, dir string) {
			db := openT(t, dir, Options{})
			defer db.Close()
			for _, m := range []core.Meta{done, running, done} {
				if err := db.SetMeta(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
		}, true, done},
		{"identity of a run that did not end", func(t *testing.T, dir string) {
			db := openT(t, dir, Options{})
			defer db.Close()
			if err := db.SetMeta(ctx, done); err != nil {
				t.Fatal(err)
			}
			if err := db.SetMeta(ctx, running); err != nil {
				t.Fatal(err)
			}
		}, false, core.Meta{}},
		{"stopped between the Badger write and the copy", func(t *testing.T, dir string) {
			db := openT(t, dir, Options{})
			defer db.Close()
			if err := db.SetMeta(ctx, done); err != nil {
				t.Fatal(err)
			}
			// What a crash after dropMetaCopy leaves: no copy at all.
			if err := db.dropMetaCopy(); err != nil {
				t.Fatal(err)
			}
		}, false, core.Meta{}},
		{"a link in the copy's place", func(t *testing.T, dir string) {
			db := openT(t, dir, Options{})
			if err := db.SetMeta(ctx, done); err != nil {
				t.Fatal(err)
			}
			db.Close()
			elsewhere := filepath.Join(t.TempDir(), "meta.json")
			if err := os.Rename(filepath.Join(dir, metaFile), elsewhere); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(elsewhere, filepath.Join(dir, metaFile)); err != nil {
				t.Fatal(err)
			}
		}, false, core.Meta{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "snap")
			tt.setup(t, dir)
			m, ok, release, err := PeekMeta(dir)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK || ok != (release != nil) {
				t.Fatalf("PeekMeta: ok=%v release=%v, want ok=%v", ok, release != nil, tt.wantOK)
			}
			if !ok {
				openT(t, dir, Options{}).Close() // nothing held
				return
			}
			if !reflect.DeepEqual(m, tt.want) {
				t.Fatalf("PeekMeta = %+v, want %+v", m, tt.want)
			}
			// The copy is what Open reads.
			release()
			db := openT(t, dir, Options{ReadOnly: true})
			defer db.Close()
			if got, _, err := db.Meta(ctx); err != nil || !reflect.DeepEqual(got, m) {
				t.Fatalf("Meta = %+v, %v; the copy said %+v", got, err, m)
			}
		})
	}
}

// TestPeekMetaLocks: PeekMeta holds the lock Open takes, and is refused
// while the snapshot is open.
func TestPeekMetaLocks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openT(t, dir, Options{})
	if err := db.SetMeta(ctx, core.Meta{Session: "s", Stopped: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var le *LockedError
	if _, _, _, err := PeekMeta(dir); !errors.As(err, &le) || le.PID != os.Getpid() {
		t.Fatalf("PeekMeta of an open snapshot: %v, want a *LockedError naming pid %d", err, os.Getpid())
	}
	db.Close()
	_, ok, release, err := PeekMeta(dir)
	if err != nil || !ok {
		t.Fatalf("PeekMeta: ok=%v err=%v", ok, err)
	}
	if _, err := Open(dir, Options{}); !errors.As(err, &le) {
		t.Fatalf("Open while PeekMeta holds the lock: %v, want a *LockedError", err)
	}
	release()
	openT(t, dir, Options{}).Close()
}

// TestMetaCopyReplacesALink: SetMeta replaces a link planted in the
// copy's place (or the temporary file's) instead of writing through it.
func TestMetaCopyReplacesALink(t *testing.T) {
	for _, name := range []string{metaFile, metaTemp} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			victim := filepath.Join(t.TempDir(), "victim")
			if err := os.WriteFile(victim, []byte("keep"), 0o600); err != nil {
				t.Fatal(err)
			}
			db := openT(t, dir, Options{})
			defer db.Close()
			if err := os.Symlink(victim, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			if err := db.SetMeta(context.Background(), core.Meta{Session: "s", Stopped: time.Now()}); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(victim); string(b) != "keep" {
				t.Errorf("written through the link: %q", b)
			}
			if fi, err := os.Lstat(filepath.Join(dir, metaFile)); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("the copy: %v, %v", fi, err)
			}
		})
	}
}
