package bboltfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/async-sync/async/core"
)

// Create starts a file at p. Its content goes to a new blob, outside the
// tree; Commit makes it the file's content. Partial files are not kept:
// opts.Partial is ignored.
func (b *Backend) Create(_ context.Context, p string, opts core.CreateOptions) (core.Writer, error) {
	if err := checkPath(p); err != nil {
		return nil, err
	}
	if p == "" {
		return nil, fmt.Errorf("bboltfs: create the root: %w", fs.ErrExist)
	}
	return &writer{b: b, path: p, opts: opts}, nil
}

// writer collects a file's content in chunks of chunkSize bytes, storing
// each full chunk in its own transaction; the last goes with the commit.
type writer struct {
	b      *Backend
	path   string
	opts   core.CreateOptions
	buf    []byte // the chunk being filled
	blob   uint64 // 0 until the first chunk is stored
	stored int64  // chunks stored
	size   int64
	done   bool
}

var errDone = errors.New("bboltfs: write after commit or abort")

func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, errDone
	}
	n := len(p)
	for len(p) > 0 {
		if w.buf == nil {
			c := int64(chunkSize)
			if w.opts.Size >= 0 {
				c = min(c, max(w.opts.Size-w.size, 1))
			}
			w.buf = make([]byte, 0, c)
		}
		k := min(len(p), chunkSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		w.size += int64(k)
		p = p[k:]
		if len(w.buf) == chunkSize {
			if err := w.b.db.Update(w.storeChunk); err != nil {
				return 0, fmt.Errorf("bboltfs: write %s: %w", core.DisplayPath(w.path), err)
			}
		}
	}
	return n, nil
}

// storeChunk stores the buffered chunk, starting the blob with the first.
func (w *writer) storeChunk(tx *bolt.Tx) error {
	if len(w.buf) == 0 {
		return nil
	}
	if w.blob == 0 {
		blob, err := seq(tx)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketPending).Put(blobKey(blob), []byte(w.path)); err != nil {
			return err
		}
		w.blob = blob
	}
	if err := tx.Bucket(bucketData).Put(chunkKey(w.blob, w.stored), w.buf); err != nil {
		return err
	}
	w.stored++
	w.buf = w.buf[:0] // refilled only after the transaction committed: bbolt holds on to the value until then
	return nil
}

// Commit stores the last chunk and points the path at the blob, in one
// transaction that checks the precondition first.
func (w *writer) Commit(context.Context) (core.Entry, error) {
	if w.done {
		return core.Entry{}, errDone
	}
	w.done = true
	var e core.Entry
	err := w.b.db.Update(func(tx *bolt.Tx) error {
		if err := parent(tx, "create", w.path); err != nil {
			return err
		}
		old, cur, err := found(tx, w.path)
		if err != nil {
			return err
		}
		if err := w.opts.Replace.Check(cur); err != nil {
			return err
		}
		if old != nil && old.typ == core.TypeDir {
			return fmt.Errorf("bboltfs: create %s: %w: %w", core.DisplayPath(w.path), errIsDir, fs.ErrExist)
		}
		if err := w.storeChunk(tx); err != nil {
			return err
		}
		r, err := w.record(tx)
		if err != nil {
			return err
		}
		if w.blob != 0 {
			if err := tx.Bucket(bucketPending).Delete(blobKey(w.blob)); err != nil {
				return err
			}
		}
		if old != nil && old.blob != 0 {
			if err := dropBlob(tx, old.blob, old.size); err != nil {
				return err
			}
		}
		if err := put(tx, w.path, &r); err != nil {
			return err
		}
		if old == nil {
			if err := touch(tx, core.Parent(w.path)); err != nil {
				return err
			}
		}
		e = r.entry(w.path)
		return nil
	})
	if err != nil {
		w.drop()
		return core.Entry{}, err
	}
	return e, nil
}

// record is the new file's record, with the attributes asked for.
func (w *writer) record(tx *bolt.Tx) (record, error) {
	token, err := seq(tx)
	if err != nil {
		return record{}, err
	}
	r := record{typ: core.TypeFile, mode: 0o644, size: w.size, mtime: time.Now(), token: token, ino: token, blob: w.blob}
	a := w.opts.Attrs
	if a.Mode != nil {
		r.mode = *a.Mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	}
	if a.MTime != nil {
		r.mtime = *a.MTime
	}
	if a.ATime != nil {
		r.atime = *a.ATime
	}
	return r, nil
}

// Abort drops the content. It is safe after Commit.
func (w *writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	return w.drop()
}

// drop deletes the blob written so far.
func (w *writer) drop() error {
	w.buf = nil
	if w.blob == 0 {
		return nil
	}
	blob, stored := w.blob, w.stored
	w.blob = 0
	return w.b.db.Update(func(tx *bolt.Tx) error {
		for i := range stored {
			if err := tx.Bucket(bucketData).Delete(chunkKey(blob, i)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketPending).Delete(blobKey(blob))
	})
}
