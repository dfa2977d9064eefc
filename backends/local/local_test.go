package local

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/backendtest"
)

func open(t *testing.T, root string) *FS {
	t.Helper()
	b, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) core.Backend { return open(t, t.TempDir()) })
}

func TestSymlinkCannotLeadOutside(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	b := open(t, root)
	defer b.Close()
	ctx := context.Background()
	if w, err := b.Create(ctx, "link/x", core.CreateOptions{}); err == nil {
		w.Write([]byte("escape"))
		_, err = w.Commit(ctx)
		t.Errorf("create through a link to outside: commit %v", err)
	}
	if _, err := b.Mkdir(ctx, "link/d", 0o755); err == nil {
		t.Errorf("mkdir through a link succeeded")
	}
	if err := b.Remove(ctx, "link/anything", core.Precondition{Any: true}); err == nil {
		t.Errorf("remove through a link succeeded")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("something was written outside the root: %v", entries)
	}
}

func TestStaleTempFilesAreCleaned(t *testing.T) {
	root := t.TempDir()
	stale := filepath.Join(root, core.ReservedPrefix+"999999999-dead")
	live := filepath.Join(root, core.ReservedPrefix+"1-init") // pid 1 is alive
	for _, p := range []string{stale, live} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b := open(t, root)
	defer b.Close()
	n := 0
	if err := b.Scan(context.Background(), core.ScanOptions{}, func(core.Entry) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("scan reported %d entries", n)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temp file kept: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("temp file of a live process removed: %v", err)
	}
}

func TestFileIDSurvivesRenameTokenMovesOnChmod(t *testing.T) {
	root := t.TempDir()
	b := open(t, root)
	defer b.Close()
	ctx := context.Background()
	w, _ := b.Create(ctx, "a", core.CreateOptions{})
	w.Write([]byte("x"))
	e, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	moved, err := b.Rename(ctx, "a", "b", core.Expect(&e))
	if err != nil || moved.FileID != e.FileID {
		t.Fatalf("rename: %+v %v; FileID was %s", moved, err, e.FileID)
	}
	m := fs.FileMode(0o600)
	ch, err := b.SetAttr(ctx, "b", core.Attrs{Mode: &m})
	if err != nil || ch.Token == "" {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "b"), 0o644); err != nil {
		t.Fatal(err)
	}
	again, _ := b.Stat(ctx, "b")
	if again.Token == ch.Token && again.Mode == ch.Mode {
		t.Errorf("chmod moved neither token nor mode")
	}
}

func BenchmarkScan50k(b *testing.B) {
	root := b.TempDir()
	for d := range 500 {
		dir := filepath.Join(root, "d"+string(rune('a'+d%26)), filepath.Base(filepath.Join("x", string(rune('A'+d/26)))))
		os.MkdirAll(dir, 0o755)
		for f := range 100 {
			os.WriteFile(filepath.Join(dir, "f"+string(rune('a'+f%26))+string(rune('a'+f/26))), nil, 0o644)
		}
	}
	fsys := open(&testing.T{}, root)
	defer fsys.Close()
	b.ResetTimer()
	for range b.N {
		fsys.Scan(context.Background(), core.ScanOptions{}, func(core.Entry) error { return nil })
	}
}
