package retry

import (
	"testing"
	"time"
)

// TestWaitJitteredExponential: the wait doubles from Base up to Max and
// is jittered between its half and itself, without overflowing.
func TestWaitJitteredExponential(t *testing.T) {
	p := Policy{Base: 100 * time.Millisecond, Max: 2 * time.Second}
	for n, d := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		5: 1600 * time.Millisecond, 6: 2 * time.Second, 40: 2 * time.Second, 200: 2 * time.Second} {
		seen := map[time.Duration]bool{}
		for range 50 {
			w := p.wait(n)
			if w < d/2 || w > d {
				t.Fatalf("wait(%d) = %v, want between %v and %v", n, w, d/2, d)
			}
			seen[w] = true
		}
		if len(seen) < 2 {
			t.Errorf("wait(%d) is always %v: not jittered", n, p.wait(n))
		}
	}
}
