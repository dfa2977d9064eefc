package ssh

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCachedDigest: the cache gives a program's digest only while the
// program is the file it was taken of, unchanged; any change, another
// program or a damaged cache hashes it again.
func TestCachedDigest(t *testing.T) {
	t.Parallel()
	const bogus = "0000000000000000000000000000000000000000000000000000000000000000"
	tests := []struct {
		name string
		// between the first digest and the second: what is done to the
		// program and the cache (whose recorded digest is first replaced
		// by bogus, so that a use of the record shows)
		change   func(t *testing.T, bin, cache string)
		fromDisk bool // the second digest is the cache's (bogus)
	}{
		{name: "unchanged program", change: func(*testing.T, string, string) {}, fromDisk: true},
		{name: "rewritten, same size", change: func(t *testing.T, bin, _ string) {
			time.Sleep(10 * time.Millisecond)
			if err := os.WriteFile(bin, []byte("program B"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "times set back", change: func(t *testing.T, bin, _ string) {
			fi, err := os.Stat(bin)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
			if err := os.WriteFile(bin, []byte("program B"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(bin, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "replaced by another file", change: func(t *testing.T, bin, _ string) {
			other := bin + ".new"
			if err := os.WriteFile(other, []byte("program B"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(other, bin); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "damaged cache", change: func(t *testing.T, _, cache string) {
			if err := os.WriteFile(cache, []byte("not a digest at all\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			bin, cache := filepath.Join(dir, "async"), filepath.Join(dir, "state", "agent-digest")
			if err := os.WriteFile(bin, []byte("program A"), 0o755); err != nil {
				t.Fatal(err)
			}
			first, err := CachedDigest(bin, cache)
			if want, _ := BinaryDigest(bin); err != nil || first != want {
				t.Fatalf("first digest %q, %v; want %q", first, err, want)
			}
			b, err := os.ReadFile(cache)
			if err != nil || !strings.HasPrefix(string(b), first+" ") {
				t.Fatalf("cache %q, %v: no record of %s", b, err, first)
			}
			if err := os.WriteFile(cache, []byte(bogus+strings.TrimPrefix(string(b), first)), 0o600); err != nil {
				t.Fatal(err)
			}
			tt.change(t, bin, cache)
			got, err := CachedDigest(bin, cache)
			want, _ := BinaryDigest(bin)
			if tt.fromDisk {
				want = bogus
			}
			if err != nil || got != want {
				t.Errorf("second digest %q, %v; want %q", got, err, want)
			}
		})
	}
}
