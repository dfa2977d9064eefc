package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/async-sync/async/core"
)

// defaultRescan is how often a side that cannot watch is rescanned in
// continuous mode (docs/reference.md §5.12).
const defaultRescan = 10 * time.Minute

// tick is how often the follower looks at what settled.
const tick = 250 * time.Millisecond

// follow is continuous mode (-C): a first full sync, then a sync of the
// changed paths each time some have settled (--cooloff), and full rescans
// on the intervals. It returns nil when ctx ends (SIGINT, SIGTERM) and
// stops early only on a fatal error; conflicts and entry errors of a round
// are reported and the session goes on.
func (a *app) follow(ctx context.Context, in *instance, p *prepared, ends [2]*opened, log *slog.Logger) error {
	s := p.s
	f := &follower{cooloff: s.follow.cooloff, cooloffMax: s.follow.cooloffMax, pending: [2]map[string]*change{{}, {}}}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchErr := make(chan error, 2)
	var every [2]time.Duration
	for side := range 2 {
		if !isSource(s.policy.Direction, core.Side(side)) {
			continue
		}
		every[side] = [2]time.Duration{s.follow.scanEvery, s.follow.remoteEvery}[side]
		w, ok := ends[side].backend.(core.Watcher)
		if !ok {
			every[side] = cmpDur(every[side], defaultRescan)
			log.Info("continuous: this side cannot watch; it is rescanned", "side", core.Side(side).String(), "every", every[side])
			continue
		}
		f.watched[side] = true
		go func() {
			err := w.Watch(watchCtx, func(paths []string) { f.add(core.Side(side), paths, time.Now()) })
			if err != nil && !errors.Is(err, context.Canceled) {
				watchErr <- err
			}
		}()
	}
	// The snapshots stay open, and so locked, for the session's whole
	// life; the status file says running until it ends.
	closeStores, err := openStores(ctx, in, p, ends, log)
	if err != nil {
		return err
	}
	defer closeStores()
	var synced atomic.Int64 // when the last round ended, Unix nanoseconds
	lastRound := func() time.Time {
		if n := synced.Load(); n != 0 {
			return time.Unix(0, n).UTC()
		}
		return time.Time{}
	}
	stopStatus, refreshStatus := keepStatus(p.dbDir[core.Local], p.stats.Load, lastRound, log, false)
	defer stopStatus()
	defer a.out.following(s.name)()
	// The first sync runs with the watchers already on, so that nothing
	// changed during it goes unseen.
	if err := a.round(ctx, in, p, ends, log, [2]*core.Hint{}); err != nil {
		return err
	}
	synced.Store(time.Now().UnixNano())
	refreshStatus()
	var lastFull [2]time.Time
	lastFull[0], lastFull[1] = time.Now(), time.Now()
	lastSync := time.Now()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Info("continuous: stopped")
			return nil
		case err := <-watchErr:
			return &fatal{exitFailed, err}
		case now := <-t.C:
			var hints [2]*core.Hint
			run := false
			for side := range 2 {
				if !isSource(s.policy.Direction, core.Side(side)) {
					continue
				}
				ready, full, gaveUp := f.ready(core.Side(side), now)
				for _, path := range gaveUp {
					msg := fmt.Sprintf("ERROR: kept changing for --cooloff-max %v; left for later", s.follow.cooloffMax)
					log.Warn("continuous: a file never settled", "path", path)
					a.out.entry(s.name, core.Finished{Path: path, Status: msg})
				}
				due := every[side] > 0 && now.Sub(lastFull[side]) >= every[side]
				switch {
				case due || full:
					hints[side] = nil // scan it
					lastFull[side] = now
					run = true
				case len(ready) > 0:
					hints[side] = &core.Hint{Paths: ready}
					run = true
				default:
					hints[side] = &core.Hint{} // nothing seen: as recorded
				}
			}
			if run && !cleanRound(p.lastStats) {
				// The last round left something alone (a conflict, an
				// error, a skipped directory) or moved something: the
				// records around it need not say what is there, so this
				// round scans.
				hints = [2]*core.Hint{}
			}
			if !run {
				a.out.status(in, s.name, fmt.Sprintf("following changes: last sync %s, %d pending", lastSync.Format("15:04:05"), f.count()))
				continue
			}
			if err := a.round(ctx, in, p, ends, log, hints); err != nil {
				return err
			}
			lastSync = time.Now()
			synced.Store(lastSync.UnixNano())
			refreshStatus()
		}
	}
}

// round runs one sync of continuous mode; only fatal errors end the
// session.
func (a *app) round(ctx context.Context, in *instance, p *prepared, ends [2]*opened, log *slog.Logger, hints [2]*core.Hint) error {
	err := a.syncOpened(ctx, in, p, ends, log, hints)
	switch code := exitCode(err); {
	case err == nil, ctx.Err() != nil:
		return nil
	case code == exitPartial:
		return nil // reported; the next change or rescan tries again
	default:
		return err
	}
}

// cleanRound reports whether a round leaves records that can stand for
// what they describe: it settled everything it looked at and moved
// nothing.
func cleanRound(st *core.Stats) bool {
	return st == nil || st.Conflicts.Load()+st.Errors.Load()+st.Skipped.Load()+st.Renamed.Load() == 0
}

// isSource reports whether a side's changes matter in a direction.
func isSource(d core.Direction, s core.Side) bool {
	switch d {
	case core.Push:
		return s == core.Local
	case core.Pull:
		return s == core.Remote
	}
	return true
}

func cmpDur(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// follower collects a watcher's changes until they settle.
type follower struct {
	cooloff, cooloffMax time.Duration

	mu      sync.Mutex
	watched [2]bool
	pending [2]map[string]*change
	full    [2]bool // a change the paths cannot describe: scan the side
}

// change is one path's pending change.
type change struct {
	first, last time.Time
}

// count is how many changed paths wait to settle.
func (f *follower) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending[0]) + len(f.pending[1])
}

func (f *follower) add(s core.Side, paths []string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range paths {
		if p == "" {
			f.full[s] = true
			continue
		}
		c := f.pending[s][p]
		if c == nil {
			c = &change{first: now}
			f.pending[s][p] = c
		}
		c.last = now
	}
}

// ready takes the side's paths that have not changed for cooloff, says
// whether the side needs a full scan, and drops (returning them) the paths
// still changing after cooloffMax.
func (f *follower) ready(s core.Side, now time.Time) (ready []string, full bool, gaveUp []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p, c := range f.pending[s] {
		switch {
		case now.Sub(c.last) >= f.cooloff:
			ready = append(ready, p)
			delete(f.pending[s], p)
		case f.cooloffMax > 0 && now.Sub(c.first) >= f.cooloffMax:
			gaveUp = append(gaveUp, p)
			delete(f.pending[s], p)
		}
	}
	if f.full[s] && len(f.pending[s]) == 0 {
		full, f.full[s] = true, false
	}
	return ready, full, gaveUp
}
