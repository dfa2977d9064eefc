package core

import "slices"

// sidePath keys an action by the side it changes and its path.
type sidePath struct {
	side Side
	path string
}

// fixTree makes the plan consistent as a tree, after every path was planned
// on its own:
//   - a directory is not deleted on a side where something below it stays
//     or is created; if that deletion made room for an entry of another type,
//     the entry becomes a conflict instead;
//   - deletions below an early deletion run early too, deepest first;
//   - a creation (or a rename's target) whose parent directory is missing
//     on its side gets the parent created first; a creation whose parent is
//     not a directory there is a conflict.
func (r *reconciler) fixTree(states []PathState) {
	acts := r.plan.Actions
	// The actions on a side's path: index has the first, next[i] the one
	// after action i (-1 ends it). One map and one slice, not a slice per
	// path: a first copy has an action on every path.
	index := make(map[sidePath]int32, len(acts))
	next := make([]int32, len(acts))
	for i := len(acts) - 1; i >= 0; i-- {
		k := sidePath{acts[i].Side, acts[i].Path}
		if j, ok := index[k]; ok {
			next[i] = j
		} else {
			next[i] = -1
		}
		index[k] = int32(i)
	}
	find := func(s Side, p string, ops ...Op) int {
		i, ok := index[sidePath{s, p}]
		for ; ok && i >= 0; i = next[i] {
			if slices.Contains(ops, acts[i].Op) {
				return int(i)
			}
		}
		return -1
	}
	dropped := make([]bool, len(acts))

	// Pass 1, deepest first: cancel deletions of directories that keep
	// something below them.
	var keeps [2]map[string]bool // directories with a surviving descendant
	keeps[0], keeps[1] = map[string]bool{}, map[string]bool{}
	for d := range r.elided { // an inert path stays on both sides
		keeps[0][d], keeps[1][d] = true, true
	}
	for i := len(states) - 1; i >= 0; i-- {
		ps := &states[i]
		if ps.Path == "" {
			continue
		}
		for s := Local; s <= Remote; s++ {
			del := find(s, ps.Path, OpDelete)
			if del >= 0 && keeps[s][ps.Path] && ps.Cur[s].IsDir() {
				r.cancelDelete(del, find, dropped)
				del = -1
			}
			stays := ps.Cur[s] != nil && del < 0
			if stays || find(s, ps.Path, OpMkdir, OpCopy) >= 0 {
				keeps[s][Parent(ps.Path)] = true
			}
		}
	}

	// Pass 2: deletions below an early deletion are early too.
	var early [2]map[string]bool
	early[0], early[1] = map[string]bool{}, map[string]bool{}
	for i := range acts {
		if a := &acts[i]; !dropped[i] && a.Op == OpDelete && a.Early {
			early[a.Side][a.Path] = true
		}
	}
	for i := range acts {
		a := &acts[i]
		if dropped[i] || a.Op != OpDelete || a.Early {
			continue
		}
		for p := Parent(a.Path); p != ""; p = Parent(p) {
			if early[a.Side][p] {
				a.Early = true
				break
			}
		}
	}

	// Pass 3: parents of creations.
	cur := make(map[string]*PathState, len(states))
	for i := range states {
		cur[states[i].Path] = &states[i]
	}
	made := map[sidePath]bool{}
	var extra []Action
	isDirAfter := func(s Side, p string) (dir, blocked bool) {
		if p == "" || made[sidePath{s, p}] || find(s, p, OpMkdir) >= 0 {
			return true, false
		}
		ps := cur[p]
		if ps == nil || ps.Cur[s] == nil {
			return false, false
		}
		deleted := false
		if d := find(s, p, OpDelete); d >= 0 && !dropped[d] {
			deleted = true
		}
		if deleted {
			return false, false
		}
		return ps.Cur[s].Type == TypeDir, ps.Cur[s].Type != TypeDir
	}
	for i := range acts {
		a := &acts[i]
		if dropped[i] || (a.Op != OpMkdir && a.Op != OpCopy && a.Op != OpRename) {
			continue
		}
		target := a.Path
		if a.Op == OpRename {
			target = a.To
		}
		var missing []string
		conflict := false
		for p := Parent(target); ; p = Parent(p) {
			dir, blocked := isDirAfter(a.Side, p)
			if blocked {
				conflict = true
				break
			}
			if dir {
				break
			}
			missing = append(missing, p)
		}
		if conflict && a.Op == OpRename {
			continue // the target's parent is not a directory: the move fails and is reported
		}
		if conflict {
			*a = Action{Op: OpConflict, Side: a.Side, Path: a.Path, Source: a.Source, Dest: a.Dest,
				Reason: "a parent is not a directory on the " + a.Side.String() + " side"}
			continue
		}
		for _, p := range missing {
			made[sidePath{a.Side, p}] = true
			extra = append(extra, Action{Op: OpMkdir, Side: a.Side, Path: p, Source: parentSource(cur[p], a.Side.Other(), p)})
		}
	}

	out := acts[:0]
	for i := range acts {
		if !dropped[i] {
			out = append(out, acts[i])
		}
	}
	r.plan.Actions = append(out, extra...)
}

// cancelDelete drops a directory deletion that would remove something that
// stays, and turns what was to replace the directory into a conflict.
func (r *reconciler) cancelDelete(del int, find func(Side, string, ...Op) int, dropped []bool) {
	a := r.plan.Actions[del]
	dropped[del] = true
	if !a.Early {
		r.plan.Records = append(r.plan.Records, RecordUpdate{Path: a.Path, Report: ReportSkipped})
		return
	}
	if c := find(a.Side, a.Path, OpCopy); c >= 0 {
		cp := &r.plan.Actions[c]
		*cp = Action{Op: OpConflict, Side: a.Side, Path: a.Path, Source: cp.Source, Dest: a.Dest,
			Reason: "directory on the " + a.Side.String() + " side is not empty"}
	}
}

// parentSource is the directory entry a missing parent is created from: the
// other side's, or a plain directory when that side has none either.
func parentSource(ps *PathState, from Side, p string) *Entry {
	if ps != nil && ps.Cur[from].IsDir() {
		return ps.Cur[from]
	}
	return &Entry{Path: p, Type: TypeDir, Mode: 0o755, UID: NoID, GID: NoID}
}
