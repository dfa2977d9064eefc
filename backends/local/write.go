package local

import (
	"context"
	"fmt"
	"os"

	"github.com/async-sync/async/core"
	"golang.org/x/sys/unix"
)

// Create starts writing the file p under a temporary name in its
// directory; Commit renames it into place.
func (f *FS) Create(ctx context.Context, p string, opts core.CreateOptions) (core.Writer, error) {
	dfd, name, err := f.parent(p)
	if err != nil {
		return nil, err
	}
	tmp := tempName()
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		unix.Close(dfd)
		return nil, pathErr("create", p, err)
	}
	return &writer{fs: f, dfd: dfd, name: name, tmp: tmp, path: p, file: os.NewFile(uintptr(fd), tmp), opts: opts}, nil
}

// writer is a file being written under a temporary name.
type writer struct {
	fs   *FS
	dfd  int
	name string
	tmp  string
	path string
	file *os.File
	opts core.CreateOptions
	done bool
}

func (w *writer) Write(p []byte) (int, error) { return w.file.Write(p) }

// Commit applies the attributes and renames the file into place if the
// destination still matches the precondition.
func (w *writer) Commit(ctx context.Context) (core.Entry, error) {
	if w.done {
		return core.Entry{}, fmt.Errorf("commit %s: already finished", core.DisplayPath(w.path))
	}
	defer w.finish()
	a := w.opts.Attrs
	if a.Mode == nil {
		m := os.FileMode(0o644)
		a.Mode = &m
	}
	if err := w.fs.setAttrAt(w.dfd, w.tmp, w.path, a); err != nil {
		return core.Entry{}, err
	}
	if w.fs.opts.Fsync {
		if err := w.file.Sync(); err != nil {
			return core.Entry{}, pathErr("sync", w.path, err)
		}
	}
	if err := w.fs.commitAt(w.dfd, w.tmp, w.name, w.path, w.opts.Replace); err != nil {
		return core.Entry{}, err
	}
	w.tmp = "" // nothing left to clean up
	if w.fs.opts.Fsync {
		unix.Fsync(w.dfd)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(w.file.Fd()), &st); err != nil {
		return core.Entry{}, pathErr("stat", w.path, err)
	}
	e, _ := entryFrom(w.path, &st)
	return e, nil
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
	unix.Close(w.dfd)
}
