package core

import (
	"fmt"
	"time"
)

// Side names an endpoint of a session.
type Side uint8

// The two endpoints: -d is Local, -r is Remote.
const (
	Local Side = iota
	Remote
)

// Other returns the opposite side.
func (s Side) Other() Side { return 1 - s }

// String returns "local" or "remote".
func (s Side) String() string {
	if s == Remote {
		return "remote"
	}
	return "local"
}

// Direction is -K.
type Direction uint8

// The three directions.
const (
	Push Direction = iota // local → remote
	Pull                  // remote → local
	Bidi                  // both ways
)

var directionNames = [...]string{"push", "pull", "bidi"}

// String returns push, pull or bidi.
func (d Direction) String() string { return directionNames[d] }

// ParseDirection accepts push, pull and bidi.
func ParseDirection(s string) (Direction, error) {
	for i, n := range directionNames {
		if s == n {
			return Direction(i), nil
		}
	}
	return 0, fmt.Errorf("unknown direction %q (want push, pull or bidi)", s)
}

// Overwrite is -o.
type Overwrite uint8

// The overwrite policies (docs/reference.md §5.2, §5.3).
const (
	OverwriteDefault  Overwrite = iota // always for push/pull, conflict for bidi
	OverwriteAlways                    // the source wins
	OverwriteOlder                     // the newer mtime wins
	OverwriteConflict                  // both changed: report, touch nothing
)

var overwriteNames = [...]string{"", "always", "older", "conflict"}

// String returns the -o value.
func (o Overwrite) String() string { return overwriteNames[o] }

// ParseOverwrite accepts always, older and conflict.
func ParseOverwrite(s string) (Overwrite, error) {
	for i, n := range overwriteNames[1:] {
		if s == n {
			return Overwrite(i + 1), nil
		}
	}
	return 0, fmt.Errorf("unknown overwrite policy %q (want always, older or conflict)", s)
}

// Policy is everything reconcile needs to know besides the states.
type Policy struct {
	Direction    Direction
	Overwrite    Overwrite // resolved: never OverwriteDefault
	Checksum     Checksum
	IgnoreDelete bool // --ignore-delete
	Mirror       bool // --mirror
	PreserveTime bool // -t: propagate mtimes
	// PreserveATime gives written files their source's access time
	// (--preserve-access-time); access times are never compared.
	PreserveATime bool
	// PreserveXattrs copies extended attributes with the content (and on
	// directories made) where both sides keep them (--preserve-xattrs native).
	PreserveXattrs bool
	// PreserveACLs copies POSIX ACLs the same way (--preserve-acls native).
	PreserveACLs bool
	// WriteUID and WriteGID, when set, own every written entry
	// (--write-uid, --write-gid); they win over -u and -j.
	WriteUID, WriteGID *int
	// Dedup writes duplicate source files as hard links at the destination.
	Dedup       Dedup
	PreserveUID bool // -u
	PreserveGID bool // -j
	IgnoreMode  bool // --ignore-mode: mode only set on creation
	SetMode     bool // both sides can hold permission bits
	// RenameFiles and RenameDirs turn a deletion and a creation of the same
	// object (same FileID) into one rename (--scan-file-rename, --scan-dir-rename).
	RenameFiles bool
	RenameDirs  bool
	// ConflictSuffix names the losing copy kept beside itself under
	// -o older in bidi ("NAME" + suffix), when no keep-dir is given.
	ConflictSuffix string
	// KeepDir[side] receives what sync deletes or replaces on that side.
	KeepDir [2]string
}

// Resolve fills the defaults that depend on the direction and checks the
// combinations the reference refuses.
func (p *Policy) Resolve() error {
	if p.Overwrite == OverwriteDefault {
		p.Overwrite = OverwriteAlways
		if p.Direction == Bidi {
			p.Overwrite = OverwriteConflict
		}
	}
	if p.ConflictSuffix == "" {
		p.ConflictSuffix = ".async-conflict-" + time.Now().UTC().Format("20060102T150405Z")
	}
	if p.Direction == Bidi {
		if p.Overwrite == OverwriteAlways {
			return fmt.Errorf("-o always has no meaning with -K bidi")
		}
		if p.Mirror {
			return fmt.Errorf("--mirror cannot be used with -K bidi")
		}
	}
	return nil
}

// diffOptions returns the DiffOptions this policy implies.
func (p *Policy) diffOptions() DiffOptions {
	return DiffOptions{Checksum: p.Checksum, Owners: p.PreserveUID || p.PreserveGID, IgnoreMode: p.IgnoreMode || !p.SetMode}
}
