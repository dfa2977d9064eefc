package snapshot

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/async-sync/async/core"
)

// TestLoadPaths reads named records and recorded subtrees only, in path
// order, once each, pending writes included.
func TestLoadPaths(t *testing.T) {
	ctx := context.Background()
	db := openT(t, t.TempDir(), Options{})
	defer db.Close()
	all := []string{"", "a", "a/b", "a/b/c", "a/b.x", "a.b", "a0", "ab", "d", "d/e", "d/e/f", "d/g", "z"}
	for i, p := range all {
		if err := db.Put(ctx, core.Record{Entry: core.Entry{Path: p, Type: core.TypeFile, Size: int64(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Not flushed: LoadPaths must see it, and the deletion.
	if err := db.Put(ctx, core.Record{Entry: core.Entry{Path: "d/e/new", Type: core.TypeFile}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(ctx, "d/g"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		paths, dirs []string
		want        string
	}{
		{"nothing", nil, nil, ""},
		{"points", []string{"z", "a/b", "missing", "a/b"}, nil, "a/b z"},
		{"a subtree is below the directory only", nil, []string{"a"}, "a/b a/b/c a/b.x"},
		{"a name sharing a prefix is not below", nil, []string{"a/b"}, "a/b/c"},
		{"points and subtrees merge in path order", []string{"z", "d", "a", "d/e"}, []string{"d", "a/b"}, "a a/b/c d d/e d/e/f d/e/new z"},
		{"nested subtrees once", nil, []string{"d/e", "d"}, "d/e d/e/f d/e/new"},
		{"the root's subtree is everything but the root", nil, []string{""}, "a a/b a/b/c a/b.x a.b a0 ab d d/e d/e/f d/e/new z"},
		{"a deleted record is gone", []string{"d/g"}, []string{"d/g"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := db.LoadPaths(ctx, tc.paths, tc.dirs, func(r core.Record) error {
				got = append(got, r.Path)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Fatalf("LoadPaths(%q, %q) = %q, want %q", tc.paths, tc.dirs, g, tc.want)
			}
			if !slices.IsSortedFunc(got, core.ComparePaths) {
				t.Fatalf("not in path order: %q", got)
			}
		})
	}
	// The records read are the stored ones.
	var got []core.Record
	db.LoadPaths(ctx, []string{"a/b.x"}, nil, func(r core.Record) error { got = append(got, r); return nil })
	if len(got) != 1 || got[0].Size != 4 || got[0].Type != core.TypeFile {
		t.Fatalf("a/b.x read as %+v", got)
	}
}

// BenchmarkLoadPaths reads 1 % of a 50k-record snapshot's paths.
func BenchmarkLoadPaths(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	const n = 50_000
	fillSnapshot(b, dir, n)
	db := openT(b, dir, Options{})
	defer db.Close()
	var paths []string
	for i := 0; i < n; i += 100 {
		paths = append(paths, benchRecord(i).Path)
	}
	b.ResetTimer()
	for b.Loop() {
		got := 0
		if err := db.LoadPaths(ctx, paths, nil, func(core.Record) error { got++; return nil }); err != nil {
			b.Fatal(err)
		}
		if got != len(paths) {
			b.Fatalf("read %d of %d", got, len(paths))
		}
	}
}
