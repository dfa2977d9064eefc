//go:build !linux

package local

import (
	"context"
	"fmt"
	"io"
	"io/fs"

	"github.com/async-sync/async/core"
)

// FS is a local directory tree. This platform has no implementation yet.
type FS struct{}

// Open reports that local directories are not supported on this platform.
func Open(root string, opts Options) (*FS, error) {
	return nil, fmt.Errorf("local directory %s: %w on this platform", root, core.ErrUnsupported)
}

func errUnsupported() error { return fmt.Errorf("local backend: %w", core.ErrUnsupported) }

// Caps reports what a local directory can do.
func (f *FS) Caps() core.Caps { return core.Caps{} }

// Scan is not supported on this platform.
func (f *FS) Scan(context.Context, core.ScanOptions, func(core.Entry) error) error {
	return errUnsupported()
}

// Stat is not supported on this platform.
func (f *FS) Stat(context.Context, string) (core.Entry, error) { return core.Entry{}, errUnsupported() }

// Open is not supported on this platform.
func (f *FS) Open(context.Context, string, int64) (io.ReadCloser, core.Entry, error) {
	return nil, core.Entry{}, errUnsupported()
}

// Create is not supported on this platform.
func (f *FS) Create(context.Context, string, core.CreateOptions) (core.Writer, error) {
	return nil, errUnsupported()
}

// Mkdir is not supported on this platform.
func (f *FS) Mkdir(context.Context, string, fs.FileMode) (core.Entry, error) {
	return core.Entry{}, errUnsupported()
}

// Remove is not supported on this platform.
func (f *FS) Remove(context.Context, string, core.Precondition) error { return errUnsupported() }

// Rename is not supported on this platform.
func (f *FS) Rename(context.Context, string, string, core.Precondition) (core.Entry, error) {
	return core.Entry{}, errUnsupported()
}

// SetAttr is not supported on this platform.
func (f *FS) SetAttr(context.Context, string, core.Attrs) (core.Entry, error) {
	return core.Entry{}, errUnsupported()
}

// Symlink is not supported on this platform.
func (f *FS) Symlink(context.Context, string, string, core.Precondition) (core.Entry, error) {
	return core.Entry{}, errUnsupported()
}

// Hash is not supported on this platform.
func (f *FS) Hash(context.Context, string, core.Checksum) (string, core.Entry, error) {
	return "", core.Entry{}, errUnsupported()
}

// Close does nothing.
func (f *FS) Close() error { return nil }

// Link is not available on this platform.
func (f *FS) Link(context.Context, string, string, core.Precondition) (core.Entry, error) {
	return core.Entry{}, errUnsupported()
}
