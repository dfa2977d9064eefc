package agent

import (
	"context"
	"fmt"

	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
)

// servedFS is the backend a session is served through, with every
// optional method the protocol carries: one the backend lacks answers
// core.ErrUnsupported (a client that heeds the features the hello told
// it never asks).
type servedFS struct {
	core.Backend
	linker     core.Linker
	hasher     core.Hasher
	hardLinker core.HardLinker
	xattrer    core.Xattrer
	watcher    core.Watcher
}

// serve returns b as a servedFS, and the optional interfaces it has that
// the protocol carries.
func serve(b core.Backend) (*servedFS, core.Features) {
	s := &servedFS{Backend: b}
	s.linker, _ = b.(core.Linker)
	s.hasher, _ = b.(core.Hasher)
	s.hardLinker, _ = b.(core.HardLinker)
	s.xattrer, _ = b.(core.Xattrer)
	s.watcher, _ = b.(core.Watcher)
	return s, core.FeaturesOf(b) & protocol.WireFeatures
}

func unsupported(what string) error {
	return fmt.Errorf("%s: the server's filesystem cannot: %w", what, core.ErrUnsupported)
}

func (s *servedFS) Symlink(ctx context.Context, p, target string, pre core.Precondition) (core.Entry, error) {
	if s.linker == nil {
		return core.Entry{}, unsupported("symbolic link " + core.DisplayPath(p))
	}
	return s.linker.Symlink(ctx, p, target, pre)
}

func (s *servedFS) Hash(ctx context.Context, p string, algo core.Checksum) (string, core.Entry, error) {
	if s.hasher == nil {
		return "", core.Entry{}, unsupported("hash " + core.DisplayPath(p))
	}
	return s.hasher.Hash(ctx, p, algo)
}

func (s *servedFS) Link(ctx context.Context, existing, p string, pre core.Precondition) (core.Entry, error) {
	if s.hardLinker == nil {
		return core.Entry{}, unsupported("hard link " + core.DisplayPath(p))
	}
	return s.hardLinker.Link(ctx, existing, p, pre)
}

func (s *servedFS) Xattrs(ctx context.Context, p string) (map[string][]byte, error) {
	if s.xattrer == nil {
		return nil, unsupported("extended attributes of " + core.DisplayPath(p))
	}
	return s.xattrer.Xattrs(ctx, p)
}

func (s *servedFS) SetXattrs(ctx context.Context, p string, attrs map[string][]byte) error {
	if s.xattrer == nil {
		return unsupported("extended attributes of " + core.DisplayPath(p))
	}
	return s.xattrer.SetXattrs(ctx, p, attrs)
}

func (s *servedFS) Watch(ctx context.Context, fn func(paths []string)) error {
	if s.watcher == nil {
		return unsupported("watch")
	}
	return s.watcher.Watch(ctx, fn)
}
