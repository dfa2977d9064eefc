package bboltfs

import (
	"context"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"

	"github.com/async-sync/async/core"
)

// file returns the entry and content blob of the file at p; op names the
// operation in errors.
func (b *Backend) file(op, p string) (e core.Entry, blob uint64, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		r, ok, err := get(tx, p)
		switch {
		case err != nil:
			return err
		case !ok:
			return notExist(op, p)
		case r.typ != core.TypeFile:
			return fmt.Errorf("bboltfs: %s %s: not a file", op, core.DisplayPath(p))
		}
		e, blob = r.entry(p), r.blob
		return nil
	})
	return e, blob, err
}

// Open opens the file at p for reading from offset.
func (b *Backend) Open(_ context.Context, p string, offset int64) (io.ReadCloser, core.Entry, error) {
	e, blob, err := b.file("open", p)
	if err != nil {
		return nil, core.Entry{}, err
	}
	return &reader{blobReader: blobReader{b: b, path: p, blob: blob, size: e.Size}, off: offset}, e, nil
}

// blobReader reads a blob's content chunk by chunk, one read transaction
// per chunk. A blob never changes; when the file is replaced meanwhile its
// chunks are gone and reading fails.
type blobReader struct {
	b    *Backend
	path string
	blob uint64
	size int64
}

// ReadAt implements io.ReaderAt.
func (r *blobReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		if off >= r.size {
			return n, io.EOF
		}
		k, err := r.chunk(off, p[n:])
		n += k
		off += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// chunk copies content at off, up to the end of its chunk, into p.
func (r *blobReader) chunk(off int64, p []byte) (int, error) {
	var n int
	err := r.b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketData).Get(chunkKey(r.blob, off/chunkSize))
		within := int(off % chunkSize)
		if v == nil || within >= len(v) {
			return fmt.Errorf("bboltfs: read %s: the file changed while it was read", core.DisplayPath(r.path))
		}
		n = copy(p, v[within:])
		return nil
	})
	return n, err
}

// reader reads a file sequentially.
type reader struct {
	blobReader
	off int64
}

func (r *reader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := r.chunk(r.off, p)
	r.off += int64(n)
	return n, err
}

// Close implements io.Closer (there is nothing to release).
func (r *reader) Close() error { return nil }
