//go:build linux

package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/backendtest"
	"github.com/async-sync/async/core/filter"
)

var ctx = context.Background()

func open(t testing.TB, root string) *FS {
	t.Helper()
	b, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	t.Parallel() // after the sequential tests, which count open descriptors
	backendtest.Run(t, func(t *testing.T) core.Backend { return open(t, t.TempDir()) })
}

// The component-by-component walk used where openat2 is missing.
func TestConformanceWithoutOpenat2(t *testing.T) {
	t.Parallel() // after the sequential tests, which count open descriptors
	backendtest.Run(t, func(t *testing.T) core.Backend {
		b := open(t, t.TempDir())
		b.openat2 = false
		return b
	})
}

func TestConformanceFsync(t *testing.T) {
	t.Parallel() // after the sequential tests, which count open descriptors
	backendtest.Run(t, func(t *testing.T) core.Backend {
		b, err := Open(t.TempDir(), Options{Fsync: true})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestOpenRootErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	if _, err := Open(missing, Options{}); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("open of a missing root: %v", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := Open(file, Options{}); err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("open of a file as root: %v", err)
	}
}

func TestSymlinkCannotLeadOutside(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    Options
		openat2 bool
	}{
		{"openat2", Options{}, true},
		{"walk", Options{}, false},
		{"follow", Options{FollowLinks: true}, true},
		{"follow-walk", Options{FollowLinks: true}, false},
		{"follow-confined", Options{FollowLinks: true, Confined: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, outside := t.TempDir(), t.TempDir()
			victim := filepath.Join(outside, "victim")
			os.WriteFile(victim, []byte("keep"), 0o644)
			os.Symlink(outside, filepath.Join(root, "link"))
			os.Symlink(victim, filepath.Join(root, "flink"))
			b, err := Open(root, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			b.openat2 = b.openat2 && tc.openat2
			if w, err := b.Create(ctx, "link/x", core.CreateOptions{Replace: core.Precondition{Any: true}}); err == nil {
				w.Write([]byte("escape"))
				_, err = w.Commit(ctx)
				t.Errorf("create through a link to outside: commit %v", err)
			}
			if _, err := b.Mkdir(ctx, "link/d", 0o755); err == nil {
				t.Errorf("mkdir through a link succeeded")
			}
			if err := b.Remove(ctx, "link/victim", core.Precondition{Any: true}); err == nil {
				t.Errorf("remove through a link succeeded")
			}
			if _, err := b.Rename(ctx, "link/victim", "stolen", core.Precondition{Any: true}); err == nil {
				t.Errorf("rename through a link succeeded")
			}
			if _, err := b.Symlink(ctx, "link/l", "x", core.Precondition{Any: true}); err == nil {
				t.Errorf("symlink through a link succeeded")
			}
			m, mt := fs.FileMode(0o600), time.Unix(1000, 0)
			if _, err := b.SetAttr(ctx, "link/victim", core.Attrs{Mode: &m}); err == nil {
				t.Errorf("setattr through a link succeeded")
			}
			// Attributes of a link are the link's own, never its target's.
			if _, err := b.SetAttr(ctx, "flink", core.Attrs{Mode: &m, MTime: &mt}); err != nil {
				t.Errorf("setattr of a link: %v", err)
			}
			if tc.opts.Confined {
				if _, _, err := b.Open(ctx, "flink", 0); err == nil {
					t.Errorf("a confined tree read through a link leaving it")
				}
			}
			entries, _ := os.ReadDir(outside)
			if len(entries) != 1 {
				t.Errorf("something was written outside the root: %v", entries)
			}
			fi, err := os.Stat(victim)
			if err != nil || fi.Mode().Perm() != 0o644 || fi.ModTime().Equal(mt) {
				t.Errorf("the file outside was changed: %v %v", fi, err)
			}
			if data, _ := os.ReadFile(victim); string(data) != "keep" {
				t.Errorf("victim = %q", data)
			}
		})
	}
}

func TestInvalidPaths(t *testing.T) {
	root := t.TempDir()
	b := open(t, root)
	defer b.Close()
	for _, p := range []string{"..", "../x", "a/../../x", "/etc/passwd", "a//b", "./a"} {
		if _, err := b.Stat(ctx, p); err == nil {
			t.Errorf("stat %q succeeded", p)
		}
		if _, err := b.Mkdir(ctx, p, 0o755); err == nil {
			t.Errorf("mkdir %q succeeded", p)
		}
	}
}

func TestLeftoverTempFileNotScanned(t *testing.T) {
	root := t.TempDir()
	b := open(t, root)
	defer b.Close()
	os.Mkdir(filepath.Join(root, "d"), 0o755)
	w, err := b.Create(ctx, "d/f", core.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	w.Write([]byte("partial"))
	var names []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		names = append(names, d.Name())
		return nil
	})
	if !strings.HasPrefix(names[len(names)-1], core.ReservedPrefix) {
		t.Fatalf("no temporary file on disk: %v", names)
	}
	got := scan(t, b, core.ScanOptions{})
	if len(got) != 1 || got[0] != "d" {
		t.Errorf("scan = %v, want only d", got)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "d")); len(entries) != 0 {
		t.Errorf("abort left %v", entries)
	}
}

// TestStaleTempFilesAreCleaned: a scan removes the session's own leftover
// temporary files (their names carry its token) of processes that are
// gone, and its partial files older than the age; files of the user that
// merely look temporary are never removed (nor reported).
func TestStaleTempFilesAreCleaned(t *testing.T) {
	const tok = "TOKEN0123456789A"
	old := time.Now().Add(-10 * 24 * time.Hour)
	for _, tc := range []struct {
		name    string
		old     bool
		removed bool
	}{
		{core.ReservedPrefix + tok + "-999999999-dead", false, true},
		{core.ReservedPrefix + tok + "-1-init", false, false}, // pid 1 is alive
		{core.PartialPrefix + tok + "-key", true, true},
		{core.PartialPrefix + tok + "-new", false, false},
		{core.ReservedPrefix + "OTHERTOKEN012345-999999999-dead", false, false}, // another session's
		{core.ReservedPrefix + "999999999-dead", false, false},                  // the user's (or no proof)
		{core.PartialPrefix + "x", true, false},
		{core.PartialPrefix + "OTHERTOKEN012345-key", true, false},
	} {
		root := t.TempDir()
		p := filepath.Join(root, "d", tc.name)
		os.Mkdir(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		if tc.old {
			os.Chtimes(p, old, old)
		}
		b := open(t, root)
		got := scan(t, b, core.ScanOptions{TempToken: tok, PartialMaxAge: 5 * 24 * time.Hour})
		b.Close()
		if len(got) != 1 {
			t.Errorf("%s: scan reported %v", tc.name, got)
		}
		_, err := os.Stat(p)
		if gone := errors.Is(err, fs.ErrNotExist); gone != tc.removed {
			t.Errorf("%s: removed %v, want %v", tc.name, gone, tc.removed)
		}
	}
	// Without a token nothing is removed.
	root := t.TempDir()
	p := filepath.Join(root, core.ReservedPrefix+tok+"-999999999-dead")
	os.WriteFile(p, nil, 0o600)
	b := open(t, root)
	defer b.Close()
	scan(t, b, core.ScanOptions{})
	if _, err := os.Stat(p); err != nil {
		t.Errorf("removed without a token: %v", err)
	}
}

// TestTempNamesCarryTheToken: a file being written is named with the
// session's token, which is what lets a later run remove it as its own.
func TestTempNamesCarryTheToken(t *testing.T) {
	root := t.TempDir()
	b := open(t, root)
	defer b.Close()
	w, err := b.Create(ctx, "f", core.CreateOptions{TempToken: "TOK"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	ents, _ := os.ReadDir(root)
	if len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), core.ReservedPrefix+"TOK-"+strconv.Itoa(os.Getpid())+"-") {
		t.Errorf("temporary files %v", ents)
	}
}

func TestEntryFields(t *testing.T) {
	root := t.TempDir()
	b := open(t, root)
	defer b.Close()
	e := create(t, b, "a", "xyz")
	fi, _ := os.Lstat(filepath.Join(root, "a"))
	if e.Size != 3 || !e.MTime.Equal(fi.ModTime()) || e.UID != os.Getuid() || e.Mode != 0o644 || e.Token == "" || !strings.Contains(e.FileID, ":") {
		t.Errorf("entry %+v", e)
	}
	m := fs.FileMode(0o755) | fs.ModeSetgid | fs.ModeSticky
	d, err := b.Mkdir(ctx, "d", m)
	if err != nil || d.Mode != m || d.Size != 0 {
		t.Errorf("mkdir with %v: %+v %v", m, d, err)
	}
	r, err := b.Stat(ctx, "")
	if err != nil || r.Type != core.TypeDir {
		t.Errorf("root: %+v %v", r, err)
	}
}

func TestFileIDStableAcrossRename(t *testing.T) {
	b := open(t, t.TempDir())
	defer b.Close()
	e := create(t, b, "a", "x")
	moved, err := b.Rename(ctx, "a", "b", core.Expect(&e))
	if err != nil || moved.FileID != e.FileID || moved.Path != "b" {
		t.Fatalf("rename: %+v %v; FileID was %s", moved, err, e.FileID)
	}
}

func TestTokenMovesOnChmod(t *testing.T) {
	root := t.TempDir()
	b := open(t, root)
	defer b.Close()
	e := create(t, b, "a", "x")
	time.Sleep(20 * time.Millisecond) // past the filesystem's timestamp granularity
	if err := os.Chmod(filepath.Join(root, "a"), 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := b.Stat(ctx, "a")
	if err != nil || again.Token == e.Token || !again.MTime.Equal(e.MTime) {
		t.Errorf("after chmod: %+v %v; before %+v", again, err, e)
	}
	if core.SameMeta(&e, &again, false) {
		t.Errorf("SameMeta after chmod")
	}
}

func TestScanFollowLinks(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(root, "real/sub"), 0o755)
	os.WriteFile(filepath.Join(root, "real/sub/f"), []byte("ff"), 0o644)
	os.WriteFile(filepath.Join(outside, "o"), []byte("o"), 0o644)
	os.Symlink("real", filepath.Join(root, "l"))
	os.Symlink("..", filepath.Join(root, "real/sub/loop"))
	os.Symlink("nowhere", filepath.Join(root, "dangling"))
	os.Symlink(outside, filepath.Join(root, "out"))

	plain := open(t, root)
	defer plain.Close()
	want := "dangling l out real real/sub real/sub/f real/sub/loop"
	if got := strings.Join(scan(t, plain, core.ScanOptions{}), " "); got != want {
		t.Errorf("scan without following:\n got %s\nwant %s", got, want)
	}

	follow, _ := Open(root, Options{FollowLinks: true})
	defer follow.Close()
	want = "l l/sub l/sub/f out out/o real real/sub real/sub/f"
	if got := strings.Join(scan(t, follow, core.ScanOptions{}), " "); got != want {
		t.Errorf("scan following links:\n got %s\nwant %s", got, want)
	}
	if e, err := follow.Stat(ctx, "l/sub/f"); err != nil || e.Type != core.TypeFile || e.Size != 2 {
		t.Errorf("stat through a followed link: %+v %v", e, err)
	}

	confined, _ := Open(root, Options{FollowLinks: true, Confined: true})
	defer confined.Close()
	want = "l l/sub l/sub/f real real/sub real/sub/f"
	if got := strings.Join(scan(t, confined, core.ScanOptions{}), " "); got != want {
		t.Errorf("confined scan following links:\n got %s\nwant %s", got, want)
	}
}

func TestScanSkipBeforeStat(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "a/b"), 0o755)
	os.WriteFile(filepath.Join(root, "a/b/f"), nil, 0o644)
	os.Chmod(filepath.Join(root, "a/b"), 0) // unreadable: listing it would fail
	defer os.Chmod(filepath.Join(root, "a/b"), 0o755)
	b := open(t, root)
	defer b.Close()
	got := scan(t, b, core.ScanOptions{Prune: core.Prune{Filter: []filter.Rule{{Pattern: "/a/b/"}}}})
	if strings.Join(got, " ") != "a" {
		t.Errorf("scan = %v", got)
	}
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc")
	}
	return len(entries)
}

func TestScanClosesDirectories(t *testing.T) {
	root := t.TempDir()
	for i := range 30 {
		os.MkdirAll(filepath.Join(root, fmt.Sprintf("d%d/e/f", i)), 0o755)
	}
	b := open(t, root)
	defer b.Close()
	before := openFDs(t)
	scan(t, b, core.ScanOptions{Threads: 4})
	stop := errors.New("stop")
	var mu sync.Mutex
	n := 0
	err := b.Scan(ctx, core.ScanOptions{Threads: 4}, func(e core.Entry) error {
		mu.Lock()
		defer mu.Unlock()
		if n++; n == 40 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("scan: %v", err)
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open before the scans, %d after", before, after)
	}
}

func scan(t testing.TB, b core.Backend, opts core.ScanOptions) []string {
	t.Helper()
	var mu sync.Mutex
	var out []string
	err := b.Scan(ctx, opts, func(e core.Entry) error {
		mu.Lock()
		out = append(out, e.Path)
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	sort.Strings(out)
	return out
}

var (
	benchOnce sync.Once
	benchRoot string
)

// benchTree is 50,000 empty files in 500 directories, made once per run.
func benchTree(b *testing.B) string {
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "async-bench-")
		if err != nil {
			b.Fatal(err)
		}
		for d := range 500 {
			sub := filepath.Join(dir, fmt.Sprintf("g%02d", d/20), fmt.Sprintf("d%03d", d))
			if err := os.MkdirAll(sub, 0o755); err != nil {
				b.Fatal(err)
			}
			for f := range 100 {
				if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("file-%03d.txt", f)), []byte("x"), 0o644); err != nil {
					b.Fatal(err)
				}
			}
		}
		benchRoot = dir
	})
	return benchRoot
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchRoot != "" {
		os.RemoveAll(benchRoot)
	}
	os.Exit(code)
}

func BenchmarkScan50k(b *testing.B) {
	fsys := open(b, benchTree(b))
	defer fsys.Close()
	for _, ordered := range []bool{false, true} {
		for _, threads := range []int{0, 2, 4, 16} {
			b.Run(fmt.Sprintf("ordered=%v/threads=%d", ordered, threads), func(b *testing.B) {
				for b.Loop() {
					count := 0
					var mu sync.Mutex
					err := fsys.Scan(ctx, core.ScanOptions{Threads: threads, Ordered: ordered}, func(core.Entry) error {
						mu.Lock()
						count++
						mu.Unlock()
						return nil
					})
					if err != nil || count != 50_525 {
						b.Fatalf("scan: %d entries, %v", count, err)
					}
				}
			})
		}
	}
}

// create writes a file through the backend and returns its entry.
func create(t *testing.T, b *FS, p, content string) core.Entry {
	t.Helper()
	w, err := b.Create(ctx, p, core.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(content))
	e, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestScanReportsLinkLoops(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "real/sub"), 0o755)
	os.WriteFile(filepath.Join(root, "real/sub/f"), []byte("ff"), 0o644)
	os.Symlink("..", filepath.Join(root, "real/sub/loop"))
	os.Symlink("self", filepath.Join(root, "self"))
	os.Symlink("nowhere", filepath.Join(root, "dangling"))
	for _, confined := range []bool{false, true} {
		b, err := Open(root, Options{FollowLinks: true, Confined: confined})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var bad []string
		got := scan(t, b, core.ScanOptions{Unreadable: func(p string, err error) error {
			mu.Lock()
			defer mu.Unlock()
			if !errors.Is(err, core.ErrSymlinkLoop) {
				t.Errorf("%s: %v, want a loop", p, err)
			}
			bad = append(bad, p)
			return nil
		}})
		b.Close()
		slices.Sort(bad)
		if s := strings.Join(bad, " "); s != "real/sub/loop self" {
			t.Errorf("confined %v: loops reported %q", confined, s)
		}
		if s := strings.Join(got, " "); s != "real real/sub real/sub/f" {
			t.Errorf("confined %v: scan = %q", confined, s)
		}
	}
}

// TestPartialFileIsVerified: a kept partial file is continued only when
// what it holds is what was written to it.
func TestPartialFileIsVerified(t *testing.T) {
	root := t.TempDir()
	b := open(t, root)
	defer b.Close()
	keep := func(content string) {
		w, err := b.Create(ctx, "f", core.CreateOptions{Size: 100, Partial: "k"})
		if err != nil {
			t.Fatal(err)
		}
		if off := w.(core.Resumer).Offset(); off != 0 {
			t.Fatalf("fresh partial file at %d", off)
		}
		w.Write([]byte(content))
		w.(core.Resumer).Keep()
	}
	offset := func() int64 {
		w, err := b.Create(ctx, "f", core.CreateOptions{Size: 100, Partial: "k"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.(core.Resumer).Keep()
		return w.(core.Resumer).Offset()
	}
	partial := filepath.Join(root, core.PartialPrefix+"k")
	keep("0123456789")
	if off := offset(); off != 10 {
		t.Errorf("intact partial file continued at %d, want 10", off)
	}
	// Bytes beyond the record (a run killed before it wrote one) are dropped.
	f, _ := os.OpenFile(partial, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte("unrecorded"))
	f.Close()
	if off := offset(); off != 10 {
		t.Errorf("partial file with unrecorded bytes continued at %d, want 10", off)
	}
	f, _ = os.OpenFile(partial, os.O_WRONLY, 0)
	f.WriteAt([]byte{0}, 3)
	f.Close()
	if off := offset(); off != 0 {
		t.Errorf("damaged partial file continued at %d", off)
	}
	if fi, err := os.Stat(partial); err != nil || fi.Size() != 0 {
		t.Errorf("damaged partial file not started over: %v %v", fi, err)
	}
	os.Remove(partial)
	os.WriteFile(partial, []byte("no record"), 0o600)
	if off := offset(); off != 0 {
		t.Errorf("partial file without a record continued at %d", off)
	}
}

// TestTempTokenMustBeAName: a token that is not letters and digits (it
// arrives from the agent's client) is refused, never made part of a path.
func TestTempTokenMustBeAName(t *testing.T) {
	root := t.TempDir()
	b := open(t, root)
	defer b.Close()
	for _, tok := range []string{"../x", "a/b", "a-b", strings.Repeat("a", 33)} {
		if w, err := b.Create(ctx, "f", core.CreateOptions{TempToken: tok}); err == nil {
			w.Abort()
			t.Errorf("Create with token %q accepted", tok)
		}
		if err := b.Scan(ctx, core.ScanOptions{TempToken: tok}, func(core.Entry) error { return nil }); err == nil {
			t.Errorf("Scan with token %q accepted", tok)
		}
	}
}

// TestStatBatch checks that StatBatch answers for each path what Stat
// does, whether the paths share a directory or not, and whatever is (or
// is not) in the way.
func TestStatBatch(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(root, "a", "b"), 0o755)
	for _, f := range []string{"a/x", "a/y", "a/b/z", "top"} {
		os.WriteFile(filepath.Join(root, f), []byte(f), 0o644)
	}
	os.Symlink("x", filepath.Join(root, "a", "sym"))
	os.Symlink(outside, filepath.Join(root, "out"))
	paths := []string{
		"", "a", "a/x", "a/y", "a/missing", "a/sym", "a/b", "a/b/z", "top", "a/x",
		"gone/x", "gone/y", "top/under", "out/x", "out", "a/../top", "a/.", "z",
	}
	for _, opts := range []Options{{}, {FollowLinks: true}} {
		b, err := Open(root, opts)
		if err != nil {
			t.Fatal(err)
		}
		entries, errs := b.StatBatch(ctx, paths)
		if len(entries) != len(paths) || len(errs) != len(paths) {
			t.Fatalf("follow %v: %d entries and %d errors for %d paths", opts.FollowLinks, len(entries), len(errs), len(paths))
		}
		for i, p := range paths {
			want, wantErr := b.Stat(ctx, p)
			entries[i].ATime, want.ATime = time.Time{}, time.Time{} // reading a link moves its atime
			if fmt.Sprint(errs[i]) != fmt.Sprint(wantErr) || !reflect.DeepEqual(entries[i], want) {
				t.Errorf("follow %v: StatBatch %q = %+v, %v; Stat = %+v, %v", opts.FollowLinks, p, entries[i], errs[i], want, wantErr)
			}
		}
		b.Close()
	}
}
