package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/async-sync/async/backends/objstore"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/backendtest"
)

var ctx = context.Background()

func open(t *testing.T, rawURL string) (*Bucket, string) {
	t.Helper()
	b, prefix, err := Open(ctx, rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return b, prefix
}

func TestConformanceMem(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) core.Backend {
		b, prefix := open(t, "mem://")
		return objstore.New(b, prefix, objstore.Options{})
	})
}

func TestConformanceMemPrefix(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) core.Backend {
		b, prefix := open(t, "mem://?prefix=tree/")
		if prefix != "tree" {
			t.Fatalf("prefix %q", prefix)
		}
		return objstore.New(b, prefix, objstore.Options{})
	})
}

func TestConformanceFile(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) core.Backend {
		if strings.HasSuffix(t.Name(), "/ScanSpecialNames") {
			// It writes a 255-byte name; see TestFileSpecialNames.
			t.Skip("fileblob cannot store a name longer than 234 bytes")
		}
		b, prefix := open(t, "blob+file://"+filepath.ToSlash(t.TempDir()))
		return objstore.New(b, prefix, objstore.Options{})
	})
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		in, url, prefix string
		bad             bool
	}{
		{in: "mem://", url: "mem:"},
		{in: "mem://?prefix=dir/", url: "mem:", prefix: "dir"},
		{in: "mem:///a/b/", url: "mem:", prefix: "a/b"},
		{in: "gs://bkt", url: "gs://bkt"},
		{in: "gs://bkt/photos/2024", url: "gs://bkt", prefix: "photos/2024"},
		{in: "gs://bkt?prefix=/photos/", url: "gs://bkt", prefix: "photos"},
		{in: "gs://bkt/photos?access_id=x", url: "gs://bkt?access_id=x", prefix: "photos"},
		{in: "azblob://ctr/p?protocol=http&domain=localhost:10001", url: "azblob://ctr?domain=localhost%3A10001&protocol=http", prefix: "p"},
		{in: "blob+file:///srv/data", url: "file:///srv/data"},
		{in: "blob+file:///srv/data?prefix=sub&create_dir=1", url: "file:///srv/data?create_dir=1", prefix: "sub"},
		{in: "BLOB+FILE:///srv", url: "file:///srv"},
		{in: "blob+mem://", url: "mem:"},
		{in: "gs://bkt/a?prefix=b", bad: true},
		{in: "gs://bkt?key=k", bad: true},
		{in: "gs:///path", bad: true},
		{in: "blob+file://", bad: true},
		{in: "/srv/data", bad: true},
		{in: "mem://?prefix=a//b", bad: true},
		{in: "mem://?prefix=a/../b", bad: true},
		{in: "mem://?prefix=..", bad: true},
		{in: "gs://bkt/../x", bad: true},
		{in: "gs://bkt/.", bad: true},
		{in: "gs://bkt/%zz", bad: true},
	}
	for _, tc := range tests {
		u, prefix, err := parseURL(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%s: no error, got %s and %q", tc.in, u, prefix)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if u.String() != tc.url || prefix != tc.prefix {
			t.Errorf("%s: got %s and %q, want %s and %q", tc.in, u, prefix, tc.url, tc.prefix)
		}
	}
}

func TestOpenMissingDir(t *testing.T) {
	if _, _, err := Open(ctx, "blob+file://"+filepath.ToSlash(t.TempDir())+"/missing"); err == nil {
		t.Error("opened a missing directory")
	}
}

func put(t *testing.T, b *Bucket, key string, data []byte, o objstore.WriteOptions) (objstore.Object, error) {
	t.Helper()
	w, err := b.NewWriter(ctx, key, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return objstore.Object{}, err
	}
	return w.Commit()
}

func listAll(t *testing.T, b *Bucket, prefix string) map[string]objstore.Object {
	t.Helper()
	got := map[string]objstore.Object{}
	if err := b.List(ctx, prefix, func(o objstore.Object) error { got[o.Key] = o; return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestBucket checks the adapter itself, on both drivers.
func TestBucket(t *testing.T) {
	for _, u := range []string{"mem://", "blob+file://" + filepath.ToSlash(t.TempDir())} {
		t.Run(u[:3], func(t *testing.T) {
			b, _ := open(t, u)
			defer b.Close()
			meta := map[string]string{"async-mtime": "12345"}
			o, err := put(t, b, "d/f", []byte("hello"), objstore.WriteOptions{Size: 5, Meta: meta, IfNoneMatch: true})
			if err != nil {
				t.Fatal(err)
			}
			if o.Key != "d/f" || o.Size != 5 || o.ETag == "" || o.Meta["async-mtime"] != "12345" {
				t.Errorf("committed %+v", o)
			}

			// The token is the same whichever way the object is seen.
			l := listAll(t, b, "d/")["d/f"]
			h, err := b.Head(ctx, "d/f")
			if err != nil {
				t.Fatal(err)
			}
			r, g, err := b.Get(ctx, "d/f", 1)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(r)
			r.Close()
			if string(data) != "ello" || g.Size != 5 || g.Meta["async-mtime"] != "12345" {
				t.Errorf("get: %q, %+v", data, g)
			}
			if l.ETag != o.ETag || h.ETag != o.ETag || g.ETag != o.ETag || l.Meta != nil {
				t.Errorf("tokens: commit %q, list %q (meta %v), head %q, get %q", o.ETag, l.ETag, l.Meta, h.ETag, g.ETag)
			}

			// IfNoneMatch over an object fails and leaves it alone.
			_, err = put(t, b, "d/f", []byte("other"), objstore.WriteOptions{Size: 5, IfNoneMatch: true})
			if !errors.Is(err, objstore.ErrConditionFailed) {
				t.Errorf("IfNoneMatch over an object: %v", err)
			}
			// A rewrite changes the token.
			o2, err := put(t, b, "d/f", []byte("HELLO"), objstore.WriteOptions{Size: 5, Meta: meta})
			if err != nil || o2.ETag == o.ETag {
				t.Errorf("rewrite: %+v, %v (token was %q)", o2, err, o.ETag)
			}

			// Abort stores nothing.
			w, err := b.NewWriter(ctx, "d/aborted", objstore.WriteOptions{Size: 3})
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte("abc"))
			if err := w.Abort(); err != nil {
				t.Error(err)
			}
			if _, err := b.Head(ctx, "d/aborted"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("head of an aborted write: %v", err)
			}

			// Copy without and with new metadata.
			c, err := b.Copy(ctx, "d/f", "e/g", nil)
			if err != nil || c.Key != "e/g" || c.Meta["async-mtime"] != "12345" {
				t.Errorf("copy: %+v, %v", c, err)
			}
			c, err = b.Copy(ctx, "e/g", "e/g", map[string]string{"async-mode": "600"})
			if err != nil || c.Meta["async-mode"] != "600" || c.Meta["async-mtime"] != "" || c.Size != 5 {
				t.Errorf("copy with metadata: %+v, %v", c, err)
			}
			r, _, err = b.Get(ctx, "e/g", 0)
			if err != nil {
				t.Fatal(err)
			}
			data, _ = io.ReadAll(r)
			r.Close()
			if !bytes.Equal(data, []byte("HELLO")) {
				t.Errorf("copy holds %q", data)
			}
			if _, err := b.Copy(ctx, "missing", "x", nil); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("copy of a missing object: %v", err)
			}

			// Missing objects.
			if _, err := b.Head(ctx, "d"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("head of a prefix: %v", err)
			}
			if _, _, err := b.Get(ctx, "missing", 0); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("get of a missing object: %v", err)
			}
			if err := b.Delete(ctx, "missing"); err != nil {
				t.Errorf("delete of a missing object: %v", err)
			}
			if err := b.Delete(ctx, "d/f"); err != nil {
				t.Error(err)
			}
			if got := listAll(t, b, ""); len(got) != 1 || got["e/g"].Key == "" {
				t.Errorf("left %v", got)
			}
		})
	}
}

// TestFileSpecialNames is the part of the suite's ScanSpecialNames that
// fileblob can do: its temporary files and metadata sidecars add up to 21
// bytes to a name, so names of 235 bytes and more cannot be stored.
func TestFileSpecialNames(t *testing.T) {
	b, _ := open(t, "blob+file://"+filepath.ToSlash(t.TempDir()))
	f := objstore.New(b, "", objstore.Options{})
	defer f.Close()
	names := []string{"with space/file name.txt", "unicode/caf\u00e9.txt", "unicode/cafe\u0301.txt",
		".hidden/.dotfile", "long/" + strings.Repeat("n", 234), "a/b/c/d/e/f/g/h/i/j/k/leaf"}
	for _, p := range names {
		w, err := f.Create(ctx, p, core.CreateOptions{Size: 1, Replace: core.Precondition{Any: true}})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("x"))
		if _, err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]core.Entry{}
	err := f.Scan(ctx, core.ScanOptions{}, func(e core.Entry) error { got[e.Path] = e; return nil })
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range names {
		if e, ok := got[p]; !ok || e.Type != core.TypeFile || e.Size != 1 {
			t.Errorf("%q: %+v, %v", p, e, ok)
		}
	}
	if len(got) != len(names)+15 {
		t.Errorf("scan found %d entries", len(got))
	}
}

// TestPartialKeyRefused: a partial-file key that is not a name (it
// arrives from a plan file or another process) is refused by the object
// store layer, which would put it in the name of an upload's marker.
func TestPartialKeyRefused(t *testing.T) {
	b, prefix := open(t, "mem://")
	f := objstore.New(b, prefix, objstore.Options{})
	defer f.Close()
	for _, key := range []string{"../escape", "a/b", "with space", strings.Repeat("k", core.MaxPartialKey+1)} {
		w, err := f.Create(ctx, "f", core.CreateOptions{Size: 1, Replace: core.MustNotExist, Partial: key})
		if err == nil {
			w.Abort()
			t.Errorf("partial key %q accepted", key)
		} else if !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("partial key %q: %v, want fs.ErrInvalid", key, err)
		}
	}
	w, err := f.Create(ctx, "f", core.CreateOptions{Size: 1, Replace: core.MustNotExist, Partial: "TOKEN0-abc_1"})
	if err != nil {
		t.Fatalf("a valid key: %v", err)
	}
	w.Write([]byte("x"))
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}
