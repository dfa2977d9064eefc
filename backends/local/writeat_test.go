package local

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/async-sync/async/core"
)

// TestWriteAtOutOfOrder: chunks written at their offsets in any order
// commit the whole file; a resumable file refuses writes at offsets.
func TestWriteAtOutOfOrder(t *testing.T) {
	root := t.TempDir()
	f := open(t, root)
	ctx := context.Background()
	w, err := f.Create(ctx, "f", core.CreateOptions{Size: 9, Replace: core.MustNotExist})
	if err != nil {
		t.Fatal(err)
	}
	wa, ok := w.(io.WriterAt)
	if !ok {
		t.Fatal("the writer cannot write at offsets")
	}
	for _, c := range []struct {
		s   string
		off int64
	}{{"ghi", 6}, {"abc", 0}, {"def", 3}} {
		if _, err := wa.WriteAt([]byte(c.s), c.off); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "f")); string(b) != "abcdefghi" {
		t.Errorf("content %q", b)
	}
	p, err := f.Create(ctx, "g", core.CreateOptions{Size: 9, Replace: core.MustNotExist, Partial: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Abort()
	if _, err := p.(io.WriterAt).WriteAt([]byte("x"), 4); !errors.Is(err, core.ErrUnsupported) {
		t.Errorf("a resumable file took a write at an offset: %v", err)
	}
}
