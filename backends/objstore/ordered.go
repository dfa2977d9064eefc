package objstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/async-sync/async/core"
)

// KeyOrdered is implemented by buckets that can say whether their List
// passes the keys in ascending byte order (the lexicographic order of
// their UTF-8 bytes), as S3's ListObjectsV2 and gocloud.dev's blob.List
// promise. Such a bucket's tree is scanned as a stream in path order
// (core.Caps.OrderedScan) holding only a few entries at a time; others are
// listed whole first. A bucket that claims the order and breaks it costs
// a scan: core finds the entries out of order and scans again, whole.
type KeyOrdered interface {
	ListsInKeyOrder() bool
}

// keyOrdered reports whether the bucket lists in key order.
func (f *FS) keyOrdered() bool {
	k, ok := f.b.(KeyOrdered)
	return ok && k.ListsInKeyOrder() && !f.o.Unordered
}

// skipKey reports whether a relative key (its trailing slash removed) is
// left out of a scan: the root itself, async's own names, and names that
// are no clean relative path ("a//b", "/a", "a/./b").
func skipKey(rel string) bool {
	return rel == "" || reserved(rel) || checkPath(rel) != nil
}

// scanOrdered is Scan with opts.Ordered: the listing (in key order) goes
// through a reorder heap into path order (core.ComparePaths), then the
// prune, then the metadata stage, which asks for the metadata the listing
// lacks MetaConcurrency objects at a time and passes the entries on in
// order.
func (f *FS) scanOrdered(ctx context.Context, opts core.ScanOptions, skip func(string, bool) bool, descend func(*core.Entry) bool, fn func(core.Entry) error) error {
	ctx, cancel := context.WithCancel(ctx)
	m := &metaStage{f: f, ctx: ctx, opts: opts, fn: fn, limit: 4 * f.o.MetaConcurrency}
	defer func() {
		cancel()
		m.stop()
	}()
	r := &reorder{held: map[string]*heldPath{}}
	pr := &pruner{skip: skip, descend: descend}
	pass := func(h *heldPath) error {
		if pr.out(h.path, h.it) {
			return nil
		}
		return m.push(h.path, h.it)
	}
	var passErr error // the scan's own, returned as is
	err := f.b.List(ctx, f.prefix, func(o Object) error {
		rel := strings.TrimPrefix(o.Key, f.prefix)
		dir := strings.HasSuffix(rel, "/")
		p := strings.TrimSuffix(rel, "/")
		if skipKey(p) {
			return nil
		}
		r.add(p, listed{o: o, dir: dir})
		passErr = r.release(rel, pass)
		return passErr
	})
	if passErr != nil {
		return passErr
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", f.prefix, err)
	}
	if err := r.release("", pass); err != nil { // everything left
		return err
	}
	if rb, ok := f.b.(Resumable); ok && opts.PartialMaxAge > 0 && opts.TempToken != "" {
		rb.AbortStale(ctx, f.prefix, opts.TempToken, time.Now().Add(-opts.PartialMaxAge))
	}
	return m.flush(true)
}

// reorder turns a listing in key order into paths in path order. Key
// order and path order differ only where a name holds a byte below '/'
// (space ! " # $ % & ' ( ) * + , - .): the key "a.b" lists before "a/c",
// but in path order a/c comes first. After the key k, every key listed
// later is greater, and every path it brings (itself, its marker's
// directory, its parents) that is not already one of k's parents is at or
// after bound(k) in path order; so the paths held below it can go.
type reorder struct {
	held map[string]*heldPath
	heap []*heldPath // min-heap in path order
	last string      // the last path released
	any  bool        // a path was released
}

// heldPath is a path waiting in the heap.
type heldPath struct {
	path string
	it   listed
}

// add notes the object o at path p (a marker when it.dir) and the
// directories its key implies.
func (r *reorder) add(p string, it listed) {
	r.put(p, it)
	for d := path.Dir(p); d != "."; d = path.Dir(d) {
		if _, ok := r.held[d]; ok || r.released(d) {
			break // its parents are in too
		}
		r.put(d, listed{dir: true})
	}
}

// released reports whether p is at or before the last path released.
func (r *reorder) released(p string) bool {
	return r.any && core.ComparePaths(p, r.last) <= 0
}

// put holds a path, or merges it with the one held: a file and a
// directory (a marker, or implied) of the same name: the file wins.
func (r *reorder) put(p string, it listed) {
	if h, ok := r.held[p]; ok {
		if h.it.dir && !it.dir {
			h.it = it
		}
		return
	}
	if it.dir && r.released(p) {
		return // a directory passed on already
	}
	// A file at or before the last path released cannot come in key
	// order; it is passed on out of order, for core to notice.
	h := &heldPath{path: p, it: it}
	r.held[p] = h
	r.heap = append(r.heap, h)
	r.up(len(r.heap) - 1)
}

// bound is the least path that a key listed after key k can bring that
// is not already in: k up to its first byte below '/', or k.
func bound(k string) string {
	for i := 0; i < len(k); i++ {
		if k[i] < '/' {
			return k[:i]
		}
	}
	return k
}

// release passes on, in path order, the paths held before bound(k)
// (all of them when k is "": the listing is over).
func (r *reorder) release(k string, pass func(*heldPath) error) error {
	b := bound(k)
	for len(r.heap) > 0 && (k == "" || core.ComparePaths(r.heap[0].path, b) < 0) {
		h := r.pop()
		delete(r.held, h.path)
		r.last, r.any = h.path, true
		if err := pass(h); err != nil {
			return err
		}
	}
	return nil
}

func (r *reorder) less(i, j int) bool {
	return core.ComparePaths(r.heap[i].path, r.heap[j].path) < 0
}

func (r *reorder) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !r.less(i, p) {
			return
		}
		r.heap[i], r.heap[p] = r.heap[p], r.heap[i]
		i = p
	}
}

func (r *reorder) pop() *heldPath {
	h := r.heap[0]
	n := len(r.heap) - 1
	r.heap[0] = r.heap[n]
	r.heap[n] = nil
	r.heap = r.heap[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && r.less(l, m) {
			m = l
		}
		if l+1 < n && r.less(l+1, m) {
			m = l + 1
		}
		if m == i {
			break
		}
		r.heap[i], r.heap[m] = r.heap[m], r.heap[i]
		i = m
	}
	return h
}

// pruner leaves out, top down, what the scan's Prune leaves out: the paths
// come in path order, so a directory comes before what it holds, and the
// one directory whose contents are out is all it needs to remember.
type pruner struct {
	skip    func(string, bool) bool
	descend func(*core.Entry) bool
	gone    string // a directory whose contents are left out
	goneSet bool
}

// out reports whether p is left out.
func (pr *pruner) out(p string, it listed) bool {
	if pr.goneSet {
		if strings.HasPrefix(p, pr.gone+"/") {
			return true
		}
		pr.goneSet = false
	}
	if pr.skip != nil && pr.skip(p, it.dir) {
		pr.gone, pr.goneSet = p, true // and below it (a file that wins over a directory)
		return true
	}
	if it.dir && pr.descend != nil {
		if e := entry(p, it.o, true); !pr.descend(&e) {
			pr.gone, pr.goneSet = p, true
		}
	}
	return false
}

// metaStage passes the entries on in order, asking for the metadata of
// the objects whose listing lacks it and whose records do not hold it
// (MetaConcurrency HEADs in flight; at most limit entries wait).
type metaStage struct {
	f     *FS
	ctx   context.Context
	opts  core.ScanOptions
	fn    func(core.Entry) error
	limit int
	queue []*pending // in path order
	jobs  chan *pending
	wg    sync.WaitGroup
	busy  int // workers started
}

// pending is an entry waiting for its metadata (done: nil when it has it).
type pending struct {
	path string
	it   listed
	done chan struct{}
	gone bool // deleted since the listing
	err  error
}

// push queues p and passes on what is ready.
func (m *metaStage) push(p string, it listed) error {
	pd := &pending{path: p, it: it}
	if !it.dir && it.o.Meta == nil && !m.known(pd) {
		pd.done = make(chan struct{})
		if m.jobs == nil {
			m.jobs = make(chan *pending, m.limit+1)
		}
		if m.busy < m.f.o.MetaConcurrency {
			m.busy++
			m.wg.Go(m.work)
		}
		m.jobs <- pd
	}
	m.queue = append(m.queue, pd)
	if err := m.flush(false); err != nil {
		return err
	}
	for len(m.queue) > m.limit {
		if err := m.next(); err != nil {
			return err
		}
	}
	return nil
}

// known fills in pd's metadata from its record when the record is of
// the same object (its ETag and size).
func (m *metaStage) known(pd *pending) bool {
	var (
		k  core.Entry
		ok bool
	)
	if m.opts.KnownAt != nil {
		k, ok = m.opts.KnownAt(pd.path)
	} else {
		k, ok = m.opts.Known[pd.path]
	}
	o := &pd.it.o
	if !ok || k.Token == "" || k.Token != o.ETag || k.Size != o.Size {
		return false
	}
	o.Meta = knownMeta(k)
	return true
}

// knownMeta is the metadata a recorded entry stands for.
func knownMeta(k core.Entry) map[string]string {
	return map[string]string{MetaMTime: strconv.FormatInt(k.MTime.UnixNano(), 10),
		MetaMode: strconv.FormatUint(uint64(k.Mode&fs.ModePerm), 8)}
}

// work asks for metadata until the jobs end.
func (m *metaStage) work() {
	for pd := range m.jobs {
		o, err := m.f.b.Head(m.ctx, m.f.key(pd.path))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			pd.gone = true
		case err != nil:
			pd.err = fmt.Errorf("head %s: %w", pd.path, err)
		default:
			pd.it = listed{o: o}
		}
		close(pd.done)
	}
}

// flush passes on the entries at the head of the queue that are ready,
// all of them when wait is set.
func (m *metaStage) flush(wait bool) error {
	for len(m.queue) > 0 {
		if pd := m.queue[0]; !wait && pd.done != nil {
			select {
			case <-pd.done:
			default:
				return nil
			}
		}
		if err := m.next(); err != nil {
			return err
		}
	}
	return nil
}

// next passes on the entry at the head of the queue, waiting for it.
func (m *metaStage) next() error {
	pd := m.queue[0]
	m.queue[0] = nil
	m.queue = m.queue[1:]
	if pd.done != nil {
		select {
		case <-pd.done:
		case <-m.ctx.Done():
			return m.ctx.Err()
		}
	}
	switch {
	case pd.err != nil:
		return pd.err
	case pd.gone:
		return nil
	}
	if err := m.ctx.Err(); err != nil {
		return err
	}
	return m.fn(entry(pd.path, pd.it.o, pd.it.dir))
}

// stop ends the workers (their requests fail once the scan's context is
// cancelled).
func (m *metaStage) stop() {
	if m.jobs != nil {
		close(m.jobs)
	}
	m.wg.Wait()
}
