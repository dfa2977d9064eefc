package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/memfs"
)

// scanSpy counts a backend's full scans, ordered or not; hide takes
// Caps.OrderedScan away (the scan is then collected whole, an entryTable).
type scanSpy struct {
	core.Backend
	hide           bool
	ordered, whole *atomic.Int32
}

// spyEndpoints returns w's sides with their backends behind scanSpys
// counting into ordered and whole (hide: claiming no ordered scan) and,
// if reversed, their stores behind memfs.ReversedStores.
func spyEndpoints(w *faultWorld, hide, reversed bool, ordered, whole *atomic.Int32) [2]*core.Endpoint {
	var eps [2]*core.Endpoint
	for s := range 2 {
		var st core.Store = w.stores[s]
		if reversed {
			st = memfs.ReversedStore{Store: w.stores[s]}
		}
		b := scanSpy{Backend: w.fs[s], hide: hide, ordered: ordered, whole: whole}
		eps[s] = &core.Endpoint{Backend: b, Store: st, URL: [2]string{"mem://local", "mem://remote"}[s]}
	}
	return eps
}

func (b scanSpy) Caps() core.Caps {
	c := b.Backend.Caps()
	c.OrderedScan = c.OrderedScan && !b.hide
	return c
}

func (b scanSpy) Scan(ctx context.Context, opts core.ScanOptions, fn func(core.Entry) error) error {
	switch {
	case opts.Ordered:
		b.ordered.Add(1)
	case !opts.Prune.Shallow:
		b.whole.Add(1)
	}
	return b.Backend.Scan(ctx, opts, fn)
}

// TestStreamingJoinPlansAsWhole: after random changes on both sides, the
// plan made by the streaming join (which drops the inert paths), its scans
// streamed in order or collected whole, is the plan made from every path's
// state, unchanged count included, in each direction.
func TestStreamingJoinPlansAsWhole(t *testing.T) {
	for _, dir := range []core.Direction{core.Push, core.Pull, core.Bidi} {
		for seed := range uint64(6) {
			t.Run(fmt.Sprintf("%v/%d", dir, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 18))
				w := newFaultWorld(t, dir)
				src := core.Local
				if dir == core.Pull {
					src = core.Remote
				}
				var paths []string
				for i := range 120 {
					p := fmt.Sprintf("d%d/e%d/f%03d", i%4, i%3, i)
					paths = append(paths, p)
					w.put(src, p, fmt.Sprint("v", i))
				}
				w.mustSync()
				for _, p := range paths {
					s := core.Side(rng.IntN(2))
					switch rng.IntN(14) {
					case 0:
						w.put(s, p, fmt.Sprint("changed ", rng.Int()))
					case 1:
						w.do(w.fs[s].Remove(bg, p, core.Precondition{Any: true}))
					case 2:
						w.put(s, p+".new", "new")
					case 3:
						w.put(s, p+".conflict", "taken")
					case 4: // changed on both sides
						w.put(s, p, "one side")
						w.put(s.Other(), p, "the other side")
					case 5: // changed on one side, deleted on the other
						w.put(s, p, fmt.Sprint("changed ", rng.Int()))
						w.do(w.fs[s.Other()].Remove(bg, p, core.Precondition{Any: true}))
					}
				}
				var ordered, whole atomic.Int32
				plan := func(reversed, table bool) (string, int) {
					ordered.Store(0)
					whole.Store(0)
					eps := spyEndpoints(w, table, reversed, &ordered, &whole)
					p, err := core.Sync(bg, eps[0], eps[1], core.Options{Session: "faults", Policy: w.policy, Stats: &core.Stats{}, DryRun: true, ForceDeletes: true})
					if err != nil {
						t.Fatalf("sync (reversed %v): %v", reversed, err)
					}
					var b bytes.Buffer
					if err := core.WritePlanJSON(&b, core.PlanHeader{}, p); err != nil {
						t.Fatal(err)
					}
					return b.String(), p.Unchanged
				}
				scans := 1 // a push or pull scans the source only
				if dir == core.Bidi {
					scans = 2
				}
				streamed, n := plan(false, false)
				if o, w := ordered.Load(), whole.Load(); o != int32(scans) || w != 0 {
					t.Errorf("streamed: %d ordered scans and %d whole, want %d ordered", o, w, scans)
				}
				tabled, k := plan(false, true)
				if o, w := ordered.Load(), whole.Load(); o != 0 || w != int32(scans) {
					t.Errorf("tabled: %d ordered scans and %d whole, want %d whole", o, w, scans)
				}
				all, m := plan(true, false)
				if w := whole.Load(); w < int32(scans) {
					t.Errorf("whole: %d whole scans, want the sides scanned again", w)
				}
				if streamed != all || n != m {
					t.Fatalf("streamed plan (%d unchanged):\n%s\nwhole plan (%d unchanged):\n%s", n, streamed, m, all)
				}
				if tabled != all || k != m {
					t.Fatalf("tabled plan (%d unchanged):\n%s\nwhole plan (%d unchanged):\n%s", k, tabled, m, all)
				}
				if n == 0 {
					t.Fatal("no path unchanged: nothing was dropped")
				}
			})
		}
	}
}

// TestStreamedScanSafetyHalts: the halts that look at the whole scan (a
// root emptied, most of a side lost, unless it moved) decide the same
// whether the scans stream in order (the join then falls back to whole
// scans when it needs them) or are collected whole.
func TestStreamedScanSafetyHalts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(w *faultWorld)
		halt   bool
		// again: the ordered scan is made again, whole (an empty one, and
		// one whose entries may tell that what is lost moved; not when the
		// states tell it).
		again bool
	}{
		{"unchanged", func(*faultWorld) {}, false, false},
		{"emptied", func(w *faultWorld) {
			for i := range 40 {
				w.do(w.fs[core.Local].Remove(bg, fmt.Sprintf("d/e/f%02d", i), core.Precondition{Any: true}))
			}
			w.do(w.fs[core.Local].Remove(bg, "d/e", core.Precondition{Any: true}))
			w.do(w.fs[core.Local].Remove(bg, "d", core.Precondition{Any: true}))
		}, true, true},
		{"most lost", func(w *faultWorld) {
			for i := range 30 {
				w.do(w.fs[core.Local].Remove(bg, fmt.Sprintf("d/e/f%02d", i), core.Precondition{Any: true}))
			}
		}, true, true},
		{"moved", func(w *faultWorld) {
			_, err := w.fs[core.Local].Rename(bg, "d/e", "d/moved", core.Precondition{Any: true})
			w.do(err)
		}, false, false},
	} {
		for _, dir := range []core.Direction{core.Push, core.Bidi} {
			for _, table := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%v/table=%v", tc.name, dir, table), func(t *testing.T) {
					w := newFaultWorld(t, dir)
					for i := range 40 {
						w.put(core.Local, fmt.Sprintf("d/e/f%02d", i), fmt.Sprint("v", i))
					}
					w.mustSync()
					tc.change(w)
					var ordered, whole atomic.Int32
					eps := spyEndpoints(w, table, false, &ordered, &whole)
					_, err := core.Sync(bg, eps[0], eps[1], core.Options{Session: "faults", Policy: w.policy, Stats: &core.Stats{}, DryRun: true})
					var halt *core.HaltError
					if errors.As(err, &halt) != tc.halt || err != nil && !tc.halt {
						t.Fatalf("sync: %v, want a halt: %v", err, tc.halt)
					}
					if table {
						if ordered.Load() != 0 {
							t.Errorf("%d ordered scans of backends that do not claim them", ordered.Load())
						}
						return
					}
					if again := whole.Load() > 0; again != tc.again {
						t.Errorf("scanned again whole: %v, want %v (%d ordered scans)", again, tc.again, ordered.Load())
					}
				})
			}
		}
	}
}

// TestSkippedLinksToldOnce: the links a streamed scan leaves out are told
// once, also when the join falls back and the side is scanned again.
func TestSkippedLinksToldOnce(t *testing.T) {
	for _, reversed := range []bool{false, true} {
		t.Run(fmt.Sprintf("fallback=%v", reversed), func(t *testing.T) {
			w := newFaultWorld(t, core.Push)
			for i := range 30 {
				w.put(core.Local, fmt.Sprintf("d/f%02d", i), "x")
			}
			for _, l := range []string{"d/l1", "l2"} {
				_, err := w.fs[core.Local].Symlink(bg, l, "f00", core.Precondition{})
				w.do(err)
			}
			var mu sync.Mutex
			told := map[string]int{}
			sync := func(first bool) {
				var ordered, whole atomic.Int32
				eps := spyEndpoints(w, false, reversed, &ordered, &whole)
				_, err := core.Sync(bg, eps[0], eps[1], core.Options{Session: "faults", Policy: w.policy, Stats: &core.Stats{},
					Links: core.LinksSkip, SkippedLink: func(s core.Side, p string) {
						mu.Lock()
						told[s.String()+" "+p]++
						mu.Unlock()
					}})
				if err != nil {
					t.Fatal(err)
				}
				if again := whole.Load() > 0; !first && again != reversed {
					t.Errorf("scanned again whole: %v, want %v (%d ordered)", again, reversed, ordered.Load())
				}
			}
			sync(true) // a first run streams its scans too: no records to order
			clear(told)
			sync(false)
			want := map[string]int{"local d/l1": 1, "local l2": 1}
			if fmt.Sprint(told) != fmt.Sprint(want) {
				t.Errorf("links told %v, want %v", told, want)
			}
		})
	}
}

// TestStreamedConflictNameAvoidsInertPaths: a kept copy is not named after
// a path the streaming join dropped as inert, whether the scan streamed
// (the name is asked of the backend) or was collected whole.
func TestStreamedConflictNameAvoidsInertPaths(t *testing.T) {
	for _, table := range []bool{false, true} {
		t.Run(fmt.Sprintf("table=%v", table), func(t *testing.T) {
			w := newFaultWorld(t, core.Bidi)
			w.policy.Overwrite = core.OverwriteOlder // the older version is kept beside itself
			for _, p := range []string{"d/a", "d/a.conflict", "d/b"} {
				w.put(core.Local, p, "v "+p)
			}
			w.mustSync()
			w.put(core.Local, "d/a", "local")
			w.put(core.Remote, "d/a", "remote side")
			var ordered, whole atomic.Int32
			eps := spyEndpoints(w, table, false, &ordered, &whole)
			plan, err := core.Sync(bg, eps[0], eps[1], core.Options{Session: "faults", Policy: w.policy, Stats: &core.Stats{}, DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			if plan.Unchanged == 0 {
				t.Fatal("nothing inert: the test proves nothing")
			}
			var b bytes.Buffer
			if err := core.WritePlanJSON(&b, core.PlanHeader{}, plan); err != nil {
				t.Fatal(err)
			}
			if s := b.String(); !strings.Contains(s, "d/a.conflict-2") {
				t.Errorf("the kept copy is not named d/a.conflict-2:\n%s", s)
			}
		})
	}
}
