package core

import (
	"cmp"
	"fmt"
	"slices"
)

// PathState is one path's snapshot records and current entries on both
// sides: the input of Reconcile.
type PathState struct {
	Path string
	Base [2]*Record // last agreed state per side; nil: none
	Cur  [2]*Entry  // what the scans found; nil: nothing
}

// Reconcile turns the states of every path into a plan under policy p. It
// is a pure function: no I/O, and the states are only read. Fingerprints the
// equality rule needs must already be in the entries; where one is
// missing, contents count as different. Reconcile is Prepare followed by
// Prepared.Reconcile.
func Reconcile(states []PathState, p Policy) *Plan {
	return Prepare(states, p).Reconcile()
}

// Prepared is the first half of reconcile: states sorted, and renames
// paired and applied to them, so that the fingerprints the second half
// needs can be computed on the paths it will compare.
type Prepared struct {
	r      *reconciler
	states []PathState
}

// Prepare sorts a copy of the states and pairs renames (pure).
func Prepare(states []PathState, p Policy) *Prepared {
	states = slices.Clone(states)
	slices.SortFunc(states, func(a, b PathState) int { return ComparePaths(a.Path, b.Path) })
	return prepareSorted(states, p)
}

// prepareSorted is Prepare on states already in path order, which it
// takes over (the engine's own, not copied).
func prepareSorted(states []PathState, p Policy) *Prepared {
	r := &reconciler{p: p, dopts: p.diffOptions(), plan: &Plan{}, origin: map[*Entry]string{}}
	return &Prepared{r: r, states: r.detectRenames(states)}
}

// States returns the states as the second half will see them: renamed
// subtrees already at their new paths.
func (pr *Prepared) States() []PathState { return pr.states }

// Where returns the path at which entry e of States can be read now: its
// own path, or where it is until a planned rename moves it.
func (pr *Prepared) Where(e *Entry) string {
	if p, ok := pr.r.origin[e]; ok {
		return p
	}
	return e.Path
}

// Reconcile plans every path and returns the plan.
func (pr *Prepared) Reconcile() *Plan {
	r, states := pr.r, pr.states
	r.states = states
	r.plan.Actions = slices.Grow(r.plan.Actions, unrecorded(states)) // renames are planned already
	skip := ""
	left := map[string]bool{} // paths in the subtree of a conflicting directory
	var skipped []string      // the conflicting directories
	for i := range states {
		ps := &states[i]
		if ps.Path == "" {
			continue // the roots are not synchronized entries
		}
		if skip != "" && isUnder(ps.Path, skip) {
			left[ps.Path] = true
			continue
		}
		skip = ""
		if r.path(ps) {
			skip = ps.Path
			skipped = append(skipped, skip)
		}
	}
	for d, n := range r.elided {
		// Below a conflicting directory paths are left alone, not counted.
		if !slices.ContainsFunc(skipped, func(s string) bool { return d == s || isUnder(d, s) }) {
			r.plan.Unchanged += n
		}
	}
	r.fixTree(states)
	r.dedup()
	r.keepDirs()
	r.errorRecords(states, left)
	sortActions(r.plan.Actions, false)
	return r.plan
}

// unrecorded counts the states found on one side only and recorded on
// neither: each takes about one action (a first copy of a tree takes one
// per path), so the plan is made that size at once instead of grown,
// which copies the actions over and over. Other paths seldom need an
// action (a resync, the same tree on both sides); they grow the plan past
// this when they do.
func unrecorded(states []PathState) int {
	n := 0
	for i := range states {
		ps := &states[i]
		if ps.Base[0] == nil && ps.Base[1] == nil && (ps.Cur[0] == nil) != (ps.Cur[1] == nil) {
			n++
		}
	}
	return n
}

type reconciler struct {
	p     Policy
	dopts DiffOptions
	plan  *Plan
	// taken are the paths that exist, or that the plan creates, on some
	// side; made on first use (a kept copy's name) from states.
	taken  map[string]bool
	states []PathState
	// origin maps an entry moved by a planned rename to where it still is.
	origin map[*Entry]string
	// elided counts, per directory, the inert paths below it that are not
	// among the states (an engine's streaming join dropped them: each is
	// unchanged, on both sides); exists says whether such a path exists.
	// Both nil when the states are all there.
	elided map[string]int
	exists func(string) bool
}

// freeName returns a path for a kept copy of p: p plus the conflict
// suffix, numbered when that is taken.
func (r *reconciler) freeName(p string) string {
	if r.taken == nil {
		r.taken = make(map[string]bool, len(r.states))
		for i := range r.states {
			r.taken[r.states[i].Path] = true
		}
	}
	name := p + r.p.ConflictSuffix
	for i := 2; r.taken[name] || r.exists != nil && r.exists(name); i++ {
		name = fmt.Sprintf("%s%s-%d", p, r.p.ConflictSuffix, i)
	}
	r.taken[name] = true
	return name
}

// path plans one path and reports whether its subtree must be left alone
// (a conflict on a directory).
func (r *reconciler) path(ps *PathState) bool {
	var chg [2]Change
	for s := range 2 {
		chg[s] = Diff(ps.Base[s], ps.Cur[s], r.dopts)
		r.refresh(ps, Side(s), chg[s])
	}
	switch r.p.Direction {
	case Push:
		return r.oneWay(ps, chg, Local, Remote)
	case Pull:
		return r.oneWay(ps, chg, Remote, Local)
	}
	return r.bidi(ps, chg)
}

// oneWay carries the changes of src to dst.
func (r *reconciler) oneWay(ps *PathState, chg [2]Change, src, dst Side) bool {
	D := ps.Cur[dst]
	cs, cd := chg[src], chg[dst]
	switch cs {
	case Absent:
		switch {
		case D != nil && r.p.Mirror:
			r.delete(ps, dst, false)
		case cd == Deleted:
			r.record(ps, "")
		}
	case Deleted:
		switch {
		case r.p.IgnoreDelete:
			r.forget(ps, src)
		case D == nil:
			r.record(ps, "")
		case cd == Unchanged || r.p.Overwrite == OverwriteAlways:
			r.delete(ps, dst, false)
		default:
			return r.conflict(ps, dst, "deleted on the "+src.String()+" side, changed on the "+dst.String()+" side")
		}
	case Unchanged:
		switch {
		case cd == Unchanged:
			r.plan.Unchanged++
		case D == nil && r.p.Mirror:
			r.create(ps, src, dst)
		case D == nil:
			r.record(ps, "")
		case r.p.Mirror:
			r.update(ps, src, dst, true)
		}
	default: // AttrChanged, Modified, Created
		switch {
		case D == nil:
			r.create(ps, src, dst)
		case cs == AttrChanged && cd == Unchanged:
			r.equalise(ps, src, dst, false)
		case cd == Unchanged:
			r.update(ps, src, dst, outOfStep(ps))
		default:
			return r.clash(ps, src, dst)
		}
	}
	return false
}

// bidi carries each side's changes to the other.
func (r *reconciler) bidi(ps *PathState, chg [2]Change) bool {
	l, rm := chg[Local], chg[Remote]
	switch {
	case !l.Changed() && !rm.Changed():
		switch {
		case l == Unchanged && rm == Unchanged:
			r.plan.Unchanged++
		case l == Unchanged: // the remote record is gone: keep the content
			r.create(ps, Local, Remote)
		case rm == Unchanged:
			r.create(ps, Remote, Local)
		}
		return false
	case !rm.Changed():
		return r.oneWay(ps, chg, Local, Remote)
	case !l.Changed():
		return r.oneWay(ps, chg, Remote, Local)
	case l == Deleted && rm == Deleted:
		r.record(ps, "")
		return false
	case l == Deleted: // modified wins over deleted
		r.create(ps, Remote, Local)
		return false
	case rm == Deleted:
		r.create(ps, Local, Remote)
		return false
	}
	L, R := ps.Cur[Local], ps.Cur[Remote]
	newer, older := Local, Remote
	if R.MTime.After(L.MTime) {
		newer, older = Remote, Local
	}
	if eq, _ := ContentEqual(L, R, r.p.Checksum); eq {
		r.equalise(ps, newer, older, true)
		return false
	}
	if L.Type != R.Type || r.p.Overwrite != OverwriteOlder || L.MTime.Equal(R.MTime) {
		return r.conflict(ps, Remote, "changed on both sides")
	}
	// -o older: the newer version wins, the older is kept beside itself.
	r.keep(ps, older)
	r.add(Action{Op: opFor(ps.Cur[newer]), Side: older, Path: ps.Path, Source: ps.Cur[newer]})
	return false
}

// clash decides a path changed on both sides with different content, in push
// or pull, by the overwrite policy.
func (r *reconciler) clash(ps *PathState, src, dst Side) bool {
	S, D := ps.Cur[src], ps.Cur[dst]
	if eq, _ := ContentEqual(S, D, r.p.Checksum); eq {
		r.equalise(ps, src, dst, true)
		return false
	}
	switch r.p.Overwrite {
	case OverwriteAlways:
		r.update(ps, src, dst, false)
	case OverwriteOlder:
		if D.MTime.Before(S.MTime) {
			r.update(ps, src, dst, false)
		} else {
			r.plan.Records = append(r.plan.Records, RecordUpdate{Path: ps.Path, Report: ReportSkipped})
		}
	default:
		return r.conflict(ps, dst, "changed on both sides")
	}
	return false
}

// create makes the source entry exist where nothing is.
func (r *reconciler) create(ps *PathState, src, dst Side) {
	r.add(Action{Op: opFor(ps.Cur[src]), Side: dst, Path: ps.Path, Source: ps.Cur[src]})
}

// update makes dst like src where both exist and dst may be replaced.
func (r *reconciler) update(ps *PathState, src, dst Side, checkEqual bool) {
	S, D := ps.Cur[src], ps.Cur[dst]
	if checkEqual {
		if eq, _ := ContentEqual(S, D, r.p.Checksum); eq {
			r.equalise(ps, src, dst, true)
			return
		}
	}
	if S.Type == TypeDir && D.Type == TypeDir {
		r.equalise(ps, src, dst, false)
		return
	}
	if S.Type != D.Type && (S.Type == TypeDir || D.Type == TypeDir) {
		r.delete(ps, dst, true)
		r.create(ps, src, dst)
		return
	}
	r.add(Action{Op: OpCopy, Side: dst, Path: ps.Path, Source: S, Dest: D})
}

// equalise records a path whose content is equal on both sides, updating
// dst's attributes from src where they differ.
func (r *reconciler) equalise(ps *PathState, src, dst Side, report bool) {
	S, D := ps.Cur[src], ps.Cur[dst]
	if r.attrsDiffer(S, D) {
		r.add(Action{Op: OpSetAttr, Side: dst, Path: ps.Path, Source: S, Dest: D})
		return
	}
	rep := ""
	if report {
		rep = ReportExists
	}
	r.record(ps, rep)
}

// attrsDiffer reports whether the attributes the policy propagates differ.
func (r *reconciler) attrsDiffer(s, d *Entry) bool {
	if s.Type == TypeSymlink {
		return r.p.PreserveTime && !s.MTime.Equal(d.MTime)
	}
	return (r.p.SetMode && !r.p.IgnoreMode && s.Mode != d.Mode) ||
		(r.p.PreserveTime && s.Type == TypeFile && !s.MTime.Equal(d.MTime)) ||
		(r.p.PreserveUID && s.UID != d.UID) || (r.p.PreserveGID && s.GID != d.GID)
}

func (r *reconciler) delete(ps *PathState, side Side, early bool) {
	r.add(Action{Op: OpDelete, Side: side, Path: ps.Path, Dest: ps.Cur[side], Early: early})
}

// keep moves the losing version aside before it is replaced, and sends the
// kept copy to the other side, so that both sides hold both versions.
func (r *reconciler) keep(ps *PathState, side Side) {
	if k := r.p.KeepDir[side]; k != "" {
		// The loser goes to the keep directory, which is not synchronized,
		// under its own relative path (a time suffix is added when it
		// runs, if that name is taken).
		r.add(Action{Op: OpKeep, Side: side, Path: ps.Path, To: Join(k, ps.Path), Dest: ps.Cur[side], Reason: KeepOlder})
		return
	}
	to := r.freeName(ps.Path)
	r.add(Action{Op: OpKeep, Side: side, Path: ps.Path, To: to, Dest: ps.Cur[side], Reason: KeepOlder})
	if e := ps.Cur[side]; e.Type != TypeDir {
		kept := *e
		kept.Path, kept.Token = to, "" // the move changes the change token
		r.add(Action{Op: OpCopy, Side: side.Other(), Path: to, Source: &kept})
	}
}

// conflict reports a path and records it as a conflict on the sides where
// it exists. It returns true: the subtree of a conflicting directory is
// left alone.
func (r *reconciler) conflict(ps *PathState, side Side, why string) bool {
	r.add(Action{Op: OpConflict, Side: side, Path: ps.Path, Source: ps.Cur[side.Other()], Dest: ps.Cur[side], Reason: why})
	u := RecordUpdate{Path: ps.Path}
	for s := range 2 {
		if e := ps.Cur[s]; e != nil {
			u.Ops[s] = RecordOp{Put: &Record{Entry: *e, Status: StatusConflict, Note: why}}
		}
	}
	r.plan.Records = append(r.plan.Records, u)
	return ps.Cur[Local].IsDir() || ps.Cur[Remote].IsDir()
}

// record stores the current entries of both sides as agreed (dropping the
// record of a side where the entry is gone).
func (r *reconciler) record(ps *PathState, report string) {
	u := RecordUpdate{Path: ps.Path, Report: report}
	for s := range 2 {
		if e := ps.Cur[s]; e != nil {
			u.Ops[s] = RecordOp{Put: &Record{Entry: *e}}
		} else {
			u.Ops[s] = RecordOp{Drop: true}
		}
	}
	r.plan.Records = append(r.plan.Records, u)
}

// refresh rewrites the record of an entry found unchanged although its
// change token moved (its fingerprint proved the content), so that later
// runs need not fingerprint it again, and of a directory whose mtime moved.
func (r *reconciler) refresh(ps *PathState, s Side, c Change) {
	b, cur := ps.Base[s], ps.Cur[s]
	if c != Unchanged || b == nil || cur == nil {
		return
	}
	switch cur.Type {
	case TypeFile:
		if b.Token == cur.Token {
			return
		}
	case TypeDir: // its mtime lets --assume-no-mods skip it next time
		if b.Token == cur.Token && b.MTime.Equal(cur.MTime) {
			return
		}
	default:
		return
	}
	rec := Record{Entry: *cur}
	rec.Hash = cmp.Or(cur.Hash, b.Hash)
	u := RecordUpdate{Path: ps.Path}
	u.Ops[s] = RecordOp{Put: &rec}
	r.plan.Records = append(r.plan.Records, u)
}

// forget drops one side's record, so that a deletion there is not seen again.
func (r *reconciler) forget(ps *PathState, side Side) {
	u := RecordUpdate{Path: ps.Path}
	u.Ops[side] = RecordOp{Drop: true}
	r.plan.Records = append(r.plan.Records, u)
}

func (r *reconciler) add(a Action) { r.plan.Actions = append(r.plan.Actions, a) }

// opFor is the action that creates e.
func opFor(e *Entry) Op {
	if e.Type == TypeDir {
		return OpMkdir
	}
	return OpCopy
}

// dedup turns copies of duplicate source files into hard links to the
// first copy written (--dedup): by inode for source hard links, by full
// fingerprint for equal contents.
func (r *reconciler) dedup() {
	if r.p.Dedup == DedupNone {
		return
	}
	first := map[[2]string]string{} // side and key → path written first
	acts := r.plan.Actions
	slices.SortStableFunc(acts, func(a, b Action) int { return ComparePaths(a.Path, b.Path) })
	for i := range acts {
		a := &acts[i]
		if a.Op != OpCopy || a.Source.Type != TypeFile || a.Source.Size == 0 {
			continue
		}
		key := a.Source.FileID
		if r.p.Dedup != DedupInode {
			key = a.Source.Hash
			if !r.p.Checksum.Full() || hashAlgo(key) != r.p.Checksum {
				continue
			}
		}
		if key == "" {
			continue
		}
		k := [2]string{a.Side.String(), key}
		if p, ok := first[k]; ok {
			a.Op, a.To = OpLink, p
			continue
		}
		first[k] = a.Path
	}
}

// keepDirs plans the keeps of --keep-dir-local/--keep-dir-remote: a file
// or link that the plan deletes on a side with a keep directory is moved
// there instead, and one that it replaces is moved there first, so that
// the plan shows every keep and applying it does the same.
func (r *reconciler) keepDirs() {
	if r.p.KeepDir == [2]string{} {
		return
	}
	var kept []Action
	for i := range r.plan.Actions {
		a := &r.plan.Actions[i]
		k := r.p.KeepDir[a.Side]
		if k == "" || a.Dest == nil || a.Dest.Type == TypeDir {
			continue
		}
		switch a.Op {
		case OpDelete:
			a.Op, a.To, a.Reason = OpKeep, Join(k, a.Path), KeepDeleted
		case OpCopy, OpLink:
			kept = append(kept, Action{Op: OpKeep, Side: a.Side, Path: a.Path, To: Join(k, a.Path), Dest: a.Dest, Reason: KeepReplaced})
			a.Dest = nil // moved away by the keep
		}
	}
	r.plan.Actions = append(r.plan.Actions, kept...)
}

// outOfStep reports whether the two sides' records of a path disagree,
// as after a run that stopped between committing an action's destination
// and its source: then the contents are compared before anything is sent.
func outOfStep(ps *PathState) bool {
	l, r := agreed(ps.Base[Local]), agreed(ps.Base[Remote])
	if l == nil || r == nil {
		return l != r
	}
	return l.Type != r.Type || l.Size != r.Size || (l.Hash != "" && r.Hash != "" && l.Hash != r.Hash)
}

// isUnder reports whether p lies strictly below dir.
func isUnder(p, dir string) bool {
	return dir == "" || (len(p) > len(dir) && p[len(dir)] == '/' && p[:len(dir)] == dir)
}
