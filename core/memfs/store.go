package memfs

import (
	"context"
	"slices"
	"sync"

	"github.com/async-sync/async/core"
)

// Store is an in-memory core.Store (a snapshot that lives as long as the
// value), for tests. It is safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	meta    core.Meta
	hasMeta bool
	records map[string]core.Record
}

var _ core.Store = (*Store)(nil)

// NewStore returns an empty store.
func NewStore() *Store { return &Store{records: map[string]core.Record{}} }

// Meta returns the stored session identity.
func (s *Store) Meta(ctx context.Context) (core.Meta, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.meta
	m.Filters, m.KeepDirs = slices.Clone(m.Filters), slices.Clone(m.KeepDirs)
	return m, s.hasMeta, nil
}

// SetMeta replaces the stored session identity.
func (s *Store) SetMeta(ctx context.Context, m core.Meta) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m.Filters, m.KeepDirs = slices.Clone(m.Filters), slices.Clone(m.KeepDirs)
	s.meta, s.hasMeta = m, true
	return nil
}

// Load calls fn for every record in path order.
func (s *Store) Load(ctx context.Context, fn func(core.Record) error) error {
	for _, r := range s.Records() {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// Records returns the records in path order.
func (s *Store) Records() []core.Record {
	s.mu.Lock()
	out := make([]core.Record, 0, len(s.records))
	for _, r := range s.records {
		out = append(out, r)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b core.Record) int { return core.ComparePaths(a.Path, b.Path) })
	return out
}

// Put records r.
func (s *Store) Put(ctx context.Context, r core.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[r.Path] = r
	return nil
}

// Delete drops the record of path.
func (s *Store) Delete(ctx context.Context, path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, path)
	return nil
}

// Flush does nothing: every write is already in place.
func (s *Store) Flush(ctx context.Context) error { return nil }

// ReversedStore loads its records in reverse path order: a store the
// streaming join cannot stream (it falls back on whole loads and scans),
// for tests of that fallback.
type ReversedStore struct{ *Store }

// Load calls fn for every record, last path first.
func (s ReversedStore) Load(ctx context.Context, fn func(core.Record) error) error {
	recs := s.Records()
	slices.Reverse(recs)
	for _, r := range recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}
