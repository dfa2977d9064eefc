package ssh

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
	"github.com/async-sync/async/core"
)

// rawAgent is an agent served in process, driven frame by frame.
type rawAgent struct {
	t      *testing.T
	c      *conn
	cw     io.Closer
	done   chan error // Serve's result
	mu     sync.Mutex
	got    map[uint64][]frame
	arrive chan struct{}
	closed atomic.Bool
	next   uint64
}

// startRaw starts Serve on pipes and a reader of its replies.
func startRaw(t *testing.T, o AgentOptions) *rawAgent {
	t.Helper()
	cr, aw := io.Pipe()
	ar, cw := io.Pipe()
	r := &rawAgent{t: t, c: newConn(cr, cw), cw: cw, done: make(chan error, 1),
		got: map[uint64][]frame{}, arrive: make(chan struct{}, 1), next: 100}
	go func() {
		r.done <- Serve(context.Background(), ar, aw, o)
		aw.Close()
		ar.Close() // the agent hung up: the client's writes fail, as over SSH
	}()
	go func() {
		for {
			f, err := r.c.recv()
			if err != nil {
				r.closed.Store(true)
				r.kick()
				return
			}
			r.mu.Lock()
			r.got[f.id] = append(r.got[f.id], f)
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
	r.c.send(op, r.next, payload)
	return r.next
}

// reply waits for the final reply to id (items are skipped); ok is false
// when the agent hung up first.
func (r *rawAgent) reply(id uint64) (frame, bool) {
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		for i, f := range r.got[id] {
			if f.op != opItems {
				r.got[id] = r.got[id][i+1:]
				r.mu.Unlock()
				return f, true
			}
		}
		r.mu.Unlock()
		if r.closed.Load() {
			return frame{}, false
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
func (r *rawAgent) call(op byte, payload []byte) (frame, bool) {
	return r.reply(r.send(op, payload))
}

// hello opens the session; it reports the agent's error, if any.
func (r *rawAgent) hello(h hello) error {
	var e enc
	e.s(magic)
	e.u(ProtocolVersion)
	h.encode(&e)
	f, ok := r.call(opHello, e.b)
	switch {
	case !ok:
		return errors.New("hung up")
	case f.op == opError:
		return decodeError(f.payload)
	}
	return nil
}

// world is a docroot with a secret beside it and links that point there.
type world struct {
	base, doc, out string
	opts           AgentOptions
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
	w.opts = AgentOptions{Config: &ServerConfig{Users: map[string]UserConfig{"u": {Docroot: w.doc}},
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
	add := func(name string, op byte, fill func(e *enc)) {
		var e enc
		fill(&e)
		out = append(out, req{name, op, e.b})
	}
	mode := fs.FileMode(0o777)
	add("stat", opStat, func(e *enc) { e.s(p) })
	add("mkdir", opMkdir, func(e *enc) { e.s(p); e.u(0o755) })
	add("setattr", opSetAttr, func(e *enc) { e.s(p); e.attrs(core.Attrs{Mode: &mode}) })
	add("rename from", opRename, func(e *enc) { e.s(p); e.s("data/moved"); e.pre(core.Precondition{Any: true}) })
	add("rename to", opRename, func(e *enc) { e.s("data/f"); e.s(p); e.pre(core.Precondition{Any: true}) })
	add("symlink", opSymlink, func(e *enc) { e.s(p); e.s("x"); e.pre(core.Precondition{Any: true}) })
	add("link existing", opLink, func(e *enc) { e.s(p); e.s("data/hl"); e.pre(core.Precondition{Any: true}) })
	add("link new", opLink, func(e *enc) { e.s("data/f"); e.s(p); e.pre(core.Precondition{Any: true}) })
	add("hash", opHash, func(e *enc) { e.s(p); e.s("sha1") })
	add("xattrs", opXattrs, func(e *enc) { e.s(p) })
	add("setxattrs", opSetXattrs, func(e *enc) { e.s(p); e.xattrs(map[string][]byte{"user.x": []byte("y")}) })
	add("open", opOpen, func(e *enc) { e.s(p); e.i(0) })
	add("put", opPut, func(e *enc) {
		e.s(p)
		e.createOpts(core.CreateOptions{Replace: core.Precondition{Any: true}})
		e.bytes([]byte("pwned"))
	})
	add("put partial", opPut, func(e *enc) {
		e.s("data/g")
		e.createOpts(core.CreateOptions{Replace: core.Precondition{Any: true}, Partial: p})
		e.bytes([]byte("pwned"))
	})
	add("create sync", opCreateSync, func(e *enc) { e.u(7); e.s(p); e.createOpts(core.CreateOptions{Replace: core.Precondition{Any: true}}) })
	add("store open", opStoreOpen, func(e *enc) { e.s(p); e.bool(false) })
	add("snapshot copy", opSnapshot, func(e *enc) { e.u(snapCopy); e.s(""); e.s(p) })
	add("snapshot exists", opSnapshot, func(e *enc) { e.u(snapExists); e.s(p); e.s("") })
	add("remove", opRemove, func(e *enc) { e.s(p); e.pre(core.Precondition{Any: true}) })
	return out
}

// TestAdversarialPaths sends every path-bearing request with every
// hostile path: replies never carry what lies outside, and nothing
// outside changes.
func TestAdversarialPaths(t *testing.T) {
	w := newWorld(t)
	before := w.outside(t)
	r := startRaw(t, w.opts)
	if err := r.hello(hello{root: "/", session: "adv"}); err != nil {
		t.Fatal(err)
	}
	// A store of the session, so that snapshot copies have a source.
	if f, _ := r.call(opStoreOpen, append(append([]byte{}, encS("")...), 0)); f.op == opError {
		t.Fatalf("store open: %v", decodeError(f.payload))
	}
	r.call(opStoreClose, nil)
	for _, p := range w.hostilePaths() {
		for _, q := range pathRequests(p) {
			w.plant()
			f, ok := r.call(q.op, q.b)
			if !ok {
				t.Fatalf("%s %q: the agent hung up", q.name, p)
			}
			if bytes.Contains(f.payload, []byte(secret)) {
				t.Errorf("%s %q: the reply carries the secret outside the docroot", q.name, p)
			}
			if f.op == opData && q.name == "open" && p != "data//f" {
				t.Logf("%s %q: opened", q.name, p)
			}
		}
	}
	// Abort what a create sync left open.
	var e enc
	e.u(7)
	r.send(opAbort, e.b)
	if after := w.outside(t); after != before {
		t.Errorf("outside the docroot changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func encS(s string) []byte {
	var e enc
	e.s(s)
	return e.b
}

// TestAdversarialHelloPaths: the root, -R and -B of the hello and the
// store never leave the docroot, and are refused as outside it.
func TestAdversarialHelloPaths(t *testing.T) {
	w := newWorld(t)
	before := w.outside(t)
	for _, p := range []string{"../out", "/../out", "/link", "/link/sub", "/alink", "/data/link", "~/../out", "/data/\x00"} {
		for _, h := range []hello{{root: p, session: "h"}, {root: p, session: "h", create: true},
			{root: "/data", session: "h", logDir: p}} {
			r := startRaw(t, w.opts)
			err := r.hello(h)
			if !errors.Is(err, ErrOutsideDocroot) {
				t.Errorf("hello %+v: err = %v, want outside the docroot", h, err)
			}
		}
		r := startRaw(t, w.opts)
		if err := r.hello(hello{root: "/data", session: "h"}); err != nil {
			t.Fatal(err)
		}
		for _, create := range []bool{false, true} {
			var e enc
			e.s(p)
			e.bool(!create)
			f, _ := r.call(opStoreOpen, e.b)
			if f.op != opError || !errors.Is(decodeError(f.payload), ErrOutsideDocroot) {
				t.Errorf("-B %q: op %d, want an outside-the-docroot error", p, f.op)
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
	if err := r.hello(hello{root: "/data", session: "p"}); err != nil {
		t.Fatal(err)
	}
	// The directory the escape walks through: a name the client may make.
	os.Mkdir(filepath.Join(w.doc, "data", core.PartialPrefix+"x"), 0o755)
	keys := []string{"x/" + strings.Repeat("../", 40) + strings.TrimPrefix(w.out, "/") + "/pwned.txt",
		"../../out/secret.txt", "/" + w.out + "/secret.txt", "a\x00b", strings.Repeat("k", 65), "."}
	for i, key := range keys {
		h := uint64(i + 1)
		var e enc
		e.u(h)
		e.s("got")
		e.createOpts(core.CreateOptions{Replace: core.Precondition{Any: true}, Partial: key})
		r.send(opCreate, e.b)
		var wr enc
		wr.u(h)
		wr.bytes([]byte("pwned"))
		r.send(opWrite, wr.b)
		var c enc
		c.u(h)
		f, _ := r.call(opCommit, c.b)
		if f.op != opError {
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
	if err := r.hello(hello{root: "/", session: "sw"}); err != nil {
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
		var e enc
		e.s(fmt.Sprintf("data/sw/d%d/e", i))
		r.call(opMkdir, e.b)
	}
	close(stop)
	wg.Wait()
	if swaps.Load() == 0 {
		t.Fatal("no swap happened")
	}
	// Let the last requests finish before looking.
	var e enc
	e.s("data")
	r.call(opStat, e.b)
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
	if err := r.hello(hello{root: "/data", session: "c"}); err != nil {
		t.Fatal(err)
	}
	var scan enc
	scan.scanOpts(core.ScanOptions{Threads: 100_000_000})
	huge := func(fill func(e *enc)) []byte { var e enc; fill(&e); return e.b }
	cases := []struct {
		name string
		op   byte
		b    []byte
		want string
	}{
		{"scan threads", opScan, scan.b, "scan threads"},
		{"scan pause", opScan, huge(func(e *enc) { e.scanOpts(core.ScanOptions{Pause: time.Hour}) }), "pause"},
		{"negative threads", opScan, huge(func(e *enc) { e.scanOpts(core.ScanOptions{Threads: -5}) }), "scan threads"},
		{"filter count", opScan, huge(func(e *enc) { e.u(1 << 62) }), "truncated"},
		{"string length", opStat, huge(func(e *enc) { e.u(1 << 62) }), "truncated"},
		{"xattr count", opSetXattrs, huge(func(e *enc) { e.s("f"); e.u(1 << 40) }), "truncated"},
		{"strs count", opStoreSetMeta, huge(func(e *enc) {
			for range 6 {
				e.s("")
			}
			e.u(1 << 50)
		}), ""},
		{"varint overflow", opRead, bytes.Repeat([]byte{0xff}, 20), "truncated"},
	}
	for _, c := range cases {
		f, ok := r.call(c.op, c.b)
		if !ok {
			t.Fatalf("%s: the agent hung up", c.name)
		}
		if f.op != opError || !strings.Contains(decodeError(f.payload).Error(), c.want) {
			t.Errorf("%s: op %d %v, want an error with %q", c.name, f.op, decodeError(f.payload), c.want)
		}
	}
	// Still serving.
	if f, _ := r.call(opStat, encS("f")); f.op != opEntry {
		t.Errorf("after the hostile counts: op %d", f.op)
	}
	// Files open for writing are capped.
	for h := uint64(1); h <= maxOpenFiles+5; h++ {
		var e enc
		e.u(h)
		e.s(fmt.Sprintf("w%d", h))
		e.createOpts(core.CreateOptions{Replace: core.Precondition{Any: true}})
		r.send(opCreate, e.b)
	}
	var c enc
	c.u(maxOpenFiles + 5)
	if f, _ := r.call(opCommit, c.b); f.op != opError || !strings.Contains(decodeError(f.payload).Error(), "files open") {
		t.Errorf("file %d open for writing: op %d", maxOpenFiles+5, f.op)
	}
	for h := uint64(1); h <= maxOpenFiles+5; h++ {
		var e enc
		e.u(h)
		r.send(opAbort, e.b)
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
		{"length over the maximum", false, binary.BigEndian.AppendUint32(nil, maxFrame+1)},
		{"length 1", false, []byte{0, 0, 0, 1, opStat}},
		{"bad id", false, append(binary.BigEndian.AppendUint32(nil, 11), append([]byte{opStat}, bytes.Repeat([]byte{0xff}, 10)...)...)},
		{"compressed, not agreed", false, rawFrame(opStat|compressedOp, 1, []byte("xx"))},
		{"decompression bomb", true, rawFrame(opPut|compressedOp, 1, bomb)},
	} {
		t.Run(c.name, func(t *testing.T) {
			cr, aw := io.Pipe()
			ar, cw := io.Pipe()
			done := make(chan error, 1)
			go func() { done <- Serve(context.Background(), ar, aw, w.opts); aw.Close(); ar.Close() }()
			go io.Copy(io.Discard, cr)
			cl := newConn(strings.NewReader(""), cw)
			var e enc
			e.s(magic)
			e.u(ProtocolVersion)
			h := hello{root: "/data", session: "f"}
			if c.zstd {
				h.compression = "zstd"
			}
			h.encode(&e)
			cl.send(opHello, 1, e.b)
			cl.stop()
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
	if f, ok := r.call(opStat, encS("f")); ok && f.op != opError {
		t.Errorf("a request before the hello: op %d", f.op)
	}
	if err := <-r.done; err == nil {
		t.Error("a request before the hello did not end the connection")
	}
	r.done <- nil // for the cleanup

	r = startRaw(t, w.opts)
	if err := r.hello(hello{root: "/data", session: "o"}); err != nil {
		t.Fatal(err)
	}
	var u9 enc
	u9.u(9)
	var wr enc
	wr.u(9)
	wr.bytes([]byte("x"))
	r.send(opWrite, wr.b) // to no file: dropped
	for _, c := range []struct {
		name string
		op   byte
		b    []byte
	}{
		{"commit of nothing", opCommit, u9.b},
		{"keep of nothing", opKeep, u9.b},
		{"read of nothing", opRead, append(append([]byte{}, u9.b...), 0)},
		{"a reply as a request", opItems, nil},
		{"an unknown op", 77, nil},
		{"store meta before open", opStoreMeta, nil},
		{"store load before open", opStoreLoad, nil},
	} {
		if f, ok := r.call(c.op, c.b); !ok || f.op != opError {
			t.Errorf("%s: op %d (hung up: %v), want an error", c.name, f.op, !ok)
		}
	}
	r.send(opStorePut, nil)
	if f, _ := r.call(opStoreFlush, nil); f.op != opError {
		t.Errorf("store put before open: flush op %d", f.op)
	}
	// A second hello (another root, another token) is refused.
	if err := r.hello(hello{root: "/", session: "o"}); err == nil {
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
		if err := r.hello(hello{root: "/", session: "same", token: token}); err != nil {
			t.Fatal(err)
		}
		var e enc
		e.s("")
		e.bool(false)
		if f, _ := r.call(opStoreOpen, e.b); f.op == opError {
			t.Fatal(decodeError(f.payload))
		}
		return r
	}
	r := open(tok("AK2", "s2"))
	var m enc
	m.meta(core.Meta{Session: "same", Local: "file:///b-secret-tree"})
	if f, _ := r.call(opStoreSetMeta, m.b); f.op == opError {
		t.Fatal(decodeError(f.payload))
	}
	r.call(opStoreClose, nil)
	r = open(tok("AK1", "s1"))
	f, _ := r.call(opStoreMeta, nil)
	if d := (dec{b: f.payload}); f.op != opOK || d.bool() {
		t.Errorf("key AK1 sees the snapshot key AK2 wrote (op %d)", f.op)
	}
	for _, p := range []string{"../b/private", "/../b/private", "b/private"} {
		if f, _ := r.call(opOpen, append(encS(p), 0)); f.op != opError || bytes.Contains(f.payload, []byte(secret)) {
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
	if err := r.hello(hello{root: "/data", session: "lg", logDir: "/logs", cookie: "c"}); err == nil {
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
			if err := r.hello(hello{root: "/data", session: "sn"}); err != nil {
				t.Fatal(err)
			}
			var e enc
			e.s(dir)
			e.bool(false)
			if f, _ := r.call(opStoreOpen, e.b); f.op != opError {
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
	if err := r.hello(hello{root: "/data", session: "ck", logDir: "/logs", debug: true,
		cookie: "job\ntime=2000-01-01T00:00:00Z level=ERROR msg=forged"}); err != nil {
		t.Fatal(err)
	}
	r.call(opStat, encS("no\nsuch=file"))
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
	go func() { done <- Serve(context.Background(), ar, aw, w.opts); aw.Close(); ar.Close() }()
	cl := newConn(cr, cw)
	var e enc
	e.s(magic)
	e.u(ProtocolVersion)
	(&hello{root: "/data", session: "m"}).encode(&e)
	cl.send(opHello, 1, e.b)
	if f, err := cl.recv(); err != nil || f.op != opOK {
		t.Fatalf("hello: op %d %v", f.op, err)
	}
	var put enc
	put.s("big")
	put.createOpts(core.CreateOptions{Replace: core.Precondition{Any: true}})
	put.bytes(make([]byte, maxFrame-64))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range 120 { // 960 MiB, if the agent kept them all
			if cl.send(opPut, uint64(10+i), put.b) != nil {
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
	cl.stop()
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
	o := AgentOptions{Home: home, StateDir: filepath.Join(base, "state")}
	for _, c := range []struct{ root, want string }{
		{srv, srv}, {"rel", filepath.Join(home, "rel")}, {"~/rel", filepath.Join(home, "rel")}, {"~", home},
	} {
		r := startRaw(t, o)
		if err := r.hello(hello{root: c.root, session: "un"}); err != nil {
			t.Fatalf("root %s: %v", c.root, err)
		}
		name := "made-" + strings.NewReplacer("/", "_", "~", "h").Replace(c.root)
		var e enc
		e.s(name)
		e.u(0o755)
		if f, _ := r.call(opMkdir, e.b); f.op != opEntry {
			t.Fatalf("root %s: mkdir op %d %v", c.root, f.op, decodeError(f.payload))
		}
		if _, err := os.Stat(filepath.Join(c.want, name)); err != nil {
			t.Errorf("root %s: %v", c.root, err)
		}
	}
	r := startRaw(t, o)
	if err := r.hello(hello{root: srv + "/../data", session: "un"}); !errors.Is(err, ErrOutsideDocroot) {
		t.Errorf(`"..": err = %v`, err)
	}
}

// TestSnapshotRemoveOverTheAgent: --reset drops the session's snapshot on
// the server, and a link planted beside it survives untouched.
func TestSnapshotRemoveOverTheAgent(t *testing.T) {
	w := newWorld(t)
	before := w.outside(t)
	r := startRaw(t, w.opts)
	if err := r.hello(hello{root: "/data", session: "rm"}); err != nil {
		t.Fatal(err)
	}
	var open enc
	open.s("/snap")
	open.bool(false)
	if f, _ := r.call(opStoreOpen, open.b); f.op == opError {
		t.Fatal(decodeError(f.payload))
	}
	r.call(opStoreClose, nil)
	os.Symlink(w.out, filepath.Join(w.doc, "snap", "rm", "out-link")) // poisoned: still removable
	var rm enc
	rm.u(snapRemove)
	rm.s("/snap")
	rm.s("")
	if f, _ := r.call(opSnapshot, rm.b); f.op == opError {
		t.Fatalf("remove: %v", decodeError(f.payload))
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
	if err := r.hello(hello{root: "/data", session: "in"}); err != nil {
		t.Fatal(err)
	}
	var e enc
	e.s("")
	e.bool(false)
	if f, _ := r.call(opStoreOpen, e.b); f.op != opError {
		t.Error("a db_dir that is a link out was opened")
	}
	u.DBDir, u.LogDir = "", filepath.Join(w.doc, "log")
	w.opts.Config.Users["u"] = u
	if err := startRaw(t, w.opts).hello(hello{root: "/data", session: "in"}); err == nil {
		t.Error("a log_dir that is a link out was opened")
	}
	u.LogDir = ""
	w.opts.Config.Users["u"] = u
	w.opts.StateDir = filepath.Join(w.doc, "state")
	if err := startRaw(t, w.opts).hello(hello{root: "/data", session: "in"}); err == nil {
		t.Error("a state directory that is a link out was opened")
	}
	if after := w.outside(t); after != before {
		t.Errorf("outside the docroot changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
