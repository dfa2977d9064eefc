//go:build linux

package local

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/async-sync/async/core"
	"golang.org/x/sys/unix"
)

// TestOpenExpect: the reader OpenExpect returns finds, in the one stat
// once read, a file changed since the scan or while being read, and
// passes one that is as scanned.
func TestOpenExpect(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, p string) // after the scan, before the read ends
		want   error
	}{
		{"unchanged", func(*testing.T, string) {}, nil},
		{"rewritten, same size", func(t *testing.T, p string) {
			st, _ := os.Stat(p)
			os.WriteFile(p, []byte("HELLO"), 0o644)
			os.Chtimes(p, st.ModTime(), st.ModTime()) // mtime put back: the change time tells
		}, core.ErrChangedWhileReading},
		{"grown", func(t *testing.T, p string) {
			f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte("!"))
			f.Close()
		}, core.ErrChangedWhileReading},
		{"touched", func(t *testing.T, p string) {
			os.Chtimes(p, time.Now(), time.Unix(1e9, 0))
		}, core.ErrChangedWhileReading},
		{"chmodded", func(t *testing.T, p string) { os.Chmod(p, 0o600) }, core.ErrChangedWhileReading},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			p := filepath.Join(root, "f")
			if err := os.WriteFile(p, []byte("hello"), 0o644); err != nil {
				t.Fatal(err)
			}
			b := open(t, root)
			defer b.Close()
			want, err := b.Stat(ctx, "f")
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond) // a change gets another change time
			rc, err := b.OpenExpect(ctx, "f", 0, &want)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			tc.change(t, p)
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 5 {
				t.Errorf("read %d bytes, want the scanned 5", len(got))
			}
			if err := rc.(core.ChangeChecker).Unchanged(); !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Errorf("Unchanged = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("replaced by another file", func(t *testing.T) {
		root := t.TempDir()
		p := filepath.Join(root, "f")
		os.WriteFile(p, []byte("hello"), 0o644)
		b := open(t, root)
		defer b.Close()
		want, _ := b.Stat(ctx, "f")
		os.WriteFile(p+".new", []byte("world"), 0o644)
		os.Chtimes(p+".new", want.MTime, want.MTime)
		os.Rename(p+".new", p)
		now, _ := b.Stat(ctx, "f")
		want.Token = now.Token // only the file ID tells
		rc, err := b.OpenExpect(ctx, "f", 0, &want)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := io.ReadAll(rc); err != nil {
			t.Fatal(err)
		}
		if err := rc.(core.ChangeChecker).Unchanged(); !errors.Is(err, core.ErrChangedWhileReading) {
			t.Errorf("Unchanged = %v, want ErrChangedWhileReading", err)
		}
	})
	t.Run("a fifo in its place", func(t *testing.T) {
		root := t.TempDir()
		p := filepath.Join(root, "f")
		os.WriteFile(p, []byte("hello"), 0o644)
		b := open(t, root)
		defer b.Close()
		want, _ := b.Stat(ctx, "f")
		os.Remove(p)
		if err := unix.Mkfifo(p, 0o644); err != nil {
			t.Skip(err)
		}
		rc, err := b.OpenExpect(ctx, "f", 0, &want)
		if err != nil {
			return // refused: fine
		}
		defer rc.Close()
		_, rerr := io.ReadAll(rc)
		if uerr := rc.(core.ChangeChecker).Unchanged(); rerr == nil && uerr == nil {
			t.Errorf("a fifo read as the scanned file")
		}
	})
}
