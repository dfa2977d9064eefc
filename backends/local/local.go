// Package local is async's backend for a directory on a local filesystem.
//
// Every operation resolves its path from a descriptor of the root with
// openat2(RESOLVE_BENEATH), refusing symbolic links on the way (unless
// links are followed), so nothing outside the root is ever touched, even
// when the tree changes under a running sync. Files are written under a
// reserved temporary name in their destination directory and renamed into
// place on commit.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"time"

	"github.com/async-sync/async/core"
	"golang.org/x/sys/unix"
)

// Options configure a local backend.
type Options struct {
	// FollowLinks reports and reads what symbolic links point to (-n follow).
	FollowLinks bool
	// Confined keeps followed links inside the root (the server side);
	// otherwise followed links may lead anywhere.
	Confined bool
	// Fsync makes each committed file and its directory durable before the
	// commit returns.
	Fsync bool
}

// FS is a local directory tree. It is safe for concurrent use.
type FS struct {
	root   string
	rootFD int // O_PATH descriptor of the root
	opts   Options
}

var (
	_ core.Backend = (*FS)(nil)
	_ core.Linker  = (*FS)(nil)
	_ core.Hasher  = (*FS)(nil)
)

// Open opens the directory root as a backend.
func Open(root string, opts Options) (*FS, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			return nil, fmt.Errorf("%s is not a directory", root)
		}
		return nil, fmt.Errorf("open %s: %w", root, err)
	}
	return &FS{root: root, rootFD: fd, opts: opts}, nil
}

// Caps reports what a local directory can do: everything.
func (f *FS) Caps() core.Caps {
	return core.Caps{Dirs: true, Rename: true, SetMTime: true, SetMode: true, Owners: true,
		Symlinks: true, FileIDs: true, Filesystem: true, MTimeFromFS: true}
}

// Close releases the root descriptor.
func (f *FS) Close() error { return unix.Close(f.rootFD) }

// resolve flags for paths below the root.
func (f *FS) resolveFlags() uint64 {
	switch {
	case !f.opts.FollowLinks:
		return unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS
	case f.opts.Confined:
		return unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS
	}
	return unix.RESOLVE_NO_MAGICLINKS
}

// openDir opens the directory at p ("" is the root) with flags
// (O_PATH or O_RDONLY); the caller closes the descriptor.
func (f *FS) openDir(p string, flags int) (int, error) {
	if p == "" {
		p = "."
	}
	for {
		fd, err := unix.Openat2(f.rootFD, p, &unix.OpenHow{
			Flags:   uint64(flags | unix.O_DIRECTORY | unix.O_CLOEXEC),
			Resolve: f.resolveFlags(),
		})
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return -1, pathErr("open", p, err)
		}
		return fd, nil
	}
}

// parent opens the parent directory of p and returns it with p's name.
func (f *FS) parent(p string) (int, string, error) {
	if p == "" {
		return -1, "", fmt.Errorf("the root has no parent: %w", fs.ErrInvalid)
	}
	fd, err := f.openDir(core.Parent(p), unix.O_PATH)
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
	return fmt.Errorf("%s %s: %w", op, core.DisplayPath(p), err)
}

// entryFrom builds the entry of path p from its stat; ok is false for
// types async does not synchronize (devices, sockets, fifos).
func entryFrom(p string, st *unix.Stat_t) (core.Entry, bool) {
	e := core.Entry{
		Path:   p,
		Size:   st.Size,
		MTime:  time.Unix(st.Mtim.Sec, st.Mtim.Nsec),
		Mode:   fs.FileMode(st.Mode & 0o777),
		UID:    int(st.Uid),
		GID:    int(st.Gid),
		Token:  strconv.FormatInt(st.Ctim.Sec*1e9+st.Ctim.Nsec, 10),
		FileID: strconv.FormatUint(st.Dev, 10) + ":" + strconv.FormatUint(st.Ino, 10),
	}
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

// statAt describes name in directory dirfd (nofollow unless follow).
func (f *FS) statAt(dirfd int, name, p string, follow bool) (core.Entry, error) {
	var st unix.Stat_t
	flags := unix.AT_SYMLINK_NOFOLLOW
	if follow {
		flags = 0
	}
	if err := unix.Fstatat(dirfd, name, &st, flags); err != nil {
		return core.Entry{}, pathErr("stat", p, err)
	}
	e, ok := entryFrom(p, &st)
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

// Stat describes the entry at p; Stat("") describes the root.
func (f *FS) Stat(ctx context.Context, p string) (core.Entry, error) {
	if p == "" {
		var st unix.Stat_t
		if err := unix.Fstat(f.rootFD, &st); err != nil {
			return core.Entry{}, pathErr("stat", p, err)
		}
		e, _ := entryFrom("", &st)
		return e, nil
	}
	dfd, name, err := f.parent(p)
	if err != nil {
		return core.Entry{}, err
	}
	defer unix.Close(dfd)
	return f.statAt(dfd, name, p, f.opts.FollowLinks)
}

// Open opens the file at p for reading from offset.
func (f *FS) Open(ctx context.Context, p string, offset int64) (io.ReadCloser, core.Entry, error) {
	if p == "" {
		return nil, core.Entry{}, fmt.Errorf("open /: a directory: %w", fs.ErrInvalid)
	}
	// O_NONBLOCK: a fifo put in the file's place must not hang the run;
	// it changes nothing for regular files.
	flags := unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY
	if !f.opts.FollowLinks {
		flags |= unix.O_NOFOLLOW
	}
	var fd int
	var err error
	for {
		fd, err = unix.Openat2(f.rootFD, p, &unix.OpenHow{Flags: uint64(flags), Resolve: f.resolveFlags()})
		if err != unix.EINTR && err != unix.EAGAIN {
			break
		}
	}
	if err != nil {
		return nil, core.Entry{}, pathErr("open", p, err)
	}
	file := &fdFile{fd: fd}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		file.Close()
		return nil, core.Entry{}, pathErr("stat", p, err)
	}
	e, _ := entryFrom(p, &st)
	if e.Type != core.TypeFile {
		file.Close()
		return nil, core.Entry{}, fmt.Errorf("open %s: not a regular file", core.DisplayPath(p))
	}
	file.off = offset
	return file, e, nil
}

// fdFile reads or writes a file through its descriptor with plain system
// calls: cheaper than *os.File, which registers every file with the
// runtime's poller.
type fdFile struct {
	fd  int
	off int64 // next read offset
}

func (f *fdFile) Read(p []byte) (int, error) {
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

// Hash fingerprints the file at p where it lives.
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
	dfd, name, err := f.parent(p)
	if err != nil {
		return core.Entry{}, err
	}
	defer unix.Close(dfd)
	err = unix.Mkdirat(dfd, name, uint32(mode.Perm()))
	if errors.Is(err, unix.EEXIST) {
		e, serr := f.statAt(dfd, name, p, false)
		if serr == nil && e.Type != core.TypeDir {
			return core.Entry{}, fmt.Errorf("mkdir %s: a %s is in the way: %w", core.DisplayPath(p), e.Type, fs.ErrExist)
		}
		return e, serr
	}
	if err != nil {
		return core.Entry{}, pathErr("mkdir", p, err)
	}
	if err := unix.Fchmodat(dfd, name, unixMode(mode), 0); err != nil {
		return core.Entry{}, pathErr("chmod", p, err)
	}
	return f.statAt(dfd, name, p, false)
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

// found returns the entry at name in dfd, or nil when there is none.
func (f *FS) found(dfd int, name, p string) (*core.Entry, error) {
	e, err := f.statAt(dfd, name, p, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// Remove removes the file, link or empty directory at p if it matches pre.
func (f *FS) Remove(ctx context.Context, p string, pre core.Precondition) error {
	dfd, name, err := f.parent(p)
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
		return pathErr("remove", p, err)
	}
	return nil
}

// Rename moves from to to, if from matches pre and nothing is at to.
func (f *FS) Rename(ctx context.Context, from, to string, pre core.Precondition) (core.Entry, error) {
	sfd, sname, err := f.parent(from)
	if err != nil {
		return core.Entry{}, err
	}
	defer unix.Close(sfd)
	dfd, dname, err := f.parent(to)
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
	if err := unix.Renameat2(sfd, sname, dfd, dname, unix.RENAME_NOREPLACE); err != nil {
		return core.Entry{}, pathErr("rename to "+core.DisplayPath(to)+":", from, err)
	}
	return f.statAt(dfd, dname, to, false)
}

// SetAttr changes the attributes a names; mode is left alone on links.
func (f *FS) SetAttr(ctx context.Context, p string, a core.Attrs) (core.Entry, error) {
	if p == "" {
		return core.Entry{}, fmt.Errorf("setattr /: the root's attributes are left alone: %w", fs.ErrInvalid)
	}
	dfd, name, err := f.parent(p)
	if err != nil {
		return core.Entry{}, err
	}
	defer unix.Close(dfd)
	if err := f.setAttrAt(dfd, name, p, a); err != nil {
		return core.Entry{}, err
	}
	return f.statAt(dfd, name, p, false)
}

func (f *FS) setAttrAt(dfd int, name, p string, a core.Attrs) error {
	if a.UID != nil || a.GID != nil {
		uid, gid := -1, -1
		if a.UID != nil {
			uid = *a.UID
		}
		if a.GID != nil {
			gid = *a.GID
		}
		if err := unix.Fchownat(dfd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return pathErr("chown", p, fmt.Errorf("%w: %w", core.ErrOwner, err))
		}
	}
	if a.Mode != nil {
		var st unix.Stat_t
		if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return pathErr("chmod", p, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			if err := unix.Fchmodat(dfd, name, unixMode(*a.Mode), 0); err != nil {
				return pathErr("chmod", p, err)
			}
		}
	}
	if a.MTime != nil {
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(a.MTime.UnixNano())}
		if err := unix.UtimesNanoAt(dfd, name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return pathErr("set time of", p, err)
		}
	}
	return nil
}

// Symlink creates a link at p pointing to target, replacing what is there
// only if it matches pre.
func (f *FS) Symlink(ctx context.Context, p, target string, pre core.Precondition) (core.Entry, error) {
	dfd, name, err := f.parent(p)
	if err != nil {
		return core.Entry{}, err
	}
	defer unix.Close(dfd)
	tmp := tempName()
	if err := unix.Symlinkat(target, dfd, tmp); err != nil {
		return core.Entry{}, pathErr("symlink", p, err)
	}
	if err := f.commitAt(dfd, tmp, name, p, pre); err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return core.Entry{}, err
	}
	return f.statAt(dfd, name, p, false)
}

// commitAt renames tmp to name in dfd if what is at name matches pre:
// without replacing anything when pre expects nothing there.
func (f *FS) commitAt(dfd int, tmp, name, p string, pre core.Precondition) error {
	var cur *core.Entry
	if pre.Any || pre.Expect != nil { // nothing expected: the no-replace rename checks
		var err error
		if cur, err = f.found(dfd, name, p); err != nil {
			return err
		}
		if err := pre.Check(cur); err != nil {
			return fmt.Errorf("write %s: %w", core.DisplayPath(p), err)
		}
		if cur != nil && cur.Type == core.TypeDir {
			return fmt.Errorf("write %s: a directory is in the way: %w", core.DisplayPath(p), fs.ErrExist)
		}
	}
	var err error
	if cur == nil {
		err = unix.Renameat2(dfd, tmp, dfd, name, unix.RENAME_NOREPLACE)
	} else {
		err = unix.Renameat(dfd, tmp, dfd, name)
	}
	if errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("write %s: %w: created meanwhile", core.DisplayPath(p), core.ErrPrecondition)
	}
	if err != nil {
		return pathErr("write", p, err)
	}
	return nil
}

// tempName returns a fresh reserved name, tagged with our pid so that a
// later run can tell a leftover from a file still being written.
func tempName() string {
	var b [6]byte
	if _, err := unix.Getrandom(b[:], 0); err != nil {
		t := time.Now().UnixNano()
		for i := range b {
			b[i] = byte(t >> (8 * i))
		}
	}
	return fmt.Sprintf("%s%d-%x", core.ReservedPrefix, os.Getpid(), b)
}

// stale reports whether a reserved temporary name was left by a process
// that is gone.
func stale(name string) bool {
	rest := name[len(core.ReservedPrefix):]
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	pid, err := strconv.Atoi(rest[:i])
	if err != nil || pid <= 0 {
		return false
	}
	return errors.Is(unix.Kill(pid, 0), unix.ESRCH)
}
