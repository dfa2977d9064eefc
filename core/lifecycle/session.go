package lifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/async-sync/async/core"
)

// Session is one session's two snapshots across its runs: restored from
// their store directories before the first run, held open (and so locked
// against another run of the session) while runs go on, saved to the
// store directories after the last. A Session is used by one goroutine.
type Session struct {
	// Snapshots are the local and the remote side's snapshots.
	Snapshots [2]Snapshots
	// StoreDirs name each side's store directory as the user gave it;
	// they label the log records of Restore and Save.
	StoreDirs [2]string
	// DryRun: nothing is created, dropped, restored or saved.
	DryRun bool
	// Reset drops both snapshots before they are opened: the session
	// starts over.
	Reset bool
	// Log receives a record for each snapshot restored, saved or dropped
	// (nil: none).
	Log *slog.Logger

	held   bool
	stores [2]core.Store
}

func (s *Session) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// Restore brings back each side's snapshot from its store directory where
// the working copy is missing (nothing in a dry run). It stops at the
// first side that fails.
func (s *Session) Restore(ctx context.Context) error {
	if s.DryRun {
		return nil
	}
	for side := range 2 {
		ok, err := s.Snapshots[side].Restore(ctx)
		if err != nil {
			return fmt.Errorf("restore the %s snapshot: %w", core.Side(side), err)
		}
		if ok {
			s.log().Info("snapshot restored", "side", core.Side(side).String(), "from", s.StoreDirs[side])
		}
	}
	return nil
}

// Save copies each side's snapshot, closed by now, to its store directory
// (nothing in a dry run). Both sides are tried; the first error is
// returned.
func (s *Session) Save(ctx context.Context) error {
	if s.DryRun {
		return nil
	}
	var first error
	for side := range 2 {
		ok, err := s.Snapshots[side].Save(ctx)
		if err != nil && first == nil {
			first = fmt.Errorf("store the %s snapshot: %w", core.Side(side), err)
		}
		if ok {
			s.log().Info("snapshot stored", "side", core.Side(side).String(), "in", s.StoreDirs[side])
		}
	}
	return first
}

// Hold opens both sides' snapshots, after dropping them when Reset says
// so (not in a dry run), and keeps them open until release is called:
// the snapshots' locks say the session is running. The errors of the
// snapshots pass unchanged (a *snapshot.LockedError while another run
// holds one); on an error nothing stays open.
func (s *Session) Hold(ctx context.Context) (release func(), err error) {
	if s.Reset && !s.DryRun {
		for side := range 2 {
			if err := s.Snapshots[side].Remove(ctx); err != nil {
				return nil, err
			}
		}
		s.log().Info("snapshots dropped (--reset)")
	}
	// Both sides are opened, and closed, at once: each is its own
	// directory (or the agent's), and a large snapshot's open and close
	// (a table per memtable, the tables' indexes) take a while. The
	// remote side goes to a goroutine, the local side is done in this
	// one, whose stack has grown already (a new goroutine's grows again,
	// page by page, as deep as Badger's open goes).
	var closers [2]func()
	release = func() {
		bothSides(func(side int) {
			if c := closers[side]; c != nil {
				c()
			}
		})
		closers = [2]func(){}
		s.stores, s.held = [2]core.Store{}, false
	}
	var stores [2]core.Store
	var errs [2]error
	bothSides(func(side int) {
		stores[side], closers[side], errs[side] = s.Snapshots[side].Open(ctx, s.DryRun, s.Reset)
	})
	for side := range 2 {
		if stores[side] == nil {
			closers[side] = nil
		}
	}
	for side := range 2 {
		if errs[side] != nil {
			release()
			return nil, errs[side] // the local side's first, as before
		}
	}
	s.stores, s.held = stores, true
	return release, nil
}

// bothSides calls fn for side 1 in a goroutine and for side 0 in the
// caller's, and returns when both have returned.
func bothSides(fn func(side int)) {
	var wg sync.WaitGroup
	wg.Go(func() { fn(1) })
	fn(0)
	wg.Wait()
}

// PeekMetas reads both sides' stored session identities without opening
// the snapshots (MetaPeeker), holding both locks until release: what a
// run that may have nothing to do needs, for much less than Hold costs on
// a large snapshot. ok is false, with nothing held, when either side
// cannot be read so (no copy of its identity, held by another run, not a
// MetaPeeker), in a dry run, with Reset, or while the session is held:
// the caller holds the session instead.
func (s *Session) PeekMetas() (metas [2]core.Meta, release func(), ok bool) {
	if s.DryRun || s.Reset || s.held {
		return metas, nil, false
	}
	var releases []func()
	release = func() {
		for _, r := range releases {
			r()
		}
	}
	for side := range 2 {
		p, isPeeker := s.Snapshots[side].(MetaPeeker)
		if !isPeeker {
			release()
			return [2]core.Meta{}, nil, false
		}
		m, found, rel, err := p.PeekMeta()
		if err != nil || !found {
			release()
			return [2]core.Meta{}, nil, false
		}
		metas[side] = m
		releases = append(releases, rel)
	}
	return metas, release, true
}

// Held reports whether the snapshots are held open (between Hold and its
// release).
func (s *Session) Held() bool { return s.held }

// Stores returns the held snapshots, local then remote; a side without one
// (a dry run's first run) or a session not held has nil.
func (s *Session) Stores() [2]core.Store { return s.stores }
