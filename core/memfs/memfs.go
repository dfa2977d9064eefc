// Package memfs is an in-memory core.Backend for tests: a tree of files,
// directories and symbolic links held in a map, with the semantics of a
// local directory (preconditions, atomic commits, no-replace renames,
// hard links) and none of its cost. It is deterministic: modification
// times come from a logical clock unless Options.Now says otherwise, and
// scans report entries in path order from one goroutine.
package memfs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/async-sync/async/core"
)

// Epoch is the first time the default logical clock gives; each change
// advances it by one millisecond.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Options configure a new FS.
type Options struct {
	// Now gives the modification time of each change (nil: a logical
	// clock starting on 2024-01-01 and advancing 1ms per change).
	Now func() time.Time
	// Caps overrides what the backend reports it can do (nil: what a
	// local directory can do).
	Caps *core.Caps
	// UID and GID own new entries.
	UID, GID int
}

// node is one file, directory or link. Hard links share a node.
type node struct {
	typ    core.Type
	data   []byte // never changed in place: a commit replaces the node
	mode   fs.FileMode
	mtime  time.Time
	atime  time.Time
	target string
	uid    int
	gid    int
	id     uint64 // FileID
	ctime  uint64 // change counter: the Token
}

// FS is an in-memory tree. It is safe for concurrent use.
type FS struct {
	opts  Options
	caps  core.Caps
	mu    sync.Mutex
	nodes map[string]*node // by path; "" is the root
	tick  uint64           // logical clock, bumped at every change
	ids   uint64
}

var (
	_ core.Backend    = (*FS)(nil)
	_ core.Linker     = (*FS)(nil)
	_ core.HardLinker = (*FS)(nil)
	_ core.Hasher     = (*FS)(nil)
)

// New returns an empty tree (just the root directory).
func New(opts Options) *FS {
	f := &FS{opts: opts, nodes: map[string]*node{}}
	f.caps = core.Caps{Dirs: true, Rename: true, SetMTime: true, SetMode: true, Owners: true,
		Symlinks: true, FileIDs: true, Filesystem: true, MTimeFromFS: true, OrderedScan: true}
	if opts.Caps != nil {
		f.caps = *opts.Caps
	}
	f.nodes[""] = f.newNode(core.TypeDir, 0o755)
	return f
}

// Caps reports what the tree can do.
func (f *FS) Caps() core.Caps { return f.caps }

// Close does nothing: the tree stays readable (tests inspect it after a
// run closed its backends).
func (f *FS) Close() error { return nil }

// now advances the clock; f.mu is held.
func (f *FS) now() time.Time {
	f.tick++
	if f.opts.Now != nil {
		return f.opts.Now()
	}
	return epoch.Add(time.Duration(f.tick) * time.Millisecond)
}

// newNode makes a node stamped now; f.mu is held.
func (f *FS) newNode(t core.Type, mode fs.FileMode) *node {
	f.ids++
	n := &node{typ: t, mode: mode, uid: f.opts.UID, gid: f.opts.GID, id: f.ids}
	n.mtime = f.now()
	n.atime, n.ctime = n.mtime, f.tick
	return n
}

// touch records a change of n's attributes; f.mu is held.
func (f *FS) touch(n *node) { f.now(); n.ctime = f.tick }

// dirChanged stamps directory d as a directory is when an entry appears
// in it or leaves it; f.mu is held.
func (f *FS) dirChanged(d string) {
	if n := f.nodes[d]; n != nil {
		n.mtime = f.now()
		n.ctime = f.tick
	}
}

func (n *node) entry(p string) core.Entry {
	e := core.Entry{Path: p, Type: n.typ, Mode: n.mode, MTime: n.mtime, ATime: n.atime,
		UID: n.uid, GID: n.gid, Target: n.target,
		Token: strconv.FormatUint(n.ctime, 10), FileID: "0:" + strconv.FormatUint(n.id, 10)}
	switch n.typ {
	case core.TypeFile:
		e.Size = int64(len(n.data))
	case core.TypeSymlink:
		e.Size = int64(len(n.target))
	}
	return e
}

// check validates p as a core path.
func check(op, p string) error {
	if c, err := core.CleanPath(p); err != nil || c != p {
		return fmt.Errorf("%s %q: invalid path: %w", op, p, fs.ErrInvalid)
	}
	return nil
}

func pathErr(op, p string, err error) error {
	return fmt.Errorf("%s %s: %w", op, core.DisplayPath(p), err)
}

// parentDir checks that p's parent is a directory; f.mu is held.
func (f *FS) parentDir(op, p string) error {
	d := core.Parent(p)
	n := f.nodes[d]
	switch {
	case n == nil:
		return pathErr(op, p, fs.ErrNotExist)
	case n.typ != core.TypeDir:
		return pathErr(op, p, fmt.Errorf("%s is not a directory: %w", core.DisplayPath(d), fs.ErrNotExist))
	}
	return nil
}

// lookup returns the node at p (nil: none), failing when p's parent is
// not a directory; f.mu is held.
func (f *FS) lookup(op, p string) (*node, error) {
	if err := check(op, p); err != nil {
		return nil, err
	}
	if p == "" {
		return f.nodes[""], nil
	}
	if err := f.parentDir(op, p); err != nil {
		return nil, err
	}
	return f.nodes[p], nil
}

// found is the precondition view of the node at p.
func found(n *node, p string) *core.Entry {
	if n == nil {
		return nil
	}
	e := n.entry(p)
	return &e
}

// Stat returns the entry at p.
func (f *FS) Stat(ctx context.Context, p string) (core.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.lookup("stat", p)
	if err != nil {
		return core.Entry{}, err
	}
	if n == nil {
		return core.Entry{}, pathErr("stat", p, fs.ErrNotExist)
	}
	return n.entry(p), nil
}

// Scan reports every entry below the root in path order.
func (f *FS) Scan(ctx context.Context, opts core.ScanOptions, fn func(core.Entry) error) error {
	if !core.ValidTempToken(opts.TempToken) {
		return fmt.Errorf("scan: invalid temporary-file token %q: %w", opts.TempToken, fs.ErrInvalid)
	}
	skip, descend, err := opts.Prune.Funcs()
	if err != nil {
		return err
	}
	f.mu.Lock()
	type item struct {
		e core.Entry
		n *node
	}
	items := make([]item, 0, len(f.nodes))
	for p, n := range f.nodes {
		if p != "" {
			items = append(items, item{n.entry(p), n})
		}
	}
	f.mu.Unlock()
	slices.SortFunc(items, func(a, b item) int { return core.ComparePaths(a.e.Path, b.e.Path) }) // Caps.OrderedScan
	byPath := make(map[string]*node, len(items))
	for _, it := range items {
		byPath[it.e.Path] = it.n
	}
	left := map[string]bool{} // directories whose contents are not reported
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, e := it.e.Path, it.e
		if left[core.Parent(p)] {
			if e.Type == core.TypeDir {
				left[p] = true
			}
			continue
		}
		if core.IsReserved(p) {
			left[p] = true
			continue
		}
		if e.Type == core.TypeSymlink && opts.FollowLinks {
			t, ok := resolve(byPath, p)
			if !ok || t.typ != core.TypeFile {
				left[p] = true
				why := fmt.Errorf("link target %q: not a file in the tree: %w", e.Target, fs.ErrNotExist)
				if opts.Unreadable == nil {
					return pathErr("scan", p, why)
				}
				if err := opts.Unreadable(p, why); err != nil {
					return err
				}
				continue
			}
			e = t.entry(p)
		}
		if skip != nil && skip(p, e.Type == core.TypeDir) {
			left[p] = true
			continue
		}
		if e.Type == core.TypeDir && descend != nil && !descend(&e) {
			left[p] = true
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// resolve follows the link at p (several links deep, at most 40) to a
// node of the tree; relative targets only.
func resolve(byPath map[string]*node, p string) (*node, bool) {
	for range 40 {
		n := byPath[p]
		if n == nil {
			return nil, false
		}
		if n.typ != core.TypeSymlink {
			return n, true
		}
		if strings.HasPrefix(n.target, "/") {
			return nil, false
		}
		c, err := core.CleanPath(pathJoin(core.Parent(p), n.target))
		if err != nil {
			return nil, false
		}
		p = c
	}
	return nil, false
}

// pathJoin joins and cleans like path.Join, keeping ".." that climbs out
// of the root visible to CleanPath.
func pathJoin(dir, rel string) string {
	var parts []string
	if dir != "" {
		parts = strings.Split(dir, "/")
	}
	for _, s := range strings.Split(rel, "/") {
		switch s {
		case "", ".":
		case "..":
			if len(parts) == 0 || parts[len(parts)-1] == ".." {
				parts = append(parts, "..")
			} else {
				parts = parts[:len(parts)-1]
			}
		default:
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "/")
}

// reader reads a file's content as it was when opened.
type reader struct {
	*bytes.Reader
	f       *FS
	n       *node
	version uint64
}

var _ core.ChangeChecker = (*reader)(nil)

// Unchanged reports whether the opened file's attributes changed since.
func (r *reader) Unchanged() error {
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	if r.n.ctime != r.version {
		return core.ErrChangedWhileReading
	}
	return nil
}

// Close does nothing.
func (r *reader) Close() error { return nil }

// Open opens the file at p for reading from offset.
func (f *FS) Open(ctx context.Context, p string, offset int64) (io.ReadCloser, core.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.lookup("open", p)
	if err != nil {
		return nil, core.Entry{}, err
	}
	if n == nil {
		return nil, core.Entry{}, pathErr("open", p, fs.ErrNotExist)
	}
	if n.typ != core.TypeFile {
		return nil, core.Entry{}, pathErr("open", p, fmt.Errorf("not a regular file: %w", fs.ErrInvalid))
	}
	r := &reader{Reader: bytes.NewReader(n.data), f: f, n: n, version: n.ctime}
	if _, err := r.Seek(offset, io.SeekStart); err != nil {
		return nil, core.Entry{}, pathErr("open", p, err)
	}
	return r, n.entry(p), nil
}

// Hash fingerprints the file at p.
func (f *FS) Hash(ctx context.Context, p string, algo core.Checksum) (string, core.Entry, error) {
	rc, e, err := f.Open(ctx, p, 0)
	if err != nil {
		return "", core.Entry{}, err
	}
	sum, err := core.HashReaderAt(rc.(*reader), e.Size, algo)
	if err != nil {
		return "", core.Entry{}, pathErr("hash", p, err)
	}
	return sum, e, nil
}

// writer buffers a new file until Commit.
type writer struct {
	f    *FS
	p    string
	opts core.CreateOptions
	buf  bytes.Buffer
	done bool
}

// Create starts a new file at p; its parent must be a directory.
func (f *FS) Create(ctx context.Context, p string, opts core.CreateOptions) (core.Writer, error) {
	if !core.ValidTempToken(opts.TempToken) {
		return nil, fmt.Errorf("create %s: invalid temporary-file token: %w", core.DisplayPath(p), fs.ErrInvalid)
	}
	if opts.Partial != "" && !core.ValidPartial(opts.Partial) {
		return nil, fmt.Errorf("create %s: invalid partial-file key: %w", core.DisplayPath(p), fs.ErrInvalid)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if p == "" {
		return nil, pathErr("create", p, fs.ErrExist)
	}
	if _, err := f.lookup("create", p); err != nil {
		return nil, err
	}
	return &writer{f: f, p: p, opts: opts}, nil
}

// Write buffers b.
func (w *writer) Write(b []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("write %s: %w", core.DisplayPath(w.p), fs.ErrClosed)
	}
	return w.buf.Write(b)
}

// Commit puts the content at the path if the precondition holds.
func (w *writer) Commit(ctx context.Context) (core.Entry, error) {
	if w.done {
		return core.Entry{}, fmt.Errorf("commit %s: %w", core.DisplayPath(w.p), fs.ErrClosed)
	}
	w.done = true
	f := w.f
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, err := f.lookup("write", w.p)
	if err != nil {
		return core.Entry{}, err
	}
	if err := w.opts.Replace.Check(found(cur, w.p)); err != nil {
		return core.Entry{}, fmt.Errorf("write %s: %w", core.DisplayPath(w.p), err)
	}
	if cur != nil && cur.typ == core.TypeDir {
		return core.Entry{}, pathErr("write", w.p, fmt.Errorf("a directory is there: %w", fs.ErrExist))
	}
	n := f.newNode(core.TypeFile, 0o644)
	n.data = slices.Clone(w.buf.Bytes())
	w.buf = bytes.Buffer{}
	f.apply(n, w.opts.Attrs)
	f.nodes[w.p] = n
	f.dirChanged(core.Parent(w.p))
	return n.entry(w.p), nil
}

// Abort drops the content.
func (w *writer) Abort() error {
	w.done = true
	w.buf = bytes.Buffer{}
	return nil
}

// apply sets a's attributes on n; f.mu is held.
func (f *FS) apply(n *node, a core.Attrs) {
	if a.UID != nil {
		n.uid = *a.UID
	}
	if a.GID != nil {
		n.gid = *a.GID
	}
	if a.Mode != nil && n.typ != core.TypeSymlink {
		n.mode = *a.Mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	}
	if a.MTime != nil {
		n.mtime = *a.MTime
	}
	if a.ATime != nil {
		n.atime = *a.ATime
	}
}

// Mkdir creates the directory p with mode; an existing one is returned.
func (f *FS) Mkdir(ctx context.Context, p string, mode fs.FileMode) (core.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, err := f.lookup("mkdir", p)
	if err != nil {
		return core.Entry{}, err
	}
	switch {
	case cur != nil && cur.typ == core.TypeDir:
		return cur.entry(p), nil
	case cur != nil:
		return core.Entry{}, pathErr("mkdir", p, fs.ErrExist)
	}
	n := f.newNode(core.TypeDir, mode&(fs.ModePerm|fs.ModeSetgid|fs.ModeSticky))
	f.nodes[p] = n
	f.dirChanged(core.Parent(p))
	return n.entry(p), nil
}

// hasChildren reports whether directory p holds anything; f.mu is held.
func (f *FS) hasChildren(p string) bool {
	prefix := p + "/"
	for q := range f.nodes {
		if strings.HasPrefix(q, prefix) {
			return true
		}
	}
	return false
}

// Remove removes the file, link or empty directory at p if it matches pre.
func (f *FS) Remove(ctx context.Context, p string, pre core.Precondition) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p == "" {
		return pathErr("remove", p, fs.ErrInvalid)
	}
	cur, err := f.lookup("remove", p)
	if err != nil {
		return err
	}
	if cur == nil {
		return pathErr("remove", p, fs.ErrNotExist)
	}
	if err := pre.Check(found(cur, p)); err != nil {
		return fmt.Errorf("remove %s: %w", core.DisplayPath(p), err)
	}
	if cur.typ == core.TypeDir && f.hasChildren(p) {
		return pathErr("remove", p, core.ErrNotEmpty)
	}
	delete(f.nodes, p)
	f.dirChanged(core.Parent(p))
	return nil
}

// Rename moves from to to if from matches pre and nothing is at to.
func (f *FS) Rename(ctx context.Context, from, to string, pre core.Precondition) (core.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if from == "" || to == "" {
		return core.Entry{}, pathErr("rename", from, fs.ErrInvalid)
	}
	cur, err := f.lookup("rename", from)
	if err != nil {
		return core.Entry{}, err
	}
	if cur == nil {
		return core.Entry{}, pathErr("rename", from, fs.ErrNotExist)
	}
	if err := pre.Check(found(cur, from)); err != nil {
		return core.Entry{}, fmt.Errorf("rename %s: %w", core.DisplayPath(from), err)
	}
	dst, err := f.lookup("rename to", to)
	if err != nil {
		return core.Entry{}, err
	}
	if dst != nil {
		return core.Entry{}, pathErr("rename "+core.DisplayPath(from)+" to", to, fs.ErrExist)
	}
	if cur.typ == core.TypeDir && strings.HasPrefix(to, from+"/") {
		return core.Entry{}, pathErr("rename "+core.DisplayPath(from)+" into itself:", to, fs.ErrInvalid)
	}
	if cur.typ == core.TypeDir {
		prefix := from + "/"
		moved := map[string]*node{}
		for q, n := range f.nodes {
			if rest, ok := strings.CutPrefix(q, prefix); ok {
				moved[to+"/"+rest] = n
				delete(f.nodes, q)
			}
		}
		for q, n := range moved {
			f.nodes[q] = n
		}
	}
	delete(f.nodes, from)
	f.nodes[to] = cur
	f.touch(cur)
	f.dirChanged(core.Parent(from))
	f.dirChanged(core.Parent(to))
	return cur.entry(to), nil
}

// SetAttr changes the attributes of the entry at p.
func (f *FS) SetAttr(ctx context.Context, p string, a core.Attrs) (core.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p == "" {
		return core.Entry{}, pathErr("setattr", p, fmt.Errorf("the root's attributes are left alone: %w", fs.ErrInvalid))
	}
	cur, err := f.lookup("setattr", p)
	if err != nil {
		return core.Entry{}, err
	}
	if cur == nil {
		return core.Entry{}, pathErr("setattr", p, fs.ErrNotExist)
	}
	f.touch(cur)
	f.apply(cur, a)
	return cur.entry(p), nil
}

// place puts n at p if what is there matches pre and is not a directory;
// f.mu is held.
func (f *FS) place(op, p string, n *node, pre core.Precondition) error {
	cur, err := f.lookup(op, p)
	if err != nil {
		return err
	}
	if p == "" {
		return pathErr(op, p, fs.ErrExist)
	}
	if err := pre.Check(found(cur, p)); err != nil {
		return fmt.Errorf("%s %s: %w", op, core.DisplayPath(p), err)
	}
	if cur != nil && cur.typ == core.TypeDir {
		return pathErr(op, p, fmt.Errorf("a directory is there: %w", fs.ErrExist))
	}
	f.nodes[p] = n
	f.dirChanged(core.Parent(p))
	return nil
}

// Symlink creates a link at p with target, replacing what is there only
// if it matches pre.
func (f *FS) Symlink(ctx context.Context, p, target string, pre core.Precondition) (core.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.newNode(core.TypeSymlink, 0o777)
	n.target = target
	if err := f.place("symlink", p, n, pre); err != nil {
		return core.Entry{}, err
	}
	return n.entry(p), nil
}

// Link makes p a second name of the file at existing, replacing what is
// at p only if it matches pre.
func (f *FS) Link(ctx context.Context, existing, p string, pre core.Precondition) (core.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	src, err := f.lookup("link", existing)
	if err != nil {
		return core.Entry{}, err
	}
	if src == nil {
		return core.Entry{}, pathErr("link", existing, fs.ErrNotExist)
	}
	if src.typ != core.TypeFile {
		return core.Entry{}, fmt.Errorf("link to %s: not a regular file", core.DisplayPath(existing))
	}
	if err := f.place("link", p, src, pre); err != nil {
		return core.Entry{}, err
	}
	f.touch(src)
	return src.entry(p), nil
}

// Tree returns what the tree holds, path → description, for tests to
// compare: "dir", "file:CONTENT" or "link:TARGET" (the root left out).
func (f *FS) Tree() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]string, len(f.nodes))
	for p, n := range f.nodes {
		switch {
		case p == "":
		case n.typ == core.TypeDir:
			out[p] = "dir"
		case n.typ == core.TypeSymlink:
			out[p] = "link:" + n.target
		default:
			out[p] = "file:" + string(n.data)
		}
	}
	return out
}
