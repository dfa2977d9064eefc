package core

import (
	"fmt"
	"time"

	"github.com/async-sync/async/core/filter"
)

// Prune says which parts of a tree a scan leaves out. It is data, not
// functions, so that a backend scanning in another process (a remote
// agent) can receive it; Funcs turns it into the two tests a scanner asks.
type Prune struct {
	// Filter: entries the rules exclude are left out, and excluded
	// directories are not descended into.
	Filter []filter.Rule
	// Subtrees are left out entirely, the directory itself included
	// (keep directories, --exclude-dirs-older-than).
	Subtrees []string
	// Settled maps directories to mtimes: a directory found with that
	// mtime is reported but its contents are not listed (--assume-no-mods).
	Settled map[string]time.Time
	// Shallow lists only the root's own entries.
	Shallow bool
}

// Funcs compiles p. skip reports whether an entry is left out (a skipped
// directory is not descended into); descend whether a reported directory's
// contents are listed. Either is nil when it never says no.
func (p *Prune) Funcs() (skip func(path string, isDir bool) bool, descend func(dir *Entry) bool, err error) {
	f, err := filter.New(p.Filter)
	if err != nil {
		return nil, nil, fmt.Errorf("scan filter: %w", err)
	}
	skip, descend = p.funcs(f)
	return skip, descend, nil
}

// funcs is Funcs with the filter compiled already.
func (p *Prune) funcs(f *filter.Filter) (skip func(path string, isDir bool) bool, descend func(dir *Entry) bool) {
	subtrees := map[string]bool{}
	for _, d := range p.Subtrees {
		subtrees[d] = true
	}
	if !f.Empty() || len(subtrees) > 0 {
		skip = func(path string, isDir bool) bool {
			if subtrees[path] {
				return true
			}
			return !f.Empty() && f.Decide(path, isDir) == filter.Exclude
		}
	}
	switch {
	case p.Shallow:
		descend = func(*Entry) bool { return false }
	case p.Settled != nil:
		settled := p.Settled
		descend = func(d *Entry) bool {
			t, ok := settled[d.Path]
			return !ok || !t.Equal(d.MTime)
		}
	}
	return skip, descend
}
