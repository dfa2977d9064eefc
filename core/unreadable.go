package core

import (
	"slices"
	"sync"
)

// unreadable is an entry a scan could not read (a directory it could not
// list stands for its whole subtree).
type unreadable struct {
	side Side
	path string
	err  error
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

func (u *unreadables) add(s Side, p string, err error) {
	u.mu.Lock()
	u.list = append(u.list, unreadable{s, p, err})
	u.mu.Unlock()
}

// leaveOut drops from both sides' scans and records every path at or
// below an unreadable one, and keeps only the outermost unreadable paths.
func (u *unreadables) leaveOut(scans *[2][]Entry, recs *[2][]Record) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.list) == 0 {
		return
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
	for s := range 2 {
		scans[s] = slices.DeleteFunc(scans[s], func(e Entry) bool { return u.covers(paths, e.Path) })
		recs[s] = slices.DeleteFunc(recs[s], func(r Record) bool { return u.covers(paths, r.Path) })
	}
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

// report counts and reports each unreadable entry as an error.
func (e *engine) reportUnreadable() {
	for _, x := range e.unreadable.list {
		e.stats.Errors.Add(1)
		e.log.Error("cannot read", "side", x.side.String(), "path", DisplayPath(x.path), "err", x.err)
		e.o.Report(DisplayPath(x.path), ReportError+": "+x.err.Error())
	}
}
