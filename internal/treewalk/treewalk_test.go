package treewalk

import (
	"errors"
	"sync"
	"testing"
)

// node is a directory of a synthetic tree: its depth and index.
type node struct{ depth, i int }

func TestWalkVisitsEveryDirectoryOnce(t *testing.T) {
	for _, workers := range []int{1, 4, 16} {
		var mu sync.Mutex
		seen := map[node]int{}
		_, err := Walk(node{}, Options{Workers: workers}, func(n node, _ func() bool) ([]node, error) {
			mu.Lock()
			seen[n]++
			mu.Unlock()
			if n.depth == 4 {
				return nil, nil
			}
			var below []node
			for k := range 3 {
				below = append(below, node{n.depth + 1, n.i*3 + k})
			}
			return below, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) != 1+3+9+27+81 {
			t.Errorf("%d workers: %d directories listed, want 121", workers, len(seen))
		}
		for n, c := range seen {
			if c != 1 {
				t.Errorf("%v listed %d times", n, c)
			}
		}
	}
}

func TestWalkStopsAtTheFirstError(t *testing.T) {
	boom := errors.New("boom")
	left, err := Walk(node{}, Options{Workers: 1}, func(n node, stopped func() bool) ([]node, error) {
		if n.depth == 1 {
			return nil, boom
		}
		return []node{{1, 0}, {1, 1}, {1, 2}}, nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if len(left) != 2 {
		t.Errorf("left %v, want the two directories never listed", left)
	}
}
