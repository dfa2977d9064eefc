package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/async-sync/async/backends/ssh/datapath"
	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
)

// dataAcceptTimeout bounds how long the agent waits for the client's
// streams once it offered a data path.
const dataAcceptTimeout = 15 * time.Second

// maxDataOffset bounds a write's offset (a file of 2^60 bytes).
const maxDataOffset = 1 << 60

// DataHost returns the server's address of an SSH connection, from the
// SSH_CONNECTION variable sshd sets ("client port server port"): where
// the agent listens for the data path, so that it is reached where SSH
// was. Empty (every address) when the variable is missing or odd.
func DataHost(sshConnection string) string {
	f := strings.Fields(sshConnection)
	if len(f) != 4 || net.ParseIP(f[2]) == nil {
		return ""
	}
	return f[2]
}

// agentData is the agent's end of a data path.
type agentData struct {
	mu      sync.Mutex
	cond    *sync.Cond // signalled when bytes arrive or the path ends
	streams []*datapath.Stream
	err     error // why the path ended
	wg      sync.WaitGroup
	calls   chan struct{} // calls being served (protocol.MaxServing)
	// jobs hands a call to an idle worker; workers counts them (under
	// mu), up to protocol.MaxServing; done ends them with the path.
	jobs    chan dataJob
	workers int
	done    chan struct{}
	// payloads holds the buffers of calls served, for the next ones
	// (*[]byte; callPayload, freePayload).
	payloads sync.Pool
}

// maxPooledPayload bounds the calls whose buffers are reused: small
// files' PUTs; a larger call's buffer is left to the collector, so that
// the pool holds at most protocol.MaxServing small buffers.
const maxPooledPayload = 64 << 10

// callPayload copies a call's payload, read in its stream's scratch
// buffer, into a buffer of its own for the worker that serves it.
func (d *agentData) callPayload(p []byte) *[]byte {
	b, _ := d.payloads.Get().(*[]byte)
	switch {
	case b == nil:
		nb := make([]byte, 0, max(len(p), 4<<10))
		b = &nb
	case cap(*b) < len(p):
		*b = make([]byte, 0, len(p))
	}
	*b = append((*b)[:0], p...)
	return b
}

// freePayload gives back a served call's buffer (nothing of it may be
// used after).
func (d *agentData) freePayload(b *[]byte) {
	if cap(*b) <= maxPooledPayload {
		d.payloads.Put(b)
	}
}

// dataJob is a call that came on a stream, for a worker to serve.
type dataJob struct {
	s       *datapath.Stream
	id, op  uint64
	payload *[]byte // from agentData.callPayload, freed once served
}

func (d *agentData) fail(err error) {
	d.mu.Lock()
	if d.err == nil {
		d.err = fmt.Errorf("data path: %w", err)
		close(d.done)
	}
	streams := d.streams
	d.cond.Broadcast()
	d.mu.Unlock()
	for _, s := range streams {
		s.Close()
	}
}

// Close ends the data path and waits for its streams' requests.
func (d *agentData) Close() error {
	d.fail(net.ErrClosed)
	d.wg.Wait()
	return nil
}

// dataWriter is a file written at offsets by the data path's streams.
// Its lock keeps a write from running into a commit or an abort, which
// close the descriptor.
type dataWriter struct {
	mu     sync.Mutex
	w      core.Writer
	wa     io.WriterAt
	closed bool
	err    error
	got    int64 // bytes arrived (under agentData.mu)
}

func (w *dataWriter) Write([]byte) (int, error) {
	return 0, errors.New("agent protocol: a data-path file is written through the data path")
}

func (w *dataWriter) writeAt(p []byte, off int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.err != nil {
		return
	}
	if _, err := w.wa.WriteAt(p, off); err != nil {
		w.err = err
	}
}

func (w *dataWriter) Commit(ctx context.Context) (core.Entry, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return core.Entry{}, errors.New("agent protocol: commit of a finished file")
	}
	w.closed = true
	if w.err != nil {
		w.w.Abort()
		return core.Entry{}, w.err
	}
	return w.w.Commit(ctx)
}

func (w *dataWriter) Abort() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	return w.w.Abort()
}

// dataOpen listens for the client's streams and answers with the port
// and the one-time key (only ever sent over the SSH connection).
func (a *agent) dataOpen(ctx context.Context, d *protocol.Dec) (byte, []byte, error) {
	n, port, cc := d.Uint(), d.Uint(), d.Str()
	// Since the UDP and QUIC transports: the transport and the target
	// rate (bit/s) may follow; without them, TCP.
	var tname string
	var rate uint64
	if d.Err == nil && len(d.B) > 0 {
		tname, rate = d.Str(), d.Uint()
	}
	tr, terr := datapath.ParseTransport(tname)
	switch {
	case d.Err != nil:
		return 0, nil, d.Err
	case n < 1 || n > datapath.MaxStreams:
		return 0, nil, fmt.Errorf("agent protocol: %d data streams (want 1 to %d)", n, datapath.MaxStreams)
	case port > 65535:
		return 0, nil, fmt.Errorf("agent protocol: data port %d", port)
	case len(cc) > 16:
		return 0, nil, errors.New("agent protocol: a congestion control name over 16 bytes")
	case terr != nil:
		return 0, nil, fmt.Errorf("agent protocol: %w", terr)
	case rate > 1<<40:
		return 0, nil, fmt.Errorf("agent protocol: data path rate %d", rate)
	}
	if cc == "" {
		cc = datapath.DefaultCC
	}
	dp := &agentData{calls: make(chan struct{}, protocol.MaxServing), jobs: make(chan dataJob), done: make(chan struct{})}
	dp.cond = sync.NewCond(&dp.mu)
	a.mu.Lock()
	if a.data != nil {
		a.mu.Unlock()
		return 0, nil, errors.New("agent protocol: a second data path")
	}
	a.data = dp
	a.mu.Unlock()
	key, err := datapath.NewKey()
	if err != nil {
		dp.fail(err)
		return 0, nil, err
	}
	var ln *datapath.Listener
	switch tr {
	case datapath.UDP:
		ln, err = datapath.ListenUDP(a.o.DataHost, int(port), a.o.Config.DataPorts, key, int64(rate), int(n))
	case datapath.QUIC:
		ln, err = datapath.ListenQUIC(a.o.DataHost, int(port), a.o.Config.DataPorts, key)
	default:
		ln, err = datapath.Listen(a.o.DataHost, int(port), a.o.Config.DataPorts, key, cc)
	}
	if err != nil {
		dp.fail(err)
		return 0, nil, err
	}
	a.log.Info("data path offered", "transport", tr, "port", ln.Port(), "streams", n)
	dp.wg.Go(func() {
		streams, err := ln.Accept(ctx, int(n), dataAcceptTimeout)
		if err != nil {
			a.log.Info("data path not connected", "err", err)
			dp.fail(err)
			return
		}
		dp.mu.Lock()
		if dp.err != nil {
			dp.mu.Unlock()
			for _, s := range streams {
				s.Close()
			}
			return
		}
		dp.streams = streams
		dp.mu.Unlock()
		a.log.Info("data path connected", "streams", n, "congestion", streams[0].CC)
		for _, s := range streams {
			dp.wg.Go(func() { a.serveStream(ctx, dp, s) })
		}
	})
	var e protocol.Enc
	e.Uint(uint64(ln.Port()))
	e.Bytes(key[:])
	e.Uint(n)
	if tr == datapath.QUIC {
		e.Bytes(ln.Fingerprint())
	}
	return protocol.OpOK, e.B, nil
}

// serveStream carries out what arrives on one stream: writes at offsets
// of data-path files, reads of open files and calls. Answers go on the
// data path's shared queue, so whichever stream has room carries them
// (the client matches them to their requests by id).
func (a *agent) serveStream(ctx context.Context, dp *agentData, s *datapath.Stream) {
	for {
		// Nothing of a frame is kept once the next is read: a write's
		// bytes are written at once, a call's payload is copied.
		f, err := s.RecvScratch()
		if err != nil {
			dp.fail(err)
			return
		}
		d := protocol.Dec{B: f.Body}
		switch f.Type {
		case protocol.DPWrite:
			h, off, b := d.Uint(), d.Int(), d.Bytes()
			if d.Err == nil && (off < 0 || off > maxDataOffset) {
				d.Err = fmt.Errorf("agent protocol: write at offset %d", off)
			}
			if d.Err != nil {
				dp.fail(d.Err)
				return
			}
			aw := a.writer(h)
			dw, ok := aw.dataWriter()
			if !ok {
				continue // aborted already: the rest of its content is dropped
			}
			dw.writeAt(b, off)
			dp.mu.Lock()
			dw.got += int64(len(b))
			dp.cond.Broadcast()
			dp.mu.Unlock()
		case protocol.DPRead:
			id, h, off := d.Uint(), d.Uint(), d.Int()
			if d.Err != nil {
				dp.fail(d.Err)
				return
			}
			typ, body := a.dataRead(id, h, off)
			if err := s.SendAnyOwned(ctx, typ, body); err != nil { // a body of its own
				dp.fail(err)
				return
			}
		case protocol.DPCall:
			id, op := d.Uint(), d.Uint()
			if d.Err != nil {
				dp.fail(d.Err)
				return
			}
			// Calls run beside each other, as requests over SSH do: a
			// small file's create, write and commit must not wait for
			// the ones before it on the stream. The answer goes out
			// whenever it is ready (the client matches ids).
			select {
			case dp.calls <- struct{}{}:
			case <-s.Done():
				dp.fail(s.Err())
				return
			}
			a.dispatch(ctx, dp, dataJob{s: s, id: id, op: op, payload: dp.callPayload(d.B)})
		default:
			dp.fail(fmt.Errorf("agent protocol: data frame type %d", f.Type))
			return
		}
	}
}

// dispatch hands a call (its slot in dp.calls taken) to an idle worker,
// or to a new one while there are fewer than protocol.MaxServing: the
// workers live as long as the data path, so that a call does not pay
// for a goroutine and its stack growing each.
func (a *agent) dispatch(ctx context.Context, dp *agentData, job dataJob) {
	select {
	case dp.jobs <- job:
		return
	default:
	}
	dp.mu.Lock()
	spawn := dp.workers < protocol.MaxServing
	if spawn {
		dp.workers++
	}
	dp.mu.Unlock()
	if spawn {
		dp.wg.Go(func() { a.callWorker(ctx, dp, job) })
		return
	}
	// Every worker exists and this call holds a slot: one of them is
	// idle, or about to be.
	select {
	case dp.jobs <- job:
	case <-dp.done:
		<-dp.calls
	}
}

// callWorker serves calls until the data path ends.
func (a *agent) callWorker(ctx context.Context, dp *agentData, job dataJob) {
	for {
		typ, body := a.dataCall(ctx, job.id, job.op, *job.payload)
		dp.freePayload(job.payload) // the answer is a body of its own
		err := job.s.SendAnyOwned(ctx, typ, body)
		<-dp.calls
		if err != nil {
			dp.fail(err)
		}
		select {
		case job = <-dp.jobs:
		case <-dp.done:
			return
		}
	}
}

// dataCall serves a small file's PUT or an OPEN that came on a stream,
// as the same request over SSH would be, and returns the answer. Only
// these two: everything else is SSH's.
func (a *agent) dataCall(ctx context.Context, id, op uint64, payload []byte) (byte, []byte) {
	var e protocol.Enc
	e.Uint(id)
	var rop byte
	var reply []byte
	var err error
	if op == uint64(protocol.OpPut) || op == uint64(protocol.OpOpen) {
		rop, reply, err = a.do(ctx, protocol.Frame{Op: byte(op), ID: id, Payload: payload})
	} else {
		err = fmt.Errorf("agent protocol: request %d on the data path", op)
	}
	if err == nil && len(reply)+32 > datapath.MaxBody {
		err = errors.New("agent protocol: an answer too large for the data path")
		if rop == protocol.OpData {
			a.closeReader(id)
		}
	}
	if err != nil {
		e.B = append(e.B, protocol.ErrPayload(err)...)
		return protocol.DPError, e.B
	}
	e.Uint(uint64(rop))
	e.B = append(slices.Grow(e.B, len(reply)), reply...)
	return protocol.DPReply, e.B
}

// dataRead reads a chunk of an open file for a dpRead.
func (a *agent) dataRead(id, h uint64, off int64) (byte, []byte) {
	var e protocol.Enc
	e.Uint(id)
	a.mu.Lock()
	ar := a.readers[h]
	a.mu.Unlock()
	var chunk []byte
	var eof bool
	err := errors.New("agent protocol: read of a closed file")
	buf := a.chunkBuf()
	defer a.chunks.Put(buf)
	if ar != nil {
		ar.mu.Lock()
		if !ar.closed {
			chunk, eof, err = readChunk(ar.r, off, *buf, -1)
		}
		ar.mu.Unlock()
	}
	if off < 0 {
		err = fmt.Errorf("agent protocol: read at offset %d", off)
	}
	if err != nil {
		e.B = append(e.B, protocol.ErrPayload(err)...)
		return protocol.DPError, e.B
	}
	e.Bool(eof)
	e.Bytes(chunk)
	return protocol.DPData, e.B
}

func (aw *agentWriter) dataWriter() (*dataWriter, bool) {
	if aw == nil {
		return nil, false
	}
	dw, ok := aw.w.(*dataWriter)
	return dw, ok
}

// dataCreate opens a file whose content will come on the data path.
func (a *agent) dataCreate(ctx context.Context, d *protocol.Dec) (byte, []byte, error) {
	h, p, o := d.Uint(), d.Str(), d.CreateOptions()
	switch {
	case d.Err != nil:
		return 0, nil, d.Err
	case o.Partial != "":
		return 0, nil, errors.New("agent protocol: a resumable file on the data path")
	}
	if err := a.writerFree(h); err != nil {
		return 0, nil, err
	}
	w, err := a.fs.Create(ctx, p, o)
	if err != nil {
		return 0, nil, err
	}
	wa, ok := w.(io.WriterAt)
	if !ok {
		w.Abort()
		return 0, nil, fmt.Errorf("%w: the server's file system cannot write at offsets", core.ErrUnsupported)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.writers[h]; dup {
		w.Abort()
		return 0, nil, errors.New("agent protocol: a file handle used twice")
	}
	a.writers[h] = &agentWriter{w: &dataWriter{w: w, wa: wa}}
	return protocol.OpOK, nil, nil
}

// dataCommit waits until the bytes the client sent for a data-path file
// arrived, then commits it.
func (a *agent) dataCommit(ctx context.Context, d *protocol.Dec) (byte, []byte, error) {
	h, total := d.Uint(), d.Int()
	if d.Err != nil {
		return 0, nil, d.Err
	}
	a.mu.Lock()
	dp := a.data
	a.mu.Unlock()
	dw, ok := a.writer(h).dataWriter()
	switch {
	case !ok || dp == nil:
		return 0, nil, errors.New("agent protocol: data commit of an unknown file")
	case total < 0 || total > maxDataOffset:
		return 0, nil, fmt.Errorf("agent protocol: data commit of %d bytes", total)
	}
	stop := context.AfterFunc(ctx, func() {
		dp.mu.Lock()
		dp.cond.Broadcast()
		dp.mu.Unlock()
	})
	defer stop()
	dp.mu.Lock()
	for dw.got < total && dp.err == nil && ctx.Err() == nil {
		dp.cond.Wait()
	}
	got, err := dw.got, dp.err
	dp.mu.Unlock()
	aw := a.takeWriter(h)
	switch {
	case got == total:
	case err != nil:
		aw.w.Abort()
		return 0, nil, err
	case ctx.Err() != nil:
		aw.w.Abort()
		return 0, nil, ctx.Err()
	default:
		aw.w.Abort()
		return 0, nil, fmt.Errorf("agent protocol: %d bytes arrived for a file of %d", got, total)
	}
	en, err := aw.w.Commit(ctx)
	return entryReply(en, err)
}
