package main

import (
	"context"
	"fmt"
	"math"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/lifecycle"
	"github.com/async-sync/async/snapshot"
)

// rootRecord is what the session's snapshots kept on this machine say
// about one side's root.
type rootRecord struct {
	dir     string    // the snapshot that says it
	entries int       // entries it records under that root
	other   core.Meta // set when a snapshot names another endpoint for that side
}

// recordedRoot reads the session's snapshots that live on this machine
// (those of local directories, buckets and SFTP endpoints; an agent keeps
// its own on the server) and says whether they record entries under
// side's root (counted up to upTo), or were made for another endpoint of
// that side.
func (p *prepared) recordedRoot(ctx context.Context, side core.Side, upTo int) (rootRecord, error) {
	var rec rootRecord
	want := p.ends[side].URL()
	for t := range 2 {
		e := p.ends[t]
		if !e.local() && !e.sftp && !e.object() || !snapshot.Exists(p.dbDir[t]) {
			continue
		}
		r, err := lifecycle.Peek(ctx, p.dbDir[t], upTo)
		if err != nil {
			return rec, lockedOr(p.s.name, err)
		}
		if !r.HasMeta {
			continue
		}
		if got := [2]string{r.Meta.Local, r.Meta.Remote}[side]; got != want {
			rec.other = r.Meta
			continue
		}
		if r.Entries > rec.entries {
			rec.dir, rec.entries = p.dbDir[t], r.Entries
		}
	}
	return rec, nil
}

// missingRoot decides about a root that does not exist (opt names it). One
// that the session's snapshots record entries under has vanished (an
// unmounted disk): exit 1, whatever --create-dir and --force-deletes say;
// only --reset starts over. One the session knew under another endpoint
// is a typo, most likely. Otherwise it is made with --create-dir, or
// refused (exit 2).
func (p *prepared) missingRoot(ctx context.Context, side core.Side, opt string) error {
	s, e := p.s, p.ends[side]
	if !s.reset {
		rec, err := p.recordedRoot(ctx, side, math.MaxInt) // the count goes in the message
		if err != nil {
			return err
		}
		if rec.entries > 0 {
			return &fatal{exitFailed, fmt.Errorf("option %s: root vanished: unmounted? %s does not exist, but the session's snapshot (%s) records %d entries under it; nothing done (--create-dir and --force-deletes do not apply here: mount it back, or run with --reset (-x) to start the session over)", opt, e.Display(), rec.dir, rec.entries)}
		}
		if m := rec.other; m.Session != "" {
			return usagef("option %s: %s does not exist; session %s was last run with -d %s -r %s (mistyped?); run with --reset (-x) to start it over with these endpoints", opt, e.Display(), s.name, m.Local, m.Remote)
		}
	}
	if !s.createDir {
		where := ""
		if !e.local() {
			where = " on " + e.host
		}
		return usagef("option %s: directory %s does not exist%s (use --create-dir to create it)", opt, e.path, where)
	}
	return nil
}

// mayCreate says whether a remote root may be created if it is missing
// (--create-dir): not when the session's snapshots record entries under it
// or know it under another endpoint; missingRoot then explains.
func (p *prepared) mayCreate(ctx context.Context, side core.Side, dryRun bool) (bool, error) {
	if !p.s.createDir || dryRun {
		return false, nil
	}
	if p.s.reset {
		return true, nil
	}
	// Whether there is any entry is enough: reading every record here
	// would cost a whole snapshot load before the session starts.
	rec, err := p.recordedRoot(ctx, side, 1)
	if err != nil {
		return false, err
	}
	return rec.entries == 0 && rec.other.Session == "", nil
}

// otherEndpoint refuses, before a snapshot is made there, a side that has
// no snapshot yet while the session's other snapshot names another
// endpoint for it (a mistyped -r, most likely): the run would stop at the
// identity check anyway, after leaving an empty snapshot behind.
func (p *prepared) otherEndpoint(ctx context.Context) error {
	if p.s.reset {
		return nil
	}
	for side := range 2 {
		e := p.ends[side]
		if p.missing[side] || !e.local() && !e.sftp && !e.object() || snapshot.Exists(p.dbDir[side]) {
			continue
		}
		rec, err := p.recordedRoot(ctx, core.Side(side), 0)
		if err != nil {
			return err
		}
		if m := rec.other; m.Session != "" {
			return usagef("session %s was last run with -d %s -r %s -K %s, not %s %s; run with --reset (-x) to start it over with these endpoints and direction",
				p.s.name, m.Local, m.Remote, m.Direction, [2]string{"-d", "-r"}[side], e.URL())
		}
	}
	return nil
}
