package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// sparseMax bounds the paths a sparse gather looks at (the hinted paths,
// their parents, and for a lazy destination what changed at the source):
// past it the snapshots are loaded whole.
const sparseMax = 100_000

// errUnsettled stops a sparse read that met a conflict or error record.
var errUnsettled = errors.New("unsettled record")

// sparseGather gathers a hinted run's states without loading the
// snapshots whole. When every side is either hinted (Options.Hints) or the
// lazy destination of a push or pull, and both snapshots can read chosen
// records (PathLoader), only the hinted paths and their parents are read
// and looked at, with the recorded subtrees of directories that went away
// (prefix reads); every other path is unchanged on both sides, as the
// full gather would take it, and has nothing to plan.
//
// ok is false when the run needs the full gather (which still uses the
// hints where it can): a side that is neither, a setting that needs every
// record (--exclude-dirs-older-than, --assume-no-mods, --clean-excluded,
// an object store), a last run that did not settle everything (it
// recorded no journal cursor: conflict or error records may remain,
// which are looked at on every run), a conflict or error record among
// those read, a path that cannot be read, a directory that appeared
// (its contents are not known), a path in a directory the records do not
// know, an empty root, or so many entries lost that the full gather's
// safety check must weigh them against the whole snapshot.
func (e *engine) sparseGather(ctx context.Context) (_ []PathState, ok bool, _ error) {
	var hinted, lazy [2]bool
	for s := range 2 {
		hinted[s] = e.o.Hints[s] != nil
	}
	if !hinted[Local] && !hinted[Remote] {
		return nil, false, nil
	}
	if !e.o.OldDirs.IsZero() || e.o.AssumeNoMods || e.o.CleanExcluded || !e.caps[Local].MTimeFromFS || !e.caps[Remote].MTimeFromFS {
		return nil, false, nil
	}
	if dst, ok := e.lazyDestination(); ok && hinted[dst.Other()] && !hinted[dst] {
		lazy[dst] = true
	}
	var stores [2]PathLoader
	for s := range 2 {
		pl, ok := e.eps[s].Store.(PathLoader)
		if !ok || !e.cleanEnd[s] || !hinted[s] && !lazy[s] {
			return nil, false, nil
		}
		m, ok, err := e.eps[s].Store.Meta(ctx)
		if err != nil || !ok || m.Journal == "" {
			return nil, false, nil
		}
		stores[s] = pl
	}
	start := time.Now()

	// The paths looked at: the hinted ones and their parents. Maps and
	// slices are made at their final size where it is known: a short run
	// pays a page fault for every page its heap grows by, and a growing
	// map or slice leaves its old copies behind.
	n := 0
	for s := range 2 {
		if hinted[s] {
			n += len(e.o.Hints[s].Paths)
		}
	}
	want := make(map[string]bool, n+n/2)
	var hints [2][]string
	for s := range 2 {
		if !hinted[s] {
			continue
		}
		hints[s] = make([]string, 0, len(e.o.Hints[s].Paths))
		for _, p := range e.o.Hints[s].Paths {
			if p == "" || IsReserved(p) {
				continue
			}
			hints[s] = append(hints[s], p)
			for q := p; q != "" && !want[q]; q = Parent(q) {
				want[q] = true
			}
		}
	}
	if len(want) > sparseMax {
		return nil, false, nil
	}
	var recs [2]map[string]Record
	var exs [2]*exclusion
	for s := range 2 {
		recs[s] = make(map[string]Record, len(want))
		exs[s] = newExclusion(e.skipFor(Side(s)))
	}
	read := func(s int, paths, dirs []string) error {
		err := stores[s].LoadPaths(ctx, paths, dirs, func(r Record) error {
			switch {
			case r.Path == "" || exs[s].excluded(r.Path, r.Type == TypeDir) || e.hidden(&r.Entry):
			case r.Status != StatusSynced:
				return errUnsettled
			default:
				recs[s][r.Path] = r
			}
			return nil
		})
		if err != nil && !errors.Is(err, errUnsettled) {
			return fmt.Errorf("load %s snapshot: %w", Side(s), err)
		}
		return err
	}
	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}
	slices.SortFunc(paths, ComparePaths)
	if err := readBoth(read, paths, nil); err != nil {
		return sparseFail(err)
	}

	// What the hinted paths are now: nil where nothing is (or what is
	// there is left out of the run).
	var now [2]map[string]*Entry
	var gone [2]map[string]bool // recorded directories that are no more
	for s := range 2 {
		now[s], gone[s] = make(map[string]*Entry, len(hints[s])), map[string]bool{}
		hints[s] = slices.Compact(slices.SortedFunc(slices.Values(hints[s]), ComparePaths))
		stats, errs := statAll(ctx, e.eps[s].Backend, hints[s])
		for i, p := range hints[s] {
			old, had := recs[s][p]
			en, err := stats[i], errs[i]
			switch {
			case errors.Is(err, fs.ErrNotExist):
				now[s][p] = nil
				if had && old.Type == TypeDir {
					gone[s][p] = true
				}
				continue
			case err != nil:
				return nil, false, nil // scanned instead, which tells what cannot be read
			}
			if exs[s].excluded(p, en.Type == TypeDir) || e.hidden(&en) {
				now[s][p] = nil
				continue
			}
			if en.Type == TypeDir && (!had || old.Type != TypeDir) {
				return nil, false, nil // a directory whose contents no record tells
			}
			if had && old.Type == TypeDir && en.Type != TypeDir {
				gone[s][p] = true
			}
			if _, ok := recs[s][Parent(p)]; !ok && Parent(p) != "" {
				return nil, false, nil // in a directory the records do not know
			}
			if en.Type == TypeSymlink && e.o.Links == LinksSkip {
				e.skippedLink(Side(s), p)
				now[s][p] = nil // as a scan leaves it out
				continue
			}
			now[s][p] = &en
		}
	}
	// The recorded subtrees of directories that went away, on both sides:
	// what was inside is gone on one, and planned on the other.
	var dirs []string
	for s := range 2 {
		dirs = append(dirs, slices.Collect(maps.Keys(gone[s]))...)
	}
	if len(dirs) > 0 {
		if err := readBoth(read, nil, dirs); err != nil {
			return sparseFail(err)
		}
	}
	var entries [2]map[string]Entry
	for s := range 2 {
		entries[s] = make(map[string]Entry, len(recs[s])+len(now[s]))
		for p, r := range recs[s] {
			if !underAnyOf(p, gone[s]) {
				entries[s][p] = r.Entry
			}
		}
		for p, en := range now[s] {
			if en == nil {
				delete(entries[s], p)
			} else {
				entries[s][p] = *en
			}
		}
	}
	for s := range 2 {
		if lazy[s] {
			if !e.sparseDestination(ctx, Side(s), entries, recs) {
				return nil, false, nil
			}
		}
	}
	for s := range 2 {
		if empty, err := e.rootEmpty(ctx, Side(s)); err != nil || empty {
			return nil, false, nil // the full gather tells why
		}
		lost := 0
		for p, r := range recs[s] {
			if _, ok := entries[s][p]; !ok && r.Type != TypeNone {
				lost++
			}
		}
		if lost >= MinLost && 2*lost > len(recs[s]) {
			return nil, false, nil // weighed against the whole snapshot
		}
	}

	var scans [2][]Entry
	var rl [2][]Record
	for s := range 2 {
		scans[s] = slices.AppendSeq(make([]Entry, 0, len(entries[s])), maps.Values(entries[s]))
		rl[s] = slices.AppendSeq(make([]Record, 0, len(recs[s])), maps.Values(recs[s]))
	}
	e.unreadable.leaveOut(&scans, &rl)
	states := make([]PathState, 0, max(len(scans[Local]), len(scans[Remote]), len(rl[Local]), len(rl[Remote])))
	byPath := make(map[string]int, cap(states))
	get := func(p string) *PathState {
		i, ok := byPath[p]
		if !ok {
			i = len(states)
			states = append(states, PathState{Path: p})
			byPath[p] = i
		}
		return &states[i]
	}
	for s := range 2 {
		for i := range scans[s] {
			get(scans[s][i].Path)
		}
		for i := range rl[s] {
			get(rl[s][i].Path)
		}
	}
	// Pointers are taken once states no longer grows.
	for s := range 2 {
		for i := range scans[s] {
			states[byPath[scans[s][i].Path]].Cur[s] = &scans[s][i]
		}
		for i := range rl[s] {
			states[byPath[rl[s][i].Path]].Base[s] = &rl[s][i]
		}
	}
	slices.SortFunc(states, func(a, b PathState) int { return ComparePaths(a.Path, b.Path) })
	if e.lv.debug {
		e.log.Debug("sparse gather", "hinted", [2]int{len(hints[Local]), len(hints[Remote])},
			"records", [2]int{len(rl[Local]), len(rl[Remote])}, "gone_dirs", len(dirs), "paths", len(states), "took", time.Since(start))
	}
	return states, true, nil
}

// sparseFail turns a sparse read's error into sparseGather's answer: an
// unsettled record means the full gather, anything else fails the run.
func sparseFail(err error) ([]PathState, bool, error) {
	if errors.Is(err, errUnsettled) {
		return nil, false, nil
	}
	return nil, false, err
}

// sparseDestination corrects the lazy destination's entries of a sparse
// gather (its records of the paths read) by a Stat of every path the
// source changed and of their parents, as destinationEntries does for the
// whole tree: those paths and their parents were read on both sides.
// It reports false when the destination must be scanned after all.
func (e *engine) sparseDestination(ctx context.Context, dst Side, entries [2]map[string]Entry, recs [2]map[string]Record) bool {
	src := dst.Other()
	dopts := e.o.Policy.diffOptions()
	changed := map[string]bool{}
	mark := func(p string) {
		for ; p != "" && !changed[p]; p = Parent(p) {
			changed[p] = true
		}
	}
	for p, c := range entries[src] {
		var b *Record
		if r, ok := recs[src][p]; ok {
			b = &r
		}
		if Diff(b, &c, dopts) != Unchanged {
			mark(p)
		}
	}
	for p := range recs[src] {
		if _, ok := entries[src][p]; !ok {
			mark(p) // recorded at the source, gone now: deleted
		}
	}
	if len(changed) > sparseMax {
		return false
	}
	paths := slices.Collect(maps.Keys(changed))
	stats, errs := statAll(ctx, e.eps[dst].Backend, paths)
	for i, p := range paths {
		en, err := stats[i], errs[i]
		switch {
		case errors.Is(err, fs.ErrNotExist):
			delete(entries[dst], p)
		case err != nil:
			e.unreadable.add(dst, p, err)
		case en.Type == TypeSymlink && e.o.Links == LinksSkip:
			delete(entries[dst], p)
		default:
			entries[dst][p] = en
		}
	}
	return true
}

// underAnyOf reports whether p lies strictly below one of dirs.
func underAnyOf(p string, dirs map[string]bool) bool {
	if len(dirs) == 0 {
		return false
	}
	for q := Parent(p); q != ""; q = Parent(q) {
		if dirs[q] {
			return true
		}
	}
	return false
}

// readBoth runs a sparse read on both sides at once.
func readBoth(read func(s int, paths, dirs []string) error, paths, dirs []string) error {
	var errs [2]error
	var wg sync.WaitGroup
	for s := range 2 {
		wg.Go(func() { errs[s] = read(s, paths, dirs) })
	}
	wg.Wait()
	if errors.Is(errs[0], errUnsettled) || errors.Is(errs[1], errUnsettled) {
		return errUnsettled
	}
	return errors.Join(errs[:]...)
}

// statWorkers is how many Stats of a sparse gather run at once (a
// remote side answers each after a round trip).
const statWorkers = 8

// statAll stats paths, several at once.
func statAll(ctx context.Context, b Backend, paths []string) ([]Entry, []error) {
	if bs, ok := b.(BatchStater); ok {
		return statBatches(ctx, bs, paths)
	}
	stats, errs := make([]Entry, len(paths)), make([]error, len(paths))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(statWorkers, len(paths)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(paths) {
					return
				}
				stats[i], errs[i] = b.Stat(ctx, paths[i])
			}
		})
	}
	wg.Wait()
	return stats, errs
}

// statBatches stats paths with a BatchStater: the paths of a directory
// go together into one of statWorkers batches, which run at once.
func statBatches(ctx context.Context, b BatchStater, paths []string) ([]Entry, []error) {
	order := make([]int, len(paths))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		return cmp.Or(ComparePaths(Parent(paths[i]), Parent(paths[j])), ComparePaths(paths[i], paths[j]))
	})
	sorted := make([]string, len(paths))
	for k, i := range order {
		sorted[k] = paths[i]
	}
	// Batches of about equal size, cut where the directory changes.
	var cuts []int
	last, size := 0, max(1, len(sorted)/statWorkers)
	for k := 1; k < len(sorted); k++ {
		if k-last >= size && Parent(sorted[k]) != Parent(sorted[k-1]) {
			cuts, last = append(cuts, k), k
		}
	}
	cuts = append(cuts, len(sorted))
	stats, errs := make([]Entry, len(paths)), make([]error, len(paths))
	var wg sync.WaitGroup
	from := 0
	for _, to := range cuts {
		batch, at := sorted[from:to], order[from:to]
		wg.Go(func() {
			got, gotErrs := b.StatBatch(ctx, batch)
			for k, i := range at {
				stats[i], errs[i] = got[k], gotErrs[k]
			}
		})
		from = to
	}
	wg.Wait()
	return stats, errs
}
