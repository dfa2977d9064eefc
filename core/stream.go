package core

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"slices"
	"sync"
)

// The streaming join: the snapshots' records are not collected into
// memory. Once the scans are in, each side's store loads them (in path
// order) into a bounded queue, and the join merges them with the scans
// path by path, and a path that is there, unchanged and agreed on
// both sides (a file or a link: an inert state, see inert) is counted and
// dropped on the spot. Only the other states are kept, with copies of
// their records, so that a resync that changes little holds its scans,
// its directories and its changes, not two records of every path.

// recordBatch is how many records a loading side hands over at a time, and
// recordQueue how many batches it may load ahead of the join.
const (
	recordBatch = 512
	recordQueue = 8
)

// errFallBack stops a streaming join that cannot finish as one (see
// streamGather); the records are then loaded whole.
var errFallBack = errors.New("records not streamable")

// recordStream is one side's records, loaded by a goroutine in batches.
type recordStream struct {
	ch    chan []Record
	err   error // the load's, read once ch is closed
	buf   []Record
	i     int
	ended bool
	last  string // the path of the last record passed on
	count int    // records passed on
	// entries counts the records passed on that stand for an entry
	// (countEntries).
	entries int
}

// startLoad starts loading side s's records into a recordStream.
func (e *engine) startLoad(ctx context.Context, wg *sync.WaitGroup, s Side) *recordStream {
	st := &recordStream{ch: make(chan []Record, recordQueue)}
	wg.Go(func() {
		defer close(st.ch)
		batch := make([]Record, 0, recordBatch)
		send := func() error {
			select {
			case st.ch <- batch:
				batch = make([]Record, 0, recordBatch)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		st.err = e.loadEach(ctx, s, func(r Record) error {
			batch = append(batch, r)
			if len(batch) == recordBatch {
				return send()
			}
			return nil
		})
		if st.err == nil && len(batch) > 0 {
			st.err = send()
		}
	})
	return st
}

// peek returns the next record, nil at the end of the records (or of a
// failed load: see err).
func (st *recordStream) peek() *Record {
	for st.i >= len(st.buf) {
		if st.ended {
			return nil
		}
		b, ok := <-st.ch
		if !ok {
			st.ended, st.buf = true, nil
			return nil
		}
		st.buf, st.i = b, 0
	}
	return &st.buf[st.i]
}

// next passes the record peek returned; it reports false when the records
// are out of path order.
func (st *recordStream) next() bool {
	r := &st.buf[st.i]
	st.i++
	st.count++
	if r.Type != TypeNone {
		st.entries++
	}
	ok := st.count == 1 || ComparePaths(st.last, r.Path) < 0
	st.last = r.Path
	return ok
}

// drain discards what is left, so that the loading goroutine ends.
func (st *recordStream) drain() {
	for range st.ch {
	}
}

// streamGather scans the sides (but a lazy destination), then loads their
// records and joins them as streams into the path states that are not
// inert; the inert ones are counted in e.elided. done is false, with
// the scans filled in and no error, when the join cannot be made so: the
// records are out of order, an entry was unreadable, a side's scan is
// empty, or a lazy destination must be scanned after all. The caller then
// loads the records whole and joins them as before.
func (e *engine) streamGather(ctx context.Context, scans *[2][]Entry, dst Side, lazy bool) (_ []PathState, done bool, err error) {
	var (
		wg      sync.WaitGroup
		streams [2]*recordStream
		errs    [2]error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		for _, st := range streams {
			if st != nil {
				st.drain()
			}
		}
		wg.Wait()
	}()
	// The scans are held compactly (entryTable) while the join runs; a
	// join that falls back expands them for the caller.
	var tabs [2]*entryTable
	defer func() {
		if !done && err == nil {
			for s := range 2 {
				scans[s] = tabs[s].entries()
			}
		}
	}()
	var scanWG sync.WaitGroup
	for s := range 2 {
		if lazy && Side(s) == dst {
			continue
		}
		scanWG.Go(func() {
			tabs[s], errs[s] = e.scanTable(ctx, Side(s))
			if errs[s] != nil {
				cancel()
			}
		})
	}
	scanWG.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, false, err
	}
	if lazy {
		if empty, err := e.rootEmpty(ctx, dst); err != nil || empty {
			return nil, false, err // scanned in full by the caller
		}
	}
	if e.unreadable.any() {
		return nil, false, nil
	}
	for s := range 2 {
		if tabs[s].len() == 0 && (!lazy || Side(s) != dst) {
			return nil, false, nil // the caller halts if the records say so
		}
	}
	// The records load once the scans are in: a store that shares its
	// connection with its side's backend (the agent's) cannot be held
	// back while the scan waits for the same connection.
	for s := range 2 {
		streams[s] = e.startLoad(ctx, &wg, Side(s))
	}
	j := &streamJoin{e: e, tabs: tabs, recs: streams, dopts: e.o.Policy.diffOptions(), elided: map[string]int{}}
	if lazy {
		j.lazy, j.dst, j.changed = true, dst, map[string]bool{}
	}
	if err := j.run(); err != nil {
		if errors.Is(err, errFallBack) {
			return nil, false, nil
		}
		return nil, false, err
	}
	var totals [2]int
	for s, st := range streams {
		if st.err != nil {
			return nil, false, st.err
		}
		totals[s] = st.count
	}
	scanned := [2]iter.Seq[*Entry]{tabs[0].all(), tabs[1].all()}
	if lazy {
		if totals[dst] == 0 || len(j.changed) > max(1000, totals[dst]/10) {
			return nil, false, nil // the destination is scanned in full
		}
		found, err := j.overlay(ctx)
		if errors.Is(err, errFallBack) || err == nil && e.unreadable.any() {
			return nil, false, nil
		} else if err != nil {
			return nil, false, err
		}
		scanned[dst] = pointers(found)
	}
	if err := e.checkLost(j.states, totals, scanned); err != nil {
		return nil, false, err
	}
	e.elided = j.elided
	e.exists = func(p string) bool {
		for s := range 2 {
			if _, ok := tabs[s].find(p); ok {
				return true
			}
		}
		return false
	}
	return j.states, true, nil
}

// streamJoin is the merge join of streamGather.
type streamJoin struct {
	e    *engine
	tabs [2]*entryTable // the scans, in path order
	recs [2]*recordStream
	// cur holds each side's current entry while it is looked at; a state
	// that is kept gets copies.
	cur    [2]Entry
	dopts  DiffOptions
	states []PathState
	// elided counts the inert paths per parent directory.
	elided map[string]int
	// lazy: dst is not scanned; its records stand for its entries except
	// on the paths in changed (the source changed them or below them),
	// which are looked at after the join (overlay).
	lazy    bool
	dst     Side
	changed map[string]bool
}

// run joins every path.
func (j *streamJoin) run() error {
	var si [2]int
	for {
		p, ok := "", false
		least := func(q string) {
			if !ok || q != p && ComparePaths(q, p) < 0 {
				p, ok = q, true
			}
		}
		var heads [2]*Record
		for s := range 2 {
			if si[s] < j.tabs[s].len() {
				least(j.tabs[s].path(si[s]))
			}
			if heads[s] = j.recs[s].peek(); heads[s] != nil {
				least(heads[s].Path)
			}
		}
		if !ok {
			return nil
		}
		ps := PathState{Path: p}
		var base [2]*Record // in the streams' buffers until copied
		for s := range 2 {
			for ; si[s] < j.tabs[s].len() && j.tabs[s].path(si[s]) == p; si[s]++ {
				j.tabs[s].at(si[s], &j.cur[s])
				ps.Cur[s] = &j.cur[s]
			}
			for r := heads[s]; r != nil && r.Path == p; r = j.recs[s].peek() {
				base[s] = r
				if !j.recs[s].next() {
					return errFallBack
				}
			}
		}
		if j.lazy {
			if src := j.dst.Other(); ps.Cur[src] != nil && Diff(base[src], ps.Cur[src], j.dopts) != Unchanged ||
				ps.Cur[src] == nil && base[src] != nil {
				j.mark(p)
			}
			if b := base[j.dst]; b != nil && b.Type != TypeNone {
				ps.Cur[j.dst] = &b.Entry // until overlay, if p changed
			}
		}
		ps.Base = base
		if p != "" && inert(&ps, j.dopts) {
			j.elided[Parent(p)]++
			continue
		}
		for s := range 2 {
			if ps.Cur[s] == &j.cur[s] {
				c := new(Entry)
				*c = j.cur[s]
				ps.Cur[s] = c
			}
			if b := base[s]; b != nil {
				r := new(Record)
				*r = *b
				ps.Base[s] = r
				if ps.Cur[s] == &b.Entry {
					ps.Cur[s] = &r.Entry
				}
			}
		}
		j.states = append(j.states, ps)
	}
}

// mark notes that the destination must be looked at on p and its parents.
func (j *streamJoin) mark(p string) {
	for ; p != "" && !j.changed[p]; p = Parent(p) {
		j.changed[p] = true
	}
}

// inert reports whether reconcile has nothing to do on a path but count
// it unchanged: a file or link there on both sides, agreed, unchanged, its
// change tokens where they were recorded (nothing to refresh), the sides'
// records in step. Directories are never inert: their states carry the
// tree (what a deletion below keeps, what a conflict leaves alone).
func inert(ps *PathState, o DiffOptions) bool {
	for s := range 2 {
		b, c := ps.Base[s], ps.Cur[s]
		if b == nil || c == nil || b.Status != StatusSynced || c.Type == TypeDir || b.Type == TypeDir ||
			b.Token != c.Token || Diff(b, c, o) != Unchanged {
			return false
		}
	}
	return !outOfStep(ps)
}

// overlay looks at the destination on the paths the source changed: each
// is Stat'ed, and its state takes what is there now (a state is added for
// a path only the destination has). It returns the entries found.
func (j *streamJoin) overlay(ctx context.Context) ([]Entry, error) {
	e, dst := j.e, j.dst
	paths := make([]string, 0, len(j.changed))
	for p := range j.changed {
		paths = append(paths, p)
	}
	slices.SortFunc(paths, ComparePaths)
	found := make([]Entry, 0, len(paths))
	at := make([]int, 0, len(paths)) // index in found per path, -1: nothing there
	b := e.eps[dst].Backend
	for _, p := range paths {
		en, err := b.Stat(ctx, p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			at = append(at, -1)
		case err != nil:
			e.unreadable.add(dst, p, err)
			return nil, nil // the caller falls back
		case en.Type == TypeSymlink && e.o.Links == LinksSkip:
			at = append(at, -1)
		default:
			at = append(at, len(found))
			found = append(found, en)
		}
	}
	var added []PathState
	k := 0
	for i, p := range paths {
		for k < len(j.states) && ComparePaths(j.states[k].Path, p) < 0 {
			k++
		}
		var cur *Entry
		if at[i] >= 0 {
			cur = &found[at[i]]
		}
		switch {
		case k < len(j.states) && j.states[k].Path == p:
			j.states[k].Cur[dst] = cur
		case p != "" && j.elided[Parent(p)] > 0:
			// Perhaps a path counted inert (a record below a file):
			// its state is gone, so the join cannot be made so.
			return nil, errFallBack
		case cur != nil:
			ps := PathState{Path: p}
			ps.Cur[dst] = cur
			added = append(added, ps)
		}
	}
	if len(added) > 0 {
		j.states = append(j.states, added...)
		slices.SortFunc(j.states, func(a, b PathState) int { return ComparePaths(a.Path, b.Path) })
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("destination: %w", ctx.Err())
	}
	return found, nil
}
