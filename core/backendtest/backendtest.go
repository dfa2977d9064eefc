// Package backendtest is the conformance suite every async backend runs
// against itself: a backend is done when Run passes. It sets trees up
// through the Backend API only, so it works for filesystems, object stores
// and plugins alike, and adapts to what Caps says the backend can do.
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/filter"
)

// Factory returns a new, empty backend rooted in a fresh place; the suite
// closes it.
type Factory func(t *testing.T) core.Backend

// Run runs the conformance suite against backends made by newBackend.
func Run(t *testing.T, newBackend Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b core.Backend)
	}{
		{"CreateCommit", testCreateCommit},
		{"InvisibleUntilCommit", testInvisibleUntilCommit},
		{"Abort", testAbort},
		{"ReplacePreconditions", testReplace},
		{"OpenAtOffset", testOpenAtOffset},
		{"LargeFile", testLargeFile},
		{"MissingPaths", testMissing},
		{"Mkdir", testMkdir},
		{"Remove", testRemove},
		{"Rename", testRename},
		{"SetAttr", testSetAttr},
		{"CreateWithAttrs", testCreateWithAttrs},
		{"ScanSpecialNames", testScanSpecialNames},
		{"ScanSkipPrunes", testScanSkip},
		{"ScanDescend", testScanDescend},
		{"OrderedScan", testOrderedScan},
		{"ReservedNamesHidden", testReserved},
		{"LookalikeTempFilesKept", testLookalikes},
		{"Symlinks", testSymlinks},
		{"Hasher", testHasher},
		{"StatRoot", testStatRoot},
		{"ScanCallbackError", testScanCallbackError},
		{"ScanCancelled", testScanCancelled},
		{"HardLinker", testHardLinker},
		{"Xattrer", testXattrer},
		{"Copier", testCopier},
		{"Watcher", testWatcher},
		{"Resumer", testResumer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t)
			defer b.Close()
			tc.fn(t, b)
		})
	}
}

var ctx = context.Background()

// put writes a file through the API and returns its entry.
func put(t *testing.T, b core.Backend, p string, content []byte) core.Entry {
	t.Helper()
	if b.Caps().Dirs {
		mkdirAll(t, b, core.Parent(p))
	}
	w, err := b.Create(ctx, p, core.CreateOptions{Size: int64(len(content)), Replace: core.Precondition{Any: true}})
	if err != nil {
		t.Fatalf("create %s: %v", p, err)
	}
	if _, err := w.Write(content); err != nil {
		t.Fatalf("write %s: %v", p, err)
	}
	e, err := w.Commit(ctx)
	if err != nil {
		t.Fatalf("commit %s: %v", p, err)
	}
	return e
}

func mkdirAll(t *testing.T, b core.Backend, p string) {
	t.Helper()
	if p == "" {
		return
	}
	mkdirAll(t, b, core.Parent(p))
	if _, err := b.Mkdir(ctx, p, 0o755); err != nil {
		t.Fatalf("mkdir %s: %v", p, err)
	}
}

func read(t *testing.T, b core.Backend, p string, off int64) []byte {
	t.Helper()
	rc, _, err := b.Open(ctx, p, off)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return data
}

// scanAll returns what a scan reports, path → entry.
func scanAll(t *testing.T, b core.Backend, opts core.ScanOptions) map[string]core.Entry {
	t.Helper()
	var mu sync.Mutex
	out := map[string]core.Entry{}
	err := b.Scan(ctx, opts, func(e core.Entry) error {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := out[e.Path]; dup {
			t.Errorf("scan reported %s twice", e.Path)
		}
		out[e.Path] = e
		return nil
	})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return out
}

func testCreateCommit(t *testing.T, b core.Backend) {
	content := bytes.Repeat([]byte("0123456789"), 100_000)
	e := put(t, b, "dir/file.bin", content)
	if e.Type != core.TypeFile || e.Size != int64(len(content)) || e.Path != "dir/file.bin" {
		t.Errorf("committed entry = %+v", e)
	}
	if got := read(t, b, "dir/file.bin", 0); !bytes.Equal(got, content) {
		t.Errorf("read back %d bytes, want %d", len(got), len(content))
	}
	st, err := b.Stat(ctx, "dir/file.bin")
	if err != nil || !core.SameMeta(&st, &e, b.Caps().Owners) {
		t.Errorf("stat = %+v, %v; commit said %+v", st, err, e)
	}
	if got := read(t, b, "dir/file.bin", int64(len(content))); len(got) != 0 {
		t.Errorf("read at the end gave %d bytes", len(got))
	}
}

func testInvisibleUntilCommit(t *testing.T, b core.Backend) {
	w, err := b.Create(ctx, "new.txt", core.CreateOptions{Size: 5})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("hello"))
	if _, err := b.Stat(ctx, "new.txt"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stat before commit: %v, want not exist", err)
	}
	if got := scanAll(t, b, core.ScanOptions{}); len(got) != 0 {
		t.Errorf("scan before commit saw %v", got)
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := scanAll(t, b, core.ScanOptions{}); len(got) != 1 {
		t.Errorf("scan after commit saw %v", got)
	}
}

func testAbort(t *testing.T, b core.Backend) {
	w, err := b.Create(ctx, "gone.txt", core.CreateOptions{Size: 3})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("abc"))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := scanAll(t, b, core.ScanOptions{}); len(got) != 0 {
		t.Errorf("after abort the scan saw %v", got)
	}
	put(t, b, "kept.txt", []byte("x"))
	w, _ = b.Create(ctx, "kept2.txt", core.CreateOptions{Size: 1})
	w.Write([]byte("y"))
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("abort after commit: %v", err)
	}
	if got := read(t, b, "kept2.txt", 0); string(got) != "y" {
		t.Errorf("abort after commit changed the file: %q", got)
	}
}

func testReplace(t *testing.T, b core.Backend) {
	old := put(t, b, "f", []byte("old"))
	write := func(pre core.Precondition, content string) error {
		w, err := b.Create(ctx, "f", core.CreateOptions{Size: int64(len(content)), Replace: pre})
		if err != nil {
			return err
		}
		defer w.Abort()
		w.Write([]byte(content))
		_, err = w.Commit(ctx)
		return err
	}
	if err := write(core.MustNotExist, "new"); !errors.Is(err, core.ErrPrecondition) {
		t.Errorf("MustNotExist over a file: %v, want ErrPrecondition", err)
	}
	if got := read(t, b, "f", 0); string(got) != "old" {
		t.Errorf("failed replace changed the file: %q", got)
	}
	if err := write(core.Expect(&old), "v2"); err != nil {
		t.Errorf("Expect(unchanged): %v", err)
	}
	if err := write(core.Expect(&old), "v3"); !errors.Is(err, core.ErrPrecondition) {
		t.Errorf("Expect(stale): %v, want ErrPrecondition", err)
	}
	if got := read(t, b, "f", 0); string(got) != "v2" {
		t.Errorf("content %q, want v2", got)
	}
	if err := write(core.Precondition{Any: true}, "v4"); err != nil {
		t.Errorf("Any: %v", err)
	}
	if err := write(core.MustNotExist, "fresh"); !errors.Is(err, core.ErrPrecondition) {
		t.Errorf("MustNotExist: %v", err)
	}
	if got := read(t, b, "f", 0); string(got) != "v4" {
		t.Errorf("content %q, want v4", got)
	}
	// Changed meanwhile by someone else: the plan's entry is stale.
	cur, err := b.Stat(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	w, err := b.Create(ctx, "f", core.CreateOptions{Size: 2, Replace: core.Expect(&cur)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	w.Write([]byte("v6"))
	if err := write(core.Expect(&cur), "v5 longer"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx); !errors.Is(err, core.ErrPrecondition) {
		t.Errorf("commit over a file changed since Create: %v, want ErrPrecondition", err)
	}
	if got := read(t, b, "f", 0); string(got) != "v5 longer" {
		t.Errorf("content %q, want the concurrent writer's", got)
	}
	if b.Caps().Dirs {
		mkdirAll(t, b, "dir")
		w, err := b.Create(ctx, "dir", core.CreateOptions{Size: 1, Replace: core.MustNotExist})
		if err == nil {
			w.Write([]byte("x"))
			_, err = w.Commit(ctx)
			w.Abort()
		}
		if err == nil {
			t.Errorf("a file replaced a directory with MustNotExist")
		}
		if e, err := b.Stat(ctx, "dir"); err != nil || e.Type != core.TypeDir {
			t.Errorf("dir after a refused create: %+v, %v", e, err)
		}
	}
}

func testOpenAtOffset(t *testing.T, b core.Backend) {
	put(t, b, "f", []byte("0123456789"))
	if got := read(t, b, "f", 7); string(got) != "789" {
		t.Errorf("read at 7 = %q", got)
	}
}

// testLargeFile moves a file of several megabytes written in odd-sized
// pieces: backends that stream or split content must put it back together.
func testLargeFile(t *testing.T, b core.Backend) {
	content := make([]byte, 5<<20+12345)
	for i := range content {
		content[i] = byte(i*7 + i>>13)
	}
	w, err := b.Create(ctx, "big", core.CreateOptions{Size: int64(len(content)), Replace: core.MustNotExist})
	if err != nil {
		t.Fatal(err)
	}
	for rest := content; len(rest) > 0; {
		n := min(len(rest), 300001)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	e, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e.Size != int64(len(content)) {
		t.Errorf("committed size %d, want %d", e.Size, len(content))
	}
	if got := read(t, b, "big", 0); !bytes.Equal(got, content) {
		t.Errorf("read back %d bytes, differing from the %d written", len(got), len(content))
	}
	off := int64(3<<20 + 17)
	if got := read(t, b, "big", off); !bytes.Equal(got, content[off:]) {
		t.Errorf("read at %d: %d bytes, differing", off, len(got))
	}
}

func testMissing(t *testing.T, b core.Backend) {
	if _, _, err := b.Open(ctx, "nope", 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("open: %v", err)
	}
	if _, err := b.Stat(ctx, "nope/deeper"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stat: %v", err)
	}
	if err := b.Remove(ctx, "nope", core.Precondition{Any: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("remove: %v", err)
	}
	if _, err := b.Rename(ctx, "nope", "other", core.Precondition{Any: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("rename: %v", err)
	}
}

func testMkdir(t *testing.T, b core.Backend) {
	if !b.Caps().Dirs {
		t.Skip("no directories")
	}
	e, err := b.Mkdir(ctx, "a", 0o750)
	if err != nil || e.Type != core.TypeDir {
		t.Fatalf("mkdir: %+v, %v", e, err)
	}
	if b.Caps().SetMode && e.Mode != 0 && e.Mode.Perm() != 0o750 { // 0: a store that keeps no directory modes
		t.Errorf("mode %v, want 0750", e.Mode)
	}
	if _, err := b.Mkdir(ctx, "a/b", 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Mkdir(ctx, "a", 0o755); err != nil {
		t.Errorf("mkdir of an existing directory: %v", err)
	}
	put(t, b, "a/file", []byte("x"))
	if _, err := b.Mkdir(ctx, "a/file", 0o755); !errors.Is(err, fs.ErrExist) {
		t.Errorf("mkdir over a file: %v, want ErrExist", err)
	}
	if _, err := b.Mkdir(ctx, "missing/child", 0o755); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("mkdir below a missing parent: %v, want ErrNotExist", err)
	}
	got := scanAll(t, b, core.ScanOptions{})
	for _, p := range []string{"a", "a/b"} {
		if got[p].Type != core.TypeDir {
			t.Errorf("scan: %q = %+v, want a directory", p, got[p])
		}
	}
}

func testRemove(t *testing.T, b core.Backend) {
	f := put(t, b, "d/f", []byte("x"))
	stale := f
	stale.Size++
	if err := b.Remove(ctx, "d/f", core.Expect(&stale)); !errors.Is(err, core.ErrPrecondition) {
		t.Errorf("remove with a stale precondition: %v", err)
	}
	if _, err := b.Stat(ctx, "d/f"); err != nil {
		t.Errorf("stale remove removed the file: %v", err)
	}
	if err := b.Remove(ctx, "d/f", core.Expect(&f)); err != nil {
		t.Fatal(err)
	}
	if b.Caps().Dirs {
		if err := b.Remove(ctx, "d", core.Precondition{Any: true}); err != nil {
			t.Errorf("remove empty dir: %v", err)
		}
		put(t, b, "e/g", []byte("y"))
		if err := b.Remove(ctx, "e", core.Precondition{Any: true}); !errors.Is(err, core.ErrNotEmpty) {
			t.Errorf("remove of a non-empty directory: %v, want ErrNotEmpty", err)
		}
		if got := read(t, b, "e/g", 0); string(got) != "y" {
			t.Errorf("e/g = %q after a refused remove", got)
		}
	}
	if _, err := b.Stat(ctx, "d/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("removed file still there: %v", err)
	}
	if err := b.Remove(ctx, "d/f", core.Expect(&f)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("remove of a removed file: %v, want ErrNotExist", err)
	}
}

func testRename(t *testing.T, b core.Backend) {
	if !b.Caps().Rename {
		t.Skip("no rename")
	}
	f := put(t, b, "a", []byte("aaa"))
	put(t, b, "b", []byte("bbb"))
	if _, err := b.Rename(ctx, "a", "b", core.Expect(&f)); err == nil {
		t.Errorf("rename over an existing file succeeded")
	}
	if got := read(t, b, "b", 0); string(got) != "bbb" {
		t.Errorf("b = %q after a refused rename", got)
	}
	if got := read(t, b, "a", 0); string(got) != "aaa" {
		t.Errorf("a = %q after a refused rename", got)
	}
	stale := f
	stale.Size++
	if _, err := b.Rename(ctx, "a", "x", core.Expect(&stale)); !errors.Is(err, core.ErrPrecondition) {
		t.Errorf("rename with a stale precondition: %v, want ErrPrecondition", err)
	}
	if _, err := b.Stat(ctx, "x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale rename moved the file: %v", err)
	}
	e, err := b.Rename(ctx, "a", "c", core.Expect(&f))
	if err != nil || e.Path != "c" || e.Size != 3 {
		t.Fatalf("rename: %+v, %v", e, err)
	}
	if _, err := b.Stat(ctx, "a"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a still there: %v", err)
	}
	if b.Caps().Dirs {
		put(t, b, "d/inner", []byte("i"))
		if _, err := b.Rename(ctx, "d", "d2", core.Precondition{Any: true}); err != nil {
			t.Fatal(err)
		}
		if got := read(t, b, "d2/inner", 0); string(got) != "i" {
			t.Errorf("moved dir content %q", got)
		}
		put(t, b, "d3/other", []byte("o"))
		if _, err := b.Rename(ctx, "d2", "d3", core.Precondition{Any: true}); err == nil {
			t.Errorf("rename of a directory over an existing one succeeded")
		}
		if got := read(t, b, "d2/inner", 0); string(got) != "i" {
			t.Errorf("d2/inner = %q after a refused rename", got)
		}
		if got := read(t, b, "d3/other", 0); string(got) != "o" {
			t.Errorf("d3/other = %q after a refused rename", got)
		}
	}
}

func testSetAttr(t *testing.T, b core.Backend) {
	put(t, b, "f", []byte("x"))
	caps := b.Caps()
	var a core.Attrs
	mt := time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)
	mode := fs.FileMode(0o640)
	if caps.SetMTime {
		a.MTime = &mt
	}
	if caps.SetMode {
		a.Mode = &mode
	}
	if a.IsZero() {
		t.Skip("no settable attributes")
	}
	e, err := b.SetAttr(ctx, "f", a)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := b.Stat(ctx, "f")
	if caps.SetMTime && (e.MTime.Sub(mt).Abs() > time.Second || !st.MTime.Equal(e.MTime)) {
		t.Errorf("mtime %v (stat %v), want %v", e.MTime, st.MTime, mt)
	}
	if caps.SetMode && (e.Mode.Perm() != 0o640 || st.Mode != e.Mode) {
		t.Errorf("mode %v (stat %v), want 0640", e.Mode, st.Mode)
	}
}

func testCreateWithAttrs(t *testing.T, b core.Backend) {
	caps := b.Caps()
	mt := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	mode := fs.FileMode(0o600)
	var a core.Attrs
	if caps.SetMTime {
		a.MTime = &mt
	}
	if caps.SetMode {
		a.Mode = &mode
	}
	w, err := b.Create(ctx, "f", core.CreateOptions{Size: 1, Attrs: a})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("z"))
	e, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if caps.SetMTime && !e.MTime.Equal(mt) {
		t.Errorf("mtime %v, want %v", e.MTime, mt)
	}
	if caps.SetMode && e.Mode.Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", e.Mode)
	}
}

func testScanSpecialNames(t *testing.T, b core.Backend) {
	want := map[string]core.Type{}
	sizes := map[string]int64{}
	add := func(p string, content string) {
		put(t, b, p, []byte(content))
		want[p] = core.TypeFile
		sizes[p] = int64(len(content))
		for d := core.Parent(p); d != ""; d = core.Parent(d) {
			want[d] = core.TypeDir
		}
	}
	add("with space/file name.txt", "a")
	add("unicode/caf\u00e9.txt", "nfc")
	add("unicode/cafe\u0301.txt", "nfd")
	add(".hidden/.dotfile", "dot")
	add("long/"+strings.Repeat("n", 255), "long")
	deep := "deep"
	for i := range 20 {
		deep += fmt.Sprintf("/l%02d", i)
	}
	add(deep+"/leaf", "leaf")
	for i := range 1000 {
		add(fmt.Sprintf("many/f%04d", i), strings.Repeat("x", i%7))
	}
	if b.Caps().Dirs {
		mkdirAll(t, b, "empty/dir")
		want["empty"], want["empty/dir"] = core.TypeDir, core.TypeDir
	}
	got := scanAll(t, b, core.ScanOptions{})
	if _, ok := got[""]; ok {
		t.Errorf("scan reported the root")
	}
	for p, typ := range want {
		e, ok := got[p]
		switch {
		case !ok:
			t.Errorf("scan missed %q", p)
		case e.Type != typ:
			t.Errorf("%q is a %s, want %s", p, e.Type, typ)
		case e.Path != p:
			t.Errorf("%q reported with path %q", p, e.Path)
		case typ == core.TypeFile && e.Size != sizes[p]:
			t.Errorf("%q size %d, want %d", p, e.Size, sizes[p])
		case typ == core.TypeDir && e.Size != 0:
			t.Errorf("directory %q size %d, want 0", p, e.Size)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("scan reported unexpected %q", p)
		}
	}
}

func testScanSkip(t *testing.T, b core.Backend) {
	put(t, b, "keep/a", []byte("a"))
	put(t, b, "keep/x.tmp", []byte("x"))
	put(t, b, "prune/b", []byte("b"))
	put(t, b, "prune/sub/c", []byte("c"))
	put(t, b, "old/d", []byte("d"))
	got := scanAll(t, b, core.ScanOptions{Prune: core.Prune{
		Filter:   []filter.Rule{{Pattern: "/prune/"}, {Pattern: "*.tmp"}},
		Subtrees: []string{"old"},
	}})
	for p := range got {
		if strings.HasPrefix(p, "prune") || strings.HasPrefix(p, "old") || strings.HasSuffix(p, ".tmp") {
			t.Errorf("pruned entry %q reported", p)
		}
	}
	if _, ok := got["keep/a"]; !ok {
		t.Errorf("keep/a missing: %v", got)
	}
}

func testScanDescend(t *testing.T, b core.Backend) {
	if !b.Caps().Dirs {
		t.Skip("no directories")
	}
	put(t, b, "a/x", []byte("x"))
	put(t, b, "b/y", []byte("y"))
	put(t, b, "top", []byte("t"))
	a, err := b.Stat(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	got := scanAll(t, b, core.ScanOptions{Prune: core.Prune{Settled: map[string]time.Time{"a": a.MTime, "b": a.MTime.Add(-time.Hour)}}})
	for _, p := range []string{"a", "b", "b/y", "top"} {
		if _, ok := got[p]; !ok {
			t.Errorf("%s missing: %v", p, got)
		}
	}
	if _, ok := got["a/x"]; ok {
		t.Errorf("settled directory a was listed")
	}
	got = scanAll(t, b, core.ScanOptions{Prune: core.Prune{Shallow: true}})
	if len(got) != 3 {
		t.Errorf("shallow scan = %v, want a, b, top", got)
	}
}

// testOrderedScan: a backend that claims Caps.OrderedScan passes the
// entries of an ordered scan one at a time in strict path order, the
// same entries as its other scan, with names whose byte order is not
// their path order, pruned or not.
func testOrderedScan(t *testing.T, b core.Backend) {
	if !b.Caps().OrderedScan {
		t.Skip("no ordered scan")
	}
	for _, p := range []string{"a b", "a-", "a.b", "a/b", "a/c.d", "a/c/d", "a/c-/e", "a0", "é", "e/f"} {
		put(t, b, p, []byte(p))
	}
	for _, prune := range []core.Prune{{}, {Filter: []filter.Rule{{Pattern: "/a/c/"}}}, {Subtrees: []string{"a"}}} {
		var got []core.Entry
		busy := false
		err := b.Scan(ctx, core.ScanOptions{Ordered: true, Prune: prune}, func(e core.Entry) error {
			if busy {
				t.Error("an ordered scan passed entries concurrently")
			}
			busy = true
			defer func() { busy = false }()
			got = append(got, e)
			return nil
		})
		if err != nil {
			t.Fatalf("ordered scan: %v", err)
		}
		whole := scanAll(t, b, core.ScanOptions{Prune: prune})
		if len(got) != len(whole) {
			t.Errorf("prune %v: ordered scan has %d entries, the other %d", prune, len(got), len(whole))
		}
		for i, e := range got {
			if i > 0 && core.ComparePaths(got[i-1].Path, e.Path) >= 0 {
				t.Errorf("prune %v: %q then %q", prune, got[i-1].Path, e.Path)
			}
			if w, ok := whole[e.Path]; !ok || w.Type != e.Type || w.Size != e.Size || w.Token != e.Token || !w.MTime.Equal(e.MTime) {
				t.Errorf("prune %v: ordered %+v, other %+v", prune, e, w)
			}
		}
	}
}

func testReserved(t *testing.T, b core.Backend) {
	put(t, b, core.PrivateDir+"/session/db", []byte("db"))
	put(t, b, "d/"+core.ReservedPrefix+"123-abc", []byte("tmp"))
	put(t, b, core.ReservedPrefix+"at-root", []byte("tmp"))
	put(t, b, "d/e/f/"+core.ReservedPrefix+"deep", []byte("tmp"))
	put(t, b, "d/visible", []byte("v"))
	put(t, b, "d/"+core.PrivateDir+"/not-private", []byte("p")) // private only at the root
	if b.Caps().Dirs {
		mkdirAll(t, b, "d/"+core.ReservedPrefix+"dir/sub")
	}
	got := scanAll(t, b, core.ScanOptions{})
	for p := range got {
		if core.IsReserved(p) || strings.HasPrefix(p, core.PrivateDir) || strings.Contains(p, core.ReservedPrefix) {
			t.Errorf("reserved entry %q reported", p)
		}
	}
	for _, p := range []string{"d/visible", "d/" + core.PrivateDir + "/not-private", "d/e/f"} {
		if _, ok := got[p]; !ok {
			t.Errorf("%s missing", p)
		}
	}
}

// testLookalikes: files that merely look like temporary files (a dead
// pid's, old partial files), without the session's token, are never
// removed by a scan.
func testLookalikes(t *testing.T, b core.Backend) {
	names := []string{
		"d/" + core.ReservedPrefix + "999999999-x",
		"d/" + core.PartialPrefix + "x",
		"d/" + core.ReservedPrefix + "OTHERSESSION0000-999999999-x",
		"d/" + core.PartialPrefix + "OTHERSESSION0000-x",
	}
	old := time.Now().Add(-10 * 24 * time.Hour)
	for _, p := range names {
		put(t, b, p, []byte("mine"))
		if b.Caps().SetMTime && b.Caps().MTimeFromFS {
			if _, err := b.SetAttr(ctx, p, core.Attrs{MTime: &old}); err != nil {
				t.Fatalf("setattr %s: %v", p, err)
			}
		}
	}
	scanAll(t, b, core.ScanOptions{TempToken: "THISSESSION00000", PartialMaxAge: time.Hour})
	for _, p := range names {
		rc, _, err := b.Open(ctx, p, 0)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if string(got) != "mine" {
			t.Errorf("%s = %q", p, got)
		}
	}
}

func testSymlinks(t *testing.T, b core.Backend) {
	ln, ok := b.(core.Linker)
	if !ok || !b.Caps().Symlinks {
		t.Skip("no symbolic links")
	}
	e, err := ln.Symlink(ctx, "link", "some/target", core.MustNotExist)
	if err != nil || e.Type != core.TypeSymlink || e.Target != "some/target" {
		t.Fatalf("symlink: %+v, %v", e, err)
	}
	if _, err := ln.Symlink(ctx, "link", "other", core.MustNotExist); !errors.Is(err, core.ErrPrecondition) {
		t.Errorf("symlink over a link with MustNotExist: %v", err)
	}
	if _, err := ln.Symlink(ctx, "link", "other", core.Expect(&e)); err != nil {
		t.Errorf("replace link: %v", err)
	}
	got := scanAll(t, b, core.ScanOptions{})
	if l := got["link"]; l.Type != core.TypeSymlink || l.Target != "other" {
		t.Errorf("scanned link = %+v", l)
	}
	if l, err := b.Stat(ctx, "link"); err != nil || l.Type != core.TypeSymlink || l.Target != "other" {
		t.Errorf("stat of the link = %+v, %v", l, err)
	}
	f := put(t, b, "file", []byte("f"))
	if _, err := ln.Symlink(ctx, "file", "x", core.MustNotExist); !errors.Is(err, core.ErrPrecondition) {
		t.Errorf("symlink over a file with MustNotExist: %v", err)
	}
	if _, err := ln.Symlink(ctx, "file", "x", core.Expect(&f)); err != nil {
		t.Errorf("symlink replacing an expected file: %v", err)
	}
	if err := b.Remove(ctx, "link", core.Precondition{Any: true}); err != nil {
		t.Errorf("remove link: %v", err)
	}
	got = scanAll(t, b, core.ScanOptions{})
	if _, ok := got["link"]; ok || got["file"].Type != core.TypeSymlink || len(got) != 1 {
		t.Errorf("after replacing and removing links the scan saw %v", got)
	}
}

func testHasher(t *testing.T, b core.Backend) {
	h, ok := b.(core.Hasher)
	if !ok {
		t.Skip("no Hasher")
	}
	content := make([]byte, 3<<20)
	for i := range content {
		content[i] = byte(i * 7 % 251)
	}
	e := put(t, b, "big", content)
	for _, algo := range []core.Checksum{core.ChecksumSHA1, core.ChecksumMD5Sparse, core.ChecksumSHA256} {
		sum, got, err := h.Hash(ctx, "big", algo)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := core.HashReaderAt(bytes.NewReader(content), int64(len(content)), algo)
		if sum != want || got.Size != e.Size {
			t.Errorf("%s: %s (entry %+v), want %s", algo, sum, got, want)
		}
	}
}

func testStatRoot(t *testing.T, b core.Backend) {
	e, err := b.Stat(ctx, "")
	if err != nil || e.Type != core.TypeDir || e.Path != "" {
		t.Errorf("stat of the root: %+v, %v", e, err)
	}
}

func testScanCallbackError(t *testing.T, b core.Backend) {
	for i := range 50 {
		put(t, b, fmt.Sprintf("d%d/f", i), []byte("x"))
	}
	stop := errors.New("stop here")
	var mu sync.Mutex
	calls := 0
	err := b.Scan(ctx, core.ScanOptions{}, func(core.Entry) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("scan returned %v, want the callback's error", err)
	}
	if calls > 50 {
		t.Errorf("the scan went on after the callback failed: %d calls", calls)
	}
}

func testScanCancelled(t *testing.T, b core.Backend) {
	for i := range 20 {
		put(t, b, fmt.Sprintf("d%d/f", i), []byte("x"))
	}
	c, cancel := context.WithCancel(ctx)
	cancel()
	err := b.Scan(c, core.ScanOptions{}, func(core.Entry) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("scan with a cancelled context: %v", err)
	}
	c, cancel = context.WithCancel(ctx)
	defer cancel()
	err = b.Scan(c, core.ScanOptions{}, func(core.Entry) error { cancel(); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("scan cancelled midway: %v", err)
	}
}
