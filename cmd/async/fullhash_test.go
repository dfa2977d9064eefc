package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Bidi without records (a first run, or records lost): large files of the
// same size and other mtimes are compared by a full fingerprint before a
// conflict is declared, so identical copies are recorded as equal and
// copies that differ only where the sparse fingerprint does not sample
// are still a conflict.
func TestBidiLostRecordsComparesFullHashes(t *testing.T) {
	const size = 3 << 20 // above the sparse fingerprint's whole-file limit
	content := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	unsampled := bytes.Clone(content)
	unsampled[size/2+100<<10] ^= 1 // between two sampled blocks
	for _, tc := range []struct {
		name   string
		remote []byte
		code   int
		line   string
	}{
		{"identical", content, 0, "/big SYNCHRONIZED(exs)"},
		{"differ between the samples", unsampled, 3, "/big CONFLICT"},
	} {
		for _, older := range []bool{false, true} {
			name := tc.name
			if older {
				name += ", -o older"
			}
			t.Run(name, func(t *testing.T) {
				l, r := dirs(t)
				if err := os.WriteFile(filepath.Join(l, "big"), content, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(r, "big"), tc.remote, 0o644); err != nil {
					t.Fatal(err)
				}
				then := time.Now().Add(-time.Hour)
				os.Chtimes(filepath.Join(r, "big"), then, then)
				args := []string{"-N", "fh", "-d", l, "-r", r, "-K", "bidi"}
				if older {
					args = append(args, "-o", "older")
				}
				res := runAsync(t, args...)
				want := tc.code
				if older && tc.code == 3 {
					want = 0 // the newer version wins, the older is kept
				}
				mustCode(t, res, want)
				if !older && !slices.Contains(res.lines(), tc.line) {
					t.Errorf("want %q:\n%s", tc.line, res.stdout)
				}
				lt, rt := readTree(t, l), readTree(t, r)
				if tc.code == 0 && (len(lt) != 1 || len(rt) != 1) {
					t.Errorf("identical files were not recorded as equal: %d / %d entries (a conflict copy?)", len(lt), len(rt))
				}
				if tc.code == 3 && older && len(lt) != 2 {
					t.Errorf("-o older: the older version is not kept beside: %d entries", len(lt))
				}
				// A second run finds nothing more to do (or the same conflict).
				res = runAsync(t, args...)
				mustCode(t, res, map[bool]int{true: 0, false: tc.code}[older])
			})
		}
	}
}
