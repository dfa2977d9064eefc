package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"strconv"
	"strings"

	"github.com/async-sync/async/core"
	"golang.org/x/sys/unix"
)

// Create starts writing the file p under a temporary name in its
// directory; Commit renames it into place.
func (f *FS) Create(ctx context.Context, p string, opts core.CreateOptions) (core.Writer, error) {
	if opts.Partial != "" && !core.ValidPartial(opts.Partial) {
		return nil, fmt.Errorf("create %s: invalid partial-file key %q: %w", core.DisplayPath(p), opts.Partial, fs.ErrInvalid)
	}
	if !core.ValidTempToken(opts.TempToken) {
		return nil, fmt.Errorf("create %s: invalid temporary-file token %q: %w", core.DisplayPath(p), opts.TempToken, fs.ErrInvalid)
	}
	dir, name, err := f.parentForCreate(p)
	if err != nil {
		return nil, err
	}
	dfd := dir.fd
	tmp, flags := f.tempName(opts.TempToken), unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW
	perm, modeSet := uint32(0o600), false
	if opts.Partial != "" {
		// Read too: what it holds is checked before it is continued.
		tmp, flags = core.PartialPrefix+opts.Partial, flags&^(unix.O_EXCL|unix.O_WRONLY)|unix.O_RDWR
	} else if m, ok := f.createMode(opts.Attrs); ok {
		perm, modeSet = m, true // no chmod needed at commit
	}
	fd, err := unix.Openat(dfd, tmp, flags, perm)
	if err == unix.ENOENT {
		// A cached directory someone else removed or replaced since:
		// look it up again, once.
		f.release(dir)
		f.forgetDir(dir.path)
		if dir, name, err = f.parentForCreate(p); err != nil {
			return nil, err
		}
		dfd = dir.fd
		fd, err = unix.Openat(dfd, tmp, flags, perm)
	}
	if err != nil {
		f.release(dir)
		return nil, pathErr("create", p, err)
	}
	w := &writer{fs: f, dir: dir, dfd: dfd, name: name, tmp: tmp, path: p, file: &fdFile{fd: fd, end: -1}, opts: opts, modeSet: modeSet}
	if opts.Partial != "" {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			w.finish()
			return nil, pathErr("resume", p, fmt.Errorf("partial file is not a regular file: %w", err))
		}
		off, sum := verifiedPrefix(w.file, st.Size)
		if off < st.Size {
			if err := unix.Ftruncate(fd, off); err != nil {
				w.finish()
				return nil, pathErr("resume", p, err)
			}
		}
		if _, err := unix.Seek(fd, off, 0); err != nil {
			w.finish()
			return nil, pathErr("resume", p, err)
		}
		w.offset, w.sum, w.marked = off, sum, off
	}
	return w, nil
}

// prefixAttr is the extended attribute of a partial file that records how
// many of its bytes were written and their SHA-256: "LENGTH HEX".
const prefixAttr = "user.async.prefix"

// markEvery is how often, in bytes written, a partial file's record is
// brought up to date (so that a run killed outright resumes too).
const markEvery = 64 << 20

// verifiedPrefix returns how many bytes at the start of the partial file
// f (size bytes long) are what its record says, and the hash of them
// ready to go on: 0 and a fresh hash when there is no record or the file
// does not match it (it was damaged; it is started over).
func verifiedPrefix(f *fdFile, size int64) (int64, hash.Hash) {
	h := sha256.New()
	v, err := fgetxattr(f.fd, prefixAttr)
	if err != nil {
		return 0, h
	}
	n, sum, ok := strings.Cut(string(v), " ")
	length, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil || length < 0 || length > size {
		return 0, h
	}
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, length)); err != nil || hex.EncodeToString(h.Sum(nil)) != sum {
		unix.Fremovexattr(f.fd, prefixAttr)
		return 0, sha256.New()
	}
	return length, h
}

// mark records how many bytes the partial file holds and their hash.
func (w *writer) mark() error {
	n := w.offset + w.written
	v := strconv.FormatInt(n, 10) + " " + hex.EncodeToString(w.sum.Sum(nil))
	if err := unix.Fsetxattr(w.file.fd, prefixAttr, []byte(v), 0); err != nil {
		return pathErr("record the partial file of", w.path, err)
	}
	w.marked = n
	return nil
}

var _ core.Resumer = (*writer)(nil)

// Offset is how many bytes a resumed partial file already holds.
func (w *writer) Offset() int64 { return w.offset }

// Keep closes the writer and leaves its partial file for a later run.
func (w *writer) Keep() error {
	if w.done {
		return nil
	}
	if w.sum != nil && w.mark() == nil {
		w.tmp = "" // not removed: it can be checked next run
	}
	w.finish()
	return nil
}

// writer is a file being written under a temporary name.
type writer struct {
	fs     *FS
	dir    *openDir // the parent directory, shared (dfd is its descriptor)
	dfd    int
	name   string
	tmp    string
	path   string
	file   *fdFile
	opts   core.CreateOptions
	done   bool
	offset int64 // bytes a resumed partial file held
	// A partial file (CreateOptions.Partial): the hash of all it holds,
	// the bytes written since it was opened, and how many its record
	// covers.
	sum     hash.Hash
	written int64
	marked  int64
	// modeSet: the file was created with its final mode.
	modeSet bool
}

// createMode returns the mode to create a file with so that it needs no
// chmod: when no owner is to be set (a chown clears setuid/setgid) and the
// umask leaves every bit of the final mode alone.
func (f *FS) createMode(a core.Attrs) (uint32, bool) {
	mode := fs.FileMode(0o644)
	if a.Mode != nil {
		mode = *a.Mode
	}
	m := unixMode(mode)
	if a.UID != nil || a.GID != nil || m&^0o777 != 0 {
		return 0, false
	}
	if u := f.umask(); u < 0 || m&uint32(u) != 0 {
		return 0, false
	}
	return m, true
}

func (w *writer) Write(p []byte) (int, error) {
	n, err := w.file.Write(p)
	if w.sum != nil {
		w.sum.Write(p[:n])
		w.written += int64(n)
		if w.offset+w.written-w.marked >= markEvery {
			w.mark() // a failure only costs the resume
		}
	}
	return n, err
}

// WriteAt writes all of p at an offset (pwrite), for content that arrives
// out of order (the SSH agent's data path). It does not move the offset
// Write continues from. A resumable (partial) file is written in order
// only: its record of what it holds would not cover a hole.
func (w *writer) WriteAt(p []byte, off int64) (int, error) {
	if w.sum != nil {
		return 0, fmt.Errorf("write %s: a resumable file is written in order: %w", core.DisplayPath(w.path), core.ErrUnsupported)
	}
	done := 0
	for done < len(p) {
		n, err := unix.Pwrite(w.file.fd, p[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, pathErr("write", w.path, err)
		}
		done += n
	}
	return done, nil
}

// Commit applies the attributes and renames the file into place if the
// destination still matches the precondition.
func (w *writer) Commit(ctx context.Context) (core.Entry, error) {
	if w.done {
		return core.Entry{}, fmt.Errorf("commit %s: already finished", core.DisplayPath(w.path))
	}
	defer w.finish()
	if err := ctx.Err(); err != nil {
		return core.Entry{}, err
	}
	if w.sum != nil {
		unix.Fremovexattr(w.file.fd, prefixAttr) // async's own, not the file's
	}
	if err := w.setAttrs(); err != nil {
		return core.Entry{}, err
	}
	if w.fs.opts.Fsync {
		if err := unix.Fsync(w.file.fd); err != nil {
			return core.Entry{}, pathErr("sync", w.path, err)
		}
	}
	dfd := w.dfd
	if !w.fs.inPlace(w.dir) {
		// Someone else moved or replaced the directory since the file was
		// created in it: the file goes to its path as it is now, or
		// nowhere, never where the directory went.
		w.fs.forgetDir(w.dir.path)
		fd, _, err := w.fs.parent(w.path, false)
		if err != nil {
			return core.Entry{}, pathErr("write", w.path, err)
		}
		defer unix.Close(fd)
		dfd = fd
	}
	if err := w.fs.commitAt(w.dfd, w.tmp, dfd, w.name, w.path, w.opts.Replace); err != nil {
		return core.Entry{}, err
	}
	w.tmp = "" // nothing left to clean up
	if w.fs.opts.Fsync {
		if err := syncDir(dfd); err != nil {
			return core.Entry{}, pathErr("sync the directory of", w.path, err)
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(w.file.fd, &st); err != nil {
		return core.Entry{}, pathErr("stat", w.path, err)
	}
	e, _ := entryFrom(w.path, &st)
	return e, nil
}

// setAttrs applies the attributes through the open descriptor.
func (w *writer) setAttrs() error {
	a := w.opts.Attrs
	if a.UID != nil || a.GID != nil { // first: a chown clears setuid and setgid
		if err := unix.Fchown(w.file.fd, idOr(a.UID), idOr(a.GID)); err != nil {
			return pathErr("chown", w.path, fmt.Errorf("%w: %w", core.ErrOwner, err))
		}
	}
	if !w.modeSet {
		mode := fs.FileMode(0o644)
		if a.Mode != nil {
			mode = *a.Mode
		}
		if err := unix.Fchmod(w.file.fd, unixMode(mode)); err != nil {
			return pathErr("chmod", w.path, err)
		}
	}
	if a.MTime != nil || a.ATime != nil {
		ts := timespecs(a)
		if err := unix.UtimesNanoAt(w.file.fd, "", ts[:], unix.AT_EMPTY_PATH); err != nil {
			return pathErr("set time of", w.path, err)
		}
	}
	return nil
}

// Abort drops the temporary file. It is harmless after Commit.
func (w *writer) Abort() error {
	if w.done {
		return nil
	}
	w.finish()
	return nil
}

func (w *writer) finish() {
	w.done = true
	w.file.Close()
	if w.tmp != "" {
		unix.Unlinkat(w.dfd, w.tmp, 0)
	}
	w.fs.release(w.dir)
}

// syncDir makes the directory dfd (an O_PATH descriptor, which fsync
// refuses) durable.
func syncDir(dfd int) error {
	fd, err := openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fsync(fd)
}
