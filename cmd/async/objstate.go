package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/snapshot"
)

// stateSnapshotDir is where the snapshot of a side that cannot hold one (a
// bucket, an SFTP server) lives by default: STATE/sessions/NAME-ID/SIDE,
// where ID is the first 12 hex digits of the SHA-256 of the canonical -d,
// so that one session name used from two local directories names two
// sessions, as it does for directories (whose snapshots live in each
// root).
func (p *prepared) stateSnapshotDir(side core.Side) string {
	sum := sha256.Sum256([]byte(p.ends[core.Local].URL()))
	return filepath.Join(stateDir(), "sessions", p.s.name+"-"+hex.EncodeToString(sum[:])[:12], side.String())
}

// legacySnapshotDir is where such a snapshot lived before it was keyed by
// the local endpoint: STATE/sessions/NAME/SIDE.
func (p *prepared) legacySnapshotDir(side core.Side) string {
	return filepath.Join(stateDir(), "sessions", p.s.name, side.String())
}

// migrateState moves a side's snapshot from its legacy place to its
// current one when the current one has none and the legacy one was made
// for this -d (another -d's snapshot is left for that session's next run).
// In a dry run nothing moves: the legacy snapshot is read where it is.
func (p *prepared) migrateState(side core.Side, dryRun bool) error {
	to, from := p.dbDir[side], p.legacySnapshotDir(side)
	if snapshot.Exists(to) || !snapshot.Exists(from) {
		return nil
	}
	db, err := snapshot.Open(from, snapshot.Options{ReadOnly: true})
	var le *snapshot.LockedError
	if err != nil && !errors.As(err, &le) {
		db, err = snapshot.Open(from, snapshot.Options{}) // after a crash
	}
	if err != nil {
		return lockedOr(p.s.name, err)
	}
	m, ok, err := db.Meta(context.Background())
	db.Close()
	if err != nil {
		return &fatal{exitFailed, err}
	}
	if !ok || m.Local != p.ends[core.Local].URL() {
		return nil
	}
	if dryRun {
		p.dbDir[side] = from
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		return &fatal{exitFailed, fmt.Errorf("move the %s snapshot to %s: %w", side, to, err)}
	}
	if err := os.Rename(from, to); err != nil {
		return &fatal{exitFailed, fmt.Errorf("move the %s snapshot to %s: %w", side, to, err)}
	}
	os.Remove(filepath.Dir(from)) // the legacy session directory, once empty
	return nil
}
