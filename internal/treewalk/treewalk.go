// Package treewalk lists a tree with several workers: the parallel,
// depth-first directory walk that backends' scans share.
package treewalk

import (
	"sync"
	"sync/atomic"
	"time"
)

// Options pace a walk.
type Options struct {
	Workers int // listers at once (at least 1)
	// Pause is how long each worker rests after every PauseEvery listings
	// (0: never).
	Pause      time.Duration
	PauseEvery int
}

// Walk lists the tree below root: list is called for each directory (from
// several goroutines at once) and returns the directories below it to
// list next, depth first, which keeps few of them open. The first error
// stops the walk: stopped then reports true, so that listings in flight
// can give up early, and the directories never listed are returned in
// left (for their resources to be released).
func Walk[J any](root J, o Options, list func(j J, stopped func() bool) ([]J, error)) (left []J, err error) {
	w := &walk[J]{stack: []J{root}, pending: 1, list: list, o: o}
	w.cond = sync.NewCond(&w.mu)
	var wg sync.WaitGroup
	for range max(1, o.Workers) {
		wg.Go(w.work)
	}
	wg.Wait()
	return w.stack, w.err
}

type walk[J any] struct {
	o       Options
	list    func(J, func() bool) ([]J, error)
	stop    atomic.Bool
	mu      sync.Mutex
	cond    *sync.Cond
	stack   []J
	pending int   // directories queued or being listed
	err     error // the first error
}

func (w *walk[J]) stopped() bool { return w.stop.Load() }

func (w *walk[J]) work() {
	listed := 0
	for {
		w.mu.Lock()
		for len(w.stack) == 0 && w.pending > 0 && w.err == nil {
			w.cond.Wait()
		}
		if w.pending == 0 || w.err != nil {
			w.mu.Unlock()
			w.cond.Broadcast()
			return
		}
		j := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		w.mu.Unlock()

		below, err := w.list(j, w.stopped)
		if listed++; w.o.Pause > 0 && listed%max(1, w.o.PauseEvery) == 0 {
			time.Sleep(w.o.Pause)
		}
		w.mu.Lock()
		if err != nil && w.err == nil {
			w.err = err
			w.stop.Store(true)
		}
		w.stack = append(w.stack, below...)
		w.pending += len(below) - 1
		wake := len(below) > 1 || w.pending == 0 || w.err != nil
		w.mu.Unlock()
		if wake {
			w.cond.Broadcast()
		}
	}
}
