// Package logfile writes async's log files: DIR/NAME, rotated to NAME.1,
// NAME.2, ... when it would grow past a size, keeping a fixed number of old
// files.
package logfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// ParseDir parses a log directory option "DIR[:MB]" (MB defaults to 10). A
// leading "~/" is expanded to the home directory.
func ParseDir(s string) (dir string, maxMB int, err error) {
	maxMB = 10
	dir = s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		n, perr := strconv.Atoi(s[i+1:])
		if perr != nil || n <= 0 {
			return "", 0, fmt.Errorf("invalid log size in %q (want DIR[:MB], MB a positive whole number)", s)
		}
		dir, maxMB = s[:i], n
	}
	if dir == "" {
		return "", 0, fmt.Errorf("invalid log directory %q (want DIR[:MB])", s)
	}
	if dir == "~" || strings.HasPrefix(dir, "~/") {
		home, herr := os.UserHomeDir()
		if herr != nil {
			return "", 0, fmt.Errorf("expand %s: %w", dir, herr)
		}
		dir = filepath.Join(home, dir[1:])
	}
	return dir, maxMB, nil
}

// File is a log file that rotates itself. It is safe for concurrent use.
type File struct {
	mu       sync.Mutex
	path     string
	maxBytes int64
	keep     int
	f        *os.File
	size     int64
}

// Open opens dir/name for appending (creating dir with mode 0700), to be
// rotated when a write would take it past maxBytes, keeping keep old files.
func Open(dir, name string, maxBytes int64, keep int) (*File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("log directory %s: %w", dir, err)
	}
	l := &File{path: filepath.Join(dir, name), maxBytes: maxBytes, keep: keep}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *File) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("log file: %w", err)
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// Write appends p, rotating first when p would not fit. One Write is never
// split across files.
func (l *File) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, os.ErrClosed
	}
	if l.maxBytes > 0 && l.size > 0 && l.size+int64(len(p)) > l.maxBytes {
		if err := l.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

// rotate shifts NAME.i to NAME.i+1 (dropping the oldest) and starts anew.
func (l *File) rotate() error {
	l.f.Close()
	l.f = nil
	os.Remove(fmt.Sprintf("%s.%d", l.path, l.keep))
	for i := l.keep - 1; i >= 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d", l.path, i), fmt.Sprintf("%s.%d", l.path, i+1))
	}
	if l.keep > 0 {
		if err := os.Rename(l.path, l.path+".1"); err != nil {
			return fmt.Errorf("rotate log: %w", err)
		}
	} else {
		os.Remove(l.path)
	}
	return l.open()
}

// Reopen closes and reopens the file, after an outside rotation (SIGHUP).
func (l *File) Reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
	}
	return l.open()
}

// Close closes the file.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
