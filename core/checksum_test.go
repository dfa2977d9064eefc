package core

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"testing"
)

func TestParseChecksumForms(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Checksum
		bad  bool
	}{
		{in: "none", want: ChecksumNone},
		{in: "NONE", want: ChecksumNone},
		{in: "sha1", want: ChecksumSHA1},
		{in: "SHA1", want: ChecksumSHA1},
		{in: "md5", want: ChecksumMD5},
		{in: "Md5", want: ChecksumMD5},
		{in: "sha256", want: ChecksumSHA256},
		{in: "sha1_sparse", want: ChecksumSHA1Sparse},
		{in: "sha1-sparse", want: ChecksumSHA1Sparse},
		{in: "SHA1-Sparse", want: ChecksumSHA1Sparse},
		{in: "md5_sparse", want: ChecksumMD5Sparse},
		{in: "md5-sparse", want: ChecksumMD5Sparse},
		{in: "MD5-SPARSE", want: ChecksumMD5Sparse},
		{in: "", bad: true},
		{in: "crc32", bad: true},
		{in: "sha512", bad: true},
		{in: "sha-1", bad: true},
		{in: "sha256_sparse", bad: true},
		{in: "sha1__sparse", bad: true},
		{in: " sha1", bad: true},
		{in: "sha1 ", bad: true},
		{in: "sparse", bad: true},
		{in: "sha1:", bad: true},
	} {
		got, err := ParseChecksum(tc.in)
		switch {
		case tc.bad && err == nil:
			t.Errorf("ParseChecksum(%q) = %q, want an error", tc.in, got)
		case !tc.bad && (err != nil || got != tc.want):
			t.Errorf("ParseChecksum(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestChecksumKinds(t *testing.T) {
	for _, tc := range []struct {
		c                      Checksum
		full, sparse, enabled  bool
		provesSmall, provesBig bool
	}{
		{ChecksumNone, false, false, false, false, false},
		{"", false, false, false, false, false},
		{ChecksumSHA1, true, false, true, true, true},
		{ChecksumMD5, true, false, true, true, true},
		{ChecksumSHA256, true, false, true, true, true},
		{ChecksumSHA1Sparse, false, true, true, true, false},
		{ChecksumMD5Sparse, false, true, true, true, false},
	} {
		if tc.c.Full() != tc.full || tc.c.Sparse() != tc.sparse || tc.c.Enabled() != tc.enabled {
			t.Errorf("%q: full=%v sparse=%v enabled=%v", tc.c, tc.c.Full(), tc.c.Sparse(), tc.c.Enabled())
		}
		if tc.c.ProvesEqual(SparseWhole) != tc.provesSmall || tc.c.ProvesEqual(SparseWhole+1) != tc.provesBig {
			t.Errorf("%q: ProvesEqual(1MiB)=%v ProvesEqual(1MiB+1)=%v", tc.c, tc.c.ProvesEqual(SparseWhole), tc.c.ProvesEqual(SparseWhole+1))
		}
	}
}

func TestSparseOffsets(t *testing.T) {
	for _, size := range []int64{0, 1, SparseBlock, SparseWhole - 1, SparseWhole} {
		if offs := SparseOffsets(size); offs != nil {
			t.Errorf("size %d: offsets %v, want nil (hashed whole)", size, offs)
		}
	}
	for _, size := range []int64{SparseWhole + 1, SparseWhole + SparseBlock, 5<<20 + 7, 1 << 30, 1<<40 + 12345} {
		offs := SparseOffsets(size)
		if len(offs) != SparseBlocks {
			t.Errorf("size %d: %d offsets, want %d", size, len(offs), SparseBlocks)
			continue
		}
		if offs[0] != 0 {
			t.Errorf("size %d: first offset %d, want 0", size, offs[0])
		}
		if last := offs[len(offs)-1]; last != size-SparseBlock {
			t.Errorf("size %d: last offset %d, want %d", size, last, size-SparseBlock)
		}
		for i := 1; i < len(offs); i++ {
			if offs[i]-offs[i-1] < SparseBlock {
				t.Errorf("size %d: blocks %d and %d overlap (%d, %d)", size, i-1, i, offs[i-1], offs[i])
			}
		}
		// Evenly spaced: gaps differ by at most one byte.
		lo, hi := offs[1]-offs[0], offs[1]-offs[0]
		for i := 1; i < len(offs); i++ {
			g := offs[i] - offs[i-1]
			lo, hi = min(lo, g), max(hi, g)
		}
		if hi-lo > 1 {
			t.Errorf("size %d: uneven gaps %d..%d", size, lo, hi)
		}
	}
}

// testContent is deterministic, non-periodic content of n bytes.
func testContent(n int) []byte {
	data := make([]byte, n)
	x := uint32(2463534242)
	for i := range data {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		data[i] = byte(x)
	}
	return data
}

// refFingerprint computes a fingerprint independently of checksum.go,
// from the definition in docs/reference.md §5.6.
func refFingerprint(algo Checksum, data []byte) string {
	var h hash.Hash
	switch algo {
	case ChecksumMD5, ChecksumMD5Sparse:
		h = md5.New()
	case ChecksumSHA256:
		h = sha256.New()
	default:
		h = sha1.New()
	}
	size := int64(len(data))
	if algo.Sparse() && size > SparseWhole {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(size))
		h.Write(b[:])
		for i := int64(0); i < SparseBlocks; i++ {
			off := (size - SparseBlock) * i / (SparseBlocks - 1)
			h.Write(data[off : off+SparseBlock])
		}
	} else {
		h.Write(data)
	}
	return string(algo) + ":" + hex.EncodeToString(h.Sum(nil))
}

func TestContentHasherChunked(t *testing.T) {
	algos := []Checksum{ChecksumSHA1, ChecksumMD5, ChecksumSHA256, ChecksumSHA1Sparse, ChecksumMD5Sparse}
	for _, size := range []int{0, 1, SparseWhole, SparseWhole + 1, 5<<20 + 7} {
		data := testContent(size)
		for _, algo := range algos {
			want, err := HashReaderAt(bytes.NewReader(data), int64(size), algo)
			if err != nil {
				t.Fatalf("%s size %d: HashReaderAt: %v", algo, size, err)
			}
			if ref := refFingerprint(algo, data); want != ref {
				t.Errorf("%s size %d: HashReaderAt %s, reference %s", algo, size, want, ref)
			}
			for _, chunk := range []int{3, 4099, SparseBlock - 1, SparseBlock + 1, 999_983, 3 << 20} {
				if chunk < 100 && size > SparseWhole+1 {
					continue // too slow, and covered by the other chunk sizes
				}
				h := NewContentHasher(algo, int64(size))
				for rest := data; len(rest) > 0; {
					n := min(chunk, len(rest))
					if k, err := h.Write(rest[:n]); k != n || err != nil {
						t.Fatalf("Write = %d, %v", k, err)
					}
					rest = rest[n:]
				}
				if got := h.Sum(); got != want {
					t.Errorf("%s size %d chunk %d: streamed %s, HashReaderAt %s", algo, size, chunk, got, want)
				}
			}
		}
		// The full sha1 fingerprint is plain sha1 of the content.
		sum := sha1.Sum(data)
		if got, _ := HashReaderAt(bytes.NewReader(data), int64(size), ChecksumSHA1); got != "sha1:"+hex.EncodeToString(sum[:]) {
			t.Errorf("size %d: sha1 fingerprint %s is not crypto/sha1 %x", size, got, sum)
		}
		if size <= SparseWhole {
			if got, _ := HashReaderAt(bytes.NewReader(data), int64(size), ChecksumSHA1Sparse); got != "sha1_sparse:"+hex.EncodeToString(sum[:]) {
				t.Errorf("size %d: small sha1_sparse %s is not the whole-file sha1", size, got)
			}
		}
	}
	if h := NewContentHasher(ChecksumNone, 10); h != nil {
		t.Errorf("none: hasher %v, want nil", h)
	}
	if got, err := HashReaderAt(bytes.NewReader([]byte("abc")), 3, ChecksumNone); got != "" || err != nil {
		t.Errorf("none: %q %v", got, err)
	}
}

// A sparse fingerprint of a large file changes with a byte inside a sampled
// block and with the size, and not with a byte outside every block.
func TestSparseFingerprintSampling(t *testing.T) {
	size := 5<<20 + 7
	data := testContent(size)
	base, _ := HashReaderAt(bytes.NewReader(data), int64(size), ChecksumSHA1Sparse)
	offs := SparseOffsets(int64(size))

	inBlock := bytes.Clone(data)
	inBlock[offs[7]+100] ^= 1
	if h, _ := HashReaderAt(bytes.NewReader(inBlock), int64(size), ChecksumSHA1Sparse); h == base {
		t.Errorf("a change inside a sampled block is not seen")
	}
	lastByte := bytes.Clone(data)
	lastByte[size-1] ^= 1
	if h, _ := HashReaderAt(bytes.NewReader(lastByte), int64(size), ChecksumSHA1Sparse); h == base {
		t.Errorf("a change of the last byte is not seen")
	}
	outside := bytes.Clone(data)
	outside[offs[7]+SparseBlock+10] ^= 1
	if h, _ := HashReaderAt(bytes.NewReader(outside), int64(size), ChecksumSHA1Sparse); h != base {
		t.Errorf("a change outside the sampled blocks changed the sparse fingerprint")
	}
	if h, _ := HashReaderAt(bytes.NewReader(outside), int64(size), ChecksumSHA1); h == base || h == "" {
		t.Errorf("full fingerprint: %s", h)
	}
}
