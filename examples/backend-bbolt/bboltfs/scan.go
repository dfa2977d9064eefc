package bboltfs

import (
	"bytes"
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/async-sync/async/core"
)

// scanBatch is how many entries one read transaction collects; the
// callback runs between transactions, never inside one.
const scanBatch = 1000

// Scan reports the tree in one ordered pass over the meta bucket, seeking
// past the subtrees the prune leaves out and past reserved directories.
// FollowLinks has no effect: links are reported as links.
func (b *Backend) Scan(ctx context.Context, opts core.ScanOptions, fn func(core.Entry) error) error {
	skip, descend, err := opts.Prune.Funcs()
	if err != nil {
		return err
	}
	var from []byte // where the next batch starts; nil: the beginning
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var batch []core.Entry
		var next []byte
		err := b.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketMeta).Cursor()
			k, v := c.First()
			if from != nil {
				k, v = c.Seek(from)
			}
			for k != nil {
				if len(batch) == scanBatch {
					next = bytes.Clone(k)
					return nil
				}
				r, err := decode(v)
				if err != nil {
					return err
				}
				p := pathOf(k)
				isDir := r.typ == core.TypeDir
				if core.IsReserved(p) || (skip != nil && skip(p, isDir)) {
					if isDir {
						k, v = c.Seek(subtreeEnd(k))
					} else {
						k, v = c.Next()
					}
					continue
				}
				e := r.entry(p)
				batch = append(batch, e)
				if isDir && descend != nil && !descend(&e) {
					k, v = c.Seek(subtreeEnd(k))
					continue
				}
				k, v = c.Next()
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if next == nil {
			return nil
		}
		from = next
	}
}
