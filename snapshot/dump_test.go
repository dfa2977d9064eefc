package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/async-sync/async/core"
	"github.com/dgraph-io/badger/v4"
)

// dumpRecords is how many records the dump tests write.
const dumpRecords = 300

// newDumped returns a closed snapshot in a new directory holding
// benchRecord(0..n-1), with a current dump: written as by a run's Load of
// the (empty) snapshot, then its records.
func newDumped(t *testing.T, n int) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db := openT(t, dir, Options{})
	db.dumpMin = 1
	loadAll(t, db)
	for i := range n {
		if err := db.Put(ctx, benchRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, dumpFile)); err != nil {
		t.Fatalf("no dump after Close: %v", err)
	}
	return dir
}

// fromDump loads db through its dump only, reporting whether it was used.
func fromDump(t *testing.T, db *DB) ([]core.Record, bool) {
	t.Helper()
	var got []core.Record
	used, err := db.loadDump(context.Background(), func(r core.Record) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatalf("loadDump: %v", err)
	}
	return got, used
}

// checkLoad checks that Load returns want, in order.
func checkLoad(t *testing.T, db *DB, want []core.Record) {
	t.Helper()
	got := loadAll(t, db)
	if len(got) != len(want) {
		t.Fatalf("Load returned %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameRecord(got[i], want[i]) {
			t.Fatalf("record %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// benchRecords returns benchRecord(0..n-1) in path order.
func benchRecords(n int) []core.Record {
	recs := make([]core.Record, n)
	for i := range recs {
		recs[i] = benchRecord(i)
	}
	sortRecords(recs)
	return recs
}

// sortRecords sorts recs in core.ComparePaths order.
func sortRecords(recs []core.Record) {
	for i := 1; i < len(recs); i++ {
		for j := i; j > 0 && core.ComparePaths(recs[j-1].Path, recs[j].Path) > 0; j-- {
			recs[j-1], recs[j] = recs[j], recs[j-1]
		}
	}
}

// TestDumpIsUsedWhenCurrent: Close writes the dump; the next Load streams
// it (read-write and read-only) and returns exactly what Badger holds.
func TestDumpIsUsedWhenCurrent(t *testing.T) {
	dir := newDumped(t, dumpRecords)
	want := benchRecords(dumpRecords)
	for _, ro := range []bool{false, true} {
		db := openT(t, dir, Options{ReadOnly: ro})
		got, used := fromDump(t, db)
		if !used {
			t.Fatalf("readonly=%v: a current dump was not used", ro)
		}
		if len(got) != len(want) {
			t.Fatalf("dump holds %d records, want %d", len(got), len(want))
		}
		for i := range want {
			if !sameRecord(got[i], want[i]) {
				t.Fatalf("dump record %d = %+v, want %+v", i, got[i], want[i])
			}
		}
		checkLoad(t, db, want)
		db.noDump = true
		checkLoad(t, db, want) // Badger agrees
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDumpStaleAfterWrite: a write after the dump (pending, flushed, or a
// delete) makes it stale at once; Load then reads Badger, and the next
// Close writes a current dump again.
func TestDumpStaleAfterWrite(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		write func(db *DB) error
		want  func([]core.Record) []core.Record
	}{
		{"put", func(db *DB) error {
			r := benchRecord(7)
			r.Size = 123456789
			return db.Put(ctx, r)
		}, func(recs []core.Record) []core.Record {
			for i := range recs {
				if recs[i].Path == benchRecord(7).Path {
					recs[i].Size = 123456789
				}
			}
			return recs
		}},
		{"delete", func(db *DB) error {
			return db.Delete(ctx, benchRecord(7).Path)
		}, func(recs []core.Record) []core.Record {
			out := recs[:0]
			for _, r := range recs {
				if r.Path != benchRecord(7).Path {
					out = append(out, r)
				}
			}
			return out
		}},
	} {
		for _, flush := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/flush=%v", tc.name, flush), func(t *testing.T) {
				dir := newDumped(t, dumpRecords)
				want := tc.want(benchRecords(dumpRecords))
				db := openT(t, dir, Options{})
				db.dumpMin = 1
				if err := tc.write(db); err != nil {
					t.Fatal(err)
				}
				if flush {
					if err := db.Flush(ctx); err != nil {
						t.Fatal(err)
					}
				}
				checkLoad(t, db, want)
				if _, used := fromDump(t, db); used {
					t.Fatal("a stale dump was used")
				}
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				db = openT(t, dir, Options{ReadOnly: true})
				defer db.Close()
				if _, used := fromDump(t, db); !used {
					t.Fatal("Close did not write a current dump")
				}
				checkLoad(t, db, want)
			})
		}
	}
}

// TestDumpStaleAfterCrash: a run that wrote records and died without
// closing leaves the previous dump in place; its stamp no longer matches
// Badger's and Load reads Badger. (The crash is simulated by putting the
// previous dump back after the run.)
func TestDumpStaleAfterCrash(t *testing.T) {
	ctx := context.Background()
	dir := newDumped(t, dumpRecords)
	old, err := os.ReadFile(filepath.Join(dir, dumpFile))
	if err != nil {
		t.Fatal(err)
	}
	db := openT(t, dir, Options{})
	db.dumpMin = 1
	r := benchRecord(dumpRecords) // a new path
	if err := db.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, dumpFile), old, 0o600); err != nil {
		t.Fatal(err)
	}
	db = openT(t, dir, Options{})
	defer db.Close()
	if _, used := fromDump(t, db); used {
		t.Fatal("the dump of the run before the crash was used")
	}
	checkLoad(t, db, benchRecords(dumpRecords+1))
}

// TestDumpDamagedIsIgnored: a dump cut short or with a changed byte
// anywhere (header, a record, the trailer) is not used, and Load returns
// Badger's records.
func TestDumpDamagedIsIgnored(t *testing.T) {
	dir := newDumped(t, dumpRecords)
	path := filepath.Join(dir, dumpFile)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := benchRecords(dumpRecords)
	damages := map[string][]byte{
		"empty":     {},
		"header":    good[:10],
		"no-tail":   good[:len(good)-1],
		"half":      good[:len(good)/2],
		"extra":     append(append([]byte{}, good...), 0),
		"magic":     flip(good, 0),
		"stamp":     flip(good, len(dumpMagic)+3),
		"record":    flip(good, len(good)/2),
		"count":     flip(good, len(good)-trailerSize),
		"crc":       flip(good, len(good)-trailerSize+9),
		"end-magic": flip(good, len(good)-1),
	}
	for name, b := range damages {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			db := openT(t, dir, Options{ReadOnly: true})
			defer db.Close()
			if _, used := fromDump(t, db); used {
				t.Fatal("a damaged dump was used")
			}
			checkLoad(t, db, want)
		})
	}
}

// flip returns a copy of b with byte i changed.
func flip(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	c[i] ^= 0x5a
	return c
}

// TestDumpFromAnotherSession: a dump of another snapshot, even one with the
// same records, is never used.
func TestDumpFromAnotherSession(t *testing.T) {
	a := newDumped(t, dumpRecords)
	b := newDumped(t, dumpRecords+1)
	other, err := os.ReadFile(filepath.Join(a, dumpFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b, dumpFile), other, 0o600); err != nil {
		t.Fatal(err)
	}
	db := openT(t, b, Options{ReadOnly: true})
	defer db.Close()
	if _, used := fromDump(t, db); used {
		t.Fatal("another session's dump was used")
	}
	checkLoad(t, db, benchRecords(dumpRecords+1))
}

// TestDumpOfUnstampedSnapshot: a snapshot written before stamps existed
// loads from Badger; Close stamps it and writes its dump.
func TestDumpOfUnstampedSnapshot(t *testing.T) {
	dir := t.TempDir()
	bdb, err := badger.Open(badgerOptions(dir, false))
	if err != nil {
		t.Fatal(err)
	}
	want := benchRecords(dumpRecords)
	wb := bdb.NewWriteBatch()
	for i := range want {
		if err := wb.Set(recordKey(want[i].Path), encodeRecord(nil, &want[i])); err != nil {
			t.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}
	db := openT(t, dir, Options{})
	db.dumpMin = 1
	checkLoad(t, db, want)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openT(t, dir, Options{ReadOnly: true})
	defer db.Close()
	if _, used := fromDump(t, db); !used {
		t.Fatal("no current dump after the first Close")
	}
	checkLoad(t, db, want)
}

// TestDumpSmallSnapshot: below dumpMin records Close writes no dump and
// removes one left from when the snapshot was larger.
func TestDumpSmallSnapshot(t *testing.T) {
	ctx := context.Background()
	dir := newDumped(t, dumpRecords)
	db := openT(t, dir, Options{})
	db.dumpMin = dumpRecords + 1000
	loadAll(t, db)
	if err := db.Delete(ctx, benchRecord(0).Path); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, dumpFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dump of a small snapshot: %v", err)
	}
}

// TestDumpCallerError: an error from Load's callback while it streams the
// dump stops Load and is returned as is.
func TestDumpCallerError(t *testing.T) {
	dir := newDumped(t, dumpRecords)
	db := openT(t, dir, Options{ReadOnly: true})
	defer db.Close()
	stop := errors.New("stop")
	n := 0
	err := db.Load(context.Background(), func(core.Record) error {
		if n++; n == 5 {
			return stop
		}
		return nil
	})
	if err != stop || n != 5 {
		t.Fatalf("Load = %v after %d records, want %v after 5", err, n, stop)
	}
}

// TestDumpTempLeftoverRemoved: a temporary dump left by a process killed
// while writing it is removed when the next dump is written.
func TestDumpTempLeftoverRemoved(t *testing.T) {
	ctx := context.Background()
	dir := newDumped(t, dumpRecords)
	left := filepath.Join(dir, ".records.dump-123.tmp")
	if err := os.WriteFile(left, []byte("torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := openT(t, dir, Options{})
	db.dumpMin = 1
	loadAll(t, db)
	if err := db.Put(ctx, benchRecord(dumpRecords)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover temporary dump: %v", err)
	}
}

// crashHelperEnv names the snapshot directory a re-executed test binary
// writes to and then exits without closing (TestDumpStaleAfterProcessCrash).
const crashHelperEnv = "ASYNC_SNAPSHOT_CRASH_HELPER"

// TestDumpStaleAfterProcessCrash: a process that writes records after the
// dump and dies without closing (its last batch synced or not) leaves a
// snapshot whose Load returns exactly what Badger holds, never the dump's
// older records.
func TestDumpStaleAfterProcessCrash(t *testing.T) {
	if dir := os.Getenv(crashHelperEnv); dir != "" {
		db, err := Open(dir, Options{})
		if err != nil {
			os.Exit(3)
		}
		r := benchRecord(dumpRecords)
		if err := db.Put(context.Background(), r); err != nil {
			os.Exit(4)
		}
		if err := db.write(os.Getenv(crashHelperEnv+"_SYNC") != ""); err != nil {
			os.Exit(5)
		}
		os.Exit(0) // no Close: no new dump
	}
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) {
			dir := newDumped(t, dumpRecords)
			cmd := exec.Command(os.Args[0], "-test.run", "^TestDumpStaleAfterProcessCrash$")
			cmd.Env = append(os.Environ(), crashHelperEnv+"="+dir)
			if sync {
				cmd.Env = append(cmd.Env, crashHelperEnv+"_SYNC=1")
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			db := openT(t, dir, Options{}) // as the next run does
			defer db.Close()
			db.noDump = true
			fromBadger := loadAll(t, db)
			if len(fromBadger) != dumpRecords+1 {
				t.Fatalf("Badger holds %d records after the crash, want %d", len(fromBadger), dumpRecords+1)
			}
			if _, used := fromDump(t, db); used {
				t.Fatal("the dump from before the crash was used")
			}
			db.noDump = false
			checkLoad(t, db, fromBadger)
		})
	}
}

// TestDumpNeedsWholeLoad: a run that did not load every record (it read a
// few paths, as a journal-driven resync does, or its Load stopped early)
// and wrote some leaves the dump as it was, stale, instead of reading the
// whole snapshot at Close to write a new one; the next Load reads Badger.
func TestDumpNeedsWholeLoad(t *testing.T) {
	ctx := context.Background()
	stop := errors.New("stop")
	for _, tc := range []struct {
		name string
		read func(db *DB) error
	}{
		{"nothing", func(*DB) error { return nil }},
		{"paths", func(db *DB) error {
			return db.LoadPaths(ctx, []string{benchRecord(3).Path, benchRecord(4).Path}, nil, func(core.Record) error { return nil })
		}},
		{"stopped", func(db *DB) error {
			if err := db.Load(ctx, func(core.Record) error { return stop }); err != stop {
				return fmt.Errorf("Load = %v, want %v", err, stop)
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newDumped(t, dumpRecords)
			path := filepath.Join(dir, dumpFile)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			db := openT(t, dir, Options{})
			db.dumpMin = 1
			if err := tc.read(db); err != nil {
				t.Fatal(err)
			}
			if err := db.Put(ctx, benchRecord(dumpRecords)); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("the dump is gone: %v", err)
			}
			if !bytes.Equal(before, after) {
				t.Fatal("Close rewrote the dump without a whole Load")
			}
			db = openT(t, dir, Options{ReadOnly: true})
			defer db.Close()
			if _, used := fromDump(t, db); used {
				t.Fatal("the stale dump was used")
			}
			checkLoad(t, db, benchRecords(dumpRecords+1))
		})
	}
}

// TestDumpMergesChanges: after a Load through the dump, Close writes the
// next dump from it and the run's writes (changeSet), not from Badger; the
// result is exactly what Badger holds. Past its bound the change set is
// dropped and Close reads Badger, with the same result.
func TestDumpMergesChanges(t *testing.T) {
	ctx := context.Background()
	rec := func(path string, size int64) core.Record {
		r := benchRecord(1)
		r.Path, r.Size = path, size
		return r
	}
	first, last := benchRecords(dumpRecords)[0].Path, benchRecords(dumpRecords)[dumpRecords-1].Path
	type op struct {
		del   bool
		r     core.Record
		flush bool // Flush after it
	}
	put := func(r core.Record) op { return op{r: r} }
	del := func(p string) op { return op{del: true, r: core.Record{Entry: core.Entry{Path: p}}} }
	for _, tc := range []struct {
		name  string
		ops   []op
		max   int
		track bool // the change set is still kept at Close
	}{
		{"none", nil, changesMaxBytes, true},
		{"modify", []op{put(rec(benchRecord(7).Path, 1))}, changesMaxBytes, true},
		{"before the first", []op{put(rec("a", 2)), put(rec("a/b", 3))}, changesMaxBytes, true},
		{"after the last", []op{put(rec(last+"z", 4)), put(rec("zz/top", 5))}, changesMaxBytes, true},
		{"between", []op{put(rec(first+"-between", 6))}, changesMaxBytes, true},
		{"delete", []op{del(first), del(last), del(benchRecord(9).Path)}, changesMaxBytes, true},
		{"delete unknown", []op{del("nothing/here")}, changesMaxBytes, true},
		{"put then delete", []op{{r: rec("new", 7), flush: true}, del("new")}, changesMaxBytes, true},
		{"delete then put", []op{{del: true, r: benchRecord(3), flush: true}, put(rec(benchRecord(3).Path, 8))}, changesMaxBytes, true},
		{"last write wins", []op{{r: rec(benchRecord(5).Path, 9), flush: true}, put(rec(benchRecord(5).Path, 10))}, changesMaxBytes, true},
		{"outgrown", []op{put(rec("a", 1)), put(rec("b", 2)), put(rec("c", 3))}, 100, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newDumped(t, dumpRecords)
			want := map[string]core.Record{}
			for _, r := range benchRecords(dumpRecords) {
				want[r.Path] = r
			}
			db := openT(t, dir, Options{})
			db.dumpMin = 1
			db.changes.max = tc.max
			if _, used := fromDump(t, db); !used {
				t.Fatal("the dump was not used")
			}
			for _, o := range tc.ops {
				var err error
				if o.del {
					err = db.Delete(ctx, o.r.Path)
					delete(want, o.r.Path)
				} else {
					err = db.Put(ctx, o.r)
					want[o.r.Path] = o.r
				}
				if err == nil && o.flush {
					err = db.Flush(ctx)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if got := db.changes.base != nil; got != tc.track {
				t.Fatalf("change set kept: %v, want %v", got, tc.track)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			var wantRecs []core.Record
			for _, r := range want {
				wantRecs = append(wantRecs, r)
			}
			sortRecords(wantRecs)
			db = openT(t, dir, Options{ReadOnly: true})
			defer db.Close()
			got, used := fromDump(t, db)
			if !used {
				t.Fatal("Close did not write a current dump")
			}
			if len(got) != len(wantRecs) {
				t.Fatalf("dump holds %d records, want %d", len(got), len(wantRecs))
			}
			for i := range wantRecs {
				if !sameRecord(got[i], wantRecs[i]) {
					t.Fatalf("dump record %d = %+v, want %+v", i, got[i], wantRecs[i])
				}
			}
			db.noDump = true
			checkLoad(t, db, wantRecs) // Badger agrees
		})
	}
}

// TestDumpChangesDroppedOnWriteError: a write that fails may leave part of
// its batch in Badger, so the change set is dropped for good.
func TestDumpChangesDroppedOnWriteError(t *testing.T) {
	var c changeSet
	c.max = changesMaxBytes
	c.start([]byte("stamp"))
	c.add([]pendingWrite{{key: []byte("k"), val: []byte("v")}})
	if c.base == nil || len(c.writes) != 1 {
		t.Fatalf("not kept: %+v", c)
	}
	c.drop()
	c.start([]byte("stamp"))
	c.add([]pendingWrite{{key: []byte("k2"), val: []byte("v")}})
	if c.base != nil || c.writes != nil {
		t.Fatalf("kept after a drop: %+v", c)
	}
}
