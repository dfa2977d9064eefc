package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/async-sync/async/backends/ssh/datapath"
	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/errcode"
)

// Client is a core.Backend served by a remote agent over one connection.
// Requests are pipelined: many are in flight at once, each answered under
// its id, so small files cost no round trip each.
type Client struct {
	c      *protocol.Conn
	closer io.Closer
	caps   core.Caps
	// features are the optional interfaces of the agent's backend, as
	// its hello told them: the ones Backend has.
	features core.Features
	root     core.Entry

	// data are extra agents on their own SSH connections that carry file
	// content (--transfer-threads), each with what closes it.
	data     []*Client
	dataNext atomic.Uint64
	// frames are small files' PUT frames the data path wrote, for the
	// next files' (the zero pool keeps none).
	frames framePool
	// dp is the data path (OpenDataPath): parallel sealed TCP streams
	// for the content of files larger than one chunk.
	dp atomic.Pointer[clientData]
	// later is the data path to open when content first needs it
	// (OpenDataPathLater).
	later lazyData

	next    atomic.Uint64
	mu      sync.Mutex
	pending map[uint64]pendingReq
	// forgotten are the requests given up on (a cancelled call, a closed
	// reader) whose replies may still arrive: they are dropped.
	forgotten map[uint64]struct{}
	dead      chan struct{}
	deadOnce  sync.Once
	err       error // why the connection ended, once dead is closed

	// stall bounds how long the agent may stay silent while a request
	// waits (0: no bound); lastFrame is when the agent last sent a frame,
	// or when the client last went from idle to busy (unix nanoseconds).
	stall     time.Duration
	lastFrame atomic.Int64
	sending   atomic.Int32 // one-way sends under way
	active    atomic.Int64 // when the last one-way or data path send began
	ready     atomic.Bool  // hello answered: probes may be sent
	// store is where the agent's snapshot is: storeNone (never opened),
	// storeOpen, or storeClosed (its close answered: durable, unlocked).
	store atomic.Int32

	log *slog.Logger // trace records of requests; nil: none
}

var (
	_ core.Backend    = (*Client)(nil)
	_ core.Linker     = (*Client)(nil)
	_ core.Hasher     = (*Client)(nil)
	_ core.HardLinker = (*Client)(nil)
	_ core.Xattrer    = (*Client)(nil)
	_ core.Networked  = (*Client)(nil)
	_ core.Watcher    = (*Client)(nil)
)

// smallFile is the size up to which a file travels in one request.
const smallFile = protocol.ChunkSize

// readAhead is how many chunks of a file are requested ahead of the reader.
const readAhead = 4

// pendingReq is a request awaiting its replies: stream requests take
// any number of opItems before their final reply, the others one reply.
type pendingReq struct {
	ch     chan protocol.Frame
	stream bool
}

// DefaultStall is how long the agent may stay silent, answering neither a
// waiting request nor a liveness probe, before the connection is failed.
const DefaultStall = 60 * time.Second

// CloseWait bounds how long Close waits for the agent to take the end of
// the session before the connection is cut.
const CloseWait = 5 * time.Second

// Aborter is a closer that can also cut the connection at once, when the
// agent no longer answers (New's closer may be one).
type Aborter interface{ Abort() }

// Detacher is a closer that can end the session without waiting for the
// agent to exit (New's closer may be one). Close detaches when the agent
// holds nothing a next run could meet: its snapshot closed (the answer
// says it is durable and unlocked), no request and no data path under
// way; the agent then exits on its own at the end of its input.
type Detacher interface{ Detach() error }

// The states of Client.store.
const (
	storeNone int32 = iota
	storeOpen
	storeClosed
)

// LostReporter is a closer that knows why the connection under it was
// lost (the server stopped answering keepalives), if it was (New's closer
// may be one).
type LostReporter interface{ Lost() error }

// New starts a client on a connection to an agent and says hello.
// closer ends the connection (the SSH session). stall bounds the agent's
// silence while requests wait (0: defaultStall).
func New(ctx context.Context, r io.Reader, w io.Writer, closer io.Closer, h protocol.Hello, stall time.Duration) (*Client, error) {
	if stall <= 0 {
		stall = DefaultStall
	}
	c := &Client{c: protocol.NewConn(r, w), closer: closer, pending: map[uint64]pendingReq{}, frames: newFramePool(),
		forgotten: map[uint64]struct{}{}, dead: make(chan struct{}), stall: stall}
	cc, err := protocol.NewCodec(h.Compression)
	if err != nil {
		return nil, err
	}
	if cc != nil {
		c.c.Peer.Store(&protocol.CodecBox{C: cc})
	}
	c.lastFrame.Store(time.Now().UnixNano())
	go c.readLoop()
	go c.watchdog()
	var e protocol.Enc
	e.Str(protocol.Magic)
	e.Uint(protocol.ProtocolVersion)
	h.Encode(&e)
	f, err := c.call(ctx, protocol.OpHello, e.B)
	if err != nil {
		c.Close()
		return nil, err
	}
	d := protocol.Dec{B: f.Payload}
	if v := d.Uint(); v != protocol.ProtocolVersion {
		c.Close()
		return nil, fmt.Errorf("agent speaks protocol %d, not %d", v, protocol.ProtocolVersion)
	}
	c.caps = protocol.CapsFrom(d.Uint())
	c.root = d.Entry()
	c.features = protocol.LegacyFeatures // an agent that tells none has them all
	if len(d.B) > 0 {
		c.features = protocol.FeaturesFrom(d.Uint())
	}
	if d.Err != nil {
		c.Close()
		return nil, d.Err
	}
	c.ready.Store(true)
	if cc != nil {
		c.c.Codec.Store(&protocol.CodecBox{C: cc})
	}
	return c, nil
}

// readLoop hands every reply to the request waiting for it. A reply no
// request awaits is a protocol error that ends the connection.
func (c *Client) readLoop() {
	for {
		f, err := c.c.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the agent closed the connection")
			}
			if lr, ok := c.closer.(LostReporter); ok && lr.Lost() != nil {
				err = lr.Lost()
			}
			c.fail(err)
			return
		}
		c.lastFrame.Store(time.Now().UnixNano())
		final := f.Op != protocol.OpItems
		c.mu.Lock()
		p, ok := c.pending[f.ID]
		if !ok {
			_, gone := c.forgotten[f.ID]
			if gone && final {
				delete(c.forgotten, f.ID)
			}
			c.mu.Unlock()
			if gone {
				continue
			}
			c.failAbort(fmt.Errorf("agent protocol: a reply (op %d) to request %d, which awaits none", f.Op, f.ID))
			return
		}
		if !final && !p.stream {
			c.mu.Unlock()
			c.failAbort(fmt.Errorf("agent protocol: items in reply to request %d, which takes one reply", f.ID))
			return
		}
		if final {
			delete(c.pending, f.ID)
		}
		c.mu.Unlock()
		select {
		case p.ch <- f:
		case <-c.dead:
			return
		}
	}
}

// fail marks the connection dead for err (the first reason wins).
func (c *Client) fail(err error) {
	c.deadOnce.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.dead)
		if cd := c.dp.Load(); cd != nil {
			cd.fail(err)
		}
	})
}

// failAbort fails the connection and cuts it, so that whatever blocks on
// it (a send the agent does not take) returns.
func (c *Client) failAbort(err error) {
	c.fail(err)
	c.abort()
}

// abort cuts the connection under the client without waiting for the
// agent.
func (c *Client) abort() {
	switch cl := c.closer.(type) {
	case Aborter:
		cl.Abort()
	case nil:
	default:
		go cl.Close()
	}
}

// watchdog fails the connection when the agent stays silent for c.stall
// while requests wait (over SSH or on the data path): after half that silence it sends a probe (a stat
// of the root, answered at once by a live agent even while long requests
// such as a hash or a watch run), so a slow request does not trip it, a
// frozen agent does.
func (c *Client) watchdog() {
	t := time.NewTicker(c.stall / 8)
	defer t.Stop()
	var probing atomic.Bool
	idle := true
	for {
		select {
		case <-c.dead:
			return
		case <-t.C:
		}
		// Busy: a request waits, or content went out lately (one-way
		// writes, the data path) that the agent must take.
		c.mu.Lock()
		busy := len(c.pending) > 0 || c.sending.Load() > 0 || time.Since(time.Unix(0, c.active.Load())) < c.stall/2
		c.mu.Unlock()
		if cd := c.dp.Load(); !busy && cd != nil {
			busy = cd.busy()
		}
		if !busy {
			idle = true
			continue
		}
		if idle { // the silence counts from when the client began to wait
			idle = false
			if now := time.Now().UnixNano(); now > c.lastFrame.Load() {
				c.lastFrame.Store(now)
			}
			continue
		}
		silent := time.Since(time.Unix(0, c.lastFrame.Load()))
		if silent > c.stall {
			c.failAbort(fmt.Errorf("the agent stopped answering (no reply in %s)", c.stall))
			return
		}
		if silent > c.stall/2 && c.ready.Load() && probing.CompareAndSwap(false, true) {
			go func() {
				defer probing.Store(false)
				var e protocol.Enc
				e.Str("")
				id, ch := c.register(1)
				if err := c.c.Send(protocol.OpStat, id, e.B); err != nil {
					c.forget(id)
					return
				}
				select {
				case <-ch:
				case <-c.dead:
				}
			}()
		}
	}
}

// register reserves a request id and the channel its one reply arrives
// on.
func (c *Client) register(buf int) (uint64, chan protocol.Frame) {
	return c.registerReq(buf, false)
}

func (c *Client) registerReq(buf int, stream bool) (uint64, chan protocol.Frame) {
	id := c.next.Add(1)
	ch := make(chan protocol.Frame, buf)
	c.mu.Lock()
	if len(c.pending) == 0 {
		c.lastFrame.Store(time.Now().UnixNano()) // the silence counts from now
	}
	c.pending[id] = pendingReq{ch: ch, stream: stream}
	c.mu.Unlock()
	return id, ch
}

// forget gives up on a request; its replies, if they come, are dropped.
func (c *Client) forget(id uint64) {
	c.mu.Lock()
	if _, ok := c.pending[id]; ok {
		delete(c.pending, id)
		c.forgotten[id] = struct{}{}
	}
	c.mu.Unlock()
}

// sendErr is the error of a failed send: why the connection ended, when
// it did.
func (c *Client) sendErr(err error) error {
	select {
	case <-c.dead:
		return c.connErr()
	default:
		return fmt.Errorf("agent connection: %w", err)
	}
}

// connErr is why the connection is unusable. It is fatal whatever ended
// the connection (a reset is transient for a new connection, not for
// this one): asking again cannot help.
func (c *Client) connErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return errcode.New(errcode.Fatal, fmt.Errorf("agent connection: %w", c.err))
}

// call sends a request and waits for its one reply.
func (c *Client) call(ctx context.Context, op byte, payload []byte) (protocol.Frame, error) {
	id, ch := c.register(1)
	return c.await(ctx, id, ch, op, payload)
}

func (c *Client) await(ctx context.Context, id uint64, ch chan protocol.Frame, op byte, payload []byte) (f protocol.Frame, err error) {
	if c.log != nil {
		defer c.traceRequest(ctx, op, id, len(payload), time.Now(), &err)
	}
	if err := c.c.Send(op, id, payload); err != nil {
		c.forget(id)
		return protocol.Frame{}, c.sendErr(err)
	}
	select {
	case f := <-ch:
		if f.Op == protocol.OpError {
			return protocol.Frame{}, protocol.DecodeError(f.Payload)
		}
		return f, nil
	case <-c.dead:
		return protocol.Frame{}, c.connErr()
	case <-ctx.Done():
		c.forget(id)
		return protocol.Frame{}, ctx.Err()
	}
}

// oneWay sends a request that gets no reply.
func (c *Client) oneWay(op byte, payload []byte) error {
	c.sending.Add(1)
	c.active.Store(time.Now().UnixNano())
	err := c.c.Send(op, 0, payload)
	c.sending.Add(-1)
	if err != nil {
		return c.sendErr(err)
	}
	return nil
}

// eachItem decodes one opItems payload (a count, then the items) and hands
// each item to fn.
func eachItem[T any](d *protocol.Dec, decode func(*protocol.Dec) T, fn func(T) error) error {
	for n := d.Uint(); n > 0 && d.Err == nil; n-- {
		v := decode(d)
		if d.Err != nil {
			return d.Err
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return d.Err
}

// stream sends a request whose reply is a run of opItems frames ended by
// opOK or opError, and hands each opItems payload to fn. When fn fails the
// request is cancelled and the rest drained. The agent sends within the
// stream's window (protocol.StreamWindow), which the queue holds whole:
// frames are credited back as they are consumed (drained ones too), so a
// slow fn holds up this stream, never the connection's reader.
func (c *Client) stream(ctx context.Context, op byte, payload []byte, fn func(*protocol.Dec) error) (err error) {
	id, ch := c.registerReq(protocol.StreamWindow+1, true)
	if c.log != nil {
		defer c.traceRequest(ctx, op, id, len(payload), time.Now(), &err)
	}
	if err := c.c.Send(op, id, payload); err != nil {
		c.forget(id)
		return c.sendErr(err)
	}
	var stop error
	cancel := func(err error) {
		if stop == nil {
			stop = err
			var e protocol.Enc
			e.Uint(id)
			c.oneWay(protocol.OpCancel, e.B)
		}
	}
	done := ctx.Done()
	consumed := 0 // frames not yet credited back
	for {
		select {
		case f := <-ch:
			switch f.Op {
			case protocol.OpItems:
				if stop == nil && ctx.Err() != nil {
					cancel(ctx.Err())
				}
				if stop == nil {
					d := &protocol.Dec{B: f.Payload}
					if err := fn(d); err != nil {
						cancel(err)
					} else if d.Err != nil {
						cancel(d.Err)
					}
				}
				if consumed++; consumed >= protocol.StreamWindow/2 {
					var e protocol.Enc
					e.Uint(id)
					e.Uint(uint64(consumed))
					c.oneWay(protocol.OpCredit, e.B) // a failed send: the connection is gone
					consumed = 0
				}
				continue
			case protocol.OpError:
				if stop != nil {
					return stop
				}
				return protocol.DecodeError(f.Payload)
			}
			if stop == nil {
				stop = ctx.Err()
			}
			return stop
		case <-done:
			done = nil
			cancel(ctx.Err())
		case <-c.dead:
			return c.connErr()
		}
	}
}

// inFlight is how many requests the pipeline keeps in flight: enough to
// hide the round trips of small files behind each other.
const inFlight = 32

// InFlight tells the pipeline to keep many requests in flight.
func (c *Client) InFlight() int { return inFlight }

// Caps reports what the agent's filesystem can do.
func (c *Client) Caps() core.Caps { return c.caps }

// Features reports the optional interfaces of the agent's backend (and
// Networked: the client's own).
func (c *Client) Features() core.Features { return c.features | core.FeatureNetworked }

// Backend returns the client as a core.Backend with exactly the optional
// interfaces of the agent's backend: the one to give the engine. (The
// Client itself has every method the protocol carries; one the agent's
// backend lacks fails with core.ErrUnsupported.)
func (c *Client) Backend() core.Backend { return core.Mask(c, c.Features()) }

// quiet reports whether the agent holds nothing the run still needs
// settled: the snapshot it opened is closed, and no request, one-way
// send or data path is under way.
func (c *Client) quiet() bool {
	if c.store.Load() != storeClosed || c.dp.Load() != nil || c.sending.Load() > 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) == 0
}

// Close ends the session with the agent: it waits for the agent to exit,
// unless the agent holds nothing (see Detacher).
func (c *Client) Close() error {
	c.later.cancel() // waits for an open under way: its streams close below
	if cd := c.dp.Load(); cd != nil {
		cd.fail(errDataClosed)
	}
	for _, d := range c.data {
		d.Close()
	}
	// Flushing what is queued and ending the session wait on the agent;
	// one that does not answer gets the connection cut instead.
	detach := c.quiet()
	done := make(chan error, 1)
	go func() {
		c.c.Stop()
		var err error
		if d, ok := c.closer.(Detacher); ok && detach {
			err = d.Detach()
		} else if c.closer != nil {
			err = c.closer.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(CloseWait):
	}
	c.abort()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Second):
		return errors.New("the agent did not take the end of the session")
	}
}

// Scan lists the remote tree; the agent applies opts.Prune itself.
func (c *Client) Scan(ctx context.Context, opts core.ScanOptions, fn func(core.Entry) error) error {
	var e protocol.Enc
	e.ScanOptions(opts)
	return c.stream(ctx, protocol.OpScan, e.B, func(d *protocol.Dec) error {
		return eachItem(d, (*protocol.Dec).Entry, func(en core.Entry) error {
			if en.Type != protocol.TypeUnreadable {
				return fn(en)
			}
			err := protocol.UnreadableErr(&en)
			if opts.Unreadable == nil {
				if errors.Is(err, core.ErrSymlinkLoop) {
					return nil // skipped, as before anyone listened
				}
				return fmt.Errorf("scan: %w", err)
			}
			return opts.Unreadable(en.Path, err)
		})
	})
}

// Watch follows changes on the server: the agent watches the tree there
// and streams the changed paths over the same connection.
func (c *Client) Watch(ctx context.Context, fn func(paths []string)) error {
	err := c.stream(ctx, protocol.OpWatch, nil, func(d *protocol.Dec) error {
		var batch []string
		err := eachItem(d, (*protocol.Dec).Str, func(p string) error {
			batch = append(batch, p)
			return nil
		})
		if len(batch) > 0 {
			fn(batch)
		}
		return err
	})
	if err == nil {
		err = ctx.Err()
	}
	return err
}

func (c *Client) entryCall(ctx context.Context, op byte, e *protocol.Enc) (core.Entry, error) {
	f, err := c.call(ctx, op, e.B)
	if err != nil {
		return core.Entry{}, err
	}
	d := protocol.Dec{B: f.Payload}
	en := d.Entry()
	return en, d.Err
}

// Stat returns one remote entry.
func (c *Client) Stat(ctx context.Context, p string) (core.Entry, error) {
	var e protocol.Enc
	e.Str(p)
	return c.entryCall(ctx, protocol.OpStat, &e)
}

// Mkdir creates a remote directory.
func (c *Client) Mkdir(ctx context.Context, p string, mode fs.FileMode) (core.Entry, error) {
	var e protocol.Enc
	e.Str(p)
	e.Uint(uint64(mode))
	return c.entryCall(ctx, protocol.OpMkdir, &e)
}

// Remove removes a remote entry if it matches pre.
func (c *Client) Remove(ctx context.Context, p string, pre core.Precondition) error {
	var e protocol.Enc
	e.Str(p)
	e.Precondition(pre)
	_, err := c.call(ctx, protocol.OpRemove, e.B)
	return err
}

// Rename moves a remote entry if it matches pre.
func (c *Client) Rename(ctx context.Context, from, to string, pre core.Precondition) (core.Entry, error) {
	var e protocol.Enc
	e.Str(from)
	e.Str(to)
	e.Precondition(pre)
	return c.entryCall(ctx, protocol.OpRename, &e)
}

// SetAttr changes a remote entry's attributes.
func (c *Client) SetAttr(ctx context.Context, p string, a core.Attrs) (core.Entry, error) {
	var e protocol.Enc
	e.Str(p)
	e.Attrs(a)
	return c.entryCall(ctx, protocol.OpSetAttr, &e)
}

// Symlink creates a remote symbolic link.
func (c *Client) Symlink(ctx context.Context, p, target string, pre core.Precondition) (core.Entry, error) {
	var e protocol.Enc
	e.Str(p)
	e.Str(target)
	e.Precondition(pre)
	return c.entryCall(ctx, protocol.OpSymlink, &e)
}

// Link makes a remote hard link.
func (c *Client) Link(ctx context.Context, existing, p string, pre core.Precondition) (core.Entry, error) {
	var e protocol.Enc
	e.Str(existing)
	e.Str(p)
	e.Precondition(pre)
	return c.entryCall(ctx, protocol.OpLink, &e)
}

// Hash fingerprints a file on the server: its content does not travel.
func (c *Client) Hash(ctx context.Context, p string, algo core.Checksum) (string, core.Entry, error) {
	var e protocol.Enc
	e.Str(p)
	e.Str(string(algo))
	f, err := c.call(ctx, protocol.OpHash, e.B)
	if err != nil {
		return "", core.Entry{}, err
	}
	d := protocol.Dec{B: f.Payload}
	sum := d.Str()
	en := d.Entry()
	return sum, en, d.Err
}

// Xattrs returns a remote entry's extended attributes.
func (c *Client) Xattrs(ctx context.Context, p string) (map[string][]byte, error) {
	var e protocol.Enc
	e.Str(p)
	f, err := c.call(ctx, protocol.OpXattrs, e.B)
	if err != nil {
		return nil, err
	}
	d := protocol.Dec{B: f.Payload}
	m := d.Xattrs()
	return m, d.Err
}

// SetXattrs sets a remote entry's extended attributes.
func (c *Client) SetXattrs(ctx context.Context, p string, attrs map[string][]byte) error {
	var e protocol.Enc
	e.Str(p)
	e.Xattrs(attrs)
	_, err := c.call(ctx, protocol.OpSetXattrs, e.B)
	return err
}

// AddDataPath gives the client another agent, on its own SSH connection,
// over which file content travels: large files are written through the
// data paths in turn, and reads are spread over all paths. Snapshot and
// metadata requests stay on the first connection. Close closes them.
func (c *Client) AddDataPath(d *Client) { c.data = append(c.data, d) }

// dataPath picks the connection for file content: the data paths in turn,
// with the main connection among them when main is set.
func (c *Client) dataPath(main bool) *Client {
	n := len(c.data)
	if n == 0 {
		return c
	}
	if main {
		n++
	}
	i := int(c.dataNext.Add(1) % uint64(n))
	if i == len(c.data) {
		return c
	}
	return c.data[i]
}

// largeFile is the size from which new files travel over the data paths.
const largeFile = 1 << 20

// Open reads a remote file from offset. The first chunk comes with the
// answer; further chunks are requested ahead of the reader.
func (c *Client) Open(ctx context.Context, p string, offset int64) (io.ReadCloser, core.Entry, error) {
	if len(c.data) > 0 {
		if d := c.dataPath(true); d != c {
			return d.Open(ctx, p, offset)
		}
	}
	var e protocol.Enc
	e.Str(p)
	e.Int(offset)
	cd := c.openData(ctx)
	var id uint64
	var f protocol.Frame
	var err error
	if cd != nil {
		id, f, err = c.dataCall(ctx, cd, protocol.OpOpen, e.B)
		var re *protocol.RemoteError
		if err != nil && !errors.As(err, &re) && ctx.Err() == nil && !cd.alive() {
			cd, err = nil, nil // the data path broke: a read is safe to ask again over SSH
		}
	}
	if cd == nil || errors.Is(err, errTooLarge) {
		var ch chan protocol.Frame
		id, ch = c.register(1)
		f, err = c.await(ctx, id, ch, protocol.OpOpen, e.B)
	}
	if err != nil {
		return nil, core.Entry{}, err
	}
	d := protocol.Dec{B: f.Payload}
	en := d.Entry()
	eof := d.Bool()
	chunk := d.Bytes()
	if d.Err != nil {
		return nil, core.Entry{}, d.Err
	}
	r := &remoteReader{c: c, ctx: ctx, handle: id, buf: chunk, eof: eof, held: !eof, next: offset + int64(len(chunk))}
	if cd != nil && !eof {
		r.dp, r.end = cd, en.Size // the rest comes over the data path
	}
	return r, en, nil
}

// remoteReader reads a remote file chunk by chunk, keeping readAhead
// requests in flight.
type remoteReader struct {
	c        *Client
	ctx      context.Context
	handle   uint64
	buf      []byte
	eof      bool // the agent reached the end (no more requests)
	next     int64
	inflight []chan protocol.Frame
	ids      []uint64
	err      error
	closed   bool
	// held: the agent keeps the file open under handle until CLOSEFILE.
	// An OPEN whose chunk ended the file closed it there already (every
	// agent does), so a small file's read costs no CLOSEFILE frame.
	held bool
	// Over the data path: the requests in flight there, and the size
	// the entry reported (no request goes beyond it).
	dp      *clientData
	end     int64
	dpIn    []chan datapath.Frame
	dpIDs   []uint64
	reading bool // counted in dp.readers
}

func (r *remoteReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.eof && len(r.inflight) == 0 && len(r.dpIn) == 0 {
			return 0, io.EOF
		}
		if r.dp != nil {
			r.readData(r.dp)
			continue
		}
		r.fill()
		if len(r.inflight) == 0 {
			continue
		}
		ch, id := r.inflight[0], r.ids[0]
		r.inflight, r.ids = r.inflight[1:], r.ids[1:]
		select {
		case f := <-ch:
			r.take(f.Op == protocol.OpError, f.Payload)
		case <-r.c.dead:
			r.err = r.c.connErr()
		case <-r.ctx.Done():
			r.c.forget(id)
			r.err = r.ctx.Err()
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// take stores the reply to one chunk request, over the control channel or
// the data path: the chunk and whether it ends the entry, or the error the
// agent sent instead (isErr).
func (r *remoteReader) take(isErr bool, body []byte) {
	if isErr {
		r.err = protocol.DecodeError(body)
		return
	}
	d := protocol.Dec{B: body}
	eof := d.Bool()
	r.buf = d.Bytes()
	if d.Err != nil {
		r.err = d.Err
	}
	if eof {
		r.eof = true
	}
}

// fill keeps readAhead chunk requests in flight until the end is known.
func (r *remoteReader) fill() {
	for !r.eof && len(r.inflight) < readAhead {
		var e protocol.Enc
		e.Uint(r.handle)
		e.Int(r.next)
		id, ch := r.c.register(1)
		if err := r.c.c.Send(protocol.OpRead, id, e.B); err != nil {
			r.c.forget(id)
			r.err = r.c.sendErr(err)
			return
		}
		r.inflight = append(r.inflight, ch)
		r.ids = append(r.ids, id)
		r.next += protocol.ChunkSize
	}
}

// Close tells the agent to close the file.
func (r *remoteReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	for _, id := range r.ids {
		r.c.forget(id)
	}
	for _, id := range r.dpIDs {
		r.dp.forget(id)
	}
	if r.reading {
		r.dp.readers.Add(-1)
	}
	if !r.held {
		return nil
	}
	var e protocol.Enc
	e.Uint(r.handle)
	return r.c.oneWay(protocol.OpCloseFile, e.B)
}

// Create starts a remote file. Content up to smallFile bytes travels with
// the commit in one request; larger files stream in chunks behind a
// one-way create.
func (c *Client) Create(ctx context.Context, p string, opts core.CreateOptions) (core.Writer, error) {
	if opts.Size > smallFile && opts.Partial == "" {
		if cd := c.openData(ctx); cd != nil {
			return c.createData(ctx, cd, p, opts)
		}
	}
	if opts.Size >= largeFile && len(c.data) > 0 {
		return c.dataPath(false).Create(ctx, p, opts)
	}
	w := &remoteWriter{c: c, ctx: ctx, path: p, opts: opts}
	if opts.Partial == "" {
		if opts.Size >= 0 && opts.Size <= smallFile {
			w.startFrame()
		}
		return w, nil
	}
	w.handle = c.next.Add(1)
	var e protocol.Enc
	e.Uint(w.handle)
	e.Str(p)
	e.CreateOptions(opts)
	f, err := c.call(ctx, protocol.OpCreateSync, e.B)
	if err != nil {
		return nil, err
	}
	d := protocol.Dec{B: f.Payload}
	w.offset = d.Int()
	w.started = true
	if len(d.B) > 0 && !d.Bool() { // the agent's writer cannot resume (an older agent's always can)
		return w, d.Err
	}
	return &resumableWriter{w}, d.Err
}

type remoteWriter struct {
	c    *Client
	ctx  context.Context
	path string
	opts core.CreateOptions
	buf  []byte // the content held back for a PUT (frame == nil)
	// frame, for a file expected to fit one PUT, is that request built
	// in place as the content arrives: room for the data path's call
	// header (callHead), the path, the options and the content's length
	// (opts.Size), then the content from body on. The content is copied
	// once, into it, and the frame is sent as it is.
	frame   []byte
	body    int
	handle  uint64
	started bool  // the agent holds a file under handle
	done    bool  // committed, aborted or kept
	err     error // a failed send
	offset  int64 // where a resumed partial file continues
}

// startFrame starts the PUT request of a file of opts.Size bytes, with
// room for exactly that content.
func (w *remoteWriter) startFrame() {
	// The header is encoded in place, in room for the path twice (the
	// file's and, replacing one, the precondition's entry's) and the
	// rest; a longer one only costs a copy.
	e := protocol.Enc{B: w.c.frames.get(callHead + 2*len(w.path) + frameSlack + int(w.opts.Size))[:callHead]}
	e.Str(w.path)
	e.CreateOptions(w.opts)
	e.Uint(uint64(w.opts.Size))
	w.frame, w.body = e.B, len(e.B)
}

// framePool is a bounded free list of PUT frames: a frame the data path
// wrote comes back (Recycle) for a next file's, so that a small file's
// frame is not a new zeroed buffer each. A frame kept beyond the list,
// sent over SSH or dropped is left to the collector.
type framePool struct{ free chan []byte }

// Sizes of the frames framePool keeps: at most pooledFrames, as many as
// small files can be in flight (fewer left the list empty while the
// workers' files were under way, and most frames were new again), each
// at least minFrame (any file up to ~7 KiB fits any pooled frame) and at
// most maxPooledFrame: the pool holds no more than was in flight.
const (
	pooledFrames   = smallWorkers
	minFrame       = 8 << 10
	maxPooledFrame = smallMax
)

func newFramePool() framePool { return framePool{free: make(chan []byte, pooledFrames)} }

// get returns an empty buffer with room for n bytes.
func (p framePool) get(n int) []byte {
	select {
	case b := <-p.free:
		if cap(b) >= n {
			return b[:0]
		}
	default:
	}
	return make([]byte, 0, max(n, minFrame))
}

// Recycle takes back a frame the data path wrote.
func (p framePool) Recycle(b []byte) {
	if cap(b) > maxPooledFrame {
		return
	}
	select {
	case p.free <- b:
	default:
	}
}

// frameSlack is the room startFrame keeps for a PUT's header beyond its
// paths: the options, an expected entry's fields and the content's
// length.
const frameSlack = 192

// held is the content held back for a PUT.
func (w *remoteWriter) held() []byte {
	if w.frame != nil {
		return w.frame[w.body:]
	}
	return w.buf
}

func (w *remoteWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if !w.started && len(w.held())+len(p) <= smallFile {
		if w.frame != nil {
			w.frame = append(w.frame, p...)
		} else {
			w.buf = append(w.buf, p...)
		}
		return len(p), nil
	}
	if !w.started {
		w.handle = w.c.next.Add(1)
		var e protocol.Enc
		e.Uint(w.handle)
		e.Str(w.path)
		e.CreateOptions(w.opts)
		if w.err = w.c.oneWay(protocol.OpCreate, e.B); w.err != nil {
			return 0, w.err
		}
		w.started = true
		if err := w.send(w.held()); err != nil {
			return 0, err
		}
		w.buf, w.frame = nil, nil
	}
	if err := w.send(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// send streams p in chunks.
func (w *remoteWriter) send(p []byte) error {
	for len(p) > 0 {
		n := min(len(p), protocol.ChunkSize)
		var e protocol.Enc
		e.Uint(w.handle)
		e.Bytes(p[:n])
		if w.err = w.c.oneWay(protocol.OpWrite, e.B); w.err != nil {
			return w.err
		}
		p = p[n:]
	}
	return nil
}

func (w *remoteWriter) Commit(ctx context.Context) (core.Entry, error) {
	if w.err != nil {
		w.Abort()
		return core.Entry{}, w.err
	}
	w.done = true
	var e protocol.Enc
	if !w.started {
		frame, head := w.frame, callHead
		if content := w.held(); frame == nil || int64(len(content)) != w.opts.Size {
			// Not the size the frame was made for: the frame again, for
			// what came. One allocation: the path, the options and the
			// content.
			frame = make([]byte, callHead, callHead+len(w.path)+len(content)+128)
			e.B = frame
			e.Str(w.path)
			e.CreateOptions(w.opts)
			e.Bytes(content)
			frame = e.B
		}
		e.B = frame[head:]
		if cd := w.c.openData(ctx); cd != nil { // a small file, in one frame
			_, f, err := w.c.dataCallFrame(ctx, cd, protocol.OpPut, frame, head, w.c.frames)
			if !errors.Is(err, errTooLarge) {
				w.frame, w.buf = nil, nil // sent: the frame is the pool's again
				if err != nil {
					return core.Entry{}, err
				}
				d := protocol.Dec{B: f.Payload}
				en := d.EntryOf(w.path)
				return en, d.Err
			}
		}
		return w.c.entryCall(ctx, protocol.OpPut, &e)
	}
	e.Uint(w.handle)
	return w.c.entryCall(ctx, protocol.OpCommit, &e)
}

func (w *remoteWriter) Abort() error {
	if w.done || !w.started {
		w.done = true
		return nil
	}
	w.done = true
	var e protocol.Enc
	e.Uint(w.handle)
	return w.c.oneWay(protocol.OpAbort, e.B)
}

// resumableWriter continues a partial file kept on the server.
type resumableWriter struct{ *remoteWriter }

var _ core.Resumer = resumableWriter{}

func (w resumableWriter) Offset() int64 { return w.offset }

// Abort drops the partial file and waits until the agent has: its name
// is the key's, so a writer started next with the same key (perhaps over
// another connection) must not lose its file to this abort arriving late.
// The agent handles one-way requests in order, so the answer to any call
// sent after the abort means the abort was done.
func (w resumableWriter) Abort() error {
	if w.done {
		return nil
	}
	if err := w.remoteWriter.Abort(); err != nil {
		return err
	}
	var e protocol.Enc
	e.Str("")
	w.c.call(w.ctx, protocol.OpStat, e.B) // a barrier: its answer does not matter
	return nil
}

func (w resumableWriter) Keep() error {
	if w.done {
		return nil
	}
	w.done = true
	var e protocol.Enc
	e.Uint(w.handle)
	_, err := w.c.call(w.ctx, protocol.OpKeep, e.B)
	return err
}
