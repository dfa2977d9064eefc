package modeltest

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/async-sync/async/core"
)

var (
	scaleFiles = flag.Int("model.scale", 0, "TestModelScale: files in the bulk tree (0: skipped; make model-scale runs 100000)")
	scaleSeqs  = flag.Int("model.scale.sequences", 2, "TestModelScale: random sequences to run")
	scaleSteps = flag.Int("model.scale.steps", 4, "TestModelScale: syncs per sequence")
)

// scalePerDir is the number of bulk files per directory.
const scalePerDir = 100

// TestModelScale runs the model's random sequences over a large tree: a
// bulk tree of -model.scale files (on the local side, half as many again
// on the remote side, both copied by the first sync) besides the small
// colliding name space of TestModelBidi, and at each step random changes
// to the bulk too (1 % of the files rewritten, some deleted, touched or
// chmodded, a directory renamed, one removed). The invariants are the
// model's: nothing lost, both sides equal, a second sync plans nothing.
// Not in make test: make model-scale.
func TestModelScale(t *testing.T) {
	if *scaleFiles <= 0 {
		t.Skip("run with -model.scale=N (make model-scale)")
	}
	dir := baseDir()
	for i := range *scaleSeqs {
		seed := uint64(i + 1)
		start := time.Now()
		if !runScaleSequence(t, dir, seed) {
			t.Fatalf("sequence failed; rerun with: go test ./internal/modeltest -run TestModelScale -model.scale=%d -model.scale.sequences=%d -v", *scaleFiles, i+1)
		}
		t.Logf("sequence %d: %d bulk files, %d syncs in %s", seed, *scaleFiles+*scaleFiles/2, *scaleSteps, time.Since(start).Round(time.Millisecond))
	}
}

func runScaleSequence(t *testing.T, dir string, seed uint64) bool {
	base, err := os.MkdirTemp(dir, "async-model-scale-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	w := &world{t: t, rng: rand.New(rand.NewPCG(seed, seed*104729)), killed: map[string]bool{}}
	defer w.open(base)()
	w.randomPolicy(true)
	// Hints would need a walk of both trees around every operation.
	w.hinted = false
	w.logf("seed %d policy %+v, bulk of %d files", seed, w.policy, *scaleFiles)
	w.bulk(core.Local, "bulk", *scaleFiles)
	w.bulk(core.Remote, "rbulk", *scaleFiles/2)
	ok := true
	for step := 0; step < *scaleSteps && ok; step++ {
		if step > 0 {
			for s := range 2 {
				w.mutateBulk(core.Side(s))
			}
		}
		for s := range 2 {
			for range w.rng.IntN(5) {
				w.mutate(core.Side(s))
			}
		}
		ok = w.syncAndCheck()
	}
	if !ok {
		t.Log(w.logTail(200))
	}
	return ok
}

// bulkPath names bulk file i under top.
func bulkPath(top string, i int) string {
	return filepath.Join(top, fmt.Sprintf("d%04d", i/scalePerDir), fmt.Sprintf("f%06d", i))
}

// bulk writes n small files of unique contents under top on side s.
func (w *world) bulk(s core.Side, top string, n int) {
	for i := range n {
		p := filepath.Join(w.root[s], bulkPath(top, i))
		if i%scalePerDir == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				w.t.Fatal(err)
			}
		}
		if err := os.WriteFile(p, []byte(fmt.Sprintf("%s %d %s", top, i, w.content())), 0o644); err != nil {
			w.t.Fatal(err)
		}
	}
	w.logf("%s: %d bulk files under %s", s, n, top)
}

// mutateBulk changes side s's copy of the bulk trees at random: about 1 %
// of the files rewritten, a few deleted, touched and chmodded, sometimes
// a directory renamed or removed. Paths that are gone are skipped.
func (w *world) mutateBulk(s core.Side) {
	root := w.root[s]
	top, n := "bulk", *scaleFiles
	if w.rng.IntN(3) == 0 {
		top, n = "rbulk", *scaleFiles/2
	}
	if n == 0 {
		return
	}
	pick := func() string { return bulkPath(top, w.rng.IntN(n)) }
	exists := func(p string) bool {
		fi, err := os.Lstat(filepath.Join(root, p))
		return err == nil && fi.Mode().IsRegular()
	}
	rewritten, deleted, touched := 0, 0, 0
	for range max(1, n/100) {
		if p := pick(); exists(p) {
			w.kill(filepath.Join(root, p))
			if os.WriteFile(filepath.Join(root, p), []byte(w.content()), 0o644) == nil {
				rewritten++
			}
		}
	}
	for range 1 + w.rng.IntN(20) {
		if p := pick(); exists(p) {
			w.kill(filepath.Join(root, p))
			if os.Remove(filepath.Join(root, p)) == nil {
				deleted++
			}
		}
	}
	for range 1 + w.rng.IntN(20) {
		if p := pick(); exists(p) {
			at := time.Now().Add(time.Duration(w.rng.IntN(1000)) * time.Second)
			if w.rng.IntN(2) == 0 {
				os.Chmod(filepath.Join(root, p), 0o600)
			} else if os.Chtimes(filepath.Join(root, p), at, at) == nil {
				touched++
			}
		}
	}
	w.logf("%s: bulk %s: %d rewritten, %d deleted, %d touched", s, top, rewritten, deleted, touched)
	d := filepath.Dir(pick())
	switch w.rng.IntN(4) {
	case 0: // rename a directory of the bulk
		to := filepath.Join(top, fmt.Sprintf("moved%d", w.rng.IntN(1000)))
		if _, err := os.Lstat(filepath.Join(root, to)); err == nil {
			return
		}
		if os.Rename(filepath.Join(root, d), filepath.Join(root, to)) == nil {
			w.logf("%s: mv %s %s", s, d, to)
		}
	case 1: // remove one
		if _, err := os.Lstat(filepath.Join(root, d)); err == nil {
			w.kill(filepath.Join(root, d))
			os.RemoveAll(filepath.Join(root, d))
			w.logf("%s: rm -r %s", s, d)
		}
	}
}

// logTail is the last n lines of the sequence's log.
func (w *world) logTail(n int) string {
	l := w.log[max(0, len(w.log)-n):]
	out := ""
	for _, s := range l {
		out += s + "\n"
	}
	return out
}
