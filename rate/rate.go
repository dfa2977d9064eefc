// Package rate is async's shared transfer rate limiter: one token bucket
// that every transfer worker of a session draws its bytes from, and the
// parsers of async's rate and size syntax.
package rate

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// minBurst is the smallest bucket, so that slow rates still move whole
// buffers at a time.
const minBurst = 16 << 10

// maxRate is the largest rate ParseRate accepts, in bits per second.
const maxRate = 1e15

// Limiter is a token bucket of bytes shared by many goroutines. A nil
// *Limiter, or one with a zero rate, does not limit.
//
// The bucket holds about 1/20 s worth of bytes (at least 16 KiB). Callers
// that ask for more than there is reserve the bytes and wait their turn, so
// waiters are served roughly in the order they arrived.
type Limiter struct {
	mu     sync.Mutex
	bps    float64   // bytes per second; 0: unlimited
	burst  float64   // bucket size in bytes
	tokens float64   // bytes available; negative: bytes owed by waiters
	filled float64   // bytes credited since creation; waiters' targets count in it
	last   time.Time // when tokens and filled were last brought up to date
	// changed is closed and replaced by SetRate, to wake the waiters so
	// they recompute their wait at the new rate.
	changed chan struct{}
	now     func() time.Time // the clock (tests use a fake one)

	passed atomic.Int64 // bytes let through
	waits  atomic.Int64 // callers that had to wait
}

// New returns a limiter of bitsPerSecond (0 or less: unlimited).
func New(bitsPerSecond int64) *Limiter {
	l := &Limiter{changed: make(chan struct{}), now: time.Now}
	l.SetRate(bitsPerSecond)
	return l
}

// SetRate changes the rate to bitsPerSecond (0 or less: unlimited). It may
// be called while the limiter is in use: goroutines waiting in WaitN
// recompute their wait at the new rate.
func (l *Limiter) SetRate(bitsPerSecond int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	wasLimited := l.bps > 0
	if wasLimited {
		l.refill(now) // credit the time elapsed at the old rate
	}
	l.bps = max(float64(bitsPerSecond), 0) / 8
	l.burst = max(l.bps/20, minBurst)
	if !wasLimited {
		l.tokens, l.last = l.burst, now
	}
	l.tokens = min(l.tokens, l.burst)
	close(l.changed)
	l.changed = make(chan struct{})
}

// Rate returns the rate in bits per second (0: unlimited).
func (l *Limiter) Rate() int64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(math.Round(l.bps * 8))
}

// refill credits the bytes earned since l.last. l.mu must be held and the
// limiter limited.
func (l *Limiter) refill(now time.Time) {
	earned := now.Sub(l.last).Seconds() * l.bps
	if earned <= 0 {
		return
	}
	l.last = now
	l.filled += earned
	l.tokens = min(l.burst, l.tokens+earned)
}

// WaitN blocks until n bytes may pass, or ctx ends (returning its error).
// n may exceed the burst: it is then taken a bucketful at a time. A nil or
// unlimited limiter returns at once.
func (l *Limiter) WaitN(ctx context.Context, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l == nil {
		return nil
	}
	for n > 0 {
		take, target, wait := l.reserve(float64(n))
		n -= int(take)
		l.passed.Add(int64(take))
		if wait <= 0 {
			continue
		}
		l.waits.Add(1)
		if err := l.await(ctx, target, take); err != nil {
			return err
		}
	}
	return nil
}

// reserve takes up to a bucketful of n bytes from the bucket, under one
// lock, and returns how many it took, the credit total at which they are
// paid for, and how long from now that is (0 or less: at once). An
// unlimited limiter takes all n at once.
func (l *Limiter) reserve(n float64) (take, target float64, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bps <= 0 {
		return n, 0, 0
	}
	take = min(n, l.burst)
	l.refill(l.now())
	l.tokens -= take
	if l.tokens >= 0 {
		return take, 0, 0
	}
	// Our bytes are paid for once the limiter has credited the whole
	// debt, ours included.
	target = l.filled - l.tokens
	return take, target, time.Duration(math.Ceil((target - l.filled) / l.bps * float64(time.Second)))
}

// Stats returns how many bytes the limiter let through and how many times
// a caller had to wait, since it was made.
func (l *Limiter) Stats() (passed, waits int64) {
	if l == nil {
		return 0, 0
	}
	return l.passed.Load(), l.waits.Load()
}

// await sleeps until l.filled reaches target, the limiter becomes
// unlimited, or ctx ends. take is what the caller reserved, refunded in part
// when ctx ends first.
func (l *Limiter) await(ctx context.Context, target, take float64) error {
	for {
		l.mu.Lock()
		if l.bps <= 0 {
			l.mu.Unlock()
			return nil
		}
		l.refill(l.now())
		owed := target - l.filled
		wait := time.Duration(math.Ceil(owed / l.bps * float64(time.Second)))
		changed := l.changed
		l.mu.Unlock()
		if wait <= 0 {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			l.refund(target, take)
			return ctx.Err()
		case <-changed:
			t.Stop()
		case <-t.C:
		}
	}
}

// refund gives back the part of a cancelled reservation not yet earned, so
// that later callers do not pay for bytes that never passed.
func (l *Limiter) refund(target, take float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bps <= 0 {
		return
	}
	l.refill(l.now())
	if back := min(take, target-l.filled); back > 0 {
		l.tokens = min(l.burst, l.tokens+back)
	}
}

// chunk is how many bytes Reader and Writer move per wait: a bucketful.
func (l *Limiter) chunk() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.burst)
}

// Reader returns r with its reads rate-limited by l until ctx ends. It
// returns r itself when l is nil or unlimited at the time of the call, so a
// later SetRate does not affect such a reader.
func (l *Limiter) Reader(ctx context.Context, r io.Reader) io.Reader {
	if l.Rate() == 0 {
		return r
	}
	return &reader{ctx: ctx, l: l, r: r}
}

// Writer returns w with its writes rate-limited by l until ctx ends. It
// returns w itself when l is nil or unlimited at the time of the call, so a
// later SetRate does not affect such a writer.
func (l *Limiter) Writer(ctx context.Context, w io.Writer) io.Writer {
	if l.Rate() == 0 {
		return w
	}
	return &writer{ctx: ctx, l: l, w: w}
}

// reader reads at most a bucketful at a time and pays for what it read.
type reader struct {
	ctx context.Context
	l   *Limiter
	r   io.Reader
}

func (r *reader) Read(p []byte) (int, error) {
	if c := r.l.chunk(); len(p) > c {
		p = p[:c]
	}
	n, err := r.r.Read(p)
	if n > 0 {
		if werr := r.l.WaitN(r.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// writer writes a bucketful at a time, each once paid for.
type writer struct {
	ctx context.Context
	l   *Limiter
	w   io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		c := min(len(p), w.l.chunk())
		if err := w.l.WaitN(w.ctx, c); err != nil {
			return written, err
		}
		n, err := w.w.Write(p[:c])
		written += n
		if err != nil {
			return written, err
		}
		p = p[c:]
	}
	return written, nil
}

// ParseRate parses async's rate syntax into bits per second: a decimal
// number ("1.5" allowed) with an optional k, m or g suffix (either case),
// decimal multiples of bits per second (500m = 500,000,000 bit/s). A bare
// number is kbit/s, ascp's unit ("30000" = 30 Mbit/s). Zero and negative
// rates are refused.
func ParseRate(s string) (int64, error) {
	num, mult := cutSuffix(s, map[byte]float64{'k': 1e3, 'm': 1e6, 'g': 1e9})
	if mult == 0 {
		mult = 1e3 // bare number: kbit/s
	}
	if !isDecimal(num, true) {
		return 0, fmt.Errorf("invalid rate %q (want a number with optional k, m or g suffix, e.g. 500m)", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid rate %q: %w", s, err)
	}
	bps := math.Round(v * mult)
	switch {
	case bps < 1:
		return 0, fmt.Errorf("invalid rate %q (must be more than zero)", s)
	case bps > maxRate:
		return 0, fmt.Errorf("invalid rate %q (at most %gg)", s, maxRate/1e9)
	}
	return int64(bps), nil
}

// ParseSize parses a size in bytes: a whole number with an optional k, m,
// g or t suffix (either case) meaning KiB, MiB, GiB, TiB ("1m" = 1048576).
func ParseSize(s string) (int64, error) {
	num, mult := cutSuffix(s, map[byte]float64{'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30, 't': 1 << 40})
	if mult == 0 {
		mult = 1
	}
	if !isDecimal(num, false) {
		return 0, fmt.Errorf("invalid size %q (want bytes with optional k, m, g or t suffix, e.g. 1m)", s)
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v > math.MaxInt64/int64(mult) {
		return 0, fmt.Errorf("invalid size %q (too large)", s)
	}
	return v * int64(mult), nil
}

// cutSuffix splits a trailing unit letter (matched case-insensitively
// against the lower-case keys of units) off s, returning its multiplier, or
// 0 when s has none.
func cutSuffix(s string, units map[byte]float64) (string, float64) {
	if s == "" {
		return s, 0
	}
	c := s[len(s)-1]
	if 'A' <= c && c <= 'Z' {
		c += 'a' - 'A'
	}
	if m, ok := units[c]; ok {
		return s[:len(s)-1], m
	}
	return s, 0
}

// isDecimal reports whether s is plain digits, with at most one '.' when
// frac is set, and at least one digit: no sign, exponent, spaces or
// underscores.
func isDecimal(s string, frac bool) bool {
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			digits++
		case c == '.' && frac && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}
