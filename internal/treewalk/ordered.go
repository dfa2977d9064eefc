package treewalk

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"
)

// Item is one entry of a directory listed for Ordered: the value to emit
// and, when Descend, the directory below it to walk next.
type Item[J, V any] struct {
	Value   V
	Sub     J
	Descend bool
}

// Ordered walks the tree below root in depth-first order and hands emit
// each listed value, one at a time and in the caller's goroutine: a
// directory's items in the order list returns them, each followed by the
// walk of its Sub when it descends. Up to o.Workers listers read ahead
// (the caller and o.Workers-1 goroutines, each started when a directory
// waits to be listed: a tree of one directory starts none),
// the directories emit will need first (the least by cmp, which must
// order directories as the walk reaches them) first, and at most ahead
// listings wait to be emitted, so that the memory held is that of the
// directories in flight, not of the tree. A directory that nobody has
// started listing when emit reaches it is listed in the caller's
// goroutine. An error of list (returned when emit reaches its directory)
// or of emit ends the walk; stopped then reports true to the listings in
// flight, and the directories never listed are returned in left (for
// their resources to be released).
func Ordered[J, V any](root J, o Options, ahead int, cmp func(a, b J) int,
	list func(j J, stopped func() bool) ([]Item[J, V], error), emit func(V) error) (left []J, err error) {
	return newOrdered(o, ahead, cmp, list, emit).run(root)
}

func newOrdered[J, V any](o Options, ahead int, cmp func(a, b J) int,
	list func(j J, stopped func() bool) ([]Item[J, V], error), emit func(V) error) *ordered[J, V] {
	w := &ordered[J, V]{o: o, list: list, emit: emit, tokens: make(chan struct{}, max(1, ahead)),
		workers: max(1, o.Workers) - 1} // the caller lists too
	w.pending.cmp = cmp
	w.cond = sync.NewCond(&w.mu)
	for range cap(w.tokens) {
		w.tokens <- struct{}{}
	}
	return w
}

// run is Ordered's walk from root.
func (w *ordered[J, V]) run(root J) (left []J, err error) {
	err = w.walk(&dirNode[J, V]{job: root, index: -1})
	w.stop.Store(true)
	w.mu.Lock()
	w.quit = true
	w.mu.Unlock()
	w.cond.Broadcast()
	w.wg.Wait()
	for _, n := range w.pending.nodes {
		left = append(left, n.job)
	}
	return left, err
}

// dirNode is a directory of an Ordered walk: listed once, by a worker or
// by the caller, and emitted once.
type dirNode[J, V any] struct {
	job     J
	index   int  // in pending, -1 once taken out (under ordered.mu)
	claimed bool // someone lists it (under ordered.mu)
	done    chan struct{}
	items   []Item[J, V]
	subs    []*dirNode[J, V] // per item: the directory to walk below it
	err     error
	token   bool // listed ahead by a worker: holds a token until emitted
}

type ordered[J, V any] struct {
	o       Options
	list    func(J, func() bool) ([]Item[J, V], error)
	emit    func(V) error
	stop    atomic.Bool
	listed  atomic.Int64
	tokens  chan struct{} // listings ahead of emit
	mu      sync.Mutex
	cond    *sync.Cond
	pending nodeHeap[J, V] // directories found that nobody lists yet
	quit    bool
	// workers is how many worker goroutines may run, started the number
	// started so far (under mu): one more as each directory is found,
	// up to workers. wg counts them.
	workers, started int
	wg               sync.WaitGroup
}

func (w *ordered[J, V]) stopped() bool { return w.stop.Load() }

// work lists the least pending directory ahead of the caller, while a
// token allows.
func (w *ordered[J, V]) work() {
	for {
		select {
		case <-w.tokens:
		default:
			w.mu.Lock()
			for len(w.tokens) == 0 && !w.quit {
				w.cond.Wait()
			}
			quit := w.quit
			w.mu.Unlock()
			if quit {
				return
			}
			continue
		}
		n := w.next()
		if n == nil {
			return
		}
		n.token = true
		w.listNode(n)
	}
}

// next pops the least pending directory, claimed, nil once the walk
// ends.
func (w *ordered[J, V]) next() *dirNode[J, V] {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		for len(w.pending.nodes) == 0 && !w.quit {
			w.cond.Wait()
		}
		if w.quit {
			return nil
		}
		n := heap.Pop(&w.pending).(*dirNode[J, V])
		n.claimed = true
		return n
	}
}

// claim takes n for the caller to list; false when a worker has it.
func (w *ordered[J, V]) claim(n *dirNode[J, V]) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n.claimed {
		return false
	}
	n.claimed = true
	if n.index >= 0 {
		heap.Remove(&w.pending, n.index)
	}
	return true
}

// listNode lists n and makes the directories below it pending.
func (w *ordered[J, V]) listNode(n *dirNode[J, V]) {
	n.items, n.err = w.list(n.job, w.stopped)
	if c := w.listed.Add(1); w.o.Pause > 0 && c%int64(max(1, w.o.PauseEvery)) == 0 {
		time.Sleep(w.o.Pause)
	}
	if n.err == nil {
		w.mu.Lock()
		for i := range n.items {
			if it := &n.items[i]; it.Descend {
				if n.subs == nil {
					n.subs = make([]*dirNode[J, V], len(n.items))
				}
				sub := &dirNode[J, V]{job: it.Sub, index: -1, done: make(chan struct{})}
				n.subs[i] = sub
				heap.Push(&w.pending, sub)
			}
		}
		start := 0
		if !w.quit {
			start = max(0, min(len(w.pending.nodes), w.workers)-w.started)
			w.started += start
		}
		w.mu.Unlock()
		w.cond.Broadcast()
		// Before run's Wait: the caller starts them before its walk
		// returns, a worker while it is counted itself.
		for range start {
			w.wg.Go(w.work)
		}
	}
	if n.done != nil {
		close(n.done)
	}
}

// walk emits n's items and the walks below them.
func (w *ordered[J, V]) walk(n *dirNode[J, V]) error {
	if w.claim(n) {
		w.listNode(n)
	} else {
		<-n.done
	}
	if n.token {
		w.tokens <- struct{}{}
		w.mu.Lock() // a worker may wait for it
		w.mu.Unlock()
		w.cond.Broadcast()
	}
	if n.err != nil {
		return n.err
	}
	for i := range n.items {
		if err := w.emit(n.items[i].Value); err != nil {
			return err
		}
		if n.subs != nil && n.subs[i] != nil {
			if err := w.walk(n.subs[i]); err != nil {
				return err
			}
			n.subs[i] = nil
		}
		n.items[i] = Item[J, V]{}
	}
	n.items, n.subs = nil, nil
	return nil
}

// nodeHeap orders pending directories by cmp.
type nodeHeap[J, V any] struct {
	nodes []*dirNode[J, V]
	cmp   func(a, b J) int
}

func (h *nodeHeap[J, V]) Len() int           { return len(h.nodes) }
func (h *nodeHeap[J, V]) Less(i, j int) bool { return h.cmp(h.nodes[i].job, h.nodes[j].job) < 0 }
func (h *nodeHeap[J, V]) Swap(i, j int) {
	h.nodes[i], h.nodes[j] = h.nodes[j], h.nodes[i]
	h.nodes[i].index, h.nodes[j].index = i, j
}
func (h *nodeHeap[J, V]) Push(x any) {
	n := x.(*dirNode[J, V])
	n.index = len(h.nodes)
	h.nodes = append(h.nodes, n)
}
func (h *nodeHeap[J, V]) Pop() any {
	n := h.nodes[len(h.nodes)-1]
	n.index = -1
	h.nodes[len(h.nodes)-1] = nil
	h.nodes = h.nodes[:len(h.nodes)-1]
	return n
}
