package core_test

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/faults"
)

// TestFinishedOutcomes: the engine reports each entry as a typed event
// (its outcome, op, side, bytes, and for a failure the reason and the
// error), and the text status of Options.Report is made from it.
func TestFinishedOutcomes(t *testing.T) {
	w := newFaultWorld(t, core.Bidi)
	w.put(core.Local, "same", "s")
	w.put(core.Remote, "same", "s")
	w.put(core.Local, "both", "0")
	w.put(core.Local, "gone", "g")
	w.mustSync() // same: exists; both, gone: copied
	w.put(core.Local, "new", "fresh")
	w.put(core.Local, "locked", "l")
	w.put(core.Local, "both", "local")
	w.put(core.Remote, "both", "remote!")
	w.do(w.fs[core.Local].Remove(bg, "gone", core.Precondition{Any: true}))

	remote, _ := faults.Wrap(w.fs[core.Remote], faults.Rule{Method: faults.Create, Path: "locked", N: 1, Err: fs.ErrPermission})
	var mu sync.Mutex
	got := map[string]core.Finished{}
	var texts []string
	eps := [2]*core.Endpoint{
		{Backend: w.fs[core.Local], Store: w.stores[core.Local], URL: "mem://local"},
		{Backend: remote, Store: w.stores[core.Remote], URL: "mem://remote"},
	}
	_, err := core.Sync(bg, eps[0], eps[1], core.Options{Session: "faults", Policy: w.policy, ForceDeletes: true,
		TransferThreads: []core.ThreadClass{{N: 1}},
		Report: func(p, status string) {
			mu.Lock()
			texts = append(texts, p+"  "+status)
			mu.Unlock()
		},
		Finished: func(f core.Finished) {
			mu.Lock()
			got[f.Path] = f
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		outcome core.Outcome
		op      core.Op
		bytes   int64
	}{
		"new":    {core.OutcomeDone, core.OpCopy, 5},
		"gone":   {core.OutcomeDeleted, core.OpDelete, 0},
		"both":   {core.OutcomeConflict, core.OpConflict, 0},
		"locked": {core.OutcomeError, core.OpCopy, 0},
	}
	for p, wt := range want {
		f, ok := got[p]
		if !ok {
			t.Errorf("%s: not reported (got %v)", p, texts)
			continue
		}
		if f.Outcome != wt.outcome || f.Op != wt.op || f.Bytes != wt.bytes {
			t.Errorf("%s: outcome %v op %v bytes %d; want %v %v %d", p, f.Outcome, f.Op, f.Bytes, wt.outcome, wt.op, wt.bytes)
		}
	}
	if f := got["locked"]; !strings.Contains(f.Reason, "permission denied") || !errors.Is(f.Err, fs.ErrPermission) || f.Status() != "ERROR: "+f.Reason {
		t.Errorf("locked: reason %q, err %v, status %q", f.Reason, f.Err, f.Status())
	}
	var fromEvents []string
	for _, f := range got {
		fromEvents = append(fromEvents, core.DisplayPath(f.Path)+"  "+f.Status())
	}
	slices.Sort(texts)
	slices.Sort(fromEvents)
	if !slices.Equal(texts, fromEvents) {
		t.Errorf("Report got %q, the events say %q", texts, fromEvents)
	}
}
