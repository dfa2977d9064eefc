package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/async-sync/async/core"
	"github.com/dgraph-io/badger/v4"
)

var _ core.PathLoader = (*DB)(nil)

// LoadPaths calls fn, in core.ComparePaths order and once each, for the
// record of every one of paths that has one, and for every record below
// each of dirs (a directory's own record only if paths names it; "" is
// the root, below which is everything). It reads those keys only: a
// point read per path and a prefix read per directory, so a run that
// knows what changed does not load the whole snapshot. Pending writes are
// written first, so LoadPaths sees them. An error from fn stops LoadPaths
// and is returned as is.
func (db *DB) LoadPaths(ctx context.Context, paths, dirs []string, fn func(core.Record) error) error {
	if err := db.readable(ctx); err != nil {
		return err
	}
	if len(dirs) == 0 && slices.IsSortedFunc(paths, core.ComparePaths) {
		return db.loadSorted(ctx, paths, fn)
	}
	type item struct {
		key, val []byte
	}
	var found []item
	err := db.view(func(txn *badger.Txn) error {
		for i, p := range paths {
			if i%1024 == 1023 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			it, err := txn.Get(recordKey(p))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("record %q: %w", p, err)
			}
			v, err := it.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("record %q: %w", p, err)
			}
			found = append(found, item{it.KeyCopy(nil), v})
		}
		for _, d := range dirs {
			prefix := recordKey(d)
			if d != "" {
				prefix = append(prefix, 0)
			}
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
			n := 0
			for it.Seek(prefix); it.Valid(); it.Next() {
				if n++; n%1024 == 0 {
					if err := ctx.Err(); err != nil {
						it.Close()
						return err
					}
				}
				k := it.Item().KeyCopy(nil)
				if len(k) == 1 {
					continue // the root's own record
				}
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					it.Close()
					return fmt.Errorf("record %q: %w", keyPath(k), err)
				}
				found = append(found, item{k, v})
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		return db.errorf(fmt.Errorf("load paths: %w", err))
	}
	// Key order is path order.
	slices.SortFunc(found, func(a, b item) int { return bytes.Compare(a.key, b.key) })
	found = slices.CompactFunc(found, func(a, b item) bool { return bytes.Equal(a.key, b.key) })
	for _, x := range found {
		var r core.Record
		if err := decodeKeyRecord(x.key, x.val, &r); err != nil {
			return db.errorf(fmt.Errorf("load paths: record %q: %w", keyPath(x.key), err))
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// loadSorted is LoadPaths of paths already in core.ComparePaths order (key
// order), without directories: each record is decoded where Badger holds
// it and passed on as it is read, with no copy of its key and value kept
// until all are read and sorted (a journal-driven resync of a large tree
// reads tens of thousands, and every page a short run allocates afresh
// costs a page fault).
func (db *DB) loadSorted(ctx context.Context, paths []string, fn func(core.Record) error) error {
	var key []byte
	err := db.view(func(txn *badger.Txn) error {
		for i, p := range paths {
			if i%1024 == 1023 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if i > 0 && p == paths[i-1] {
				continue
			}
			key = appendRecordKey(key[:0], p)
			it, err := txn.Get(key)
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("record %q: %w", p, err)
			}
			var r core.Record
			if err := it.Value(func(v []byte) error { return decodeKeyRecord(key, v, &r) }); err != nil {
				return fmt.Errorf("record %q: %w", p, err)
			}
			if err := fn(r); err != nil {
				return callerError{err}
			}
		}
		return nil
	})
	return db.readError("load paths", err)
}
