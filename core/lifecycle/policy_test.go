package lifecycle

import (
	"testing"

	"github.com/async-sync/async/core"
)

func TestRoundPolicy(t *testing.T) {
	fsCaps := core.Caps{Filesystem: true, Dirs: true}
	bucket := core.Caps{}
	given := core.Policy{Direction: core.Push, Checksum: core.ChecksumMD5}
	tests := []struct {
		name    string
		caps    [2]core.Caps
		d       Defaults
		want    core.Checksum
		renames bool
	}{
		{"two file systems", [2]core.Caps{fsCaps, fsCaps}, Defaults{}, core.ChecksumSHA1Sparse, false},
		{"a bucket remote", [2]core.Caps{fsCaps, bucket}, Defaults{}, core.ChecksumNone, false},
		{"a bucket local", [2]core.Caps{bucket, fsCaps}, Defaults{}, core.ChecksumNone, false},
		{"checksum given", [2]core.Caps{fsCaps, bucket}, Defaults{ChecksumGiven: true}, core.ChecksumMD5, false},
		{"continuous", [2]core.Caps{fsCaps, fsCaps}, Defaults{Continuous: true, ChecksumGiven: true}, core.ChecksumMD5, true},
	}
	for _, tc := range tests {
		got := RoundPolicy(given, tc.caps, tc.d)
		if got.Checksum != tc.want || got.RenameFiles != tc.renames || got.RenameDirs != tc.renames || got.Direction != core.Push {
			t.Errorf("%s: checksum %s, renames %v/%v, direction %v; want %s, %v", tc.name, got.Checksum, got.RenameFiles, got.RenameDirs, got.Direction, tc.want, tc.renames)
		}
	}
	if given.Checksum != core.ChecksumMD5 || given.RenameFiles {
		t.Error("RoundPolicy changed its argument")
	}
}
