package core

import (
	"cmp"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// copyBufSize is the chunk a transfer reads, writes and draws from the
// rate limiter at a time.
const copyBufSize = 256 << 10

// executor carries out a plan.
type executor struct {
	*engine
	bufs      sync.Pool
	ownersOff atomic.Bool // setting owners was refused once: stop trying
	mu        sync.Mutex
	dirTimes  []*Action // directories whose mtime is set last
	start     time.Time // names kept versions
	saved     savedRecords
}

// execute runs the plan's record updates, then its actions phase by phase.
func (e *engine) execute(ctx context.Context, plan *Plan) error {
	x := &executor{engine: e, start: time.Now()}
	x.bufs.New = func() any { b := make([]byte, copyBufSize); return &b }
	for i := range plan.Records {
		if err := x.applyRecord(ctx, &plan.Records[i]); err != nil {
			return err
		}
	}
	for acts := range runsOf(plan.Actions, func(a *Action) int { return a.phase(e.o.DeleteBefore) }) {
		if err := x.runPhase(ctx, acts); err != nil {
			return err
		}
	}
	x.setDirTimes(ctx)
	return ctx.Err()
}

// runsOf yields the runs of consecutive actions with the same key.
func runsOf(acts []Action, key func(*Action) int) iter.Seq[[]Action] {
	return func(yield func([]Action) bool) {
		for len(acts) > 0 {
			k, n := key(&acts[0]), 1
			for n < len(acts) && key(&acts[n]) == k {
				n++
			}
			if !yield(acts[:n]) {
				return
			}
			acts = acts[n:]
		}
	}
}

// runPhase runs the actions of one phase: content in parallel by size
// class, directory creations and deletions level by level, the rest in
// order.
func (x *executor) runPhase(ctx context.Context, acts []Action) error {
	switch acts[0].Op {
	case OpCopy, OpSetAttr:
		return x.runClasses(ctx, acts)
	case OpMkdir, OpRename, OpKeep, OpDelete:
		for level := range runsOf(acts, (*Action).level) {
			x.parallel(ctx, level, x.o.TransferThreads[len(x.o.TransferThreads)-1].N)
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return nil
	}
	for i := range acts {
		x.run(ctx, &acts[i])
	}
	return ctx.Err()
}

// runClasses runs content actions with --transfer-threads: each class's
// workers take the files up to its size that no smaller class took.
func (x *executor) runClasses(ctx context.Context, acts []Action) error {
	classes := slices.Clone(x.o.TransferThreads)
	limit := func(c ThreadClass) int64 {
		if c.MaxSize == 0 {
			return math.MaxInt64
		}
		return c.MaxSize
	}
	slices.SortFunc(classes, func(a, b ThreadClass) int { return cmp.Compare(limit(a), limit(b)) })
	if len(classes) == 1 {
		x.parallel(ctx, acts, classes[0].N)
		return ctx.Err()
	}
	// The classes hold the positions of their actions: the actions are
	// not copied.
	groups := make([][]int32, len(classes))
	for i := range acts {
		c := len(classes) - 1
		for j, cl := range classes {
			if cl.MaxSize == 0 || acts[i].Size() <= cl.MaxSize {
				c = j
				break
			}
		}
		groups[c] = append(groups[c], int32(i))
	}
	var wg sync.WaitGroup
	for i := range groups {
		wg.Go(func() {
			x.parallelAt(ctx, len(groups[i]), classes[i].N, func(k int) *Action { return &acts[groups[i][k]] })
		})
	}
	wg.Wait()
	return ctx.Err()
}

// parallel runs acts with n workers.
func (x *executor) parallel(ctx context.Context, acts []Action, n int) {
	x.parallelAt(ctx, len(acts), n, func(i int) *Action { return &acts[i] })
}

// parallelAt runs the count actions at(0) … at(count-1) with n workers.
func (x *executor) parallelAt(ctx context.Context, count, n int, at func(int) *Action) {
	if n <= 1 || count <= 1 {
		for i := range count {
			if ctx.Err() != nil {
				return
			}
			x.run(ctx, at(i))
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, count) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= count {
					return
				}
				x.run(ctx, at(i))
			}
		})
	}
	wg.Wait()
}

// run carries out one action, commits it to both snapshots and reports it.
func (x *executor) run(ctx context.Context, a *Action) {
	began := time.Now()
	x.logStart(a)
	outcome, err := x.do(ctx, a)
	if err != nil && errors.Is(err, ErrOwner) && x.ownersWanted() {
		if !x.ownersOff.Swap(true) {
			x.o.Warn("cannot set owners at the " + a.Side.String() + " side (needs privilege); entries keep the writing user's owner and group")
		}
		outcome, err = x.do(ctx, a) // again, without owners
	}
	for n := 1; err != nil && x.o.RetryAction != nil && ctx.Err() == nil; n++ {
		wait, again := x.o.RetryAction(err, n)
		if !again {
			break
		}
		x.log.Debug("action failed, trying it again", "op", a.Op.String(), "side", a.Side.String(), "path", DisplayPath(a.Path),
			"attempt", n+1, "wait", wait, "err", err)
		if !sleep(ctx, wait) {
			break
		}
		outcome, err = x.do(ctx, a)
	}
	x.logEnd(a, began, outcome.Status(), err)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		x.stats.Errors.Add(1)
		x.log.Error("action failed", "op", a.Op.String(), "side", a.Side.String(), "path", DisplayPath(a.Path), "err", err)
		msg := err.Error()
		if x.applying && (errors.Is(err, ErrPrecondition) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrChangedWhileReading)) {
			// What the plan expected is not there: a source checked
			// against the plan's entry once read (ExpectOpener) differs.
			msg = "stale plan: " + msg
		}
		x.markError(ctx, a, msg)
		a.bases = [2]*Record{}
		x.report(Finished{Path: a.Path, Outcome: OutcomeError, Reason: msg, Op: a.Op, Side: a.Side, Took: time.Since(began), Err: err})
		return
	}
	if outcome != OutcomeNone {
		// Once per file: attributes, not key-value pairs, box nothing.
		shown := DisplayPath(a.Path)
		x.log.LogAttrs(ctx, slog.LevelInfo, outcome.Status(), slog.String("op", a.Op.String()), slog.String("side", a.Side.String()), slog.String("path", shown))
		f := Finished{Path: a.Path, Shown: shown, Outcome: outcome, Op: a.Op, Side: a.Side, Took: time.Since(began)}
		if a.Op == OpRename {
			f.To = a.To
			f.Shown += " -> " + DisplayPath(a.To) // a move shows where it came from and went
		}
		if a.Op == OpCopy && outcome != OutcomeSkipped && a.Source != nil && a.Source.Type == TypeFile {
			f.Bytes = a.Source.Size
		}
		x.report(f)
	}
	if x.o.AfterAction != nil {
		x.o.AfterAction()
	}
	a.bases = [2]*Record{} // committed or marked: what a failure would have kept is no longer needed
}

// sleep waits d, or less when ctx ends first; it reports whether it
// waited all of d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (x *executor) ownersWanted() bool {
	return x.o.Policy.PreserveUID || x.o.Policy.PreserveGID
}

// do carries out one action and commits it; it returns the outcome to
// report (OutcomeNone: nothing).
func (x *executor) do(ctx context.Context, a *Action) (Outcome, error) {
	dst := x.eps[a.Side].Backend
	switch a.Op {
	case OpMkdir:
		got, err := x.mkdir(ctx, a)
		if err != nil {
			return OutcomeNone, err
		}
		x.stats.Dirs.Add(1)
		return OutcomeDone, x.commit(ctx, a, got, false)
	case OpCopy:
		got, err := x.copy(ctx, a)
		if err != nil {
			return OutcomeNone, err
		}
		if got == nil {
			x.stats.Skipped.Add(1)
			return OutcomeSkipped, nil
		}
		x.stats.Files.Add(1)
		if err := x.commit(ctx, a, got, x.removesSource(a)); err != nil {
			return OutcomeNone, err
		}
		return OutcomeDone, x.removeSource(ctx, a)
	case OpSetAttr:
		got, err := x.setAttr(ctx, a)
		if err != nil {
			return OutcomeNone, err
		}
		x.stats.Moved.Add(1)
		return OutcomeMoved, x.commit(ctx, a, got, false)
	case OpDelete:
		if x.keeps(a) {
			if err := x.keepAside(ctx, a.Side, a.Path, Join(x.o.Policy.KeepDir[a.Side], a.Path), a.Dest); err != nil {
				return OutcomeNone, err
			}
			x.stats.Renamed.Add(1)
			x.stats.Deleted.Add(1)
			return OutcomeDeleted, x.drop(ctx, a.Path)
		}
		if err := dst.Remove(ctx, a.Path, Expect(a.Dest)); err != nil {
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return OutcomeDeleted, x.drop(ctx, a.Path) // gone already: the goal holds
			case errors.Is(err, ErrNotEmpty):
				// Something the plan did not know of stays inside: so does
				// the directory; it is tried again next run.
				x.stats.Skipped.Add(1)
				return OutcomeSkipped, nil
			}
			return OutcomeNone, err
		}
		x.stats.Deleted.Add(1)
		return OutcomeDeleted, x.drop(ctx, a.Path)
	case OpRename:
		if err := x.makeParents(ctx, a.Side, a.To); err != nil {
			return OutcomeNone, err
		}
		got, err := dst.Rename(ctx, a.Path, a.To, Expect(a.Dest))
		if err != nil {
			return OutcomeNone, err
		}
		x.stats.Moved.Add(1)
		x.stats.Renamed.Add(1)
		return OutcomeMoved, x.commitRename(ctx, a, got)
	case OpKeep:
		if k := x.o.Policy.KeepDir[a.Side]; k != "" && isUnder(a.To, k) {
			if err := x.keepAside(ctx, a.Side, a.Path, a.To, a.Dest); err != nil {
				return OutcomeNone, err
			}
		} else {
			if err := x.makeParents(ctx, a.Side, a.To); err != nil {
				return OutcomeNone, err
			}
			if _, err := dst.Rename(ctx, a.Path, a.To, Expect(a.Dest)); err != nil {
				return OutcomeNone, err
			}
			x.log.Info("kept", "side", a.Side.String(), "path", DisplayPath(a.Path), "as", DisplayPath(a.To))
		}
		x.stats.Renamed.Add(1)
		if a.Reason == KeepDeleted {
			x.stats.Deleted.Add(1)
			return OutcomeDeleted, x.drop(ctx, a.Path)
		}
		return OutcomeNone, nil
	case OpLink:
		got, err := x.link(ctx, a)
		if err != nil {
			return OutcomeNone, err
		}
		x.stats.Files.Add(1)
		x.stats.Linked.Add(1)
		return OutcomeDedup, x.commit(ctx, a, got, false)
	case OpConflict:
		x.stats.Conflicts.Add(1)
		x.log.Warn("conflict", "path", DisplayPath(a.Path), "reason", a.Reason)
		return OutcomeConflict, nil
	}
	return OutcomeNone, fmt.Errorf("%s: %w", a.Op, ErrUnsupported)
}

// attrs returns the attributes a written entry gets from its source.
func (x *executor) attrs(a *Action, creating bool) Attrs {
	var at Attrs
	src, caps, p := a.Source, x.caps[a.Side], &x.o.Policy
	mode := caps.SetMode && x.caps[a.Side.Other()].SetMode && (creating || !p.IgnoreMode) && src.Type != TypeSymlink && src.Mode != 0
	mtime := p.PreserveTime && caps.SetMTime && src.Type != TypeDir
	if mode || mtime {
		// Both values in one allocation: a copy sets them on every file.
		v := &struct {
			mode  fs.FileMode
			mtime time.Time
		}{src.Mode, src.MTime}
		if mode {
			at.Mode = &v.mode
		}
		if mtime {
			at.MTime = &v.mtime
		}
	}
	if p.PreserveATime && creating && caps.SetMTime && src.Type == TypeFile && !src.ATime.IsZero() {
		t := src.ATime
		at.ATime = &t
	}
	if caps.Owners && !x.ownersOff.Load() {
		if p.PreserveUID && src.UID != NoID {
			u := src.UID
			at.UID = &u
		}
		if p.PreserveGID && src.GID != NoID {
			g := src.GID
			at.GID = &g
		}
		if p.WriteUID != nil {
			at.UID = p.WriteUID
		}
		if p.WriteGID != nil {
			at.GID = p.WriteGID
		}
	}
	return at
}

func (x *executor) mkdir(ctx context.Context, a *Action) (*Entry, error) {
	dst := x.eps[a.Side].Backend
	if x.applying { // a saved plan: the source directory must still be there
		cur, err := x.eps[a.Side.Other()].Backend.Stat(ctx, a.Path)
		if err != nil {
			return nil, sourceGone(err, a.Path)
		}
		if err := Expect(a.Source).Check(&cur); err != nil {
			return nil, fmt.Errorf("source changed since the scan: %w", err)
		}
	}
	mode := fs.FileMode(0o755)
	at := x.attrs(a, true)
	if at.Mode != nil {
		mode = *at.Mode
		at.Mode = nil
	}
	got, err := dst.Mkdir(ctx, a.Path, mode)
	if err != nil {
		return nil, err
	}
	if got.Type != TypeDir {
		return nil, fmt.Errorf("mkdir %s: %w", DisplayPath(a.Path), ErrExist)
	}
	if x.caps[a.Side].SetMode && got.Mode != mode && a.Source.Mode != 0 {
		m := mode
		at.Mode = &m // made earlier (by a rename) with another mode
	}
	if !at.IsZero() {
		if got, err = dst.SetAttr(ctx, a.Path, at); err != nil {
			return nil, err
		}
	}
	x.noteDirTime(a)
	if got, err = x.copyXattrs(ctx, a, got); err != nil {
		return nil, err
	}
	return &got, nil
}

// link writes a duplicate as a hard link to the copy already made, or
// copies it where the destination cannot link.
func (x *executor) link(ctx context.Context, a *Action) (*Entry, error) {
	hl, ok := x.eps[a.Side].Backend.(HardLinker)
	if x.o.Policy.Dedup == DedupCopy {
		return x.copyWithin(ctx, a)
	}
	if !ok {
		return x.copy(ctx, a)
	}
	cur, err := x.eps[a.Side.Other()].Backend.Stat(ctx, a.Path)
	if err != nil {
		return nil, sourceGone(err, a.Path)
	}
	if err := Expect(a.Source).Check(&cur); err != nil {
		return nil, fmt.Errorf("source changed since the scan: %w", err)
	}
	got, err := hl.Link(ctx, a.To, a.Path, Expect(a.Dest))
	if err != nil {
		return nil, err
	}
	got.Hash = a.Source.Hash
	return &got, nil
}

// copyWithin writes a duplicate by copying the file already written at the
// destination (a.To) instead of sending it again (--dedup=copy).
func (x *executor) copyWithin(ctx context.Context, a *Action) (*Entry, error) {
	b := x.eps[a.Side].Backend
	rc, have, err := b.Open(ctx, a.To, 0)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if have.Size != a.Source.Size {
		return nil, fmt.Errorf("copy %s from %s: %w: the duplicate changed", DisplayPath(a.Path), DisplayPath(a.To), ErrPrecondition)
	}
	w, err := b.Create(ctx, a.Path, CreateOptions{Size: a.Source.Size, Attrs: x.attrs(a, true), Replace: Expect(a.Dest), TempToken: x.meta.TempToken})
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	bp := x.bufs.Get().(*[]byte)
	defer x.bufs.Put(bp)
	if n, err := io.CopyBuffer(w, rc, *bp); err != nil {
		return nil, err
	} else if n != a.Source.Size {
		return nil, fmt.Errorf("copy %s from %s: %d bytes, expected %d", DisplayPath(a.Path), DisplayPath(a.To), n, a.Source.Size)
	}
	got, err := w.Commit(ctx)
	if err != nil {
		return nil, err
	}
	got.Hash = a.Source.Hash
	return &got, nil
}

// copyXattrs gives the entry just written the extended attributes of its
// source, when asked and both sides keep them, and returns the entry as
// now stored (setting attributes moves its change token).
func (x *executor) copyXattrs(ctx context.Context, a *Action, got Entry) (Entry, error) {
	p := &x.o.Policy
	if !p.PreserveXattrs && !p.PreserveACLs {
		return got, nil
	}
	src, ok1 := x.eps[a.Side.Other()].Backend.(Xattrer)
	dst, ok2 := x.eps[a.Side].Backend.(Xattrer)
	if !ok1 || !ok2 {
		return got, nil
	}
	attrs, err := src.Xattrs(ctx, a.Path)
	if err != nil {
		return got, err
	}
	for name := range attrs {
		// POSIX ACLs are kept as system.posix_acl_* attributes.
		if acl := strings.HasPrefix(name, "system.posix_acl_"); acl && !p.PreserveACLs || !acl && !p.PreserveXattrs {
			delete(attrs, name)
		}
	}
	if len(attrs) == 0 {
		return got, nil
	}
	if err := dst.SetXattrs(ctx, a.Path, attrs); err != nil {
		return got, err
	}
	now, err := x.eps[a.Side].Backend.Stat(ctx, a.Path)
	if err != nil {
		return got, err
	}
	now.Hash = got.Hash
	return now, nil
}

// noteDirTime records a directory whose mtime is set last.
func (x *executor) noteDirTime(a *Action) {
	if x.o.Policy.PreserveTime && x.caps[a.Side].SetMTime && a.Source.Type == TypeDir {
		x.mu.Lock()
		x.dirTimes = append(x.dirTimes, a)
		x.mu.Unlock()
	}
}

// setDirTimes gives created and updated directories their source mtimes,
// deepest first, after everything inside them was written. The
// directories of one depth are independent: they are set in parallel, on
// as many workers as a level of directory creations (over a network, one
// round trip a level rather than one a directory).
func (x *executor) setDirTimes(ctx context.Context) {
	slices.SortFunc(x.dirTimes, func(a, b *Action) int { return cmp.Compare(Depth(b.Path), Depth(a.Path)) })
	workers := 1
	if n := len(x.o.TransferThreads); n > 0 {
		workers = max(x.o.TransferThreads[n-1].N, 1)
	}
	set := func(a *Action) {
		t := a.Source.MTime
		got, err := x.eps[a.Side].Backend.SetAttr(ctx, a.Path, Attrs{MTime: &t})
		if err != nil {
			x.log.Warn("set directory time", "side", a.Side.String(), "path", DisplayPath(a.Path), "err", err)
			return
		}
		got.Path = a.Path
		if err := x.eps[a.Side].Store.Put(ctx, Record{Entry: got}); err != nil {
			x.log.Warn("record directory time", "path", DisplayPath(a.Path), "err", err)
		}
	}
	for i := 0; i < len(x.dirTimes) && ctx.Err() == nil; {
		j := i + 1
		for j < len(x.dirTimes) && Depth(x.dirTimes[j].Path) == Depth(x.dirTimes[i].Path) {
			j++
		}
		level := x.dirTimes[i:j]
		var next atomic.Int64
		var wg sync.WaitGroup
		for range min(workers, len(level)) {
			wg.Go(func() {
				for k := int(next.Add(1) - 1); k < len(level) && ctx.Err() == nil; k = int(next.Add(1) - 1) {
					set(level[k])
				}
			})
		}
		wg.Wait()
		i = j
	}
}

// copy writes the source's file or link at the destination, if the source
// is still what the plan saw and the destination still what it expected.
// A nil entry without error means the destination cannot hold it.
func (x *executor) copy(ctx context.Context, a *Action) (*Entry, error) {
	x.stats.Current.Store(&a.Path)
	if a.Source.Type == TypeSymlink {
		ln, ok := x.eps[a.Side].Backend.(Linker)
		if !ok || !x.caps[a.Side].Symlinks {
			return nil, nil
		}
		got, err := ln.Symlink(ctx, a.Path, a.Source.Target, Expect(a.Dest))
		if err != nil {
			return nil, err
		}
		if at := x.attrs(a, true); at.MTime != nil {
			if got, err = x.eps[a.Side].Backend.SetAttr(ctx, a.Path, Attrs{MTime: at.MTime}); err != nil {
				return nil, err
			}
		}
		return &got, nil
	}
	replace := Expect(a.Dest)
	if x.keeps(a) {
		if err := x.keepAside(ctx, a.Side, a.Path, Join(x.o.Policy.KeepDir[a.Side], a.Path), a.Dest); err != nil {
			return nil, err
		}
		replace = MustNotExist
	}
	ent, err := x.copyFile(ctx, a, replace)
	if !errors.Is(err, ErrChangedWhileReading) {
		return ent, err
	}
	// The source was written to while it was read: that copy was dropped.
	// Once more, with the source as it is now; a second change is left to
	// the next run.
	if x.applying {
		return nil, err // a saved plan copies the version it names, or nothing
	}
	now, serr := x.eps[a.Side.Other()].Backend.Stat(ctx, a.Path)
	if serr != nil || now.Type != TypeFile {
		return nil, err
	}
	x.log.Info("source changed while being read; copying it again", "side", a.Side.String(), "path", DisplayPath(a.Path))
	now.Path, now.Hash = a.Source.Path, ""
	*a.Source = now
	if ent, err = x.copyFile(ctx, a, replace); errors.Is(err, ErrChangedWhileReading) {
		return nil, ErrChangedWhileReading
	}
	return ent, err
}

// copyFile writes the source's file at the destination through a new
// file committed if replace holds; the copy is dropped (an error wrapping
// ErrChangedWhileReading) when the source changed while being read.
func (x *executor) copyFile(ctx context.Context, a *Action, replace Precondition) (*Entry, error) {
	tr := x.stats.startTransfer(a.Path, a.Source.Size)
	defer x.stats.endTransfer(tr)
	src, dst := x.eps[a.Side.Other()].Backend, x.eps[a.Side].Backend
	opts := CreateOptions{Size: a.Source.Size, Attrs: x.attrs(a, true), Replace: replace, TempToken: x.meta.TempToken}
	minResume := x.o.SupportResume
	if minResume > 0 && a.Source.Size >= minResume {
		opts.Partial = partialKey(a)
		if t := x.meta.TempToken; t != "" {
			opts.Partial = t + "-" + opts.Partial
		}
	}
	w, err := dst.Create(ctx, a.Path, opts)
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	var off int64
	res, resumable := w.(Resumer)
	if v, ok := w.(ResumeVerifier); ok && opts.Partial != "" {
		// What the partial file holds is reused only where it matches
		// the source, read again from the start.
		err := v.VerifyResume(ctx, func() (io.ReadCloser, error) {
			rc, got, err := src.Open(ctx, a.Path, 0)
			if err != nil {
				return nil, sourceGone(err, a.Path)
			}
			if err := Expect(a.Source).Check(&got); err != nil {
				rc.Close()
				return nil, fmt.Errorf("source changed since the scan: %w", err)
			}
			return rc, nil
		})
		if err != nil {
			res.Keep() // a later run checks it again
			return nil, fmt.Errorf("check the partial upload of %s: %w", DisplayPath(a.Path), err)
		}
	}
	if opts.Partial != "" && resumable {
		if off = res.Offset(); off > a.Source.Size {
			off = -1 // not ours after all: start over
		}
	}
	if off < 0 {
		w.Abort()
		opts.Partial = ""
		if w, err = dst.Create(ctx, a.Path, opts); err != nil {
			return nil, err
		}
		defer w.Abort()
		off, resumable = 0, false
	}
	rc, err := x.openSource(ctx, src, a, off)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var h *ContentHasher
	if off == 0 {
		h = NewContentHasher(x.o.Policy.Checksum, a.Source.Size)
	}
	tr.done.Store(off)
	n, err := x.pump(ctx, w, rc, h, &tr.done)
	pumped, committed := n, false
	defer func() {
		if !committed { // a refused or failed copy transferred nothing
			x.stats.Bytes.Add(-pumped)
		}
	}()
	n += off
	if err != nil {
		if opts.Partial != "" && resumable && n >= minResume && !errors.Is(err, ErrChangedWhileReading) {
			res.Keep() // the next run continues from here
		}
		return nil, err
	}
	if c, ok := rc.(ChangeChecker); ok {
		if err := c.Unchanged(); err != nil {
			return nil, err // nothing kept: what was read may be torn
		}
	}
	if n != a.Source.Size {
		return nil, fmt.Errorf("copy %s: source changed size while being read (%d bytes, expected %d): %w", DisplayPath(a.Path), n, a.Source.Size, ErrChangedWhileReading)
	}
	ent, err := w.Commit(ctx)
	if err != nil {
		return nil, err
	}
	committed = true
	if ent, err = x.copyXattrs(ctx, a, ent); err != nil {
		return nil, err
	}
	if h != nil {
		// Not kept in a.Source as well: commit records it on both sides,
		// and the plan, held until the run ends, need not hold a hash per
		// file.
		ent.Hash = h.Sum()
	} else {
		ent.Hash = a.Source.Hash // resumed: only what the scan knew
	}
	return &ent, nil
}

// openSource opens the source of a copy from offset, checked against the
// scan's entry: by the reader once read where the backend can
// (ExpectOpener: one stat for both checks), else right away.
func (x *executor) openSource(ctx context.Context, src Backend, a *Action, off int64) (io.ReadCloser, error) {
	if eo, ok := src.(ExpectOpener); ok && a.Source.Token != "" {
		rc, err := eo.OpenExpect(ctx, a.Path, off, a.Source)
		if err != nil {
			return nil, sourceGone(err, a.Path)
		}
		return rc, nil
	}
	rc, got, err := src.Open(ctx, a.Path, off)
	if err != nil {
		return nil, sourceGone(err, a.Path)
	}
	if err := Expect(a.Source).Check(&got); err != nil {
		rc.Close()
		return nil, fmt.Errorf("source changed since the scan: %w", err)
	}
	return rc, nil
}

// partialKey names the partial file of a transfer: the same path and the
// same source version give the same name, so that only an unchanged
// source is resumed.
func partialKey(a *Action) string {
	s := a.Source
	sum := sha1.Sum(fmt.Appendf(nil, "%s\x00%d\x00%d\x00%s\x00%s", a.Path, s.Size, s.MTime.UnixNano(), s.Token, s.FileID))
	return hex.EncodeToString(sum[:10])
}

// pump copies r to w through the rate limiter and the fingerprint,
// counting the bytes into the run's stats and into done (the file's own
// progress).
func (x *executor) pump(ctx context.Context, w io.Writer, r io.Reader, h *ContentHasher, done *atomic.Int64) (int64, error) {
	bp := x.bufs.Get().(*[]byte)
	defer x.bufs.Put(bp)
	buf := *bp
	var total int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if x.o.Limiter != nil {
				if err := x.o.Limiter.WaitN(ctx, n); err != nil {
					return total, err
				}
			}
			if _, err := w.Write(buf[:n]); err != nil {
				return total, err
			}
			if h != nil {
				h.Write(buf[:n])
			}
			total += int64(n)
			x.stats.Bytes.Add(int64(n))
			done.Add(int64(n)) // what the display shows of this file
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// setAttr brings the destination's attributes in line with the source's
// after checking that both are still what the plan saw.
func (x *executor) setAttr(ctx context.Context, a *Action) (*Entry, error) {
	src, dst := x.eps[a.Side.Other()].Backend, x.eps[a.Side].Backend
	for _, c := range []struct {
		b    Backend
		want *Entry
	}{{src, a.Source}, {dst, a.Dest}} {
		got, err := c.b.Stat(ctx, a.Path)
		if err != nil {
			return nil, err
		}
		if err := Expect(c.want).Check(&got); err != nil {
			return nil, err
		}
	}
	at := x.attrs(a, false)
	d := a.Dest
	if at.Mode != nil && *at.Mode == d.Mode {
		at.Mode = nil
	}
	if at.MTime != nil && at.MTime.Equal(d.MTime) {
		at.MTime = nil
	}
	if at.UID != nil && *at.UID == d.UID {
		at.UID = nil
	}
	if at.GID != nil && *at.GID == d.GID {
		at.GID = nil
	}
	got := *d
	if !at.IsZero() {
		var err error
		if got, err = dst.SetAttr(ctx, a.Path, at); err != nil {
			return nil, err
		}
	}
	if a.Source.Type == TypeDir {
		x.noteDirTime(a)
	}
	got.Hash = cmp.Or(a.Dest.Hash, a.Source.Hash)
	return &got, nil
}

// commit records an action's result on both sides: the destination first,
// so that a crash in between leaves the path looking changed on the
// destination side only, which the next run re-examines without loss.
// When more follows that may fail (more), the records committed become
// the action's bases, what that failure keeps; otherwise nothing is kept
// (two records per file a first copy need not allocate).
func (x *executor) commit(ctx context.Context, a *Action, got *Entry, more bool) error {
	got.Path = a.Path
	src := *a.Source
	src.Path = a.Path
	if src.Hash == "" && got.Type == TypeFile {
		src.Hash = got.Hash
	}
	if err := x.eps[a.Side].Store.Put(ctx, Record{Entry: *got}); err != nil {
		return fmt.Errorf("record %s: %w", DisplayPath(a.Path), err)
	}
	if err := x.eps[a.Side.Other()].Store.Put(ctx, Record{Entry: src}); err != nil {
		return fmt.Errorf("record %s: %w", DisplayPath(a.Path), err)
	}
	if more {
		a.bases[a.Side], a.bases[a.Side.Other()] = &Record{Entry: *got}, &Record{Entry: src}
		a.basesKnown = true // what a later failure of the action keeps
	}
	return nil
}

// keeps reports whether the version an action deletes or replaces is to
// be moved into the keep directory of its side instead. Reconcile plans
// these as keep actions; this covers a saved plan that does not show them.
func (x *executor) keeps(a *Action) bool {
	return x.o.Policy.KeepDir[a.Side] != "" && a.Dest != nil && a.Dest.Type != TypeDir
}

// keepAside moves the entry at p on side s into that side's keep
// directory, at to (its own relative path there), with a time suffix when
// that name is taken.
func (x *executor) keepAside(ctx context.Context, s Side, p, to string, want *Entry) error {
	b := x.eps[s].Backend
	if _, err := b.Stat(ctx, to); err == nil {
		to += "." + x.start.UTC().Format("20060102T150405.000000000Z")
	}
	if err := x.makeParents(ctx, s, to); err != nil {
		return err
	}
	if _, err := b.Rename(ctx, p, to, Expect(want)); err != nil {
		return fmt.Errorf("keep %s: %w", DisplayPath(p), err)
	}
	x.log.Info("kept", "side", s.String(), "path", DisplayPath(p), "as", DisplayPath(to))
	return nil
}

// sourceGone turns a source that vanished since the scan into a failed
// precondition (a stale plan when applying one); other errors pass.
func sourceGone(err error, p string) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("source changed since the scan: %w: %s is gone", ErrPrecondition, DisplayPath(p))
	}
	return err
}

// removeSource deletes a transferred source file under
// --remove-after-transfer and forgets it on the source side, so that the
// removal is never propagated as a deletion.
func (x *executor) removeSource(ctx context.Context, a *Action) error {
	if !x.removesSource(a) {
		return nil
	}
	src := a.Side.Other()
	if err := x.eps[src].Backend.Remove(ctx, a.Path, Expect(a.Source)); err != nil {
		return fmt.Errorf("remove the source after transfer: %w", err)
	}
	return x.eps[src].Store.Delete(ctx, a.Path)
}

// removesSource reports whether removeSource removes a's source.
func (x *executor) removesSource(a *Action) bool {
	return x.o.RemoveAfterTransfer && a.Source.Type == TypeFile
}

// makeParents creates the missing parent directories of p on side s. A
// rename runs before the plan's directory creations (which then find the
// directories made and give them their attributes).
func (x *executor) makeParents(ctx context.Context, s Side, p string) error {
	b := x.eps[s].Backend
	var missing []string
	for d := Parent(p); d != ""; d = Parent(d) {
		e, err := b.Stat(ctx, d)
		if err == nil {
			if e.Type != TypeDir {
				return fmt.Errorf("rename to %s: %s is not a directory", DisplayPath(p), DisplayPath(d))
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if _, err := b.Mkdir(ctx, missing[i], 0o755); err != nil {
			return err
		}
	}
	return nil
}

// commitRename moves the records of a renamed subtree; the renamed entry
// itself is recorded as the backend now holds it on the side that moved it.
func (x *executor) commitRename(ctx context.Context, a *Action, got Entry) error {
	for i := range a.Commit {
		u := a.Commit[i]
		if u.Path == a.To {
			if put := u.Ops[a.Side].Put; put != nil {
				rec := *put
				got.Hash = rec.Hash
				rec.Entry = got
				u.Ops[a.Side].Put = &rec
			}
		}
		if err := x.applyRecord(ctx, &u); err != nil {
			return err
		}
	}
	return nil
}

// drop forgets a deleted path on both sides.
func (x *executor) drop(ctx context.Context, p string) error {
	for s := range 2 {
		if err := x.eps[s].Store.Delete(ctx, p); err != nil {
			return fmt.Errorf("record %s: %w", DisplayPath(p), err)
		}
	}
	return nil
}

// applyRecord applies a snapshot change that needs no action and reports it.
func (x *executor) applyRecord(ctx context.Context, u *RecordUpdate) error {
	for s := range 2 {
		op := u.Ops[s]
		var err error
		switch {
		case op.Put != nil:
			r := *op.Put
			r.Path = u.Path
			err = x.eps[s].Store.Put(ctx, r)
		case op.Drop:
			err = x.eps[s].Store.Delete(ctx, u.Path)
		}
		if err != nil {
			return fmt.Errorf("record %s: %w", DisplayPath(u.Path), err)
		}
	}
	var o Outcome
	switch u.Report {
	case "":
		return nil
	case ReportExists:
		x.stats.Equal.Add(1)
		o = OutcomeExists
	case ReportSkipped:
		x.stats.Skipped.Add(1)
		o = OutcomeSkipped
	default:
		return fmt.Errorf("record %s: unknown report %q", DisplayPath(u.Path), u.Report)
	}
	x.log.Info(u.Report, "path", DisplayPath(u.Path))
	x.report(Finished{Path: u.Path, Outcome: o})
	return nil
}
