package agent

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

	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
)

// FuzzFrameDecoder feeds arbitrary bytes to the frame reader and every
// field decoder: they fail cleanly, never panic, and never allocate past
// what the bytes hold.
func FuzzFrameDecoder(f *testing.F) {
	for _, q := range pathRequests("../x") {
		f.Add(rawFrame(q.op, 1, q.b))
	}
	f.Add(rawFrame(protocol.OpScan, 2, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}))
	f.Add([]byte{0, 0, 0, 3, protocol.OpStat, 1, 0})
	f.Add(rawFrame(protocol.OpHello|protocol.CompressedOp, 1, []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := protocol.NewConn(bytes.NewReader(b), io.Discard)
		defer c.Stop()
		cc, _ := protocol.NewCodec("zstd")
		c.Peer.Store(&protocol.CodecBox{C: cc})
		for range 64 {
			fr, err := c.Recv()
			if err != nil {
				return
			}
			if len(fr.Payload) > protocol.MaxPayload {
				t.Fatalf("a payload of %d bytes", len(fr.Payload))
			}
			for _, decode := range []func(d *protocol.Dec){
				func(d *protocol.Dec) { d.Entry() }, func(d *protocol.Dec) { d.Precondition() }, func(d *protocol.Dec) { d.Attrs() },
				func(d *protocol.Dec) { d.CreateOptions() }, func(d *protocol.Dec) { d.Strings() }, func(d *protocol.Dec) { d.Xattrs() },
				func(d *protocol.Dec) { d.ScanOptions() }, func(d *protocol.Dec) { d.Meta() }, func(d *protocol.Dec) { d.Record() },
				func(d *protocol.Dec) { protocol.DecodeHello(d) }, func(d *protocol.Dec) { protocol.DecodeError(d.B) },
			} {
				decode(&protocol.Dec{B: fr.Payload})
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
	var create, write, commit protocol.Enc
	create.Uint(1)
	create.Str("got")
	create.CreateOptions(core.CreateOptions{Replace: core.Precondition{Any: true}, Partial: "x/../../../out/p"})
	write.Uint(1)
	write.Bytes([]byte("pwned"))
	commit.Uint(1)
	f.Add(seed(req(protocol.OpMkdir, append(encS(core.PartialPrefix+"x"), 0x7f)), req(protocol.OpCreate, create.B), req(protocol.OpWrite, write.B), req(protocol.OpCommit, commit.B)))
	var credit protocol.Enc
	credit.Uint(2)
	credit.Uint(1 << 40)
	f.Add(seed(req(protocol.OpStoreOpen, append(encS(""), 0)), req(protocol.OpStoreLoad, nil), req(protocol.OpCredit, credit.B)))
	var scan protocol.Enc
	scan.ScanOptions(core.ScanOptions{Threads: 1 << 30})
	f.Add(seed(req(protocol.OpScan, scan.B), req(protocol.OpStoreOpen, append(encS("/link/db"), 0))))
	// Reads at the edges of a file (ids count from 2): an OPEN at the
	// start, at the end and past it, and before it; a READ and two
	// CLOSEFILEs of a handle an OPEN's answer ended (closed already).
	open := func(off int64) []byte {
		var e protocol.Enc
		e.Str("data/f") // 2 bytes
		e.Int(off)
		return req(protocol.OpOpen, e.B)
	}
	var read, closeFile protocol.Enc
	read.Uint(2)
	read.Int(0)
	closeFile.Uint(2)
	f.Add(seed(open(0), open(2), open(1<<40), open(-1), req(protocol.OpRead, read.B), req(protocol.OpCloseFile, closeFile.B), req(protocol.OpCloseFile, closeFile.B)))
	f.Fuzz(func(t *testing.T, b []byte) {
		w := newWorld(t)
		before := w.outside(t)
		cr, aw := io.Pipe()
		ar, cw := io.Pipe()
		done := make(chan error, 1)
		go func() { done <- Serve(context.Background(), ar, aw, withLocal(w.opts)); aw.Close(); ar.Close() }()
		go io.Copy(io.Discard, cr)
		c := protocol.NewConn(strings.NewReader(""), cw)
		var e protocol.Enc
		e.Str(protocol.Magic)
		e.Uint(protocol.ProtocolVersion)
		(&protocol.Hello{Root: "/", Session: "fz", LogDir: "/logs"}).Encode(&e)
		c.Send(protocol.OpHello, 1, e.B)
		for id := uint64(2); len(b) >= 3 && id < 200; id++ {
			op, n := b[0], int(binary.BigEndian.Uint16(b[1:3]))
			b = b[3:]
			n = min(n, len(b))
			if op == protocol.OpWatch { // runs until the connection ends: nothing to learn
				op = protocol.OpStat
			}
			c.Send(op, id, b[:n])
			b = b[n:]
		}
		c.Stop()
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
