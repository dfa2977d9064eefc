package core

import "slices"

// detectRenames finds, on each side whose changes propagate, a deletion
// and a creation of the same object (same FileID; for files also the same
// size and mtime, so that a reused inode is not taken for a move) and turns
// the pair into one rename on the other side (--scan-file-rename,
// --scan-dir-rename). The states are rewritten as if the other side had
// moved too: the old subtree is gone on both sides and the new one carries
// the old records, so the rest of reconcile sees only what changed besides
// the move. A rename is only planned when the other side still holds the
// old entry unchanged and nothing at the new path.
func (r *reconciler) detectRenames(states []PathState) []PathState {
	if !r.p.RenameFiles && !r.p.RenameDirs {
		return states
	}
	var sides []Side
	switch r.p.Direction {
	case Push:
		sides = []Side{Local}
	case Pull:
		sides = []Side{Remote}
	default:
		sides = []Side{Local, Remote}
	}
	for _, s := range sides {
		states = r.renamesOn(states, s)
	}
	return states
}

// renamesOn plans the renames made on side s.
func (r *reconciler) renamesOn(states []PathState, s Side) []PathState {
	gone := map[string]int{} // FileID → index of a path deleted on s
	for i := range states {
		ps := &states[i]
		if b := ps.Base[s]; b != nil && b.Status == StatusSynced && b.FileID != "" && ps.Cur[s] == nil && ps.Path != "" {
			gone[b.FileID] = i
		}
	}
	if len(gone) == 0 {
		return states
	}
	index := make(map[string]int, len(states))
	for i := range states {
		index[states[i].Path] = i
	}
	var moved []string   // targets planned so far: their subtrees are done
	var sources []string // sources planned so far: one move per subtree
	added := false
	for i := 0; i < len(states); i++ {
		to := &states[i]
		c := to.Cur[s]
		if c == nil || to.Base[s] != nil || c.FileID == "" || underAny(to.Path, moved) {
			continue
		}
		j, ok := gone[c.FileID]
		if !ok {
			continue
		}
		from := &states[j]
		if !r.canRename(from, to, s) || underAny(from.Path, moved) || overlaps(from.Path, sources) ||
			blockedOn(states, index, to.Path, s.Other()) || blockedOn(states, index, from.Path, s) ||
			(c.Type == TypeDir && !sameChildren(states, j, i, s)) {
			continue
		}
		delete(gone, c.FileID)
		moved = append(moved, to.Path)
		sources = append(sources, from.Path)
		var grew bool
		states, grew = r.move(states, index, j, i, s)
		added = added || grew
	}
	if added {
		slices.SortFunc(states, func(a, b PathState) int { return ComparePaths(a.Path, b.Path) })
	}
	return states
}

// canRename reports whether the deletion of from and the creation of to on
// side s are one move that the other side can repeat.
func (r *reconciler) canRename(from, to *PathState, s Side) bool {
	b, c, o := from.Base[s], to.Cur[s], s.Other()
	if b == nil || from.Cur[s] != nil { // already moved by an earlier rename
		return false
	}
	if b.Type != c.Type || isUnder(to.Path, from.Path) || isUnder(from.Path, to.Path) {
		return false
	}
	switch c.Type {
	case TypeDir:
		if !r.p.RenameDirs {
			return false
		}
	case TypeFile:
		if !r.p.RenameFiles || b.Size != c.Size || !b.MTime.Equal(c.MTime) {
			return false
		}
	default:
		if !r.p.RenameFiles || b.Target != c.Target {
			return false
		}
	}
	return from.Cur[o] != nil && Diff(from.Base[o], from.Cur[o], r.dopts) == Unchanged &&
		to.Cur[o] == nil && to.Base[o] == nil
}

// move rewrites the states of the subtree at states[j] as moved to the path
// of states[i] on both sides and adds the rename action for side s's other
// side. It returns the states (grown when a moved path had none) and
// whether it grew them.
func (r *reconciler) move(states []PathState, index map[string]int, j, i int, s Side) ([]PathState, bool) {
	o := s.Other()
	from, to := states[j].Path, states[i].Path
	act := Action{Op: OpRename, Side: o, Path: from, To: to, Dest: states[j].Cur[o], Source: states[i].Cur[s]}
	// What a failure of the move keeps: the records of from as they were
	// (its state's are cleared below).
	act.bases, act.basesKnown = states[j].Base, true
	grew := false
	end := j + 1
	for end < len(states) && isUnder(states[end].Path, from) {
		end++
	}
	for q := j; q < end; q++ {
		old := states[q].Path
		np := to + old[len(from):]
		k, ok := index[np]
		if !ok {
			states = append(states, PathState{Path: np})
			k = len(states) - 1
			index[np] = k
			grew = true
		}
		src := &states[q] // may have moved with append: index again
		dst := &states[k]
		dst.Base[s] = movedRecord(src.Base[s], np)
		dst.Base[o] = movedRecord(src.Base[o], np)
		dst.Cur[o] = movedEntry(src.Cur[o], np)
		if dst.Cur[o] != nil {
			r.origin[dst.Cur[o]] = old
		}
		if q == j {
			if dst.Base[s] != nil && dst.Cur[s] != nil {
				dst.Base[s].Token = dst.Cur[s].Token // the move itself changed the ctime
			}
			if dst.Cur[o] != nil {
				dst.Cur[o].Token = "" // and will change it on the other side
			}
		}
		u := RecordUpdate{Path: old}
		u.Ops[s], u.Ops[o] = RecordOp{Drop: true}, RecordOp{Drop: true}
		act.Commit = append(act.Commit, u)
		put := RecordUpdate{Path: np}
		for _, side := range []Side{s, o} {
			if b := dst.Base[side]; b != nil {
				rec := *b
				put.Ops[side] = RecordOp{Put: &rec}
			}
		}
		act.Commit = append(act.Commit, put)
		src.Base, src.Cur[o] = [2]*Record{}, nil
	}
	r.add(act)
	return states, grew
}

// blockedOn reports whether an ancestor of p exists on side o as something
// other than a directory: nothing can be moved to p there, and what lies
// at p on the other side is about to be replaced, not moved.
func blockedOn(states []PathState, index map[string]int, p string, o Side) bool {
	for a := Parent(p); a != ""; a = Parent(a) {
		if i, ok := index[a]; ok {
			if e := states[i].Cur[o]; e != nil && e.Type != TypeDir {
				return true
			}
		}
	}
	return false
}

// sameChildren tells a moved directory from a new one that reuses the
// inode number of a deleted one: both are empty, or a child of the new one
// on side s is an entry the old one held.
func sameChildren(states []PathState, from, to int, s Side) bool {
	old := map[string]bool{}
	for q := from + 1; q < len(states) && isUnder(states[q].Path, states[from].Path); q++ {
		if b := states[q].Base[s]; b != nil && b.FileID != "" {
			old[b.FileID] = true
		}
	}
	empty := true
	for q := to + 1; q < len(states) && isUnder(states[q].Path, states[to].Path); q++ {
		if c := states[q].Cur[s]; c != nil {
			empty = false
			if old[c.FileID] {
				return true
			}
		}
	}
	return empty && len(old) == 0
}

func movedRecord(r *Record, p string) *Record {
	if r == nil {
		return nil
	}
	c := *r
	c.Path = p
	return &c
}

func movedEntry(e *Entry, p string) *Entry {
	if e == nil {
		return nil
	}
	c := *e
	c.Path = p
	return &c
}

// overlaps reports whether p is one of paths, or lies below or above one.
func overlaps(p string, paths []string) bool {
	for _, q := range paths {
		if p == q || isUnder(p, q) || isUnder(q, p) {
			return true
		}
	}
	return false
}

// underAny reports whether p is one of dirs or lies below one.
func underAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || isUnder(p, d) {
			return true
		}
	}
	return false
}
