package core

// Change is what happened to a path on one side since the snapshot.
type Change uint8

// Changes found by the diff stage.
const (
	Absent      Change = iota // not there now, not in the snapshot
	Unchanged                 // there, as recorded
	AttrChanged               // there, content proven unchanged, attributes differ
	Modified                  // there, content (or type or link target) changed
	Created                   // there, not in the snapshot
	Deleted                   // in the snapshot, gone now
)

var changeNames = [...]string{"absent", "unchanged", "attrs", "modified", "created", "deleted"}

// String names the change for logs and tests.
func (c Change) String() string { return changeNames[c] }

// Changed reports whether c needs propagating (anything but Absent and Unchanged).
func (c Change) Changed() bool { return c != Absent && c != Unchanged }

// DiffOptions control how a side's scan is compared with its snapshot.
type DiffOptions struct {
	Checksum Checksum // the -k in force
	Owners   bool     // -u/-j: owners count as attributes
	// IgnoreMode: permission changes alone do not count (--ignore-mode).
	IgnoreMode bool
}

// Diff classifies one side's current entry against that side's snapshot
// record. A conflict record, or an error record of a path that had no
// agreed state, is no agreed state: the path counts as new. (An error
// record of a path that had one keeps it.) The current entry's Hash, when
// set, lets a file whose metadata changed be found unchanged in content.
func Diff(base *Record, cur *Entry, o DiffOptions) Change {
	base = agreed(base)
	switch {
	case base == nil && cur == nil:
		return Absent
	case base == nil:
		return Created
	case cur == nil:
		return Deleted
	}
	b := &base.Entry
	if b.Type != cur.Type || b.Target != cur.Target {
		return Modified
	}
	attrsSame := (o.IgnoreMode || b.Mode == cur.Mode) && (!o.Owners || (b.UID == cur.UID && b.GID == cur.GID))
	if cur.Type == TypeDir || cur.Type == TypeSymlink {
		if attrsSame {
			return Unchanged
		}
		return AttrChanged
	}
	if b.Size != cur.Size {
		return Modified
	}
	if metaProvesContent(b, cur) {
		if attrsSame {
			return Unchanged
		}
		return AttrChanged
	}
	if b.Hash != "" && b.Hash == cur.Hash && o.Checksum.ProvesEqual(cur.Size) {
		if attrsSame && b.MTime.Equal(cur.MTime) {
			return Unchanged // only the change token moved (a restore, a hard link)
		}
		return AttrChanged
	}
	return Modified
}

// agreed returns the agreed state a record holds: nil for none (no record,
// a conflict, an error on a path that had none).
func agreed(r *Record) *Record {
	if r == nil || r.Status == StatusConflict || r.Type == TypeNone {
		return nil
	}
	return r
}

// metaProvesContent reports whether a file's metadata alone shows its content
// unchanged: same size and mtime, and a change token that either agrees or
// moved together with a permission or owner change (chmod moves a ctime),
// whether or not the session propagates those.
func metaProvesContent(b, cur *Entry) bool {
	if b.Size != cur.Size || !b.MTime.Equal(cur.MTime) {
		return false
	}
	explained := b.Mode != cur.Mode || b.UID != cur.UID || b.GID != cur.GID
	return b.Token == "" || cur.Token == "" || b.Token == cur.Token || explained
}

// NeedsRehash reports whether the diff stage would benefit from the current
// entry's fingerprint: its metadata changed but its content may not have.
func NeedsRehash(base *Record, cur *Entry, o DiffOptions) bool {
	if base = agreed(base); base == nil || cur == nil || cur.Type != TypeFile ||
		base.Type != TypeFile || base.Hash == "" || cur.Hash != "" || base.Size != cur.Size {
		return false
	}
	if metaProvesContent(&base.Entry, cur) {
		return false
	}
	return o.Checksum.ProvesEqual(cur.Size) && hashAlgo(base.Hash) == o.Checksum
}

// hashAlgo returns the algorithm part of an "algo:hex" fingerprint.
func hashAlgo(h string) Checksum {
	for i := 0; i < len(h); i++ {
		if h[i] == ':' {
			return Checksum(h[:i])
		}
	}
	return ""
}

// ContentEqual applies the equality rule (docs/reference.md §5.6) to two entries
// from different sides: equal types and link targets; for files, a full
// fingerprint match, or size, mtime and a sparse fingerprint match, or, with
// no fingerprint, size and mtime. ok is false when the rule cannot decide
// because a fingerprint it needs is missing.
func ContentEqual(a, b *Entry, algo Checksum) (equal, ok bool) {
	if a == nil || b == nil || a.Type != b.Type {
		return false, true
	}
	switch a.Type {
	case TypeDir:
		return true, true
	case TypeSymlink:
		return a.Target == b.Target, true
	}
	if a.Size != b.Size {
		return false, true
	}
	if h := hashAlgo(a.Hash); algo.Enabled() && h.Full() && hashAlgo(b.Hash) == h {
		return a.Hash == b.Hash, true // whole contents compared (the hash stage may add them)
	}
	if !algo.Enabled() {
		return a.MTime.Equal(b.MTime), true
	}
	if algo.Sparse() && a.Size > SparseWhole && !a.MTime.Equal(b.MTime) {
		return false, true
	}
	if a.Hash == "" || b.Hash == "" || hashAlgo(a.Hash) != hashAlgo(b.Hash) {
		return false, false
	}
	if hashAlgo(a.Hash).Sparse() && a.Size > SparseWhole && !a.MTime.Equal(b.MTime) {
		return false, true // sampled fingerprints prove nothing alone
	}
	return a.Hash == b.Hash, true
}

// NeedsCompare reports whether ContentEqual of a and b would need
// fingerprints that are not there yet.
func NeedsCompare(a, b *Entry, algo Checksum) bool {
	_, ok := ContentEqual(a, b, algo)
	return !ok
}
