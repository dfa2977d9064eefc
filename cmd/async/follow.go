package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/lifecycle"
)

// follow is continuous mode (-C): lifecycle.Follow, with the session's
// snapshots held open (and so locked) and its status file saying running
// for its whole life, each round a run of the pipeline, and what the
// rounds do printed. It returns nil when ctx ends (SIGINT, SIGTERM) and
// stops early only on a fatal error; conflicts and entry errors of a round
// are reported and the session goes on.
func (a *app) follow(ctx context.Context, in *instance, p *prepared, ends [2]*opened, life *lifecycle.Session, log *slog.Logger) error {
	s := p.s
	release, err := life.Hold(ctx)
	if err != nil {
		return lockedOr(s.name, err)
	}
	defer release()
	var synced atomic.Int64 // when the last round ended, Unix nanoseconds
	lastRound := func() time.Time {
		if n := synced.Load(); n != 0 {
			return time.Unix(0, n).UTC()
		}
		return time.Time{}
	}
	stopStatus, refreshStatus := lifecycle.KeepStatus(lifecycle.StatusOptions{Dir: p.dbDir[core.Local], Stats: p.stats.Load, LastSync: lastRound, Log: log})
	defer stopStatus()
	defer a.out.following(s.name)()
	// A watcher's error ends the session with exit code 1, as any error
	// that says no other.
	return lifecycle.Follow(ctx, lifecycle.FollowOptions{
		Direction: s.Policy.Direction,
		Backends:  [2]core.Backend{ends[0].backend, ends[1].backend},
		Cooloff:   s.follow.cooloff, CooloffMax: s.follow.cooloffMax,
		Rescan: [2]time.Duration{s.follow.scanEvery, s.follow.remoteEvery},
		Round: func(ctx context.Context, hints [2]*core.Hint) (*core.Stats, error) {
			if err := a.round(ctx, in, p, ends, life, log, hints); err != nil {
				return p.lastStats, err
			}
			synced.Store(time.Now().UnixNano())
			refreshStatus()
			return p.lastStats, nil
		},
		GaveUp: func(_ core.Side, path string) {
			why := fmt.Sprintf("kept changing for --cooloff-max %v; left for later", s.follow.cooloffMax)
			a.out.entry(s.name, core.Finished{Path: path, Outcome: core.OutcomeError, Reason: why})
		},
		Idle: func(lastSync time.Time, pending int) {
			a.out.status(in, s.name, fmt.Sprintf("following changes: last sync %s, %d pending", lastSync.Format("15:04:05"), pending))
		},
		Log: log,
	})
}

// round runs one sync of continuous mode; only fatal errors end the
// session.
func (a *app) round(ctx context.Context, in *instance, p *prepared, ends [2]*opened, life *lifecycle.Session, log *slog.Logger, hints [2]*core.Hint) error {
	err := a.syncOpened(ctx, in, p, ends, life, log, hints)
	switch code := exitCode(err); {
	case err == nil, ctx.Err() != nil:
		return nil
	case code == exitPartial:
		return nil // reported; the next change or rescan tries again
	default:
		return err
	}
}
