package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/async-sync/async/backends/objstore"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/memfs"
)

// countingBucket counts a bucket's listings and HEADs.
type countingBucket struct {
	*Bucket
	lists, heads atomic.Int32
}

func (b *countingBucket) List(ctx context.Context, prefix string, fn func(objstore.Object) error) error {
	b.lists.Add(1)
	return b.Bucket.List(ctx, prefix, fn)
}

func (b *countingBucket) Head(ctx context.Context, key string) (objstore.Object, error) {
	b.heads.Add(1)
	return b.Bucket.Head(ctx, key)
}

// scanCounter counts a backend's scans by kind, and the HEADs of its
// bucket during whole scans.
type scanCounter struct {
	core.Backend
	bucket                     *countingBucket
	ordered, whole, wholeHeads *atomic.Int32
}

func (b scanCounter) Scan(ctx context.Context, opts core.ScanOptions, fn func(core.Entry) error) error {
	switch {
	case opts.Ordered:
		b.ordered.Add(1)
	case !opts.Prune.Shallow:
		b.whole.Add(1)
		h := b.bucket.heads.Load()
		defer func() { b.wholeHeads.Add(b.bucket.heads.Load() - h) }()
	}
	return b.Backend.Scan(ctx, opts, fn)
}

// bucketWorld is a memfs tree (local) and an in-process bucket (remote)
// with their snapshots.
type bucketWorld struct {
	t              *testing.T
	local          *memfs.FS
	bucket         *countingBucket
	stores         [2]*memfs.Store
	policy         core.Policy
	ordered, whole atomic.Int32
	wholeHeads     atomic.Int32
}

func newBucketWorld(t *testing.T, dir core.Direction) *bucketWorld {
	b, _ := open(t, "mem://")
	t.Cleanup(func() { b.Close() })
	if !b.ListsInKeyOrder() {
		t.Fatal("mem:// does not list in key order")
	}
	w := &bucketWorld{t: t, local: memfs.New(memfs.Options{}), bucket: &countingBucket{Bucket: b},
		stores: [2]*memfs.Store{memfs.NewStore(), memfs.NewStore()}}
	w.policy = core.Policy{Direction: dir, PreserveTime: true, ConflictSuffix: ".conflict"}
	if err := w.policy.Resolve(); err != nil {
		t.Fatal(err)
	}
	return w
}

// remote is the bucket's tree, scanned in order unless unordered.
func (w *bucketWorld) remote(unordered bool) core.Backend {
	return objstore.New(w.bucket, "", objstore.Options{Unordered: unordered, MetaConcurrency: 4})
}

// put writes a file on side s, and its parents on the local side.
func (w *bucketWorld) put(s core.Side, p, content string) {
	w.t.Helper()
	b := w.remote(false)
	if s == core.Local {
		b = w.local
		for _, d := range parents(p) {
			if _, err := w.local.Mkdir(context.Background(), d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				w.t.Fatal(err)
			}
		}
	}
	wr, err := b.Create(context.Background(), p, core.CreateOptions{Size: int64(len(content)), Replace: core.Precondition{Any: true}})
	if err != nil {
		w.t.Fatal(err)
	}
	wr.Write([]byte(content))
	if _, err := wr.Commit(context.Background()); err != nil {
		w.t.Fatal(err)
	}
}

// parents returns p's parent directories, top down.
func parents(p string) []string {
	var out []string
	for d := core.Parent(p); d != ""; d = core.Parent(d) {
		out = append(out, d)
	}
	slices.Reverse(out)
	return out
}

// sync runs one sync (a dry run: the plan only); unordered scans the
// bucket whole, reversed loads the bucket side's records out of order.
// It returns the plan as JSON and the unchanged count.
func (w *bucketWorld) sync(dry, unordered, reversed bool) (string, int, error) {
	w.t.Helper()
	w.ordered.Store(0)
	w.whole.Store(0)
	w.wholeHeads.Store(0)
	w.bucket.heads.Store(0)
	w.bucket.lists.Store(0)
	var remoteStore core.Store = w.stores[core.Remote]
	if reversed {
		remoteStore = memfs.ReversedStore{Store: w.stores[core.Remote]}
	}
	local := &core.Endpoint{Backend: w.local, Store: w.stores[core.Local], URL: "mem://local"}
	remote := &core.Endpoint{Backend: scanCounter{Backend: w.remote(unordered), bucket: w.bucket,
		ordered: &w.ordered, whole: &w.whole, wholeHeads: &w.wholeHeads},
		Store: remoteStore, URL: "mem://bucket"}
	p, err := core.Sync(context.Background(), local, remote, core.Options{Session: "stream", Policy: w.policy, Stats: &core.Stats{}, DryRun: dry})
	if err != nil {
		return "", 0, err
	}
	var b bytes.Buffer
	if err := core.WritePlanJSON(&b, core.PlanHeader{}, p); err != nil {
		w.t.Fatal(err)
	}
	return b.String(), p.Unchanged, nil
}

func (w *bucketWorld) mustSync() {
	w.t.Helper()
	if _, _, err := w.sync(false, false, false); err != nil {
		w.t.Fatal(err)
	}
}

// streamNames are names whose key order is not their path order.
var streamNames = []string{"a b", "a-", "a.b", "a/b.c", "a/b/c", "a/b-/d", "a0", "x/y z/f", "x/y-z", "x/y/z", "é", "e/é.x"}

// TestBucketStreamingJoin: a bucket that lists in key order is scanned
// as a stream into the join: a resync that changes nothing asks for no
// object's metadata, and after changes on both sides the plan is the one
// made from the whole listing, also when the join falls back (records out
// of order) to whole scans, which take the metadata from the records
// rather than asking either.
func TestBucketStreamingJoin(t *testing.T) {
	for _, dir := range []core.Direction{core.Push, core.Pull, core.Bidi} {
		t.Run(dir.String(), func(t *testing.T) {
			w := newBucketWorld(t, dir)
			src := core.Local
			if dir == core.Pull {
				src = core.Remote
			}
			for i, p := range streamNames {
				w.put(src, p, fmt.Sprint("v", i))
			}
			w.mustSync()
			w.mustSync() // the destination's records now hold what was written

			// bucketScans is how many times the bucket is scanned: a push
			// looks at its destination only where the source changed.
			bucketScans := int32(1)
			if dir == core.Push {
				bucketScans = 0
			}
			_, n, err := w.sync(true, false, false)
			if err != nil {
				t.Fatal(err)
			}
			// A push asks whether its destination's root is empty: a
			// listing of the root that asks for its first file.
			emptiness := int32(0)
			if dir == core.Push {
				emptiness = 1
			}
			if h := w.bucket.heads.Load(); h != emptiness {
				t.Errorf("a resync that changes nothing: %d HEADs, want %d", h, emptiness)
			}
			if o, wh := w.ordered.Load(), w.whole.Load(); o != bucketScans || wh != 0 {
				t.Errorf("%d ordered scans of the bucket and %d whole, want %d ordered", o, wh, bucketScans)
			}
			if n < len(streamNames) {
				t.Errorf("%d unchanged, want at least %d", n, len(streamNames))
			}

			// Changes on both sides.
			w.put(core.Local, "a.b", "changed locally")
			w.put(core.Local, "a/new", "new locally")
			w.put(core.Remote, "a b", "changed in the bucket")
			w.put(core.Remote, "a-new/x", "new in the bucket")
			w.put(core.Remote, "x/y-z", "changed in the bucket")
			streamed, n, err := w.sync(true, false, false)
			if err != nil {
				t.Fatal(err)
			}
			if h, want := w.bucket.heads.Load(), int32(3); dir != core.Push && h != want {
				// The objects written since the records (their ETags differ).
				t.Errorf("%d HEADs, want %d", h, want)
			}
			whole, m, err := w.sync(true, true, false)
			if err != nil {
				t.Fatal(err)
			}
			if o := w.ordered.Load(); o != 0 {
				t.Errorf("unordered: %d ordered scans", o)
			}
			if streamed != whole || n != m {
				t.Fatalf("streamed plan (%d unchanged):\n%s\nwhole plan (%d unchanged):\n%s", n, streamed, m, whole)
			}
			fellBack, k, err := w.sync(true, false, true)
			if err != nil {
				t.Fatal(err)
			}
			if fellBack != whole || k != m {
				t.Fatalf("plan after the fall back (%d unchanged):\n%s\nwhole plan (%d unchanged):\n%s", k, fellBack, m, whole)
			}
			if dir != core.Push {
				if wh := w.whole.Load(); wh != 1 {
					t.Errorf("records out of order: %d whole scans of the bucket, want 1", wh)
				}
				if h, want := w.wholeHeads.Load(), int32(3); h != want {
					// The ordered scan before it, its records out of order
					// too, asked for more.
					t.Errorf("%d HEADs in the whole scan of the fall back, want %d", h, want)
				}
			}
			w.mustSync()
			if _, n, err := w.sync(true, false, false); err != nil || w.bucket.heads.Load() != emptiness {
				t.Errorf("after the sync: %v, %d HEADs (%d unchanged)", err, w.bucket.heads.Load(), n)
			}
		})
	}
}

// TestBucketStreamedSafetyHalt: most of the bucket lost halts the run as
// it does when the bucket is listed whole (the streamed join falls back
// to whole scans to tell).
func TestBucketStreamedSafetyHalt(t *testing.T) {
	for _, unordered := range []bool{false, true} {
		w := newBucketWorld(t, core.Pull)
		for i := range 40 {
			w.put(core.Remote, fmt.Sprintf("d/e/f%02d", i), fmt.Sprint("v", i))
		}
		w.mustSync()
		for i := range 30 {
			if err := w.bucket.Delete(context.Background(), fmt.Sprintf("d/e/f%02d", i)); err != nil {
				t.Fatal(err)
			}
		}
		_, _, err := w.sync(true, unordered, false)
		var halt *core.HaltError
		if !errors.As(err, &halt) {
			t.Fatalf("unordered %v: %v, want a halt", unordered, err)
		}
	}
}

// TestBucketPushManyChanges: a push whose source changed too much for its
// bucket destination to be looked at path by path scans the bucket whole,
// which takes the metadata from the records rather than asking for it.
func TestBucketPushManyChanges(t *testing.T) {
	w := newBucketWorld(t, core.Push)
	for i, p := range streamNames {
		w.put(core.Local, p, fmt.Sprint("v", i))
	}
	w.mustSync()
	for i := range 1100 {
		w.put(core.Local, fmt.Sprintf("many/f%04d", i), "new")
	}
	if _, _, err := w.sync(true, false, false); err != nil {
		t.Fatal(err)
	}
	if wh := w.whole.Load(); wh != 1 {
		t.Errorf("%d whole scans of the bucket, want 1", wh)
	}
	if h := w.wholeHeads.Load(); h != 0 {
		t.Errorf("the bucket's whole scan asked for %d objects' metadata, want none", h)
	}
}
