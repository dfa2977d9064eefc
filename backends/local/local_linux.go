package local

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/async-sync/async/core"
	"golang.org/x/sys/unix"
)

// FS is a local directory tree. It is safe for concurrent use.
type FS struct {
	root    string
	rootFD  int // O_PATH descriptor of the root
	opts    Options
	openat2 bool // the kernel resolves paths beneath a descriptor for us
	pid     int  // this process, in temporary names
	// umask is the process's umask, -1 when unknown, read on the first
	// file created: a run that creates none (a no-op) does not read
	// /proc/self/status for it.
	umask func() int
	dirs  dirCache
}

// processUmask reads the umask without changing it (Linux 4.7 and later
// show it in /proc/self/status); -1 when it cannot.
func processUmask() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err != nil {
				return -1
			}
			return int(n)
		}
	}
	return -1
}

// Open opens the directory root as a backend. root itself may be reached
// through symbolic links; nothing below it is.
func Open(root string, opts Options) (*FS, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			return nil, fmt.Errorf("local directory %s: not a directory: %w", root, err)
		}
		return nil, fmt.Errorf("local directory %s: %w", root, err)
	}
	f := &FS{root: root, rootFD: fd, opts: opts, pid: os.Getpid(), umask: sync.OnceValue(processUmask)}
	// openat2 may be missing (Linux < 5.6) or refused by a seccomp filter
	// (older container runtimes); walking one component at a time is as
	// safe, only slower.
	probe, err := openat2(fd, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, strictResolve)
	if err == nil {
		unix.Close(probe)
		f.openat2 = true
	}
	return f, nil
}

// Caps reports what a local directory can do: everything.
func (f *FS) Caps() core.Caps {
	return core.Caps{Dirs: true, Rename: true, SetMTime: true, SetMode: true, Owners: true,
		Symlinks: true, FileIDs: true, Filesystem: true, MTimeFromFS: true, OrderedScan: true}
}

// Close releases the root descriptor.
func (f *FS) Close() error {
	f.forgetDirs()
	return unix.Close(f.rootFD)
}

const strictResolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

func openat2(dirfd int, p string, flags int, resolve uint64) (int, error) {
	for {
		fd, err := unix.Openat2(dirfd, p, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolve})
		if err == unix.EINTR || err == unix.EAGAIN { // EAGAIN: a rename raced the lookup
			continue
		}
		return fd, err
	}
}

func openat(dirfd int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// checkPath refuses what is not a path in core's convention: absolute
// paths and empty, "." or ".." components.
func checkPath(p string) error {
	if p == "" {
		return nil
	}
	for rest := p; ; {
		comp, tail, more := strings.Cut(rest, "/")
		if comp == "" || comp == "." || comp == ".." {
			return fmt.Errorf("invalid path %q: %w", p, fs.ErrInvalid)
		}
		if !more {
			return nil
		}
		rest = tail
	}
}

// openBelow opens p ("" is the root) with flags. Symbolic links are refused
// on the whole way unless follow is set; followed links stay beneath the
// root when Confined.
func (f *FS) openBelow(p string, flags int, follow bool) (int, error) {
	if err := checkPath(p); err != nil {
		return -1, err
	}
	if p == "" {
		p = "."
	}
	if len(p) >= unix.PathMax-1 { // too long for one call: in parts
		return f.openLong(p, flags, follow)
	}
	return f.openFrom(f.rootFD, p, flags, follow)
}

// openLong opens a path too long for one system call: each part of it
// short enough for one is opened from the directory the part before
// reached, with the same rules.
func (f *FS) openLong(p string, flags int, follow bool) (int, error) {
	cur := f.rootFD
	for len(p) >= unix.PathMax-1 {
		i := strings.LastIndexByte(p[:unix.PathMax-2], '/')
		if i <= 0 {
			if cur != f.rootFD {
				unix.Close(cur)
			}
			return -1, pathErr("open", p, unix.ENAMETOOLONG)
		}
		fd, err := f.openFrom(cur, p[:i], unix.O_PATH|unix.O_DIRECTORY, follow)
		if cur != f.rootFD {
			unix.Close(cur)
		}
		if err != nil {
			return -1, err
		}
		cur, p = fd, p[i+1:]
	}
	fd, err := f.openFrom(cur, p, flags, follow)
	unix.Close(cur)
	return fd, err
}

// openFrom opens p below the directory dirfd (the root, or a directory
// below it) as openBelow does.
func (f *FS) openFrom(dirfd int, p string, flags int, follow bool) (int, error) {
	if f.openat2 {
		resolve := uint64(strictResolve)
		if follow {
			resolve = unix.RESOLVE_NO_MAGICLINKS
			if f.opts.Confined {
				resolve |= unix.RESOLVE_BENEATH
			}
		}
		fd, err := openat2(dirfd, p, flags, resolve)
		if err != nil {
			return -1, pathErr("open", p, err)
		}
		return fd, nil
	}
	// One component at a time. Without openat2 a confined tree does not
	// follow links at all.
	nofollow := unix.O_NOFOLLOW
	if follow && !f.opts.Confined {
		nofollow = 0
	}
	cur := dirfd
	for {
		comp, rest, more := strings.Cut(p, "/")
		fl := flags | nofollow
		if more {
			fl = unix.O_PATH | unix.O_DIRECTORY | nofollow
		}
		fd, err := openat(cur, comp, fl)
		if cur != dirfd {
			unix.Close(cur)
		}
		if err != nil {
			return -1, pathErr("open", p, err)
		}
		if !more {
			return fd, nil
		}
		cur, p = fd, rest
	}
}

// parent opens the parent directory of p (O_PATH) and returns it with p's
// name. Links are followed on the way only for reads (follow).
func (f *FS) parent(p string, follow bool) (int, string, error) {
	if p == "" {
		return -1, "", fmt.Errorf("the root has no parent: %w", fs.ErrInvalid)
	}
	if err := checkPath(p); err != nil {
		return -1, "", err
	}
	fd, err := f.openBelow(core.Parent(p), unix.O_PATH|unix.O_DIRECTORY, follow)
	if err != nil {
		return -1, "", err
	}
	return fd, core.Base(p), nil
}

// pathErr wraps a system error for path p, so that errors.Is finds
// fs.ErrNotExist, fs.ErrExist and fs.ErrPermission.
func pathErr(op, p string, err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
		return fmt.Errorf("%s %s: a symbolic link or a path leaving the tree is in the way: %w", op, core.DisplayPath(p), err)
	}
	if errors.Is(err, unix.ENOTDIR) { // a parent is not a directory: nothing is there
		return fmt.Errorf("%s %s: %w: %w", op, core.DisplayPath(p), fs.ErrNotExist, err)
	}
	return fmt.Errorf("%s %s: %w", op, core.DisplayPath(p), err)
}

// entryFrom builds the entry of path p from its stat; ok is false for
// types async does not synchronize (devices, sockets, fifos).
func entryFrom(p string, st *unix.Stat_t) (core.Entry, bool) {
	e := core.Entry{
		Path:  p,
		Size:  st.Size,
		MTime: time.Unix(int64(st.Mtim.Sec), int64(st.Mtim.Nsec)),
		ATime: time.Unix(int64(st.Atim.Sec), int64(st.Atim.Nsec)),
		Mode:  fs.FileMode(st.Mode & 0o777),
		UID:   int(st.Uid),
		GID:   int(st.Gid),
	}
	e.Token, e.FileID = tokenAndID(st)
	if st.Mode&unix.S_ISUID != 0 {
		e.Mode |= fs.ModeSetuid
	}
	if st.Mode&unix.S_ISGID != 0 {
		e.Mode |= fs.ModeSetgid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		e.Mode |= fs.ModeSticky
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		e.Type = core.TypeFile
	case unix.S_IFDIR:
		e.Type, e.Size = core.TypeDir, 0
	case unix.S_IFLNK:
		e.Type = core.TypeSymlink
	default:
		return e, false
	}
	return e, true
}

// tokenAndID returns the change token of st (its ctime in nanoseconds)
// and its file ID ("dev:ino"), which share one allocation: every entry
// scanned or written has both.
func tokenAndID(st *unix.Stat_t) (token, id string) {
	var b [64]byte
	s := appendToken(b[:0], st)
	n := len(s)
	all := string(appendFileID(s, st))
	return all[:n], all[n:]
}

// appendToken appends the change token of st to b.
func appendToken(b []byte, st *unix.Stat_t) []byte {
	return strconv.AppendInt(b, int64(st.Ctim.Sec)*1e9+int64(st.Ctim.Nsec), 10)
}

// appendFileID appends the file ID of st, "dev:ino", to b.
func appendFileID(b []byte, st *unix.Stat_t) []byte {
	b = strconv.AppendUint(b, uint64(st.Dev), 10)
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(st.Ino), 10)
}

// statAt describes name in directory dirfd without following a link.
func (f *FS) statAt(dirfd int, name, p string) (core.Entry, error) {
	var st unix.Stat_t
	if err := fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return core.Entry{}, pathErr("stat", p, err)
	}
	return f.entryAt(dirfd, name, p, &st)
}

// entryAt completes the entry of name in dirfd from its lstat.
func (f *FS) entryAt(dirfd int, name, p string, st *unix.Stat_t) (core.Entry, error) {
	e, ok := entryFrom(p, st)
	if !ok {
		return core.Entry{}, fmt.Errorf("stat %s: not a file, directory or link: %w", core.DisplayPath(p), core.ErrUnsupported)
	}
	if e.Type == core.TypeSymlink {
		t, err := readlinkAt(dirfd, name)
		if err != nil {
			return core.Entry{}, pathErr("readlink", p, err)
		}
		e.Target = t
	}
	return e, nil
}

func fstatat(dirfd int, name string, st *unix.Stat_t, flags int) error {
	for {
		err := unix.Fstatat(dirfd, name, st, flags)
		if err != unix.EINTR {
			return err
		}
	}
}

func readlinkAt(dirfd int, name string) (string, error) {
	for n := 256; ; n *= 2 {
		buf := make([]byte, n)
		m, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if m < n {
			return string(buf[:m]), nil
		}
	}
}

// statFD describes the open descriptor fd as path p.
func statFD(fd int, p string) (core.Entry, error) {
	var st unix.Stat_t
	return statFDInto(fd, p, &st)
}

// statFDInto is statFD keeping the stat in st.
func statFDInto(fd int, p string, st *unix.Stat_t) (core.Entry, error) {
	if err := unix.Fstat(fd, st); err != nil {
		return core.Entry{}, pathErr("stat", p, err)
	}
	e, ok := entryFrom(p, st)
	if !ok {
		return core.Entry{}, fmt.Errorf("stat %s: not a file, directory or link: %w", core.DisplayPath(p), core.ErrUnsupported)
	}
	return e, nil
}

// Stat describes the entry at p; Stat("") describes the root. With
// FollowLinks it describes what a link points to.
func (f *FS) Stat(ctx context.Context, p string) (core.Entry, error) {
	if p == "" {
		return statFD(f.rootFD, "")
	}
	if f.opts.FollowLinks {
		fd, err := f.openBelow(p, unix.O_PATH, true)
		if err != nil {
			return core.Entry{}, err
		}
		defer unix.Close(fd)
		return statFD(fd, p)
	}
	dfd, name, err := f.parent(p, false)
	if err != nil {
		return core.Entry{}, err
	}
	defer unix.Close(dfd)
	return f.statAt(dfd, name, p)
}

var _ core.BatchStater = (*FS)(nil)

// StatBatch stats paths as Stat does, looking up the parent directory
// once for consecutive paths in the same directory (a sparse gather
// stats thousands of paths in a few seconds: a lookup is a path walk and
// two system calls). A directory moved while the batch runs is seen as a
// Stat at that moment would have seen it.
func (f *FS) StatBatch(ctx context.Context, paths []string) ([]core.Entry, []error) {
	entries, errs := make([]core.Entry, len(paths)), make([]error, len(paths))
	if f.opts.FollowLinks {
		for i, p := range paths {
			entries[i], errs[i] = f.Stat(ctx, p)
		}
		return entries, errs
	}
	dir, dfd := "", -1
	var derr error
	defer func() {
		if dfd >= 0 {
			unix.Close(dfd)
		}
	}()
	for i, p := range paths {
		if p == "" {
			entries[i], errs[i] = f.Stat(ctx, p)
			continue
		}
		if err := checkPath(p); err != nil {
			errs[i] = err
			continue
		}
		if parent := core.Parent(p); dfd < 0 && derr == nil || parent != dir {
			if dfd >= 0 {
				unix.Close(dfd)
			}
			dir = parent
			dfd, _, derr = f.parent(p, false)
		}
		if derr != nil {
			errs[i] = derr
			continue
		}
		entries[i], errs[i] = f.statAt(dfd, core.Base(p), p)
	}
	return entries, errs
}

// Open opens the file at p for reading from offset.
func (f *FS) Open(ctx context.Context, p string, offset int64) (io.ReadCloser, core.Entry, error) {
	if p == "" {
		return nil, core.Entry{}, fmt.Errorf("open /: a directory: %w", fs.ErrInvalid)
	}
	// O_NONBLOCK: a fifo put in the file's place must not hang the run;
	// it changes nothing for regular files.
	fd, err := f.openBelow(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, f.opts.FollowLinks)
	if err != nil {
		return nil, core.Entry{}, err
	}
	file := &fdFile{fd: fd, off: offset, end: -1, opened: new(unix.Stat_t)}
	e, err := statFDInto(fd, p, file.opened)
	if err == nil && e.Type != core.TypeFile {
		err = fmt.Errorf("open %s: not a regular file", core.DisplayPath(p))
	}
	if err != nil {
		file.Close()
		return nil, core.Entry{}, err
	}
	// The reader delivers the size the entry reports: bytes appended
	// since come with a new mtime, and the next run sends them. This also
	// spares the read that would only find the end.
	file.end = e.Size
	return file, e, nil
}

// OpenExpect opens the file at p for reading from offset, expecting the
// entry want (core.ExpectOpener): no stat now; the reader stops at
// want.Size and its Unchanged compares one fstat with want.
func (f *FS) OpenExpect(ctx context.Context, p string, offset int64, want *core.Entry) (io.ReadCloser, error) {
	if p == "" {
		return nil, fmt.Errorf("open /: a directory: %w", fs.ErrInvalid)
	}
	// O_NONBLOCK: a fifo put in the file's place must not hang the run
	// (its read fails); a device is read no further than want.Size and
	// then found by Unchanged.
	fd, err := f.openBelow(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, f.opts.FollowLinks)
	if err != nil {
		return nil, err
	}
	// One allocation for the reader and its copy of want: a copy opens
	// every file it sends.
	r := &expectFile{fdFile: fdFile{fd: fd, off: offset, end: want.Size}, entry: *want}
	r.want = &r.entry
	return &r.fdFile, nil
}

// expectFile is an fdFile of OpenExpect with the entry its want points to.
type expectFile struct {
	fdFile
	entry core.Entry
}

// fdFile reads or writes a file through its descriptor with plain system
// calls: cheaper than *os.File, which registers every file with the
// runtime's poller.
type fdFile struct {
	fd  int
	off int64 // next read offset
	end int64 // Read stops here; -1: at the end of the file
	// opened is the file's stat when it was opened for reading (nil for
	// a file being written), for Unchanged.
	opened *unix.Stat_t
	// want is the entry the file was opened as (OpenExpect), for
	// Unchanged; nil when opened is set or for a file being written.
	want *core.Entry
}

var _ core.ChangeChecker = (*fdFile)(nil)

// Unchanged reports whether the file was written to (or its attributes
// changed) since it was opened: its size, mtime or ctime moved.
func (f *fdFile) Unchanged() error {
	if f.want != nil {
		return f.isWant()
	}
	if f.opened == nil {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return err
	}
	if o := f.opened; st.Size != o.Size || st.Mtim != o.Mtim || st.Ctim != o.Ctim {
		return core.ErrChangedWhileReading
	}
	return nil
}

// isWant reports whether the open file is still the entry it was opened
// as (OpenExpect): a regular file of the same size, mtime, change time and
// file ID. A write since the scan moved the change time at least.
func (f *fdFile) isWant() error {
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return err
	}
	w := f.want
	var b [42]byte
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Errorf("%s is not a regular file now: %w", core.DisplayPath(w.Path), core.ErrChangedWhileReading)
	case st.Size != w.Size || !time.Unix(int64(st.Mtim.Sec), int64(st.Mtim.Nsec)).Equal(w.MTime),
		string(appendToken(b[:0], &st)) != w.Token,
		w.FileID != "" && string(appendFileID(b[:0], &st)) != w.FileID:
		return core.ErrChangedWhileReading
	}
	return nil
}

func (f *fdFile) Read(p []byte) (int, error) {
	if f.end >= 0 {
		if f.off >= f.end {
			return 0, io.EOF
		}
		p = p[:min(int64(len(p)), f.end-f.off)]
	}
	for {
		n, err := unix.Pread(f.fd, p, f.off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 && len(p) > 0 {
			return 0, io.EOF
		}
		f.off += int64(n)
		return n, nil
	}
}

// ReadAt reads at an offset (for sampled fingerprints).
func (f *fdFile) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		n, err := unix.Pread(f.fd, p[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		if n == 0 {
			return done, io.EOF
		}
		done += n
	}
	return done, nil
}

// Write writes all of p.
func (f *fdFile) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := unix.Write(f.fd, p[done:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

func (f *fdFile) Close() error {
	if f.fd < 0 {
		return nil
	}
	err := unix.Close(f.fd)
	f.fd = -1
	return err
}

// Hash fingerprints the file at p where it lives, and returns the entry of
// the very file it read.
func (f *FS) Hash(ctx context.Context, p string, algo core.Checksum) (string, core.Entry, error) {
	rc, e, err := f.Open(ctx, p, 0)
	if err != nil {
		return "", core.Entry{}, err
	}
	defer rc.Close()
	sum, err := core.HashReaderAt(rc.(*fdFile), e.Size, algo)
	if err != nil {
		return "", core.Entry{}, pathErr("hash", p, err)
	}
	return sum, e, nil
}

// Mkdir creates the directory p with exactly mode; an existing directory
// is returned as it is.
func (f *FS) Mkdir(ctx context.Context, p string, mode fs.FileMode) (core.Entry, error) {
	if p == "" {
		return f.Stat(ctx, "")
	}
	dfd, name, err := f.parent(p, false)
	if err != nil {
		return core.Entry{}, err
	}
	defer unix.Close(dfd)
	err = unix.Mkdirat(dfd, name, uint32(mode.Perm()))
	if errors.Is(err, unix.EEXIST) {
		e, serr := f.statAt(dfd, name, p)
		if serr == nil && e.Type != core.TypeDir {
			return core.Entry{}, fmt.Errorf("mkdir %s: a %s is in the way: %w", core.DisplayPath(p), e.Type, fs.ErrExist)
		}
		return e, serr
	}
	if err != nil {
		return core.Entry{}, pathErr("mkdir", p, err)
	}
	f.forgetDir(p) // a directory cached under this path is not this one
	if err := chmodAt(dfd, name, p, mode); err != nil {
		return core.Entry{}, err
	}
	return f.statAt(dfd, name, p)
}

// unixMode converts permission bits to the system's.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		u |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		u |= unix.S_ISVTX
	}
	return u
}

// chmodAt sets the mode of name in dfd without ever following a link (a
// link swapped in meanwhile must not lead the change outside the tree);
// links themselves have no mode of their own and are left alone.
func chmodAt(dfd int, name, p string, mode fs.FileMode) error {
	m := unixMode(mode)
	err := unix.Fchmodat(dfd, name, m, unix.AT_SYMLINK_NOFOLLOW) // fchmodat2, Linux 6.6
	if err == nil {
		return nil
	}
	if err != unix.EOPNOTSUPP {
		return pathErr("chmod", p, err)
	}
	// A link, or a kernel without fchmodat2: pin the inode, then change it
	// through its descriptor.
	fd, err := openat(dfd, name, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return pathErr("chmod", p, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return pathErr("chmod", p, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil
	}
	err = unix.Fchmodat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), m, 0)
	if err == unix.ENOENT { // no /proc: open the inode for real
		var rfd int
		if rfd, err = openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY); err == nil {
			err = unix.Fchmod(rfd, m)
			unix.Close(rfd)
		}
	}
	if err != nil {
		return pathErr("chmod", p, err)
	}
	return nil
}

// found returns the entry at name in dfd, or nil when there is none.
func (f *FS) found(dfd int, name, p string) (*core.Entry, error) {
	e, err := f.statAt(dfd, name, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// Remove removes the file, link or empty directory at p if it matches pre.
// A missing path is an error wrapping fs.ErrNotExist.
func (f *FS) Remove(ctx context.Context, p string, pre core.Precondition) error {
	f.forgetDirs() // a directory may move or go: created files look it up again
	defer f.forgetDirs()
	dfd, name, err := f.parent(p, false)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	cur, err := f.found(dfd, name, p)
	if err != nil {
		return err
	}
	if cur == nil {
		return pathErr("remove", p, fs.ErrNotExist)
	}
	if err := pre.Check(cur); err != nil {
		return fmt.Errorf("remove %s: %w", core.DisplayPath(p), err)
	}
	flags := 0
	if cur.Type == core.TypeDir {
		flags = unix.AT_REMOVEDIR
	}
	if err := unix.Unlinkat(dfd, name, flags); err != nil {
		if err == unix.ENOTEMPTY || err == unix.EEXIST {
			err = fmt.Errorf("%w: %w", core.ErrNotEmpty, err)
		}
		return pathErr("remove", p, err)
	}
	return nil
}

// Rename moves from to to, if from matches pre and nothing is at to.
func (f *FS) Rename(ctx context.Context, from, to string, pre core.Precondition) (core.Entry, error) {
	f.forgetDirs() // a directory may move or go: created files look it up again
	defer f.forgetDirs()
	sfd, sname, err := f.parent(from, false)
	if err != nil {
		return core.Entry{}, err
	}
	defer unix.Close(sfd)
	dfd, dname, err := f.parent(to, false)
	if err != nil {
		return core.Entry{}, err
	}
	defer unix.Close(dfd)
	cur, err := f.found(sfd, sname, from)
	if err != nil {
		return core.Entry{}, err
	}
	if cur == nil {
		return core.Entry{}, pathErr("rename", from, fs.ErrNotExist)
	}
	if err := pre.Check(cur); err != nil {
		return core.Entry{}, fmt.Errorf("rename %s: %w", core.DisplayPath(from), err)
	}
	if err := renameNoReplace(sfd, sname, dfd, dname, cur.Type == core.TypeDir); err != nil {
		return core.Entry{}, pathErr("rename to "+core.DisplayPath(to)+":", from, err)
	}
	return f.statAt(dfd, dname, to)
}

// renameNoReplace renames without replacing anything at the destination
// (EEXIST then). Filesystems without RENAME_NOREPLACE get link+unlink for
// files, and a check before the rename for directories.
func renameNoReplace(sfd int, sname string, dfd int, dname string, isDir bool) error {
	err := unix.Renameat2(sfd, sname, dfd, dname, unix.RENAME_NOREPLACE)
	if err != unix.EINVAL && err != unix.ENOSYS && err != unix.EOPNOTSUPP {
		return err
	}
	if !isDir {
		err = unix.Linkat(sfd, sname, dfd, dname, 0)
		if err == nil {
			unix.Unlinkat(sfd, sname, 0)
			return nil
		}
		if err == unix.EEXIST {
			return err
		}
	}
	var st unix.Stat_t
	if err := fstatat(dfd, dname, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		return unix.EEXIST
	}
	return unix.Renameat(sfd, sname, dfd, dname)
}

// SetAttr changes the attributes a names; mode is left alone on links.
func (f *FS) SetAttr(ctx context.Context, p string, a core.Attrs) (core.Entry, error) {
	if p == "" {
		return core.Entry{}, fmt.Errorf("setattr /: the root's attributes are left alone: %w", fs.ErrInvalid)
	}
	dfd, name, err := f.parent(p, false)
	if err != nil {
		return core.Entry{}, err
	}
	defer unix.Close(dfd)
	if err := setAttrAt(dfd, name, p, a); err != nil {
		return core.Entry{}, err
	}
	return f.statAt(dfd, name, p)
}

// setAttrAt changes owners first (a chown clears setuid and setgid bits),
// then the mode, then the mtime; none of them follows a link.
func setAttrAt(dfd int, name, p string, a core.Attrs) error {
	if a.UID != nil || a.GID != nil {
		if err := unix.Fchownat(dfd, name, idOr(a.UID), idOr(a.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return pathErr("chown", p, fmt.Errorf("%w: %w", core.ErrOwner, err))
		}
	}
	if a.Mode != nil {
		if err := chmodAt(dfd, name, p, *a.Mode); err != nil {
			return err
		}
	}
	if a.MTime != nil || a.ATime != nil {
		ts := timespecs(a)
		if err := unix.UtimesNanoAt(dfd, name, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return pathErr("set time of", p, err)
		}
	}
	return nil
}

// timespecs are the access and modification times utimensat sets: the
// ones a names, the others left alone.
func timespecs(a core.Attrs) [2]unix.Timespec {
	ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
	if a.ATime != nil {
		ts[0] = unix.NsecToTimespec(a.ATime.UnixNano())
	}
	if a.MTime != nil {
		ts[1] = unix.NsecToTimespec(a.MTime.UnixNano())
	}
	return ts
}

// idOr returns *id, or -1 (leave alone) when id is nil.
func idOr(id *int) int {
	if id == nil {
		return -1
	}
	return *id
}

// Symlink creates a link at p pointing to target, replacing what is there
// only if it matches pre.
func (f *FS) Symlink(ctx context.Context, p, target string, pre core.Precondition) (core.Entry, error) {
	f.forgetDirs() // a directory may move or go: created files look it up again
	defer f.forgetDirs()
	dfd, name, err := f.parent(p, false)
	if err != nil {
		return core.Entry{}, err
	}
	defer unix.Close(dfd)
	tmp := f.tempName("") // renamed at once: no leftover to own
	if err := unix.Symlinkat(target, dfd, tmp); err != nil {
		return core.Entry{}, pathErr("symlink", p, err)
	}
	if err := f.commitAt(dfd, tmp, dfd, name, p, pre); err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return core.Entry{}, err
	}
	return f.statAt(dfd, name, p)
}

// Link makes p a hard link to the regular file at existing, replacing what
// is at p only if it matches pre.
func (f *FS) Link(ctx context.Context, existing, p string, pre core.Precondition) (core.Entry, error) {
	f.forgetDirs() // a directory may move or go: created files look it up again
	defer f.forgetDirs()
	sfd, sname, err := f.parent(existing, false)
	if err != nil {
		return core.Entry{}, err
	}
	defer unix.Close(sfd)
	if e, err := f.statAt(sfd, sname, existing); err != nil {
		return core.Entry{}, err
	} else if e.Type != core.TypeFile {
		return core.Entry{}, fmt.Errorf("link to %s: not a regular file", core.DisplayPath(existing))
	}
	dfd, name, err := f.parent(p, false)
	if err != nil {
		return core.Entry{}, err
	}
	defer unix.Close(dfd)
	tmp := f.tempName("") // renamed at once: no leftover to own
	if err := unix.Linkat(sfd, sname, dfd, tmp, 0); err != nil {
		return core.Entry{}, pathErr("link", p, err)
	}
	if err := f.commitAt(dfd, tmp, dfd, name, p, pre); err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return core.Entry{}, err
	}
	return f.statAt(dfd, name, p)
}

// commitAt renames tmp (in the directory tdfd) to name in dfd if what is
// at name matches pre: without replacing anything when pre expects
// nothing there.
func (f *FS) commitAt(tdfd int, tmp string, dfd int, name, p string, pre core.Precondition) error {
	var err error
	switch {
	case pre.Any:
		err = unix.Renameat(tdfd, tmp, dfd, name)
	case pre.Expect == nil:
		err = renameNoReplace(tdfd, tmp, dfd, name, false)
		if err == unix.EEXIST {
			return fmt.Errorf("write %s: %w: something is there", core.DisplayPath(p), core.ErrPrecondition)
		}
	default:
		cur, ferr := f.found(dfd, name, p)
		if ferr != nil {
			return ferr
		}
		if err := pre.Check(cur); err != nil {
			return fmt.Errorf("write %s: %w", core.DisplayPath(p), err)
		}
		if cur.Type == core.TypeDir {
			return fmt.Errorf("write %s: a directory is in the way: %w", core.DisplayPath(p), fs.ErrExist)
		}
		err = unix.Renameat(tdfd, tmp, dfd, name)
	}
	if err != nil {
		return pathErr("write", p, err)
	}
	return nil
}

// tempName returns a fresh reserved name, tagged with the session's
// token (when there is one) and our pid, so that a later run of the
// session can tell its own leftover from a file still being written, and
// from a user's file that merely looks like one.
func (f *FS) tempName(token string) string {
	var b [8]byte
	if _, err := unix.Getrandom(b[:], 0); err != nil {
		t := time.Now().UnixNano()
		for i := range b {
			b[i] = byte(t >> (8 * i))
		}
	}
	// Built by hand: this runs once per file written.
	var buf [128]byte
	n := append(buf[:0], core.ReservedPrefix...)
	if token != "" {
		n = append(append(n, token...), '-')
	}
	n = strconv.AppendInt(n, int64(f.pid), 10)
	n = hex.AppendEncode(append(n, '-'), b[:])
	return string(n)
}

// ownLeftover reports whether name is a temporary file of the session
// whose token is given, left by a process that is gone.
func ownLeftover(name, token string) bool {
	if token == "" {
		return false
	}
	rest, ok := strings.CutPrefix(name, core.ReservedPrefix+token+"-")
	if !ok {
		return false
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 || i >= len(rest) || rest[i] != '-' {
		return false
	}
	pid, err := strconv.Atoi(rest[:i])
	if err != nil || pid <= 0 {
		return false
	}
	return errors.Is(unix.Kill(pid, 0), unix.ESRCH)
}
