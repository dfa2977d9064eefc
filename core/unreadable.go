package core

import (
	"context"
	"slices"
	"sync"
)

// unreadable is an entry a scan could not read (a directory it could not
// list stands for its whole subtree).
type unreadable struct {
	side Side
	path string
	err  error
	base [2]*Record // the path's records, as loaded
}

// unreadables collects, from concurrent scans, the entries that could not
// be read. Such a subtree is left out of the run on both sides, records
// included, exactly as an excluded one: nothing in it is created, changed
// or deleted on either side, and it can never look deleted. Each is
// reported as an error, on every run until it can be read.
type unreadables struct {
	mu   sync.Mutex
	list []unreadable
}

// any reports whether an entry was found unreadable.
func (u *unreadables) any() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.list) > 0
}

// forget drops side s's entries found unreadable (to be scanned again).
func (u *unreadables) forget(s Side) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.list = slices.DeleteFunc(u.list, func(x unreadable) bool { return x.side == s })
}

func (u *unreadables) add(s Side, p string, err error) {
	u.mu.Lock()
	u.list = append(u.list, unreadable{side: s, path: p, err: err})
	u.mu.Unlock()
}

// leaveOut drops from both sides' scans and records every path at or
// below an unreadable one, and keeps only the outermost unreadable paths.
// It reports whether there were any (and the scans may have changed).
func (u *unreadables) leaveOut(scans *[2][]Entry, recs *[2][]Record) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.list) == 0 {
		return false
	}
	slices.SortFunc(u.list, func(a, b unreadable) int { return ComparePaths(a.path, b.path) })
	paths := map[string]bool{}
	kept := u.list[:0]
	for _, x := range u.list {
		if !u.covers(paths, x.path) {
			paths[x.path] = true
			kept = append(kept, x)
		}
	}
	u.list = kept
	at := make(map[string]int, len(kept))
	for i, x := range kept {
		at[x.path] = i
	}
	for s := range 2 {
		for i := range recs[s] {
			if j, ok := at[recs[s][i].Path]; ok {
				r := recs[s][i]
				u.list[j].base[s] = &r
			}
		}
		scans[s] = slices.DeleteFunc(scans[s], func(e Entry) bool { return u.covers(paths, e.Path) })
		recs[s] = slices.DeleteFunc(recs[s], func(r Record) bool { return u.covers(paths, r.Path) })
	}
	return true
}

// covers reports whether p or one of its parents is in paths.
func (u *unreadables) covers(paths map[string]bool, p string) bool {
	for ; p != ""; p = Parent(p) {
		if paths[p] {
			return true
		}
	}
	return false
}

// reportUnreadable counts and reports each unreadable entry as an error,
// and records it so (an error record of its path on both sides, its
// entry kept, as for a failed action; a conflict's record is left as it
// is). What lies below it keeps its records untouched.
func (e *engine) reportUnreadable(ctx context.Context) {
	for _, x := range e.unreadable.list {
		e.stats.Errors.Add(1)
		e.log.Error("cannot read", "side", x.side.String(), "path", DisplayPath(x.path), "err", x.err)
		e.report(Finished{Path: x.path, Outcome: OutcomeError, Reason: x.err.Error(), Side: x.side, Err: x.err})
		if x.base[Local] != nil && x.base[Local].Status == StatusConflict || x.base[Remote] != nil && x.base[Remote].Status == StatusConflict {
			continue
		}
		for s := range 2 {
			rec := Record{Entry: Entry{Path: x.path, UID: NoID, GID: NoID}}
			if b := agreed(x.base[s]); b != nil {
				rec.Entry = b.Entry
			}
			rec.Status, rec.Note = StatusError, x.err.Error()
			if err := e.eps[s].Store.Put(ctx, rec); err != nil {
				e.log.Warn("record the error", "side", Side(s).String(), "path", DisplayPath(x.path), "err", err)
			}
		}
	}
}
