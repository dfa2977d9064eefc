package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"
)

// Errors a backend returns, wrapped with context. Callers test them with
// errors.Is.
var (
	// ErrNotExist: the path does not exist. Backends wrap fs.ErrNotExist so
	// that both tests work.
	ErrNotExist = fs.ErrNotExist
	// ErrExist: the path exists where it must not.
	ErrExist = fs.ErrExist
	// ErrPrecondition: the entry at the path is not in the state the action
	// expected; nothing was changed.
	ErrPrecondition = errors.New("precondition failed")
	// ErrUnsupported: the backend cannot do this.
	ErrUnsupported = errors.ErrUnsupported
	// ErrNotEmpty: a directory to remove still holds entries.
	ErrNotEmpty = errors.New("directory not empty")
	// ErrOwner: the owner or group could not be set (no privilege).
	ErrOwner = errors.New("cannot set owner")
	// ErrNoSpace: the destination is full (no space left, or over quota).
	// Backends may also return the system's ENOSPC or EDQUOT.
	ErrNoSpace = errors.New("no space left")
	// ErrTransient: a failure that may go away if the call is made again
	// (a network timeout, a reset connection, a throttled or failing
	// server). Nothing is known to have changed.
	ErrTransient = errors.New("temporary failure")
)

// Caps describes what a backend can do. The pipeline adapts to it: a backend
// without real directories gets no mkdir of empty parents, one without
// settable mtimes gets none set, and so on.
type Caps struct {
	Dirs        bool // real directories (false: directories are prefixes)
	Rename      bool // cheap rename of files and directories
	SetMTime    bool // modification times can be set
	SetMode     bool // permission bits can be set (directories may report 0: not kept)
	Owners      bool // uid/gid can be read and set
	Symlinks    bool // symbolic links can be stored
	FileIDs     bool // Entry.FileID survives renames (rename detection)
	Filesystem  bool // a filesystem: sha1_sparse is the default checksum
	MTimeFromFS bool // mtimes are the backend's own (not metadata we set)
	// OrderedScan: Scan honours ScanOptions.Ordered, and its scan and
	// its side's store can stream at once (a connection they share
	// gives each stream a window of its own, so that one waiting for
	// its reader never holds up the other).
	OrderedScan bool
}

// ScanOptions controls Backend.Scan.
type ScanOptions struct {
	// Prune says what is left out. Backends ask its Funcs before anything
	// else is read about an entry when they can manage that; entries with
	// reserved names never reach them.
	Prune Prune
	// FollowLinks reports symbolic links as what they point to.
	FollowLinks bool
	// Threads is how many directories may be listed at once (0: backend default).
	Threads int
	// Ordered asks a backend whose Caps.OrderedScan is set to pass the
	// entries one at a time (never concurrently), in path order
	// (ComparePaths), holding only the directories in flight: the scan
	// then streams into the join.
	Ordered bool
	// PartialMaxAge: partial files of interrupted transfers older than
	// this are removed when found (0: never), if they carry TempToken.
	PartialMaxAge time.Duration
	// TempToken is the session's token (Meta.TempToken): leftover
	// temporary files whose names carry it (CreateOptions.TempToken) are
	// the session's own, and are removed when found (those of processes
	// still running aside). Other names that look temporary are the
	// user's: never removed. Empty: nothing is removed.
	TempToken string
	// Known are the side's entries as last recorded, by path, for
	// backends whose listing lacks some attributes (an object store's
	// metadata): an entry whose change token is the known one takes them
	// from it instead of asking the store for each. Nil: none known.
	Known map[string]Entry
	// KnownAt, when set, is asked instead of Known, by an ordered scan
	// (Ordered), with paths in increasing path order: it returns the
	// path's recorded entry, so that the records stream beside the scan
	// rather than being held whole.
	KnownAt func(path string) (Entry, bool)
	// Pause is how long each lister rests after every PauseEvery
	// directories, to spare a busy disk (--scan-intensity); 0: never.
	Pause      time.Duration
	PauseEvery int
	// Unreadable, when set, is told of an entry that cannot be read (a
	// directory that cannot be listed: its whole subtree; a symbolic link
	// loop under FollowLinks) and the scan goes on without it; an error it
	// returns stops the scan. Nil: such an entry fails the scan. The root
	// itself is never reported here: a root that cannot be listed fails
	// the scan.
	Unreadable func(path string, err error) error
}

// ErrChangedWhileReading is the reason a copy is dropped when its source
// was written to while it was being read (it could be torn).
var ErrChangedWhileReading = errors.New("changed while reading")

// ChangeChecker is implemented by the readers Backend.Open returns when
// they can tell whether the file they read changed since it was opened
// (an fstat of the open file: size, mtime, ctime).
type ChangeChecker interface {
	// Unchanged returns nil, or an error wrapping ErrChangedWhileReading.
	Unchanged() error
}

// ExpectOpener is a Backend that can open a file for reading knowing the
// entry it expects there (the scan's): it describes nothing when opening,
// and its reader's Unchanged (ChangeChecker), called once everything is
// read, compares one stat of the open file with that entry, so that a
// file changed since the scan and one changed while being read are both
// found by one system call (and reported as ErrChangedWhileReading).
type ExpectOpener interface {
	// OpenExpect opens the regular file at p for reading from offset; its
	// reader delivers at most want.Size bytes and is a ChangeChecker.
	OpenExpect(ctx context.Context, p string, offset int64, want *Entry) (io.ReadCloser, error)
}

// ErrSymlinkLoop is the reason a followed symbolic link is reported
// unreadable when it leads back to a directory above it (or to itself).
var ErrSymlinkLoop = errors.New("symlink loop")

// Precondition is what an action expects to find at a path before it
// changes it. Backends check it as close to the change as they can.
type Precondition struct {
	// Any skips the check.
	Any bool
	// Expect is the entry that must be there; nil means nothing may be there.
	Expect *Entry
}

// MustNotExist is the precondition of creating something new.
var MustNotExist = Precondition{}

// Expect returns the precondition that e is found unchanged.
func Expect(e *Entry) Precondition {
	if e == nil {
		return MustNotExist
	}
	c := *e
	return Precondition{Expect: &c}
}

// Check compares what a backend found (nil: nothing) with the expectation.
// It returns nil or an error wrapping ErrPrecondition.
func (p Precondition) Check(found *Entry) error {
	if p.Any {
		return nil
	}
	switch {
	case p.Expect == nil && found == nil:
		return nil
	case p.Expect == nil:
		return fmt.Errorf("%w: %s exists", ErrPrecondition, DisplayPath(found.Path))
	case found == nil:
		return fmt.Errorf("%w: %s is gone", ErrPrecondition, DisplayPath(p.Expect.Path))
	}
	e := p.Expect
	if found.Type != e.Type {
		return fmt.Errorf("%w: %s is now a %s", ErrPrecondition, DisplayPath(found.Path), found.Type)
	}
	if e.Type == TypeDir {
		return nil
	}
	if found.Size != e.Size || !found.MTime.Equal(e.MTime) || found.Target != e.Target ||
		(e.Token != "" && found.Token != "" && e.Token != found.Token) {
		return fmt.Errorf("%w: %s changed", ErrPrecondition, DisplayPath(found.Path))
	}
	return nil
}

// Attrs are the attributes SetAttr may change; nil fields are left alone.
type Attrs struct {
	MTime *time.Time
	ATime *time.Time // access time (--preserve-access-time)
	Mode  *fs.FileMode
	UID   *int
	GID   *int
}

// IsZero reports whether a changes nothing.
func (a Attrs) IsZero() bool {
	return a.MTime == nil && a.ATime == nil && a.Mode == nil && a.UID == nil && a.GID == nil
}

// CreateOptions are given to Backend.Create.
type CreateOptions struct {
	// Size is the final size when known (-1: unknown). Object stores use it
	// to choose a single PUT or a multipart upload.
	Size int64
	// Attrs are applied before the file becomes visible, where the backend
	// can (object stores store them as metadata).
	Attrs Attrs
	// Replace is checked against the destination at commit time.
	Replace Precondition
	// Partial, when set, names a partial file kept by an earlier,
	// interrupted transfer of the same source: the writer continues it
	// (see Resumer). Backends that cannot keep partial files ignore it.
	// It starts with TempToken and a dash when there is one.
	Partial string
	// TempToken is the session's token, put in the temporary file's name
	// (see ScanOptions.TempToken).
	TempToken string
}

// Resumer is implemented by Writers that can continue a partial file and
// keep one for a later run (--support-resume).
type Resumer interface {
	// Offset is how many bytes the partial file already holds; writing
	// continues there.
	Offset() int64
	// Keep closes the writer and leaves the partial file for a later run.
	Keep() error
}

// ResumeVerifier is a Resumer whose partial file cannot vouch for itself
// (an object store's uploaded parts: a part cut short by a crash may be
// listed whole). Until VerifyResume has run, Offset is 0. VerifyResume
// calls open, only when there is something to check, for the source read
// from its first byte, reads what it needs, closes it, and keeps the
// longest prefix of the partial file that matches the source; Offset then
// reports its length. It is called once, before any Write.
type ResumeVerifier interface {
	Resumer
	VerifyResume(ctx context.Context, open func() (io.ReadCloser, error)) error
}

// Writer receives the content of a new file. Nothing is visible at the
// destination path until Commit returns; Abort (or a failed Commit) leaves
// the destination as it was.
type Writer interface {
	io.Writer
	// Commit makes the content visible at the path, atomically, if the
	// precondition still holds, and returns the entry as now stored.
	Commit(ctx context.Context) (Entry, error)
	// Abort drops the content. It is safe to call after Commit.
	Abort() error
}

// Backend is one endpoint's tree. Every method takes paths in core's
// convention (relative, slash-separated, "" for the root). Implementations
// must be safe for concurrent use.
type Backend interface {
	// Caps reports what the backend can do.
	Caps() Caps
	// Scan calls fn for every entry below the root (not the root itself),
	// in no particular order, possibly from several goroutines at once
	// (fn must be safe for that). Entries whose names are reserved by async
	// (see IsReserved) are never reported.
	Scan(ctx context.Context, opts ScanOptions, fn func(Entry) error) error
	// Stat returns one entry; an error wrapping fs.ErrNotExist when absent.
	// Stat("") describes the root.
	Stat(ctx context.Context, path string) (Entry, error)
	// Open opens a file for reading from offset and returns the entry as it
	// was when opened.
	Open(ctx context.Context, path string, offset int64) (io.ReadCloser, Entry, error)
	// Create starts writing a file at path. The parent must exist (on
	// backends with directories).
	Create(ctx context.Context, path string, opts CreateOptions) (Writer, error)
	// Mkdir creates a directory; an existing directory is not an error.
	Mkdir(ctx context.Context, path string, mode fs.FileMode) (Entry, error)
	// Remove removes a file, a link or an empty directory if it matches pre.
	Remove(ctx context.Context, path string, pre Precondition) error
	// Rename moves from to to if from matches pre and nothing is at to.
	Rename(ctx context.Context, from, to string, pre Precondition) (Entry, error)
	// SetAttr changes attributes and returns the entry as now stored.
	SetAttr(ctx context.Context, path string, a Attrs) (Entry, error)
	// Close releases the backend's resources.
	Close() error
}

// Linker is implemented by backends that store symbolic links.
type Linker interface {
	// Symlink creates a link at path with the given target text, replacing
	// what is there only if it matches pre.
	Symlink(ctx context.Context, path, target string, pre Precondition) (Entry, error)
}

// Hasher is implemented by backends that can fingerprint content where it
// lives (a remote agent), saving the transfer of the data.
type Hasher interface {
	// Hash returns the fingerprint of the file at path as "algo:hex" and the
	// entry it fingerprinted.
	Hash(ctx context.Context, path string, algo Checksum) (string, Entry, error)
}

// HardLinker is implemented by backends that can give a file a second name
// (--dedup).
type HardLinker interface {
	// Link makes path a hard link to the file at existing, replacing what
	// is at path only if it matches pre.
	Link(ctx context.Context, existing, path string, pre Precondition) (Entry, error)
}

// Xattrer is implemented by backends that keep extended attributes
// (--preserve-xattrs native).
type Xattrer interface {
	// Xattrs returns the extended attributes of the entry at path.
	Xattrs(ctx context.Context, path string) (map[string][]byte, error)
	// SetXattrs sets extended attributes on the entry at path.
	SetXattrs(ctx context.Context, path string, attrs map[string][]byte) error
}

// Copier is implemented by backends that copy within themselves without
// moving data through async (server-side copy).
type Copier interface {
	Copy(ctx context.Context, from, to string, pre Precondition) (Entry, error)
}

// Watcher is implemented by backends that report changes as they happen
// (continuous mode); the others are rescanned on an interval.
type Watcher interface {
	// Watch calls fn with the paths that changed (created, written,
	// removed, renamed or with new attributes; a directory when something
	// appeared in it under a new name) until ctx ends, and returns the
	// error that stopped watching (ctx.Err() on a normal end). fn is
	// called from one goroutine at a time.
	Watch(ctx context.Context, fn func(paths []string)) error
}

// Networked is implemented by backends reached over a network. Each of their
// operations waits on a round trip, so the pipeline keeps more of them in
// flight than it runs workers for a local disk (unless --transfer-threads
// says otherwise).
type Networked interface {
	// InFlight is how many operations the backend wants in flight.
	InFlight() int
}

// SmallFiles is implemented by networked backends that bound small files
// in flight by bytes (bandwidth × delay) rather than by a count of
// requests: unless --transfer-threads says otherwise, the pipeline runs
// the class they return (N workers for files up to MaxSize) beside the
// InFlight workers that take the larger files, and the backend holds
// each small file back until its bytes fit its window.
type SmallFiles interface {
	SmallFiles() ThreadClass
}

// BatchStater is a Backend that stats many paths for less than a Stat of
// each: a local filesystem looks up each parent directory once for all
// the paths in it. StatBatch returns what Stat would for each of paths, in
// their order; paths of the same directory should be next to each other.
type BatchStater interface {
	StatBatch(ctx context.Context, paths []string) ([]Entry, []error)
}

// ReservedPrefix starts the names async keeps for itself inside a tree:
// temporary files being written.
const ReservedPrefix = ".async-tmp-"

// PartialPrefix starts the names of partial files kept for resuming.
const PartialPrefix = ReservedPrefix + "partial-"

// MaxPartialKey bounds CreateOptions.Partial.
const MaxPartialKey = 64

// ValidPartial reports whether key may name a partial file: it becomes
// part of one file name (PartialPrefix+key) beside the destination, so it
// is a short run of letters, digits, '-' and '_', never a path. Backends
// refuse any other key: it arrives from another process (the agent's
// client, a plan file).
func ValidPartial(key string) bool {
	if key == "" || len(key) > MaxPartialKey {
		return false
	}
	for _, c := range []byte(key) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ValidTempToken reports whether token may go into temporary names
// (ScanOptions.TempToken, CreateOptions.TempToken): empty, or up to 32
// letters and digits. Backends refuse any other: it arrives from another
// process (the agent's client).
func ValidTempToken(token string) bool {
	if len(token) > 32 {
		return false
	}
	for _, c := range []byte(token) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// PrivateDir is the private area at a sync root: never synchronized,
// scanned or deleted.
const PrivateDir = ".private-asp"

// IsReserved reports whether the entry at path p belongs to async itself and
// must be invisible to scans: the private area at the root, and temporary
// files anywhere.
func IsReserved(p string) bool {
	return p == PrivateDir || hasReservedName(Base(p))
}

func hasReservedName(name string) bool {
	return len(name) >= len(ReservedPrefix) && name[:len(ReservedPrefix)] == ReservedPrefix
}
