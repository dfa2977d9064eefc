package bboltfs

import (
	"context"
	"fmt"

	"github.com/async-sync/async/core"
)

// Hash fingerprints the file at p where it lives.
func (b *Backend) Hash(_ context.Context, p string, algo core.Checksum) (string, core.Entry, error) {
	e, blob, err := b.file("hash", p)
	if err != nil {
		return "", core.Entry{}, err
	}
	sum, err := core.HashReaderAt(&blobReader{b: b, path: p, blob: blob, size: e.Size}, e.Size, algo)
	if err != nil {
		return "", core.Entry{}, fmt.Errorf("bboltfs: hash %s: %w", core.DisplayPath(p), err)
	}
	return sum, e, nil
}
