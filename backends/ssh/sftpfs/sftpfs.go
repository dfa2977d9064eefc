// Package sftpfs is an async backend over plain SFTP: the fallback used
// when async's remote agent cannot run on the server.
//
// It speaks SFTP version 3 with OpenSSH's extensions (posix-rename) through
// github.com/pkg/sftp, and does what the protocol allows:
//
//   - Files are written under a reserved temporary name in their
//     destination directory and renamed into place on commit, so nothing
//     partial is ever visible at the destination. With Options.TempToken
//     the name carries the session's token, and scans remove the
//     temporaries with that token that a killed run left behind (and no
//     other reserved name: those may be another session's, or user data). A precondition is checked
//     against a fresh lstat just before the rename; between the two the
//     server may still let another writer in (SFTP has no compare-and-swap).
//     When nothing may be at the destination, the plain SFTP rename is used,
//     which OpenSSH refuses when the destination exists.
//   - Modification times have whole seconds only (and must fall between
//     1970 and 2106): entries report them truncated to the second, and
//     times set are truncated too.
//   - There is no change token (SFTP has no ctime) and no file identity, so
//     Entry.Token and Entry.FileID stay empty and renames cannot be detected
//     by identity.
//   - Paths are resolved by the server, which follows symbolic links in
//     every component but the last for lstat, readlink, remove, rename and
//     symlink, and in all components for open, setstat and opendir. The
//     backend refuses paths that climb out ("..") but cannot stop a link
//     placed in the tree from leading elsewhere: confining a session to a
//     tree is the SFTP server's job (a chroot, e.g. OpenSSH's ChrootDirectory
//     with internal-sftp). Attributes of links themselves are never changed,
//     since SETSTAT would change their targets.
//   - Owners are numeric and can be set only where the server allows it
//     (usually when logged in as root).
package sftpfs

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/treewalk"
	"github.com/pkg/sftp"
)

// defaultConcurrency is how many directories Scan lists at once by default.
const defaultConcurrency = 8

// writeBuffer is how much a Writer gathers before sending it: large writes
// let a client with concurrent writes keep several requests in flight.
const writeBuffer = 256 << 10

// Options configure an SFTP backend.
type Options struct {
	// FollowLinks reports and reads what symbolic links point to. Writes
	// never create anything through a link at their last component.
	FollowLinks bool
	// CloseClient makes Close close the SFTP client too.
	CloseClient bool
	// Concurrency is how many directories Scan lists at once when
	// ScanOptions.Threads is 0 (default 8).
	Concurrency int
	// TempToken (hex digits) names the temporary files of the session
	// using the backend: .async-tmp-TOKEN-RANDOM. Scans remove the ones
	// they find, left by an earlier run of the session that was killed
	// before it could. Empty: temporaries carry no token and scans remove
	// none (a dry run).
	TempToken string
}

// FS is a tree on an SFTP server. It is safe for concurrent use as far as
// the SFTP client is.
type FS struct {
	c    *sftp.Client
	root string
	opts Options
}

var (
	_ core.Backend = (*FS)(nil)
	_ core.Linker  = (*FS)(nil)
)

// New returns a backend rooted at root, a path on the server (cleaned;
// a relative one is resolved by the server against the login directory),
// over the established client c. The caller keeps owning c unless
// o.CloseClient is set. The root must be an existing directory: otherwise
// the error wraps fs.ErrNotExist.
func New(c *sftp.Client, root string, o Options) (*FS, error) {
	if c == nil {
		return nil, errors.New("sftp: no client")
	}
	if root == "" {
		return nil, fmt.Errorf("sftp: empty root: %w", fs.ErrInvalid)
	}
	root = path.Clean(root)
	fi, err := c.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("sftp root %s: %w", root, mapErr(err))
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("sftp root %s: not a directory: %w", root, fs.ErrNotExist)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = defaultConcurrency
	}
	if !isHex(o.TempToken) {
		return nil, fmt.Errorf("sftp: temporary file token %q: want hex digits: %w", o.TempToken, fs.ErrInvalid)
	}
	return &FS{c: c, root: root, opts: o}, nil
}

// Caps reports what an SFTP tree can do.
func (f *FS) Caps() core.Caps {
	return core.Caps{
		Dirs:        true,
		Rename:      true,
		SetMTime:    true,
		SetMode:     true,
		Owners:      true,
		Symlinks:    true,
		Filesystem:  true,
		MTimeFromFS: true,
	}
}

// Close releases the backend; it closes the SFTP client only when
// Options.CloseClient is set.
func (f *FS) Close() error {
	if f.opts.CloseClient {
		return f.c.Close()
	}
	return nil
}

// checkPath validates a core path: relative, slash-separated, without
// empty, "." or ".." components or NUL bytes.
func checkPath(p string) error {
	if p == "" {
		return nil
	}
	if strings.HasPrefix(p, "/") || strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("sftp: invalid path %q: %w", p, fs.ErrInvalid)
	}
	for el := range strings.SplitSeq(p, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("sftp: invalid path %q: %w", p, fs.ErrInvalid)
		}
	}
	return nil
}

// full returns the server path of core path p, or an error for an invalid p.
func (f *FS) full(p string) (string, error) {
	if err := checkPath(p); err != nil {
		return "", err
	}
	return path.Join(f.root, p), nil
}

// mapErr makes a "no such file" status from the server test as
// fs.ErrNotExist (pkg/sftp mostly does that already).
func mapErr(err error) error {
	var se *sftp.StatusError
	if errors.As(err, &se) && se.Code == uint32(sftp.ErrSSHFxNoSuchFile) && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	return err
}

// pathErr adds the operation and path to err.
func pathErr(op, p string, err error) error {
	return fmt.Errorf("sftp %s %s: %w", op, core.DisplayPath(p), mapErr(err))
}

// entryFrom builds the entry of p from what the server said; ok is false
// for types async does not synchronize (devices, sockets, fifos).
func entryFrom(p string, fi fs.FileInfo) (core.Entry, bool) {
	m := fi.Mode()
	e := core.Entry{
		Path:  p,
		Size:  fi.Size(),
		MTime: fi.ModTime().Truncate(time.Second),
		Mode:  m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky),
		UID:   core.NoID,
		GID:   core.NoID,
	}
	if st, ok := fi.Sys().(*sftp.FileStat); ok {
		e.UID, e.GID = int(st.UID), int(st.GID)
		e.ATime = st.AccessTime()
	}
	switch {
	case m.IsRegular():
		e.Type = core.TypeFile
	case m.IsDir():
		e.Type, e.Size = core.TypeDir, 0
	case m&fs.ModeSymlink != 0:
		e.Type = core.TypeSymlink
	default:
		return e, false
	}
	return e, true
}

// lstat describes the entry at p without following a link at its end.
func (f *FS) lstat(p, full string) (core.Entry, error) {
	fi, err := f.c.Lstat(full)
	if err != nil {
		return core.Entry{}, pathErr("stat", p, err)
	}
	return f.complete(p, full, fi)
}

// complete turns fi, the lstat of p, into an entry, reading a link's target.
func (f *FS) complete(p, full string, fi fs.FileInfo) (core.Entry, error) {
	e, ok := entryFrom(p, fi)
	if !ok {
		return core.Entry{}, fmt.Errorf("sftp stat %s: not a file, directory or link: %w", core.DisplayPath(p), core.ErrUnsupported)
	}
	if e.Type == core.TypeSymlink {
		t, err := f.c.ReadLink(full)
		if err != nil {
			return core.Entry{}, pathErr("readlink", p, err)
		}
		e.Target = t
	}
	return e, nil
}

// found returns the entry at p, or nil when there is none.
func (f *FS) found(p, full string) (*core.Entry, error) {
	e, err := f.lstat(p, full)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// Stat describes the entry at p; Stat("") describes the root. With
// FollowLinks it describes what a link points to.
func (f *FS) Stat(ctx context.Context, p string) (core.Entry, error) {
	full, err := f.full(p)
	if err != nil {
		return core.Entry{}, err
	}
	if p != "" && !f.opts.FollowLinks {
		return f.lstat(p, full)
	}
	fi, err := f.c.Stat(full)
	if err != nil {
		return core.Entry{}, pathErr("stat", p, err)
	}
	return f.complete(p, full, fi)
}

// Open opens the file at p for reading from offset. The server follows a
// link at p (SFTP open always does). The returned reader is an *sftp.File,
// whose WriteTo reads with several requests in flight.
func (f *FS) Open(ctx context.Context, p string, offset int64) (io.ReadCloser, core.Entry, error) {
	full, err := f.full(p)
	if err != nil {
		return nil, core.Entry{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, core.Entry{}, err
	}
	r, err := f.c.Open(full)
	if err != nil {
		return nil, core.Entry{}, pathErr("open", p, err)
	}
	fi, err := r.Stat()
	if err != nil {
		r.Close()
		return nil, core.Entry{}, pathErr("stat", p, err)
	}
	e, ok := entryFrom(p, fi)
	if !ok || e.Type != core.TypeFile {
		r.Close()
		return nil, core.Entry{}, fmt.Errorf("sftp open %s: not a regular file", core.DisplayPath(p))
	}
	if offset != 0 {
		if _, err := r.Seek(offset, io.SeekStart); err != nil {
			r.Close()
			return nil, core.Entry{}, pathErr("seek", p, err)
		}
	}
	return &openFile{File: r, opened: fi}, e, nil
}

// openFile is a file open for reading that can tell whether it changed
// since it was opened (an fstat over SFTP: size and mtime, in seconds).
type openFile struct {
	*sftp.File
	opened fs.FileInfo
}

var _ core.ChangeChecker = (*openFile)(nil)

// Unchanged reports whether the file's size or mtime moved since it was
// opened.
func (f *openFile) Unchanged() error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != f.opened.Size() || !fi.ModTime().Equal(f.opened.ModTime()) {
		return core.ErrChangedWhileReading
	}
	return nil
}

// tempName returns a fresh reserved name, with the session's token.
func (f *FS) tempName() string {
	var b [12]byte
	rand.Read(b[:])
	if f.opts.TempToken != "" {
		return core.ReservedPrefix + f.opts.TempToken + "-" + hex.EncodeToString(b[:])
	}
	return core.ReservedPrefix + hex.EncodeToString(b[:])
}

// ownTemp reports whether a reserved name is a temporary of this session.
func (f *FS) ownTemp(name string) bool {
	t := f.opts.TempToken
	return t != "" && strings.HasPrefix(name, core.ReservedPrefix+t+"-")
}

// isHex reports whether s holds hex digits only.
func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// writer is a file being written under a temporary name.
type writer struct {
	fs       *FS
	p, full  string // destination
	tmp      string // the temporary file's server path
	file     *sftp.File
	buf      *bufio.Writer
	opts     core.CreateOptions
	mu       sync.Mutex
	finished bool // committed or aborted
}

// Create starts writing the file at p under a temporary name in its
// directory. Partial files (CreateOptions.Partial) are not kept or resumed.
func (f *FS) Create(ctx context.Context, p string, opts core.CreateOptions) (core.Writer, error) {
	if p == "" {
		return nil, fmt.Errorf("sftp create /: the root is a directory: %w", fs.ErrInvalid)
	}
	full, err := f.full(p)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tmp := path.Join(path.Dir(full), f.tempName())
	file, err := f.c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return nil, pathErr("create", p, err)
	}
	return &writer{fs: f, p: p, full: full, tmp: tmp, file: file, buf: bufio.NewWriterSize(file, writeBuffer), opts: opts}, nil
}

// Write adds b to the file.
func (w *writer) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return 0, fmt.Errorf("sftp write %s: %w", core.DisplayPath(w.p), os.ErrClosed)
	}
	n, err := w.buf.Write(b)
	if err != nil {
		return n, pathErr("write", w.p, err)
	}
	return n, nil
}

// Commit sends what is buffered, applies the attributes and renames the
// temporary file into place if the precondition holds.
func (w *writer) Commit(ctx context.Context) (core.Entry, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return core.Entry{}, fmt.Errorf("sftp commit %s: %w", core.DisplayPath(w.p), os.ErrClosed)
	}
	w.finished = true
	e, err := w.commit(ctx)
	if err != nil {
		w.file.Close()
		w.fs.c.Remove(w.tmp)
	}
	return e, err
}

func (w *writer) commit(ctx context.Context) (core.Entry, error) {
	if err := ctx.Err(); err != nil {
		return core.Entry{}, err
	}
	if err := w.buf.Flush(); err != nil {
		return core.Entry{}, pathErr("write", w.p, err)
	}
	a := w.opts.Attrs
	if a.UID != nil || a.GID != nil {
		if err := w.file.Chown(idOr(a.UID, -1), idOr(a.GID, -1)); err != nil {
			return core.Entry{}, pathErr("chown", w.p, fmt.Errorf("%w: %w", core.ErrOwner, err))
		}
	}
	if a.Mode != nil {
		if err := w.file.Chmod(*a.Mode); err != nil {
			return core.Entry{}, pathErr("chmod", w.p, err)
		}
	}
	if err := w.file.Close(); err != nil {
		return core.Entry{}, pathErr("write", w.p, err)
	}
	if a.MTime != nil || a.ATime != nil {
		if err := w.fs.chtimes(w.tmp, a); err != nil {
			return core.Entry{}, pathErr("set time of", w.p, err)
		}
	}
	if err := w.fs.commitAt(w.tmp, w.p, w.full, w.opts.Replace); err != nil {
		return core.Entry{}, err
	}
	return w.fs.lstat(w.p, w.full)
}

// Abort drops the temporary file; after Commit it does nothing.
func (w *writer) Abort() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return nil
	}
	w.finished = true
	w.file.Close()
	if err := w.fs.c.Remove(w.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return pathErr("abort", w.p, err)
	}
	return nil
}

// commitAt renames the temporary tmp to full (core path p) if what is
// there matches pre: with the plain SFTP rename, which does not replace,
// when nothing may be there; with posix-rename otherwise.
func (f *FS) commitAt(tmp, p, full string, pre core.Precondition) error {
	if !pre.Any && pre.Expect == nil {
		err := f.c.Rename(tmp, full)
		if err == nil {
			return nil
		}
		if cur, ferr := f.found(p, full); ferr == nil && cur != nil {
			return fmt.Errorf("sftp write %s: %w: a %s is there", core.DisplayPath(p), core.ErrPrecondition, cur.Type)
		}
		return pathErr("write", p, err)
	}
	if !pre.Any {
		cur, err := f.found(p, full)
		if err != nil {
			return err
		}
		if err := pre.Check(cur); err != nil {
			return fmt.Errorf("sftp write %s: %w", core.DisplayPath(p), err)
		}
		if cur.Type == core.TypeDir {
			return fmt.Errorf("sftp write %s: a directory is in the way: %w", core.DisplayPath(p), fs.ErrExist)
		}
	}
	if err := f.c.PosixRename(tmp, full); err != nil {
		return pathErr("write", p, err)
	}
	return nil
}

// chtimes sets the times a names on the server path full; SFTP sets both
// at once, so a time left alone is read first.
func (f *FS) chtimes(full string, a core.Attrs) error {
	var mt, at time.Time
	if a.MTime == nil || a.ATime == nil {
		fi, err := f.c.Lstat(full)
		if err != nil {
			return err
		}
		mt = fi.ModTime()
		at = mt
		if st, ok := fi.Sys().(*sftp.FileStat); ok {
			at = st.AccessTime()
		}
	}
	if a.MTime != nil {
		mt = *a.MTime
	}
	if a.ATime != nil {
		at = *a.ATime
	}
	return f.c.Chtimes(full, at, mt)
}

// idOr returns *id, or def when id is nil.
func idOr(id *int, def int) int {
	if id == nil {
		return def
	}
	return *id
}

// Mkdir creates the directory p with mode; an existing directory is
// returned as it is, anything else in the way is an error wrapping
// fs.ErrExist.
func (f *FS) Mkdir(ctx context.Context, p string, mode fs.FileMode) (core.Entry, error) {
	if p == "" {
		return f.Stat(ctx, "")
	}
	full, err := f.full(p)
	if err != nil {
		return core.Entry{}, err
	}
	if err := f.c.Mkdir(full); err != nil {
		cur, ferr := f.found(p, full)
		switch {
		case ferr != nil || cur == nil:
			return core.Entry{}, pathErr("mkdir", p, err)
		case cur.Type != core.TypeDir:
			return core.Entry{}, fmt.Errorf("sftp mkdir %s: a %s is in the way: %w", core.DisplayPath(p), cur.Type, fs.ErrExist)
		}
		return *cur, nil
	}
	if err := f.c.Chmod(full, mode); err != nil {
		return core.Entry{}, pathErr("chmod", p, err)
	}
	return f.lstat(p, full)
}

// Remove removes the file, link or empty directory at p if it matches pre.
func (f *FS) Remove(ctx context.Context, p string, pre core.Precondition) error {
	if p == "" {
		return fmt.Errorf("sftp remove /: the root stays: %w", fs.ErrInvalid)
	}
	full, err := f.full(p)
	if err != nil {
		return err
	}
	cur, err := f.found(p, full)
	if err != nil {
		return err
	}
	if cur == nil {
		return pathErr("remove", p, fs.ErrNotExist)
	}
	if err := pre.Check(cur); err != nil {
		return fmt.Errorf("sftp remove %s: %w", core.DisplayPath(p), err)
	}
	if cur.Type != core.TypeDir {
		if err := f.c.Remove(full); err != nil {
			return pathErr("remove", p, err)
		}
		return nil
	}
	if err := f.c.RemoveDirectory(full); err != nil {
		// SFTP v3 reports "not empty" as a bare failure: look.
		if names, lerr := f.c.ReadDir(full); lerr == nil && len(names) > 0 {
			err = fmt.Errorf("%w: %w", core.ErrNotEmpty, err)
		}
		return pathErr("remove", p, err)
	}
	return nil
}

// Rename moves from to to if from matches pre and nothing is at to.
// OpenSSH's rename does not replace; a check before it covers servers
// that would.
func (f *FS) Rename(ctx context.Context, from, to string, pre core.Precondition) (core.Entry, error) {
	src, err := f.full(from)
	if err != nil {
		return core.Entry{}, err
	}
	dst, err := f.full(to)
	if err != nil {
		return core.Entry{}, err
	}
	if from == "" || to == "" {
		return core.Entry{}, fmt.Errorf("sftp rename: the root stays: %w", fs.ErrInvalid)
	}
	cur, err := f.found(from, src)
	if err != nil {
		return core.Entry{}, err
	}
	if cur == nil {
		return core.Entry{}, pathErr("rename", from, fs.ErrNotExist)
	}
	if err := pre.Check(cur); err != nil {
		return core.Entry{}, fmt.Errorf("sftp rename %s: %w", core.DisplayPath(from), err)
	}
	if there, err := f.found(to, dst); err != nil {
		return core.Entry{}, err
	} else if there != nil {
		return core.Entry{}, fmt.Errorf("sftp rename %s to %s: a %s is there: %w", core.DisplayPath(from), core.DisplayPath(to), there.Type, fs.ErrExist)
	}
	if err := f.c.Rename(src, dst); err != nil {
		return core.Entry{}, pathErr("rename to "+core.DisplayPath(to)+":", from, err)
	}
	return f.lstat(to, dst)
}

// SetAttr changes attributes of p: owners first (a chown clears setuid and
// setgid bits), then the mode, then the times. A link's own attributes
// cannot be set over SFTP (SETSTAT follows links), so links are left alone
// and returned as they are.
func (f *FS) SetAttr(ctx context.Context, p string, a core.Attrs) (core.Entry, error) {
	if p == "" {
		return core.Entry{}, fmt.Errorf("sftp setattr /: the root's attributes are left alone: %w", fs.ErrInvalid)
	}
	full, err := f.full(p)
	if err != nil {
		return core.Entry{}, err
	}
	cur, err := f.lstat(p, full)
	if err != nil || cur.Type == core.TypeSymlink || a.IsZero() {
		return cur, err
	}
	if a.UID != nil || a.GID != nil {
		if err := f.c.Chown(full, idOr(a.UID, cur.UID), idOr(a.GID, cur.GID)); err != nil {
			return core.Entry{}, pathErr("chown", p, fmt.Errorf("%w: %w", core.ErrOwner, err))
		}
	}
	if a.Mode != nil {
		if err := f.c.Chmod(full, *a.Mode); err != nil {
			return core.Entry{}, pathErr("chmod", p, err)
		}
	}
	if a.MTime != nil || a.ATime != nil {
		if err := f.chtimes(full, a); err != nil {
			return core.Entry{}, pathErr("set time of", p, err)
		}
	}
	return f.lstat(p, full)
}

// Symlink creates a link at p with the given target, replacing what is
// there only if it matches pre: the link is made under a temporary name
// and renamed into place like a file.
func (f *FS) Symlink(ctx context.Context, p, target string, pre core.Precondition) (core.Entry, error) {
	if p == "" {
		return core.Entry{}, fmt.Errorf("sftp symlink /: the root is a directory: %w", fs.ErrInvalid)
	}
	full, err := f.full(p)
	if err != nil {
		return core.Entry{}, err
	}
	if !pre.Any && pre.Expect == nil {
		// OpenSSH's rename of a link looks at the destination with stat,
		// which would let it replace a dangling link: look first.
		if cur, err := f.found(p, full); err != nil {
			return core.Entry{}, err
		} else if err := pre.Check(cur); err != nil {
			return core.Entry{}, fmt.Errorf("sftp symlink %s: %w", core.DisplayPath(p), err)
		}
	}
	tmp := path.Join(path.Dir(full), f.tempName())
	if err := f.c.Symlink(target, tmp); err != nil {
		return core.Entry{}, pathErr("symlink", p, err)
	}
	if err := f.commitAt(tmp, p, full, pre); err != nil {
		f.c.Remove(tmp)
		return core.Entry{}, err
	}
	return f.lstat(p, full)
}

// Scan lists the tree below the root with opts.Threads (or
// Options.Concurrency) directory listers. Entries come from the listing
// itself (OpenSSH lstats them), so only links cost another round trip (to
// read their target, or to follow them).
func (f *FS) Scan(ctx context.Context, opts core.ScanOptions, fn func(core.Entry) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	skip, descend, err := opts.Prune.Funcs()
	if err != nil {
		return err
	}
	n := opts.Threads
	if n <= 0 {
		n = f.opts.Concurrency
	}
	s := &scanner{fs: f, ctx: ctx, opts: opts, fn: fn, skip: skip, descend: descend,
		follow: opts.FollowLinks || f.opts.FollowLinks}
	var root dirJob
	if s.follow {
		if root.real, err = f.c.RealPath(f.root); err != nil {
			return pathErr("realpath", "", err)
		}
	}
	if _, err := treewalk.Walk(root, treewalk.Options{Workers: n, Pause: opts.Pause, PauseEvery: opts.PauseEvery}, s.list); err != nil {
		return err
	}
	return ctx.Err()
}

// scanner is one Scan in progress; treewalk lists its directories.
type scanner struct {
	fs      *FS
	ctx     context.Context
	opts    core.ScanOptions
	fn      func(core.Entry) error
	skip    func(string, bool) bool
	descend func(*core.Entry) bool
	follow  bool
}

// dirJob is a directory to list.
type dirJob struct {
	path string // core path
	real string // its canonical server path (links followed only)
}

// list reports the entries of directory j and returns its subdirectories
// to descend into.
func (s *scanner) list(j dirJob, stopped func() bool) ([]dirJob, error) {
	if stopped() {
		return nil, nil
	}
	if err := s.ctx.Err(); err != nil {
		return nil, err
	}
	dir := path.Join(s.fs.root, j.path)
	fis, err := s.fs.c.ReadDirContext(s.ctx, dir)
	if err != nil {
		if cerr := s.ctx.Err(); cerr != nil {
			return nil, cerr
		}
		if j.path != "" && errors.Is(err, fs.ErrNotExist) {
			return nil, nil // gone since its parent was listed
		}
		if j.path != "" && s.opts.Unreadable != nil && errors.Is(err, fs.ErrPermission) {
			return nil, s.opts.Unreadable(j.path, pathErr("list", j.path, err))
		}
		return nil, fmt.Errorf("scan: %w", pathErr("list", j.path, err))
	}
	var subdirs []dirJob
	for _, fi := range fis {
		if stopped() {
			return nil, nil
		}
		if err := s.ctx.Err(); err != nil {
			return nil, err
		}
		sub, ok, err := s.entry(j, fi, stopped)
		if err != nil {
			return nil, err
		}
		if ok {
			subdirs = append(subdirs, sub)
		}
	}
	return subdirs, nil
}

// entry reports fi, listed in directory j, and returns the job of listing
// it when it is a directory to descend into.
func (s *scanner) entry(j dirJob, fi fs.FileInfo, stopped func() bool) (dirJob, bool, error) {
	name := fi.Name()
	p := core.Join(j.path, name)
	full := path.Join(s.fs.root, p)
	if core.IsReserved(p) {
		tok := s.opts.TempToken // the session's partial files (of agent runs) only
		switch {
		case strings.HasPrefix(name, core.PartialPrefix):
			if age := s.opts.PartialMaxAge; age > 0 && tok != "" && strings.HasPrefix(name, core.PartialPrefix+tok+"-") &&
				fi.Mode().IsRegular() && time.Since(fi.ModTime()) > age {
				s.fs.c.Remove(full)
			}
		case s.fs.ownTemp(name) && (fi.Mode().IsRegular() || fi.Mode()&fs.ModeSymlink != 0):
			// Left by a run of this session that was killed: no run of it
			// writes while it scans.
			s.fs.c.Remove(full)
		}
		return dirJob{}, false, nil
	}
	link := fi.Mode()&fs.ModeSymlink != 0
	asked := false
	if !link || !s.follow {
		if s.skip != nil && s.skip(p, fi.IsDir()) {
			return dirJob{}, false, nil
		}
		asked = true
	}
	real := ""
	if link && s.follow {
		t, err := s.fs.c.Stat(full)
		if err != nil {
			return dirJob{}, false, nil // dangling
		}
		fi = t
		if fi.IsDir() {
			if real, err = s.fs.c.RealPath(full); err != nil {
				return dirJob{}, false, nil
			}
			if real == j.real || strings.HasPrefix(j.real+"/", real+"/") { // a loop through links
				if s.opts.Unreadable != nil {
					return dirJob{}, false, s.opts.Unreadable(p, core.ErrSymlinkLoop)
				}
				return dirJob{}, false, nil
			}
		}
	} else if fi.IsDir() && s.follow {
		real = path.Join(j.real, name)
	}
	e, ok := entryFrom(p, fi)
	if !ok {
		return dirJob{}, false, nil // devices, sockets, fifos are not synchronized
	}
	isDir := e.Type == core.TypeDir
	if !asked && s.skip != nil && s.skip(p, isDir) {
		return dirJob{}, false, nil
	}
	if e.Type == core.TypeSymlink {
		t, err := s.fs.c.ReadLink(full)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return dirJob{}, false, nil // gone since the listing
			}
			return dirJob{}, false, fmt.Errorf("scan: %w", pathErr("readlink", p, err))
		}
		e.Target = t
	}
	if stopped() {
		return dirJob{}, false, nil
	}
	if err := s.fn(e); err != nil {
		return dirJob{}, false, err
	}
	if !isDir || s.descend != nil && !s.descend(&e) {
		return dirJob{}, false, nil
	}
	return dirJob{path: p, real: real}, true, nil
}
