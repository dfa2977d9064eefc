package core

import (
	"context"
	"fmt"
	"sync"
)

// Error records. When an action fails, both sides' records of its path are
// kept with StatusError and the reason (async admin counts and lists
// them), their entries unchanged: the path keeps the agreed state it had,
// so the next run plans it exactly as if the failed attempt had not
// happened. A side that had no agreed state gets an entry-less record
// (TypeNone) that Diff reads as none. An error record whose path then
// needs nothing is cleared; one whose action succeeds is replaced by what
// the action commits.

// errorRecords notes on every action the records of its path, and plans
// the clearing of error records on paths that need nothing now (outside
// the subtrees of conflicting directories, left alone).
func (r *reconciler) errorRecords(states []PathState, left map[string]bool) {
	// The actions on a path: at[path] is the first, next[i] the one after
	// action i (-1 ends both); at[path] is -1 for a path only moved to.
	// A path an action names is touched. One map and one slice, not a
	// slice per path: a first copy has an action on every path.
	acts := r.plan.Actions
	at := make(map[string]int32, len(acts))
	next := make([]int32, len(acts))
	for i := len(acts) - 1; i >= 0; i-- {
		a := &acts[i]
		a.basesKnown = true
		if j, ok := at[a.Path]; ok {
			next[i] = j
		} else {
			next[i] = -1
		}
		at[a.Path] = int32(i)
	}
	for i := range acts {
		if to := acts[i].To; to != "" {
			if _, ok := at[to]; !ok {
				at[to] = -1
			}
		}
	}
	// A path whose records are updated without an action may leave one
	// side's error record as it is (a refreshed record of the other
	// side): that one is cleared with the update.
	updated := make(map[string]int, len(r.plan.Records))
	for i, u := range r.plan.Records {
		updated[u.Path] = i
	}
	for i := range states {
		ps := &states[i]
		first, touched := at[ps.Path]
		for j := first; touched && j >= 0; j = next[j] {
			if a := &acts[j]; a.Op != OpRename { // a move's were kept before its state was cleared
				a.bases = ps.Base
			}
		}
		if ps.Path == "" || left[ps.Path] || touched {
			continue
		}
		u := RecordUpdate{Path: ps.Path}
		k, isUpdated := updated[ps.Path]
		if isUpdated {
			u = r.plan.Records[k]
			if notesConflict(u) {
				continue
			}
		}
		found := false
		for s := range 2 {
			b := ps.Base[s]
			if b == nil || b.Status != StatusError || u.Ops[s].Put != nil || u.Ops[s].Drop {
				continue
			}
			found = true
			if b.Type == TypeNone {
				u.Ops[s] = RecordOp{Drop: true}
				continue
			}
			rec := *b
			rec.Status, rec.Note = StatusSynced, ""
			u.Ops[s] = RecordOp{Put: &rec}
		}
		switch {
		case found && isUpdated:
			r.plan.Records[k] = u
		case found:
			r.plan.Records = append(r.plan.Records, u)
		}
	}
}

// notesConflict reports whether u records a conflict on either side.
func notesConflict(u RecordUpdate) bool {
	for _, op := range u.Ops {
		if op.Put != nil && op.Put.Status == StatusConflict {
			return true
		}
	}
	return false
}

// savedRecords are both snapshots' records, loaded the first time an
// action of a saved plan (which does not carry them) fails.
type savedRecords struct {
	once sync.Once
	recs [2]map[string]Record
	err  error
}

// markError records a failed action: both sides' records of its path are
// kept, with StatusError and the reason.
func (x *executor) markError(ctx context.Context, a *Action, note string) {
	bases := a.bases
	if !a.basesKnown {
		x.saved.once.Do(func() { x.saved.err = x.loadSaved(ctx) })
		if x.saved.err != nil {
			x.log.Warn("record the error", "path", DisplayPath(a.Path), "err", x.saved.err)
			return
		}
		for s := range 2 {
			if rec, ok := x.saved.recs[s][a.Path]; ok {
				bases[s] = &rec
			}
		}
	}
	for s := range 2 {
		rec := Record{Entry: Entry{Path: a.Path, UID: NoID, GID: NoID}}
		if b := agreed(bases[s]); b != nil {
			rec.Entry = b.Entry
			rec.Path = a.Path
		}
		rec.Status, rec.Note = StatusError, note
		if err := x.eps[s].Store.Put(ctx, rec); err != nil {
			x.log.Warn("record the error", "side", Side(s).String(), "path", DisplayPath(a.Path), "err", err)
		}
	}
}

// loadSaved loads both snapshots' records for markError.
func (x *executor) loadSaved(ctx context.Context) error {
	for s := range 2 {
		m := map[string]Record{}
		err := x.eps[s].Store.Load(ctx, func(r Record) error {
			m[r.Path] = r
			return nil
		})
		if err != nil {
			return fmt.Errorf("load %s snapshot: %w", Side(s), err)
		}
		x.saved.recs[s] = m
	}
	return nil
}

// countEntries counts the records that stand for an entry (not the error
// records of paths that had none).
func countEntries(recs []Record) int {
	n := 0
	for i := range recs {
		if recs[i].Type != TypeNone {
			n++
		}
	}
	return n
}
