package ssh

// Fuzz targets for what arrives from the wire: `make fuzz` runs each for a
// bounded time; `go test` runs their seeds.

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/async-sync/async/core"
)

// FuzzFrameDecoder feeds arbitrary bytes to the frame reader and every
// field decoder: they fail cleanly, never panic, and never allocate past
// what the bytes hold.
func FuzzFrameDecoder(f *testing.F) {
	for _, q := range pathRequests("../x") {
		f.Add(rawFrame(q.op, 1, q.b))
	}
	f.Add(rawFrame(opScan, 2, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}))
	f.Add([]byte{0, 0, 0, 3, opStat, 1, 0})
	f.Add(rawFrame(opHello|compressedOp, 1, []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := newConn(bytes.NewReader(b), io.Discard)
		defer c.stop()
		cc, _ := newCodec("zstd")
		c.peer.Store(&codecBox{cc})
		for range 64 {
			fr, err := c.recv()
			if err != nil {
				return
			}
			if len(fr.payload) > maxPayload {
				t.Fatalf("a payload of %d bytes", len(fr.payload))
			}
			for _, decode := range []func(d *dec){
				func(d *dec) { d.entry() }, func(d *dec) { d.pre() }, func(d *dec) { d.attrs() },
				func(d *dec) { d.createOpts() }, func(d *dec) { d.strs() }, func(d *dec) { d.xattrs() },
				func(d *dec) { d.scanOpts() }, func(d *dec) { d.meta() }, func(d *dec) { d.record() },
				func(d *dec) { decodeHello(d) }, func(d *dec) { decodeError(d.b) },
			} {
				decode(&dec{b: fr.payload})
			}
		}
	})
}

// FuzzResolve: whatever the client names, a confined path resolves to a
// path below the docroot, or is refused.
func FuzzResolve(f *testing.F) {
	for _, p := range []string{"/", "~", "~/x", "../x", "/a/../../b", "a\x00b", "//x", "/./x/.", "~/../x", ".../x"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rel, err := docroot{dir: "/srv/doc", home: "/home/u"}.resolve(p)
		if err != nil {
			return
		}
		if rel != "." && !filepath.IsLocal(rel) {
			t.Fatalf("%q resolved to %q, which leaves the docroot", p, rel)
		}
	})
}

// FuzzAgentRequests runs the agent on a temporary docroot (with links that
// point out) and sends it the fuzzed bytes as a run of requests after a
// valid hello: nothing outside the docroot may change.
func FuzzAgentRequests(f *testing.F) {
	seed := func(reqs ...[]byte) []byte { return bytes.Join(reqs, nil) }
	req := func(op byte, payload []byte) []byte {
		b := []byte{op}
		b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
		return append(b, payload...)
	}
	for _, p := range []string{"../out/secret.txt", "link/secret.txt", "link/new", "/etc/passwd", "data/fl"} {
		var all [][]byte
		for _, q := range pathRequests(p) {
			all = append(all, req(q.op, q.b))
		}
		f.Add(seed(all...))
	}
	var create, write, commit enc
	create.u(1)
	create.s("got")
	create.createOpts(core.CreateOptions{Replace: core.Precondition{Any: true}, Partial: "x/../../../out/p"})
	write.u(1)
	write.bytes([]byte("pwned"))
	commit.u(1)
	f.Add(seed(req(opMkdir, append(encS(core.PartialPrefix+"x"), 0x7f)), req(opCreate, create.b), req(opWrite, write.b), req(opCommit, commit.b)))
	var scan enc
	scan.scanOpts(core.ScanOptions{Threads: 1 << 30})
	f.Add(seed(req(opScan, scan.b), req(opStoreOpen, append(encS("/link/db"), 0))))
	f.Fuzz(func(t *testing.T, b []byte) {
		w := newWorld(t)
		before := w.outside(t)
		cr, aw := io.Pipe()
		ar, cw := io.Pipe()
		done := make(chan error, 1)
		go func() { done <- Serve(context.Background(), ar, aw, w.opts); aw.Close(); ar.Close() }()
		go io.Copy(io.Discard, cr)
		c := newConn(strings.NewReader(""), cw)
		var e enc
		e.s(magic)
		e.u(ProtocolVersion)
		(&hello{root: "/", session: "fz", logDir: "/logs"}).encode(&e)
		c.send(opHello, 1, e.b)
		for id := uint64(2); len(b) >= 3 && id < 200; id++ {
			op, n := b[0], int(binary.BigEndian.Uint16(b[1:3]))
			b = b[3:]
			n = min(n, len(b))
			if op == opWatch { // runs until the connection ends: nothing to learn
				op = opStat
			}
			c.send(op, id, b[:n])
			b = b[n:]
		}
		c.stop()
		cw.Close()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("the agent did not finish:\n%s", buf[:runtime.Stack(buf, true)])
		}
		if after := w.outside(t); after != before {
			t.Fatalf("outside the docroot changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		os.RemoveAll(w.base)
	})
}
