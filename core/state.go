package core

import (
	"context"
	"time"
)

// Status is what a snapshot record says about its path.
type Status uint8

// Record states, as async admin shows them.
const (
	StatusSynced   Status = iota // both sides agreed on this entry
	StatusConflict               // left alone on both sides; see the plan
	StatusError                  // the last action on it failed
)

// String returns the short name async admin prints ("Syncd", "Confl", "Error").
func (s Status) String() string {
	switch s {
	case StatusConflict:
		return "Confl"
	case StatusError:
		return "Error"
	}
	return "Syncd"
}

// Record is one path's last agreed state on one side.
type Record struct {
	Entry         // the entry as this side held it when both sides agreed
	Status Status // synced, conflict or error
	// Note is the reason of a conflict or error.
	Note string
}

// Meta identifies a session and what it was last run with. Both sides'
// snapshots carry the same Meta.
type Meta struct {
	Session   string   // -N
	Local     string   // canonical form of -d
	Remote    string   // canonical form of -r
	Direction string   // push, pull or bidi
	Checksum  string   // -k in force
	Filters   []string // filter rules in force, in order ("-E *.tmp")
	Side      string   // "local" or "remote": which side this snapshot describes
	Started   time.Time
	Stopped   time.Time // zero while running or after a crash
	// TempToken is the session's random token, part of the name of every
	// temporary file it writes: a leftover is removed only when it
	// carries it (ScanOptions.TempToken).
	TempToken string `json:",omitempty"`
	// KeepDirs are the keep directories (--keep-dir-local/-remote, relative
	// to the roots) the session has used: they stay out of the sync in
	// later runs, with or without the options, until --reset.
	KeepDirs []string `json:",omitempty"`
	// LocalDevice and RemoteDevice identify the file system each root was
	// on (the device part of the root's FileID); empty where the backend
	// has no such notion.
	LocalDevice  string `json:",omitempty"`
	RemoteDevice string `json:",omitempty"`
	// Journal is where a change journal stood when this side's last run
	// started (Options.Journal), written only when the run ends: a
	// crashed run leaves none.
	Journal string `json:",omitempty"`
}

// Store is one side's snapshot as the pipeline uses it. Writes may be
// buffered; Flush makes them durable. Implementations are safe for
// concurrent use.
type Store interface {
	// Meta returns the stored session identity; ok is false for a new store.
	Meta(ctx context.Context) (m Meta, ok bool, err error)
	// SetMeta replaces the stored session identity.
	SetMeta(ctx context.Context, m Meta) error
	// Load calls fn for every record, in path order.
	Load(ctx context.Context, fn func(Record) error) error
	// Put records r (replacing the record of the same path).
	Put(ctx context.Context, r Record) error
	// Delete drops the record of path, if any.
	Delete(ctx context.Context, path string) error
	// Flush makes every Put and Delete so far durable.
	Flush(ctx context.Context) error
}

// Sizer is a Store that can tell cheaply about how many records it holds:
// an estimate (stale versions may count), used to size the memory a run
// collects its records and scan into at once rather than growing it.
type Sizer interface {
	// SizeHint returns the estimate; 0 when unknown.
	SizeHint() int
}

// PathLoader is a Store that can read some records without loading them
// all: a run told which paths changed (Options.Hints) reads only those,
// their parents, and the recorded subtrees of directories that went away.
type PathLoader interface {
	// LoadPaths calls fn, in path order and once each, for the record of
	// every one of paths that has one, and for every record below each of
	// dirs ("" is the root).
	LoadPaths(ctx context.Context, paths, dirs []string, fn func(Record) error) error
}
