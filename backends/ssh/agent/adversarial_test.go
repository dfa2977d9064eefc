package agent

// The adversarial suite: a client that speaks the agent protocol by hand
// (frames built here, not by Client) and tries to leave the docroot, to
// make the agent follow links, and to exhaust it. Every attempt must be
// refused or confined, and nothing outside the docroot may change.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/async-sync/async/backends/ssh/datapath"
	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
)

// rawAgent is an agent served in process, driven frame by frame.
type rawAgent struct {
	t      *testing.T
	c      *protocol.Conn
	cw     io.Closer
	done   chan error // Serve's result
	mu     sync.Mutex
	got    map[uint64][]protocol.Frame
	arrive chan struct{}
	closed atomic.Bool
	next   uint64
}

// startRaw starts Serve on pipes and a reader of its replies.
func startRaw(t *testing.T, o Options) *rawAgent {
	t.Helper()
	cr, aw := io.Pipe()
	ar, cw := io.Pipe()
	r := &rawAgent{t: t, c: protocol.NewConn(cr, cw), cw: cw, done: make(chan error, 1),
		got: map[uint64][]protocol.Frame{}, arrive: make(chan struct{}, 1), next: 100}
	go func() {
		r.done <- Serve(context.Background(), ar, aw, withLocal(o))
		aw.Close()
		ar.Close() // the agent hung up: the client's writes fail, as over SSH
	}()
	go func() {
		for {
			f, err := r.c.Recv()
			if err != nil {
				r.closed.Store(true)
				r.kick()
				return
			}
			r.mu.Lock()
			r.got[f.ID] = append(r.got[f.ID], f)
			r.mu.Unlock()
			r.kick()
		}
	}()
	t.Cleanup(func() {
		cw.Close()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("the agent did not stop")
		}
	})
	return r
}

func (r *rawAgent) kick() {
	select {
	case r.arrive <- struct{}{}:
	default:
	}
}

// send sends one frame and returns its id.
func (r *rawAgent) send(op byte, payload []byte) uint64 {
	r.next++
	r.c.Send(op, r.next, payload)
	return r.next
}

// reply waits for the final reply to id (items are skipped); ok is false
// when the agent hung up first.
func (r *rawAgent) reply(id uint64) (protocol.Frame, bool) {
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		for i, f := range r.got[id] {
			if f.Op != protocol.OpItems {
				r.got[id] = r.got[id][i+1:]
				r.mu.Unlock()
				return f, true
			}
		}
		r.mu.Unlock()
		if r.closed.Load() {
			return protocol.Frame{}, false
		}
		select {
		case <-r.arrive:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			r.t.Fatalf("no reply to request %d", id)
		}
	}
}

// call sends a request and waits for its reply.
func (r *rawAgent) call(op byte, payload []byte) (protocol.Frame, bool) {
	return r.reply(r.send(op, payload))
}

// hello opens the session; it reports the agent's error, if any.
func (r *rawAgent) hello(h protocol.Hello) error {
	var e protocol.Enc
	e.Str(protocol.Magic)
	e.Uint(protocol.ProtocolVersion)
	h.Encode(&e)
	f, ok := r.call(protocol.OpHello, e.B)
	switch {
	case !ok:
		return errors.New("hung up")
	case f.Op == protocol.OpError:
		return protocol.DecodeError(f.Payload)
	}
	return nil
}

// world is a docroot with a secret beside it and links that point there.
type world struct {
	base, doc, out string
	opts           Options
}

const secret = "SECRET-CONTENT"

func newWorld(t *testing.T) *world {
	t.Helper()
	base := t.TempDir()
	w := &world{base: base, doc: filepath.Join(base, "doc"), out: filepath.Join(base, "out")}
	for _, d := range []string{"doc/data", "out", "home", "state"} {
		os.MkdirAll(filepath.Join(base, d), 0o755)
	}
	os.WriteFile(filepath.Join(w.out, "secret.txt"), []byte(secret), 0o644)
	os.WriteFile(filepath.Join(w.doc, "data", "f"), []byte("in"), 0o644)
	w.plant()
	w.opts = Options{Config: &ServerConfig{Users: map[string]UserConfig{"u": {Docroot: w.doc}},
		DataPorts: datapath.PortRange{Lo: 40500, Hi: 40599}}, // a fuzzed DATAOPEN takes no other port
		User: "u", Home: filepath.Join(base, "home"), StateDir: filepath.Join(base, "state"), DataHost: "127.0.0.1"}
	return w
}

// plant (re)creates the links that lead out of the docroot.
func (w *world) plant() {
	for _, l := range []struct{ at, to string }{
		{"link", "../out"}, {"alink", w.out}, {"data/link", "../../out"},
		{"data/fl", "../../out/secret.txt"},
	} {
		p := filepath.Join(w.doc, l.at)
		os.RemoveAll(p)
		os.Symlink(l.to, p)
	}
}

// outside lists everything outside the docroot (with file contents), to
// tell whether anything there changed.
func (w *world) outside(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(w.base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(w.base, p)
		if rel == "doc" || rel == "state" || rel == "home" {
			return filepath.SkipDir
		}
		fmt.Fprintf(&b, "%s %v", rel, d.Type())
		if d.Type().IsRegular() {
			c, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %q", c)
		}
		b.WriteByte('\n')
		return nil
	})
	return b.String()
}

// hostilePaths are path-bearing values that must never reach outside.
func (w *world) hostilePaths() []string {
	return []string{"..", "../out/secret.txt", "data/../../out/secret.txt", "/", "/etc/passwd",
		filepath.Join(w.out, "secret.txt"), "link/secret.txt", "alink/secret.txt", "data/link/secret.txt",
		"data/fl", "link", "link/new", "data/link/new", "data/\x00x", "\x00", strings.Repeat("a", 300),
		strings.Repeat("a/", 3000) + "x", "data/" + strings.Repeat("b", 255), "./data", "data//f", "data/.", ""}
}

// pathRequests are one request per path-bearing field of the protocol.
func pathRequests(p string) []struct {
	name string
	op   byte
	b    []byte
} {
	type req = struct {
		name string
		op   byte
		b    []byte
	}
	var out []req
	add := func(name string, op byte, fill func(e *protocol.Enc)) {
		var e protocol.Enc
		fill(&e)
		out = append(out, req{name, op, e.B})
	}
	mode := fs.FileMode(0o777)
	add("stat", protocol.OpStat, func(e *protocol.Enc) { e.Str(p) })
	add("mkdir", protocol.OpMkdir, func(e *protocol.Enc) { e.Str(p); e.Uint(0o755) })
	add("setattr", protocol.OpSetAttr, func(e *protocol.Enc) { e.Str(p); e.Attrs(core.Attrs{Mode: &mode}) })
	add("rename from", protocol.OpRename, func(e *protocol.Enc) { e.Str(p); e.Str("data/moved"); e.Precondition(core.Precondition{Any: true}) })
	add("rename to", protocol.OpRename, func(e *protocol.Enc) { e.Str("data/f"); e.Str(p); e.Precondition(core.Precondition{Any: true}) })
	add("symlink", protocol.OpSymlink, func(e *protocol.Enc) { e.Str(p); e.Str("x"); e.Precondition(core.Precondition{Any: true}) })
	add("link existing", protocol.OpLink, func(e *protocol.Enc) { e.Str(p); e.Str("data/hl"); e.Precondition(core.Precondition{Any: true}) })
	add("link new", protocol.OpLink, func(e *protocol.Enc) { e.Str("data/f"); e.Str(p); e.Precondition(core.Precondition{Any: true}) })
	add("hash", protocol.OpHash, func(e *protocol.Enc) { e.Str(p); e.Str("sha1") })
	add("xattrs", protocol.OpXattrs, func(e *protocol.Enc) { e.Str(p) })
	add("setxattrs", protocol.OpSetXattrs, func(e *protocol.Enc) { e.Str(p); e.Xattrs(map[string][]byte{"user.x": []byte("y")}) })
	add("open", protocol.OpOpen, func(e *protocol.Enc) { e.Str(p); e.Int(0) })
	add("put", protocol.OpPut, func(e *protocol.Enc) {
		e.Str(p)
		e.CreateOptions(core.CreateOptions{Replace: core.Precondition{Any: true}})
		e.Bytes([]byte("pwned"))
	})
	add("put partial", protocol.OpPut, func(e *protocol.Enc) {
		e.Str("data/g")
		e.CreateOptions(core.CreateOptions{Replace: core.Precondition{Any: true}, Partial: p})
		e.Bytes([]byte("pwned"))
	})
	add("create sync", protocol.OpCreateSync, func(e *protocol.Enc) {
		e.Uint(7)
		e.Str(p)
		e.CreateOptions(core.CreateOptions{Replace: core.Precondition{Any: true}})
	})
	add("store open", protocol.OpStoreOpen, func(e *protocol.Enc) { e.Str(p); e.Bool(false) })
	add("snapshot copy", protocol.OpSnapshot, func(e *protocol.Enc) { e.Uint(protocol.SnapCopy); e.Str(""); e.Str(p) })
	add("snapshot exists", protocol.OpSnapshot, func(e *protocol.Enc) { e.Uint(protocol.SnapExists); e.Str(p); e.Str("") })
	add("remove", protocol.OpRemove, func(e *protocol.Enc) { e.Str(p); e.Precondition(core.Precondition{Any: true}) })
	return out
}

// TestAdversarialPaths sends every path-bearing request with every
// hostile path: replies never carry what lies outside, and nothing
// outside changes.
func TestAdversarialPaths(t *testing.T) {
	w := newWorld(t)
	before := w.outside(t)
	r := startRaw(t, w.opts)
	if err := r.hello(protocol.Hello{Root: "/", Session: "adv"}); err != nil {
		t.Fatal(err)
	}
	// A store of the session, so that snapshot copies have a source.
	if f, _ := r.call(protocol.OpStoreOpen, append(append([]byte{}, encS("")...), 0)); f.Op == protocol.OpError {
		t.Fatalf("store open: %v", protocol.DecodeError(f.Payload))
	}
	r.call(protocol.OpStoreClose, nil)
	for _, p := range w.hostilePaths() {
		for _, q := range pathRequests(p) {
			w.plant()
			f, ok := r.call(q.op, q.b)
			if !ok {
				t.Fatalf("%s %q: the agent hung up", q.name, p)
			}
			if bytes.Contains(f.Payload, []byte(secret)) {
				t.Errorf("%s %q: the reply carries the secret outside the docroot", q.name, p)
			}
			if f.Op == protocol.OpData && q.name == "open" && p != "data//f" {
				t.Logf("%s %q: opened", q.name, p)
			}
		}
	}
	// Abort what a create sync left open.
	var e protocol.Enc
	e.Uint(7)
	r.send(protocol.OpAbort, e.B)
	if after := w.outside(t); after != before {
		t.Errorf("outside the docroot changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func encS(s string) []byte {
	var e protocol.Enc
	e.Str(s)
	return e.B
}

// TestAdversarialHelloPaths: the root, -R and -B of the hello and the
// store never leave the docroot, and are refused as outside it.
func TestAdversarialHelloPaths(t *testing.T) {
	w := newWorld(t)
	before := w.outside(t)
	for _, p := range []string{"../out", "/../out", "/link", "/link/sub", "/alink", "/data/link", "~/../out", "/data/\x00"} {
		for _, h := range []protocol.Hello{{Root: p, Session: "h"}, {Root: p, Session: "h", Create: true},
			{Root: "/data", Session: "h", LogDir: p}} {
			r := startRaw(t, w.opts)
			err := r.hello(h)
			if !errors.Is(err, protocol.ErrOutsideDocroot) {
				t.Errorf("hello %+v: err = %v, want outside the docroot", h, err)
			}
		}
		r := startRaw(t, w.opts)
		if err := r.hello(protocol.Hello{Root: "/data", Session: "h"}); err != nil {
			t.Fatal(err)
		}
		for _, create := range []bool{false, true} {
			var e protocol.Enc
			e.Str(p)
			e.Bool(!create)
			f, _ := r.call(protocol.OpStoreOpen, e.B)
			if f.Op != protocol.OpError || !errors.Is(protocol.DecodeError(f.Payload), protocol.ErrOutsideDocroot) {
				t.Errorf("-B %q: op %d, want an outside-the-docroot error", p, f.Op)
			}
		}
	}
	if after := w.outside(t); after != before {
		t.Errorf("outside the docroot changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestAdversarialPartialKey is the escape the issue found: a partial key
// that is a path, and a commit of what it opened.
func TestAdversarialPartialKey(t *testing.T) {
	w := newWorld(t)
	before := w.outside(t)
	r := startRaw(t, w.opts)
	if err := r.hello(protocol.Hello{Root: "/data", Session: "p"}); err != nil {
		t.Fatal(err)
	}
	// The directory the escape walks through: a name the client may make.
	os.Mkdir(filepath.Join(w.doc, "data", core.PartialPrefix+"x"), 0o755)
	keys := []string{"x/" + strings.Repeat("../", 40) + strings.TrimPrefix(w.out, "/") + "/pwned.txt",
		"../../out/secret.txt", "/" + w.out + "/secret.txt", "a\x00b", strings.Repeat("k", 65), "."}
	for i, key := range keys {
		h := uint64(i + 1)
		var e protocol.Enc
		e.Uint(h)
		e.Str("got")
		e.CreateOptions(core.CreateOptions{Replace: core.Precondition{Any: true}, Partial: key})
		r.send(protocol.OpCreate, e.B)
		var wr protocol.Enc
		wr.Uint(h)
		wr.Bytes([]byte("pwned"))
		r.send(protocol.OpWrite, wr.B)
		var c protocol.Enc
		c.Uint(h)
		f, _ := r.call(protocol.OpCommit, c.B)
		if f.Op != protocol.OpError {
			t.Errorf("partial key %q: committed", key)
		}
	}
	if _, err := os.Stat(filepath.Join(w.doc, "data", "got")); err == nil {
		t.Error("a commit of a bad partial key made a file")
	}
	if after := w.outside(t); after != before {
		t.Errorf("outside the docroot changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestAdversarialSwappedLinks swaps a directory with a link that points
// out while requests go through it: the swap never takes a write out.
func TestAdversarialSwappedLinks(t *testing.T) {
	w := newWorld(t)
	sw, swl := filepath.Join(w.doc, "data", "sw"), filepath.Join(w.doc, "data", "swl")
	os.Mkdir(sw, 0o755)
	os.Symlink(w.out, swl)
	before := w.outside(t)
	r := startRaw(t, w.opts)
	if err := r.hello(protocol.Hello{Root: "/", Session: "sw"}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var swaps atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if unix.Renameat2(unix.AT_FDCWD, sw, unix.AT_FDCWD, swl, unix.RENAME_EXCHANGE) == nil {
				swaps.Add(1)
			}
		}
	})
	deadline := time.Now().Add(1500 * time.Millisecond)
	for i := 0; time.Now().Before(deadline) && i < 100000; i++ {
		for _, q := range pathRequests(fmt.Sprintf("data/sw/x%d", i)) {
			if q.name == "store open" || q.name == "snapshot copy" || q.name == "snapshot exists" {
				continue
			}
			r.send(q.op, q.b)
		}
		var e protocol.Enc
		e.Str(fmt.Sprintf("data/sw/d%d/e", i))
		r.call(protocol.OpMkdir, e.B)
	}
	close(stop)
	wg.Wait()
	if swaps.Load() == 0 {
		t.Fatal("no swap happened")
	}
	// Let the last requests finish before looking.
	var e protocol.Enc
	e.Str("data")
	r.call(protocol.OpStat, e.B)
	// The secret may have been renamed or linked away from inside (rename
	// within the docroot of a name the link showed is refused by the
	// kernel); what matters: nothing new, nothing changed outside.
	os.Remove(swl)
	if after := w.outside(t); after != before {
		t.Errorf("outside the docroot changed (%d swaps):\nbefore:\n%s\nafter:\n%s", swaps.Load(), before, after)
	}
}

// TestAdversarialCounts sends huge counts and lengths: each is refused
// without the agent allocating for it, and the agent goes on serving.
func TestAdversarialCounts(t *testing.T) {
	w := newWorld(t)
	r := startRaw(t, w.opts)
	if err := r.hello(protocol.Hello{Root: "/data", Session: "c"}); err != nil {
		t.Fatal(err)
	}
	var scan protocol.Enc
	scan.ScanOptions(core.ScanOptions{Threads: 100_000_000})
	huge := func(fill func(e *protocol.Enc)) []byte { var e protocol.Enc; fill(&e); return e.B }
	cases := []struct {
		name string
		op   byte
		b    []byte
		want string
	}{
		{"scan threads", protocol.OpScan, scan.B, "scan threads"},
		{"scan pause", protocol.OpScan, huge(func(e *protocol.Enc) { e.ScanOptions(core.ScanOptions{Pause: time.Hour}) }), "pause"},
		{"negative threads", protocol.OpScan, huge(func(e *protocol.Enc) { e.ScanOptions(core.ScanOptions{Threads: -5}) }), "scan threads"},
		{"filter count", protocol.OpScan, huge(func(e *protocol.Enc) { e.Uint(1 << 62) }), "truncated"},
		{"string length", protocol.OpStat, huge(func(e *protocol.Enc) { e.Uint(1 << 62) }), "truncated"},
		{"xattr count", protocol.OpSetXattrs, huge(func(e *protocol.Enc) { e.Str("f"); e.Uint(1 << 40) }), "truncated"},
		{"strs count", protocol.OpStoreSetMeta, huge(func(e *protocol.Enc) {
			for range 6 {
				e.Str("")
			}
			e.Uint(1 << 50)
		}), ""},
		{"varint overflow", protocol.OpRead, bytes.Repeat([]byte{0xff}, 20), "truncated"},
	}
	for _, c := range cases {
		f, ok := r.call(c.op, c.b)
		if !ok {
			t.Fatalf("%s: the agent hung up", c.name)
		}
		if f.Op != protocol.OpError || !strings.Contains(protocol.DecodeError(f.Payload).Error(), c.want) {
			t.Errorf("%s: op %d %v, want an error with %q", c.name, f.Op, protocol.DecodeError(f.Payload), c.want)
		}
	}
	// Still serving.
	if f, _ := r.call(protocol.OpStat, encS("f")); f.Op != protocol.OpEntry {
		t.Errorf("after the hostile counts: op %d", f.Op)
	}
	// Files open for writing are capped.
	for h := uint64(1); h <= protocol.MaxOpenFiles+5; h++ {
		var e protocol.Enc
		e.Uint(h)
		e.Str(fmt.Sprintf("w%d", h))
		e.CreateOptions(core.CreateOptions{Replace: core.Precondition{Any: true}})
		r.send(protocol.OpCreate, e.B)
	}
	var c protocol.Enc
	c.Uint(protocol.MaxOpenFiles + 5)
	if f, _ := r.call(protocol.OpCommit, c.B); f.Op != protocol.OpError || !strings.Contains(protocol.DecodeError(f.Payload).Error(), "files open") {
		t.Errorf("file %d open for writing: op %d", protocol.MaxOpenFiles+5, f.Op)
	}
	for h := uint64(1); h <= protocol.MaxOpenFiles+5; h++ {
		var e protocol.Enc
		e.Uint(h)
		r.send(protocol.OpAbort, e.B)
	}
}

// TestAdversarialFrames: bad frame lengths, compression nobody agreed on,
// and a decompression bomb end the connection; nothing is allocated for
// them.
func TestAdversarialFrames(t *testing.T) {
	w := newWorld(t)
	bomb := func() []byte {
		enc, _ := zstd.NewWriter(nil)
		return enc.EncodeAll(make([]byte, 64<<20), nil)
	}()
	for _, c := range []struct {
		name  string
		zstd  bool
		frame []byte
	}{
		{"length 4 GiB", false, []byte{0xff, 0xff, 0xff, 0xff}},
		{"length over the maximum", false, binary.BigEndian.AppendUint32(nil, protocol.MaxFrame+1)},
		{"length 1", false, []byte{0, 0, 0, 1, protocol.OpStat}},
		{"bad id", false, append(binary.BigEndian.AppendUint32(nil, 11), append([]byte{protocol.OpStat}, bytes.Repeat([]byte{0xff}, 10)...)...)},
		{"compressed, not agreed", false, rawFrame(protocol.OpStat|protocol.CompressedOp, 1, []byte("xx"))},
		{"decompression bomb", true, rawFrame(protocol.OpPut|protocol.CompressedOp, 1, bomb)},
	} {
		t.Run(c.name, func(t *testing.T) {
			cr, aw := io.Pipe()
			ar, cw := io.Pipe()
			done := make(chan error, 1)
			go func() { done <- Serve(context.Background(), ar, aw, withLocal(w.opts)); aw.Close(); ar.Close() }()
			go io.Copy(io.Discard, cr)
			cl := protocol.NewConn(strings.NewReader(""), cw)
			var e protocol.Enc
			e.Str(protocol.Magic)
			e.Uint(protocol.ProtocolVersion)
			h := protocol.Hello{Root: "/data", Session: "f"}
			if c.zstd {
				h.Compression = "zstd"
			}
			h.Encode(&e)
			cl.Send(protocol.OpHello, 1, e.B)
			cl.Stop()
			go cw.Write(c.frame)
			select {
			case err := <-done:
				if err == nil {
					t.Error("the agent took the frame")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the agent is still waiting")
			}
			cw.Close()
		})
	}
}

func rawFrame(op byte, id uint64, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0)
	b = append(b, op)
	b = binary.AppendUvarint(b, id)
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// TestAdversarialOrder: frames out of order are refused, and the agent
// keeps its state consistent.
func TestAdversarialOrder(t *testing.T) {
	w := newWorld(t)
	r := startRaw(t, w.opts)
	if f, ok := r.call(protocol.OpStat, encS("f")); ok && f.Op != protocol.OpError {
		t.Errorf("a request before the hello: op %d", f.Op)
	}
	if err := <-r.done; err == nil {
		t.Error("a request before the hello did not end the connection")
	}
	r.done <- nil // for the cleanup

	r = startRaw(t, w.opts)
	if err := r.hello(protocol.Hello{Root: "/data", Session: "o"}); err != nil {
		t.Fatal(err)
	}
	var u9 protocol.Enc
	u9.Uint(9)
	var wr protocol.Enc
	wr.Uint(9)
	wr.Bytes([]byte("x"))
	r.send(protocol.OpWrite, wr.B) // to no file: dropped
	var cr protocol.Enc
	cr.Uint(9)
	cr.Uint(1 << 62)
	r.send(protocol.OpCredit, cr.B) // to no stream: dropped
	r.send(protocol.OpCredit, nil)  // truncated: dropped
	for _, c := range []struct {
		name string
		op   byte
		b    []byte
	}{
		{"commit of nothing", protocol.OpCommit, u9.B},
		{"keep of nothing", protocol.OpKeep, u9.B},
		{"read of nothing", protocol.OpRead, append(append([]byte{}, u9.B...), 0)},
		{"a reply as a request", protocol.OpItems, nil},
		{"an unknown op", 77, nil},
		{"store meta before open", protocol.OpStoreMeta, nil},
		{"store load before open", protocol.OpStoreLoad, nil},
	} {
		if f, ok := r.call(c.op, c.b); !ok || f.Op != protocol.OpError {
			t.Errorf("%s: op %d (hung up: %v), want an error", c.name, f.Op, !ok)
		}
	}
	r.send(protocol.OpStorePut, nil)
	if f, _ := r.call(protocol.OpStoreFlush, nil); f.Op != protocol.OpError {
		t.Errorf("store put before open: flush op %d", f.Op)
	}
	// A second hello (another root, another token) is refused.
	if err := r.hello(protocol.Hello{Root: "/", Session: "o"}); err == nil {
		t.Error("a second hello was accepted")
	}
}

// TestAdversarialTokenIsolation: sessions of two access keys share the
// configured db_dir but never each other's snapshots, whatever the
// session name.
func TestAdversarialTokenIsolation(t *testing.T) {
	w := newWorld(t)
	os.MkdirAll(filepath.Join(w.doc, "a"), 0o755)
	os.MkdirAll(filepath.Join(w.doc, "b"), 0o755)
	os.WriteFile(filepath.Join(w.doc, "b", "private"), []byte(secret), 0o644)
	db := filepath.Join(w.base, "db")
	os.Mkdir(db, 0o700)
	w.opts.Config.Users["u"] = UserConfig{Docroot: w.doc, DBDir: db}
	w.opts.Config.Keys = map[string]AccessKey{"AK1": {Secret: "s1", Root: filepath.Join(w.doc, "a")},
		"AK2": {Secret: "s2", Root: filepath.Join(w.doc, "b")}}
	tok := func(id, s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+s)) }
	open := func(token string) *rawAgent {
		r := startRaw(t, w.opts)
		if err := r.hello(protocol.Hello{Root: "/", Session: "same", Token: token}); err != nil {
			t.Fatal(err)
		}
		var e protocol.Enc
		e.Str("")
		e.Bool(false)
		if f, _ := r.call(protocol.OpStoreOpen, e.B); f.Op == protocol.OpError {
			t.Fatal(protocol.DecodeError(f.Payload))
		}
		return r
	}
	r := open(tok("AK2", "s2"))
	var m protocol.Enc
	m.Meta(core.Meta{Session: "same", Local: "file:///b-secret-tree"})
	if f, _ := r.call(protocol.OpStoreSetMeta, m.B); f.Op == protocol.OpError {
		t.Fatal(protocol.DecodeError(f.Payload))
	}
	r.call(protocol.OpStoreClose, nil)
	r = open(tok("AK1", "s1"))
	f, _ := r.call(protocol.OpStoreMeta, nil)
	if d := (protocol.Dec{B: f.Payload}); f.Op != protocol.OpOK || d.Bool() {
		t.Errorf("key AK1 sees the snapshot key AK2 wrote (op %d)", f.Op)
	}
	for _, p := range []string{"../b/private", "/../b/private", "b/private"} {
		if f, _ := r.call(protocol.OpOpen, append(encS(p), 0)); f.Op != protocol.OpError || bytes.Contains(f.Payload, []byte(secret)) {
			t.Errorf("key AK1 opened %q in key AK2's root", p)
		}
	}
}

// TestAgentFilesRefuseLinks: links planted where the agent keeps its log,
// pid and snapshot files never take a write outside the docroot.
func TestAgentFilesRefuseLinks(t *testing.T) {
	w := newWorld(t)
	victim := filepath.Join(w.out, "victim")
	os.WriteFile(victim, []byte("untouched"), 0o644)
	before := w.outside(t)
	// -R inside the docroot, its log a link out.
	os.MkdirAll(filepath.Join(w.doc, "logs"), 0o755)
	os.Symlink("../../out/victim", filepath.Join(w.doc, "logs", "async-lg.log"))
	r := startRaw(t, w.opts)
	if err := r.hello(protocol.Hello{Root: "/data", Session: "lg", LogDir: "/logs", Cookie: "c"}); err == nil {
		t.Error("a log that is a link out was opened")
	}
	// -B inside the docroot, its pid (or any file) a link out.
	for _, dir := range []string{"/snap", ""} {
		sdir := filepath.Join(w.doc, "snap", "sn")
		if dir == "" {
			sdir = filepath.Join(w.doc, "data", core.PrivateDir, "sn")
		}
		os.MkdirAll(sdir, 0o700)
		for _, name := range []string{"pid", "LOCK", "MANIFEST"} {
			os.Symlink(victim, filepath.Join(sdir, name))
			r := startRaw(t, w.opts)
			if err := r.hello(protocol.Hello{Root: "/data", Session: "sn"}); err != nil {
				t.Fatal(err)
			}
			var e protocol.Enc
			e.Str(dir)
			e.Bool(false)
			if f, _ := r.call(protocol.OpStoreOpen, e.B); f.Op != protocol.OpError {
				t.Errorf("-B %q with %s a link out: opened", dir, name)
			}
			os.Remove(filepath.Join(sdir, name))
		}
	}
	if after := w.outside(t); after != before {
		t.Errorf("outside the docroot changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestAgentLogEscapesUntrusted: a cookie and a session's names cannot
// forge log lines.
func TestAgentLogEscapesUntrusted(t *testing.T) {
	w := newWorld(t)
	r := startRaw(t, w.opts)
	if err := r.hello(protocol.Hello{Root: "/data", Session: "ck", LogDir: "/logs", Debug: true,
		Cookie: "job\ntime=2000-01-01T00:00:00Z level=ERROR msg=forged"}); err != nil {
		t.Fatal(err)
	}
	r.call(protocol.OpStat, encS("no\nsuch=file"))
	r.cw.Close()
	<-r.done
	r.done <- nil
	b, err := os.ReadFile(filepath.Join(w.doc, "logs", "async-ck.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		t.Fatalf("log:\n%s", b)
	}
	for _, l := range lines {
		if strings.Contains(l, "msg=forged") && !strings.Contains(l, `\n`) {
			t.Errorf("a forged line: %q", l)
		}
		if !strings.HasPrefix(l, "time=") || strings.HasPrefix(l, "time=2000") {
			t.Errorf("a line the agent did not write: %q", l)
		}
	}
}

// TestAgentMemoryBound: a client that sends large requests and reads no
// reply makes the agent hold a bounded number of them.
func TestAgentMemoryBound(t *testing.T) {
	w := newWorld(t)
	cr, aw := io.Pipe()
	ar, cw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Serve(context.Background(), ar, aw, withLocal(w.opts)); aw.Close(); ar.Close() }()
	cl := protocol.NewConn(cr, cw)
	var e protocol.Enc
	e.Str(protocol.Magic)
	e.Uint(protocol.ProtocolVersion)
	(&protocol.Hello{Root: "/data", Session: "m"}).Encode(&e)
	cl.Send(protocol.OpHello, 1, e.B)
	if f, err := cl.Recv(); err != nil || f.Op != protocol.OpOK {
		t.Fatalf("hello: op %d %v", f.Op, err)
	}
	var put protocol.Enc
	put.Str("big")
	put.CreateOptions(core.CreateOptions{Replace: core.Precondition{Any: true}})
	put.Bytes(make([]byte, protocol.MaxFrame-64))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range 120 { // 960 MiB, if the agent kept them all
			if cl.Send(protocol.OpPut, uint64(10+i), put.B) != nil {
				return
			}
		}
	}()
	// Nothing is read: the agent's replies block, and so do its requests.
	var peak uint64
	for range 40 {
		time.Sleep(50 * time.Millisecond)
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	go io.Copy(io.Discard, cr)
	<-sent
	cl.Stop()
	cw.Close()
	<-done
	if grew := int64(peak) - int64(base); grew > 100<<20 {
		t.Errorf("the agent held %d MiB of requests", grew>>20)
	}
	t.Logf("heap grew by at most %d MiB", (int64(peak)-int64(base))>>20)
}

// TestUnconfinedPathsAreServerPaths: without a configured docroot or a
// token, remote paths are the server's own (relative ones relative to
// home), as with ssh, scp and rsync; ".." is still refused.
func TestUnconfinedPathsAreServerPaths(t *testing.T) {
	base := t.TempDir()
	home, srv := filepath.Join(base, "home"), filepath.Join(base, "srv", "data")
	os.MkdirAll(filepath.Join(home, "rel"), 0o755)
	os.MkdirAll(srv, 0o755)
	o := Options{Home: home, StateDir: filepath.Join(base, "state")}
	for _, c := range []struct{ root, want string }{
		{srv, srv}, {"rel", filepath.Join(home, "rel")}, {"~/rel", filepath.Join(home, "rel")}, {"~", home},
	} {
		r := startRaw(t, o)
		if err := r.hello(protocol.Hello{Root: c.root, Session: "un"}); err != nil {
			t.Fatalf("root %s: %v", c.root, err)
		}
		name := "made-" + strings.NewReplacer("/", "_", "~", "h").Replace(c.root)
		var e protocol.Enc
		e.Str(name)
		e.Uint(0o755)
		if f, _ := r.call(protocol.OpMkdir, e.B); f.Op != protocol.OpEntry {
			t.Fatalf("root %s: mkdir op %d %v", c.root, f.Op, protocol.DecodeError(f.Payload))
		}
		if _, err := os.Stat(filepath.Join(c.want, name)); err != nil {
			t.Errorf("root %s: %v", c.root, err)
		}
	}
	r := startRaw(t, o)
	if err := r.hello(protocol.Hello{Root: srv + "/../data", Session: "un"}); !errors.Is(err, protocol.ErrOutsideDocroot) {
		t.Errorf(`"..": err = %v`, err)
	}
}

// TestSnapshotRemoveOverTheAgent: --reset drops the session's snapshot on
// the server, and a link planted beside it survives untouched.
func TestSnapshotRemoveOverTheAgent(t *testing.T) {
	w := newWorld(t)
	before := w.outside(t)
	r := startRaw(t, w.opts)
	if err := r.hello(protocol.Hello{Root: "/data", Session: "rm"}); err != nil {
		t.Fatal(err)
	}
	var open protocol.Enc
	open.Str("/snap")
	open.Bool(false)
	if f, _ := r.call(protocol.OpStoreOpen, open.B); f.Op == protocol.OpError {
		t.Fatal(protocol.DecodeError(f.Payload))
	}
	r.call(protocol.OpStoreClose, nil)
	os.Symlink(w.out, filepath.Join(w.doc, "snap", "rm", "out-link")) // poisoned: still removable
	var rm protocol.Enc
	rm.Uint(protocol.SnapRemove)
	rm.Str("/snap")
	rm.Str("")
	if f, _ := r.call(protocol.OpSnapshot, rm.B); f.Op == protocol.OpError {
		t.Fatalf("remove: %v", protocol.DecodeError(f.Payload))
	}
	if _, err := os.Stat(filepath.Join(w.doc, "snap", "rm")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the snapshot is still there: %v", err)
	}
	if after := w.outside(t); after != before {
		t.Errorf("outside the docroot changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestAgentDirsInsideTheDocroot: a db_dir, a log_dir or the agent's state
// directory that the administrator put inside the docroot is opened
// through it: a link the client planted in its place does not lead out.
func TestAgentDirsInsideTheDocroot(t *testing.T) {
	w := newWorld(t)
	before := w.outside(t)
	for _, d := range []string{"db", "log", "state"} {
		os.Symlink(w.out, filepath.Join(w.doc, d))
	}
	u := w.opts.Config.Users["u"]
	u.DBDir = filepath.Join(w.doc, "db")
	w.opts.Config.Users["u"] = u
	r := startRaw(t, w.opts)
	if err := r.hello(protocol.Hello{Root: "/data", Session: "in"}); err != nil {
		t.Fatal(err)
	}
	var e protocol.Enc
	e.Str("")
	e.Bool(false)
	if f, _ := r.call(protocol.OpStoreOpen, e.B); f.Op != protocol.OpError {
		t.Error("a db_dir that is a link out was opened")
	}
	u.DBDir, u.LogDir = "", filepath.Join(w.doc, "log")
	w.opts.Config.Users["u"] = u
	if err := startRaw(t, w.opts).hello(protocol.Hello{Root: "/data", Session: "in"}); err == nil {
		t.Error("a log_dir that is a link out was opened")
	}
	u.LogDir = ""
	w.opts.Config.Users["u"] = u
	w.opts.StateDir = filepath.Join(w.doc, "state")
	if err := startRaw(t, w.opts).hello(protocol.Hello{Root: "/data", Session: "in"}); err == nil {
		t.Error("a state directory that is a link out was opened")
	}
	if after := w.outside(t); after != before {
		t.Errorf("outside the docroot changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
