package core

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strings"
)

// Checksum names a content fingerprint (-k).
type Checksum string

// The fingerprints async knows.
const (
	ChecksumNone       Checksum = "none"
	ChecksumSHA1       Checksum = "sha1"
	ChecksumMD5        Checksum = "md5"
	ChecksumSHA256     Checksum = "sha256"
	ChecksumSHA1Sparse Checksum = "sha1_sparse"
	ChecksumMD5Sparse  Checksum = "md5_sparse"
)

// Sparse fingerprint geometry: files up to SparseWhole bytes are hashed
// whole; larger ones hash their size and SparseBlocks blocks of SparseBlock
// bytes at evenly spaced offsets, the first and the last block included.
const (
	SparseWhole  = 1 << 20
	SparseBlock  = 64 << 10
	SparseBlocks = 16
)

// ParseChecksum accepts the -k values, hyphen forms included.
func ParseChecksum(s string) (Checksum, error) {
	c := Checksum(strings.ReplaceAll(strings.ToLower(s), "-", "_"))
	switch c {
	case ChecksumNone, ChecksumSHA1, ChecksumMD5, ChecksumSHA256, ChecksumSHA1Sparse, ChecksumMD5Sparse:
		return c, nil
	}
	return "", fmt.Errorf("unknown checksum %q (want sha1, md5, sha1_sparse, md5_sparse, sha256 or none)", s)
}

// Full reports whether c fingerprints whole contents, so that a match
// proves equality on its own.
func (c Checksum) Full() bool {
	return c == ChecksumSHA1 || c == ChecksumMD5 || c == ChecksumSHA256
}

// Sparse reports whether c samples large files.
func (c Checksum) Sparse() bool { return c == ChecksumSHA1Sparse || c == ChecksumMD5Sparse }

// Enabled reports whether c computes anything.
func (c Checksum) Enabled() bool { return c != "" && c != ChecksumNone }

func (c Checksum) newHash() hash.Hash {
	switch c {
	case ChecksumMD5, ChecksumMD5Sparse:
		return md5.New()
	case ChecksumSHA256:
		return sha256.New()
	}
	return sha1.New()
}

// ProvesEqual reports whether fingerprint a matching b proves equal content
// for entries of the given size: always for a full fingerprint, and for a
// sparse one when the file was small enough to be hashed whole.
func (c Checksum) ProvesEqual(size int64) bool {
	return c.Full() || (c.Sparse() && size <= SparseWhole)
}

// SparseOffsets returns the offsets of the sampled blocks of a file of size
// bytes, or nil when it is hashed whole.
func SparseOffsets(size int64) []int64 {
	if size <= SparseWhole {
		return nil
	}
	offs := make([]int64, SparseBlocks)
	span := size - SparseBlock
	for i := range offs {
		offs[i] = span * int64(i) / (SparseBlocks - 1)
	}
	return offs
}

// ContentHasher computes a fingerprint from content written to it in
// order, from offset 0. For sparse fingerprints of large files it keeps only
// the sampled blocks, so a copy can fingerprint what it streams for free.
type ContentHasher struct {
	algo Checksum
	h    hash.Hash
	offs []int64 // sampled block offsets; nil: whole content
	pos  int64
	sum  [sha256.Size]byte // where Sum has the digest written (the largest)
}

// NewContentHasher returns a hasher for content of the given size, or nil
// when algo computes nothing.
func NewContentHasher(algo Checksum, size int64) *ContentHasher {
	if !algo.Enabled() {
		return nil
	}
	ch := &ContentHasher{algo: algo, h: algo.newHash()}
	if algo.Sparse() {
		ch.offs = SparseOffsets(size)
		if ch.offs != nil {
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], uint64(size))
			ch.h.Write(b[:])
		}
	}
	return ch
}

// Write hashes the next bytes of the content.
func (ch *ContentHasher) Write(p []byte) (int, error) {
	n := len(p)
	if ch.offs == nil {
		ch.h.Write(p)
		ch.pos += int64(n)
		return n, nil
	}
	start, end := ch.pos, ch.pos+int64(n)
	for _, off := range ch.offs {
		lo, hi := max(off, start), min(off+SparseBlock, end)
		if lo < hi {
			ch.h.Write(p[lo-start : hi-start])
		}
	}
	ch.pos = end
	return n, nil
}

// Sum returns the fingerprint as "algo:hex". It allocates the string only:
// a copy fingerprints every file it writes.
func (ch *ContentHasher) Sum() string {
	var buf [80]byte // room for every algorithm's name and hex digest
	b := append(append(buf[:0], ch.algo...), ':')
	return string(hex.AppendEncode(b, ch.h.Sum(ch.sum[:0])))
}

// HashReaderAt fingerprints size bytes readable through r, reading only the
// sampled blocks for a sparse fingerprint of a large file.
func HashReaderAt(r io.ReaderAt, size int64, algo Checksum) (string, error) {
	ch := NewContentHasher(algo, size)
	if ch == nil {
		return "", nil
	}
	if ch.offs == nil {
		if _, err := io.Copy(ch, io.NewSectionReader(r, 0, size)); err != nil {
			return "", err
		}
		return ch.Sum(), nil
	}
	buf := make([]byte, SparseBlock)
	for _, off := range ch.offs {
		if _, err := r.ReadAt(buf, off); err != nil && err != io.EOF {
			return "", err
		}
		ch.pos = off
		ch.Write(buf)
	}
	return ch.Sum(), nil
}
