package client

import "testing"

// TestFramePool: a frame the data path gave back serves the next file
// whose frame fits it; one too small, too large to keep, or beyond the
// list is not reused; the zero pool keeps nothing.
func TestFramePool(t *testing.T) {
	for _, c := range []struct {
		name      string
		back, get int // the capacity given back, the room asked for next
		reused    bool
	}{
		{"fits", minFrame, 3000, true},
		{"exactly", 20 << 10, 20 << 10, true},
		{"too small", minFrame, minFrame + 1, false},
		{"too large to keep", maxPooledFrame + 1, 100, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newFramePool()
			b := make([]byte, 5, c.back)
			p.Recycle(b)
			got := p.get(c.get)
			if len(got) != 0 || cap(got) < c.get {
				t.Fatalf("get(%d): len %d cap %d", c.get, len(got), cap(got))
			}
			if reused := &got[:1][0] == &b[:1][0]; reused != c.reused {
				t.Fatalf("reused = %v, want %v", reused, c.reused)
			}
		})
	}
	p := newFramePool()
	for range pooledFrames + 5 {
		p.Recycle(make([]byte, 0, minFrame))
	}
	if len(p.free) != pooledFrames {
		t.Fatalf("the pool holds %d frames, want at most %d", len(p.free), pooledFrames)
	}
	var zero framePool
	zero.Recycle(make([]byte, 0, minFrame))
	if b := zero.get(10); cap(b) < minFrame {
		t.Fatalf("the zero pool's frame has room for %d", cap(b))
	}
}
