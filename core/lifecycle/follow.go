package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/async-sync/async/core"
)

// DefaultRescan is how often continuous mode rescans a source side that
// cannot watch, unless told otherwise (docs/reference.md §5.12).
const DefaultRescan = 10 * time.Minute

// DefaultTick is how often Follow looks at what settled.
const DefaultTick = 250 * time.Millisecond

// FollowOptions configure Follow.
type FollowOptions struct {
	// Direction says which sides' changes matter: the sources'.
	Direction core.Direction
	// Backends are the local and the remote side; a source that is a
	// core.Watcher is watched, one that is not is rescanned.
	Backends [2]core.Backend
	// Cooloff is how long a changed path must stay unchanged before a
	// round syncs it; CooloffMax (0: no limit) is how long a path may
	// keep changing before it is left for later.
	Cooloff, CooloffMax time.Duration
	// Rescan is how often each side is scanned whole (0: never for a side
	// that watches, DefaultRescan for one that cannot).
	Rescan [2]time.Duration
	// Tick is how often settled changes are looked at (0: DefaultTick).
	Tick time.Duration
	// Round runs one sync with the hints (nil for a side: scan it) and
	// returns its counters; an error ends Follow with it. A round whose
	// entries failed or conflicted returns its counters and no error.
	Round func(ctx context.Context, hints [2]*core.Hint) (*core.Stats, error)
	// GaveUp, if set, is told of each path that kept changing for
	// CooloffMax and was left for later.
	GaveUp func(side core.Side, path string)
	// Idle, if set, is called at each tick that runs no round, with when
	// the last round ended and how many changed paths wait to settle.
	Idle func(lastSync time.Time, pending int)
	// Log receives the controller's records (nil: none).
	Log *slog.Logger
}

// Follow is continuous mode: a first round that scans both sides, then a
// round with the changed paths each time some have settled, and whole
// scans on the rescan intervals. The watchers are on before the first
// round, so that nothing changed during it goes unseen. A round after one
// that was not clean (CleanRound) scans. Follow returns nil when ctx
// ends, and otherwise the first error of a round or of a watcher.
func Follow(ctx context.Context, o FollowOptions) error {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchErr := make(chan error, 2)
	every := o.Rescan
	var watchers [2]core.Watcher
	for side := range 2 {
		if !IsSource(o.Direction, core.Side(side)) {
			continue
		}
		w, ok := o.Backends[side].(core.Watcher)
		if !ok {
			every[side] = cmpDur(every[side], DefaultRescan)
			log.Info("continuous: this side cannot watch; it is rescanned", "side", core.Side(side).String(), "every", every[side])
			continue
		}
		watchers[side] = w
	}
	c := NewController(ControllerOptions{Direction: o.Direction, Cooloff: o.Cooloff, CooloffMax: o.CooloffMax, Rescan: every})
	for side, w := range watchers {
		if w == nil {
			continue
		}
		go func() {
			err := w.Watch(watchCtx, func(paths []string) { c.Changed(core.Side(side), paths, time.Now()) })
			if err != nil && !errors.Is(err, context.Canceled) {
				watchErr <- err
			}
		}()
	}
	st, err := o.Round(ctx, [2]*core.Hint{})
	if err != nil {
		return err
	}
	c.Done(st)
	lastSync := time.Now()
	c.Scanned(lastSync)
	t := time.NewTicker(cmpDur(o.Tick, DefaultTick))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Info("continuous: stopped")
			return nil
		case err := <-watchErr:
			return err
		case now := <-t.C:
			r := c.Next(now)
			for side, paths := range r.GaveUp {
				for _, p := range paths {
					log.Warn("continuous: a file never settled", "path", p)
					if o.GaveUp != nil {
						o.GaveUp(core.Side(side), p)
					}
				}
			}
			if !r.Run {
				if o.Idle != nil {
					o.Idle(lastSync, c.Pending())
				}
				continue
			}
			st, err := o.Round(ctx, r.Hints)
			if err != nil {
				return err
			}
			c.Done(st)
			lastSync = time.Now()
		}
	}
}

// CleanRound reports whether a round leaves records that can stand for
// what they describe: it settled everything it looked at and moved
// nothing. A nil st (no round ran) is clean.
func CleanRound(st *core.Stats) bool {
	return st == nil || st.Conflicts.Load()+st.Errors.Load()+st.Skipped.Load()+st.Renamed.Load() == 0
}

// IsSource reports whether a side's changes matter in a direction.
func IsSource(d core.Direction, s core.Side) bool {
	switch d {
	case core.Push:
		return s == core.Local
	case core.Pull:
		return s == core.Remote
	}
	return true
}

// cmpDur is d, or def when d is not positive.
func cmpDur(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// ControllerOptions configure a Controller.
type ControllerOptions struct {
	// Direction says which sides' changes matter.
	Direction core.Direction
	// Cooloff and CooloffMax are as in FollowOptions.
	Cooloff, CooloffMax time.Duration
	// Rescan is how often each side is scanned whole (0: never).
	Rescan [2]time.Duration
}

// Controller decides the rounds of continuous mode: it collects the
// paths watchers report until they settle, says for each source side
// whether the next round reads those paths or scans, and falls back to
// scans after a round that was not clean. Follow drives one with real
// watchers and a clock; tests drive one by hand. It is safe for
// concurrent use.
type Controller struct {
	o ControllerOptions

	mu       sync.Mutex
	pending  [2]map[string]*change
	full     [2]bool // a change the paths cannot describe: scan the side
	lastFull [2]time.Time
	unclean  bool // the last round left something unsettled or moved something
}

// change is one path's pending change.
type change struct {
	first, last time.Time
}

// Round is what the next round of continuous mode does.
type Round struct {
	// Run says whether a round is due at all.
	Run bool
	// Hints are the round's hints per side: nil scans the side; a hint
	// with no paths says nothing changed there. They are what a round
	// would read now, also when Run is false.
	Hints [2]*core.Hint
	// GaveUp are, per side, the paths that kept changing for CooloffMax:
	// dropped from the pending changes, left for a later round.
	GaveUp [2][]string
}

// NewController returns a controller with nothing pending, as after a
// clean round.
func NewController(o ControllerOptions) *Controller {
	return &Controller{o: o, pending: [2]map[string]*change{{}, {}}}
}

// Changed records that paths changed on a side at now; an empty path
// means a change the paths cannot describe: the side is scanned once its
// pending paths settled.
func (c *Controller) Changed(s core.Side, paths []string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range paths {
		if p == "" {
			c.full[s] = true
			continue
		}
		ch := c.pending[s][p]
		if ch == nil {
			ch = &change{first: now}
			c.pending[s][p] = ch
		}
		ch.last = now
	}
}

// Pending is how many changed paths wait to settle.
func (c *Controller) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending[0]) + len(c.pending[1])
}

// Next says what a round at now does, taking the settled paths (sorted)
// out of the pending ones. A source side is scanned when its rescan is
// due or it saw a change paths cannot describe, read as hinted when paths
// settled, and read as recorded otherwise; a side that is no source is
// scanned. After a round that was not clean every side is scanned.
func (c *Controller) Next(now time.Time) Round {
	c.mu.Lock()
	defer c.mu.Unlock()
	var r Round
	for side := range 2 {
		if !IsSource(c.o.Direction, core.Side(side)) {
			continue
		}
		ready, full, gaveUp := c.ready(core.Side(side), now)
		r.GaveUp[side] = gaveUp
		due := c.o.Rescan[side] > 0 && now.Sub(c.lastFull[side]) >= c.o.Rescan[side]
		switch {
		case due || full:
			r.Hints[side] = nil // scan it
			c.lastFull[side] = now
			r.Run = true
		case len(ready) > 0:
			r.Hints[side] = &core.Hint{Paths: ready}
			r.Run = true
		default:
			r.Hints[side] = &core.Hint{} // nothing seen: as recorded
		}
	}
	if c.unclean {
		// The last round left something alone (a conflict, an error, a
		// skipped directory) or moved something: the records around it
		// need not say what is there, so this round scans.
		r.Hints = [2]*core.Hint{}
	}
	return r
}

// ready takes the side's paths that have not changed for Cooloff, says
// whether the side needs a full scan, and drops (returning them) the paths
// still changing after CooloffMax; c.mu is held.
func (c *Controller) ready(s core.Side, now time.Time) (ready []string, full bool, gaveUp []string) {
	for p, ch := range c.pending[s] {
		switch {
		case now.Sub(ch.last) >= c.o.Cooloff:
			ready = append(ready, p)
			delete(c.pending[s], p)
		case c.o.CooloffMax > 0 && now.Sub(ch.first) >= c.o.CooloffMax:
			gaveUp = append(gaveUp, p)
			delete(c.pending[s], p)
		}
	}
	if c.full[s] && len(c.pending[s]) == 0 {
		full, c.full[s] = true, false
	}
	slices.Sort(ready)
	slices.Sort(gaveUp)
	return ready, full, gaveUp
}

// Done records the counters of the round that ran (nil: none did): a
// round that was not clean makes the next one scan.
func (c *Controller) Done(st *core.Stats) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unclean = !CleanRound(st)
}

// Scanned records that a round scanned every side whole at now (the
// first): the rescan intervals count from there.
func (c *Controller) Scanned(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastFull = [2]time.Time{now, now}
}
