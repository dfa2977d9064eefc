// Package logfile writes async's log files: DIR/NAME, rotated to NAME.1,
// NAME.2, ... when it would grow past a size, keeping a fixed number of old
// files. A *File is an io.Writer for slog handlers.
package logfile

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultMB is the size limit ParseDir gives a directory without ":MB".
const DefaultMB = 10

// ParseDir parses a log directory option "DIR[:MB]": the directory, and
// the size in MiB (a positive whole number, DefaultMB when absent) past
// which its log files rotate. A leading "~/" (or a lone "~") is expanded to
// the home directory.
func ParseDir(s string) (dir string, maxMB int, err error) {
	dir, maxMB, err = SplitDir(s)
	if err != nil {
		return "", 0, err
	}
	if dir == "~" || strings.HasPrefix(dir, "~/") {
		home, herr := os.UserHomeDir()
		if herr != nil {
			return "", 0, fmt.Errorf("log directory %q: %w", s, herr)
		}
		dir = filepath.Join(home, dir[1:])
	}
	return dir, maxMB, nil
}

// SplitDir is ParseDir without expanding "~" (for a directory on another
// machine).
func SplitDir(s string) (dir string, maxMB int, err error) {
	dir, maxMB = s, DefaultMB
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		n, perr := strconv.Atoi(s[i+1:])
		if perr != nil || n <= 0 || n > math.MaxInt64>>20 {
			return "", 0, fmt.Errorf("invalid log directory %q (want DIR[:MB], MB a positive whole number)", s)
		}
		dir, maxMB = s[:i], n
	}
	if dir == "" {
		return "", 0, fmt.Errorf("invalid log directory %q (want DIR[:MB], DIR not empty)", s)
	}
	return dir, maxMB, nil
}

// File is a log file that rotates itself. It is safe for concurrent use.
// Lines are buffered and written at most flushDelay after they were
// logged (at once when the buffer fills), so that a busy run does not pay
// a system call per line.
type File struct {
	mu       sync.Mutex
	root     *os.Root // the directory: every file is opened through it
	ownRoot  bool     // Close closes root
	name     string
	path     string // for messages
	maxBytes int64
	keep     int
	f        *os.File // nil after Close, or when reopening failed
	size     int64    // bytes in f and buf
	buf      []byte   // written to f within flushDelay
	timer    *time.Timer
	closed   bool
}

// flushDelay bounds how long a logged line waits in memory.
const flushDelay = 200 * time.Millisecond

// bufSize is the buffered amount that is written at once.
const bufSize = 64 << 10

// Open opens dir/name for appending, creating dir (mode 0700) and the file
// (mode 0600) as needed. Before a write would take the file past maxBytes,
// it is renamed NAME.1 (NAME.1 to NAME.2, and so on), keeping keep old
// files, and a new one is started. maxBytes of 0 or less never rotates.
// The files are opened through dir's os.Root (see OpenRoot).
func Open(dir, name string, maxBytes int64, keep int) (*File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("log directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("log directory: %w", err)
	}
	l, err := OpenRoot(root, name, maxBytes, keep)
	if err != nil {
		root.Close()
		return nil, err
	}
	l.ownRoot = true
	return l, nil
}

// OpenRoot is Open in a directory already open as root, which must stay
// open while the file is in use. name must be a single file name. Every
// file (the log and its old copies) is opened, renamed and removed
// through root, so nothing outside the directory is ever touched, and a
// symbolic link in the log's place is refused: the log may be in a tree
// that others write to (an agent's -R inside its docroot).
func OpenRoot(root *os.Root, name string, maxBytes int64, keep int) (*File, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return nil, fmt.Errorf("log file name %q: not a single file name", name)
	}
	l := &File{root: root, name: name, path: filepath.Join(root.Name(), name), maxBytes: maxBytes, keep: max(keep, 0)}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

// open opens the log for appending and learns its size. l.mu must be held
// (or l not yet shared).
func (l *File) open() error {
	if fi, err := l.root.Lstat(l.name); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("log file %s: not a regular file (a link or a special file is refused)", l.path)
	}
	f, err := l.root.OpenFile(l.name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("log file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("log file %s: not a regular file", l.path)
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// Write appends p, first rotating when p would take the file past its
// size. One Write is never split across files: a p larger than the limit
// gets a file of its own. When rotating fails, p is still appended to the
// current file, and the rotation error returned with n == len(p); the next
// Write tries again.
func (l *File) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, fmt.Errorf("log file %s: %w", l.path, os.ErrClosed)
	}
	if l.f == nil { // a previous reopen failed
		if err := l.open(); err != nil {
			return 0, err
		}
	}
	var rotErr error
	if l.maxBytes > 0 && l.size > 0 && l.size+int64(len(p)) > l.maxBytes {
		if err := l.flushLocked(); err != nil {
			return 0, err
		}
		rotErr = l.rotate()
		if l.f == nil {
			return 0, rotErr
		}
	}
	l.buf = append(l.buf, p...)
	l.size += int64(len(p))
	if len(l.buf) >= bufSize {
		if err := l.flushLocked(); err != nil {
			return len(p), err
		}
	} else if l.timer == nil {
		l.timer = time.AfterFunc(flushDelay, func() { l.Flush() })
	}
	return len(p), rotErr
}

// Flush writes what is buffered.
func (l *File) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flushLocked()
}

func (l *File) flushLocked() error {
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	if len(l.buf) == 0 || l.f == nil {
		return nil
	}
	_, err := l.f.Write(l.buf)
	l.buf = l.buf[:0]
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	return nil
}

// rotate shifts NAME.i to NAME.i+1, dropping the oldest, moves NAME to
// NAME.1 and starts a new NAME. If moving NAME fails, NAME is reopened as
// it is. l.f is nil afterwards only when no file could be opened.
func (l *File) rotate() error {
	var errs []error
	if err := l.f.Close(); err != nil {
		errs = append(errs, err)
	}
	l.f = nil
	if l.keep == 0 {
		if err := l.root.Remove(l.name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	} else {
		if err := l.root.Remove(l.backup(l.keep)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		for i := l.keep - 1; i >= 1; i-- {
			if err := l.root.Rename(l.backup(i), l.backup(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		if err := l.root.Rename(l.name, l.backup(1)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := l.open(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("rotate log %s: %w", l.path, err)
	}
	return nil
}

// backup returns the name of the i-th old file, NAME.i.
func (l *File) backup(i int) string {
	return l.name + "." + strconv.Itoa(i)
}

// Reopen closes and reopens the file by name, for when something else has
// moved it away (logrotate, then SIGHUP): writes go to a new NAME.
func (l *File) Reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("reopen log file %s: %w", l.path, os.ErrClosed)
	}
	var closeErr error
	if l.f != nil {
		closeErr = errors.Join(l.flushLocked(), l.f.Close()) // buffered lines belong to the old file
		l.f = nil
	}
	if err := l.open(); err != nil {
		return err
	}
	if closeErr != nil {
		return fmt.Errorf("reopen log file %s: %w", l.path, closeErr)
	}
	return nil
}

// Close closes the file; later writes fail with os.ErrClosed. Closing
// twice is harmless.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ownRoot && !l.closed {
		defer l.root.Close()
	}
	l.closed = true
	if l.f == nil {
		return nil
	}
	ferr := l.flushLocked()
	err := errors.Join(ferr, l.f.Close())
	l.f = nil
	if err != nil {
		return fmt.Errorf("close log file %s: %w", l.path, err)
	}
	return nil
}
