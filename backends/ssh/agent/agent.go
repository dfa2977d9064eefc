package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/logfile"
	"github.com/async-sync/async/snapshot"
)

// Options configure Serve.
type Options struct {
	Config *ServerConfig // nil: no configuration file
	User   string        // the login user (for the configuration's sections)
	Home   string        // the user's home directory: relative remote paths start there
	// StateDir is the agent's state directory on the server: its logs go
	// to StateDir/log without -R.
	StateDir string
	// DataHost is the address the data path listens on (empty: every
	// address); see DataHost.
	DataHost string
	// Open opens a session's sync root as the backend the agent serves
	// it through (the command wires in the local one); nil refuses every
	// session. The optional interfaces the backend has (those the protocol
	// carries) are the ones the agent tells the client it has.
	Open func(dir string, o FSOptions) (core.Backend, error)
}

// FSOptions say how Options.Open opens a sync root.
type FSOptions struct {
	FollowLinks bool // follow symbolic links while scanning (-o follow)
	// Confined: a docroot session; no path may resolve outside the root.
	Confined bool
}

// Serve runs the agent on one connection (the SSH session's stdin and
// stdout) until the client closes it.
func Serve(ctx context.Context, r io.Reader, w io.Writer, o Options) error {
	if o.Config == nil {
		o.Config = &ServerConfig{}
	}
	a := &agent{c: protocol.NewConn(r, w), o: o, writers: map[uint64]*agentWriter{},
		readers: map[uint64]*agentReader{}, streams: map[uint64]*servedStream{},
		sem: make(chan struct{}, protocol.MaxServing), big: make(chan struct{}, protocol.MaxBigServing), log: slog.New(slog.DiscardHandler)}
	defer a.c.Stop()
	defer a.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer a.endStreams() // nobody reads them any more: a wait for credit ends
	for {
		f, err := a.c.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if f.Op == protocol.OpHello {
			if a.fs != nil {
				a.c.Send(protocol.OpError, f.ID, protocol.ErrPayload(errors.New("agent protocol: a second hello")))
				return errors.New("agent protocol: a second hello")
			}
			if err := a.hello(f); err != nil {
				return err
			}
			if a.fs == nil {
				return errors.New("agent protocol: session refused")
			}
			continue
		}
		if a.fs == nil {
			a.c.Send(protocol.OpError, f.ID, protocol.ErrPayload(errors.New("agent protocol: hello first")))
			return errors.New("agent protocol: request before hello")
		}
		if a.inline(ctx, f) {
			continue
		}
		a.sem <- struct{}{}
		big := len(f.Payload) > protocol.BigPayload
		if big {
			a.big <- struct{}{}
		}
		wg.Go(func() {
			defer func() {
				if big {
					<-a.big
				}
				<-a.sem
			}()
			a.serve(ctx, f)
		})
	}
}

type agent struct {
	c  *protocol.Conn
	o  Options
	fs *servedFS
	// features are the optional interfaces of the backend served that
	// the protocol carries: what the client is told it has.
	features core.Features
	dir      *os.Root // the sync root, confined
	doc      docroot
	key      string // the access key of a token session
	name     string // the session
	log      *slog.Logger

	mu       sync.Mutex
	writers  map[uint64]*agentWriter
	readers  map[uint64]*agentReader
	streams  map[uint64]*servedStream // the stream requests being served
	store    *snapshot.DB
	storeDir *os.File // keeps the store's directory open
	storeErr error    // the first failed one-way store write
	closers  []io.Closer
	data     *agentData // the data path, once the client asked for one

	sem chan struct{} // requests being served
	big chan struct{} // large requests being served

	// chunks holds chunk-sized read buffers (*[]byte): a read copies its
	// chunk into its answer, so the buffer goes back at once, and a small
	// file costs no new, zeroed 256 KiB.
	chunks sync.Pool

	// tree is the sync root as the kernel names it (symbolic links
	// resolved), rootArg as the client gave it: async's own directories
	// (-B, -R) may not lie in it.
	tree, rootArg string
}

type agentWriter struct {
	w   core.Writer
	err error
}

type agentReader struct {
	mu     sync.Mutex
	r      io.ReadCloser
	closed bool // a read that comes after the close is refused
}

func (a *agent) close() {
	a.mu.Lock()
	dp := a.data
	a.mu.Unlock()
	if dp != nil {
		dp.Close() // its streams write no more before the files close
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.writers {
		if w.w != nil {
			w.w.Abort()
		}
	}
	for _, r := range a.readers {
		r.r.Close()
	}
	if a.store != nil {
		a.store.Close()
	}
	if a.storeDir != nil {
		a.storeDir.Close()
	}
	if a.fs != nil {
		a.fs.Close()
	}
	for _, c := range a.closers {
		c.Close()
	}
	a.log.Info("session end")
}

// hello checks the client's protocol version and opens the sync root.
func (a *agent) hello(f protocol.Frame) error {
	d := protocol.Dec{B: f.Payload}
	m, v := d.Str(), d.Uint()
	if d.Err != nil || m != protocol.Magic {
		a.c.Send(protocol.OpError, f.ID, protocol.ErrPayload(errors.New("not an async client")))
		return errors.New("agent protocol: bad hello")
	}
	if v != protocol.ProtocolVersion {
		a.c.Send(protocol.OpError, f.ID, protocol.ErrPayload(fmt.Errorf("protocol version %d, agent speaks %d", v, protocol.ProtocolVersion)))
		return fmt.Errorf("agent protocol: client version %d", v)
	}
	h := protocol.DecodeHello(&d)
	if d.Err != nil {
		return d.Err
	}
	cc, err := protocol.NewCodec(h.Compression)
	if err != nil {
		a.c.Send(protocol.OpError, f.ID, protocol.ErrPayload(err))
		return nil
	}
	if cc != nil {
		a.c.Peer.Store(&protocol.CodecBox{C: cc})
	}
	if err := a.open(h); err != nil {
		a.c.Send(protocol.OpError, f.ID, protocol.ErrPayload(err))
		return nil // the client hangs up
	}
	root, err := a.fs.Stat(context.Background(), "")
	if err != nil {
		a.c.Send(protocol.OpError, f.ID, protocol.ErrPayload(err))
		return nil
	}
	var e protocol.Enc
	e.Uint(protocol.ProtocolVersion)
	e.Uint(protocol.CapsBits(a.fs.Caps()))
	e.Entry(&root)
	e.Uint(protocol.FeaturesBits(a.features))
	if err := a.c.Send(protocol.OpOK, f.ID, e.B); err != nil {
		return err
	}
	if cc != nil {
		a.c.Codec.Store(&protocol.CodecBox{C: cc}) // what follows the answer is compressed
	}
	return nil
}

// open resolves the docroot, the sync root inside it, and the log.
func (a *agent) open(h protocol.Hello) error {
	u := a.o.Config.user(a.o.User)
	a.doc = docroot{dir: u.Docroot, home: a.o.Home}
	if h.Token != "" {
		root, id, err := a.o.Config.checkToken(h.Token, a.o.User)
		if err != nil {
			return err
		}
		a.doc.dir, a.key = root, id
	}
	if h.Session != "" && !validSession(h.Session) {
		return fmt.Errorf("invalid session name %q", h.Session)
	}
	a.name = h.Session
	a.rootArg = h.Root
	if r, err := a.doc.openDir(h.Root, false, 0); err == nil {
		a.tree = rootPath(r)
		r.Close()
	}
	if err := a.openLog(h, u); err != nil {
		return err
	}
	dir, err := a.doc.openDir(h.Root, h.Create, 0o755)
	if err != nil {
		if h.Create {
			return fmt.Errorf("create %s: %w", h.Root, err)
		}
		return fmt.Errorf("%s: %w", h.Root, err)
	}
	a.dir = dir
	a.closers = append(a.closers, dir)
	a.tree = rootPath(dir)
	fd, err := dir.Open(".")
	if err != nil {
		return fmt.Errorf("%s: %w", h.Root, err)
	}
	defer fd.Close()
	if st, err := fd.Stat(); err != nil || !st.IsDir() {
		return fmt.Errorf("%s: not a directory", h.Root)
	}
	// The descriptor is the directory os.Root resolved inside the
	// docroot; local reopens it through /proc, never by name.
	if a.o.Open == nil {
		return errors.New("agent: no filesystem to serve")
	}
	fsys, err := a.o.Open(fmt.Sprintf("/proc/self/fd/%d", fd.Fd()), FSOptions{FollowLinks: h.FollowLinks, Confined: a.doc.confined()})
	if err != nil {
		return fmt.Errorf("%s: %w", h.Root, err)
	}
	a.fs, a.features = serve(fsys)
	a.log.Info("session start", "root", h.Root, "docroot", a.doc.dir, "cookie", h.Cookie)
	return nil
}

// validSession reports whether a session name is async's kind
// ([A-Za-z0-9_-], at most 128): it names files on the server.
func validSession(s string) bool {
	if len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// rootPath is the path the kernel gives an opened directory (symbolic
// links resolved), "" when it cannot tell (no /proc).
func rootPath(r *os.Root) string {
	f, err := r.Open(".")
	if err != nil {
		return ""
	}
	defer f.Close()
	p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		return ""
	}
	return p
}

// outsideTree refuses a directory for async's own state (-B, -R) that
// lies in the sync tree, outside its private area: a sync would copy the
// live database or log, and --mirror delete it. It looks at the deepest
// part of p that exists, as the kernel resolves it (links and all),
// before anything is made.
func (a *agent) outsideTree(p string) error {
	if a.tree == "" {
		return nil
	}
	for q := p; ; {
		r, err := a.doc.openDir(q, false, 0)
		if err == nil {
			real := rootPath(r)
			r.Close()
			if real != "" && insideTree(real, a.tree) {
				return fmt.Errorf("%s: %w %s; put it elsewhere", p, protocol.ErrInsideTree, a.rootArg)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil // opening it says what is wrong (outside the docroot, ...)
		}
		if q == "/" || q == "." || q == "~" || q == "" {
			return nil // nothing of it exists
		}
		q = path.Dir(q) // "~/a" → "~", "a" → "." (both the home)
	}
}

// insideTree reports whether the absolute path p lies in the tree rooted
// at tree, outside the tree's private area.
func insideTree(p, tree string) bool {
	rel, err := filepath.Rel(tree, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return false
	}
	return rel != core.PrivateDir && !strings.HasPrefix(rel, core.PrivateDir+"/")
}

// confinedErr turns os.Root's escape error into ErrOutsideDocroot.
func confinedErr(err error) error {
	if err != nil && strings.Contains(err.Error(), "path escapes from parent") {
		return fmt.Errorf("%w (%v)", protocol.ErrOutsideDocroot, err)
	}
	return err
}

// openLog opens the agent's log: the configured log_dir, -R, or
// STATE/log. The file is opened through the directory's os.Root, and a
// link in its place is refused.
func (a *agent) openLog(h protocol.Hello, u UserConfig) error {
	var root *os.Root
	var err error
	switch {
	case u.LogDir != "":
		root, err = a.adminDir(u.LogDir, true)
	case h.LogDir != "":
		if err := a.outsideTree(h.LogDir); err != nil {
			return fmt.Errorf("option -R: %w", err)
		}
		if root, err = a.doc.openDir(h.LogDir, true, 0o755); err != nil {
			err = fmt.Errorf("%s: %w", h.LogDir, err)
		}
	default:
		root, err = a.serverDir(filepath.Join(a.o.StateDir, "log"), true)
	}
	if err != nil {
		return fmt.Errorf("option -R: %w", err)
	}
	a.closers = append(a.closers, root)
	if h.Session == "" {
		return nil
	}
	lf, err := logfile.OpenRoot(root, "async-"+h.Session+".log", int64(max(h.LogMB, 1))<<20, 10)
	if err != nil {
		return fmt.Errorf("option -R: %w", err)
	}
	a.closers = append(a.closers, lf)
	level := slog.LevelInfo
	if h.Debug {
		level = slog.LevelDebug
	}
	a.log = slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: level})).With("session", h.Session, "user", a.o.User)
	return nil
}

// adminDir opens a directory the configuration names (db_dir, log_dir):
// for a token session, its key's own subdirectory key-ID, so that one
// key's session never reaches another key's snapshots or logs.
func (a *agent) adminDir(dir string, create bool) (*os.Root, error) {
	root, err := a.serverDir(dir, create)
	if err != nil || a.key == "" {
		return root, err
	}
	defer root.Close()
	sub := "key-" + a.key
	if create {
		if err := root.Mkdir(sub, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
	}
	return root.OpenRoot(sub)
}

// serverDir opens a directory of the agent's own, named by a server path
// (db_dir, log_dir, the state directory), creating it (0700) when create
// is set. One that lies inside a confined session's docroot is opened
// through the docroot's os.Root, since the client may have planted links
// there: it cannot lead the agent's files out.
func (a *agent) serverDir(dir string, create bool) (*os.Root, error) {
	if a.doc.confined() {
		if rel, err := filepath.Rel(a.doc.dir, dir); err == nil && filepath.IsLocal(rel) {
			doc, err := os.OpenRoot(a.doc.dir)
			if err != nil {
				return nil, fmt.Errorf("docroot %s: %w", a.doc.dir, err)
			}
			defer doc.Close()
			if create {
				if err := doc.MkdirAll(rel, 0o700); err != nil {
					return nil, fmt.Errorf("%s: %w", dir, confinedErr(err))
				}
			}
			r, err := doc.OpenRoot(rel)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", dir, confinedErr(err))
			}
			return r, nil
		}
	}
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	return os.OpenRoot(dir)
}

// inline handles the one-way requests whose order matters, in the order
// they arrive. It reports whether f was one of them.
func (a *agent) inline(ctx context.Context, f protocol.Frame) bool {
	d := protocol.Dec{B: f.Payload}
	switch f.Op {
	case protocol.OpCreate:
		h := d.Uint()
		p := d.Str()
		o := d.CreateOptions()
		aw := &agentWriter{err: d.Err}
		a.mu.Lock()
		if old := a.writers[h]; old != nil {
			delete(a.writers, h)
			a.mu.Unlock()
			if old.w != nil {
				old.w.Abort()
			}
			a.mu.Lock()
			aw.err = errors.New("agent protocol: a file handle used twice")
		} else if len(a.writers) >= protocol.MaxOpenFiles {
			aw.err = fmt.Errorf("agent protocol: more than %d files open for writing", protocol.MaxOpenFiles)
		}
		a.mu.Unlock()
		if aw.err == nil {
			aw.w, aw.err = a.fs.Create(ctx, p, o)
		}
		a.mu.Lock()
		a.writers[h] = aw
		a.mu.Unlock()
	case protocol.OpWrite:
		h := d.Uint()
		b := d.Bytes()
		if aw := a.writer(h); aw != nil && aw.err == nil {
			_, aw.err = aw.w.Write(b)
		}
	case protocol.OpAbort:
		if aw := a.takeWriter(d.Uint()); aw != nil && aw.w != nil {
			aw.w.Abort()
		}
	case protocol.OpCloseFile:
		a.closeReader(d.Uint())
	case protocol.OpCancel:
		if st := a.stream(d.Uint()); st != nil {
			st.cancel()
		}
	case protocol.OpCredit:
		id, n := d.Uint(), d.Uint()
		if st := a.stream(id); st != nil && d.Err == nil { // one that ended has none
			st.win.grant(n)
		}
	case protocol.OpStorePut:
		r := d.Record()
		a.storeWrite(func(st *snapshot.DB) error { return cmpErr(d.Err, func() error { return st.Put(ctx, r) }) })
	case protocol.OpStoreDelete:
		p := d.Str()
		a.storeWrite(func(st *snapshot.DB) error { return cmpErr(d.Err, func() error { return st.Delete(ctx, p) }) })
	default:
		return false
	}
	return true
}

func cmpErr(err error, fn func() error) error {
	if err != nil {
		return err
	}
	return fn()
}

func (a *agent) storeWrite(fn func(*snapshot.DB) error) {
	a.mu.Lock()
	st := a.store
	a.mu.Unlock()
	if st == nil {
		a.setStoreErr(errors.New("no snapshot open"))
		return
	}
	if err := fn(st); err != nil {
		a.setStoreErr(err)
	}
}

func (a *agent) setStoreErr(err error) {
	a.mu.Lock()
	if a.storeErr == nil {
		a.storeErr = err
	}
	a.mu.Unlock()
}

func (a *agent) writer(h uint64) *agentWriter {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.writers[h]
}

func (a *agent) takeWriter(h uint64) *agentWriter {
	a.mu.Lock()
	defer a.mu.Unlock()
	aw := a.writers[h]
	delete(a.writers, h)
	return aw
}

// closeReader forgets the file open for reading under handle h, and closes
// it once a read in progress is done.
func (a *agent) closeReader(h uint64) {
	a.mu.Lock()
	r := a.readers[h]
	delete(a.readers, h)
	a.mu.Unlock()
	if r != nil {
		r.mu.Lock()
		r.closed = true
		r.r.Close()
		r.mu.Unlock()
	}
}

// writerFree refuses a new writer under handle h when h is in use or
// maxOpenFiles files are open for writing already.
func (a *agent) writerFree(h uint64) error {
	a.mu.Lock()
	_, dup := a.writers[h]
	full := len(a.writers) >= protocol.MaxOpenFiles
	a.mu.Unlock()
	switch {
	case dup:
		return errors.New("agent protocol: a file handle used twice")
	case full:
		return fmt.Errorf("agent protocol: more than %d files open for writing", protocol.MaxOpenFiles)
	}
	return nil
}

// serve answers one request; it runs concurrently with others.
func (a *agent) serve(ctx context.Context, f protocol.Frame) {
	op, payload, err := a.do(ctx, f)
	if err != nil {
		a.log.Debug("request failed", "op", f.Op, "err", err)
		a.c.Send(protocol.OpError, f.ID, protocol.ErrPayload(err))
		return
	}
	a.c.Send(op, f.ID, payload)
}

func entryReply(en core.Entry, err error) (byte, []byte, error) {
	if err != nil {
		return 0, nil, err
	}
	var e protocol.Enc
	e.Entry(&en)
	return protocol.OpEntry, e.B, nil
}

func okReply(err error) (byte, []byte, error) { return protocol.OpOK, nil, err }

// decoded runs a request's action once its fields decoded; a malformed
// request is answered with the decoding error, and nothing is done.
func decoded(d *protocol.Dec, action func() (byte, []byte, error)) (byte, []byte, error) {
	if d.Err != nil {
		return 0, nil, d.Err
	}
	return action()
}

// do carries out a request and returns the reply.
func (a *agent) do(ctx context.Context, f protocol.Frame) (byte, []byte, error) {
	d := &protocol.Dec{B: f.Payload}
	fs := a.fs
	switch f.Op {
	case protocol.OpStat:
		p := d.Str()
		return decoded(d, func() (byte, []byte, error) { return entryReply(fs.Stat(ctx, p)) })
	case protocol.OpMkdir:
		p, mode := d.Str(), d.Uint()
		return decoded(d, func() (byte, []byte, error) { return entryReply(fs.Mkdir(ctx, p, fileMode(mode))) })
	case protocol.OpRemove:
		p, pre := d.Str(), d.Precondition()
		return decoded(d, func() (byte, []byte, error) { return okReply(fs.Remove(ctx, p, pre)) })
	case protocol.OpRename:
		from, to, pre := d.Str(), d.Str(), d.Precondition()
		return decoded(d, func() (byte, []byte, error) { return entryReply(fs.Rename(ctx, from, to, pre)) })
	case protocol.OpSetAttr:
		p, at := d.Str(), d.Attrs()
		return decoded(d, func() (byte, []byte, error) { return entryReply(fs.SetAttr(ctx, p, at)) })
	case protocol.OpSymlink:
		p, target, pre := d.Str(), d.Str(), d.Precondition()
		return decoded(d, func() (byte, []byte, error) { return entryReply(fs.Symlink(ctx, p, target, pre)) })
	case protocol.OpLink:
		existing, p, pre := d.Str(), d.Str(), d.Precondition()
		return decoded(d, func() (byte, []byte, error) { return entryReply(fs.Link(ctx, existing, p, pre)) })
	case protocol.OpHash:
		p, algo := d.Str(), d.Str()
		if d.Err != nil {
			return 0, nil, d.Err
		}
		sum, en, err := fs.Hash(ctx, p, core.Checksum(algo))
		if err != nil {
			return 0, nil, err
		}
		var e protocol.Enc
		e.Str(sum)
		e.Entry(&en)
		return protocol.OpOK, e.B, nil
	case protocol.OpXattrs:
		p := d.Str()
		if d.Err != nil {
			return 0, nil, d.Err
		}
		m, err := fs.Xattrs(ctx, p)
		if err != nil {
			return 0, nil, err
		}
		var e protocol.Enc
		e.Xattrs(m)
		return protocol.OpOK, e.B, nil
	case protocol.OpSetXattrs:
		p, m := d.Str(), d.Xattrs()
		return decoded(d, func() (byte, []byte, error) { return okReply(fs.SetXattrs(ctx, p, m)) })
	case protocol.OpScan:
		o := d.ScanOptions()
		if d.Err == nil {
			d.Err = protocol.CheckScanOptions(o)
		}
		return decoded(d, func() (byte, []byte, error) { return okReply(a.scan(ctx, f.ID, o)) })
	case protocol.OpWatch:
		return okReply(a.watch(ctx, f.ID))
	case protocol.OpOpen:
		return a.openFile(ctx, f.ID, d)
	case protocol.OpRead:
		return a.read(d)
	case protocol.OpPut:
		p, o, b := d.Str(), d.CreateOptions(), d.Bytes()
		if d.Err != nil {
			return 0, nil, d.Err
		}
		w, err := fs.Create(ctx, p, o)
		if err != nil {
			return 0, nil, err
		}
		if _, err := w.Write(b); err != nil {
			w.Abort()
			return 0, nil, err
		}
		en, err := w.Commit(ctx)
		if err != nil {
			w.Abort()
		}
		return entryReply(en, err)
	case protocol.OpCreateSync:
		h, p, o := d.Uint(), d.Str(), d.CreateOptions()
		if d.Err != nil {
			return 0, nil, d.Err
		}
		if err := a.writerFree(h); err != nil {
			return 0, nil, err
		}
		w, err := fs.Create(ctx, p, o)
		if err != nil {
			return 0, nil, err
		}
		a.mu.Lock()
		if _, dup := a.writers[h]; dup {
			a.mu.Unlock()
			w.Abort()
			return 0, nil, errors.New("agent protocol: a file handle used twice")
		}
		a.writers[h] = &agentWriter{w: w}
		a.mu.Unlock()
		var off int64
		r, resumable := w.(core.Resumer)
		if resumable {
			off = r.Offset()
		}
		var e protocol.Enc
		e.Int(off)
		e.Bool(resumable)
		return protocol.OpOK, e.B, nil
	case protocol.OpCommit:
		aw := a.takeWriter(d.Uint())
		switch {
		case aw == nil:
			return 0, nil, errors.New("agent protocol: commit of an unknown file")
		case aw.err != nil:
			if aw.w != nil {
				aw.w.Abort()
			}
			return 0, nil, aw.err
		}
		en, err := aw.w.Commit(ctx)
		if err != nil {
			aw.w.Abort()
		}
		return entryReply(en, err)
	case protocol.OpDataOpen:
		return a.dataOpen(ctx, d)
	case protocol.OpDataCreate:
		return a.dataCreate(ctx, d)
	case protocol.OpDataCommit:
		return a.dataCommit(ctx, d)
	case protocol.OpJournal:
		prior, fp := d.Str(), d.Str()
		return decoded(d, func() (byte, []byte, error) { return a.journal(ctx, prior, fp) })
	case protocol.OpKeep:
		aw := a.takeWriter(d.Uint())
		if aw == nil || aw.err != nil {
			return 0, nil, errors.Join(errors.New("keep of a failed file"), aw.errOrNil())
		}
		r, ok := aw.w.(core.Resumer)
		if !ok {
			aw.w.Abort()
			return okReply(nil)
		}
		return okReply(r.Keep())
	default:
		return a.doStore(ctx, f, d)
	}
}

func (aw *agentWriter) errOrNil() error {
	if aw == nil {
		return nil
	}
	return aw.err
}

func fileMode(m uint64) fs.FileMode { return fs.FileMode(m) }

// servedStream is a stream request being served: its CANCEL, its window.
type servedStream struct {
	cancel context.CancelFunc
	win    *window
}

// stream returns the stream request id being served, or nil.
func (a *agent) stream(id uint64) *servedStream {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.streams[id]
}

// endStreams cancels the streams being served.
func (a *agent) endStreams() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, st := range a.streams {
		st.cancel()
	}
}

// streamReq starts serving the stream request id: a context the client's
// opCancel ends, and a batcher that sends within the stream's window
// (protocol.StreamWindow, opCredit). done forgets both.
func (a *agent) streamReq(ctx context.Context, id uint64) (context.Context, *batcher, func()) {
	ctx, cancel := context.WithCancel(ctx)
	st := &servedStream{cancel: cancel, win: newWindow(protocol.StreamWindow)}
	a.mu.Lock()
	a.streams[id] = st
	a.mu.Unlock()
	return ctx, &batcher{c: a.c, id: id, ctx: ctx, win: st.win}, func() {
		a.mu.Lock()
		delete(a.streams, id)
		a.mu.Unlock()
		cancel()
	}
}

// scan streams entries in batches of about 64 KiB.
func (a *agent) scan(ctx context.Context, id uint64, o core.ScanOptions) error {
	ctx, b, done := a.streamReq(ctx, id)
	defer done()
	o.Ordered = o.Ordered && a.fs.Caps().OrderedScan
	o.Unreadable = func(p string, err error) error { // the client decides
		en := protocol.UnreadableEntry(p, err)
		return b.add(func(e *protocol.Enc) { e.Entry(&en) })
	}
	err := a.fs.Scan(ctx, o, func(en core.Entry) error {
		return b.add(func(e *protocol.Enc) { e.Entry(&en) })
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("scan: %w", protocol.ErrCanceled)
		}
		return err
	}
	return b.flush()
}

// watch streams the paths that change below the root until the client
// cancels the request.
func (a *agent) watch(ctx context.Context, id uint64) error {
	ctx, b, done := a.streamReq(ctx, id)
	defer done()
	err := a.fs.Watch(ctx, func(paths []string) {
		for _, p := range paths {
			b.add(func(e *protocol.Enc) { e.Str(p) })
		}
		b.flush()
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// openFile opens a file for reading and answers with its first chunk.
func (a *agent) openFile(ctx context.Context, id uint64, d *protocol.Dec) (byte, []byte, error) {
	p, off := d.Str(), d.Int()
	if d.Err != nil {
		return 0, nil, d.Err
	}
	r, en, err := a.fs.Open(ctx, p, off)
	if err != nil {
		return 0, nil, err
	}
	buf := a.chunkBuf()
	defer a.chunks.Put(buf)
	chunk, eof, err := readChunk(r, off, *buf, en.Size)
	if err != nil {
		r.Close()
		return 0, nil, err
	}
	var e protocol.Enc
	e.B = make([]byte, 0, 128+len(en.Path)+len(en.Target)+len(chunk))
	e.Entry(&en)
	if eof {
		r.Close()
	} else {
		a.mu.Lock()
		_, dup := a.readers[id]
		if !dup && len(a.readers) < protocol.MaxOpenFiles {
			a.readers[id] = &agentReader{r: r}
			r = nil
		}
		a.mu.Unlock()
		if r != nil {
			r.Close()
			return 0, nil, fmt.Errorf("agent protocol: more than %d files open for reading, or a handle used twice", protocol.MaxOpenFiles)
		}
	}
	e.Bool(eof)
	e.Bytes(chunk)
	return protocol.OpData, e.B, nil
}

// read answers a read of the next chunk at an offset of an open file.
func (a *agent) read(d *protocol.Dec) (byte, []byte, error) {
	h, off := d.Uint(), d.Int()
	if d.Err != nil {
		return 0, nil, d.Err
	}
	a.mu.Lock()
	ar := a.readers[h]
	a.mu.Unlock()
	if ar == nil {
		return 0, nil, errors.New("agent protocol: read of a closed file")
	}
	buf := a.chunkBuf()
	defer a.chunks.Put(buf)
	ar.mu.Lock()
	chunk, eof, err := []byte(nil), false, errors.New("agent protocol: read of a closed file")
	if !ar.closed {
		chunk, eof, err = readChunk(ar.r, off, *buf, -1)
	}
	ar.mu.Unlock()
	if err != nil {
		return 0, nil, err
	}
	var e protocol.Enc
	e.B = make([]byte, 0, 16+len(chunk))
	e.Bool(eof)
	e.Bytes(chunk)
	return protocol.OpData, e.B, nil
}

// chunkBuf returns a buffer of one chunk from the pool; the caller puts
// it back once the chunk read into it is copied.
func (a *agent) chunkBuf() *[]byte {
	if b, ok := a.chunks.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, protocol.ChunkSize)
	return &b
}

// readChunk reads up to len(buf) bytes at off into buf (with ReadAt when
// the file has it; sequentially otherwise, when off is where the file
// stands), and returns them and whether they end the file. When the
// file's size at its open is known (size >= 0) and it ends within the
// chunk, and the file can tell whether it changed since, only that many
// bytes are asked for: the end is known without a read that finds
// nothing (a small file costs one pread, not two), and the check for a
// change after the read (size, mtime, change time as at the open) is
// what proves it (a file that grew meanwhile fails it).
func readChunk(r io.Reader, off int64, buf []byte, size int64) ([]byte, bool, error) {
	var n int
	var err error
	ra, isRA := r.(io.ReaderAt)
	_, checks := r.(core.ChangeChecker)
	ends := checks && isRA && size >= off && size-off <= int64(len(buf))
	if ends {
		buf = buf[:size-off]
	}
	if isRA {
		n, err = ra.ReadAt(buf, off)
		if err == nil && ends {
			err = io.EOF // the size at the open reached; Unchanged below proves it
		}
	} else {
		n, err = io.ReadFull(r, buf)
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
	}
	if err == nil || err == io.EOF {
		// After every chunk, as chunks may be read in any order: a chunk
		// read while the file was written to finds it changed.
		if c, ok := r.(core.ChangeChecker); ok {
			if cerr := c.Unchanged(); cerr != nil {
				return nil, false, cerr
			}
		}
	}
	switch {
	case err == io.EOF:
		return buf[:n], true, nil
	case err != nil:
		return nil, false, err
	}
	return buf[:n], false, nil
}

// doStore answers the snapshot requests.
func (a *agent) doStore(ctx context.Context, f protocol.Frame, d *protocol.Dec) (byte, []byte, error) {
	a.mu.Lock()
	st := a.store
	a.mu.Unlock()
	needStore := func() error {
		if st == nil {
			return errors.New("no snapshot open")
		}
		return nil
	}
	switch f.Op {
	case protocol.OpStoreOpen:
		dir, readOnly := d.Str(), d.Bool()
		return decoded(d, func() (byte, []byte, error) { return a.openStore(ctx, dir, readOnly) })
	case protocol.OpStoreMeta:
		if err := needStore(); err != nil {
			return 0, nil, err
		}
		m, ok, err := st.Meta(ctx)
		if err != nil {
			return 0, nil, err
		}
		var e protocol.Enc
		e.Bool(ok)
		e.Meta(m)
		return protocol.OpOK, e.B, nil
	case protocol.OpStoreSetMeta:
		m := d.Meta()
		if err := errors.Join(d.Err, needStore()); err != nil {
			return 0, nil, err
		}
		return okReply(st.SetMeta(ctx, m))
	case protocol.OpStoreLoad:
		if err := needStore(); err != nil {
			return 0, nil, err
		}
		return okReply(a.load(ctx, f.ID, st))
	case protocol.OpLoadPaths:
		paths, dirs := d.Strings(), d.Strings()
		if err := errors.Join(d.Err, needStore()); err != nil {
			return 0, nil, err
		}
		return okReply(a.loadPaths(ctx, f.ID, st, paths, dirs))
	case protocol.OpStoreFlush:
		if err := needStore(); err != nil {
			return 0, nil, err
		}
		a.mu.Lock()
		err := a.storeErr
		a.storeErr = nil
		a.mu.Unlock()
		if err != nil {
			return 0, nil, err
		}
		return okReply(st.Flush(ctx))
	case protocol.OpStoreClose:
		a.mu.Lock()
		a.store = nil
		a.mu.Unlock()
		if st == nil {
			return okReply(nil)
		}
		return okReply(st.Close())
	case protocol.OpSnapshot:
		return a.snapshotAction(d)
	}
	return 0, nil, fmt.Errorf("agent protocol: unknown request %d", f.Op)
}

// storePath resolves a snapshot directory: the configured db_dir, -B
// (inside the docroot when there is one), or ROOT/.private-asp; NAME is
// appended. Every step goes through os.Root, and a directory holding a
// symbolic link is refused: the snapshot's files are opened by name.
func (a *agent) storePath(dir string, create bool) (string, io.Closer, error) {
	root, rel, err := a.storeRoot(dir, create)
	if err != nil {
		return "", nil, err
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		return "", nil, fmt.Errorf("option -B: %w", confinedErr(err))
	}
	if err := refuseLinks(f); err != nil {
		f.Close()
		return "", nil, fmt.Errorf("option -B: %w", err)
	}
	return fmt.Sprintf("/proc/self/fd/%d", f.Fd()), f, nil
}

// storeRoot opens the directory that holds the session's snapshot
// directory, and names that one in it (see storePath).
func (a *agent) storeRoot(dir string, create bool) (*os.Root, string, error) {
	if a.name == "" {
		return nil, "", errors.New("no session name: the snapshot needs one")
	}
	u := a.o.Config.user(a.o.User)
	var root *os.Root
	rel := a.name
	var err error
	switch {
	case u.DBDir != "":
		root, err = a.adminDir(u.DBDir, create)
	case dir == "":
		root, err = a.dir.OpenRoot(".")
		rel = filepath.Join(core.PrivateDir, a.name)
	default:
		if err = a.outsideTree(dir); err == nil {
			if root, err = a.doc.openDir(dir, create, 0o700); err != nil {
				err = fmt.Errorf("%s: %w", dir, err)
			}
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("option -B: %w", err)
	}
	if create {
		if err := root.MkdirAll(rel, 0o700); err != nil {
			root.Close()
			return nil, "", fmt.Errorf("option -B: %w", confinedErr(err))
		}
	}
	return root, rel, nil
}

// removeSnapshot drops the session's snapshot directory (--reset),
// unless a live session holds it; links in it are removed, never
// followed.
func (a *agent) removeSnapshot(dir string) error {
	root, rel, err := a.storeRoot(dir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer root.Close()
	if p, f, err := a.storePath(dir, false); err == nil {
		if snapshot.Exists(p) {
			db, err := snapshot.Open(p, snapshot.Options{})
			var le *snapshot.LockedError
			if errors.As(err, &le) {
				f.Close()
				return fmt.Errorf("session %s is running on the server, pid %d", a.name, le.PID)
			}
			if err == nil {
				db.Close()
			}
		}
		f.Close()
	}
	if err := root.RemoveAll(rel); err != nil {
		return fmt.Errorf("remove the snapshot: %w", err)
	}
	return nil
}

// refuseLinks refuses a directory that is not one, or that holds a
// symbolic link or a special file: the snapshot database opens its files
// by name.
func refuseLinks(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s: not a directory", f.Name())
	}
	ents, err := f.ReadDir(-1)
	if err != nil {
		return err
	}
	for _, de := range ents {
		if t := de.Type(); t&^fs.ModeDir != 0 {
			return fmt.Errorf("%s/%s: %w (a snapshot directory holds only regular files)", f.Name(), de.Name(), protocol.ErrOutsideDocroot)
		}
	}
	return nil
}

func (a *agent) openStore(ctx context.Context, dir string, readOnly bool) (byte, []byte, error) {
	p, f, err := a.storePath(dir, !readOnly)
	if err != nil {
		return 0, nil, err
	}
	st, err := snapshot.Open(p, snapshot.Options{ReadOnly: readOnly})
	if err != nil {
		f.Close()
		var le *snapshot.LockedError
		if errors.As(err, &le) {
			return 0, nil, fmt.Errorf("session %s is running on the server, pid %d", a.name, le.PID)
		}
		return 0, nil, err
	}
	a.mu.Lock()
	a.store, a.storeDir = st, f.(*os.File)
	a.mu.Unlock()
	// The stored identity comes with the answer, as STOREMETA gives it:
	// what a client asks first, a round trip saved. One that cannot be
	// read is left out; STOREMETA then says why.
	m, found, err := st.Meta(ctx)
	if err != nil {
		return protocol.OpOK, nil, nil
	}
	var e protocol.Enc
	e.Bool(found)
	e.Meta(m)
	return protocol.OpOK, e.B, nil
}

// load streams the snapshot's records in batches.
func (a *agent) load(ctx context.Context, id uint64, st *snapshot.DB) error {
	ctx, b, done := a.streamReq(ctx, id)
	defer done()
	err := st.Load(ctx, func(r core.Record) error {
		return b.add(func(e *protocol.Enc) { e.Record(&r) })
	})
	if err != nil {
		return err
	}
	return b.flush()
}

// loadPaths streams the records of some paths (snapshot.DB.LoadPaths).
func (a *agent) loadPaths(ctx context.Context, id uint64, st *snapshot.DB, paths, dirs []string) error {
	ctx, b, done := a.streamReq(ctx, id)
	defer done()
	err := st.LoadPaths(ctx, paths, dirs, func(r core.Record) error {
		return b.add(func(e *protocol.Enc) { e.Record(&r) })
	})
	if err != nil {
		return err
	}
	return b.flush()
}

// batcher streams items to a request as opItems frames of about 64 KiB:
// a count, then the items, each frame sent once the stream's window has
// room for it. It is safe for concurrent use.
type batcher struct {
	c   *protocol.Conn
	id  uint64
	ctx context.Context // ends a wait for credit
	win *window
	mu  sync.Mutex
	buf protocol.Enc
	n   int
}

// add encodes one item, sending the batch when it is full.
func (b *batcher) add(encode func(*protocol.Enc)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	encode(&b.buf)
	if b.n++; len(b.buf.B) >= 64<<10 {
		return b.flushLocked()
	}
	return nil
}

// flush sends what is batched.
func (b *batcher) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *batcher) flushLocked() error {
	if b.n == 0 {
		return nil
	}
	if err := b.win.take(b.ctx); err != nil {
		return err
	}
	var e protocol.Enc
	e.Uint(uint64(b.n))
	e.B = append(e.B, b.buf.B...)
	b.buf.B, b.n = b.buf.B[:0], 0
	return b.c.Send(protocol.OpItems, b.id, e.B)
}

// window is a stream's credit: the opItems frames it may still send.
type window struct {
	mu    sync.Mutex
	avail uint64
	wake  chan struct{} // signalled by grant
}

// maxCredit bounds a window whatever a client grants.
const maxCredit = 1 << 20

func newWindow(n uint64) *window { return &window{avail: n, wake: make(chan struct{}, 1)} }

// take waits for a frame's credit, or for ctx to end.
func (w *window) take(ctx context.Context) error {
	for {
		w.mu.Lock()
		if w.avail > 0 {
			w.avail--
			w.mu.Unlock()
			return nil
		}
		w.mu.Unlock()
		select {
		case <-w.wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// grant credits n more frames.
func (w *window) grant(n uint64) {
	w.mu.Lock()
	w.avail = min(w.avail+min(n, maxCredit), maxCredit)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// snapshotAction checks, removes or copies a snapshot directory, for
// --reset and --remote-db-store-dir.
func (a *agent) snapshotAction(d *protocol.Dec) (byte, []byte, error) {
	act, dir, to := d.Uint(), d.Str(), d.Str()
	if d.Err != nil {
		return 0, nil, d.Err
	}
	if act == protocol.SnapRemove { // also a snapshot directory that storePath refuses
		var e protocol.Enc
		e.Bool(true)
		if err := a.removeSnapshot(dir); err != nil {
			return 0, nil, err
		}
		return protocol.OpOK, e.B, nil
	}
	p, f, err := a.storePath(dir, false)
	if errors.Is(err, fs.ErrNotExist) {
		var e protocol.Enc
		e.Bool(false)
		return protocol.OpOK, e.B, nil
	}
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	var e protocol.Enc
	switch act {
	case protocol.SnapExists:
		e.Bool(snapshot.Exists(p))
	case protocol.SnapCopy:
		q, g, err := a.storePath(to, true)
		if err != nil {
			return 0, nil, err
		}
		defer g.Close()
		e.Bool(true)
		if err := copyDir(p, q); err != nil {
			return 0, nil, err
		}
	default:
		return 0, nil, fmt.Errorf("agent protocol: unknown snapshot action %d", act)
	}
	return protocol.OpOK, e.B, nil
}

// copyDir copies the regular files of a snapshot directory (flat) into
// another, replacing what is there. Both are opened as os.Root, and
// links are neither read nor written through.
func copyDir(from, to string) error {
	src, err := os.OpenRoot(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenRoot(to)
	if err != nil {
		return err
	}
	defer dst.Close()
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, de := range entries {
		if !de.Type().IsRegular() {
			continue
		}
		b, err := readRegular(src, de.Name())
		if err != nil {
			return err
		}
		if fi, err := dst.Lstat(de.Name()); err == nil && !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", de.Name())
		}
		tmp := ".copy-" + de.Name()
		if err := dst.WriteFile(tmp, b, 0o600); err != nil {
			return err
		}
		if err := dst.Rename(tmp, de.Name()); err != nil {
			dst.Remove(tmp)
			return err
		}
	}
	return nil
}

// readRegular reads a regular file of a root, refusing a link.
func readRegular(r *os.Root, name string) ([]byte, error) {
	f, err := r.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	return io.ReadAll(f)
}
