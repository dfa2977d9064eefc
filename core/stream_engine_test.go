package core_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/memfs"
)

// reversedStore loads its records in reverse path order, which the engine
// does not stream: it loads them whole and sorts them (the join of every
// state).
type reversedStore struct{ *memfs.Store }

func (s reversedStore) Load(ctx context.Context, fn func(core.Record) error) error {
	recs := s.Records()
	slices.Reverse(recs)
	for _, r := range recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// TestStreamingJoinPlansAsWhole: after random changes on both sides, the
// plan made by the streaming join (which drops the inert paths) is the plan
// made from every path's state, unchanged count included, in each
// direction.
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
				plan := func(reversed bool) (string, int) {
					var eps [2]*core.Endpoint
					for s := range 2 {
						var st core.Store = w.stores[s]
						if reversed {
							st = reversedStore{w.stores[s]}
						}
						eps[s] = &core.Endpoint{Backend: w.fs[s], Store: st, URL: [2]string{"mem://local", "mem://remote"}[s]}
					}
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
				streamed, n := plan(false)
				whole, m := plan(true)
				if streamed != whole || n != m {
					t.Fatalf("streamed plan (%d unchanged):\n%s\nwhole plan (%d unchanged):\n%s", n, streamed, m, whole)
				}
				if n == 0 {
					t.Fatal("no path unchanged: nothing was dropped")
				}
			})
		}
	}
}
