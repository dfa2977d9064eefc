package snapshot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/async-sync/async/core"
)

// listDir returns the names in dir, the pid file left out.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if e.Name() != pidFile {
			names = append(names, e.Name())
		}
	}
	return names
}

// hasSuffix reports whether a name in names ends in suffix.
func hasSuffix(names []string, suffix string) bool {
	return slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, suffix) })
}

// closedSnapshot returns a snapshot directory holding paths, closed.
func closedSnapshot(t testing.TB, paths ...string) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db := openT(t, dir, Options{})
	for _, p := range paths {
		if err := db.Put(ctx, core.Record{Entry: core.Entry{Path: p, Size: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SetMeta(ctx, core.Meta{Session: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// openReadClose does what a run that changes nothing does with a
// snapshot: open it for writing, read its identity and records, flush,
// close.
func openReadClose(t testing.TB, dir string) {
	t.Helper()
	ctx := context.Background()
	db := openT(t, dir, Options{})
	if _, _, err := db.Meta(ctx); err != nil {
		t.Fatal(err)
	}
	loadAll(t, db)
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWriterReadsUntilFirstWrite: a writer of a cleanly closed snapshot
// reads it through a read-only handle (no memtable, no new value-log file)
// and holds it as exclusively as a writing one; its first write reopens
// it for writing, and what it wrote is there after Close.
func TestWriterReadsUntilFirstWrite(t *testing.T) {
	ctx := context.Background()
	dir := closedSnapshot(t, "a")
	before := listDir(t, dir)
	db := openT(t, dir, Options{})
	if db.writing || db.reader == nil {
		t.Fatalf("writer of a closed snapshot: writing %v, reader %v; want a read-only handle", db.writing, db.reader != nil)
	}
	if got := listDir(t, dir); !slices.Equal(got, before) {
		t.Errorf("opening created files: %v, was %v", got, before)
	}
	for name, open := range map[string]func() error{
		"write":     func() error { _, err := Open(dir, Options{}); return err },
		"read-only": func() error { _, err := Open(dir, Options{ReadOnly: true}); return err },
		"remove":    func() error { return Remove(dir) },
	} {
		var le *LockedError
		if err := open(); !errors.As(err, &le) || le.PID != os.Getpid() {
			t.Errorf("%s while a writer reads: %v, want a *LockedError naming pid %d", name, err, os.Getpid())
		}
	}
	if got := loadAll(t, db); len(got) != 1 || got[0].Path != "a" {
		t.Fatalf("Load before writing: %+v", got)
	}
	if err := db.Put(ctx, core.Record{Entry: core.Entry{Path: "b", Size: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if !db.writing {
		t.Fatal("a flushed write left the snapshot read-only")
	}
	if !hasSuffix(listDir(t, dir), ".mem") {
		t.Errorf("reopened for writing without a memtable: %v", listDir(t, dir))
	}
	if got := loadAll(t, db); len(got) != 2 {
		t.Fatalf("Load after the write: %+v, want a and b", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openT(t, dir, Options{ReadOnly: true})
	defer db.Close()
	if got := loadAll(t, db); len(got) != 2 || got[1].Path != "b" || got[1].Size != 2 {
		t.Fatalf("after Close: %+v, want a and b", got)
	}
}

// TestNoWriteRunsLeaveTheDirectory: opening and closing a snapshot without
// writing, many times, leaves its directory as it was (no value-log or
// memtable file per open).
func TestNoWriteRunsLeaveTheDirectory(t *testing.T) {
	dir := closedSnapshot(t, "a", "b")
	before := listDir(t, dir)
	for range 20 {
		openReadClose(t, dir)
	}
	if got := listDir(t, dir); !slices.Equal(got, before) {
		t.Errorf("after 20 runs that wrote nothing: %v, was %v", got, before)
	}
}

// TestFirstWriteDuringLoad: the first write may come while a Load walks
// the read-only handle (from its callback): the reopen does not wait for
// the walk, and the walk goes on.
func TestFirstWriteDuringLoad(t *testing.T) {
	ctx := context.Background()
	dir := closedSnapshot(t, "a", "b", "c")
	db := openT(t, dir, Options{})
	var seen []string
	err := db.Load(ctx, func(r core.Record) error {
		seen = append(seen, r.Path)
		if err := db.Put(ctx, core.Record{Entry: core.Entry{Path: r.Path + "2", Size: 3}}); err != nil {
			return err
		}
		return db.Flush(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []string{"a", "b", "c"}) {
		t.Errorf("Load saw %v", seen)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openT(t, dir, Options{ReadOnly: true})
	defer db.Close()
	if got := loadAll(t, db); len(got) != 6 {
		t.Fatalf("after Close: %d records, want 6", len(got))
	}
}

// TestWriterOpensForWritingWhenItMust: a new snapshot, and one whose
// memtable Badger must replay (a run killed before Close), are opened for
// writing at once; the replayed record is there.
func TestWriterOpensForWritingWhenItMust(t *testing.T) {
	ctx := context.Background()
	fresh := filepath.Join(t.TempDir(), "new")
	db := openT(t, fresh, Options{})
	if !db.writing || db.reader != nil {
		t.Errorf("new snapshot: writing %v, reader %v; want opened for writing", db.writing, db.reader != nil)
	}
	if err := db.Put(ctx, core.Record{Entry: core.Entry{Path: "a", Size: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// A copy of the directory now is what a run killed here leaves.
	crashed := filepath.Join(t.TempDir(), "crashed")
	if err := copyDir(fresh, crashed); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if !hasSuffix(listDir(t, crashed), ".mem") {
		t.Skipf("no memtable left to replay: %v", listDir(t, crashed))
	}
	db = openT(t, crashed, Options{})
	defer db.Close()
	if !db.writing || db.reader != nil {
		t.Errorf("snapshot with a memtable to replay: writing %v, reader %v; want opened for writing", db.writing, db.reader != nil)
	}
	if got := loadAll(t, db); len(got) != 1 || got[0].Path != "a" {
		t.Fatalf("replayed: %+v, want a", got)
	}
}

// copyDir copies the regular files of from into a new directory to.
func copyDir(from, to string) error {
	if err := os.MkdirAll(to, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
