package core

import (
	"testing"
	"time"
)

// Full fingerprints decide equality under a sparse -k too: the hash stage
// adds them where the samples cannot.
func TestContentEqualFullUnderSparse(t *testing.T) {
	big := int64(SparseWhole + 1)
	a := tFile("f", big, t0, "sha1:aa")
	for _, tc := range []struct {
		name      string
		hash      string
		eq, known bool
	}{
		{"same full fingerprint", "sha1:aa", true, true},
		{"other full fingerprint", "sha1:bb", false, true},
		{"sparse on one side only", "sha1_sparse:aa", false, true},
	} {
		b := tFile("f", big, t0.Add(time.Hour), tc.hash)
		eq, known := ContentEqual(a, b, ChecksumSHA1Sparse)
		if eq != tc.eq || known != tc.known {
			t.Errorf("%s: equal=%v known=%v, want %v %v", tc.name, eq, known, tc.eq, tc.known)
		}
	}
	if fullOf(ChecksumMD5Sparse) != ChecksumMD5 || fullOf(ChecksumSHA1Sparse) != ChecksumSHA1 {
		t.Errorf("fullOf")
	}
}
