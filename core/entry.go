// Package core holds what every part of async shares: the Entry a scan
// produces, the Backend contract every endpoint implements, and the pipeline
// that turns two scans and a snapshot into a plan and runs it
// (scan → diff → reconcile → plan → transfer).
//
// Paths inside core are slash-separated and relative to the sync root, with
// no leading slash: "" is the root itself, "docs/a.txt" a file below it.
// Output adds the leading slash ("/docs/a.txt").
package core

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"
)

// Type is the kind of an Entry.
type Type uint8

// The kinds of entries a backend can hold.
const (
	TypeNone    Type = iota // absent
	TypeFile                // regular file
	TypeDir                 // directory (or a prefix on an object store)
	TypeSymlink             // symbolic link
)

// String returns the name used in plans and logs.
func (t Type) String() string {
	switch t {
	case TypeFile:
		return "file"
	case TypeDir:
		return "dir"
	case TypeSymlink:
		return "symlink"
	}
	return "none"
}

// ParseType is the inverse of Type.String.
func ParseType(s string) (Type, error) {
	switch s {
	case "file":
		return TypeFile, nil
	case "dir":
		return TypeDir, nil
	case "symlink":
		return TypeSymlink, nil
	case "none", "":
		return TypeNone, nil
	}
	return TypeNone, fmt.Errorf("unknown entry type %q", s)
}

// NoID marks an unknown owner or group.
const NoID = -1

// Entry is one item of a tree as a backend sees it.
type Entry struct {
	// The fields are ordered so that Type packs with Mode: an Entry (and
	// a Record) is held per path and side, so each word counts.
	Path  string      // relative slash path, "" for the root
	Size  int64       // bytes; 0 for directories
	MTime time.Time   // modification time, as precise as the backend keeps it
	ATime time.Time   // access time, where the backend has one (not compared, not recorded)
	Mode  fs.FileMode // permission bits only (fs.ModePerm plus setuid/setgid/sticky)
	Type  Type        // file, dir or symlink
	UID   int         // owner, NoID when unknown
	GID   int         // group, NoID when unknown
	// Target is the text of a symbolic link.
	Target string
	// Hash is an optional content fingerprint "algo:hex" (see Checksum).
	Hash string
	// Token is the backend's change token (ctime on a filesystem, ETag on an
	// object store). A different token means the entry may have changed even
	// when size and mtime agree.
	Token string
	// FileID identifies the underlying object across renames (device+inode
	// on a filesystem); empty when the backend has no such notion.
	FileID string
}

// IsDir reports whether e is a directory.
func (e *Entry) IsDir() bool { return e != nil && e.Type == TypeDir }

// SameMeta reports whether a and b look unchanged relative to each other:
// same type, size, mtime, mode, link target and change token. It is the
// "no hashing needed" test of the diff stage. Owners count when owners is set.
func SameMeta(a, b *Entry, owners bool) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Type != b.Type || a.Mode != b.Mode || a.Target != b.Target || a.Token != b.Token {
		return false
	}
	if owners && (a.UID != b.UID || a.GID != b.GID) {
		return false
	}
	if a.Type == TypeDir {
		return true
	}
	return a.Size == b.Size && a.MTime.Equal(b.MTime)
}

// DisplayPath returns p as printed in output: with a leading slash, and
// quoted with Go escapes when it is not printable UTF-8, so that one entry is
// always one line.
func DisplayPath(p string) string {
	s := "/" + p
	if isPrintable(s) {
		return s
	}
	return quote(s)
}

// Join joins a directory path and a name in core's path convention.
func Join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// Parent returns the parent directory of p ("" for a top-level entry).
func Parent(p string) string {
	d := path.Dir(p)
	if d == "." || d == "/" {
		return ""
	}
	return d
}

// Base returns the last element of p.
func Base(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// Depth returns the number of elements in p (0 for the root).
func Depth(p string) int {
	if p == "" {
		return 0
	}
	return strings.Count(p, "/") + 1
}

// CleanPath validates a relative slash path as core uses it and returns it
// cleaned. It refuses absolute paths and anything that climbs with "..".
func CleanPath(p string) (string, error) {
	p = strings.TrimPrefix(p, "/")
	if p == "" || p == "." {
		return "", nil
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") || c != p {
		return "", fmt.Errorf("invalid path %q", p)
	}
	return c, nil
}
