package modeltest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/async-sync/async/backends/local"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/snapshot"
)

// countingFS counts the full fingerprints a local backend computes.
type countingFS struct {
	*local.FS
	full *atomic.Int32
}

func (c countingFS) Hash(ctx context.Context, p string, algo core.Checksum) (string, core.Entry, error) {
	if algo.Full() {
		c.full.Add(1)
	}
	return c.FS.Hash(ctx, p, algo)
}

// In bidi, large files of equal size and other mtimes with no agreed state
// are compared whole, where they live (the backend's Hasher), before they
// are called a conflict; a conflict found so keeps the whole fingerprints
// in its records, so later runs do not read the files again.
func TestBidiFullFingerprints(t *testing.T) {
	const size = 2 << 20
	content := bytes.Repeat([]byte("abcdefgh"), size/8)
	unsampled := bytes.Clone(content)
	unsampled[size/2+100<<10] ^= 1 // between two sampled blocks
	for _, tc := range []struct {
		name      string
		remote    []byte
		conflicts int64
		hashes    [2]int32 // full fingerprints computed by the first and second run
	}{
		{"identical", content, 0, [2]int32{2, 0}},
		{"differ between the samples", unsampled, 1, [2]int32{2, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			var eps [2]*core.Endpoint
			var full atomic.Int32
			for s, data := range [2][]byte{content, tc.remote} {
				root := filepath.Join(base, [2]string{"L", "R"}[s])
				os.Mkdir(root, 0o755)
				f := filepath.Join(root, "big")
				if err := os.WriteFile(f, data, 0o644); err != nil {
					t.Fatal(err)
				}
				mt := time.Now().Add(-time.Duration(s+1) * time.Hour)
				os.Chtimes(f, mt, mt)
				b, err := local.Open(root, local.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				db, err := snapshot.Open(filepath.Join(base, [2]string{"dbL", "dbR"}[s]), snapshot.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				eps[s] = &core.Endpoint{Backend: countingFS{b, &full}, Store: db, URL: "file://" + root}
			}
			pol := core.Policy{Direction: core.Bidi, Checksum: core.ChecksumSHA1Sparse}
			if err := pol.Resolve(); err != nil {
				t.Fatal(err)
			}
			for run := range 2 {
				full.Store(0)
				st := &core.Stats{}
				if _, err := core.Sync(context.Background(), eps[0], eps[1], core.Options{Session: "fh", Policy: pol, Stats: st}); err != nil {
					t.Fatal(err)
				}
				if got := st.Conflicts.Load(); got != tc.conflicts {
					t.Errorf("run %d: %d conflicts, want %d", run+1, got, tc.conflicts)
				}
				if got := full.Load(); got != tc.hashes[run] {
					t.Errorf("run %d: %d full fingerprints computed, want %d", run+1, got, tc.hashes[run])
				}
			}
		})
	}
}
