// Package local is async's backend for a directory on a local filesystem.
//
// Every operation reaches its path from a descriptor of the root, refusing
// symbolic links on the way: with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)
// where the kernel has it, otherwise one openat(O_NOFOLLOW) per component.
// Nothing outside the root is ever written, even when the tree changes under
// a running sync. Files are written under a reserved temporary name in their
// destination directory and renamed into place on commit.
//
// With Options.FollowLinks, symbolic links are followed when reading and
// scanning (never when writing). Followed links may then lead anywhere on
// the local machine unless Options.Confined is set, which keeps them inside
// the root (a link leaving it reads as an error, or is left out of a scan).
//
// The implementation is Linux only; elsewhere Open reports
// errors.ErrUnsupported.
package local

import "github.com/async-sync/async/core"

// Options configure a local backend.
type Options struct {
	// FollowLinks reports and reads what symbolic links point to (-n follow).
	// Writes never follow links.
	FollowLinks bool
	// Confined keeps followed links inside the root (the server side);
	// otherwise followed links may lead anywhere.
	Confined bool
	// Fsync makes each committed file and its directory durable before the
	// commit returns.
	Fsync bool
}

var (
	_ core.Backend = (*FS)(nil)
	_ core.Linker  = (*FS)(nil)
	_ core.Hasher  = (*FS)(nil)
)
