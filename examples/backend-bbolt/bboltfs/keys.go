package bboltfs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/async-sync/async/core"
)

var (
	bucketMeta    = []byte("meta")
	bucketData    = []byte("data")
	bucketPending = []byte("pending")
	bucketInfo    = []byte("info")
	keyRoot       = []byte("root")
)

// chunkSize is how much content one data key holds.
const chunkSize = 1 << 20

// metaKey is the meta bucket's key of path p: "/" becomes NUL, which sorts
// before every other byte, so a directory's descendants follow it.
func metaKey(p string) []byte {
	k := []byte(p)
	for i, c := range k {
		if c == '/' {
			k[i] = 0
		}
	}
	return k
}

// pathOf is the inverse of metaKey.
func pathOf(k []byte) string {
	return string(bytes.ReplaceAll(k, []byte{0}, []byte{'/'}))
}

// childPrefix is what the keys of the descendants of the entry at key
// start with.
func childPrefix(key []byte) []byte {
	return append(bytes.Clone(key), 0)
}

// subtreeEnd is the first key after the subtree of the entry at key.
func subtreeEnd(key []byte) []byte {
	return append(bytes.Clone(key), 1)
}

// blobKey is the pending bucket's key of a blob.
func blobKey(blob uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, blob)
}

// chunkKey is the data bucket's key of chunk i of a blob.
func chunkKey(blob uint64, i int64) []byte {
	return binary.BigEndian.AppendUint32(blobKey(blob), uint32(i))
}

// chunks is how many chunks hold size bytes.
func chunks(size int64) int64 {
	return (size + chunkSize - 1) / chunkSize
}

// checkPath refuses paths the key encoding cannot hold.
func checkPath(p string) error {
	if strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("bboltfs: path %s holds a NUL byte", core.DisplayPath(p))
	}
	return nil
}
