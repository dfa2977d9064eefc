package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/snapshot"
)

// lockedOr turns a snapshot lock error into "session NAME is running".
func lockedOr(name string, err error) error {
	var le *snapshot.LockedError
	if errors.As(err, &le) {
		return &fatal{exitFailed, fmt.Errorf("session %s is running, pid %d (snapshot %s)", name, le.PID, le.Dir)}
	}
	if isUsage(err) {
		return err
	}
	return &fatal{exitFailed, err}
}

// checkMaxDeletes stops a plan that deletes more than --max-deletes allows.
// A percentage is of the entries the plan looked at.
func checkMaxDeletes(s *session, plan *core.Plan) error {
	if s.maxDeletes == "" || s.ForceDeletes {
		return nil
	}
	n, percent, _ := parseCount(s.maxDeletes)
	t := plan.Totals()
	limit := n
	if percent {
		limit = n * (t.Unchanged + t.Equal + len(plan.Actions)) / 100
	}
	if t.Delete > limit {
		return &fatal{exitFailed, fmt.Errorf("the plan deletes %d entries, more than --max-deletes %s allows; nothing done; run with --force-deletes to go ahead", t.Delete, s.maxDeletes)}
	}
	return nil
}

// emptyDir stands for a root that does not exist yet, in a dry run with
// --create-dir: an empty tree that cannot be written.
type emptyDir struct{}

var errDryRun = errors.New("dry run: the root does not exist yet")

func (emptyDir) Caps() core.Caps {
	return core.Caps{Dirs: true, Rename: true, SetMTime: true, SetMode: true, Owners: true, Symlinks: true, FileIDs: true, Filesystem: true, MTimeFromFS: true}
}
func (emptyDir) Scan(context.Context, core.ScanOptions, func(core.Entry) error) error { return nil }
func (emptyDir) Stat(_ context.Context, p string) (core.Entry, error) {
	if p == "" {
		return core.Entry{Type: core.TypeDir, UID: core.NoID, GID: core.NoID}, nil
	}
	return core.Entry{}, fs.ErrNotExist
}
func (emptyDir) Open(context.Context, string, int64) (io.ReadCloser, core.Entry, error) {
	return nil, core.Entry{}, fs.ErrNotExist
}
func (emptyDir) Create(context.Context, string, core.CreateOptions) (core.Writer, error) {
	return nil, errDryRun
}
func (emptyDir) Mkdir(context.Context, string, fs.FileMode) (core.Entry, error) {
	return core.Entry{}, errDryRun
}
func (emptyDir) Remove(context.Context, string, core.Precondition) error { return fs.ErrNotExist }
func (emptyDir) Rename(context.Context, string, string, core.Precondition) (core.Entry, error) {
	return core.Entry{}, fs.ErrNotExist
}
func (emptyDir) SetAttr(context.Context, string, core.Attrs) (core.Entry, error) {
	return core.Entry{}, fs.ErrNotExist
}
func (emptyDir) Close() error { return nil }
