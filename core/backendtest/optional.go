package backendtest

// The cases of the optional interfaces (core.HardLinker, core.Xattrer,
// core.Copier, core.Watcher, core.Resumer): each runs when the backend
// under test has the interface and skips otherwise.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/async-sync/async/core"
)

// pattern returns n bytes that differ from those of another seed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31+i>>11) ^ seed
	}
	return b
}

// names returns the paths a scan reports, sorted, for messages.
func names(got map[string]core.Entry) []string {
	out := make([]string, 0, len(got))
	for p := range got {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// testHardLinker: a link is a second name of the same file (the same
// content, the same FileID where the backend reports one, attributes
// shared), made only when the destination matches the precondition.
func testHardLinker(t *testing.T, b core.Backend) {
	hl, ok := b.(core.HardLinker)
	if !ok {
		t.Skip("no HardLinker")
	}
	content := pattern(100_000, 1)
	a := put(t, b, "l/a", content)
	e, err := hl.Link(ctx, "l/a", "l/b", core.MustNotExist)
	if err != nil {
		t.Fatalf("link: %v", err)
	}
	if e.Path != "l/b" || e.Type != core.TypeFile || e.Size != a.Size {
		t.Errorf("link entry = %+v, want a file of %d bytes at l/b", e, a.Size)
	}
	if a.FileID != "" && e.FileID != a.FileID {
		t.Errorf("link FileID %q, want the original's %q", e.FileID, a.FileID)
	}
	if got := read(t, b, "l/b", 0); !bytes.Equal(got, content) {
		t.Errorf("link reads %d bytes differing from the original", len(got))
	}
	if st, err := b.Stat(ctx, "l/b"); err != nil || !core.SameMeta(&st, &e, b.Caps().Owners) {
		t.Errorf("stat of the link = %+v, %v; Link said %+v", st, err, e)
	}
	if got := read(t, b, "l/a", 0); !bytes.Equal(got, content) {
		t.Errorf("the original changed: %d bytes", len(got))
	}
	if b.Caps().SetMode {
		mode := fs.FileMode(0o604)
		if _, err := b.SetAttr(ctx, "l/a", core.Attrs{Mode: &mode}); err != nil {
			t.Fatal(err)
		}
		if st, err := b.Stat(ctx, "l/b"); err != nil || st.Mode.Perm() != mode {
			t.Errorf("after a chmod of the original the link has mode %v (%v): not the same file", st.Mode, err)
		}
	}

	// Refusals: the destination is not what the precondition expects.
	other := put(t, b, "l/c", []byte("other"))
	if _, err := hl.Link(ctx, "l/a", "l/c", core.MustNotExist); !errors.Is(err, core.ErrPrecondition) {
		t.Errorf("link over a file with MustNotExist: %v, want ErrPrecondition", err)
	}
	stale := other
	stale.Size++
	if _, err := hl.Link(ctx, "l/a", "l/c", core.Expect(&stale)); !errors.Is(err, core.ErrPrecondition) {
		t.Errorf("link over a file with a stale precondition: %v, want ErrPrecondition", err)
	}
	if got := read(t, b, "l/c", 0); string(got) != "other" {
		t.Errorf("a refused link changed l/c: %d bytes", len(got))
	}
	if _, err := hl.Link(ctx, "l/a", "l/gone", core.Expect(&other)); !errors.Is(err, core.ErrPrecondition) {
		t.Errorf("link expecting a file where there is none: %v, want ErrPrecondition", err)
	}
	if _, err := b.Stat(ctx, "l/gone"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused link left l/gone: %v", err)
	}
	// The expected file is replaced.
	if e, err := hl.Link(ctx, "l/a", "l/c", core.Expect(&other)); err != nil || e.Size != a.Size {
		t.Errorf("link replacing an expected file: %+v, %v", e, err)
	} else if got := read(t, b, "l/c", 0); !bytes.Equal(got, content) {
		t.Errorf("l/c after the link: %d bytes differing from l/a", len(got))
	}
	// Nothing to link to, or not a file.
	if _, err := hl.Link(ctx, "l/missing", "l/d", core.MustNotExist); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("link to a missing file: %v, want ErrNotExist", err)
	}
	if b.Caps().Dirs {
		if _, err := hl.Link(ctx, "l", "l/d", core.MustNotExist); err == nil {
			t.Errorf("a hard link to a directory was made")
		}
		if _, err := hl.Link(ctx, "l/a", "nodir/d", core.MustNotExist); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("link below a missing directory: %v, want ErrNotExist", err)
		}
	}
	got := scanAll(t, b, core.ScanOptions{})
	want := []string{"l", "l/a", "l/b", "l/c"}
	if !b.Caps().Dirs {
		want = want[1:]
	}
	if s := names(got); strings.Join(s, " ") != strings.Join(want, " ") {
		t.Errorf("after the links the scan saw %q, want %q", s, want)
	}
}

// testXattrer: extended attributes set are read back byte for byte, on
// files and directories; setting some leaves the others; a value too
// large for the backend is refused, never cut.
func testXattrer(t *testing.T, b core.Backend) {
	x, ok := b.(core.Xattrer)
	if !ok {
		t.Skip("no Xattrer")
	}
	content := []byte("content")
	put(t, b, "x/f", content)
	first := map[string][]byte{
		"user.async.text":   []byte("v1"),
		"user.async.binary": {0, 1, 2, 0xff, 0, '\n'},
	}
	if err := x.SetXattrs(ctx, "x/f", first); errors.Is(err, core.ErrUnsupported) {
		t.Skipf("the filesystem under the backend keeps no user attributes: %v", err)
	} else if err != nil {
		t.Fatalf("set attributes: %v", err)
	}
	check := func(p string, want map[string][]byte) {
		t.Helper()
		got, err := x.Xattrs(ctx, p)
		if err != nil {
			t.Fatalf("attributes of %s: %v", p, err)
		}
		for name, v := range want {
			if g, ok := got[name]; !ok || !bytes.Equal(g, v) {
				t.Errorf("%s: %s = %q (present %v), want %q", p, name, g, ok, v)
			}
		}
		for name := range got {
			if _, ok := want[name]; !ok && strings.HasPrefix(name, "user.async.") {
				t.Errorf("%s: unexpected attribute %s", p, name)
			}
		}
	}
	check("x/f", first)
	if err := x.SetXattrs(ctx, "x/f", map[string][]byte{"user.async.text": []byte("second value")}); err != nil {
		t.Fatal(err)
	}
	first["user.async.text"] = []byte("second value")
	check("x/f", first)
	if got := read(t, b, "x/f", 0); !bytes.Equal(got, content) {
		t.Errorf("setting attributes changed the content: %q", got)
	}

	// A large value: kept whole where the backend allows it.
	put(t, b, "x/large", nil)
	large := map[string][]byte{"user.async.large": pattern(3000, 2)}
	if err := x.SetXattrs(ctx, "x/large", large); err != nil {
		t.Errorf("a 3000-byte attribute: %v", err)
	} else {
		check("x/large", large)
	}
	put(t, b, "x/huge", nil)
	huge := map[string][]byte{"user.async.huge": pattern(60_000, 3)}
	if err := x.SetXattrs(ctx, "x/huge", huge); err == nil {
		check("x/huge", huge)
	} else if got, err := x.Xattrs(ctx, "x/huge"); err != nil {
		t.Errorf("attributes after a refused large value: %v", err)
	} else if v, ok := got["user.async.huge"]; ok {
		t.Errorf("a refused large value left %d bytes", len(v))
	}

	if b.Caps().Dirs {
		dir := map[string][]byte{"user.async.dir": []byte("on a directory")}
		if err := x.SetXattrs(ctx, "x", dir); err != nil {
			t.Errorf("attributes of a directory: %v", err)
		} else {
			check("x", dir)
		}
	}
	if _, err := x.Xattrs(ctx, "x/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("attributes of a missing file: %v, want ErrNotExist", err)
	}
	if err := x.SetXattrs(ctx, "x/missing", first); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("setting attributes of a missing file: %v, want ErrNotExist", err)
	}
	if _, err := b.Stat(ctx, "x/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("setting attributes created the missing file: %v", err)
	}
}

// testCopier: a server-side copy has the source's content and
// attributes, and is made only when the source matches the precondition
// and nothing is at the destination.
func testCopier(t *testing.T, b core.Backend) {
	c, ok := b.(core.Copier)
	if !ok {
		t.Skip("no Copier")
	}
	caps := b.Caps()
	content := pattern(1<<20+4321, 4)
	mt := time.Date(2019, 5, 6, 7, 8, 9, 0, time.UTC)
	mode := fs.FileMode(0o640)
	var attrs core.Attrs
	if caps.SetMTime {
		attrs.MTime = &mt
	}
	if caps.SetMode {
		attrs.Mode = &mode
	}
	if caps.Dirs {
		mkdirAll(t, b, "c")
	}
	w, err := b.Create(ctx, "c/src", core.CreateOptions{Size: int64(len(content)), Attrs: attrs, Replace: core.MustNotExist})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(content)
	src, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}

	stale := src
	stale.Size++
	if _, err := c.Copy(ctx, "c/src", "c/dst", core.Expect(&stale)); !errors.Is(err, core.ErrPrecondition) {
		t.Errorf("copy with a stale precondition: %v, want ErrPrecondition", err)
	}
	if _, err := b.Stat(ctx, "c/dst"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused copy left c/dst: %v", err)
	}

	e, err := c.Copy(ctx, "c/src", "c/dst", core.Expect(&src))
	if err != nil {
		t.Fatalf("copy: %v", err)
	}
	if e.Path != "c/dst" || e.Type != core.TypeFile || e.Size != src.Size {
		t.Errorf("copy entry = %+v, want a file of %d bytes at c/dst", e, src.Size)
	}
	if caps.SetMTime && !e.MTime.Equal(src.MTime) {
		t.Errorf("copy mtime %v, want the source's %v", e.MTime, src.MTime)
	}
	if caps.SetMode && e.Mode.Perm() != src.Mode.Perm() {
		t.Errorf("copy mode %v, want the source's %v", e.Mode, src.Mode)
	}
	if st, err := b.Stat(ctx, "c/dst"); err != nil || !core.SameMeta(&st, &e, caps.Owners) {
		t.Errorf("stat of the copy = %+v, %v; Copy said %+v", st, err, e)
	}
	if got := read(t, b, "c/dst", 0); !bytes.Equal(got, content) {
		t.Errorf("the copy reads %d bytes differing from the source", len(got))
	}
	if got := read(t, b, "c/src", 0); !bytes.Equal(got, content) {
		t.Errorf("the source changed: %d bytes", len(got))
	}

	// Never over something.
	put(t, b, "c/there", []byte("there"))
	if _, err := c.Copy(ctx, "c/src", "c/there", core.Expect(&src)); !errors.Is(err, core.ErrPrecondition) {
		t.Errorf("copy over an existing file: %v, want ErrPrecondition", err)
	}
	if got := read(t, b, "c/there", 0); string(got) != "there" {
		t.Errorf("a refused copy changed c/there: %d bytes", len(got))
	}
	if _, err := c.Copy(ctx, "c/missing", "c/x", core.Precondition{Any: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("copy of a missing file: %v, want ErrNotExist", err)
	}
	got := scanAll(t, b, core.ScanOptions{})
	want := []string{"c", "c/dst", "c/src", "c/there"}
	if !caps.Dirs {
		want = want[1:]
	}
	if s := names(got); strings.Join(s, " ") != strings.Join(want, " ") {
		t.Errorf("after the copies the scan saw %q, want %q", s, want)
	}
}

// watchWait is how long a change may take to be reported.
const watchWait = 10 * time.Second

// watchLog collects what a Watcher reports.
type watchLog struct {
	mu    sync.Mutex
	seen  map[string]bool
	all   []string
	calls int
	more  chan struct{}
	// in counts the calls of fn running; overlap is set when two ran at
	// once (Watch promises one at a time).
	in      atomic.Int32
	overlap atomic.Bool
}

func (l *watchLog) add(paths []string) {
	if l.in.Add(1) > 1 {
		l.overlap.Store(true)
	}
	defer l.in.Add(-1)
	l.mu.Lock()
	l.calls++
	for _, p := range paths {
		l.seen[p] = true
		l.all = append(l.all, p)
	}
	l.mu.Unlock()
	select {
	case l.more <- struct{}{}:
	default:
	}
}

// wait waits until every path of want was reported (a report of an
// ancestor, or of the root, covers it when loose is set).
func (l *watchLog) wait(want []string, loose bool, d time.Duration) bool {
	deadline := time.After(d)
	for {
		l.mu.Lock()
		ok := true
		for _, w := range want {
			if l.seen[w] {
				continue
			}
			covered := false
			for a := core.Parent(w); loose && !covered; a = core.Parent(a) {
				covered = l.seen[a]
				if a == "" {
					break
				}
			}
			ok = ok && covered
		}
		l.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-l.more:
		case <-deadline:
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (l *watchLog) reset() {
	l.mu.Lock()
	l.seen = map[string]bool{}
	l.mu.Unlock()
}

// testWatcher: creating, writing, removing and renaming files are
// reported, in new directories too, within a bounded time; async's own
// temporary files and private area are not; Watch ends with the context.
func testWatcher(t *testing.T, b core.Backend) {
	wt, ok := b.(core.Watcher)
	if !ok {
		t.Skip("no Watcher")
	}
	caps := b.Caps()
	put(t, b, "w/modified", []byte("v1"))
	put(t, b, "w/removed", []byte("r"))
	put(t, b, "w/from", []byte("f"))
	log := &watchLog{seen: map[string]bool{}, more: make(chan struct{}, 1)}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- wt.Watch(wctx, log.add) }()

	// The watch is set up in the background: probe until it reports.
	ready := false
	for i := 0; i < 50 && !ready; i++ {
		p := fmt.Sprintf("w/probe%02d", i)
		put(t, b, p, []byte("p"))
		ready = log.wait([]string{p}, false, 200*time.Millisecond)
	}
	if !ready {
		select {
		case err := <-done:
			t.Fatalf("Watch ended before reporting anything: %v", err)
		default:
		}
		t.Fatalf("no change reported within %v", 50*200*time.Millisecond)
	}

	steps := []struct {
		name  string
		do    func()
		want  []string
		loose bool
		skip  bool
	}{
		{"create", func() { put(t, b, "w/created", []byte("new")) }, []string{"w/created"}, false, false},
		{"write", func() { put(t, b, "w/modified", []byte("v2, longer")) }, []string{"w/modified"}, false, false},
		{"remove", func() {
			if err := b.Remove(ctx, "w/removed", core.Precondition{Any: true}); err != nil {
				t.Fatal(err)
			}
		}, []string{"w/removed"}, false, false},
		{"rename", func() {
			if _, err := b.Rename(ctx, "w/from", "w/to", core.Precondition{Any: true}); err != nil {
				t.Fatal(err)
			}
		}, []string{"w/from", "w/to"}, false, !caps.Rename},
		{"new directory", func() {
			mkdirAll(t, b, "w/sub/deeper")
			put(t, b, "w/sub/deeper/f", []byte("f"))
		}, []string{"w/sub/deeper/f"}, true, !caps.Dirs},
		{"in the new directory", func() { put(t, b, "w/sub/deeper/g", []byte("g")) }, []string{"w/sub/deeper/g"}, false, !caps.Dirs},
	}
	for _, s := range steps {
		if s.skip {
			continue
		}
		log.reset()
		s.do()
		if !log.wait(s.want, s.loose, watchWait) {
			log.mu.Lock()
			t.Errorf("%s: %q not reported within %v (reported: %q)", s.name, s.want, watchWait, log.all)
			log.mu.Unlock()
		}
	}

	// Reserved names are not reported.
	put(t, b, core.PrivateDir+"/state", []byte("s"))
	put(t, b, "w/"+core.ReservedPrefix+"user-made", []byte("t"))
	log.reset()
	put(t, b, "w/last", []byte("l"))
	log.wait([]string{"w/last"}, false, watchWait)

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Watch ended with %v, want context.Canceled", err)
		}
	case <-time.After(watchWait):
		t.Fatalf("Watch still running %v after its context ended", watchWait)
	}
	if log.overlap.Load() {
		t.Errorf("fn was called from two goroutines at once")
	}
	log.mu.Lock()
	calls := log.calls
	for _, p := range log.all {
		if core.IsReserved(p) || p == core.PrivateDir || strings.HasPrefix(p, core.PrivateDir+"/") {
			t.Errorf("reserved path %q reported", p)
		}
	}
	log.mu.Unlock()
	put(t, b, "w/after", []byte("a"))
	time.Sleep(200 * time.Millisecond)
	log.mu.Lock()
	if log.calls != calls {
		t.Errorf("fn called after Watch returned: %q", log.all)
	}
	log.mu.Unlock()
}

// testResumer: a partial file kept by a writer is continued by the next
// writer with the same key, and what both wrote is the whole file; a kept
// partial is invisible; a committed or aborted one is gone (a mismatched
// partial, which the engine aborts, starts over); other keys start fresh.
func testResumer(t *testing.T, b core.Backend) {
	const key = "conformanceKey-1"
	if b.Caps().Dirs {
		mkdirAll(t, b, "r")
	}
	create := func(p, key string, size int) core.Writer {
		t.Helper()
		w, err := b.Create(ctx, p, core.CreateOptions{Size: int64(size), Replace: core.MustNotExist, Partial: key})
		if err != nil {
			t.Fatalf("create %s with partial %q: %v", p, key, err)
		}
		return w
	}
	content := pattern(8<<20+777, 5)
	w := create("r/f", key, len(content))
	res, ok := w.(core.Resumer)
	if !ok {
		w.Abort()
		t.Skip("writers are no Resumer")
	}
	if off := res.Offset(); off != 0 {
		t.Fatalf("a fresh partial file starts at %d", off)
	}
	first := 6<<20 + 3
	for rest := content[:first]; len(rest) > 0; rest = rest[min(len(rest), 1<<20):] {
		if _, err := w.Write(rest[:min(len(rest), 1<<20)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := res.Keep(); err != nil {
		t.Fatalf("keep: %v", err)
	}
	if _, err := b.Stat(ctx, "r/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a kept partial file is visible at its destination: %v", err)
	}
	if got := scanAll(t, b, core.ScanOptions{}); len(got) > 1 || (len(got) == 1 && got["r"].Type != core.TypeDir) {
		t.Errorf("a kept partial file shows in a scan: %q", names(got))
	}

	// Another key is another transfer: fresh.
	w2 := create("r/f", "conformanceKey-2", len(content))
	if r2, ok := w2.(core.Resumer); ok && r2.Offset() != 0 {
		t.Errorf("another key continued at %d", r2.Offset())
	}
	w2.Abort()

	if _, ok := w2.(core.ResumeVerifier); ok {
		// A partial file checked against another source is not
		// continued, and stays for the right one.
		w = create("r/f", key, len(content))
		other := pattern(len(content), 6)
		if err := w.(core.ResumeVerifier).VerifyResume(ctx, opener(other)); err != nil {
			t.Fatal(err)
		}
		if off := w.(core.Resumer).Offset(); off != 0 {
			t.Errorf("a partial file that is not the source's was continued at %d", off)
		}
		if err := w.(core.Resumer).Keep(); err != nil {
			t.Fatalf("keep: %v", err)
		}
	}

	w = create("r/f", key, len(content))
	res, ok = w.(core.Resumer)
	if !ok {
		t.Fatal("the second writer is no Resumer")
	}
	if v, ok := w.(core.ResumeVerifier); ok {
		if err := v.VerifyResume(ctx, opener(content)); err != nil {
			t.Fatal(err)
		}
	}
	off := res.Offset()
	if off <= 0 || off > int64(first) {
		t.Errorf("resumed at %d, want within (0, %d]", off, first)
	}
	off = max(0, min(off, int64(first)))
	if _, err := w.Write(content[off:]); err != nil {
		t.Fatal(err)
	}
	e, err := w.Commit(ctx)
	if err != nil {
		t.Fatalf("commit of the resumed file: %v", err)
	}
	if e.Size != int64(len(content)) {
		t.Errorf("resumed file committed with %d bytes, want %d", e.Size, len(content))
	}
	if got := read(t, b, "r/f", 0); !bytes.Equal(got, content) {
		t.Errorf("the resumed file reads %d bytes differing from the %d written", len(got), len(content))
	}

	// Committed: nothing left to continue.
	w = create("r/g", key, len(content))
	if r, ok := w.(core.Resumer); ok && r.Offset() != 0 {
		t.Errorf("a committed partial file was continued again at %d", r.Offset())
	}
	w.Write(content[:first])
	// Aborted (what the engine does with a partial it cannot use): the
	// next writer starts over.
	if err := w.Abort(); err != nil {
		t.Fatalf("abort: %v", err)
	}
	w = create("r/g", key, len(content))
	if r, ok := w.(core.Resumer); ok && r.Offset() != 0 {
		t.Errorf("an aborted partial file was continued at %d", r.Offset())
	}
	w.Write([]byte("short"))
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(t, b, "r/g", 0); string(got) != "short" {
		t.Errorf("r/g = %d bytes, want what the fresh writer wrote", len(got))
	}

	// A key that is not a name is refused, never made part of a path.
	for _, bad := range []string{"../escape", "a/b", strings.Repeat("k", core.MaxPartialKey+1)} {
		if w, err := b.Create(ctx, "r/h", core.CreateOptions{Size: 1, Replace: core.MustNotExist, Partial: bad}); err == nil {
			w.Abort()
			t.Errorf("partial key %q accepted", bad)
		}
	}
	want := []string{"r", "r/f", "r/g"}
	if !b.Caps().Dirs {
		want = want[1:]
	}
	if s := names(scanAll(t, b, core.ScanOptions{})); strings.Join(s, " ") != strings.Join(want, " ") {
		t.Errorf("after the transfers the scan saw %q, want %q", s, want)
	}
}

// opener is a ResumeVerifier's source: content read from its first byte.
func opener(content []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil }
}
