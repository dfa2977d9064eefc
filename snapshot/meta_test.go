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
		}, true, running},
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
	if err := db.SetMeta(ctx, core.Meta{Session: "s"}); err != nil {
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
