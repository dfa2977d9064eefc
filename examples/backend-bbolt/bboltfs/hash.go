package bboltfs

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/async-sync/async/core"
)

// Hash fingerprints the file at p where it lives.
func (b *Backend) Hash(_ context.Context, p string, algo core.Checksum) (string, core.Entry, error) {
	var e core.Entry
	var blob uint64
	err := b.db.View(func(tx *bolt.Tx) error {
		r, ok, err := get(tx, p)
		switch {
		case err != nil:
			return err
		case !ok:
			return notExist("hash", p)
		case r.typ != core.TypeFile:
			return fmt.Errorf("bboltfs: hash %s: not a file", core.DisplayPath(p))
		}
		e, blob = r.entry(p), r.blob
		return nil
	})
	if err != nil {
		return "", core.Entry{}, err
	}
	sum, err := core.HashReaderAt(&blobReader{b: b, path: p, blob: blob, size: e.Size}, e.Size, algo)
	if err != nil {
		return "", core.Entry{}, fmt.Errorf("bboltfs: hash %s: %w", core.DisplayPath(p), err)
	}
	return sum, e, nil
}
