package memfs_test

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/backendtest"
	"github.com/async-sync/async/core/memfs"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) core.Backend { return memfs.New(memfs.Options{}) })
}

var ctx = context.Background()

func write(t *testing.T, b *memfs.FS, p, content string) core.Entry {
	t.Helper()
	w, err := b.Create(ctx, p, core.CreateOptions{Size: int64(len(content)), Replace: core.Precondition{Any: true}})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(content))
	e, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestHardLinkShares(t *testing.T) {
	b := memfs.New(memfs.Options{})
	f := write(t, b, "f", "x")
	l, err := b.Link(ctx, "f", "g", core.MustNotExist)
	if err != nil || l.FileID != f.FileID {
		t.Fatalf("link: %+v, %v; want the FileID of f %s", l, err, f.FileID)
	}
	mode := fs.FileMode(0o600)
	if _, err := b.SetAttr(ctx, "g", core.Attrs{Mode: &mode}); err != nil {
		t.Fatal(err)
	}
	if e, _ := b.Stat(ctx, "f"); e.Mode != 0o600 {
		t.Errorf("f mode %v after a chmod of its second name", e.Mode)
	}
	write(t, b, "f", "new") // a commit replaces the name, not the shared file
	if got := b.Tree()["g"]; got != "file:x" {
		t.Errorf("g = %q after f was rewritten", got)
	}
	if _, err := b.Link(ctx, "missing", "h", core.MustNotExist); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("link to a missing file: %v", err)
	}
}

func TestRenameMovesSubtreeAndKeepsID(t *testing.T) {
	b := memfs.New(memfs.Options{})
	if _, err := b.Mkdir(ctx, "d", 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, b, "d/f", "x")
	d, _ := b.Stat(ctx, "d")
	e, err := b.Rename(ctx, "d", "e", core.Expect(&d))
	if err != nil || e.FileID != d.FileID {
		t.Fatalf("rename: %+v, %v", e, err)
	}
	if want := map[string]string{"e": "dir", "e/f": "file:x"}; !maps.Equal(b.Tree(), want) {
		t.Errorf("tree %v, want %v", b.Tree(), want)
	}
	if _, err := b.Rename(ctx, "e", "e/sub", core.Precondition{Any: true}); err == nil {
		t.Error("a directory moved into itself")
	}
}

func TestUnchangedWhileReading(t *testing.T) {
	b := memfs.New(memfs.Options{})
	write(t, b, "f", "abc")
	rc, _, err := b.Open(ctx, "f", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	c := rc.(core.ChangeChecker)
	if err := c.Unchanged(); err != nil {
		t.Fatal(err)
	}
	mt := time.Unix(1, 0)
	if _, err := b.SetAttr(ctx, "f", core.Attrs{MTime: &mt}); err != nil {
		t.Fatal(err)
	}
	if err := c.Unchanged(); !errors.Is(err, core.ErrChangedWhileReading) {
		t.Errorf("after a change: %v", err)
	}
}

func TestFollowLinks(t *testing.T) {
	b := memfs.New(memfs.Options{})
	write(t, b, "f", "abc")
	b.Symlink(ctx, "l", "f", core.MustNotExist)
	b.Symlink(ctx, "dangling", "nowhere", core.MustNotExist)
	var unreadable []string
	got := map[string]core.Entry{}
	err := b.Scan(ctx, core.ScanOptions{FollowLinks: true, Unreadable: func(p string, err error) error {
		unreadable = append(unreadable, p)
		return nil
	}}, func(e core.Entry) error { got[e.Path] = e; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if l := got["l"]; l.Type != core.TypeFile || l.Size != 3 {
		t.Errorf("followed link = %+v", l)
	}
	if !slices.Equal(unreadable, []string{"dangling"}) {
		t.Errorf("unreadable = %v", unreadable)
	}
}

func TestStore(t *testing.T) {
	s := memfs.NewStore()
	if _, ok, _ := s.Meta(ctx); ok {
		t.Error("a new store has a meta")
	}
	s.SetMeta(ctx, core.Meta{Session: "x"})
	if m, ok, _ := s.Meta(ctx); !ok || m.Session != "x" {
		t.Errorf("meta %+v, %v", m, ok)
	}
	for _, p := range []string{"b", "a/c", "a"} {
		s.Put(ctx, core.Record{Entry: core.Entry{Path: p}})
	}
	s.Delete(ctx, "b")
	var paths []string
	s.Load(ctx, func(r core.Record) error { paths = append(paths, r.Path); return nil })
	if !slices.Equal(paths, []string{"a", "a/c"}) {
		t.Errorf("loaded %v", paths)
	}
}
