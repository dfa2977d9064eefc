package core

import (
	"cmp"
	"fmt"
	"slices"
)

// Op is what an action does.
type Op uint8

// Plan operations (docs/reference.md §6).
const (
	OpMkdir    Op = iota + 1 // create a directory
	OpCopy                   // create or replace a file's content (or a link)
	OpSetAttr                // change attributes only
	OpRename                 // move Path to To
	OpDelete                 // remove Path
	OpKeep                   // move Path into a keep place (To) before it is replaced
	OpConflict               // report only; nothing is done
	OpLink                   // make Path a hard link to To, a duplicate already written (--dedup)
)

var opNames = [...]string{"", "mkdir", "copy", "setattr", "rename", "delete", "keep", "conflict", "link"}

// String returns the op's name in plans.
func (o Op) String() string { return opNames[o] }

// ParseOp is the inverse of Op.String.
func ParseOp(s string) (Op, error) {
	for i, n := range opNames[1:] {
		if n == s {
			return Op(i + 1), nil
		}
	}
	return 0, fmt.Errorf("unknown op %q", s)
}

// Action is one step of a plan. It carries the state it expects to find, so
// that it can be refused instead of clobbering data when the tree moved on.
//
// Its small fields come first, packed into one word: a first copy holds an
// action per path until the run ends.
type Action struct {
	Op   Op
	Side Side // the side the action changes
	// Early deletions make room for an entry of another type and run
	// before directories are created.
	Early bool
	// basesKnown is false for a saved plan, which does not carry bases.
	basesKnown bool
	Path       string // the entry acted on
	To         string // rename and keep: the new path
	// Source is the entry on the other side that the action copies from;
	// it must still be there, unchanged. Nil for delete, rename, keep.
	Source *Entry
	// Dest is what must be at Path on Side now; nil means nothing.
	Dest *Entry
	// Reason explains a conflict, and says what a keep stands for
	// (KeepDeleted, KeepReplaced, KeepOlder).
	Reason string
	// Commit lists snapshot changes made when the action succeeds: a
	// rename moves the records of its whole subtree.
	Commit []RecordUpdate
	// bases are the snapshot records of Path when the plan was made (or
	// since committed), kept under an error status if the action fails.
	bases [2]*Record
}

// Why a keep moves an entry aside (Action.Reason of an OpKeep).
const (
	// KeepDeleted: the entry is deleted by the sync; it is moved into the
	// side's keep directory instead, and its records are dropped.
	KeepDeleted = "deleted"
	// KeepReplaced: the entry is moved into the keep directory before the
	// plan's copy replaces it.
	KeepReplaced = "replaced"
	// KeepOlder: the older version of a bidi conflict under -o older.
	KeepOlder = "older"
)

// deletes reports whether the action removes its path from the tree: a
// deletion, or a keep that stands for one.
func (a *Action) deletes() bool {
	return a.Op == OpDelete || a.Op == OpKeep && a.Reason == KeepDeleted
}

// Dedup is --dedup: how duplicates at the source are written.
type Dedup uint8

// The --dedup modes.
const (
	DedupNone     Dedup = iota // every file is sent
	DedupHardlink              // files with the same full fingerprint become hard links
	DedupInode                 // source hard links become destination hard links
	DedupCopy                  // duplicates are copied from the copy already at the destination
)

// Size is the number of bytes the action transfers.
func (a *Action) Size() int64 {
	if a.Op == OpCopy && a.Source != nil && a.Source.Type == TypeFile {
		return a.Source.Size
	}
	return 0
}

// RecordOp changes one side's snapshot record of a path.
type RecordOp struct {
	Put  *Record // record this
	Drop bool    // forget the path
}

// RecordUpdate is a snapshot change that needs no action: both sides found
// equal, deletions seen on both sides, conflicts noted.
type RecordUpdate struct {
	Path string
	Ops  [2]RecordOp
	// Report is the status printed for the path ("" prints nothing).
	Report string
}

// Totals counts a plan. Delete counts the entries the plan removes from
// the trees, kept ones (moved into a keep directory) included; Keep counts
// every keep action.
type Totals struct {
	Mkdir, Copy, SetAttr, Rename, Delete, Keep, Conflict, Link int
	CopyBytes                                                  int64
	Unchanged, Equal                                           int
}

// Plan is reconcile's result: the actions to run, in order, and the record
// updates that need no action.
type Plan struct {
	Actions []Action
	Records []RecordUpdate
	// Unchanged counts paths unchanged on both sides.
	Unchanged int
}

// Totals counts the plan's actions by kind.
func (p *Plan) Totals() Totals {
	var t Totals
	for i := range p.Actions {
		a := &p.Actions[i]
		switch a.Op {
		case OpMkdir:
			t.Mkdir++
		case OpCopy:
			t.Copy++
			t.CopyBytes += a.Size()
		case OpSetAttr:
			t.SetAttr++
		case OpRename:
			t.Rename++
		case OpDelete:
			t.Delete++
		case OpKeep:
			t.Keep++
			if a.deletes() {
				t.Delete++
			}
		case OpConflict:
			t.Conflict++
		case OpLink:
			t.Link++
		}
	}
	for _, r := range p.Records {
		if r.Report == ReportExists {
			t.Equal++
		}
	}
	t.Unchanged = p.Unchanged
	return t
}

// Empty reports whether running the plan would change no file.
func (p *Plan) Empty() bool {
	for i := range p.Actions {
		if p.Actions[i].Op != OpConflict {
			return false
		}
	}
	return true
}

// phase orders actions for the executor: keeps and renames first (a
// rename creates the missing parents of its target itself), early
// deletions, directories, content and attributes, conflicts, then
// deletions (kept deletions with them).
func (a *Action) phase(deleteBefore bool) int {
	if a.deletes() {
		if a.Early || deleteBefore {
			return 1
		}
		return 5
	}
	switch a.Op {
	case OpKeep, OpRename:
		return 0
	case OpMkdir:
		return 2
	case OpCopy, OpSetAttr:
		return 3
	}
	return 4 // links (after the copies they link to) and conflicts
}

// level is the depth an action works at within its phase: directories and
// renames run level by level, parents first (a rename at the depth of its
// target, so that the target's parent exists and what is created inside the
// target comes after it); deletions deepest first.
func (a *Action) level() int {
	switch {
	case a.Op == OpRename:
		return Depth(a.To)
	case a.deletes():
		return -Depth(a.Path)
	}
	return Depth(a.Path)
}

// sortActions puts actions into execution order: by phase, then by level
// where levels matter, then by path.
func sortActions(acts []Action, deleteBefore bool) {
	slices.SortStableFunc(acts, func(x, y Action) int {
		if c := cmp.Compare(x.phase(deleteBefore), y.phase(deleteBefore)); c != 0 {
			return c
		}
		if x.Op == y.Op || (x.Op != OpCopy && x.Op != OpSetAttr && x.Op != OpConflict) {
			if c := cmp.Compare(x.level(), y.level()); c != 0 {
				return c
			}
		}
		return ComparePaths(x.Path, y.Path)
	})
}

// ComparePaths orders paths so that every directory comes right before its
// descendants: '/' sorts before any other byte.
func ComparePaths(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca == '/' {
			return -1
		}
		if cb == '/' {
			return 1
		}
		return cmp.Compare(ca, cb)
	}
	return cmp.Compare(len(a), len(b))
}
