// Package retry wraps a core.Backend so that a call failing with a
// transient error (errcode.Transient: a network timeout, a reset
// connection, a throttled or failing server) is made again, a bounded
// number of times, after a jittered, exponentially growing wait that the
// call's context cuts short.
//
// Making a call again is safe because every call that changes something
// carries its precondition (core.Precondition, CreateOptions.Replace) and
// the backend checks it again at each attempt: if the first attempt did
// change the entry after all (its answer was lost), the next one finds the
// entry not as expected and fails with core.ErrPrecondition, which is
// never retried; the action is reported as failed and the next run sees
// the entry as it is. Calls without side effects (Stat, Open, Hash,
// Xattrs) are simply repeated.
//
// What streams is not replayed: a Scan is retried only when it failed
// before it delivered anything; the reads of a reader Open returned, the
// writes and the Commit of a writer Create returned, and Watch are passed
// through as they are (the action fails and the next run does it again).
//
// The wrapper implements exactly the optional interfaces (core.Linker,
// core.Hasher, ...) its inner backend implements; the writers it returns
// are the inner backend's own (a core.Resumer stays one).
package retry

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/errcode"
)

// Defaults of Policy.
const (
	DefaultAttempts = 3
	DefaultBase     = 200 * time.Millisecond
	DefaultMax      = 5 * time.Second
)

// Policy says how often and how patiently a call is made again.
type Policy struct {
	// Attempts is how many times a call is made in all (0: DefaultAttempts;
	// 1: never again).
	Attempts int
	// Base is the wait before the second attempt, doubled before each
	// later one up to Max (0: DefaultBase, DefaultMax). Each wait is
	// jittered: between half of it and all of it.
	Base, Max time.Duration
	// Log receives a debug record for every retry (nil: none).
	Log *slog.Logger
}

// Wrap returns inner wrapped, with the optional interfaces inner has.
// With Attempts 1 it returns inner itself.
func Wrap(inner core.Backend, p Policy) core.Backend {
	p = p.withDefaults()
	if p.Attempts <= 1 {
		return inner
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	return wrap(&base{p: p, inner: inner})
}

// withDefaults returns p with the defaults of its zero fields.
func (p Policy) withDefaults() Policy {
	if p.Attempts == 0 {
		p.Attempts = DefaultAttempts
	}
	if p.Base <= 0 {
		p.Base = DefaultBase
	}
	if p.Max <= 0 {
		p.Max = max(DefaultMax, p.Base)
	}
	return p
}

// wait returns how long to wait before attempt n+1 (n ≥ 1): Base·2^(n-1),
// at most Max, jittered to between its half and itself.
func (p *Policy) wait(n int) time.Duration {
	d := p.Max
	if n-1 < 30 && p.Base<<(n-1) < p.Max {
		d = p.Base << (n - 1)
	}
	return d/2 + rand.N(d/2+1)
}

// base wraps the methods every backend has.
type base struct {
	p     Policy
	inner core.Backend
}

// call makes fn until it succeeds, fails with an error that is not
// transient (or again is false), the attempts are spent or ctx is done;
// it returns fn's last result. method and p name the call in the log.
func call[T any](ctx context.Context, b *base, method, p string, again func() bool, fn func() (T, error)) (T, error) {
	for n := 1; ; n++ {
		v, err := fn()
		if err == nil || errcode.Of(err) != errcode.Transient || ctx.Err() != nil || again != nil && !again() {
			return v, err
		}
		if n >= b.p.Attempts {
			b.p.Log.Debug("retry: giving up", "op", method, "path", core.DisplayPath(p), "attempts", n, "err", err)
			return v, &spent{err}
		}
		w := b.p.wait(n)
		b.p.Log.Debug("retry: transient failure, trying again", "op", method, "path", core.DisplayPath(p),
			"attempt", n+1, "of", b.p.Attempts, "wait", w, "err", err)
		t := time.NewTimer(w)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, err
		case <-t.C:
		}
	}
}

// spent is a transient error that was asked again about as often as the
// policy allows: RetryAction does not retry its action. Its message and
// what it wraps are the error's.
type spent struct{ err error }

func (e *spent) Error() string { return e.err.Error() }
func (e *spent) Unwrap() error { return e.err }

// RetryAction returns the engine's core.Options.RetryAction for p: an
// action that failed with a transient error is carried out again from the
// start, up to p's attempts in all, after p's jittered waits; but not one
// whose failing call a Wrap wrapper already made as often as it may (no
// multiplying of attempts). This covers what the wrapper cannot: a
// failure that a backend reports late, from a writer's Write or Commit or
// a reader's Read (a plugin's or an SSH agent's streamed create).
func (p Policy) RetryAction() func(err error, attempt int) (time.Duration, bool) {
	p = p.withDefaults()
	return func(err error, attempt int) (time.Duration, bool) {
		var s *spent
		if attempt >= p.Attempts || errcode.Of(err) != errcode.Transient || errors.As(err, &s) {
			return 0, false
		}
		return p.wait(attempt), true
	}
}

// call0 is call for a method that returns only an error.
func call0(ctx context.Context, b *base, method, p string, again func() bool, fn func() error) error {
	_, err := call(ctx, b, method, p, again, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}

// SmallFiles passes on the small files' class of the backend wrapped
// (core.SmallFiles: the SSH client's while its data path runs, behind
// its mask), which is the connection's, not an interface to mask.
func (b *base) SmallFiles() core.ThreadClass {
	if sf, ok := core.Unmask(b.inner).(core.SmallFiles); ok {
		return sf.SmallFiles()
	}
	return core.ThreadClass{}
}

func (b *base) Caps() core.Caps { return b.inner.Caps() }
func (b *base) Close() error    { return b.inner.Close() }

// Scan is retried only when it failed before it handed anything to fn or
// to opts.Unreadable: what was delivered cannot be taken back.
func (b *base) Scan(ctx context.Context, opts core.ScanOptions, fn func(core.Entry) error) error {
	var delivered atomic.Bool
	if u := opts.Unreadable; u != nil {
		opts.Unreadable = func(p string, err error) error { delivered.Store(true); return u(p, err) }
	}
	deliver := func(e core.Entry) error { delivered.Store(true); return fn(e) }
	return call0(ctx, b, "Scan", "", func() bool { return !delivered.Load() }, func() error {
		return b.inner.Scan(ctx, opts, deliver)
	})
}

func (b *base) Stat(ctx context.Context, p string) (core.Entry, error) {
	return call(ctx, b, "Stat", p, nil, func() (core.Entry, error) { return b.inner.Stat(ctx, p) })
}

// opened is what Open returns.
type opened struct {
	rc io.ReadCloser
	e  core.Entry
}

// Open is retried until it returns a reader; the reader's reads are not.
func (b *base) Open(ctx context.Context, p string, offset int64) (io.ReadCloser, core.Entry, error) {
	o, err := call(ctx, b, "Open", p, nil, func() (opened, error) {
		rc, e, err := b.inner.Open(ctx, p, offset)
		return opened{rc, e}, err
	})
	return o.rc, o.e, err
}

// Create is retried until it returns a writer (the precondition in
// opts.Replace is checked again at each attempt); the writer is the inner
// backend's, its writes and commit are not retried.
func (b *base) Create(ctx context.Context, p string, opts core.CreateOptions) (core.Writer, error) {
	return call(ctx, b, "Create", p, nil, func() (core.Writer, error) { return b.inner.Create(ctx, p, opts) })
}

func (b *base) Mkdir(ctx context.Context, p string, mode fs.FileMode) (core.Entry, error) {
	return call(ctx, b, "Mkdir", p, nil, func() (core.Entry, error) { return b.inner.Mkdir(ctx, p, mode) })
}

func (b *base) Remove(ctx context.Context, p string, pre core.Precondition) error {
	return call0(ctx, b, "Remove", p, nil, func() error { return b.inner.Remove(ctx, p, pre) })
}

func (b *base) Rename(ctx context.Context, from, to string, pre core.Precondition) (core.Entry, error) {
	return call(ctx, b, "Rename", from, nil, func() (core.Entry, error) { return b.inner.Rename(ctx, from, to, pre) })
}

func (b *base) SetAttr(ctx context.Context, p string, a core.Attrs) (core.Entry, error) {
	return call(ctx, b, "SetAttr", p, nil, func() (core.Entry, error) { return b.inner.SetAttr(ctx, p, a) })
}

// The optional interfaces, one type each, combined by wrap.

type linker struct{ b *base }

func (l linker) Symlink(ctx context.Context, p, target string, pre core.Precondition) (core.Entry, error) {
	return call(ctx, l.b, "Symlink", p, nil, func() (core.Entry, error) {
		return l.b.inner.(core.Linker).Symlink(ctx, p, target, pre)
	})
}

type hasher struct{ b *base }

// hashed is what Hash returns.
type hashed struct {
	sum string
	e   core.Entry
}

func (h hasher) Hash(ctx context.Context, p string, algo core.Checksum) (string, core.Entry, error) {
	r, err := call(ctx, h.b, "Hash", p, nil, func() (hashed, error) {
		sum, e, err := h.b.inner.(core.Hasher).Hash(ctx, p, algo)
		return hashed{sum, e}, err
	})
	return r.sum, r.e, err
}

type hardLinker struct{ b *base }

func (h hardLinker) Link(ctx context.Context, existing, p string, pre core.Precondition) (core.Entry, error) {
	return call(ctx, h.b, "Link", p, nil, func() (core.Entry, error) {
		return h.b.inner.(core.HardLinker).Link(ctx, existing, p, pre)
	})
}

type xattrer struct{ b *base }

func (x xattrer) Xattrs(ctx context.Context, p string) (map[string][]byte, error) {
	return call(ctx, x.b, "Xattrs", p, nil, func() (map[string][]byte, error) {
		return x.b.inner.(core.Xattrer).Xattrs(ctx, p)
	})
}

func (x xattrer) SetXattrs(ctx context.Context, p string, attrs map[string][]byte) error {
	return call0(ctx, x.b, "SetXattrs", p, nil, func() error { return x.b.inner.(core.Xattrer).SetXattrs(ctx, p, attrs) })
}

type copier struct{ b *base }

func (c copier) Copy(ctx context.Context, from, to string, pre core.Precondition) (core.Entry, error) {
	return call(ctx, c.b, "Copy", to, nil, func() (core.Entry, error) {
		return c.b.inner.(core.Copier).Copy(ctx, from, to, pre)
	})
}

// watcher passes Watch through: it runs for as long as the session does,
// and its failures are the continuous-mode controller's to handle.
type watcher struct{ b *base }

func (w watcher) Watch(ctx context.Context, fn func(paths []string)) error {
	return w.b.inner.(core.Watcher).Watch(ctx, fn)
}

type networked struct{ b *base }

func (n networked) InFlight() int { return n.b.inner.(core.Networked).InFlight() }

// wrap returns b with the optional interfaces of b.inner: the wrapper
// with all of them, masked to the inner backend's.
func wrap(b *base) core.Backend {
	return core.Mask(full{b, linker{b}, hasher{b}, hardLinker{b}, xattrer{b}, copier{b}, watcher{b}, networked{b}},
		core.FeaturesOf(b.inner))
}

// full is the wrapper with every optional interface.
type full struct {
	*base
	linker
	hasher
	hardLinker
	xattrer
	copier
	watcher
	networked
}
