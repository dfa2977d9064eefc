package client

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/async-sync/async/backends/ssh/datapath"
	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
)

// DataOptions configure Client.OpenDataPath.
type DataOptions struct {
	// Host is where the agent's data port is reached: the server's
	// address of the SSH connection (Conn.RemoteIP).
	Host string
	// Port asks the agent for this port (-O; 0: the agent's choice, from
	// data_ports in its configuration).
	Port int
	// Streams is the number of parallel TCP streams (default
	// DefaultDataStreams).
	Streams int
	// Timeout bounds connecting the streams (default 5 s): a port that a
	// firewall drops costs this, never a hang.
	Timeout time.Duration
	// CC is the TCP congestion control to ask for on both ends (default
	// bbr; the system's own where the kernel refuses it).
	CC string
	// Dial replaces the dialer (tests put a proxy in between).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Transport carries the streams: TCP (default), UDP or QUIC.
	Transport datapath.Transport
	// Rate is the target rate, bit/s: the UDP transport sends at it, both
	// ways (required there).
	Rate int64
	// Failed is told once, when the data path breaks during the run;
	// content then moves over SSH again.
	Failed func(err error)
}

// DefaultDataStreams is the number of data streams without --data-streams
// [decision]: enough that one stream's loss recovery does not stall the
// transfer, few enough to stay fair to other traffic.
const DefaultDataStreams = 4

// DataInfo describes an open data path.
type DataInfo struct {
	Addr      string // host:port
	Transport datapath.Transport
	Streams   int
	CC        string // this side's congestion control
	AgentCC   string // the agent's
}

// clientData is the client's end of a data path.
type clientData struct {
	streams []*datapath.Stream
	ids     *atomic.Uint64 // the client's request ids
	failed  func(error)
	sending atomic.Int32  // sends under way (the client's watchdog counts them)
	active  *atomic.Int64 // the client's time of the last send

	mu      sync.Mutex
	pending map[uint64]chan datapath.Frame
	err     error
	dead    chan struct{}

	ahead   atomic.Int32    // chunks the files being read keep requested (readAhead)
	aheadAt atomic.Int64    // when ahead was computed, unix ns
	readers atomic.Int32    // files being read over the data path
	win     window          // small files' bytes in flight
	life    context.Context // ends with the data path
	endLife context.CancelFunc
}

// Small files on the data path are bounded by bytes in flight, sized by
// the path's bandwidth × delay (from the streams' TCP_INFO: their
// delivery rates added up, times the smallest round trip), twice over so
// that the window is never what holds the path back; between
// minWindow, which already carries 100 Mbit/s at 80 ms, and maxWindow.
// The pipeline runs up to smallWorkers workers for files up to
// smallMax; the window, not their number, decides how many are in
// flight [decision].
const (
	minWindow    = 1 << 20
	maxWindow    = 32 << 20
	smallWorkers = 512
	smallMax     = 64 << 10
)

// window admits requests while the bytes in flight fit its size; one
// request is always admitted, whatever its size.
type window struct {
	mu     sync.Mutex
	cond   *sync.Cond
	inUse  int64
	size   int64
	sized  time.Time // when size was last computed
	peak   int64     // the most bytes in flight at once (tests read it)
	resize func() int64
}

// acquire waits until n bytes fit, or ctx ends or dead (the data path's
// life) does.
func (w *window) acquire(ctx, dead context.Context, n int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cond == nil {
		w.cond = sync.NewCond(&w.mu)
	}
	var stop func() bool
	for {
		if now := time.Now(); w.resize != nil && now.Sub(w.sized) > 100*time.Millisecond {
			w.size, w.sized = w.resize(), now
		}
		if w.inUse == 0 || w.inUse+n <= w.size {
			w.inUse += n
			w.peak = max(w.peak, w.inUse)
			if stop != nil {
				stop()
			}
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if dead.Err() != nil {
			return errDataClosed
		}
		if stop == nil {
			wake := func() { w.mu.Lock(); w.cond.Broadcast(); w.mu.Unlock() }
			s1 := context.AfterFunc(ctx, wake)
			s2 := context.AfterFunc(dead, wake)
			stop = func() bool { s1(); return s2() }
			defer stop()
		}
		w.cond.Wait()
	}
}

// release gives n bytes back.
func (w *window) release(n int64) {
	w.mu.Lock()
	w.inUse -= n
	if w.cond != nil {
		w.cond.Broadcast()
	}
	w.mu.Unlock()
}

// windowSize sizes the small files' window from the path's estimate.
func (cd *clientData) windowSize() int64 {
	p := datapath.Estimate(cd.streams)
	if !p.OK {
		return minWindow
	}
	return int64(min(max(2*p.BDP(), minWindow), maxWindow))
}

// SmallFiles asks the pipeline for many workers for small files while a
// data path runs: their window of bytes in flight, not a count of
// requests, bounds them (over SSH alone, InFlight does).
func (c *Client) SmallFiles() core.ThreadClass {
	if c.tcpData() == nil && !c.later.pending.Load() {
		return core.ThreadClass{}
	}
	return core.ThreadClass{N: smallWorkers, MaxSize: smallMax}
}

// OpenDataPath asks the agent for a data path and connects its streams.
// On success, files larger than one chunk are written and read over it;
// an error leaves the client on SSH alone (the caller warns).
func (c *Client) OpenDataPath(ctx context.Context, o DataOptions) (DataInfo, error) {
	if o.Streams == 0 {
		o.Streams = DefaultDataStreams
	}
	if o.Streams < 1 || o.Streams > datapath.MaxStreams {
		return DataInfo{}, fmt.Errorf("%d data streams (want 1 to %d)", o.Streams, datapath.MaxStreams)
	}
	if o.CC == "" {
		o.CC = datapath.DefaultCC
	}
	var e protocol.Enc
	e.Uint(uint64(o.Streams))
	e.Uint(uint64(o.Port))
	e.Str(o.CC)
	if o.Transport != "" && o.Transport != datapath.TCP {
		if o.Transport == datapath.UDP && o.Rate <= 0 {
			return DataInfo{}, datapath.ErrNoRate
		}
		e.Str(string(o.Transport))
		e.Uint(uint64(max(o.Rate, 0)))
	}
	f, err := c.call(ctx, protocol.OpDataOpen, e.B)
	if err != nil {
		return DataInfo{}, fmt.Errorf("the agent opened no data port: %w", err)
	}
	d := protocol.Dec{B: f.Payload}
	port, kb, n := d.Uint(), d.Bytes(), d.Uint()
	var fp []byte
	if o.Transport == datapath.QUIC {
		fp = d.Bytes()
	}
	if d.Err != nil || len(kb) != datapath.KeySize || n != uint64(o.Streams) || port == 0 || port > 65535 {
		return DataInfo{}, errors.New("agent protocol: a bad data path answer")
	}
	var key datapath.Key
	copy(key[:], kb)
	addr := net.JoinHostPort(o.Host, strconv.Itoa(int(port)))
	streams, agentCC, err := datapath.Dial(ctx, addr, key, o.Streams, datapath.DialOptions{Timeout: o.Timeout, CC: o.CC, Dial: o.Dial,
		Transport: o.Transport, Rate: o.Rate, Fingerprint: fp})
	if err != nil {
		return DataInfo{}, err
	}
	cd := &clientData{streams: streams, ids: &c.next, active: &c.active, pending: map[uint64]chan datapath.Frame{}, dead: make(chan struct{}), failed: o.Failed}
	cd.life, cd.endLife = context.WithCancel(context.Background())
	cd.win.resize = cd.windowSize
	for _, s := range streams {
		go cd.readLoop(s)
	}
	c.dp.Store(cd)
	return DataInfo{Addr: addr, Transport: cmp.Or(o.Transport, datapath.TCP), Streams: len(streams), CC: streams[0].CC, AgentCC: agentCC}, nil
}

// readLoop hands the agent's answers on one stream to their requests.
func (cd *clientData) readLoop(s *datapath.Stream) {
	for {
		f, err := s.Recv()
		if err != nil {
			cd.fail(err)
			return
		}
		d := protocol.Dec{B: f.Body}
		id := d.Uint()
		if d.Err != nil || f.Type != protocol.DPData && f.Type != protocol.DPError && f.Type != protocol.DPReply {
			cd.fail(errors.New("agent protocol: a bad data frame"))
			return
		}
		f.Body = d.B
		cd.mu.Lock()
		ch := cd.pending[id]
		delete(cd.pending, id)
		cd.mu.Unlock()
		if ch != nil {
			ch <- f // buffered: never blocks
		}
	}
}

// fail ends the data path: every stream closes, waiting requests get err.
func (cd *clientData) fail(err error) {
	cd.mu.Lock()
	first := cd.err == nil
	if first {
		if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("the data path closed: %w", err)
		}
		cd.err = err
	}
	cd.mu.Unlock()
	if !first {
		return
	}
	if cd.failed != nil && !errors.Is(err, errDataClosed) {
		cd.failed(err) // told before any request sees the failure
	}
	close(cd.dead)
	cd.endLife()
	for _, s := range cd.streams {
		s.Close()
	}
}

var errDataClosed = errors.New("data path closed")

// alive reports whether the data path still runs.
func (cd *clientData) alive() bool {
	select {
	case <-cd.dead:
		return false
	default:
		return true
	}
}

func (cd *clientData) error() error {
	cd.mu.Lock()
	defer cd.mu.Unlock()
	return cd.err
}

// send queues a frame on the data path's shared queue: the first
// stream whose socket has room sends it, so chunks spread over every
// stream and a stream slowed by loss takes less.
func (cd *clientData) send(ctx context.Context, typ byte, body []byte) error {
	return cd.sendOwned(ctx, typ, append([]byte(nil), body...), nil, nil)
}

// sendOwned is send for a body the data path takes over: it is not
// copied, and must not be changed or reused after. With a recycler, the
// body lies in buf, which goes back to rec once written.
func (cd *clientData) sendOwned(ctx context.Context, typ byte, body, buf []byte, rec datapath.Recycler) error {
	cd.sending.Add(1)
	defer cd.sending.Add(-1)
	cd.active.Store(time.Now().UnixNano())
	var err error
	if rec != nil {
		err = cd.streams[0].SendAnyRecycled(ctx, typ, body, buf, rec)
	} else {
		err = cd.streams[0].SendAnyOwned(ctx, typ, body)
	}
	if err != nil {
		if ctx.Err() == nil {
			cd.fail(err) // a stream that cannot be written to: the data path is broken
		}
		if e := cd.error(); e != nil {
			return e
		}
		return err
	}
	return nil
}

// busy reports whether the data path waits on the agent: a send under
// way or a request unanswered.
func (cd *clientData) busy() bool {
	if !cd.alive() {
		return false
	}
	cd.mu.Lock()
	defer cd.mu.Unlock()
	return len(cd.pending) > 0 || cd.sending.Load() > 0
}

// register reserves a request id for a read or a call. Ids come from
// the client's own sequence, so that the handle of a file opened on the
// data path never meets one opened over SSH.
func (cd *clientData) register() (uint64, chan datapath.Frame) {
	id := cd.ids.Add(1)
	ch := make(chan datapath.Frame, 1)
	cd.mu.Lock()
	cd.pending[id] = ch
	cd.mu.Unlock()
	return id, ch
}

func (cd *clientData) forget(id uint64) {
	cd.mu.Lock()
	delete(cd.pending, id)
	cd.mu.Unlock()
}

// call sends a PUT or an OPEN over the data path and waits for its
// answer, as Client.call does over SSH. A request too large for one frame
// (a path of tens of KiB) reports errTooLarge, and goes over SSH.
func (cd *clientData) call(ctx context.Context, op byte, payload []byte) (uint64, protocol.Frame, error) {
	if len(payload)+32 > datapath.MaxBody {
		return 0, protocol.Frame{}, errTooLarge
	}
	frame := make([]byte, callHead, callHead+len(payload))
	return cd.callFrame(ctx, op, append(frame, payload...), callHead, nil)
}

// callHead is the room a call's frame keeps before its payload for the
// call's header: the request id and the op, two uvarints.
const callHead = 2 * binary.MaxVarintLen64

// callFrame is call for a payload built in place, frame[head:], with at
// least callHead bytes of room before it (head ≥ callHead): the header
// goes there, and the frame is sent as it is, never copied. The data
// path takes frame over.
func (cd *clientData) callFrame(ctx context.Context, op byte, frame []byte, head int, rec datapath.Recycler) (uint64, protocol.Frame, error) {
	payload := frame[head:]
	if len(payload)+32 > datapath.MaxBody {
		return 0, protocol.Frame{}, errTooLarge
	}
	if op == protocol.OpPut {
		n := int64(len(payload))
		if err := cd.win.acquire(ctx, cd.life, n); err != nil {
			if errors.Is(err, errDataClosed) {
				err = cd.error()
			}
			return 0, protocol.Frame{}, fmt.Errorf("data path: %w", err)
		}
		defer cd.win.release(n)
	}
	id, ch := cd.register()
	var hb [callHead]byte
	hdr := binary.AppendUvarint(binary.AppendUvarint(hb[:0], id), uint64(op))
	start := head - len(hdr)
	copy(frame[start:head], hdr)
	if err := cd.sendOwned(ctx, protocol.DPCall, frame[start:], frame, rec); err != nil {
		cd.forget(id)
		return 0, protocol.Frame{}, fmt.Errorf("data path: %w", err)
	}
	select {
	case f := <-ch:
		if f.Type == protocol.DPError {
			return 0, protocol.Frame{}, protocol.DecodeError(f.Body)
		}
		d := protocol.Dec{B: f.Body}
		rop := d.Uint()
		if d.Err != nil {
			return 0, protocol.Frame{}, d.Err
		}
		return id, protocol.Frame{Op: byte(rop), ID: id, Payload: d.B}, nil
	case <-cd.dead:
		return 0, protocol.Frame{}, fmt.Errorf("data path: %w", cd.error())
	case <-ctx.Done():
		cd.forget(id)
		return 0, protocol.Frame{}, ctx.Err()
	}
}

var errTooLarge = errors.New("too large for the data path")

// lazyData is a data path to open when file content first needs it: a
// run that moves no content (a resync without changes) opens none.
type lazyData struct {
	pending atomic.Bool // o is set
	mu      sync.Mutex  // held while opening: the others wait for it
	o       *DataOptions
	opened  func(DataInfo, error)
}

// OpenDataPathLater is OpenDataPath on the first request that carries
// file content (a read, a write), rather than now. opened is told its
// outcome, once: on an error the client stays on SSH alone (the caller
// warns). An open that the requesting context ended is tried again by the
// next request.
func (c *Client) OpenDataPathLater(o DataOptions, opened func(DataInfo, error)) {
	c.later.mu.Lock()
	defer c.later.mu.Unlock()
	c.later.o, c.later.opened = &o, opened
	c.later.pending.Store(true)
}

// openData returns the running data path, opening it first when
// OpenDataPathLater asked for it; nil without one.
func (c *Client) openData(ctx context.Context) *clientData {
	if cd := c.tcpData(); cd != nil || !c.later.pending.Load() {
		return cd
	}
	l := &c.later
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.o == nil { // opened by another request meanwhile, or given up
		return c.tcpData()
	}
	info, err := c.OpenDataPath(ctx, *l.o)
	if err != nil && ctx.Err() != nil {
		return nil // this request ended: the next one tries
	}
	l.o = nil
	l.pending.Store(false)
	l.opened(info, err)
	return c.tcpData()
}

// cancel drops a data path not opened yet, after an open under way ended.
func (l *lazyData) cancel() {
	l.mu.Lock()
	l.o = nil
	l.pending.Store(false)
	l.mu.Unlock()
}

// tcpData returns the running data path, or nil.
func (c *Client) tcpData() *clientData {
	if cd := c.dp.Load(); cd != nil && cd.alive() {
		return cd
	}
	return nil
}

// dataReadAhead is how many chunks of a file are requested ahead over the
// data path at least: 4 MiB, a 100 Mbit/s link's bandwidth × delay at
// 300 ms. On a long lossy path nearly every chunk waits for a
// retransmission and the chunks after it wait for it in turn, so more
// are asked for there: 16 per 50 ms of the path's smallest round trip,
// up to maxReadAhead, shared by the files being read at once.
const (
	dataReadAhead = 16
	maxReadAhead  = 64
)

// readAhead is how many chunks each file being read keeps requested
// (the path's round trip is read at most every 100 ms).
func (cd *clientData) readAhead() int {
	now := time.Now().UnixNano()
	if last := cd.aheadAt.Load(); now-last > int64(100*time.Millisecond) && cd.aheadAt.CompareAndSwap(last, now) {
		n := dataReadAhead
		if p := datapath.Estimate(cd.streams); p.OK {
			n = min(int(float64(dataReadAhead)*p.MinRTT.Seconds()/0.05), maxReadAhead)
		}
		cd.ahead.Store(int32(n))
	}
	return max(int(cd.ahead.Load())/max(int(cd.readers.Load()), 1), dataReadAhead)
}

// createData starts a file whose content goes over the data path.
func (c *Client) createData(ctx context.Context, cd *clientData, p string, opts core.CreateOptions) (core.Writer, error) {
	h := c.next.Add(1)
	var e protocol.Enc
	e.Uint(h)
	e.Str(p)
	e.CreateOptions(opts)
	if _, err := c.call(ctx, protocol.OpDataCreate, e.B); err != nil {
		return nil, err
	}
	return &dataFileWriter{c: c, cd: cd, ctx: ctx, handle: h, buf: make([]byte, 0, protocol.ChunkSize)}, nil
}

// dataFileWriter sends a file's content in chunks over the data path's
// streams; the commit, over SSH, names how many bytes were sent, and the
// agent commits once they all arrived.
type dataFileWriter struct {
	c      *Client
	cd     *clientData
	ctx    context.Context
	handle uint64
	buf    []byte
	off    int64 // bytes sent
	done   bool
	err    error
}

func (w *dataFileWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), protocol.ChunkSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == protocol.ChunkSize {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *dataFileWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	var e protocol.Enc
	e.Uint(w.handle)
	e.Int(w.off)
	e.Bytes(w.buf)
	if err := w.cd.sendOwned(w.ctx, protocol.DPWrite, e.B, nil, nil); err != nil { // e.B is this frame's own
		w.err = fmt.Errorf("data path: %w", err)
		return w.err
	}
	w.off += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

func (w *dataFileWriter) Commit(ctx context.Context) (core.Entry, error) {
	if err := w.flush(); err != nil {
		w.Abort()
		return core.Entry{}, err
	}
	w.done = true
	var e protocol.Enc
	e.Uint(w.handle)
	e.Int(w.off)
	return w.c.entryCall(ctx, protocol.OpDataCommit, &e)
}

func (w *dataFileWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	var e protocol.Enc
	e.Uint(w.handle)
	return w.c.oneWay(protocol.OpAbort, e.B)
}

// fillData keeps readAhead chunk requests in flight over the data path.
func (r *remoteReader) fillData(cd *clientData) {
	if !r.reading {
		r.reading = true
		cd.readers.Add(1)
	}
	ahead := cd.readAhead()
	for !r.eof && r.next < r.end && len(r.dpIn) < ahead {
		id, ch := cd.register()
		var e protocol.Enc
		e.Uint(id)
		e.Uint(r.handle)
		e.Int(r.next)
		if err := cd.sendOwned(r.ctx, protocol.DPRead, e.B, nil, nil); err != nil {
			cd.forget(id)
			r.err = fmt.Errorf("data path: %w", err)
			return
		}
		r.dpIn = append(r.dpIn, ch)
		r.dpIDs = append(r.dpIDs, id)
		r.next += protocol.ChunkSize
	}
}

// readData takes the next chunk that arrived over the data path.
func (r *remoteReader) readData(cd *clientData) {
	r.fillData(cd)
	if r.err != nil {
		return
	}
	if len(r.dpIn) == 0 {
		r.eof = true // everything up to the entry's size was read
		return
	}
	ch, id := r.dpIn[0], r.dpIDs[0]
	r.dpIn, r.dpIDs = r.dpIn[1:], r.dpIDs[1:]
	select {
	case f := <-ch:
		r.take(f.Type == protocol.DPError, f.Body)
	case <-cd.dead:
		r.err = fmt.Errorf("data path: %w", cd.error())
	case <-r.ctx.Done():
		cd.forget(id)
		r.err = r.ctx.Err()
	}
}

// QueueDelay reports how long the data path's packets wait in queues on
// the path (see datapath.QueueDelay), and the path's base round trip; ok
// is false without a running data path, or where the kernel does not
// say. The session's rate policy reads it to see competing traffic.
func (c *Client) QueueDelay() (delay, base time.Duration, ok bool) {
	cd := c.tcpData()
	if cd == nil {
		return 0, 0, false
	}
	return datapath.QueueDelay(cd.streams)
}
