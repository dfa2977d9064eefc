// Package faults wraps a core.Backend to inject failures for tests: the
// Nth call of any method fails with an error of the test's choosing, or
// waits first, or returns a short read; or the "connection drops" and
// every call from then on fails. The wrapper counts calls per method, so
// a test can run cleanly once, read how many calls a run makes, then fail
// each of them in turn.
//
// The wrapper implements exactly the optional interfaces (core.Linker,
// core.Hasher, ...) its inner backend implements.
package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sync"
	"time"

	"github.com/async-sync/async/core"
)

// Method names a counted call: the Backend methods, those of the optional
// interfaces, and those of the writers and readers they return.
type Method string

// The methods counted.
const (
	Scan      Method = "Scan"
	Stat      Method = "Stat"
	Open      Method = "Open"
	Create    Method = "Create"
	Mkdir     Method = "Mkdir"
	Remove    Method = "Remove"
	Rename    Method = "Rename"
	SetAttr   Method = "SetAttr"
	Symlink   Method = "Symlink"
	Hash      Method = "Hash"
	Link      Method = "Link"
	Xattrs    Method = "Xattrs"
	SetXattrs Method = "SetXattrs"
	Copy      Method = "Copy"
	Watch     Method = "Watch"
	Read      Method = "Read"   // a Read of a reader Open returned
	Write     Method = "Write"  // a Write of a writer Create returned
	Commit    Method = "Commit" // a writer's Commit
	Keep      Method = "Keep"   // a writer's Resumer.Keep
)

// Methods are all the methods counted, in a fixed order.
var Methods = []Method{Scan, Stat, Open, Create, Mkdir, Remove, Rename, SetAttr, Symlink,
	Hash, Link, Xattrs, SetXattrs, Copy, Watch, Read, Write, Commit, Keep}

// ErrInjected is the error of a rule that names none.
var ErrInjected = errors.New("injected fault")

// ErrDropped is what every call returns once the connection dropped.
var ErrDropped = errors.New("connection dropped")

// Rule is one fault: at the Nth call of Method (counting from 1; 0: every
// call) wait Delay, then fail with Err, or make the read short, or drop
// the connection. A rule with none of Err, Short and Drop fails the call
// with ErrInjected after its Delay when Delay is 0, else only delays it.
type Rule struct {
	Method Method
	// Path, when set, limits the rule to calls on that path (the first
	// path argument; for Read, Write, Commit and Keep the path the reader
	// or writer was opened on), and N counts only those.
	Path  string
	N     int
	Delay time.Duration
	// Err is wrapped in the returned error (errors.Is finds it).
	Err error
	// Short: for Open, the reader returned ends (io.EOF) halfway through
	// the content, as if the file were shorter; for Read, the call returns
	// half of what it would (a legal short read).
	Short bool
	// Drop fails this call and every later call of any method with
	// ErrDropped.
	Drop bool
}

// fails reports whether the rule makes its call fail.
func (r Rule) fails() bool {
	return r.Err != nil || r.Drop || (!r.Short && r.Delay == 0)
}

// Injector holds the rules and the counts of one wrapped backend.
type Injector struct {
	inner   core.Backend
	mu      sync.Mutex
	rules   []Rule
	calls   map[Method]int
	onPath  map[string]int // calls by method and path
	dropped bool
}

// Wrap returns inner wrapped (with the optional interfaces inner has) and
// the injector that controls it, with rules in force.
func Wrap(inner core.Backend, rules ...Rule) (core.Backend, *Injector) {
	in := &Injector{inner: inner, rules: slices.Clone(rules), calls: map[Method]int{}, onPath: map[string]int{}}
	return wrap(&base{in: in, inner: inner}), in
}

// Set replaces the rules and forgets the counts and a dropped connection.
func (in *Injector) Set(rules ...Rule) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules, in.calls, in.onPath, in.dropped = slices.Clone(rules), map[Method]int{}, map[string]int{}, false
}

// Calls returns how many calls of m were made since the rules were set.
func (in *Injector) Calls(m Method) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.calls[m]
}

// Counts returns the calls made per method since the rules were set.
func (in *Injector) Counts() map[Method]int {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[Method]int, len(in.calls))
	for m, n := range in.calls {
		out[m] = n
	}
	return out
}

// Dropped reports whether the connection dropped.
func (in *Injector) Dropped() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.dropped
}

// call counts a call of m and returns what to do: an error to return,
// and whether to make a read short.
func (in *Injector) call(ctx context.Context, m Method, p string) (short bool, err error) {
	in.mu.Lock()
	in.calls[m]++
	n := in.calls[m]
	key := string(m) + "\x00" + p
	in.onPath[key]++
	np := in.onPath[key]
	if in.dropped {
		in.mu.Unlock()
		return false, fmt.Errorf("%s: %w", m, ErrDropped)
	}
	var hit []Rule
	for _, r := range in.rules {
		k := n
		if r.Path != "" {
			k = np
		}
		if r.Method == m && (r.Path == "" || r.Path == p) && (r.N == 0 || r.N == k) {
			hit = append(hit, r)
			if r.Drop {
				in.dropped = true
			}
		}
	}
	in.mu.Unlock()
	for _, r := range hit {
		if r.Delay > 0 {
			t := time.NewTimer(r.Delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return false, ctx.Err()
			case <-t.C:
			}
		}
		short = short || r.Short
		switch {
		case r.Drop:
			return false, fmt.Errorf("%s call %d: %w", m, n, ErrDropped)
		case r.Err != nil:
			return false, fmt.Errorf("%s call %d: %w: %w", m, n, ErrInjected, r.Err)
		case r.fails():
			return false, fmt.Errorf("%s call %d: %w", m, n, ErrInjected)
		}
	}
	return short, nil
}

// base wraps the methods every backend has.
type base struct {
	in    *Injector
	inner core.Backend
}

func (b *base) Caps() core.Caps { return b.inner.Caps() }
func (b *base) Close() error    { return b.inner.Close() }

func (b *base) Scan(ctx context.Context, opts core.ScanOptions, fn func(core.Entry) error) error {
	if _, err := b.in.call(ctx, Scan, ""); err != nil {
		return err
	}
	return b.inner.Scan(ctx, opts, fn)
}

func (b *base) Stat(ctx context.Context, p string) (core.Entry, error) {
	if _, err := b.in.call(ctx, Stat, p); err != nil {
		return core.Entry{}, err
	}
	return b.inner.Stat(ctx, p)
}

func (b *base) Open(ctx context.Context, p string, offset int64) (io.ReadCloser, core.Entry, error) {
	short, err := b.in.call(ctx, Open, p)
	if err != nil {
		return nil, core.Entry{}, err
	}
	rc, e, err := b.inner.Open(ctx, p, offset)
	if err != nil {
		return nil, e, err
	}
	r := &reader{in: b.in, ctx: ctx, inner: rc, path: p, left: -1}
	if short {
		r.left = max(0, (e.Size-offset)/2)
	}
	return r, e, nil
}

func (b *base) Create(ctx context.Context, p string, opts core.CreateOptions) (core.Writer, error) {
	if _, err := b.in.call(ctx, Create, p); err != nil {
		return nil, err
	}
	w, err := b.inner.Create(ctx, p, opts)
	if err != nil {
		return nil, err
	}
	fw := &writer{in: b.in, ctx: ctx, inner: w, path: p}
	if res, ok := w.(core.Resumer); ok {
		return &resumer{writer: fw, res: res}, nil
	}
	return fw, nil
}

func (b *base) Mkdir(ctx context.Context, p string, mode fs.FileMode) (core.Entry, error) {
	if _, err := b.in.call(ctx, Mkdir, p); err != nil {
		return core.Entry{}, err
	}
	return b.inner.Mkdir(ctx, p, mode)
}

func (b *base) Remove(ctx context.Context, p string, pre core.Precondition) error {
	if _, err := b.in.call(ctx, Remove, p); err != nil {
		return err
	}
	return b.inner.Remove(ctx, p, pre)
}

func (b *base) Rename(ctx context.Context, from, to string, pre core.Precondition) (core.Entry, error) {
	if _, err := b.in.call(ctx, Rename, from); err != nil {
		return core.Entry{}, err
	}
	return b.inner.Rename(ctx, from, to, pre)
}

func (b *base) SetAttr(ctx context.Context, p string, a core.Attrs) (core.Entry, error) {
	if _, err := b.in.call(ctx, SetAttr, p); err != nil {
		return core.Entry{}, err
	}
	return b.inner.SetAttr(ctx, p, a)
}

// reader counts reads and makes them short as the rules say.
type reader struct {
	in    *Injector
	ctx   context.Context
	inner io.ReadCloser
	path  string
	left  int64 // bytes before a forced end; -1: no forced end
}

var _ core.ChangeChecker = (*reader)(nil)

func (r *reader) Read(p []byte) (int, error) {
	short, err := r.in.call(r.ctx, Read, r.path)
	if err != nil {
		return 0, err
	}
	if r.left == 0 {
		return 0, io.EOF
	}
	if r.left > 0 && int64(len(p)) > r.left {
		p = p[:r.left]
	}
	if short && len(p) > 1 {
		p = p[:len(p)/2]
	}
	n, err := r.inner.Read(p)
	if r.left > 0 {
		r.left -= int64(n)
	}
	return n, err
}

func (r *reader) Close() error { return r.inner.Close() }

// Unchanged asks the inner reader when it can tell (nil otherwise, as
// when a reader is not a ChangeChecker).
func (r *reader) Unchanged() error {
	if c, ok := r.inner.(core.ChangeChecker); ok {
		return c.Unchanged()
	}
	return nil
}

// writer counts writes and commits.
type writer struct {
	in    *Injector
	ctx   context.Context
	inner core.Writer
	path  string
}

func (w *writer) Write(p []byte) (int, error) {
	short, err := w.in.call(w.ctx, Write, w.path)
	if err != nil {
		return 0, err
	}
	if short && len(p) > 1 { // a short write must report an error
		n, err := w.inner.Write(p[:len(p)/2])
		if err == nil {
			err = io.ErrShortWrite
		}
		return n, err
	}
	return w.inner.Write(p)
}

func (w *writer) Commit(ctx context.Context) (core.Entry, error) {
	if _, err := w.in.call(ctx, Commit, w.path); err != nil {
		return core.Entry{}, err
	}
	return w.inner.Commit(ctx)
}

func (w *writer) Abort() error { return w.inner.Abort() }

// resumer is a writer whose inner writer is a core.Resumer.
type resumer struct {
	*writer
	res core.Resumer
}

func (w *resumer) Offset() int64 { return w.res.Offset() }

// VerifyResume lets the inner writer check its partial file, if it does.
func (w *resumer) VerifyResume(ctx context.Context, open func() (io.ReadCloser, error)) error {
	if v, ok := w.res.(core.ResumeVerifier); ok {
		return v.VerifyResume(ctx, open)
	}
	return nil
}

func (w *resumer) Keep() error {
	if _, err := w.in.call(w.ctx, Keep, w.path); err != nil {
		w.inner.Abort()
		return err
	}
	return w.res.Keep()
}

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

// The optional interfaces, one type each, combined by full.

type linker struct{ b *base }

func (l linker) Symlink(ctx context.Context, p, target string, pre core.Precondition) (core.Entry, error) {
	if _, err := l.b.in.call(ctx, Symlink, p); err != nil {
		return core.Entry{}, err
	}
	return l.b.inner.(core.Linker).Symlink(ctx, p, target, pre)
}

type hasher struct{ b *base }

func (h hasher) Hash(ctx context.Context, p string, algo core.Checksum) (string, core.Entry, error) {
	if _, err := h.b.in.call(ctx, Hash, p); err != nil {
		return "", core.Entry{}, err
	}
	return h.b.inner.(core.Hasher).Hash(ctx, p, algo)
}

type hardLinker struct{ b *base }

func (h hardLinker) Link(ctx context.Context, existing, p string, pre core.Precondition) (core.Entry, error) {
	if _, err := h.b.in.call(ctx, Link, p); err != nil {
		return core.Entry{}, err
	}
	return h.b.inner.(core.HardLinker).Link(ctx, existing, p, pre)
}

type xattrer struct{ b *base }

func (x xattrer) Xattrs(ctx context.Context, p string) (map[string][]byte, error) {
	if _, err := x.b.in.call(ctx, Xattrs, p); err != nil {
		return nil, err
	}
	return x.b.inner.(core.Xattrer).Xattrs(ctx, p)
}

func (x xattrer) SetXattrs(ctx context.Context, p string, attrs map[string][]byte) error {
	if _, err := x.b.in.call(ctx, SetXattrs, p); err != nil {
		return err
	}
	return x.b.inner.(core.Xattrer).SetXattrs(ctx, p, attrs)
}

type copier struct{ b *base }

func (c copier) Copy(ctx context.Context, from, to string, pre core.Precondition) (core.Entry, error) {
	if _, err := c.b.in.call(ctx, Copy, from); err != nil {
		return core.Entry{}, err
	}
	return c.b.inner.(core.Copier).Copy(ctx, from, to, pre)
}

type watcher struct{ b *base }

func (w watcher) Watch(ctx context.Context, fn func(paths []string)) error {
	if _, err := w.b.in.call(ctx, Watch, ""); err != nil {
		return err
	}
	return w.b.inner.(core.Watcher).Watch(ctx, fn)
}

type networked struct{ b *base }

func (n networked) InFlight() int { return n.b.inner.(core.Networked).InFlight() }
