package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/async-sync/async/core"
)

// metaFile holds a copy of the stored session identity beside the Badger
// files, so that PeekMeta reads it without opening Badger: a run that
// learns from the change journal that nothing changed then pays no Badger
// Open and Close, which touch every table of a large snapshot (a
// no-change resync of a million files spent most of its time there).
//
// SetMeta removes the copy, durably, before it changes the stored
// identity, and writes the new copy, atomically, once the change is
// durable (for the identity of a run that stopped; a run going on has
// none): a copy that exists is the stored identity. A crash in between
// leaves none, and the next run opens the snapshot.
const metaFile = "meta.json"

// metaTemp is the copy being written, renamed over metaFile when whole.
const metaTemp = "meta.json.tmp"

// dropMetaCopy removes the copy of the session identity and makes the
// removal durable before the stored identity changes.
func (db *DB) dropMetaCopy() error {
	err := os.Remove(filepath.Join(db.dir, metaFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return db.errorf(fmt.Errorf("meta copy: %w", err))
	}
	if err := syncDir(db.dir); err != nil {
		return db.errorf(fmt.Errorf("meta copy: %w", err))
	}
	return nil
}

// writeMetaCopy writes b, the stored identity in JSON, as the copy:
// into a temporary file made durable, then renamed into place, through
// the directory's os.Root so that a link planted there is not followed.
func (db *DB) writeMetaCopy(b []byte) error {
	err := func() error {
		root, err := os.OpenRoot(db.dir)
		if err != nil {
			return err
		}
		defer root.Close()
		_ = root.Remove(metaTemp)
		f, err := root.OpenFile(metaTemp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, err = f.Write(b)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = root.Rename(metaTemp, metaFile)
		}
		if err != nil {
			_ = root.Remove(metaTemp)
			return err
		}
		return syncDir(db.dir)
	}()
	if err != nil {
		return db.errorf(fmt.Errorf("meta copy: %w", err))
	}
	return nil
}

// PeekMeta returns the session identity stored in the snapshot in dir
// without opening the database: it reads the copy SetMeta keeps beside
// it, while holding the lock Open takes, so that no run of the session
// changes it meanwhile. ok is false, with nothing held, when there is no
// snapshot or no copy (a snapshot written before copies were kept, or a
// run that stopped while changing its identity): the caller opens the
// snapshot instead. A snapshot held by another process returns a
// *LockedError. On success release lets the lock go; the caller must call
// it before it opens the snapshot.
func PeekMeta(dir string) (m core.Meta, ok bool, release func(), err error) {
	if !Exists(dir) {
		return core.Meta{}, false, nil, nil
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return core.Meta{}, false, nil, err
	}
	b, err := readMetaCopy(dir)
	if errors.Is(err, fs.ErrNotExist) {
		unlock()
		return core.Meta{}, false, nil, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		unlock()
		return core.Meta{}, false, nil, fmt.Errorf("snapshot %s: meta copy: %w", dir, err)
	}
	return m, true, unlock, nil
}

// readMetaCopy reads the copy of the identity, a regular file in dir (a
// link in its place counts as no copy: the snapshot is opened instead).
func readMetaCopy(dir string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	if fi, err := root.Lstat(metaFile); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file: %w", metaFile, fs.ErrNotExist)
	}
	return root.ReadFile(metaFile)
}
