package sftpfs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/backendtest"
	"github.com/async-sync/async/internal/sshdtest"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestCheckPath(t *testing.T) {
	tests := []struct {
		p  string
		ok bool
	}{
		{"", true},
		{"a", true},
		{"a/b/c.txt", true},
		{".hidden/..dots", true},
		{"with space/é", true},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{"..", false},
		{"a/../b", false},
		{"a/..", false},
		{".", false},
		{"a/./b", false},
		{"nul\x00byte", false},
	}
	for _, tc := range tests {
		err := checkPath(tc.p)
		if (err == nil) != tc.ok {
			t.Errorf("checkPath(%q) = %v, want ok=%v", tc.p, err, tc.ok)
		}
		if err != nil && !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("checkPath(%q) = %v, want fs.ErrInvalid", tc.p, err)
		}
	}
}

func TestFullPath(t *testing.T) {
	f := &FS{root: "/srv/tree"}
	tests := []struct{ p, want string }{
		{"", "/srv/tree"},
		{"a", "/srv/tree/a"},
		{"a/b", "/srv/tree/a/b"},
	}
	for _, tc := range tests {
		if got, err := f.full(tc.p); err != nil || got != tc.want {
			t.Errorf("full(%q) = %q, %v; want %q", tc.p, got, err, tc.want)
		}
	}
	if _, err := f.full("../etc/passwd"); err == nil {
		t.Error(`full("../etc/passwd") succeeded`)
	}
}

// dial logs in to s and returns an SFTP client closed when the test ends.
func dial(t *testing.T, s *sshdtest.Server) *sftp.Client {
	t.Helper()
	key, err := os.ReadFile(s.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	hk, err := knownhosts.New(s.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: hk})
	if err != nil {
		t.Fatal(err)
	}
	c, err := sftp.NewClient(conn, sftp.UseConcurrentWrites(true))
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	return c
}

// TestSFTP starts one sshd and runs everything that needs a server
// against it.
func TestSFTP(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	c := dial(t, s)
	ctx := context.Background()

	t.Run("Conformance", func(t *testing.T) {
		backendtest.Run(t, func(t *testing.T) core.Backend {
			b, err := New(c, s.TempDir(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			return b
		})
	})

	t.Run("NewErrors", func(t *testing.T) {
		dir := s.TempDir(t)
		if _, err := New(c, filepath.Join(dir, "missing"), Options{}); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("New on a missing root: %v, want fs.ErrNotExist", err)
		}
		file := filepath.Join(dir, "file")
		if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := New(c, file, Options{}); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("New on a file: %v, want fs.ErrNotExist", err)
		}
	})

	t.Run("InvalidPaths", func(t *testing.T) {
		b, err := New(c, s.TempDir(t), Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"../escape", "/abs", "a//b"} {
			if _, err := b.Stat(ctx, p); !errors.Is(err, fs.ErrInvalid) {
				t.Errorf("stat %q: %v, want fs.ErrInvalid", p, err)
			}
			if _, err := b.Create(ctx, p, core.CreateOptions{}); !errors.Is(err, fs.ErrInvalid) {
				t.Errorf("create %q: %v, want fs.ErrInvalid", p, err)
			}
		}
	})

	t.Run("MTimeSeconds", func(t *testing.T) {
		dir := s.TempDir(t)
		file := filepath.Join(dir, "f")
		if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := New(c, dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		e, err := b.Stat(ctx, "f")
		if err != nil {
			t.Fatal(err)
		}
		if e.MTime.Nanosecond() != 0 || e.UID != s.UID && e.UID != 0 || e.Token != "" {
			t.Errorf("entry %+v: want whole-second mtime, a uid and no token", e)
		}
	})

	t.Run("FollowLinks", func(t *testing.T) {
		dir := s.TempDir(t)
		for _, d := range []string{"real/sub"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		os.WriteFile(filepath.Join(dir, "real/sub/f"), []byte("abc"), 0o644)
		os.Symlink("real", filepath.Join(dir, "linkdir"))
		os.Symlink("..", filepath.Join(dir, "real/sub/loop"))
		os.Symlink("nowhere", filepath.Join(dir, "dangling"))
		s.Chown(t, dir)
		b, err := New(c, dir, Options{FollowLinks: true})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]core.Entry{}
		err = b.Scan(ctx, core.ScanOptions{Threads: 1}, func(e core.Entry) error {
			got[e.Path] = e
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for p, typ := range map[string]core.Type{"linkdir": core.TypeDir, "linkdir/sub/f": core.TypeFile, "real/sub/f": core.TypeFile} {
			if got[p].Type != typ {
				t.Errorf("%s = %+v, want a %s", p, got[p], typ)
			}
		}
		for _, p := range []string{"dangling", "real/sub/loop", "linkdir/sub/loop"} {
			if _, ok := got[p]; ok {
				t.Errorf("%s reported: %+v", p, got[p])
			}
		}
	})

	t.Run("ChownRefused", func(t *testing.T) {
		b, err := New(c, s.TempDir(t), Options{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := b.Create(ctx, "f", core.CreateOptions{Size: 1})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("x"))
		if _, err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		root := 0
		if _, err := b.SetAttr(ctx, "f", core.Attrs{UID: &root}); !errors.Is(err, core.ErrOwner) {
			t.Errorf("chown to root as %s: %v, want ErrOwner", s.User, err)
		}
	})

	t.Run("TempToken", func(t *testing.T) {
		dir := s.TempDir(t)
		if _, err := New(c, dir, Options{TempToken: "../x"}); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("New with token ../x: %v, want fs.ErrInvalid", err)
		}
		const token = "0123456789abcdef"
		b, err := New(c, dir, Options{TempToken: token})
		if err != nil {
			t.Fatal(err)
		}
		// A writer left uncommitted stands for a run killed mid-transfer.
		w, err := b.Create(ctx, "f", core.CreateOptions{Size: 3})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("abc"))
		w.(*writer).buf.Flush()
		others := []string{core.ReservedPrefix + "fedcba9876543210-x", core.ReservedPrefix + "0123456789abcdef0123",
			core.ReservedPrefix + "partial-y"}
		for _, o := range others {
			os.WriteFile(filepath.Join(dir, o), []byte("user"), 0o644)
		}
		reserved := func() (own, rest []string) {
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				switch n := e.Name(); {
				case strings.HasPrefix(n, core.ReservedPrefix+token+"-"):
					own = append(own, n)
				case core.IsReserved(n):
					rest = append(rest, n)
				}
			}
			return own, rest
		}
		if own, _ := reserved(); len(own) != 1 {
			t.Fatalf("temporaries with the token: %v, want the writer's", own)
		}
		scan := func(b *FS) {
			t.Helper()
			if err := b.Scan(ctx, core.ScanOptions{}, func(core.Entry) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
		// Another session's scan, or one without a token, leaves it.
		for _, tok := range []string{"", "1111111111111111"} {
			other, err := New(c, dir, Options{TempToken: tok})
			if err != nil {
				t.Fatal(err)
			}
			scan(other)
			if own, _ := reserved(); len(own) != 1 {
				t.Errorf("a scan with token %q removed the session's temporary", tok)
			}
		}
		scan(b)
		own, rest := reserved()
		if len(own) != 0 {
			t.Errorf("the session's scan left its temporary %v", own)
		}
		if len(rest) != len(others) {
			t.Errorf("reserved names left: %v, want %v (not the session's)", rest, others)
		}
	})

	t.Run("SetAttrLeavesLinksAlone", func(t *testing.T) {
		dir := s.TempDir(t)
		target := filepath.Join(dir, "target")
		os.WriteFile(target, []byte("t"), 0o644)
		os.Symlink("target", filepath.Join(dir, "link"))
		s.Chown(t, dir)
		b, err := New(c, dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		mode := fs.FileMode(0o600)
		e, err := b.SetAttr(ctx, "link", core.Attrs{Mode: &mode})
		if err != nil || e.Type != core.TypeSymlink {
			t.Fatalf("setattr on a link: %+v, %v", e, err)
		}
		if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o644 {
			t.Errorf("setattr on a link changed its target to %v", fi.Mode())
		}
	})
}
