package client

// The other direction of trust: the client trusts nothing the server's
// agent says. A fake agent answers scans with paths that climb out, are
// absolute, go through links it also announces, or hold NUL; a pull must
// write nothing outside -d.

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/async-sync/async/backends/local"
	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/snapshot"
)

// fakeAgent serves a made-up tree: entries by path, and their content.
type fakeAgent struct {
	entries []core.Entry
	content map[string]string
}

func (fa *fakeAgent) serve(r io.Reader, w io.Writer) {
	c := protocol.NewConn(r, w)
	defer c.Stop()
	for {
		f, err := c.Recv()
		if err != nil {
			return
		}
		d := &protocol.Dec{B: f.Payload}
		var e protocol.Enc
		switch f.Op {
		case protocol.OpHello:
			e.Uint(protocol.ProtocolVersion)
			e.Uint(protocol.CapsBits(core.Caps{Dirs: true, Rename: true, SetMTime: true, SetMode: true, Symlinks: true, Filesystem: true}))
			e.Entry(&core.Entry{Type: core.TypeDir, Mode: 0o755})
			c.Send(protocol.OpOK, f.ID, e.B)
		case protocol.OpScan:
			var items protocol.Enc
			items.Uint(uint64(len(fa.entries)))
			for i := range fa.entries {
				items.Entry(&fa.entries[i])
			}
			c.Send(protocol.OpItems, f.ID, items.B)
			c.Send(protocol.OpOK, f.ID, nil)
		case protocol.OpStat, protocol.OpOpen, protocol.OpHash:
			p := d.Str()
			var en *core.Entry
			for i := range fa.entries {
				if fa.entries[i].Path == p {
					en = &fa.entries[i]
				}
			}
			if en == nil {
				c.Send(protocol.OpError, f.ID, protocol.ErrPayload(fs.ErrNotExist))
				continue
			}
			switch f.Op {
			case protocol.OpStat:
				e.Entry(en)
				c.Send(protocol.OpEntry, f.ID, e.B)
			case protocol.OpOpen:
				e.Entry(en)
				e.Bool(true)
				e.Bytes([]byte(fa.content[p]))
				c.Send(protocol.OpData, f.ID, e.B)
			default:
				e.Str("0000")
				e.Entry(en)
				c.Send(protocol.OpOK, f.ID, e.B)
			}
		case protocol.OpXattrs:
			e.Xattrs(nil)
			c.Send(protocol.OpOK, f.ID, e.B)
		case protocol.OpCancel, protocol.OpCloseFile, protocol.OpAbort, protocol.OpWrite, protocol.OpCreate, protocol.OpStorePut, protocol.OpStoreDelete:
		default:
			c.Send(protocol.OpError, f.ID, protocol.ErrPayload(core.ErrUnsupported))
		}
	}
}

func TestMaliciousAgentCannotWriteOutsideD(t *testing.T) {
	base := t.TempDir()
	dst, outside := filepath.Join(base, "d"), filepath.Join(base, "outside")
	os.MkdirAll(dst, 0o755)
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "keep"), []byte("mine"), 0o644)
	now := time.Now().Add(-time.Hour)
	file := func(p, content string) core.Entry {
		return core.Entry{Path: p, Type: core.TypeFile, Size: int64(len(content)), MTime: now, Mode: 0o644}
	}
	fa := &fakeAgent{content: map[string]string{}}
	add := func(en core.Entry, content string) {
		fa.entries = append(fa.entries, en)
		fa.content[en.Path] = content
	}
	add(file("../escape", "x"), "x")
	add(file(filepath.Join(outside, "abs"), "x"), "x")
	add(file("a/../../escape2", "x"), "x")
	add(core.Entry{Path: "lnk", Type: core.TypeSymlink, Target: outside, MTime: now, Mode: 0o777}, "")
	add(file("lnk/through", "x"), "x")
	add(file("lnk/keep", "theirs"), "theirs")
	add(core.Entry{Path: "dir", Type: core.TypeDir, MTime: now, Mode: 0o755}, "")
	add(file("dir/ok", "fine"), "fine")
	add(file("nul\x00/x", "x"), "x")
	add(file(core.PrivateDir+"/evil/pid", "x"), "x")
	add(file("", "x"), "x")
	add(file("short", "only a few bytes"), "this content is longer than the size announced")

	cr, aw := io.Pipe()
	ar, cw := io.Pipe()
	go func() { fa.serve(ar, aw); aw.Close() }()
	cl, err := New(context.Background(), cr, cw, closerFunc(func() error { return cw.Close() }), protocol.Hello{Root: "/", Session: "evil"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	lb, err := local.Open(dst, local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	stores := [2]*snapshot.DB{}
	for i, dir := range []string{filepath.Join(base, "db-local"), filepath.Join(base, "db-remote")} {
		if stores[i], err = snapshot.Open(dir, snapshot.Options{}); err != nil {
			t.Fatal(err)
		}
		defer stores[i].Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = core.Sync(ctx, &core.Endpoint{Backend: lb, Store: stores[0], URL: "file://" + dst},
		&core.Endpoint{Backend: cl, Store: stores[1], URL: "ssh://evil/"},
		core.Options{Session: "evil", Policy: core.Policy{Direction: core.Pull, Overwrite: core.OverwriteAlways}, Stats: &core.Stats{}})
	t.Logf("sync: %v", err)
	filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			t.Logf("in -d: %s %v", p[len(dst):], d.Type())
		}
		return nil
	})
	// Outside -d: exactly what was there.
	var seen []string
	filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(base, p)
		if err != nil || rel == "d" || strings.HasPrefix(rel, "db-") {
			if d != nil && d.IsDir() && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		seen = append(seen, rel)
		return nil
	})
	if got := strings.Join(seen, " "); got != ". outside outside/keep" {
		t.Errorf("outside -d: %s", got)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "keep")); string(b) != "mine" {
		t.Errorf("a file outside -d was overwritten: %q", b)
	}
	// Inside -d, the honest entries arrived.
	if b, err := os.ReadFile(filepath.Join(dst, "dir", "ok")); err != nil || string(b) != "fine" {
		t.Errorf("dir/ok: %q %v", b, err)
	}
}
