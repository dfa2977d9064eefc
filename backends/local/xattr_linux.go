package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/async-sync/async/core"
	"golang.org/x/sys/unix"
)

var (
	_ core.Xattrer    = (*FS)(nil)
	_ core.HardLinker = (*FS)(nil)
)

// Xattrs returns the extended attributes of the file or directory at p
// (links have none here).
func (f *FS) Xattrs(ctx context.Context, p string) (map[string][]byte, error) {
	fd, err := f.openBelow(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, false)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	names, err := flistxattr(fd)
	if err != nil {
		return nil, pathErr("list attributes of", p, err)
	}
	out := make(map[string][]byte, len(names))
	for _, name := range names {
		v, err := fgetxattr(fd, name)
		if errors.Is(err, unix.ENODATA) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, pathErr("read attribute "+name+" of", p, err)
		}
		out[name] = v
	}
	return out, nil
}

// SetXattrs sets the given extended attributes on p.
func (f *FS) SetXattrs(ctx context.Context, p string, attrs map[string][]byte) error {
	fd, err := f.openBelow(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, false)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for name, v := range attrs {
		if err := unix.Fsetxattr(fd, name, v, 0); err != nil {
			return pathErr("set attribute "+name+" of", p, fmt.Errorf("%w: %w", core.ErrUnsupported, err))
		}
	}
	return nil
}

func flistxattr(fd int) ([]string, error) {
	for size := 1024; ; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Flistxattr(fd, buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var names []string
		for _, b := range bytes.Split(buf[:n], []byte{0}) {
			if len(b) > 0 {
				names = append(names, string(b))
			}
		}
		return names, nil
	}
}

func fgetxattr(fd int, name string) ([]byte, error) {
	for size := 256; ; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Fgetxattr(fd, name, buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
