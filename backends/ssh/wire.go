package ssh

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/filter"
	"github.com/async-sync/async/internal/errcode"
	"github.com/async-sync/async/internal/varint"
)

// ProtocolVersion is the agent protocol's version. Client and agent must
// speak the same one; the client installs a matching agent otherwise.
const ProtocolVersion = 4

// magic opens the hello payload, so that a stray shell banner or a wrong
// program on the other end reads as a clear error, not as garbage.
const magic = "async-agent"

// maxFrame bounds a frame (a data chunk plus its header).
const maxFrame = 8 << 20

// chunkSize is the size of the data chunks file content moves in.
const chunkSize = 256 << 10

// Operations. Requests go from the client to the agent; the agent answers
// with opOK, opEntry, opData, opItems... carrying the request's id.
const (
	opHello        byte = iota + 1 // magic, version, session hello → opOK(version, caps, root entry)
	opScan                         // scan options → opItems... then opOK
	opCancel                       // id of a running stream (one-way)
	opStat                         // path → opEntry
	opOpen                         // path, offset → opData(entry, handle, chunk, eof)
	opRead                         // handle, offset → opData(chunk, eof)
	opCloseFile                    // handle (one-way)
	opCreate                       // handle, path, create options (one-way; errors at commit)
	opWrite                        // handle, bytes (one-way)
	opCommit                       // handle → opEntry
	opAbort                        // handle (one-way)
	opKeep                         // handle → opOK
	opPut                          // path, create options, bytes → opEntry (small files)
	opMkdir                        // path, mode → opEntry
	opRemove                       // path, precondition → opOK
	opRename                       // from, to, precondition → opEntry
	opSetAttr                      // path, attrs → opEntry
	opSymlink                      // path, target, precondition → opEntry
	opLink                         // existing, path, precondition → opEntry
	opHash                         // path, algorithm → opOK(hash) + entry
	opXattrs                       // path → opOK(map)
	opSetXattrs                    // path, map → opOK
	opStoreOpen                    // dir, read-only → opOK(created)
	opStoreMeta                    // → opOK(found, meta)
	opStoreSetMeta                 // meta → opOK
	opStoreLoad                    // → opItems(records)... then opOK
	opStorePut                     // record (one-way; errors at flush)
	opStoreDelete                  // path (one-way; errors at flush)
	opStoreFlush                   // → opOK
	opStoreClose                   // → opOK
	opSnapshot                     // action, dir, dir → opOK(bool)
	opCreateSync                   // handle, path, create options → opOK(offset): a create that must answer (resume)
	opWatch                        // → opItems(changed paths)... until CANCEL, then opOK
	opDataOpen                     // streams, port, congestion control → opOK(port, key, streams): the data path
	opDataCreate                   // handle, path, create options → opOK: a file whose content comes on the data path
	opDataCommit                   // handle, bytes sent → opEntry, once that many bytes arrived
)

// Replies, in a block of their own so that every op stays below
// compressedOp.
const (
	opOK    byte = 100 + iota // reply: fields depend on the request
	opEntry                   // reply: an entry
	opData                    // reply: data
	opItems                   // reply: part of a stream
	opError                   // reply: code, message
)

// Error codes carried by opError, mapped to core's sentinel errors.
const (
	codeOther byte = iota
	codeNotExist
	codeExist
	codePrecondition
	codeUnsupported
	codeNotEmpty
	codeOwner
	codePermission
	codeCanceled
	codeOutside
	codeAuth
	codeChanged
	codeInside
)

// ErrOutsideDocroot: a remote path would leave the user's docroot.
var ErrOutsideDocroot = errors.New("outside the docroot")

// ErrAccess: the agent refused the session's token.
var ErrAccess = errors.New("access denied")

// ErrInsideTree: a remote snapshot or log directory (-B, -R) lies inside
// the synchronized tree.
var ErrInsideTree = errors.New("inside the synchronized tree")

// codes are the numbers of the error kinds both protocols carry.
var codes = errcode.Table[byte]{
	errcode.Precondition: codePrecondition,
	errcode.Changed:      codeChanged,
	errcode.NotEmpty:     codeNotEmpty,
	errcode.Owner:        codeOwner,
	errcode.Unsupported:  codeUnsupported,
	errcode.NotExist:     codeNotExist,
	errcode.Exist:        codeExist,
	errcode.Permission:   codePermission,
}

// agentErrs are the errors only this protocol carries. None of them is
// ever wrapped together with one of the shared kinds' sentinels.
var agentErrs = []struct {
	code byte
	err  error
}{
	{codeCanceled, errCanceled},
	{codeOutside, ErrOutsideDocroot},
	{codeAuth, ErrAccess},
	{codeInside, ErrInsideTree},
}

// errorCode classifies err for the wire.
func errorCode(err error) byte {
	for _, c := range agentErrs {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	if c, ok := codes.Code(err); ok {
		return c
	}
	return codeOther
}

var errCanceled = errors.New("canceled")

// RemoteError is an error the agent reported. It unwraps to the matching
// core sentinel (fs.ErrNotExist, core.ErrPrecondition, ...).
type RemoteError struct {
	Code byte
	Msg  string
}

func (e *RemoteError) Error() string { return e.Msg }

// Unwrap returns the sentinel error of the code.
func (e *RemoteError) Unwrap() error {
	for _, c := range agentErrs {
		if c.code == e.Code {
			return c.err
		}
	}
	return codes.Err(e.Code)
}

// frame is one message: an operation, the request id it belongs to, and
// its payload.
type frame struct {
	op      byte
	id      uint64
	payload []byte
}

// conn frames messages over a byte stream. Sends are safe for concurrent
// use and coalesced: they fill a buffer that a flusher goroutine writes out
// as soon as it gets to run, so that many small messages share one SSH
// packet and one system call.
type conn struct {
	r *bufio.Reader

	mu   sync.Mutex
	w    *bufio.Writer
	err  error
	kick chan struct{} // wakes the flusher
	done chan struct{} // stops it
	once sync.Once

	// codec compresses what this side sends, once both agreed on it
	// (nil: nothing); peer decodes what arrives compressed.
	codec atomic.Pointer[codecBox]
	peer  atomic.Pointer[codecBox]
}

// codecBox holds a codec for an atomic pointer.
type codecBox struct{ c codec }

func newConn(r io.Reader, w io.Writer) *conn {
	c := &conn{r: bufio.NewReaderSize(r, 256<<10), w: bufio.NewWriterSize(w, 256<<10),
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	go c.flusher()
	return c
}

func (c *conn) flusher() {
	for {
		select {
		case <-c.kick:
		case <-c.done:
			return
		}
		// Let the senders that are ready run first, as long as they keep
		// adding: their frames then share this write.
		for range 4 {
			c.mu.Lock()
			before := c.w.Buffered()
			c.mu.Unlock()
			runtime.Gosched()
			c.mu.Lock()
			grew := c.w.Buffered() > before
			c.mu.Unlock()
			if !grew {
				break
			}
		}
		c.mu.Lock()
		if c.err == nil && c.w.Buffered() > 0 {
			c.err = c.w.Flush()
		}
		c.mu.Unlock()
	}
}

// stop ends the flusher after writing out what is buffered.
func (c *conn) stop() {
	c.once.Do(func() {
		close(c.done)
		c.mu.Lock()
		if c.err == nil {
			c.err = c.w.Flush()
		}
		c.mu.Unlock()
	})
}

// send queues one frame: length (4 bytes, big endian, of what follows),
// op (1 byte), id (uvarint), payload.
func (c *conn) send(op byte, id uint64, payload []byte) error {
	if box := c.codec.Load(); box != nil && len(payload) >= minCompress {
		if z := box.c.compress(nil, payload); len(z) < len(payload) {
			op, payload = op|compressedOp, z
		}
	}
	var hdr [4 + 1 + binary.MaxVarintLen64]byte
	n := len(varint.AppendUvarint(hdr[:5], id))
	binary.BigEndian.PutUint32(hdr[:4], uint32(n-4+len(payload)))
	hdr[4] = op
	c.mu.Lock()
	if c.err == nil {
		_, c.err = c.w.Write(hdr[:n])
	}
	if c.err == nil {
		_, c.err = c.w.Write(payload)
	}
	err := c.err
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return err
}

// recv reads one frame. It is called from one goroutine only.
func (c *conn) recv() (frame, error) {
	var l [4]byte
	if _, err := io.ReadFull(c.r, l[:]); err != nil {
		return frame{}, err
	}
	n := binary.BigEndian.Uint32(l[:])
	if n < 2 || n > maxFrame {
		return frame{}, fmt.Errorf("agent protocol: bad frame length %d", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r, b); err != nil {
		return frame{}, fmt.Errorf("agent protocol: %w", noEOF(err))
	}
	id, payload, ok := varint.Uvarint(b[1:])
	if !ok {
		return frame{}, errors.New("agent protocol: bad request id")
	}
	f := frame{op: b[0], id: id, payload: payload}
	if f.op&compressedOp != 0 {
		box := c.peer.Load()
		if box == nil {
			return frame{}, errors.New("agent protocol: a compressed frame, but no compression was agreed")
		}
		p, err := box.c.decompress(f.payload)
		if err != nil {
			return frame{}, fmt.Errorf("agent protocol: decompress: %w", err)
		}
		f.op, f.payload = f.op&^compressedOp, p
	}
	return f, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// enc builds a payload. Integers are varints, strings and byte slices are
// a uvarint length and the bytes, times are Unix nanoseconds.
type enc struct{ b []byte }

func (e *enc) u(v uint64)     { e.b = varint.AppendUvarint(e.b, v) }
func (e *enc) i(v int64)      { e.b = varint.AppendVarint(e.b, v) }
func (e *enc) s(v string)     { e.b = varint.AppendPrefixed(e.b, v) }
func (e *enc) bytes(v []byte) { e.b = varint.AppendPrefixed(e.b, v) }
func (e *enc) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}
func (e *enc) time(t time.Time) {
	if t.IsZero() {
		e.i(math.MinInt64)
		return
	}
	e.i(t.UnixNano())
}

func (e *enc) entry(en *core.Entry) {
	e.s(en.Path)
	e.u(uint64(en.Type))
	e.i(en.Size)
	e.time(en.MTime)
	e.time(en.ATime)
	e.u(uint64(en.Mode))
	e.i(int64(en.UID))
	e.i(int64(en.GID))
	e.s(en.Target)
	e.s(en.Hash)
	e.s(en.Token)
	e.s(en.FileID)
}

func (e *enc) pre(p core.Precondition) {
	switch {
	case p.Any:
		e.u(1)
	case p.Expect == nil:
		e.u(0)
	default:
		e.u(2)
		e.entry(p.Expect)
	}
}

// Attribute presence bits.
const (
	attrMTime = 1 << iota
	attrATime
	attrMode
	attrUID
	attrGID
)

func (e *enc) attrs(a core.Attrs) {
	var bits uint64
	for i, set := range []bool{a.MTime != nil, a.ATime != nil, a.Mode != nil, a.UID != nil, a.GID != nil} {
		if set {
			bits |= 1 << i
		}
	}
	e.u(bits)
	if a.MTime != nil {
		e.time(*a.MTime)
	}
	if a.ATime != nil {
		e.time(*a.ATime)
	}
	if a.Mode != nil {
		e.u(uint64(*a.Mode))
	}
	if a.UID != nil {
		e.i(int64(*a.UID))
	}
	if a.GID != nil {
		e.i(int64(*a.GID))
	}
}

func (e *enc) createOpts(o core.CreateOptions) {
	e.i(o.Size)
	e.attrs(o.Attrs)
	e.pre(o.Replace)
	e.s(o.Partial)
	e.s(o.TempToken)
}

func (e *enc) strs(v []string) {
	e.u(uint64(len(v)))
	for _, s := range v {
		e.s(s)
	}
}

func (e *enc) xattrs(m map[string][]byte) {
	e.u(uint64(len(m)))
	for k, v := range m {
		e.s(k)
		e.bytes(v)
	}
}

func (e *enc) scanOpts(o core.ScanOptions) {
	e.u(uint64(len(o.Prune.Filter)))
	for _, r := range o.Prune.Filter {
		e.bool(r.Include)
		e.s(r.Pattern)
	}
	e.strs(o.Prune.Subtrees)
	e.bool(o.Prune.Settled != nil)
	e.u(uint64(len(o.Prune.Settled)))
	for p, t := range o.Prune.Settled {
		e.s(p)
		e.time(t)
	}
	e.bool(o.Prune.Shallow)
	e.bool(o.FollowLinks)
	e.i(int64(o.Threads))
	e.i(int64(o.PartialMaxAge))
	e.i(int64(o.Pause))
	e.i(int64(o.PauseEvery))
	e.s(o.TempToken)
}

func (e *enc) meta(m core.Meta) {
	for _, s := range []string{m.Session, m.Local, m.Remote, m.Direction, m.Checksum, m.Side} {
		e.s(s)
	}
	e.strs(m.Filters)
	e.time(m.Started)
	e.time(m.Stopped)
	e.s(m.TempToken)
	// Added later: a decoder that does not know them ignores them.
	e.strs(m.KeepDirs)
	e.s(m.LocalDevice)
	e.s(m.RemoteDevice)
}

func (e *enc) record(r *core.Record) {
	e.entry(&r.Entry)
	e.u(uint64(r.Status))
	e.s(r.Note)
}

// dec reads a payload written by enc. The first error sticks; reads after
// it return zero values.
type dec struct {
	b   []byte
	err error
}

var errShort = errors.New("agent protocol: truncated message")

func (d *dec) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *dec) u() uint64 {
	if d.err != nil {
		return 0
	}
	v, rest, ok := varint.Uvarint(d.b)
	if !ok {
		d.fail(errShort)
		return 0
	}
	d.b = rest
	return v
}

func (d *dec) i() int64 {
	if d.err != nil {
		return 0
	}
	v, rest, ok := varint.Varint(d.b)
	if !ok {
		d.fail(errShort)
		return 0
	}
	d.b = rest
	return v
}

func (d *dec) bytes() []byte {
	if d.err != nil {
		return nil
	}
	v, rest, ok := varint.Prefixed(d.b)
	if !ok {
		d.fail(errShort)
		return nil
	}
	d.b = rest
	return v
}

func (d *dec) s() string { return string(d.bytes()) }

func (d *dec) bool() bool { return d.u() != 0 }

func (d *dec) time() time.Time {
	v := d.i()
	if v == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, v)
}

func (d *dec) entry() core.Entry {
	var e core.Entry
	e.Path = d.s()
	e.Type = core.Type(d.u())
	e.Size = d.i()
	e.MTime = d.time()
	e.ATime = d.time()
	e.Mode = fs.FileMode(d.u())
	e.UID = int(d.i())
	e.GID = int(d.i())
	e.Target = d.s()
	e.Hash = d.s()
	e.Token = d.s()
	e.FileID = d.s()
	return e
}

func (d *dec) pre() core.Precondition {
	switch d.u() {
	case 1:
		return core.Precondition{Any: true}
	case 2:
		e := d.entry()
		return core.Precondition{Expect: &e}
	}
	return core.MustNotExist
}

func (d *dec) attrs() core.Attrs {
	var a core.Attrs
	bits := d.u()
	if bits&attrMTime != 0 {
		t := d.time()
		a.MTime = &t
	}
	if bits&attrATime != 0 {
		t := d.time()
		a.ATime = &t
	}
	if bits&attrMode != 0 {
		m := fs.FileMode(d.u())
		a.Mode = &m
	}
	if bits&attrUID != 0 {
		v := int(d.i())
		a.UID = &v
	}
	if bits&attrGID != 0 {
		v := int(d.i())
		a.GID = &v
	}
	return a
}

func (d *dec) createOpts() core.CreateOptions {
	var o core.CreateOptions
	o.Size = d.i()
	o.Attrs = d.attrs()
	o.Replace = d.pre()
	o.Partial = d.s()
	o.TempToken = d.s()
	return o
}

// count reads a collection length, refusing one the payload cannot hold
// (each element takes at least one byte).
func (d *dec) count() int {
	n := d.u()
	if n > uint64(len(d.b)) {
		d.fail(errShort)
		return 0
	}
	return int(n)
}

func (d *dec) strs() []string {
	n := d.count()
	var out []string
	for range n {
		out = append(out, d.s())
	}
	return out
}

func (d *dec) xattrs() map[string][]byte {
	n := d.count()
	m := make(map[string][]byte, n)
	for range n {
		k := d.s()
		m[k] = append([]byte(nil), d.bytes()...)
	}
	return m
}

func (d *dec) scanOpts() core.ScanOptions {
	var o core.ScanOptions
	for range d.count() {
		r := filter.Rule{Include: d.bool()}
		r.Pattern = d.s()
		o.Prune.Filter = append(o.Prune.Filter, r)
	}
	o.Prune.Subtrees = d.strs()
	hasSettled := d.bool()
	n := d.count()
	if hasSettled {
		o.Prune.Settled = make(map[string]time.Time, n)
	}
	for range n {
		p := d.s()
		if o.Prune.Settled != nil {
			o.Prune.Settled[p] = d.time()
		}
	}
	o.Prune.Shallow = d.bool()
	o.FollowLinks = d.bool()
	o.Threads = int(d.i())
	o.PartialMaxAge = time.Duration(d.i())
	o.Pause = time.Duration(d.i())
	o.PauseEvery = int(d.i())
	o.TempToken = d.s()
	return o
}

func (d *dec) meta() core.Meta {
	var m core.Meta
	for _, p := range []*string{&m.Session, &m.Local, &m.Remote, &m.Direction, &m.Checksum, &m.Side} {
		*p = d.s()
	}
	m.Filters = d.strs()
	m.Started = d.time()
	m.Stopped = d.time()
	m.TempToken = d.s()
	if len(d.b) > 0 { // an encoder that knows the later fields
		m.KeepDirs = d.strs()
		m.LocalDevice = d.s()
		m.RemoteDevice = d.s()
	}
	return m
}

func (d *dec) record() core.Record {
	var r core.Record
	r.Entry = d.entry()
	r.Status = core.Status(d.u())
	r.Note = d.s()
	return r
}

// errPayload encodes an error reply.
func errPayload(err error) []byte {
	var e enc
	e.u(uint64(errorCode(err)))
	e.s(err.Error())
	return e.b
}

// decodeError decodes an error reply.
func decodeError(p []byte) error {
	d := dec{b: p}
	code := byte(d.u())
	msg := d.s()
	if d.err != nil {
		return d.err
	}
	return &RemoteError{Code: code, Msg: msg}
}

// typeUnreadable marks a scan item that is not an entry but one the
// agent's scan could not read (core.ScanOptions.Unreadable): Target holds
// the reason, Hash "loop" for a symbolic link loop.
const typeUnreadable core.Type = 255

// unreadableEntry is the scan item that reports p unreadable.
func unreadableEntry(p string, err error) core.Entry {
	en := core.Entry{Path: p, Type: typeUnreadable, Target: err.Error()}
	if errors.Is(err, core.ErrSymlinkLoop) {
		en.Hash = "loop"
	}
	return en
}

// unreadableErr is the reason an unreadable scan item gives.
func unreadableErr(en *core.Entry) error {
	if en.Hash == "loop" {
		return core.ErrSymlinkLoop
	}
	return errors.New(en.Target)
}
