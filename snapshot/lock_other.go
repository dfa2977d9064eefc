//go:build !unix

package snapshot

import "errors"

// lockDir cannot take Badger's lock here: PeekMeta reports an error and
// its callers open the snapshot instead.
func lockDir(string) (func(), error) {
	return nil, errors.New("snapshot: PeekMeta is not supported on this system")
}
