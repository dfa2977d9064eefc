package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/lifecycle"
	"github.com/async-sync/async/internal/logfile"
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
	return filepath.Join(p.env.stateDir, "sessions", p.s.name+"-"+hex.EncodeToString(sum[:])[:12], side.String())
}

// legacySnapshotDir is where such a snapshot lived before it was keyed by
// the local endpoint: STATE/sessions/NAME/SIDE.
func (p *prepared) legacySnapshotDir(side core.Side) string {
	return filepath.Join(p.env.stateDir, "sessions", p.s.name, side.String())
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
	rec, err := lifecycle.Peek(context.Background(), from, 0)
	if err != nil {
		return lockedOr(p.s.name, err)
	}
	if !rec.HasMeta || rec.Meta.Local != p.ends[core.Local].URL() {
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

// fileBucketDir is the directory that holds a blob+file:// bucket ("" for
// another bucket): none of async's state may lie in it.
func fileBucketDir(e endpoint) string {
	u, err := url.Parse(e.raw)
	if err != nil || u.Scheme != "blob+file" || u.Path == "" {
		return ""
	}
	return realPath(filepath.Clean(u.Path))
}

// checkRemoteLog resolves -R where no remote agent runs. A local or
// bucket -r is served by this process: -R is then where it writes the
// remote side's log, on this machine (outside the synchronized trees), as
// the agent would on its server. Plain SFTP names a server that keeps no
// log: refused.
func (p *prepared) checkRemoteLog() error {
	dir := p.s.ssh.logDir
	e := p.ends[core.Remote]
	switch {
	case dir == "":
	case e.sftp:
		return usagef("option -R: -r %s is reached over plain SFTP: no remote agent runs there to keep a log; the session log (-L) has its events; drop -R", e.Display())
	case e.local() || e.object():
		d, err := p.stateDirOption("-R", dir)
		if err != nil {
			return err
		}
		p.remoteLogDir = d
	}
	return nil
}

// remoteLog adds the remote log (-R) of a remote side this process serves
// to the session's logger: the same records, in DIR/async-NAME.log. A dry
// run writes no log; an -R that is the -L directory is that log already.
func (a *app) remoteLog(in *instance, p *prepared, l *slog.Logger) (*slog.Logger, func(), error) {
	if p.remoteLogDir == "" || in.dryRun || realPath(p.remoteLogDir) == realPath(p.logDir) {
		return l, func() {}, nil
	}
	f, err := logfile.Open(p.remoteLogDir, "async-"+p.s.name+".log", int64(p.s.ssh.logMB)<<20, logKeepFiles)
	if err != nil {
		return nil, nil, fmt.Errorf("option -R: %w", err)
	}
	hopts := &slog.HandlerOptions{Level: logLevel(in.debug), ReplaceAttr: core.ReplaceLevel}
	remote := slog.New(slog.NewTextHandler(f, hopts)).With("session", p.s.name, "side", "remote")
	a.logs.add(f, remote)
	// SIGHUP reopens it, as it does the session log.
	hup := a.reopenOnHangup(f, p.s.name, "the remote log")
	stop := func() { hup(); a.logs.remove(f); f.Close() }
	return slog.New(slog.NewMultiHandler(l.Handler(), remote.Handler())), stop, nil
}
