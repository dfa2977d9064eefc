package core

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// hashJob asks for the fingerprint of one side's current entry.
type hashJob struct {
	side Side
	e    *Entry
}

// hashStage fills the fingerprints the diff and reconcile stages need, and
// no others: entries whose metadata changed but whose content may not have,
// and pairs of entries whose content must be compared. Unchanged entries
// keep the fingerprint of their record.
func (e *engine) hashStage(ctx context.Context, prep *Prepared) error {
	states := prep.States()
	p := &e.o.Policy
	if !p.Checksum.Enabled() {
		return nil
	}
	dopts := p.diffOptions()
	owners := dopts.Owners
	var jobs []hashJob
	for i := range states {
		ps := &states[i]
		for s := range 2 {
			b, c := ps.Base[s], ps.Cur[s]
			if b != nil && c != nil && b.Status == StatusSynced && c.Hash == "" &&
				hashAlgo(b.Hash) == p.Checksum && SameMeta(&b.Entry, c, owners) {
				c.Hash = b.Hash
			}
			if NeedsRehash(b, c, dopts) {
				jobs = append(jobs, hashJob{Side(s), c})
			} else if (p.Dedup == DedupHardlink || p.Dedup == DedupCopy) && c != nil && c.Type == TypeFile && c.Hash == "" && c.Size > 0 && Diff(b, c, dopts).Changed() {
				jobs = append(jobs, hashJob{Side(s), c}) // duplicates are found by fingerprint
			}
		}
	}
	e.runHashes(ctx, prep, jobs, p.Checksum)
	jobs = jobs[:0]
	for i := range states {
		ps := &states[i]
		l, r := ps.Cur[Local], ps.Cur[Remote]
		if l == nil || r == nil || l.Type != TypeFile || r.Type != TypeFile || !NeedsCompare(l, r, p.Checksum) {
			continue
		}
		cl, cr := Diff(ps.Base[Local], l, dopts), Diff(ps.Base[Remote], r, dopts)
		both := cl.Changed() && cr.Changed()
		mirror := p.Mirror && (cl.Changed() || cr.Changed())
		if !both && !mirror && !outOfStep(ps) {
			continue
		}
		for s, en := range [2]*Entry{l, r} {
			if en.Hash == "" {
				jobs = append(jobs, hashJob{Side(s), en})
			}
		}
	}
	e.runHashes(ctx, prep, jobs, p.Checksum)
	e.fullCompare(ctx, prep)
	return ctx.Err()
}

// fullCompare gives both entries of a path changed on both sides a full
// fingerprint when only that can tell whether they are equal (equal sizes
// above SparseWhole, other mtimes, sampled fingerprints that do not
// differ) and the policy would otherwise make the path a conflict or keep
// one version aside: so that identical large files whose records were lost
// do not stay in conflict. A record of the same entry that already holds
// one (a conflict found before) saves the reading.
func (e *engine) fullCompare(ctx context.Context, prep *Prepared) {
	p := &e.o.Policy
	if !p.Checksum.Sparse() || p.Direction != Bidi && p.Overwrite == OverwriteAlways {
		return
	}
	full := fullOf(p.Checksum)
	dopts := p.diffOptions()
	var jobs []hashJob
	states := prep.States()
	for i := range states {
		ps := &states[i]
		l, r := ps.Cur[Local], ps.Cur[Remote]
		if l == nil || r == nil || l.Type != TypeFile || r.Type != TypeFile || l.Size != r.Size ||
			l.Size <= SparseWhole || l.MTime.Equal(r.MTime) {
			continue
		}
		if !Diff(ps.Base[Local], l, dopts).Changed() || !Diff(ps.Base[Remote], r, dopts).Changed() {
			continue
		}
		if l.Hash != "" && hashAlgo(l.Hash) == hashAlgo(r.Hash) && l.Hash != r.Hash {
			continue // the samples differ already
		}
		for s, en := range [2]*Entry{l, r} {
			if b := ps.Base[s]; b != nil && hashAlgo(b.Hash) == full && SameMeta(&b.Entry, en, dopts.Owners) {
				en.Hash = b.Hash
				continue
			}
			jobs = append(jobs, hashJob{Side(s), en})
		}
	}
	e.runHashes(ctx, prep, jobs, full)
}

// fullOf is the whole-content fingerprint of a sparse one's family.
func fullOf(c Checksum) Checksum {
	if c == ChecksumMD5Sparse {
		return ChecksumMD5
	}
	return ChecksumSHA1
}

// runHashes fingerprints the jobs with algo, with each side's checksum
// threads. A failure leaves the fingerprint as it was: the content then
// counts as different, and the transfer stage reports the entry if it
// cannot read it.
func (e *engine) runHashes(ctx context.Context, prep *Prepared, jobs []hashJob, algo Checksum) {
	if len(jobs) == 0 {
		return
	}
	var wg sync.WaitGroup
	for s := range 2 {
		n := e.eps[s].ChecksumThreads
		if n <= 0 {
			n = 4
		}
		ch := make(chan *Entry)
		for range n {
			wg.Go(func() {
				for en := range ch {
					start := time.Now()
					h, err := e.hashEntry(ctx, Side(s), prep.Where(en), en, algo)
					if err != nil {
						e.log.Warn("hash", "side", Side(s).String(), "path", DisplayPath(en.Path), "err", err)
						continue
					}
					en.Hash = h
					if e.lv.trace {
						e.log.Log(ctx, LevelTrace, "hash", "side", Side(s).String(), "path", DisplayPath(en.Path), "hash", h, "took", time.Since(start))
					}
				}
			})
		}
		wg.Go(func() {
			defer close(ch)
			for _, j := range jobs {
				if j.side != Side(s) {
					continue
				}
				select {
				case ch <- j.e:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
}

// hashEntry fingerprints one entry with algo, found at path where, on the
// backend when it can (where the data lives), else by reading it. The
// content must still be the scanned one.
func (e *engine) hashEntry(ctx context.Context, s Side, where string, en *Entry, algo Checksum) (string, error) {
	b := e.eps[s].Backend
	if h, ok := b.(Hasher); ok {
		sum, got, err := h.Hash(ctx, where, algo)
		if err != nil {
			return "", err
		}
		if err := Expect(en).Check(&got); err != nil {
			return "", err
		}
		return sum, nil
	}
	return hashByReading(ctx, b, where, en, algo)
}

// hashByReading fingerprints en through Open, reading only the sampled
// blocks of a sparse fingerprint.
func hashByReading(ctx context.Context, b Backend, where string, en *Entry, algo Checksum) (string, error) {
	ch := NewContentHasher(algo, en.Size)
	offs := SparseOffsets(en.Size)
	if !algo.Sparse() || offs == nil {
		offs = []int64{0}
	}
	for _, off := range offs {
		rc, got, err := b.Open(ctx, where, off)
		if err != nil {
			return "", err
		}
		if err := Expect(en).Check(&got); err != nil {
			rc.Close()
			return "", err
		}
		n := en.Size - off
		if len(offs) > 1 {
			n = SparseBlock
		}
		ch.pos = off
		_, err = io.CopyN(ch, rc, n)
		rc.Close()
		if err != nil {
			return "", fmt.Errorf("read %s: %w", DisplayPath(where), err)
		}
	}
	return ch.Sum(), nil
}
