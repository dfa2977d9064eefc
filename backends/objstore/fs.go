package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/async-sync/async/core"
)

// User metadata keys.
const (
	MetaMTime = "async-mtime" // Unix nanoseconds, decimal
	MetaMode  = "async-mode"  // permission bits, octal
)

// Options configure an FS.
type Options struct {
	// MetaConcurrency is how many HEAD requests a scan keeps in flight for
	// objects whose metadata it needs (default 32).
	MetaConcurrency int
	// InFlight is how many transfers the pipeline should keep in flight
	// (default 16).
	InFlight int
	// Tags are user metadata given to every object written (--tags).
	Tags map[string]string
	// ChecksumSHA256 has the store keep a SHA-256 of every object written
	// (-k sha256).
	ChecksumSHA256 bool
	// Unordered lists the tree whole before passing any entry on, even
	// when the bucket lists in key order (KeyOrdered): no OrderedScan.
	// Tests compare the two ways with it.
	Unordered bool
}

// FS is a core.Backend over a bucket prefix.
type FS struct {
	b      Bucket
	prefix string // "" or ending in "/"
	o      Options
}

var (
	_ core.Backend   = (*FS)(nil)
	_ core.Networked = (*FS)(nil)
	_ core.Copier    = (*FS)(nil)
)

// New returns the tree below prefix ("" for the whole bucket) in b.
func New(b Bucket, prefix string, o Options) *FS {
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	if o.MetaConcurrency <= 0 {
		o.MetaConcurrency = 32
	}
	if o.InFlight <= 0 {
		o.InFlight = 16
	}
	return &FS{b: b, prefix: prefix, o: o}
}

// Caps: settable mtimes and modes (as metadata); no owners, links, inodes
// or cheap renames; directories are prefixes with markers. The scan
// streams in path order when the bucket lists in key order (KeyOrdered).
func (f *FS) Caps() core.Caps {
	return core.Caps{Dirs: true, SetMTime: true, SetMode: true, OrderedScan: f.keyOrdered()}
}

// InFlight asks the pipeline to keep many requests in flight.
func (f *FS) InFlight() int { return f.o.InFlight }

// Close releases the bucket.
func (f *FS) Close() error { return f.b.Close() }

func (f *FS) key(p string) string { return f.prefix + p }

// checkPath refuses paths that are not core's clean relative form.
func checkPath(p string) error {
	if p == "" {
		return nil
	}
	if strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || path.Clean(p) != p || strings.HasPrefix(p, "../") || p == ".." {
		return fmt.Errorf("path %q: %w", p, fs.ErrInvalid)
	}
	return nil
}

// reserved reports whether a relative key belongs to async: the private
// area at the root, or a temporary name anywhere.
func reserved(rel string) bool {
	if rel == core.PrivateDir || strings.HasPrefix(rel, core.PrivateDir+"/") {
		return true
	}
	for _, c := range strings.Split(rel, "/") {
		if strings.HasPrefix(c, core.ReservedPrefix) {
			return true
		}
	}
	return false
}

// entry turns an object into an entry at p.
func entry(p string, o Object, dir bool) core.Entry {
	e := core.Entry{Path: p, Type: core.TypeFile, Size: o.Size, MTime: o.Modified, Mode: 0o644,
		UID: core.NoID, GID: core.NoID, Token: o.ETag}
	if dir {
		// Directories are prefixes: no mtime, no mode (0: unknown), so
		// that a listing (no metadata) and a HEAD always agree.
		return core.Entry{Path: p, Type: core.TypeDir, UID: core.NoID, GID: core.NoID}
	}
	if v, ok := o.Meta[MetaMTime]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			e.MTime = time.Unix(0, n)
		}
	}
	if v, ok := o.Meta[MetaMode]; ok {
		if n, err := strconv.ParseUint(v, 8, 32); err == nil {
			e.Mode = fs.FileMode(n) & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		}
	}
	return e
}

// meta is the user metadata of attributes.
func meta(a core.Attrs) map[string]string {
	m := map[string]string{}
	if a.MTime != nil {
		m[MetaMTime] = strconv.FormatInt(a.MTime.UnixNano(), 10)
	}
	if a.Mode != nil {
		m[MetaMode] = strconv.FormatUint(uint64(*a.Mode&fs.ModePerm), 8)
	}
	return m
}

// Scan lists the prefix once; directories are the markers and every
// parent of a key. Objects whose metadata the listing lacks are asked for
// it, unless opts.KnownAt or opts.Known holds their entry with the same
// ETag. With opts.Ordered (on a bucket that lists in key order) the
// entries stream in path order, holding only those the key order has not
// settled yet and the HEADs in flight; otherwise the listing is collected
// whole first.
func (f *FS) Scan(ctx context.Context, opts core.ScanOptions, fn func(core.Entry) error) error {
	skip, descend, err := opts.Prune.Funcs()
	if err != nil {
		return err
	}
	if opts.Prune.Shallow {
		return f.scanTop(ctx, skip, fn)
	}
	if opts.Ordered && f.keyOrdered() {
		return f.scanOrdered(ctx, opts, skip, descend, fn)
	}
	items := map[string]listed{}
	err = f.b.List(ctx, f.prefix, func(o Object) error {
		rel := strings.TrimPrefix(o.Key, f.prefix)
		dir := strings.HasSuffix(rel, "/")
		rel = strings.TrimSuffix(rel, "/")
		if skipKey(rel) {
			return nil
		}
		if it, ok := items[rel]; ok && !it.dir && dir {
			return nil // a file and a marker of the same name: the file wins
		}
		items[rel] = listed{o: o, dir: dir}
		for d := path.Dir(rel); d != "."; d = path.Dir(d) {
			if _, ok := items[d]; ok {
				break
			}
			items[d] = listed{dir: true}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list %s: %w", f.prefix, err)
	}
	if rb, ok := f.b.(Resumable); ok && opts.PartialMaxAge > 0 && opts.TempToken != "" {
		// Best effort: an upload that stays is only storage, dropped later.
		rb.AbortStale(ctx, f.prefix, opts.TempToken, time.Now().Add(-opts.PartialMaxAge))
	}
	// Leave out what Prune leaves out, top down.
	left := map[string]bool{}
	var out func(p string, dir bool) bool
	out = func(p string, dir bool) bool {
		if v, ok := left[p]; ok {
			return v
		}
		v := false
		if par := path.Dir(p); par != "." && (out(par, true) || !descendOK(descend, items, par)) {
			v = true
		} else if skip != nil && skip(p, dir) {
			v = true
		}
		left[p] = v
		return v
	}
	var need []string
	for p, it := range items {
		if out(p, it.dir) {
			delete(items, p)
			continue
		}
		if it.dir || it.o.Meta != nil {
			continue
		}
		if k, ok := opts.Known[p]; ok && k.Token != "" && k.Token == it.o.ETag && k.Size == it.o.Size {
			it.o.Meta = knownMeta(k)
			items[p] = it
			continue
		}
		need = append(need, p)
	}
	if err := f.heads(ctx, need, func(p string, o Object) { items[p] = listed{o: o} }); err != nil {
		return err
	}
	for p, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(entry(p, it.o, it.dir)); err != nil {
			return err
		}
	}
	return nil
}

// scanTop reports the root's own entries as the listing finds them, so
// that a caller that only asks whether the root is empty stops at the
// first one.
func (f *FS) scanTop(ctx context.Context, skip func(string, bool) bool, fn func(core.Entry) error) error {
	seen := map[string]bool{}
	return f.b.List(ctx, f.prefix, func(o Object) error {
		rel := strings.TrimPrefix(o.Key, f.prefix)
		top, _, nested := strings.Cut(rel, "/")
		if top == "" || seen[top] || reserved(top) || nested && reserved(rel) {
			return nil
		}
		seen[top] = true
		dir := nested
		if skip != nil && skip(top, dir) {
			return nil
		}
		if dir {
			return fn(entry(top, Object{}, true))
		}
		h, err := f.b.Head(ctx, o.Key)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return fn(entry(top, h, false))
	})
}

// listed is one path of a listing: an object, a marker, or an implied
// directory (zero Object).
type listed struct {
	o   Object
	dir bool
}

// descendOK reports whether the directory d's contents are listed.
func descendOK(descend func(*core.Entry) bool, items map[string]listed, d string) bool {
	if descend == nil {
		return true
	}
	it := items[d]
	e := entry(d, it.o, true)
	return descend(&e)
}

// heads asks for the metadata of the objects at paths, MetaConcurrency
// at a time, and hands each answer to set (called under a lock).
func (f *FS) heads(ctx context.Context, paths []string, set func(string, Object)) error {
	if len(paths) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		next  = make(chan string)
	)
	for range min(f.o.MetaConcurrency, len(paths)) {
		wg.Go(func() {
			for p := range next {
				o, err := f.b.Head(ctx, f.key(p))
				mu.Lock()
				switch {
				case errors.Is(err, fs.ErrNotExist): // deleted since the listing
				case err != nil:
					if first == nil {
						first = fmt.Errorf("head %s: %w", p, err)
						cancel()
					}
				default:
					set(p, o)
				}
				mu.Unlock()
			}
		})
	}
	for _, p := range paths {
		select {
		case next <- p:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// Stat returns one entry: an object, a marker, or a prefix with objects.
func (f *FS) Stat(ctx context.Context, p string) (core.Entry, error) {
	if err := checkPath(p); err != nil {
		return core.Entry{}, err
	}
	if p == "" {
		return entry("", Object{}, true), nil
	}
	o, err := f.b.Head(ctx, f.key(p))
	if err == nil {
		return entry(p, o, false), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return core.Entry{}, fmt.Errorf("stat %s: %w", core.DisplayPath(p), err)
	}
	if o, err := f.b.Head(ctx, f.key(p)+"/"); err == nil {
		return entry(p, o, true), nil
	}
	if f.hasChildren(ctx, p) {
		return entry(p, Object{}, true), nil
	}
	return core.Entry{}, fmt.Errorf("stat %s: %w", core.DisplayPath(p), fs.ErrNotExist)
}

var errFound = errors.New("found")

// hasChildren reports whether any object lies below the directory p
// (its own marker aside).
func (f *FS) hasChildren(ctx context.Context, p string) bool {
	dir := f.key(p) + "/"
	err := f.b.List(ctx, dir, func(o Object) error {
		if o.Key == dir {
			return nil
		}
		return errFound
	})
	return errors.Is(err, errFound)
}

// Open reads a file from offset.
func (f *FS) Open(ctx context.Context, p string, offset int64) (io.ReadCloser, core.Entry, error) {
	if err := checkPath(p); err != nil || p == "" {
		return nil, core.Entry{}, cmpErr(err, fmt.Errorf("open /: %w", fs.ErrInvalid))
	}
	r, o, err := f.b.Get(ctx, f.key(p), offset)
	if err != nil {
		return nil, core.Entry{}, fmt.Errorf("open %s: %w", core.DisplayPath(p), err)
	}
	return r, entry(p, o, false), nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Create starts an upload; the object appears at Commit. The precondition
// is enforced by the store when it can (conditional writes), and checked
// just before the commit otherwise.
func (f *FS) Create(ctx context.Context, p string, opts core.CreateOptions) (core.Writer, error) {
	if err := checkPath(p); err != nil || p == "" {
		return nil, cmpErr(err, fmt.Errorf("create /: %w", fs.ErrInvalid))
	}
	if opts.Partial != "" && !core.ValidPartial(opts.Partial) {
		// It names the upload's marker object beside the destination.
		return nil, fmt.Errorf("create %s: invalid partial-file key %q: %w", core.DisplayPath(p), opts.Partial, fs.ErrInvalid)
	}
	// Every object carries its mtime: the source's with -t, the time of
	// writing otherwise, so that what Commit reports is what a scan reads.
	a := opts.Attrs
	if a.MTime == nil {
		now := time.Now()
		a.MTime = &now
	}
	wo := WriteOptions{Size: opts.Size, Meta: meta(a), ChecksumSHA256: f.o.ChecksumSHA256}
	for k, v := range f.o.Tags {
		wo.Meta[strings.ToLower(k)] = v
	}
	if !opts.Replace.Any {
		if e := opts.Replace.Expect; e == nil {
			wo.IfNoneMatch = true
		} else if e.Type == core.TypeFile && e.Token != "" {
			wo.IfMatch = e.Token
		}
	}
	if rb, ok := f.b.(Resumable); ok && opts.Partial != "" {
		rw, err := rb.ResumeWriter(ctx, f.key(p), opts.Partial, wo)
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", core.DisplayPath(p), err)
		}
		return &resumeWriter{writer{f: f, ctx: ctx, w: rw, path: p, pre: opts.Replace}, rw}, nil
	}
	w, err := f.b.NewWriter(ctx, f.key(p), wo)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", core.DisplayPath(p), err)
	}
	return &writer{f: f, ctx: ctx, w: w, path: p, pre: opts.Replace}, nil
}

// resumeWriter is a writer whose upload survives an interruption.
type resumeWriter struct {
	writer
	rw ResumableWriter
}

var _ core.ResumeVerifier = (*resumeWriter)(nil)

// Offset is how many bytes an earlier run already uploaded, once checked.
func (w *resumeWriter) Offset() int64 { return w.rw.Offset() }

// VerifyResume checks the earlier run's upload against the source.
func (w *resumeWriter) VerifyResume(ctx context.Context, open func() (io.ReadCloser, error)) error {
	return w.rw.VerifyResume(ctx, open)
}

// Keep leaves the upload for the next run.
func (w *resumeWriter) Keep() error {
	if w.done {
		return nil
	}
	w.done = true
	return w.rw.Keep()
}

type writer struct {
	f    *FS
	ctx  context.Context
	w    ObjectWriter
	path string
	pre  core.Precondition
	done bool
}

func (w *writer) Write(p []byte) (int, error) { return w.w.Write(p) }

func (w *writer) Commit(ctx context.Context) (core.Entry, error) {
	if w.done {
		return core.Entry{}, fmt.Errorf("commit %s: already finished", core.DisplayPath(w.path))
	}
	w.done = true
	if !w.f.conditional() {
		if err := w.f.check(ctx, w.path, w.pre); err != nil {
			w.w.Abort()
			return core.Entry{}, err
		}
	}
	o, err := w.w.Commit()
	if errors.Is(err, ErrConditionFailed) {
		return core.Entry{}, fmt.Errorf("%w: %s changed", core.ErrPrecondition, core.DisplayPath(w.path))
	}
	if err != nil {
		return core.Entry{}, fmt.Errorf("upload %s: %w", core.DisplayPath(w.path), err)
	}
	return entry(w.path, o, false), nil
}

func (w *writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	return w.w.Abort()
}

func (f *FS) conditional() bool {
	c, ok := f.b.(Conditional)
	return ok && c.ConditionalWrites()
}

// check compares what is at p now with a precondition.
func (f *FS) check(ctx context.Context, p string, pre core.Precondition) error {
	if pre.Any {
		return nil
	}
	e, err := f.Stat(ctx, p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return pre.Check(nil)
	case err != nil:
		return err
	}
	return pre.Check(&e)
}

// Mkdir writes a directory marker.
func (f *FS) Mkdir(ctx context.Context, p string, mode fs.FileMode) (core.Entry, error) {
	if err := checkPath(p); err != nil {
		return core.Entry{}, err
	}
	if p == "" {
		return f.Stat(ctx, "")
	}
	if o, err := f.b.Head(ctx, f.key(p)); err == nil {
		return core.Entry{}, fmt.Errorf("mkdir %s: %w (a file %s)", core.DisplayPath(p), fs.ErrExist, o.Key)
	}
	if par := path.Dir(p); par != "." {
		pe, err := f.Stat(ctx, par)
		if err != nil {
			return core.Entry{}, fmt.Errorf("mkdir %s: %w", core.DisplayPath(p), err)
		}
		if pe.Type != core.TypeDir {
			return core.Entry{}, fmt.Errorf("mkdir %s: the parent is a file: %w", core.DisplayPath(p), fs.ErrExist)
		}
	}
	if o, err := f.b.Head(ctx, f.key(p)+"/"); err == nil {
		return entry(p, o, true), nil
	}
	w, err := f.b.NewWriter(ctx, f.key(p)+"/", WriteOptions{Size: 0})
	if err != nil {
		return core.Entry{}, fmt.Errorf("mkdir %s: %w", core.DisplayPath(p), err)
	}
	o, err := w.Commit()
	if err != nil {
		return core.Entry{}, fmt.Errorf("mkdir %s: %w", core.DisplayPath(p), err)
	}
	return entry(p, o, true), nil
}

// Remove deletes a file, or an empty directory's marker, if it matches pre.
func (f *FS) Remove(ctx context.Context, p string, pre core.Precondition) error {
	if err := checkPath(p); err != nil || p == "" {
		return cmpErr(err, fmt.Errorf("remove /: %w", fs.ErrInvalid))
	}
	e, err := f.Stat(ctx, p)
	if err != nil {
		return err
	}
	if err := pre.Check(&e); err != nil {
		return err
	}
	if e.Type == core.TypeDir {
		if f.hasChildren(ctx, p) {
			return fmt.Errorf("remove %s: %w", core.DisplayPath(p), core.ErrNotEmpty)
		}
		return f.b.Delete(ctx, f.key(p)+"/")
	}
	return f.b.Delete(ctx, f.key(p))
}

// Rename moves a file by a server-side copy and a delete; directories
// cannot be renamed (core.ErrUnsupported).
func (f *FS) Rename(ctx context.Context, from, to string, pre core.Precondition) (core.Entry, error) {
	e, err := f.Copy(ctx, from, to, pre)
	if err != nil {
		return core.Entry{}, err
	}
	if err := f.b.Delete(ctx, f.key(from)); err != nil {
		return core.Entry{}, fmt.Errorf("rename %s: %w", core.DisplayPath(from), err)
	}
	return e, nil
}

// Copy copies a file inside the bucket, if from matches pre and nothing
// is at to.
func (f *FS) Copy(ctx context.Context, from, to string, pre core.Precondition) (core.Entry, error) {
	for _, p := range []string{from, to} {
		if err := checkPath(p); err != nil || p == "" {
			return core.Entry{}, cmpErr(err, fmt.Errorf("copy /: %w", fs.ErrInvalid))
		}
	}
	e, err := f.Stat(ctx, from)
	if err != nil {
		return core.Entry{}, err
	}
	if err := pre.Check(&e); err != nil {
		return core.Entry{}, err
	}
	if e.Type != core.TypeFile {
		return core.Entry{}, fmt.Errorf("rename %s: a directory on an object store: %w", core.DisplayPath(from), core.ErrUnsupported)
	}
	if err := f.check(ctx, to, core.MustNotExist); err != nil {
		return core.Entry{}, err
	}
	o, err := f.b.Copy(ctx, f.key(from), f.key(to), nil)
	if err != nil {
		return core.Entry{}, fmt.Errorf("copy %s: %w", core.DisplayPath(from), err)
	}
	return entry(to, o, false), nil
}

// SetAttr rewrites a file's metadata (a copy onto itself); directories
// have no attributes on an object store.
func (f *FS) SetAttr(ctx context.Context, p string, a core.Attrs) (core.Entry, error) {
	e, err := f.Stat(ctx, p)
	if err != nil || e.Type == core.TypeDir {
		return e, err
	}
	m := meta(core.Attrs{MTime: &e.MTime, Mode: &e.Mode})
	for k, v := range f.o.Tags {
		m[strings.ToLower(k)] = v
	}
	for k, v := range meta(a) {
		m[k] = v
	}
	key := f.key(p)
	o, err := f.b.Copy(ctx, key, key, m)
	if err != nil {
		return core.Entry{}, fmt.Errorf("set attributes of %s: %w", core.DisplayPath(p), err)
	}
	return entry(p, o, false), nil
}
