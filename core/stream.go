package core

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"slices"
	"sync"
	"time"
)

// The streaming join: neither the scans nor the snapshots' records are
// collected into memory. A side whose backend scans in path order
// (Caps.OrderedScan) streams its entries, and each side's store loads its
// records (in path order) into a bounded queue; the join merges them path
// by path, and a path that is there, unchanged and agreed on both sides (a
// file or a link: an inert state, see inert) is counted and dropped on the
// spot. Only the other states are kept, with copies of their entries and
// records, so that a resync that changes little holds its directories in
// flight and its changes, not the tree. A side whose scan is not ordered
// is collected whole into a compact entryTable and sorted first.

// streamBatch is how many entries or records a streaming side hands over
// at a time, and streamQueue how many batches it may hold ahead of the
// join.
const (
	streamBatch = 512
	streamQueue = 8
)

// errFallBack stops a streaming join that cannot finish as one (see
// streamGather); the sides are then scanned and loaded whole.
var errFallBack = errors.New("records not streamable")

// stream is one side's entries or records, produced by a goroutine in
// batches, in path order.
type stream[T any] struct {
	ch  chan []T
	err error // the producer's, read once ch is closed
	// free takes batches back to the producer: each one two batches
	// after the reader let go of it (the path being joined may still
	// point into the one before the current).
	free  chan []T
	prev  []T
	buf   []T
	i     int
	ended bool
	path  func(*T) string
	last  string // the path of the last item passed on
	count int    // items passed on
}

// startStream runs produce in a goroutine: each item it passes to its
// argument is queued for the stream's reader (by value: a pointer passed
// through a function value would put each one on the heap).
func startStream[T any](ctx context.Context, wg *sync.WaitGroup, path func(*T) string, produce func(add func(T) error) error) *stream[T] {
	st := &stream[T]{ch: make(chan []T, streamQueue), free: make(chan []T, streamQueue), path: path}
	wg.Go(func() {
		defer close(st.ch)
		fresh := func() []T {
			select {
			case b := <-st.free:
				return b[:0]
			default:
				return make([]T, 0, streamBatch)
			}
		}
		batch := fresh()
		send := func() error {
			select {
			case st.ch <- batch:
				batch = fresh()
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		st.err = produce(func(x T) error {
			batch = append(batch, x)
			if len(batch) == streamBatch {
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

// peek returns the next item, nil at the end of the stream (or of a
// failed one: see err).
func (st *stream[T]) peek() *T {
	for st.i >= len(st.buf) {
		if st.ended {
			return nil
		}
		b, ok := <-st.ch
		if !ok {
			st.ended, st.buf, st.prev = true, nil, nil
			return nil
		}
		if st.prev != nil {
			select {
			case st.free <- st.prev:
			default:
			}
		}
		st.prev, st.buf, st.i = st.buf, b, 0
	}
	return &st.buf[st.i]
}

// next passes the item peek returned; it reports false when the items
// are out of path order.
func (st *stream[T]) next() bool {
	p := st.path(&st.buf[st.i])
	st.i++
	st.count++
	ok := st.count == 1 || ComparePaths(st.last, p) < 0
	st.last = p
	return ok
}

// drain discards what is left, so that the producing goroutine ends.
func (st *stream[T]) drain() {
	if st == nil {
		return
	}
	for range st.ch {
	}
}

// recordStream is one side's records.
type recordStream = stream[Record]

// startLoad starts loading side s's records into a recordStream (logged
// at debug level once loaded, as load does; its time includes the waits
// for the join).
func (e *engine) startLoad(ctx context.Context, wg *sync.WaitGroup, s Side) *recordStream {
	return startStream(ctx, wg, func(r *Record) string { return r.Path }, func(add func(Record) error) error {
		start, n := time.Now(), 0
		err := e.loadEach(ctx, s, func(r Record) error {
			n++
			return add(r)
		})
		if err == nil && e.lv.debug {
			e.log.Debug("snapshot loaded", "side", s.String(), "records", n, "took", time.Since(start))
		}
		return err
	})
}

// startScan starts scanning side s in path order (ScanOptions.Ordered)
// into a stream; known, if not nil, are the side's records for the scan
// to look up (ScanOptions.KnownAt).
func (e *engine) startScan(ctx context.Context, wg *sync.WaitGroup, s Side, known *recordStream) *stream[Entry] {
	var at func(string) (Entry, bool)
	if known != nil {
		at = lookup(known)
	}
	return startStream(ctx, wg, func(en *Entry) string { return en.Path }, func(add func(Entry) error) error {
		return e.scanEach(ctx, s, true, at, add)
	})
}

// startKnown starts loading side s's records of files once more, for its
// ordered scan to look up (an object store's listing lacks what they
// hold): beside the scan, a few batches ahead of it, never whole. Nil
// when the side keeps no records.
func (e *engine) startKnown(ctx context.Context, wg *sync.WaitGroup, s Side) *recordStream {
	st := e.eps[s].Store
	if st == nil {
		return nil
	}
	return startStream(ctx, wg, func(r *Record) string { return r.Path }, func(add func(Record) error) error {
		return st.Load(ctx, func(r Record) error {
			if r.Type == TypeNone || r.Type == TypeDir {
				return nil
			}
			return add(r)
		})
	})
}

// lookup returns a lookup of the records st streams, as entries by
// path; the paths asked must increase. Records out of order end the
// lookups (the scan then asks the backend for what they would have said;
// the join falls back on its own stream of them).
func lookup(st *recordStream) func(p string) (Entry, bool) {
	broken := false
	return func(p string) (Entry, bool) {
		for !broken {
			r := st.peek()
			if r == nil {
				break
			}
			switch c := ComparePaths(r.Path, p); {
			case c == 0:
				return r.Entry, true
			case c > 0:
				return Entry{}, false
			}
			broken = !st.next()
		}
		return Entry{}, false
	}
}

// scanCursor walks a side's scan in path order.
type scanCursor interface {
	// peek returns the next entry, nil at the end; it is valid until
	// next.
	peek() *Entry
	// next passes the entry peek returned; it reports false when the
	// entries are out of path order.
	next() bool
}

// tableCursor walks an entryTable.
type tableCursor struct {
	t   *entryTable
	i   int
	at  int // the index cur holds, -1: none
	cur Entry
}

func (c *tableCursor) peek() *Entry {
	if c.i >= c.t.len() {
		return nil
	}
	if c.at != c.i {
		c.t.at(c.i, &c.cur)
		c.at = c.i
	}
	return &c.cur
}

func (c *tableCursor) next() bool { c.i++; return true }

// streamGather scans the sides (but a lazy destination), loads their
// records and joins them as streams into the path states that are not
// inert; the inert ones are counted in e.elided. A side that scans in
// order streams its scan into the join, its records loading alongside;
// another side's scan is collected whole, and its records load once it
// ends (a store that shares its connection with its side's backend, the
// agent's, is not held back while the scan waits for the same
// connection). done is false, with no error, when the join cannot be
// made so: the records or an ordered scan are out of order, an entry was
// unreadable, a side's scan is empty (an ordered one: while its records
// list entries), a lazy destination must be scanned after all, or most
// of a side's records are lost (checkLost then needs the scans). kept
// then says which sides' scans are filled in; the caller scans the
// others (those streamed) again, loads the records whole and joins them
// as before.
func (e *engine) streamGather(ctx context.Context, scans *[2][]Entry, dst Side, lazy bool) (_ []PathState, kept [2]bool, done bool, err error) {
	outer := ctx
	var (
		wg      sync.WaitGroup
		streams [2]*recordStream
		known   [2]*recordStream // an object store's records, for its ordered scan
		ordered [2]*stream[Entry]
		tabs    [2]*entryTable // the scans that are not streamed, in path order
		errs    [2]error
		scanned [2]bool // the sides scanned
	)
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		for s := range 2 {
			streams[s].drain()
			known[s].drain()
			ordered[s].drain()
		}
		wg.Wait()
		if done || err != nil {
			e.releaseLinks(done)
			return
		}
		e.releaseLinks(false)
		for s := range 2 {
			if ordered[s] != nil {
				e.unreadable.forget(Side(s)) // found again by the scan that follows
			}
			if tabs[s] != nil {
				scans[s], kept[s] = tabs[s].entries(), true
			}
		}
	}()
	for s := range 2 {
		scanned[s] = !lazy || Side(s) != dst
	}
	if lazy {
		// The records' load starts beside the probe of the root: a
		// server's destination answers both in one round trip's time. An
		// empty root (unmounted?) ends it unread (the deferred cancel).
		streams[dst] = e.startLoad(ctx, &wg, dst)
		if empty, err := e.rootEmpty(ctx, dst); err != nil || empty {
			return nil, kept, false, err // scanned in full by the caller
		}
		// A destination without records (a first run) is scanned in full:
		// known before the source's scan starts.
		if streams[dst].peek() == nil {
			return nil, kept, false, nil
		}
	}
	var scanWG sync.WaitGroup
	for s := range 2 {
		switch {
		case !scanned[s]:
		case e.caps[s].OrderedScan:
			e.holdLinks(Side(s))
			if !e.caps[s].MTimeFromFS {
				known[s] = e.startKnown(ctx, &wg, Side(s))
			}
			ordered[s] = e.startScan(ctx, &wg, Side(s), known[s])
			streams[s] = e.startLoad(ctx, &wg, Side(s))
		default:
			scanWG.Go(func() {
				if tabs[s], errs[s] = e.scanTable(ctx, Side(s)); errs[s] != nil {
					cancel()
					return
				}
				streams[s] = e.startLoad(ctx, &wg, Side(s)) // its own scan is in
			})
		}
	}
	scanWG.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, kept, false, err
	}
	var cursors [2]scanCursor
	for s := range 2 {
		switch {
		case ordered[s] != nil:
			cursors[s] = ordered[s]
		case tabs[s] != nil:
			if tabs[s].len() == 0 {
				return nil, kept, false, nil // the caller halts if the records say so
			}
			cursors[s] = &tableCursor{t: tabs[s], at: -1}
		}
	}
	if e.unreadable.any() {
		return nil, kept, false, nil
	}
	j := &streamJoin{e: e, scans: cursors, recs: streams, dopts: e.o.Policy.diffOptions(), elided: map[string]int{}}
	if lazy {
		j.lazy, j.dst, j.changed = true, dst, map[string]bool{}
	}
	if err := j.run(); err != nil {
		if errors.Is(err, errFallBack) {
			return nil, kept, false, nil
		}
		return nil, kept, false, err
	}
	var totals [2]int
	for s := range 2 {
		if st := ordered[s]; st != nil {
			if st.err != nil {
				return nil, kept, false, st.err
			}
			if st.count == 0 && j.entries[s] > 0 {
				return nil, kept, false, nil // the caller halts
			}
		}
		if st := streams[s]; st.err != nil {
			return nil, kept, false, st.err
		}
		totals[s] = streams[s].count
	}
	if e.unreadable.any() {
		return nil, kept, false, nil
	}
	// An ordered scan is gone: checkLost asks for it only when most of
	// a side is lost, and the join then falls back to whole scans.
	needed := false
	gone := func(func(*Entry) bool) { needed = true }
	var found [2]iter.Seq[*Entry]
	for s := range 2 {
		found[s] = gone
		if tabs[s] != nil {
			found[s] = tabs[s].all()
		}
	}
	if lazy {
		if len(j.changed) > max(1000, totals[dst]/10) {
			return nil, kept, false, nil // the destination is scanned in full
		}
		there, err := j.overlay(ctx)
		if errors.Is(err, errFallBack) || err == nil && e.unreadable.any() {
			return nil, kept, false, nil
		} else if err != nil {
			return nil, kept, false, err
		}
		found[dst] = pointers(there)
	}
	if err := e.checkLost(j.states, totals, found); err != nil {
		if needed {
			return nil, kept, false, nil
		}
		return nil, kept, false, err
	}
	e.elided = j.elided
	e.exists = func(p string) bool {
		for s := range 2 {
			if !scanned[s] {
				continue
			}
			if tabs[s] == nil { // streamed: asked on demand (a conflict's name: rare)
				if n := j.elided[Parent(p)]; n == 0 {
					continue // every path there is among the states
				}
				if _, err := e.eps[s].Backend.Stat(outer, p); !errors.Is(err, fs.ErrNotExist) {
					return true // there, or perhaps: not taken
				}
			} else if _, ok := tabs[s].find(p); ok {
				return true
			}
		}
		return false
	}
	return j.states, kept, true, nil
}

// streamJoin is the merge join of streamGather.
type streamJoin struct {
	e     *engine
	scans [2]scanCursor // nil: not scanned (a lazy destination)
	recs  [2]*recordStream
	// cur holds each side's current entry while it is looked at; a state
	// that is kept gets copies.
	cur    [2]Entry
	dopts  DiffOptions
	states []PathState // what run kept, once it returned nil
	// chunk and chunks hold the kept states while run runs (keep).
	chunk  []PathState
	chunks [][]PathState
	// The copies kept states get, allocated a chunk at a time: a first
	// copy keeps every path, until the run ends.
	entrySlab  slab[Entry]
	recordSlab slab[Record]
	// elided counts the inert paths per parent directory.
	elided map[string]int
	// entries counts each side's records that stand for an entry.
	entries [2]int
	// lazy: dst is not scanned; its records stand for its entries except
	// on the paths in changed (the source changed them or below them),
	// which are looked at after the join (overlay).
	lazy    bool
	dst     Side
	changed map[string]bool
}

// run joins every path.
func (j *streamJoin) run() error {
	for {
		p, ok := "", false
		least := func(q string) {
			if !ok || q != p && ComparePaths(q, p) < 0 {
				p, ok = q, true
			}
		}
		var heads [2]*Record
		for s := range 2 {
			if c := j.scans[s]; c != nil {
				if en := c.peek(); en != nil {
					least(en.Path)
				}
			}
			if heads[s] = j.recs[s].peek(); heads[s] != nil {
				least(heads[s].Path)
			}
		}
		if !ok {
			j.states = slices.Concat(append(j.chunks, j.chunk)...)
			j.chunks, j.chunk = nil, nil
			return nil
		}
		ps := PathState{Path: p}
		var base [2]*Record // in the streams' buffers until copied
		for s := range 2 {
			if c := j.scans[s]; c != nil {
				for en := c.peek(); en != nil && en.Path == p; en = c.peek() {
					j.cur[s] = *en
					ps.Cur[s] = &j.cur[s]
					if !c.next() {
						return errFallBack
					}
				}
			}
			for r := heads[s]; r != nil && r.Path == p; r = j.recs[s].peek() {
				base[s] = r
				if r.Type != TypeNone {
					j.entries[s]++
				}
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
				c := j.entrySlab.new()
				*c = j.cur[s]
				ps.Cur[s] = c
			}
			if b := base[s]; b != nil {
				r := j.recordSlab.new()
				*r = *b
				ps.Base[s] = r
				if ps.Cur[s] == &b.Entry {
					ps.Cur[s] = &r.Entry
				}
			}
		}
		j.keep(ps)
	}
}

// keep adds a state the join keeps. The states are gathered in chunks
// and put together once, when the join ends: growing one slice would copy
// it again and again, some four times its final size on a first copy,
// which keeps every path.
func (j *streamJoin) keep(ps PathState) {
	if len(j.chunk) == cap(j.chunk) {
		if j.chunk != nil {
			j.chunks = append(j.chunks, j.chunk)
		}
		j.chunk = make([]PathState, 0, min(max(2*cap(j.chunk), 256), 1<<16))
	}
	j.chunk = append(j.chunk, ps)
}

// slabChunk is how many values a slab allocates at a time.
const slabChunk = 128

// slab hands out zero values of T from chunks of slabChunk, one
// allocation per chunk instead of one per value. A chunk lives as long as
// any of its values: for values that live together.
type slab[T any] struct{ free []T }

// new returns a pointer to a zero T.
func (s *slab[T]) new() *T {
	if len(s.free) == 0 {
		s.free = make([]T, slabChunk)
	}
	p := &s.free[0]
	s.free = s.free[1:]
	return p
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
