package core_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/filter"
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

// TestNoopRunWritesNoMeta: a run whose plan changes nothing leaves the
// snapshots as they are when the session identity it would record differs
// only in the run's times (each write costs the snapshot a sync, and its
// database a new table at close); a run that changes something writes it
// before the transfers and at the end, and a no-op run under another
// identity (here, other filter rules) writes it once, at the end.
func TestNoopRunWritesNoMeta(t *testing.T) {
	w := newFaultWorld(t, core.Push)
	w.put(core.Local, "d/f", "one")
	var stores [2]*countingStore
	for s := range 2 {
		stores[s] = &countingStore{Store: w.stores[s]}
	}
	run := func(f *filter.Filter) *core.Plan {
		t.Helper()
		var eps [2]*core.Endpoint
		for s := range 2 {
			stores[s].setMeta.Store(0)
			eps[s] = &core.Endpoint{Backend: w.fs[s], Store: stores[s], URL: [2]string{"mem://local", "mem://remote"}[s]}
		}
		plan, err := core.Sync(bg, eps[0], eps[1], core.Options{Session: "noop", Policy: w.policy, Stats: &core.Stats{}, Filter: f})
		if err != nil {
			t.Fatalf("sync: %v", err)
		}
		return plan
	}
	tmp, err := filter.New([]filter.Rule{{Pattern: "*.tmp"}})
	if err != nil {
		t.Fatal(err)
	}
	var stopped time.Time
	for i, c := range []struct {
		put    string // a file to create first
		filter *filter.Filter
		want   int32
	}{
		{want: 2}, {want: 0}, {put: "d/g", want: 2}, {want: 0}, {filter: tmp, want: 1}, {filter: tmp, want: 0},
	} {
		if c.put != "" {
			w.put(core.Local, c.put, "two")
		}
		plan := run(c.filter)
		for s := range 2 {
			if got := stores[s].setMeta.Load(); got != c.want {
				t.Errorf("run %d (%d actions): %s snapshot's identity written %d times, want %d", i+1, len(plan.Actions), core.Side(s), got, c.want)
			}
		}
		m, ok, _ := w.stores[core.Remote].Meta(bg)
		if !ok || m.Stopped.IsZero() {
			t.Fatalf("after run %d: meta %+v (ok %v), want one with its stop time", i+1, m, ok)
		}
		if moved := !m.Stopped.Equal(stopped); moved != (c.want > 0) {
			t.Errorf("run %d: stop time %v, was %v: recorded anew %v, want %v", i+1, m.Stopped, stopped, moved, c.want > 0)
		}
		stopped = m.Stopped
	}
}
