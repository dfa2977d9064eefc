package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/badgerfix"
	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

func openT(t testing.TB, dir string, opts Options) *DB {
	t.Helper()
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return db
}

func loadAll(t testing.TB, db *DB) []core.Record {
	t.Helper()
	var recs []core.Record
	if err := db.Load(context.Background(), func(r core.Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatalf("Load: %v", err)
	}
	return recs
}

func sameRecord(a, b core.Record) bool {
	if !a.MTime.Equal(b.MTime) {
		return false
	}
	a.MTime, b.MTime = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		rec  core.Record
	}{
		{"zero root", core.Record{}},
		{"full file", core.Record{
			Entry: core.Entry{
				Path: "docs/a.txt", Type: core.TypeFile, Size: 1 << 40,
				MTime: time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC),
				Mode:  0o4755, UID: 1000, GID: 100,
				Hash: "sha256:abcdef", Token: "1712345678.123", FileID: "64769:123456",
			},
			Status: core.StatusSynced,
		}},
		{"symlink conflict", core.Record{
			Entry:  core.Entry{Path: "link", Type: core.TypeSymlink, Target: "../x/y z", UID: core.NoID, GID: core.NoID, MTime: time.Unix(-5, 7)},
			Status: core.StatusConflict, Note: "changed on both sides",
		}},
		{"dir error", core.Record{
			Entry:  core.Entry{Path: "a dir/sub", Type: core.TypeDir, Mode: 0o1777},
			Status: core.StatusError, Note: "permission denied: ünïcødé",
		}},
		{"unicode path", core.Record{Entry: core.Entry{Path: "日本語/ファイル.txt", Type: core.TypeFile, Size: 3}}},
		{"odd bytes", core.Record{Entry: core.Entry{Path: "odd\x01\xff/ \t\n/x", Type: core.TypeFile, Size: -1}}},
		{"far time", core.Record{Entry: core.Entry{Path: "far", MTime: time.Date(3000, 1, 1, 0, 0, 0, 1, time.UTC)}}},
		{"long strings", core.Record{Entry: core.Entry{Path: "long", Hash: string(make([]byte, 5000))}, Note: "n"}},
	}
	dir := t.TempDir()
	db := openT(t, dir, Options{})
	for _, tt := range tests {
		if err := db.Put(ctx, tt.rec); err != nil {
			t.Fatalf("%s: Put: %v", tt.name, err)
		}
	}
	check := func(stage string, db *DB) {
		got := map[string]core.Record{}
		for _, r := range loadAll(t, db) {
			got[r.Path] = r
		}
		if len(got) != len(tests) {
			t.Errorf("%s: loaded %d records, want %d", stage, len(got), len(tests))
		}
		for _, tt := range tests {
			r, ok := got[tt.rec.Path]
			if !ok || !sameRecord(r, tt.rec) {
				t.Errorf("%s: %s: got %+v, want %+v", stage, tt.name, r, tt.rec)
			}
		}
	}
	check("pending", db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openT(t, dir, Options{})
	defer db.Close()
	check("reopened", db)
}

func TestZeroTimeExact(t *testing.T) {
	var r core.Record
	r.UID = core.NoID
	var got core.Record
	if err := decodeRecord(encodeRecord(nil, &r), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("got %+v, want %+v", got, r)
	}
	if err := decodeRecord(encodeRecord(nil, &r)[:5], &got); err == nil {
		t.Fatal("truncated record decoded")
	}
}

func TestLoadOrder(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		paths []string
	}{
		{"siblings", []string{"ab", "a.b", "a/b", "a-b", "a"}},
		{"nested", []string{"a/b/c", "a/b", "a/b-c", "a/b/c/d", "a/bc", "a0", "", "a"}},
		{"bytes", []string{"z", "\x01", "a/\x01", "a\x01", "é", "e/é"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openT(t, t.TempDir(), Options{})
			defer db.Close()
			for _, p := range tt.paths {
				if err := db.Put(ctx, core.Record{Entry: core.Entry{Path: p}}); err != nil {
					t.Fatal(err)
				}
			}
			want := slices.Clone(tt.paths)
			slices.SortFunc(want, core.ComparePaths)
			var got []string
			for _, r := range loadAll(t, db) {
				got = append(got, r.Path)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("order %q, want %q", got, want)
			}
		})
	}
}

func TestDeleteAndCount(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openT(t, dir, Options{})
	for i, s := range []core.Status{core.StatusSynced, core.StatusSynced, core.StatusConflict, core.StatusError} {
		if err := db.Put(ctx, core.Record{Entry: core.Entry{Path: fmt.Sprint("f", i)}, Status: s}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"f0", "f2", "missing"} {
		if err := db.Delete(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	// Put then Delete while pending, and Delete then Put.
	_ = db.Put(ctx, core.Record{Entry: core.Entry{Path: "tmp"}})
	_ = db.Delete(ctx, "tmp")
	_ = db.Delete(ctx, "f3")
	_ = db.Put(ctx, core.Record{Entry: core.Entry{Path: "f3"}, Status: core.StatusError, Note: "again"})
	// Two Puts while pending: the last counts.
	_ = db.Put(ctx, core.Record{Entry: core.Entry{Path: "f1"}, Status: core.StatusError, Note: "first"})
	_ = db.Put(ctx, core.Record{Entry: core.Entry{Path: "f1"}})
	want := map[core.Status]int{core.StatusSynced: 1, core.StatusError: 1}
	got, err := db.Count(ctx)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Count = %v, %v; want %v", got, err, want)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openT(t, dir, Options{})
	defer db.Close()
	var paths []string
	for _, r := range loadAll(t, db) {
		paths = append(paths, r.Path+":"+r.Note)
	}
	if !slices.Equal(paths, []string{"f1:", "f3:again"}) {
		t.Fatalf("after reopen: %q", paths)
	}
}

func TestMeta(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		meta core.Meta
	}{
		{"full", core.Meta{
			Session: "s1", Local: "/home/u/dir", Remote: "s3://b/p", Direction: "bidi",
			Checksum: "sha256", Filters: []string{"-E *.tmp", "+ keep"}, Side: "local",
			Started: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), Stopped: time.Date(2025, 1, 2, 4, 0, 0, 0, time.UTC),
		}},
		{"minimal", core.Meta{Session: "x", Side: "remote"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			db := openT(t, dir, Options{})
			if _, ok, err := db.Meta(ctx); ok || err != nil {
				t.Fatalf("new store Meta: ok=%v err=%v", ok, err)
			}
			if err := db.SetMeta(ctx, tt.meta); err != nil {
				t.Fatal(err)
			}
			db.Close()
			db = openT(t, dir, Options{ReadOnly: true})
			defer db.Close()
			m, ok, err := db.Meta(ctx)
			if !ok || err != nil {
				t.Fatalf("Meta: ok=%v err=%v", ok, err)
			}
			if m.Session != tt.meta.Session || !slices.Equal(m.Filters, tt.meta.Filters) ||
				!m.Started.Equal(tt.meta.Started) || !m.Stopped.Equal(tt.meta.Stopped) {
				t.Fatalf("Meta = %+v, want %+v", m, tt.meta)
			}
			m.Started, m.Stopped = tt.meta.Started, tt.meta.Stopped
			if !reflect.DeepEqual(m, tt.meta) {
				t.Fatalf("Meta = %+v, want %+v", m, tt.meta)
			}
		})
	}
}

func TestFlushThenReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openT(t, dir, Options{})
	if err := db.Put(ctx, core.Record{Entry: core.Entry{Path: "a", Size: 7}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := db.Put(ctx, core.Record{}); err == nil {
		t.Fatal("Put after Close succeeded")
	}
	db = openT(t, dir, Options{})
	defer db.Close()
	recs := loadAll(t, db)
	if len(recs) != 1 || recs[0].Path != "a" || recs[0].Size != 7 {
		t.Fatalf("after reopen: %+v", recs)
	}
}

func TestBackgroundFlush(t *testing.T) {
	ctx := context.Background()
	db := openT(t, t.TempDir(), Options{})
	defer db.Close()
	if err := db.Put(ctx, core.Record{Entry: core.Entry{Path: "a"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		db.mu.Lock()
		n := len(db.pending)
		db.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pending write not flushed in the background")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLocked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "deep", "sess")
	db := openT(t, dir, Options{})
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode: %v %v", fi.Mode(), err)
	}
	tests := []struct {
		name string
		open func() error
	}{
		{"write", func() error { _, err := Open(dir, Options{}); return err }},
		{"read-only", func() error { _, err := Open(dir, Options{ReadOnly: true}); return err }},
		{"remove", func() error { return Remove(dir) }},
	}
	for _, tt := range tests {
		err := tt.open()
		var le *LockedError
		if !errors.As(err, &le) {
			t.Fatalf("%s: err = %v, want *LockedError", tt.name, err)
		}
		if le.PID != os.Getpid() || le.Dir != dir {
			t.Errorf("%s: LockedError = %+v, want pid %d", tt.name, le, os.Getpid())
		}
		if want := fmt.Sprintf("session snapshot %s is in use by pid %d", dir, os.Getpid()); le.Error() != want {
			t.Errorf("%s: Error() = %q, want %q", tt.name, le.Error(), want)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, pidFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file left after Close: %v", err)
	}
	// A stale pid file does not stop a writer.
	if err := os.WriteFile(filepath.Join(dir, pidFile), []byte("999999999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db = openT(t, dir, Options{})
	db.Close()
}

func TestReadOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "none"), Options{ReadOnly: true}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only open of a missing snapshot: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "none")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("read-only open created the directory")
	}
	db := openT(t, dir, Options{})
	_ = db.Put(ctx, core.Record{Entry: core.Entry{Path: "x"}, Status: core.StatusConflict})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ro := openT(t, dir, Options{ReadOnly: true})
	ro2 := openT(t, dir, Options{ReadOnly: true}) // readers share
	ro2.Close()
	if recs := loadAll(t, ro); len(recs) != 1 || recs[0].Status != core.StatusConflict {
		t.Fatalf("read-only Load: %+v", recs)
	}
	if c, err := ro.Count(ctx); err != nil || c[core.StatusConflict] != 1 {
		t.Fatalf("read-only Count: %v %v", c, err)
	}
	writes := []struct {
		name string
		fn   func() error
	}{
		{"Put", func() error { return ro.Put(ctx, core.Record{Entry: core.Entry{Path: "y"}}) }},
		{"Delete", func() error { return ro.Delete(ctx, "x") }},
		{"SetMeta", func() error { return ro.SetMeta(ctx, core.Meta{}) }},
	}
	for _, w := range writes {
		if err := w.fn(); err == nil {
			t.Errorf("read-only %s succeeded", w.name)
		}
	}
	if err := ro.Flush(ctx); err != nil {
		t.Errorf("read-only Flush: %v", err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRemoveExistsList(t *testing.T) {
	parent := t.TempDir()
	if names, err := List(filepath.Join(parent, "missing")); err != nil || len(names) != 0 {
		t.Fatalf("List(missing) = %v, %v", names, err)
	}
	for _, name := range []string{"s2", "s1", "s3"} {
		db := openT(t, filepath.Join(parent, name), Options{})
		db.Close()
	}
	if err := os.Mkdir(filepath.Join(parent, "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(parent, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dir    string
		exists bool
	}{
		{"s1", true}, {"s2", true}, {"empty", false}, {"file", false}, {"missing", false},
	}
	for _, tt := range tests {
		if got := Exists(filepath.Join(parent, tt.dir)); got != tt.exists {
			t.Errorf("Exists(%s) = %v", tt.dir, got)
		}
	}
	names, err := List(parent)
	if err != nil || !slices.Equal(names, []string{"s1", "s2", "s3"}) {
		t.Fatalf("List = %v, %v", names, err)
	}
	if err := WriteStatus(filepath.Join(parent, "s2"), Status{State: "idle"}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"s2", "missing", "empty"} {
		if err := Remove(filepath.Join(parent, d)); err != nil {
			t.Fatalf("Remove(%s): %v", d, err)
		}
		if _, err := os.Stat(filepath.Join(parent, d)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after Remove", d)
		}
	}
	names, err = List(parent)
	if err != nil || !slices.Equal(names, []string{"s1", "s3"}) {
		t.Fatalf("List after Remove = %v, %v", names, err)
	}
}

func TestStatus(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadStatus(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadStatus of none: %v", err)
	}
	now := time.Date(2025, 6, 1, 12, 0, 0, 5, time.UTC)
	tests := []Status{
		{State: "running", PID: 42, Started: now, Updated: now.Add(time.Second), Counters: map[string]int64{"files": 3, "bytes": 1 << 40}},
		{State: "stopped", PID: 42, Started: now, Updated: now.Add(time.Hour), LastSync: now.Add(time.Minute)},
	}
	for _, want := range tests {
		if err := WriteStatus(dir, want); err != nil {
			t.Fatal(err)
		}
		got, err := ReadStatus(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ReadStatus = %+v, want %+v", got, want)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("leftover files: %v", ents)
	}
}

func TestContextCanceled(t *testing.T) {
	db := openT(t, t.TempDir(), Options{})
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := db.Put(ctx, core.Record{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Put: %v", err)
	}
	if err := db.Load(ctx, func(core.Record) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Load: %v", err)
	}
	stop := errors.New("stop")
	_ = db.Put(context.Background(), core.Record{})
	if err := db.Load(context.Background(), func(core.Record) error { return stop }); err != stop {
		t.Errorf("Load fn error: %v", err)
	}
}

// fillSnapshot writes benchRecord(0) to benchRecord(n-1) into a new
// snapshot in dir and closes it.
func fillSnapshot(t testing.TB, dir string, n int) {
	t.Helper()
	db := openT(t, dir, Options{})
	for i := range n {
		if err := db.Put(context.Background(), benchRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func benchRecord(i int) core.Record {
	return core.Record{Entry: core.Entry{
		Path:  fmt.Sprintf("dir%03d/sub%02d/file-%06d.dat", i%500, i%37, i),
		Type:  core.TypeFile,
		Size:  int64(i) * 1021,
		MTime: time.Unix(1700000000+int64(i), int64(i)*7),
		Mode:  0o644, UID: 1000, GID: 1000,
		Token:  fmt.Sprintf("%d.%09d", 1700000000+i, i),
		FileID: fmt.Sprintf("2049:%d", 100000+i),
	}}
}

// BenchmarkPutLoad50k puts 50,000 records, closes, then measures Open +
// Load of all of them (the no-change resync path).
func BenchmarkPutLoad50k(b *testing.B) {
	const n = 50000
	ctx := context.Background()
	dir := b.TempDir()
	start := time.Now()
	fillSnapshot(b, dir, n)
	putMs := float64(time.Since(start).Microseconds()) / 1000
	b.ResetTimer()
	for b.Loop() {
		db := openT(b, dir, Options{})
		count := 0
		if err := db.Load(ctx, func(core.Record) error { count++; return nil }); err != nil {
			b.Fatal(err)
		}
		if count != n {
			b.Fatalf("loaded %d", count)
		}
		b.StopTimer()
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(putMs, "put+close-ms")
}

// TestTornFilesAreRemoved: a process killed inside Badger's file creation
// leaves an empty .mem or .vlog file, which Badger refuses to open; Open
// removes it (it holds nothing) and the records are all there, read-only
// (async admin -f) and for writing.
func TestTornFilesAreRemoved(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"00007.mem", "000009.vlog"} {
		for _, ro := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/readonly=%v", name, ro), func(t *testing.T) {
				dir := t.TempDir()
				db := openT(t, dir, Options{})
				if err := db.Put(ctx, core.Record{Entry: core.Entry{Path: "a", Type: core.TypeFile, Size: 1}}); err != nil {
					t.Fatal(err)
				}
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				torn := filepath.Join(dir, name)
				if err := os.WriteFile(torn, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				db = openT(t, dir, Options{ReadOnly: ro})
				defer db.Close()
				if recs := loadAll(t, db); len(recs) != 1 || recs[0].Path != "a" {
					t.Errorf("records after the repair: %+v", recs)
				}
				if fi, err := os.Stat(torn); err == nil && fi.Size() == 0 {
					t.Errorf("the empty %s is still there", name)
				}
			})
		}
	}
}

// TestTornFilesOfAHeldSnapshotAreLeftAlone: an empty file in a snapshot
// another holder has open may be one it is creating right now.
func TestTornFilesOfAHeldSnapshotAreLeftAlone(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir, Options{})
	defer db.Close()
	torn := filepath.Join(dir, "00042.mem")
	if err := os.WriteFile(torn, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if removed, err := badgerfix.RemoveTorn(dir); err != nil || len(removed) != 0 {
		t.Errorf("RemoveTorn on a held snapshot: %v, %v", removed, err)
	}
	if _, err := os.Stat(torn); err != nil {
		t.Errorf("the file of a held snapshot was removed: %v", err)
	}
}

// BenchmarkLoad measures Load of 100,000 and 1,000,000 records from a
// closed snapshot (Open not counted): from Badger with its value prefetch
// off and on, and from the dump (dump.go), which is what Load reads when
// the dump is current; and the writing of the dump.
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{100_000, 1_000_000} {
		dir := b.TempDir()
		fillSnapshot(b, dir, n)
		db := openT(b, dir, Options{})
		if err := db.writeDump(ctx, db.dumpPath()); err != nil {
			b.Fatal(err)
		}
		for _, v := range []struct {
			name string
			load func(fn func(core.Record) error) error
		}{
			{"badger", func(fn func(core.Record) error) error {
				db.noDump = true
				defer func() { db.noDump = false }()
				return db.Load(ctx, fn)
			}},
			{"badger-prefetch", func(fn func(core.Record) error) error {
				db.prefetch, db.noDump = true, true
				defer func() { db.prefetch, db.noDump = false, false }()
				return db.Load(ctx, fn)
			}},
			{"dump", func(fn func(core.Record) error) error {
				used, err := db.loadDump(ctx, fn)
				if err == nil && !used {
					err = errors.New("the dump was not used")
				}
				return err
			}},
		} {
			b.Run(fmt.Sprintf("%s-%d", v.name, n), func(b *testing.B) {
				b.ReportAllocs()
				cpu := processCPU()
				for b.Loop() {
					count := 0
					if err := v.load(func(core.Record) error { count++; return nil }); err != nil {
						b.Fatal(err)
					}
					if count != n {
						b.Fatalf("loaded %d records, want %d", count, n)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/record")
				b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/float64(b.N)/float64(n), "cpu-ns/record")
			})
		}
		// What Close pays after a run that changed the snapshot.
		b.Run(fmt.Sprintf("dump-write-%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := db.writeDump(ctx, db.dumpPath()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/record")
		})
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSnappyTablesStillRead: snapshots written before compression was
// turned off hold Snappy-compressed tables; they load as before.
func TestSnappyTablesStillRead(t *testing.T) {
	dir := t.TempDir()
	bdb, err := badger.Open(badgerOptions(dir, false).WithCompression(options.Snappy).WithBlockCacheSize(8 << 20)) // as older async wrote
	if err != nil {
		t.Fatal(err)
	}
	want := []core.Record{benchRecord(1), benchRecord(2)}
	wb := bdb.NewWriteBatch()
	for i := range want {
		if err := wb.Set(recordKey(want[i].Path), encodeRecord(nil, &want[i])); err != nil {
			t.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := bdb.Close(); err != nil { // CompactL0OnClose writes a Snappy table
		t.Fatal(err)
	}
	db := openT(t, dir, Options{})
	defer db.Close()
	got := loadAll(t, db)
	if len(got) != len(want) {
		t.Fatalf("loaded %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameRecord(got[i], want[i]) {
			t.Errorf("record %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestFlushSyncsOnlyNewWrites: Flush syncs Badger's files when a batch
// reached them since the last sync, and not otherwise (a run that changes
// nothing pays no fsync for its snapshot).
func TestFlushSyncsOnlyNewWrites(t *testing.T) {
	ctx := context.Background()
	db := openT(t, t.TempDir(), Options{})
	defer db.Close()
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if db.unsynced {
		t.Fatal("unsynced after a Flush of nothing")
	}
	if err := db.Put(ctx, benchRecord(1)); err != nil {
		t.Fatal(err)
	}
	if err := db.write(false); err != nil { // what the background flusher does
		t.Fatal(err)
	}
	if !db.unsynced {
		t.Fatal("a written batch is not marked for the next sync")
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if db.unsynced {
		t.Fatal("unsynced after Flush")
	}
}
