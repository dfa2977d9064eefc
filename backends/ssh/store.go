package ssh

import (
	"context"

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
	var e enc
	e.s(dir)
	e.bool(readOnly)
	if _, err := c.call(ctx, opStoreOpen, e.b); err != nil {
		return nil, err
	}
	return &Store{c: c}, nil
}

// Meta returns the stored session identity.
func (s *Store) Meta(ctx context.Context) (core.Meta, bool, error) {
	f, err := s.c.call(ctx, opStoreMeta, nil)
	if err != nil {
		return core.Meta{}, false, err
	}
	d := dec{b: f.payload}
	ok := d.bool()
	m := d.meta()
	return m, ok, d.err
}

// SetMeta replaces the stored session identity.
func (s *Store) SetMeta(ctx context.Context, m core.Meta) error {
	var e enc
	e.meta(m)
	_, err := s.c.call(ctx, opStoreSetMeta, e.b)
	return err
}

// Load calls fn for every record, in path order.
func (s *Store) Load(ctx context.Context, fn func(core.Record) error) error {
	return s.c.stream(ctx, opStoreLoad, nil, func(d *dec) error { return eachItem(d, (*dec).record, fn) })
}

// Put records r.
func (s *Store) Put(_ context.Context, r core.Record) error {
	var e enc
	e.record(&r)
	return s.c.oneWay(opStorePut, e.b)
}

// Delete drops the record of path.
func (s *Store) Delete(_ context.Context, path string) error {
	var e enc
	e.s(path)
	return s.c.oneWay(opStoreDelete, e.b)
}

// Flush makes every Put and Delete so far durable, and reports the first
// that failed.
func (s *Store) Flush(ctx context.Context) error {
	_, err := s.c.call(ctx, opStoreFlush, nil)
	return err
}

// Close closes the snapshot on the server.
func (s *Store) Close() error {
	_, err := s.c.call(context.Background(), opStoreClose, nil)
	return err
}

// SnapshotExists reports whether the session's snapshot exists on the
// server (dir as for OpenStore).
func (c *Client) SnapshotExists(ctx context.Context, dir string) (bool, error) {
	return c.snapshotAction(ctx, snapExists, dir, "")
}

// RemoveSnapshot drops the session's snapshot on the server (--reset).
func (c *Client) RemoveSnapshot(ctx context.Context, dir string) error {
	_, err := c.snapshotAction(ctx, snapRemove, dir, "")
	return err
}

// CopySnapshot copies the session's snapshot from one directory to
// another on the server (--remote-db-store-dir); false when there was
// none to copy.
func (c *Client) CopySnapshot(ctx context.Context, from, to string) (bool, error) {
	return c.snapshotAction(ctx, snapCopy, from, to)
}

func (c *Client) snapshotAction(ctx context.Context, act uint64, dir, to string) (bool, error) {
	var e enc
	e.u(act)
	e.s(dir)
	e.s(to)
	f, err := c.call(ctx, opSnapshot, e.b)
	if err != nil {
		return false, err
	}
	d := dec{b: f.payload}
	ok := d.bool()
	return ok, d.err
}
