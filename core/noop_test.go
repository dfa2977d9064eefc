package core_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/memfs"
)

// countingStore counts the durable writes of the session identity.
type countingStore struct {
	*memfs.Store
	setMeta atomic.Int32
}

func (c *countingStore) SetMeta(ctx context.Context, m core.Meta) error {
	c.setMeta.Add(1)
	return c.Store.SetMeta(ctx, m)
}

// TestNoopRunWritesMetaOnce: a run whose plan changes nothing writes each
// snapshot's session identity once (at its end), not also before the
// transfers (each write is a sync of the snapshot); a run that changes
// something still writes it first.
func TestNoopRunWritesMetaOnce(t *testing.T) {
	w := newFaultWorld(t, core.Push)
	w.put(core.Local, "d/f", "one")
	var stores [2]*countingStore
	for s := range 2 {
		stores[s] = &countingStore{Store: w.stores[s]}
	}
	run := func() *core.Plan {
		t.Helper()
		var eps [2]*core.Endpoint
		for s := range 2 {
			stores[s].setMeta.Store(0)
			eps[s] = &core.Endpoint{Backend: w.fs[s], Store: stores[s], URL: [2]string{"mem://local", "mem://remote"}[s]}
		}
		plan, err := core.Sync(bg, eps[0], eps[1], core.Options{Session: "noop", Policy: w.policy, Stats: &core.Stats{}})
		if err != nil {
			t.Fatalf("sync: %v", err)
		}
		return plan
	}
	for i, want := range []int32{2, 1, 2} {
		if i == 2 {
			w.put(core.Local, "d/g", "two")
		}
		plan := run()
		for s := range 2 {
			if got := stores[s].setMeta.Load(); got != want {
				t.Errorf("run %d (%d actions): %s snapshot's identity written %d times, want %d", i+1, len(plan.Actions), core.Side(s), got, want)
			}
		}
	}
	if m, ok, _ := w.stores[core.Remote].Meta(bg); !ok || m.Stopped.IsZero() {
		t.Errorf("after a no-op run: meta %+v (ok %v), want one with its stop time", m, ok)
	}
}
