package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/snapshot"
)

// Snapshots is where one side of a session keeps its snapshot: a local
// directory (Dir), the SSH agent on a server, or nowhere yet (None).
type Snapshots interface {
	// Open opens the snapshot and returns it with the function that
	// closes it. In a dry run nothing is created: it returns a nil store
	// (and no error) when there is none to read, or when reset asks to
	// start over.
	Open(ctx context.Context, dryRun, reset bool) (core.Store, func(), error)
	// Remove drops the snapshot (a reset); one that is open elsewhere is
	// refused.
	Remove(ctx context.Context) error
	// Restore copies the snapshot back from its store directory when the
	// working copy is missing, and reports whether it did.
	Restore(ctx context.Context) (bool, error)
	// Save copies the snapshot, closed by now, to its store directory,
	// and reports whether it did.
	Save(ctx context.Context) (bool, error)
}

// MetaPeeker is a Snapshots whose stored session identity can be read
// without opening it (Dir).
type MetaPeeker interface {
	// PeekMeta returns the stored identity, holding the snapshot's lock
	// until release; ok is false, with nothing held, when it cannot be
	// read so and the snapshot must be opened instead.
	PeekMeta() (m core.Meta, ok bool, release func(), err error)
}

var _ MetaPeeker = (*Dir)(nil)

// Dir is a snapshot in a local directory (the snapshot package's
// database), with an optional copy kept in StoreDir.
type Dir struct {
	// Path is the snapshot's directory.
	Path string
	// StoreDir is where a copy is kept between runs ("": none).
	StoreDir string
}

var _ Snapshots = (*Dir)(nil)

// Open opens the snapshot for a run. A dry run never creates one: it
// reads an existing snapshot, or plans as a first run (a nil store). A
// directory that cannot be created is a *core.ConfigError.
func (d *Dir) Open(_ context.Context, dryRun, reset bool) (core.Store, func(), error) {
	if dryRun {
		if reset || !snapshot.Exists(d.Path) {
			return nil, nil, nil
		}
		db, err := snapshot.Open(d.Path, snapshot.Options{ReadOnly: true})
		if err != nil {
			return nil, nil, err
		}
		return db, func() { db.Close() }, nil
	}
	db, err := snapshot.Open(d.Path, snapshot.Options{})
	if err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
			return nil, nil, &core.ConfigError{Err: fmt.Errorf("cannot create the snapshot directory %s (%v); give -b/-B a writable directory outside the synchronized trees", d.Path, err)}
		}
		return nil, nil, err
	}
	return db, func() { db.Close() }, nil
}

// PeekMeta reads the snapshot's stored session identity without opening
// it, holding its lock until release (snapshot.PeekMeta).
func (d *Dir) PeekMeta() (m core.Meta, ok bool, release func(), err error) {
	return snapshot.PeekMeta(d.Path)
}

// Remove drops the snapshot; it refuses (a *snapshot.LockedError) while
// the snapshot is open.
func (d *Dir) Remove(context.Context) error { return snapshot.Remove(d.Path) }

// Restore brings back the snapshot from its store directory when the
// working copy is missing.
func (d *Dir) Restore(context.Context) (bool, error) {
	from, to := d.StoreDir, d.Path
	if from == "" || snapshot.Exists(to) || !snapshot.Exists(from) {
		return false, nil
	}
	if err := copyTree(from, to); err != nil {
		return false, fmt.Errorf("restore the snapshot from %s: %w", from, err)
	}
	return true, nil
}

// Save copies the snapshot, closed by now, to its store directory: into a
// fresh directory, then swapped in, so that the stored copy is always a
// whole one.
func (d *Dir) Save(context.Context) (bool, error) {
	to, from := d.StoreDir, d.Path
	if to == "" || !snapshot.Exists(from) {
		return false, nil
	}
	tmp := to + ".new"
	os.RemoveAll(tmp)
	if err := copyTree(from, tmp); err != nil {
		return false, fmt.Errorf("store the snapshot in %s: %w", to, err)
	}
	old := to + ".old"
	os.RemoveAll(old)
	if err := os.Rename(to, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("store the snapshot in %s: %w", to, err)
	}
	if err := os.Rename(tmp, to); err != nil {
		return false, fmt.Errorf("store the snapshot in %s: %w", to, err)
	}
	os.RemoveAll(old)
	return true, nil
}

// copyTree copies the regular files of a snapshot directory (it has no
// subdirectories) into dir, which is created; the lock and pid files stay
// behind.
func copyTree(from, dir string) error {
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == "LOCK" || e.Name() == "pid" {
			continue
		}
		if err := copyFile(filepath.Join(from, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// copyFile copies one file, made durable.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// None stands for the snapshot of a root that does not exist yet (a dry
// run that would create it): there is none, and nothing to restore or
// save.
type None struct{}

var _ Snapshots = None{}

// Open returns no store.
func (None) Open(context.Context, bool, bool) (core.Store, func(), error) { return nil, nil, nil }

// Remove does nothing.
func (None) Remove(context.Context) error { return nil }

// Restore does nothing.
func (None) Restore(context.Context) (bool, error) { return false, nil }

// Save does nothing.
func (None) Save(context.Context) (bool, error) { return false, nil }

// Recorded is what a snapshot at rest says about its session.
type Recorded struct {
	// Meta is the session identity; HasMeta is false for a snapshot no
	// run finished setting up.
	Meta    core.Meta
	HasMeta bool
	// Entries is the number of entries it records, the root aside
	// (counted up to Peek's upTo).
	Entries int
}

// errCounted stops Peek's count once it reached what was asked.
var errCounted = errors.New("counted enough")

// Peek reads the snapshot in dir without changing what it records: its
// session identity and how many entries it records, counted up to upTo
// (0: none; 1 says whether there are any, without reading them all). It
// opens the snapshot read-only or, when that fails after a crash (the
// database must replay its log), as a run would. A snapshot a run holds
// gives a *snapshot.LockedError.
func Peek(ctx context.Context, dir string, upTo int) (Recorded, error) {
	var rec Recorded
	db, err := snapshot.Open(dir, snapshot.Options{ReadOnly: true})
	var le *snapshot.LockedError
	if err != nil && !errors.As(err, &le) {
		db, err = snapshot.Open(dir, snapshot.Options{})
	}
	if err != nil {
		return rec, err
	}
	defer db.Close()
	if rec.Meta, rec.HasMeta, err = db.Meta(ctx); err != nil || !rec.HasMeta || upTo <= 0 {
		return rec, err
	}
	err = db.Load(ctx, func(r core.Record) error {
		if r.Path != "" {
			if rec.Entries++; rec.Entries >= upTo {
				return errCounted
			}
		}
		return nil
	})
	if errors.Is(err, errCounted) {
		err = nil
	}
	return rec, err
}
