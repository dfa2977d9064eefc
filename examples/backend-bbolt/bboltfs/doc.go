// Package bboltfs is an async backend that keeps a whole tree in one bbolt
// database file: the example third-party backend of async's plugin system.
//
// Layout, in four buckets:
//
//	meta     path → record (type, mode, size, times, token, file id, blob)
//	data     blob id (8 bytes) + chunk index (4 bytes) → up to 1 MiB of content
//	pending  blob id → path, for blobs being written (not yet committed)
//	info     "root" → the root directory's record
//
// Paths are stored with "/" replaced by a NUL byte, so that bbolt's byte
// order lists a directory's whole subtree right after it: a scan walks the
// tree in one ordered pass and skips a pruned subtree with one seek.
//
// Content is written to a fresh blob outside the tree (the pending key
// space) and becomes visible when Commit points the path's record at it,
// in one transaction that also checks the precondition and drops the blob
// it replaces. Blobs left pending by a crash are removed when the database
// is opened again.
package bboltfs
