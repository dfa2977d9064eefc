package client

import (
	"context"
	"sync/atomic"

	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
)

// Store is the remote snapshot, kept by the agent on the server (-B).
// Put and Delete travel one way; their errors surface at Flush.
type Store struct {
	c *Client
	// opened is the stored identity the open's answer carried, for the
	// first Meta (nil: none, or used, or replaced by SetMeta).
	opened atomic.Pointer[openedMeta]
}

// openedMeta is a stored identity as the agent read it at the open.
type openedMeta struct {
	m     core.Meta
	found bool
}

var _ core.Store = (*Store)(nil)

// OpenStore opens (creating unless readOnly) the session's snapshot on
// the server: in dir (-B, resolved inside the docroot), or in the sync
// root's private area when dir is empty.
func (c *Client) OpenStore(ctx context.Context, dir string, readOnly bool) (*Store, error) {
	var e protocol.Enc
	e.Str(dir)
	e.Bool(readOnly)
	f, err := c.call(ctx, protocol.OpStoreOpen, e.B)
	if err != nil {
		return nil, err
	}
	c.store.Store(storeOpen)
	st := &Store{c: c}
	if len(f.Payload) > 0 { // the stored identity (an older agent sends none)
		d := protocol.Dec{B: f.Payload}
		var om openedMeta
		om.found = d.Bool()
		om.m = d.Meta()
		if d.Err == nil {
			st.opened.Store(&om)
		}
	}
	return st, nil
}

// Meta returns the stored session identity: the first time, as the open's
// answer carried it (the store is this session's alone, and SetMeta drops
// that copy), then as the agent reads it.
func (s *Store) Meta(ctx context.Context) (core.Meta, bool, error) {
	if om := s.opened.Swap(nil); om != nil {
		return om.m, om.found, nil
	}
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
	s.opened.Store(nil)
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
