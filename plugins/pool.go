package plugins

import (
	"sync"

	"google.golang.org/grpc/mem"
)

// bufferPool is the buffer pool of both ends of the transport. gRPC's
// default pool clears every buffer it hands out, which costs as much as
// copying the data again, and has no size for a message that carries a
// whole chunk; gRPC writes each buffer entirely before reading it, so
// these buffers are handed out as they were returned.
type bufferPool struct {
	tiers []poolTier // by size
}

// poolTier holds the buffers of one capacity.
type poolTier struct {
	size int
	pool sync.Pool
}

var _ mem.BufferPool = (*bufferPool)(nil)

// transportPool is shared by every connection of the process.
var transportPool = newBufferPool(256, 4<<10, 16<<10, 32<<10, chunkSize+64<<10)

// newBufferPool returns a pool for buffers of the given capacities, in
// increasing order; larger buffers are not pooled.
func newBufferPool(sizes ...int) *bufferPool {
	p := &bufferPool{tiers: make([]poolTier, len(sizes))}
	for i, s := range sizes {
		p.tiers[i].size = s
	}
	return p
}

// Get returns a buffer of length size, its content unspecified.
func (p *bufferPool) Get(size int) *[]byte {
	for i := range p.tiers {
		t := &p.tiers[i]
		if size > t.size {
			continue
		}
		if b, ok := t.pool.Get().(*[]byte); ok {
			*b = (*b)[:size]
			return b
		}
		b := make([]byte, size, t.size)
		return &b
	}
	b := make([]byte, size)
	return &b
}

// Put returns a buffer that Get handed out.
func (p *bufferPool) Put(b *[]byte) {
	c := cap(*b)
	for i := range p.tiers {
		if t := &p.tiers[i]; t.size == c {
			t.pool.Put(b)
			return
		}
	}
}
