package core

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// batchStater records the batches it is asked for and answers each path
// with an entry of that path.
type batchStater struct {
	mu      sync.Mutex
	batches [][]string
}

func (b *batchStater) StatBatch(_ context.Context, paths []string) ([]Entry, []error) {
	b.mu.Lock()
	b.batches = append(b.batches, paths)
	b.mu.Unlock()
	entries, errs := make([]Entry, len(paths)), make([]error, len(paths))
	for i, p := range paths {
		entries[i].Path = p
		if len(p)%3 == 0 {
			errs[i] = fmt.Errorf("stat %s: failed", p)
		}
	}
	return entries, errs
}

// TestStatBatches checks that statBatches answers each path in its place
// and keeps the paths of a directory in one batch.
func TestStatBatches(t *testing.T) {
	for _, n := range []int{0, 1, 5, 100, 1000} {
		rng := rand.New(rand.NewPCG(1, uint64(n)))
		var paths []string
		for i := range n {
			paths = append(paths, fmt.Sprintf("d%d/s%d/f%d", rng.IntN(7), rng.IntN(5), i))
			if i%10 == 0 {
				paths = append(paths, fmt.Sprintf("d%d", rng.IntN(7)), fmt.Sprintf("d%d/s%d", rng.IntN(7), rng.IntN(5)))
			}
		}
		b := &batchStater{}
		entries, errs := statBatches(context.Background(), b, paths)
		for i, p := range paths {
			if entries[i].Path != p || (errs[i] != nil) != (len(p)%3 == 0) {
				t.Fatalf("%d paths: %q answered with %q, %v", n, p, entries[i].Path, errs[i])
			}
		}
		seen, total := map[string]int{}, 0
		for k, batch := range b.batches {
			total += len(batch)
			for _, p := range batch {
				if at, ok := seen[Parent(p)]; ok && at != k {
					t.Fatalf("%d paths: directory %q in batches %d and %d", n, Parent(p), at, k)
				}
				seen[Parent(p)] = k
			}
		}
		if total != len(paths) || len(b.batches) > statWorkers+1 {
			t.Fatalf("%d paths: %d stated in %d batches", n, total, len(b.batches))
		}
	}
}
