package bboltfs

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/async-sync/async/core"
)

// Mkdir creates a directory; an existing one is not an error.
func (b *Backend) Mkdir(_ context.Context, p string, mode fs.FileMode) (core.Entry, error) {
	if err := checkPath(p); err != nil {
		return core.Entry{}, err
	}
	var e core.Entry
	err := b.db.Update(func(tx *bolt.Tx) error {
		old, ok, err := get(tx, p)
		switch {
		case err != nil:
			return err
		case ok && old.typ == core.TypeDir:
			e = old.entry(p)
			return nil
		case ok:
			return fmt.Errorf("bboltfs: mkdir %s: %w", core.DisplayPath(p), fs.ErrExist)
		}
		if err := parent(tx, "mkdir", p); err != nil {
			return err
		}
		id, err := seq(tx)
		if err != nil {
			return err
		}
		r := record{typ: core.TypeDir, mode: mode.Perm(), mtime: time.Now(), token: id, ino: id}
		if err := put(tx, p, &r); err != nil {
			return err
		}
		e = r.entry(p)
		return touch(tx, core.Parent(p))
	})
	return e, err
}

// hasChildren reports whether the directory at p holds entries.
func hasChildren(tx *bolt.Tx, p string) bool {
	prefix := childPrefix(metaKey(p))
	if p == "" {
		k, _ := tx.Bucket(bucketMeta).Cursor().First()
		return k != nil
	}
	k, _ := tx.Bucket(bucketMeta).Cursor().Seek(prefix)
	return k != nil && bytes.HasPrefix(k, prefix)
}

// Remove removes a file, a link or an empty directory if it matches pre.
func (b *Backend) Remove(_ context.Context, p string, pre core.Precondition) error {
	if p == "" {
		return fmt.Errorf("bboltfs: remove the root: %w", core.ErrUnsupported)
	}
	return b.db.Update(func(tx *bolt.Tx) error {
		old, cur, err := found(tx, p)
		switch {
		case err != nil:
			return err
		case old == nil:
			return notExist("remove", p)
		}
		if err := pre.Check(cur); err != nil {
			return err
		}
		if old.typ == core.TypeDir && hasChildren(tx, p) {
			return fmt.Errorf("bboltfs: remove %s: %w", core.DisplayPath(p), core.ErrNotEmpty)
		}
		if err := dropBlob(tx, old.blob, old.size); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMeta).Delete(metaKey(p)); err != nil {
			return err
		}
		return touch(tx, core.Parent(p))
	})
}

// Rename moves the entry at from, with its subtree, to to if from matches
// pre and nothing is at to.
func (b *Backend) Rename(_ context.Context, from, to string, pre core.Precondition) (core.Entry, error) {
	if err := checkPath(to); err != nil {
		return core.Entry{}, err
	}
	if from == "" || to == "" || to == from || strings.HasPrefix(to, from+"/") {
		return core.Entry{}, fmt.Errorf("bboltfs: rename %s to %s: %w", core.DisplayPath(from), core.DisplayPath(to), fs.ErrInvalid)
	}
	var e core.Entry
	err := b.db.Update(func(tx *bolt.Tx) error {
		old, cur, err := found(tx, from)
		switch {
		case err != nil:
			return err
		case old == nil:
			return notExist("rename", from)
		}
		if err := pre.Check(cur); err != nil {
			return err
		}
		if _, ok, err := get(tx, to); err != nil || ok {
			if err == nil {
				err = fmt.Errorf("bboltfs: rename %s to %s: %w", core.DisplayPath(from), core.DisplayPath(to), fs.ErrExist)
			}
			return err
		}
		if err := parent(tx, "rename", to); err != nil {
			return err
		}
		if old.typ == core.TypeDir {
			if err := moveSubtree(tx, from, to); err != nil {
				return err
			}
		}
		if old.token, err = seq(tx); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMeta).Delete(metaKey(from)); err != nil {
			return err
		}
		if err := put(tx, to, old); err != nil {
			return err
		}
		e = old.entry(to)
		if err := touch(tx, core.Parent(from)); err != nil {
			return err
		}
		return touch(tx, core.Parent(to))
	})
	return e, err
}

// moveSubtree moves the descendants of the directory from below to.
func moveSubtree(tx *bolt.Tx, from, to string) error {
	meta := tx.Bucket(bucketMeta)
	prefix, dest := childPrefix(metaKey(from)), childPrefix(metaKey(to))
	type kv struct{ k, v []byte }
	var moved []kv
	c := meta.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		moved = append(moved, kv{bytes.Clone(k), bytes.Clone(v)})
	}
	for _, m := range moved {
		if err := meta.Delete(m.k); err != nil {
			return err
		}
		if err := meta.Put(append(bytes.Clone(dest), m.k[len(prefix):]...), m.v); err != nil {
			return err
		}
	}
	return nil
}

// SetAttr changes the mtime, atime or mode. Owners cannot be kept.
func (b *Backend) SetAttr(_ context.Context, p string, a core.Attrs) (core.Entry, error) {
	if a.UID != nil || a.GID != nil {
		return core.Entry{}, fmt.Errorf("bboltfs: setattr %s: %w", core.DisplayPath(p), core.ErrOwner)
	}
	var e core.Entry
	err := b.db.Update(func(tx *bolt.Tx) error {
		r, ok, err := get(tx, p)
		switch {
		case err != nil:
			return err
		case !ok:
			return notExist("setattr", p)
		}
		if a.MTime != nil {
			r.mtime = *a.MTime
		}
		if a.ATime != nil {
			r.atime = *a.ATime
		}
		if a.Mode != nil {
			r.mode = *a.Mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		}
		if r.token, err = seq(tx); err != nil {
			return err
		}
		if err := put(tx, p, &r); err != nil {
			return err
		}
		e = r.entry(p)
		return nil
	})
	return e, err
}

// Symlink creates a link at p, replacing what is there only if it matches
// pre (never a directory).
func (b *Backend) Symlink(_ context.Context, p, target string, pre core.Precondition) (core.Entry, error) {
	if err := checkPath(p); err != nil {
		return core.Entry{}, err
	}
	var e core.Entry
	err := b.db.Update(func(tx *bolt.Tx) error {
		if err := parent(tx, "symlink", p); err != nil {
			return err
		}
		old, cur, err := found(tx, p)
		if err != nil {
			return err
		}
		if err := pre.Check(cur); err != nil {
			return err
		}
		if old != nil && old.typ == core.TypeDir {
			return fmt.Errorf("bboltfs: symlink %s: %w: %w", core.DisplayPath(p), errIsDir, fs.ErrExist)
		}
		if old != nil && old.blob != 0 {
			if err := dropBlob(tx, old.blob, old.size); err != nil {
				return err
			}
		}
		id, err := seq(tx)
		if err != nil {
			return err
		}
		r := record{typ: core.TypeSymlink, mode: 0o777, size: int64(len(target)), mtime: time.Now(), token: id, ino: id, target: target}
		if err := put(tx, p, &r); err != nil {
			return err
		}
		e = r.entry(p)
		if old == nil {
			return touch(tx, core.Parent(p))
		}
		return nil
	})
	return e, err
}
