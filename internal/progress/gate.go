package progress

import (
	"sync"
	"time"
)

// ReadableRate is how many lines a second a person can follow; faster
// than that, a Gate holds routine lines back.
const ReadableRate = 20

// Gate tells whether a routine line may be shown: not while lines arrive
// faster than ReadableRate a second (counted over the last second, shown
// or not). It is safe for concurrent use.
type Gate struct {
	mu      sync.Mutex
	slot    int64   // the current tenth of a second
	buckets [10]int // lines per tenth of a second, a ring
}

// Pass counts a line arriving at now and reports whether it may be shown.
func (g *Gate) Pass(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	slot := now.UnixNano() / int64(100*time.Millisecond)
	if d := slot - g.slot; d >= int64(len(g.buckets)) || d < 0 {
		g.buckets = [10]int{}
	} else {
		for i := g.slot + 1; i <= slot; i++ {
			g.buckets[i%10] = 0
		}
	}
	g.slot = slot
	g.buckets[slot%10]++
	n := 0
	for _, b := range g.buckets {
		n += b
	}
	return n <= ReadableRate
}
