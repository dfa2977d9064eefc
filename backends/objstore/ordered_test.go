package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/filter"
)

// listBucket is an in-process bucket for scans: List (in key order, or
// in the order keys were put when shuffled) and Head, which it counts.
type listBucket struct {
	objs     map[string]Object
	order    []string // the listing order when shuffled
	shuffled bool
	withMeta bool // the listing carries the metadata
	heads    atomic.Int64
	inFlight atomic.Int64
	maxHeads atomic.Int64 // most HEADs in flight at once
	headWait time.Duration
	headErr  map[string]error
}

func newListBucket(keys ...string) *listBucket {
	b := &listBucket{objs: map[string]Object{}}
	for i, k := range keys {
		b.put(k, i)
	}
	return b
}

func (b *listBucket) put(k string, i int) {
	b.objs[k] = Object{Key: k, Size: int64(len(k)), ETag: "etag-" + k, Modified: time.Unix(int64(1000+i), 0),
		Meta: map[string]string{MetaMTime: strconv.FormatInt(int64(i)*1e9, 10), MetaMode: "600"}}
	b.order = append(b.order, k)
}

func (b *listBucket) ListsInKeyOrder() bool { return !b.shuffled }

func (b *listBucket) List(ctx context.Context, prefix string, fn func(Object) error) error {
	keys := slices.Clone(b.order)
	if !b.shuffled {
		slices.Sort(keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		o := b.objs[k]
		if !b.withMeta {
			o.Meta = nil
		}
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

func (b *listBucket) Head(ctx context.Context, key string) (Object, error) {
	b.heads.Add(1)
	n := b.inFlight.Add(1)
	defer b.inFlight.Add(-1)
	for {
		m := b.maxHeads.Load()
		if n <= m || b.maxHeads.CompareAndSwap(m, n) {
			break
		}
	}
	if b.headWait > 0 {
		// A slower answer for some keys: the pipeline must keep the order.
		time.Sleep(time.Duration(len(key)%3) * b.headWait)
	}
	if err := b.headErr[key]; err != nil {
		return Object{}, err
	}
	o, ok := b.objs[key]
	if !ok {
		return Object{}, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	return o, nil
}

func (b *listBucket) Get(context.Context, string, int64) (io.ReadCloser, Object, error) {
	return nil, Object{}, errors.ErrUnsupported
}
func (b *listBucket) NewWriter(context.Context, string, WriteOptions) (ObjectWriter, error) {
	return nil, errors.ErrUnsupported
}
func (b *listBucket) Copy(context.Context, string, string, map[string]string) (Object, error) {
	return Object{}, errors.ErrUnsupported
}
func (b *listBucket) Delete(context.Context, string) error { return errors.ErrUnsupported }
func (b *listBucket) Close() error                         { return nil }

// scanAll scans f and returns the entries in the order passed on.
func scanAll(t *testing.T, f *FS, opts core.ScanOptions) []core.Entry {
	t.Helper()
	var (
		mu  sync.Mutex
		out []core.Entry
	)
	err := f.Scan(context.Background(), opts, func(e core.Entry) error {
		mu.Lock()
		defer mu.Unlock()
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// paths returns the entries' paths, directories with a trailing slash.
func paths(es []core.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Path
		if e.Type == core.TypeDir {
			out[i] += "/"
		}
	}
	return out
}

// sortedEntries sorts a whole scan's entries in path order.
func sortedEntries(es []core.Entry) []core.Entry {
	es = slices.Clone(es)
	slices.SortFunc(es, func(a, b core.Entry) int { return core.ComparePaths(a.Path, b.Path) })
	return es
}

func TestOrderedScan(t *testing.T) {
	skipB := core.Prune{Filter: []filter.Rule{{Pattern: "/b/"}}}
	tests := []struct {
		name  string
		keys  []string
		prune core.Prune
		want  []string
	}{
		{name: "names below slash", keys: []string{"a", "a b", "a-", "a.b", "a/b", "a/c", "a0"},
			want: []string{"a", "a/b", "a/c", "a b", "a-", "a.b", "a0"}},
		{name: "implied directories", keys: []string{"x/y/z", "x.y", "x/y.z", "x/y-/q"},
			want: []string{"x/", "x/y/", "x/y/z", "x/y-/", "x/y-/q", "x/y.z", "x.y"}},
		{name: "markers", keys: []string{"d/", "d/e/", "d-/", "d.txt", "d/e/f"},
			want: []string{"d/", "d/e/", "d/e/f", "d-/", "d.txt"}},
		{name: "a file and a marker: the file wins", keys: []string{"f", "f/", "g/", "g"},
			want: []string{"f", "g"}},
		{name: "a file and a directory it implies: the file wins", keys: []string{"f", "f/x", "f.x"},
			want: []string{"f", "f/x", "f.x"}},
		{name: "reserved and doubled slashes", keys: []string{core.PrivateDir + "/x", "a//b", "c/" + core.ReservedPrefix + "t", "/lead", "ok"},
			want: []string{"ok"}},
		{name: "unicode", keys: []string{"é", "e", "e/é", "e.é", "z"},
			want: []string{"e", "e/é", "e.é", "z", "é"}},
		{name: "prune", keys: []string{"a", "b/c", "b/d/e", "b.c", "b-", "c/d"}, prune: skipB,
			want: []string{"a", "b-", "b.c", "c/", "c/d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newListBucket(tt.keys...)
			f := New(b, "", Options{})
			if !f.Caps().OrderedScan {
				t.Fatal("a bucket that lists in key order: no OrderedScan")
			}
			got := scanAll(t, f, core.ScanOptions{Ordered: true, Prune: tt.prune})
			if !slices.Equal(paths(got), tt.want) {
				t.Errorf("ordered scan\n got %q\nwant %q", paths(got), tt.want)
			}
			whole := scanAll(t, New(b, "", Options{Unordered: true}), core.ScanOptions{Prune: tt.prune})
			if !slices.EqualFunc(got, sortedEntries(whole), entriesEqual) {
				t.Errorf("ordered scan %q, whole listing %q", paths(got), paths(sortedEntries(whole)))
			}
		})
	}
}

func entriesEqual(a, b core.Entry) bool {
	return a.Path == b.Path && a.Type == b.Type && a.Size == b.Size && a.MTime.Equal(b.MTime) && a.Mode == b.Mode && a.Token == b.Token
}

// TestOrderedScanProperty scans random trees of names from a small
// alphabet (bytes below, at and above '/', and unicode) both ways: the
// ordered scan is in strict path order and holds what the whole listing
// holds, under a prefix and with a prune.
func TestOrderedScanProperty(t *testing.T) {
	alphabet := []string{"a", "b", "-", ".", "/", " ", "é", "0", "~"}
	prunes := []core.Prune{{}, {Filter: []filter.Rule{{Pattern: "a/"}}}, {Filter: []filter.Rule{{Pattern: "*.b"}}},
		{Filter: []filter.Rule{{Include: true, Pattern: "a*"}, {Pattern: "*"}}}, {Subtrees: []string{"a", "b/a"}}}
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 7))
		b := newListBucket()
		prefix := ""
		if seed%3 == 0 {
			prefix = "p/"
		}
		for i := range 1 + r.IntN(40) {
			var k strings.Builder
			for range 1 + r.IntN(6) {
				k.WriteString(alphabet[r.IntN(len(alphabet))])
			}
			if _, ok := b.objs[prefix+k.String()]; !ok {
				b.put(prefix+k.String(), i)
			}
		}
		prune := prunes[int(seed)%len(prunes)]
		got := scanAll(t, New(b, prefix, Options{}), core.ScanOptions{Ordered: true, Prune: prune})
		for i := 1; i < len(got); i++ {
			if core.ComparePaths(got[i-1].Path, got[i].Path) >= 0 {
				t.Fatalf("seed %d: %q then %q\nkeys %q", seed, got[i-1].Path, got[i].Path, b.order)
			}
		}
		if conflicts(b.order) && prune.Filter != nil {
			// A file and a directory of the same name: what a filter
			// on one does to what is below the other is left open (the
			// whole listing decides in map order).
			continue
		}
		whole := sortedEntries(scanAll(t, New(b, prefix, Options{Unordered: true}), core.ScanOptions{Prune: prune}))
		if !slices.EqualFunc(got, whole, entriesEqual) {
			t.Fatalf("seed %d: keys %q\nordered %q\nwhole   %q", seed, b.order, paths(got), paths(whole))
		}
	}
}

// TestOrderedScanHeads: objects whose listing lacks metadata are asked
// for it unless a record (KnownAt, asked in path order) has the same
// ETag and size; the answers come back in any order, the entries go on in
// path order, with MetaConcurrency HEADs in flight at most.
func TestOrderedScanHeads(t *testing.T) {
	var keys []string
	for i := range 300 {
		keys = append(keys, fmt.Sprintf("d%02d/f%03d", i%17, i), fmt.Sprintf("d%02d.x%03d", i%17, i))
	}
	b := newListBucket(keys...)
	b.headWait = time.Millisecond
	known := map[string]core.Entry{}
	for i, k := range keys {
		o := b.objs[k]
		switch i % 3 {
		case 0: // the same object: no HEAD
			known[k] = core.Entry{Path: k, Type: core.TypeFile, Size: o.Size, Token: o.ETag, MTime: time.Unix(0, int64(i)*1e9), Mode: 0o600}
		case 1: // another object since: a HEAD
			known[k] = core.Entry{Path: k, Type: core.TypeFile, Size: o.Size, Token: "old"}
		}
	}
	var (
		asked []string
		calls int
	)
	f := New(b, "", Options{MetaConcurrency: 4})
	got := scanAll(t, f, core.ScanOptions{Ordered: true, KnownAt: func(p string) (core.Entry, bool) {
		calls++
		if len(asked) > 0 && core.ComparePaths(asked[len(asked)-1], p) >= 0 {
			t.Errorf("KnownAt(%q) after KnownAt(%q)", p, asked[len(asked)-1])
		}
		asked = append(asked, p)
		k, ok := known[p]
		return k, ok
	}})
	if want := int64(len(keys) - len(keys)/3); b.heads.Load() != want {
		t.Errorf("%d HEADs, want %d", b.heads.Load(), want)
	}
	if calls != len(keys) {
		t.Errorf("KnownAt asked %d times, want %d (once per file)", calls, len(keys))
	}
	if m := b.maxHeads.Load(); m > 4 || m < 2 {
		t.Errorf("%d HEADs in flight at most, want 2 to 4", m)
	}
	b.withMeta = true // what the whole listing would say with every HEAD
	whole := sortedEntries(scanAll(t, New(b, "", Options{Unordered: true}), core.ScanOptions{}))
	if !slices.EqualFunc(got, whole, entriesEqual) {
		t.Errorf("ordered scan with HEADs\n got %q\nwant %q", paths(got), paths(whole))
	}
}

// TestOrderedScanHeadFailures: an object gone since the listing is left
// out; a failed HEAD fails the scan.
func TestOrderedScanHeadFailures(t *testing.T) {
	b := newListBucket("a", "b", "b.gone", "c")
	b.headErr = map[string]error{"b.gone": fmt.Errorf("b.gone: %w", fs.ErrNotExist)}
	got := scanAll(t, New(b, "", Options{}), core.ScanOptions{Ordered: true})
	if want := []string{"a", "b", "c"}; !slices.Equal(paths(got), want) {
		t.Fatalf("got %q, want %q", paths(got), want)
	}
	b.headErr = map[string]error{"b": errors.New("boom")}
	err := New(b, "", Options{}).Scan(context.Background(), core.ScanOptions{Ordered: true}, func(core.Entry) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("a failed HEAD: %v", err)
	}
	// The caller's error stops the scan and comes back as is.
	b.headErr = nil
	stop := errors.New("stop")
	n := 0
	err = New(b, "", Options{}).Scan(context.Background(), core.ScanOptions{Ordered: true}, func(core.Entry) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Fatalf("the caller's error: %v after %d entries", err, n)
	}
}

// TestOrderedScanDescend: a directory the prune does not descend into is
// passed on, its contents are not, and nothing below it is asked for.
func TestOrderedScanDescend(t *testing.T) {
	b := newListBucket("k/a", "k/b/c", "k.a", "l/m")
	settled := map[string]time.Time{"k": {}}
	got := scanAll(t, New(b, "", Options{}), core.ScanOptions{Ordered: true, Prune: core.Prune{Settled: settled}})
	heads := b.heads.Load()
	whole := sortedEntries(scanAll(t, New(b, "", Options{Unordered: true}), core.ScanOptions{Prune: core.Prune{Settled: settled}}))
	if !slices.EqualFunc(got, whole, entriesEqual) {
		t.Fatalf("ordered %q, whole %q", paths(got), paths(whole))
	}
	if heads != int64(len(whole)-countDirs(whole)) {
		t.Errorf("%d HEADs for %q", heads, paths(whole))
	}
}

func countDirs(es []core.Entry) int {
	n := 0
	for _, e := range es {
		if e.Type == core.TypeDir {
			n++
		}
	}
	return n
}

// TestBound checks bound against every key that can follow: no path a
// later key brings, but k's own parents, is before it.
func TestBound(t *testing.T) {
	alphabet := "a-./ é"
	var keys []string
	var gen func(s string, n int)
	gen = func(s string, n int) {
		if s != "" {
			keys = append(keys, s)
		}
		if n == 0 {
			return
		}
		for _, c := range strings.Split(alphabet, "") {
			gen(s+c, n-1)
		}
	}
	gen("", 3)
	slices.Sort(keys)
	for i, k := range keys {
		b := bound(k)
		own := map[string]bool{}
		for _, q := range brings(k) {
			own[q] = true
		}
		for _, y := range keys[i+1:] {
			for _, q := range brings(y) {
				if !own[q] && core.ComparePaths(q, b) < 0 {
					t.Fatalf("after %q (bound %q), %q brings %q", k, b, y, q)
				}
			}
		}
	}
}

// brings returns the paths a key stands for: itself (a marker: its
// directory) and its parents.
func brings(k string) []string {
	p := strings.TrimSuffix(k, "/")
	out := []string{p}
	for i := range len(p) {
		if p[i] == '/' {
			out = append(out, p[:i])
		}
	}
	return out
}

// conflicts reports whether a key is a file where another key implies a
// directory.
func conflicts(keys []string) bool {
	files := map[string]bool{}
	for _, k := range keys {
		if !strings.HasSuffix(k, "/") {
			files[k] = true
		}
	}
	for _, k := range keys {
		for _, q := range brings(k)[1:] {
			if files[q] {
				return true
			}
		}
		if strings.HasSuffix(k, "/") && files[strings.TrimSuffix(k, "/")] {
			return true
		}
	}
	return false
}
