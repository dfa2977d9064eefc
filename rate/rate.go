// Package rate is async's shared transfer rate limiter: one token bucket
// that every transfer worker of a session draws its bytes from, and the
// parsers of async's rate and size syntax.
package rate

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limiter is a token bucket of bytes shared by many goroutines. A nil
// *Limiter, or one with a zero rate, does not limit.
type Limiter struct {
	mu     sync.Mutex
	bps    float64 // bytes per second; 0: unlimited
	burst  float64
	tokens float64
	last   time.Time
}

// New returns a limiter of bitsPerSecond (0: unlimited).
func New(bitsPerSecond int64) *Limiter {
	l := &Limiter{last: time.Now()}
	l.SetRate(bitsPerSecond)
	l.tokens = l.burst
	return l
}

// SetRate changes the rate; it may be called while the limiter is in use.
func (l *Limiter) SetRate(bitsPerSecond int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bps = float64(bitsPerSecond) / 8
	l.burst = max(l.bps/20, 64<<10)
	l.tokens = min(l.tokens, l.burst)
}

// Rate returns the rate in bits per second (0: unlimited).
func (l *Limiter) Rate() int64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(l.bps * 8)
}

// WaitN blocks until n bytes may pass or ctx ends. n may exceed the burst.
func (l *Limiter) WaitN(ctx context.Context, n int) error {
	if l == nil {
		return nil
	}
	for n > 0 {
		l.mu.Lock()
		if l.bps <= 0 {
			l.mu.Unlock()
			return nil
		}
		now := time.Now()
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.bps)
		l.last = now
		take := min(float64(n), l.burst)
		l.tokens -= take
		var wait time.Duration
		if l.tokens < 0 {
			wait = time.Duration(-l.tokens / l.bps * float64(time.Second))
		}
		l.mu.Unlock()
		n -= int(take)
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
	return ctx.Err()
}

// Reader returns r with its reads rate-limited (r itself when unlimited).
func (l *Limiter) Reader(ctx context.Context, r io.Reader) io.Reader {
	if l == nil {
		return r
	}
	return &reader{ctx, l, r}
}

// Writer returns w with its writes rate-limited (w itself when unlimited).
func (l *Limiter) Writer(ctx context.Context, w io.Writer) io.Writer {
	if l == nil {
		return w
	}
	return &writer{ctx, l, w}
}

type reader struct {
	ctx context.Context
	l   *Limiter
	r   io.Reader
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		if werr := r.l.WaitN(r.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

type writer struct {
	ctx context.Context
	l   *Limiter
	w   io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	if err := w.l.WaitN(w.ctx, len(p)); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}

// ParseRate parses async's rate syntax: a number with an optional k, m or
// g suffix (either case), in bits per second, decimal (500m = 500,000,000
// bit/s). A bare number is kbit/s, ascp's unit ("30000" = 30 Mbit/s).
func ParseRate(s string) (int64, error) {
	mult := 1000.0 // bare number: kbit/s
	num := s
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			mult, num = 1e3, s[:n-1]
		case 'm', 'M':
			mult, num = 1e6, s[:n-1]
		case 'g', 'G':
			mult, num = 1e9, s[:n-1]
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 || strings.ContainsAny(num, "eEnNiI+-_ ") {
		return 0, fmt.Errorf("invalid rate %q (want a number with optional k, m or g suffix, e.g. 500m)", s)
	}
	bps := v * mult
	if bps < 1 || bps > 1e15 {
		return 0, fmt.Errorf("invalid rate %q: out of range", s)
	}
	return int64(bps), nil
}

// ParseSize parses a size: bytes with an optional k, m, g or t suffix
// (either case) meaning KiB, MiB, GiB, TiB ("1m" = 1048576).
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	num := s
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			mult, num = 1<<10, s[:n-1]
		case 'm', 'M':
			mult, num = 1<<20, s[:n-1]
		case 'g', 'G':
			mult, num = 1<<30, s[:n-1]
		case 't', 'T':
			mult, num = 1<<40, s[:n-1]
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q (want bytes with optional k, m, g or t suffix, e.g. 1m)", s)
	}
	return v * mult, nil
}
