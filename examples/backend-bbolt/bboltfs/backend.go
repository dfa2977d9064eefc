package bboltfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/async-sync/async/core"
)

// Scheme is the URL scheme of the backend: bbolt:///abs/path/to/file.db.
const Scheme = "bbolt"

// Options tune OpenFile.
type Options struct {
	// NoSync skips fsync after each transaction: much faster, but a crash
	// of the machine may lose the last writes (URL query nosync=1).
	NoSync bool
}

// Backend is a tree in one bbolt file. It implements core.Backend,
// core.Linker and core.Hasher, and is safe for concurrent use.
type Backend struct {
	db *bolt.DB
}

var (
	_ core.Backend = (*Backend)(nil)
	_ core.Linker  = (*Backend)(nil)
	_ core.Hasher  = (*Backend)(nil)
)

// Open opens the backend of a URL bbolt:///abs/path/to/file.db[?nosync=1],
// creating the database file when it does not exist. It has the signature
// plugins.Serve wants.
func Open(_ context.Context, rawURL string) (core.Backend, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("bboltfs: %w", err)
	}
	if u.Scheme != Scheme || (u.Host != "" && u.Host != "localhost") || u.User != nil || !filepath.IsAbs(u.Path) {
		return nil, fmt.Errorf("bboltfs: %q is not a URL bbolt:///absolute/path/to/file.db", u.Redacted())
	}
	var o Options
	if s := u.Query().Get("nosync"); s != "" {
		if o.NoSync, err = strconv.ParseBool(s); err != nil {
			return nil, fmt.Errorf("bboltfs: nosync=%q: %w", s, err)
		}
	}
	return OpenFile(u.Path, o)
}

// OpenFile opens (or creates) the database file at path.
func OpenFile(path string, o Options) (*Backend, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      5 * time.Second, // another process holds the file
		NoSync:       o.NoSync,
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("bboltfs: open %s: %w", path, err)
	}
	b := &Backend{db: db}
	if err := db.Update(b.init); err != nil {
		db.Close()
		return nil, fmt.Errorf("bboltfs: open %s: %w", path, err)
	}
	return b, nil
}

// init creates the buckets and the root, and drops the blobs an earlier
// process left pending.
func (b *Backend) init(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketMeta, bucketData, bucketPending, bucketInfo} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	if tx.Bucket(bucketInfo).Get(keyRoot) == nil {
		root := record{typ: core.TypeDir, mode: 0o755, mtime: time.Now()}
		if err := put(tx, "", &root); err != nil {
			return err
		}
	}
	pending := tx.Bucket(bucketPending)
	var blobs [][]byte
	pending.ForEach(func(k, _ []byte) error {
		blobs = append(blobs, append([]byte(nil), k...))
		return nil
	})
	for _, k := range blobs {
		if err := dropBlobKeys(tx, k); err != nil {
			return err
		}
		if err := pending.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Caps: a tree with directories, renames, settable mtimes and modes, links
// and stable file ids; no owners.
func (b *Backend) Caps() core.Caps {
	return core.Caps{Dirs: true, Rename: true, SetMTime: true, SetMode: true, Symlinks: true, FileIDs: true}
}

// Close closes the database file.
func (b *Backend) Close() error { return b.db.Close() }

// get returns the record of the entry at p.
func get(tx *bolt.Tx, p string) (record, bool, error) {
	var v []byte
	if p == "" {
		v = tx.Bucket(bucketInfo).Get(keyRoot)
	} else {
		v = tx.Bucket(bucketMeta).Get(metaKey(p))
	}
	if v == nil {
		return record{}, false, nil
	}
	r, err := decode(v)
	return r, err == nil, err
}

// found returns the entry at p for a precondition check (nil: nothing).
func found(tx *bolt.Tx, p string) (*record, *core.Entry, error) {
	r, ok, err := get(tx, p)
	if err != nil || !ok {
		return nil, nil, err
	}
	e := r.entry(p)
	return &r, &e, nil
}

// put stores the record of the entry at p.
func put(tx *bolt.Tx, p string, r *record) error {
	if p == "" {
		return tx.Bucket(bucketInfo).Put(keyRoot, r.encode())
	}
	return tx.Bucket(bucketMeta).Put(metaKey(p), r.encode())
}

// seq returns a new number for tokens, file ids and blobs.
func seq(tx *bolt.Tx) (uint64, error) {
	return tx.Bucket(bucketMeta).NextSequence()
}

// parent checks that the parent of p is a directory.
func parent(tx *bolt.Tx, op, p string) error {
	dir := core.Parent(p)
	r, ok, err := get(tx, dir)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("bboltfs: %s %s: parent %w", op, core.DisplayPath(p), fs.ErrNotExist)
	case r.typ != core.TypeDir:
		return fmt.Errorf("bboltfs: %s %s: parent %s is not a directory", op, core.DisplayPath(p), core.DisplayPath(dir))
	}
	return nil
}

// touch gives the directory dir a new mtime and token, as a filesystem
// does when an entry is added to it or removed from it.
func touch(tx *bolt.Tx, dir string) error {
	r, ok, err := get(tx, dir)
	if err != nil || !ok {
		return err
	}
	if r.token, err = seq(tx); err != nil {
		return err
	}
	r.mtime = time.Now()
	return put(tx, dir, &r)
}

// dropBlob deletes a blob's chunks.
func dropBlob(tx *bolt.Tx, blob uint64, size int64) error {
	data := tx.Bucket(bucketData)
	for i := range chunks(size) {
		if err := data.Delete(chunkKey(blob, i)); err != nil {
			return err
		}
	}
	return nil
}

// dropBlobKeys deletes all chunks of the blob with the key prefix k.
func dropBlobKeys(tx *bolt.Tx, k []byte) error {
	c := tx.Bucket(bucketData).Cursor()
	for ck, _ := c.Seek(k); ck != nil && len(ck) == len(k)+4 && string(ck[:len(k)]) == string(k); ck, _ = c.Seek(k) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// notExist is the error of a missing path.
func notExist(op, p string) error {
	return fmt.Errorf("bboltfs: %s %s: %w", op, core.DisplayPath(p), fs.ErrNotExist)
}

// Stat returns the entry at p.
func (b *Backend) Stat(_ context.Context, p string) (core.Entry, error) {
	var e core.Entry
	err := b.db.View(func(tx *bolt.Tx) error {
		r, ok, err := get(tx, p)
		if err != nil {
			return err
		}
		if !ok {
			return notExist("stat", p)
		}
		e = r.entry(p)
		return nil
	})
	return e, err
}

var errIsDir = errors.New("is a directory")
