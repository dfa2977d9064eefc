package client

import (
	"context"

	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
)

// Store is the remote snapshot, kept by the agent on the server (-B).
// Put and Delete travel one way; their errors surface at Flush.
type Store struct{ c *Client }

var _ core.Store = (*Store)(nil)

// OpenStore opens (creating unless readOnly) the session's snapshot on
// the server: in dir (-B, resolved inside the docroot), or in the sync
// root's private area when dir is empty.
func (c *Client) OpenStore(ctx context.Context, dir string, readOnly bool) (*Store, error) {
	var e protocol.Enc
	e.Str(dir)
	e.Bool(readOnly)
	if _, err := c.call(ctx, protocol.OpStoreOpen, e.B); err != nil {
		return nil, err
	}
	c.store.Store(storeOpen)
	return &Store{c: c}, nil
}

// Meta returns the stored session identity.
func (s *Store) Meta(ctx context.Context) (core.Meta, bool, error) {
	f, err := s.c.call(ctx, protocol.OpStoreMeta, nil)
	if err != nil {
		return core.Meta{}, false, err
	}
	d := protocol.Dec{B: f.Payload}
	ok := d.Bool()
	m := d.Meta()
	return m, ok, d.Err
}

// SetMeta replaces the stored session identity.
func (s *Store) SetMeta(ctx context.Context, m core.Meta) error {
	var e protocol.Enc
	e.Meta(m)
	_, err := s.c.call(ctx, protocol.OpStoreSetMeta, e.B)
	return err
}

// Load calls fn for every record, in path order.
func (s *Store) Load(ctx context.Context, fn func(core.Record) error) error {
	return s.c.stream(ctx, protocol.OpStoreLoad, nil, func(d *protocol.Dec) error { return eachItem(d, (*protocol.Dec).Record, fn) })
}

// Put records r.
func (s *Store) Put(_ context.Context, r core.Record) error {
	var e protocol.Enc
	e.Record(&r)
	return s.c.oneWay(protocol.OpStorePut, e.B)
}

// Delete drops the record of path.
func (s *Store) Delete(_ context.Context, path string) error {
	var e protocol.Enc
	e.Str(path)
	return s.c.oneWay(protocol.OpStoreDelete, e.B)
}

// Flush makes every Put and Delete so far durable, and reports the first
// that failed.
func (s *Store) Flush(ctx context.Context) error {
	_, err := s.c.call(ctx, protocol.OpStoreFlush, nil)
	return err
}

// Close closes the snapshot on the server.
func (s *Store) Close() error {
	_, err := s.c.call(context.Background(), protocol.OpStoreClose, nil)
	if err == nil {
		s.c.store.CompareAndSwap(storeOpen, storeClosed)
	}
	return err
}

// SnapshotExists reports whether the session's snapshot exists on the
// server (dir as for OpenStore).
func (c *Client) SnapshotExists(ctx context.Context, dir string) (bool, error) {
	return c.snapshotAction(ctx, protocol.SnapExists, dir, "")
}

// RemoveSnapshot drops the session's snapshot on the server (--reset).
func (c *Client) RemoveSnapshot(ctx context.Context, dir string) error {
	_, err := c.snapshotAction(ctx, protocol.SnapRemove, dir, "")
	return err
}

// CopySnapshot copies the session's snapshot from one directory to
// another on the server (--remote-db-store-dir); false when there was
// none to copy.
func (c *Client) CopySnapshot(ctx context.Context, from, to string) (bool, error) {
	return c.snapshotAction(ctx, protocol.SnapCopy, from, to)
}

func (c *Client) snapshotAction(ctx context.Context, act uint64, dir, to string) (bool, error) {
	var e protocol.Enc
	e.Uint(act)
	e.Str(dir)
	e.Str(to)
	f, err := c.call(ctx, protocol.OpSnapshot, e.B)
	if err != nil {
		return false, err
	}
	d := protocol.Dec{B: f.Payload}
	ok := d.Bool()
	return ok, d.Err
}

var _ core.PathLoader = (*Store)(nil)

// LoadPaths streams the records of some paths and of what is below some
// directories (a hinted run's sparse read).
func (s *Store) LoadPaths(ctx context.Context, paths, dirs []string, fn func(core.Record) error) error {
	var e protocol.Enc
	e.Strings(paths)
	e.Strings(dirs)
	if len(e.B) > protocol.MaxFrame/2 {
		// Too many to ask at once: filter a whole load.
		want := make(map[string]bool, len(paths))
		for _, p := range paths {
			want[p] = true
		}
		return s.Load(ctx, func(r core.Record) error {
			if want[r.Path] || below(r.Path, dirs) {
				return fn(r)
			}
			return nil
		})
	}
	return s.c.stream(ctx, protocol.OpLoadPaths, e.B, func(d *protocol.Dec) error { return eachItem(d, (*protocol.Dec).Record, fn) })
}

// below reports whether p lies below one of dirs ("" is the root).
func below(p string, dirs []string) bool {
	for _, d := range dirs {
		if d == "" && p != "" || len(p) > len(d) && p[len(d)] == '/' && p[:len(d)] == d {
			return true
		}
	}
	return false
}
