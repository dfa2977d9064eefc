// Package objstore maps async's tree onto a bucket of objects, for every
// object store backend (S3, gocloud.dev buckets). The stores only provide a
// Bucket: list, head, get, write, copy, delete; the rules live here once.
//
// The mapping: a file at PATH is the object PREFIX+PATH. Directories are
// key prefixes; an empty directory (and every directory async creates) is
// kept as a zero-byte marker object PREFIX+PATH+"/". A file's mtime and
// mode travel in user metadata ("async-mtime": Unix nanoseconds,
// "async-mode": octal) when the sync preserves them (-t, and modes between
// filesystems); otherwise an object's mtime is its LastModified. The change
// token is the ETag. An object appears at its key only when its upload
// completes (one PUT, or a completed multipart upload), so readers never
// see a partial file. Keys under the root's .private-asp and async's
// temporary names are never listed as entries.
package objstore

import (
	"context"
	"errors"
	"io"
	"time"
)

// Object is what a bucket says about one object.
type Object struct {
	Key      string
	Size     int64
	ETag     string
	Modified time.Time
	// Meta is the user metadata; nil when the answer did not carry it
	// (S3 listings do not).
	Meta map[string]string
}

// WriteOptions are given to Bucket.NewWriter.
type WriteOptions struct {
	Size int64 // final size when known, -1 otherwise
	Meta map[string]string
	// IfMatch: write only if the object's ETag is this one.
	IfMatch string
	// IfNoneMatch: write only if no object is at the key.
	IfNoneMatch bool
	// ChecksumSHA256 asks the store to compute, check and keep a SHA-256
	// checksum of the content (-k sha256), where it keeps checksums.
	ChecksumSHA256 bool
}

// ObjectWriter uploads one object; nothing is visible at its key until
// Commit returns.
type ObjectWriter interface {
	io.Writer
	// Commit completes the upload and returns the stored object. A
	// failed condition (WriteOptions.IfMatch, IfNoneMatch) is an error
	// wrapping ErrConditionFailed.
	Commit() (Object, error)
	// Abort drops the upload.
	Abort() error
}

// Bucket is an object store's part of the work.
type Bucket interface {
	// List calls fn for every object whose key starts with prefix, in any
	// order.
	List(ctx context.Context, prefix string, fn func(Object) error) error
	// Head returns an object with its metadata; fs.ErrNotExist when absent.
	Head(ctx context.Context, key string) (Object, error)
	// Get reads an object from offset.
	Get(ctx context.Context, key string, offset int64) (io.ReadCloser, Object, error)
	// NewWriter starts an upload.
	NewWriter(ctx context.Context, key string, o WriteOptions) (ObjectWriter, error)
	// Copy copies an object inside the bucket without moving its data
	// through async, replacing its metadata with meta when meta is not nil.
	Copy(ctx context.Context, from, to string, meta map[string]string) (Object, error)
	// Delete removes an object; a missing one is not an error.
	Delete(ctx context.Context, key string) error
	// Close releases the bucket's resources.
	Close() error
}

// Conditional is implemented by buckets whose writes enforce
// WriteOptions.IfMatch and IfNoneMatch atomically. Others get a HEAD
// just before the commit, which narrows the race but cannot close it.
type Conditional interface {
	ConditionalWrites() bool
}

// ErrConditionFailed: a conditional write found another object.
var ErrConditionFailed = errors.New("object changed")

// Resumable is implemented by buckets that can continue an interrupted
// upload on a later run (--support-resume).
type Resumable interface {
	// ResumeWriter continues the upload of key that partial names, if an
	// earlier run left one, or starts one that a later run can continue
	// (even after a crash).
	ResumeWriter(ctx context.Context, key, partial string, o WriteOptions) (ResumableWriter, error)
	// AbortStale drops the session's interrupted uploads under prefix
	// (those whose partial names start with token and a dash) left before
	// cutoff; others are not async's to drop.
	AbortStale(ctx context.Context, prefix, token string, cutoff time.Time) error
}

// ResumableWriter is an upload that can continue where an earlier one
// stopped.
type ResumableWriter interface {
	ObjectWriter
	// Offset is how many bytes the upload already holds: 0 until
	// VerifyResume has checked them against the source.
	Offset() int64
	// VerifyResume checks what an earlier run uploaded against the source
	// (open reads it from its first byte; it is called only when there is
	// something to check) and keeps only the longest prefix that matches.
	// It is called once, before any Write; a writer written to without
	// it starts over.
	VerifyResume(ctx context.Context, open func() (io.ReadCloser, error)) error
	// Keep stops writing and leaves the upload for a later run.
	Keep() error
}
