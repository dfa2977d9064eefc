package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/memfs"
	"github.com/async-sync/async/snapshot"
)

// fakeSnaps is one side's snapshots in memory; it records the calls made
// (under mu, shared by both sides: Hold opens and closes them at once).
type fakeSnaps struct {
	side    string
	mu      *sync.Mutex
	calls   *[]string
	store   *memfs.Store
	openErr error
	saveErr error
	saved   bool // Restore and Save report that they did something
}

func (f *fakeSnaps) call(c string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*f.calls = append(*f.calls, f.side+" "+c)
}

// sameCalls reports whether got holds want's calls in want's order up to
// the order of the two sides within a step (Hold opens and closes both
// sides at once): the steps, without their side, come in the same order.
func sameCalls(got, want []string) bool {
	steps := func(calls []string) []string {
		out := make([]string, len(calls))
		for i, c := range calls {
			_, out[i], _ = strings.Cut(c, " ")
		}
		return out
	}
	return slices.Equal(steps(got), steps(want)) && slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want)))
}

func (f *fakeSnaps) Open(_ context.Context, dryRun, reset bool) (core.Store, func(), error) {
	f.call("open" + map[bool]string{true: " dry-run"}[dryRun] + map[bool]string{true: " reset"}[reset])
	if f.openErr != nil {
		return nil, nil, f.openErr
	}
	if dryRun && reset {
		return nil, nil, nil
	}
	return f.store, func() { f.call("close") }, nil
}

func (f *fakeSnaps) Remove(context.Context) error { f.call("remove"); return nil }

func (f *fakeSnaps) Restore(context.Context) (bool, error) { f.call("restore"); return f.saved, nil }

func (f *fakeSnaps) Save(context.Context) (bool, error) { f.call("save"); return f.saved, f.saveErr }

func newSession(calls *[]string) (*Session, [2]*fakeSnaps) {
	mu := &sync.Mutex{}
	snaps := [2]*fakeSnaps{{side: "local", mu: mu, calls: calls, store: memfs.NewStore()}, {side: "remote", mu: mu, calls: calls, store: memfs.NewStore()}}
	return &Session{Snapshots: [2]Snapshots{snaps[0], snaps[1]}}, snaps
}

func TestSessionHold(t *testing.T) {
	tests := []struct {
		name          string
		dryRun, reset bool
		want          []string
		local, remote bool // stores held
	}{
		{"run", false, false, []string{"local open", "remote open", "local close", "remote close"}, true, true},
		{"reset", false, true, []string{"local remove", "remote remove", "local open reset", "remote open reset", "local close", "remote close"}, true, true},
		{"dry run", true, false, []string{"local open dry-run", "remote open dry-run", "local close", "remote close"}, true, true},
		// A dry run drops nothing; its snapshots open as new ones.
		{"dry run reset", true, true, []string{"local open dry-run reset", "remote open dry-run reset"}, false, false},
	}
	for _, tc := range tests {
		var calls []string
		s, snaps := newSession(&calls)
		s.DryRun, s.Reset = tc.dryRun, tc.reset
		if s.Held() {
			t.Fatalf("%s: held before Hold", tc.name)
		}
		release, err := s.Hold(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		st := s.Stores()
		if !s.Held() || (st[0] != nil) != tc.local || (st[1] != nil) != tc.remote {
			t.Fatalf("%s: held %v, stores %v", tc.name, s.Held(), st)
		}
		if tc.local && st[0] != core.Store(snaps[0].store) {
			t.Errorf("%s: the local store is not the local snapshot's", tc.name)
		}
		release()
		if s.Held() || s.Stores() != [2]core.Store{} {
			t.Errorf("%s: still held after release", tc.name)
		}
		if !sameCalls(calls, tc.want) {
			t.Errorf("%s: calls %q, want %q", tc.name, calls, tc.want)
		}
	}
}

func TestSessionHoldFailure(t *testing.T) {
	var calls []string
	s, snaps := newSession(&calls)
	locked := &snapshot.LockedError{Dir: "/x", PID: 42}
	snaps[1].openErr = locked
	release, err := s.Hold(context.Background())
	var le *snapshot.LockedError
	if !errors.As(err, &le) || le != locked || release != nil {
		t.Fatalf("Hold returned %v, want the lock error unchanged", err)
	}
	// What opened is closed again; nothing stays held.
	if want := []string{"local open", "remote open", "local close"}; !sameCalls(calls, want) {
		t.Errorf("calls %q, want %q", calls, want)
	}
	if s.Held() || s.Stores() != [2]core.Store{} {
		t.Error("held after a failed Hold")
	}
}

func TestSessionRestoreSave(t *testing.T) {
	var calls []string
	var logs bytes.Buffer
	s, snaps := newSession(&calls)
	s.Log = slog.New(slog.NewTextHandler(&logs, nil))
	s.StoreDirs = [2]string{"~/store", "remote-store"}
	snaps[1].saved = true
	if err := s.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `msg="snapshot restored" side=remote from=remote-store`) || strings.Contains(logs.String(), "side=local") {
		t.Errorf("restore log:\n%s", logs.String())
	}
	errFull := errors.New("disk full")
	snaps[0].saveErr = errFull
	err := s.Save(context.Background())
	if !errors.Is(err, errFull) || err.Error() != "store the local snapshot: disk full" {
		t.Errorf("Save returned %v", err)
	}
	// A side that fails does not keep the other from being saved.
	if want := []string{"local restore", "remote restore", "local save", "remote save"}; !slices.Equal(calls, want) {
		t.Errorf("calls %q, want %q", calls, want)
	}
	calls = nil
	s.DryRun = true
	if err := s.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 0 {
		t.Errorf("a dry run restored or saved: %q", calls)
	}
}

// putRecord opens the snapshot in dir, records p, and closes it.
func putRecord(t *testing.T, d *Dir, p string) {
	t.Helper()
	st, closeStore, err := d.Open(context.Background(), false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	if err := st.Put(context.Background(), core.Record{Entry: core.Entry{Path: p, Type: core.TypeFile}}); err != nil {
		t.Fatal(err)
	}
}

// records lists the paths the snapshot in dir records.
func records(t *testing.T, dir string) []string {
	t.Helper()
	db, err := snapshot.Open(dir, snapshot.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []string
	if err := db.Load(context.Background(), func(r core.Record) error { out = append(out, r.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDirSaveRestore(t *testing.T) {
	base := t.TempDir()
	d := &Dir{Path: filepath.Join(base, "work"), StoreDir: filepath.Join(base, "store")}
	ctx := context.Background()
	if ok, err := d.Save(ctx); ok || err != nil {
		t.Fatalf("save without a snapshot: %v, %v", ok, err)
	}
	if ok, err := d.Restore(ctx); ok || err != nil {
		t.Fatalf("restore without a stored copy: %v, %v", ok, err)
	}
	putRecord(t, d, "a")
	if ok, err := d.Save(ctx); !ok || err != nil {
		t.Fatalf("save: %v, %v", ok, err)
	}
	putRecord(t, d, "b")
	if ok, err := d.Save(ctx); !ok || err != nil {
		t.Fatalf("second save: %v, %v", ok, err)
	}
	// The stored copy is whole and replaced as a whole: no lock, no
	// leftovers beside it.
	if got := records(t, d.StoreDir); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("stored copy records %v", got)
	}
	for _, p := range []string{d.StoreDir + ".new", d.StoreDir + ".old", filepath.Join(d.StoreDir, "LOCK"), filepath.Join(d.StoreDir, "pid")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind (%v)", p, err)
		}
	}
	// A working copy that is there is not overwritten...
	if ok, err := d.Restore(ctx); ok || err != nil {
		t.Fatalf("restore over a working copy: %v, %v", ok, err)
	}
	// ...a missing one comes back.
	if err := d.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.Restore(ctx); !ok || err != nil {
		t.Fatalf("restore: %v, %v", ok, err)
	}
	if got := records(t, d.Path); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("restored snapshot records %v", got)
	}
}

func TestDirOpen(t *testing.T) {
	ctx := context.Background()
	d := &Dir{Path: filepath.Join(t.TempDir(), "snap")}
	// A dry run creates nothing: without a snapshot it plans as a first run.
	if st, _, err := d.Open(ctx, true, false); st != nil || err != nil {
		t.Fatalf("dry run without a snapshot: %v, %v", st, err)
	}
	if _, err := os.Stat(d.Path); !os.IsNotExist(err) {
		t.Fatalf("a dry run created %s", d.Path)
	}
	putRecord(t, d, "a")
	st, closeStore, err := d.Open(ctx, true, false)
	if err != nil || st == nil {
		t.Fatalf("dry run with a snapshot: %v, %v", st, err)
	}
	if err := st.Put(ctx, core.Record{Entry: core.Entry{Path: "x"}}); err == nil {
		t.Error("a dry run's snapshot took a write")
	}
	closeStore()
	if st, _, err := d.Open(ctx, true, true); st != nil || err != nil {
		t.Fatalf("dry run with reset: %v, %v; want none", st, err)
	}
	// While a run holds it, another is refused; Remove too.
	_, closeStore, err = d.Open(ctx, false, false)
	if err != nil {
		t.Fatal(err)
	}
	var le *snapshot.LockedError
	if _, _, err := d.Open(ctx, false, false); !errors.As(err, &le) {
		t.Errorf("second open: %v, want a lock error", err)
	}
	if err := d.Remove(ctx); !errors.As(err, &le) {
		t.Errorf("remove while open: %v, want a lock error", err)
	}
	closeStore()
	if err := d.Remove(ctx); err != nil || snapshot.Exists(d.Path) {
		t.Errorf("remove: %v", err)
	}
}

func TestNone(t *testing.T) {
	ctx := context.Background()
	var n None
	st, _, err := n.Open(ctx, true, false)
	ok1, err1 := n.Restore(ctx)
	ok2, err2 := n.Save(ctx)
	if st != nil || err != nil || ok1 || err1 != nil || ok2 || err2 != nil || n.Remove(ctx) != nil {
		t.Error("None did something")
	}
}

func TestPeek(t *testing.T) {
	ctx := context.Background()
	d := &Dir{Path: filepath.Join(t.TempDir(), "snap")}
	putRecord(t, d, "a") // no identity yet
	if rec, err := Peek(ctx, d.Path, 10); err != nil || rec.HasMeta || rec.Entries != 0 {
		t.Fatalf("without an identity: %+v, %v", rec, err)
	}
	st, closeStore, err := d.Open(ctx, false, false)
	if err != nil {
		t.Fatal(err)
	}
	m := core.Meta{Session: "s", Local: "file:///l", Remote: "file:///r"}
	for _, err := range []error{st.SetMeta(ctx, m), st.Put(ctx, core.Record{Entry: core.Entry{Path: "", Type: core.TypeDir}}),
		st.Put(ctx, core.Record{Entry: core.Entry{Path: "b", Type: core.TypeFile}})} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// While a run holds it, Peek says so.
	var le *snapshot.LockedError
	if _, err := Peek(ctx, d.Path, 10); !errors.As(err, &le) {
		t.Errorf("while held: %v, want a lock error", err)
	}
	closeStore()
	rec, err := Peek(ctx, d.Path, 10)
	if err != nil || !rec.HasMeta || rec.Meta.Session != "s" || rec.Meta.Remote != "file:///r" || rec.Entries != 2 {
		t.Errorf("peek: %+v, %v; want the identity and 2 entries (the root aside)", rec, err)
	}
	for _, c := range []struct{ upTo, want int }{{0, 0}, {1, 1}, {2, 2}} {
		if rec, err := Peek(ctx, d.Path, c.upTo); err != nil || !rec.HasMeta || rec.Entries != c.want {
			t.Errorf("peek counting up to %d: %+v, %v; want %d entries", c.upTo, rec, err, c.want)
		}
	}
	if got := records(t, d.Path); !slices.Equal(got, []string{"", "a", "b"}) {
		t.Errorf("Peek changed the records: %v", got)
	}
}

func TestSessionPeekMetas(t *testing.T) {
	ctx := context.Background()
	// dirs makes two snapshot directories, with a stored identity on the
	// sides named (its Side says which).
	dirs := func(t *testing.T, withMeta ...core.Side) [2]Snapshots {
		var snaps [2]Snapshots
		for side := range 2 {
			d := &Dir{Path: filepath.Join(t.TempDir(), "snap")}
			db, err := snapshot.Open(d.Path, snapshot.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(withMeta, core.Side(side)) {
				if err := db.SetMeta(ctx, core.Meta{Session: "s", Side: core.Side(side).String(), Stopped: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			snaps[side] = d
		}
		return snaps
	}
	tests := []struct {
		name  string
		setup func(t *testing.T) *Session
		ok    bool
	}{
		{"both stored", func(t *testing.T) *Session {
			return &Session{Snapshots: dirs(t, core.Local, core.Remote)}
		}, true},
		{"one side without", func(t *testing.T) *Session {
			return &Session{Snapshots: dirs(t, core.Local)}
		}, false},
		{"a side not a directory", func(t *testing.T) *Session {
			s := &Session{Snapshots: dirs(t, core.Local, core.Remote)}
			s.Snapshots[core.Remote] = None{}
			return s
		}, false},
		{"dry run", func(t *testing.T) *Session {
			return &Session{Snapshots: dirs(t, core.Local, core.Remote), DryRun: true}
		}, false},
		{"reset", func(t *testing.T) *Session {
			return &Session{Snapshots: dirs(t, core.Local, core.Remote), Reset: true}
		}, false},
		{"held by another run", func(t *testing.T) *Session {
			snaps := dirs(t, core.Local, core.Remote)
			db, err := snapshot.Open(snaps[core.Remote].(*Dir).Path, snapshot.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return &Session{Snapshots: snaps}
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.setup(t)
			metas, release, ok := s.PeekMetas()
			if ok != tc.ok || ok != (release != nil) {
				t.Fatalf("PeekMetas: ok=%v release=%v, want ok=%v", ok, release != nil, tc.ok)
			}
			if !ok {
				if _, isDir := s.Snapshots[core.Remote].(*Dir); isDir && tc.name != "held by another run" {
					// Nothing is held: the session can be.
					rel, err := s.Hold(ctx)
					if err != nil {
						t.Fatalf("Hold after a failed PeekMetas: %v", err)
					}
					rel()
				}
				return
			}
			for side := range 2 {
				if metas[side].Side != core.Side(side).String() {
					t.Errorf("metas[%d] = %+v", side, metas[side])
				}
			}
			var le *snapshot.LockedError
			if _, err := s.Hold(ctx); !errors.As(err, &le) {
				t.Fatalf("Hold while PeekMetas holds the locks: %v, want a *snapshot.LockedError", err)
			}
			release()
			rel, err := s.Hold(ctx)
			if err != nil {
				t.Fatalf("Hold after release: %v", err)
			}
			rel()
		})
	}
}
