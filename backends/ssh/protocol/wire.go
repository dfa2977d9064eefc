package protocol

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
const ProtocolVersion = 6

// Magic opens the hello payload, so that a stray shell banner or a wrong
// program on the other end reads as a clear error, not as garbage.
const Magic = "async-agent"

// MaxFrame bounds a frame (a data chunk plus its header).
const MaxFrame = 8 << 20

// ChunkSize is the size of the data chunks file content moves in.
const ChunkSize = 256 << 10

// Operations. Requests go from the client to the agent; the agent answers
// with opOK, opEntry, opData, opItems... carrying the request's id.
const (
	OpHello        byte = iota + 1 // magic, version, session hello → opOK(version, caps, root entry, features)
	OpScan                         // scan options → opItems... then opOK
	OpCancel                       // id of a running stream (one-way)
	OpStat                         // path → opEntry
	OpOpen                         // path, offset → opData(entry, handle, chunk, eof)
	OpRead                         // handle, offset → opData(chunk, eof)
	OpCloseFile                    // handle (one-way)
	OpCreate                       // handle, path, create options (one-way; errors at commit)
	OpWrite                        // handle, bytes (one-way)
	OpCommit                       // handle → opEntry
	OpAbort                        // handle (one-way)
	OpKeep                         // handle → opOK
	OpPut                          // path, create options, bytes → opEntry (small files)
	OpMkdir                        // path, mode → opEntry
	OpRemove                       // path, precondition → opOK
	OpRename                       // from, to, precondition → opEntry
	OpSetAttr                      // path, attrs → opEntry
	OpSymlink                      // path, target, precondition → opEntry
	OpLink                         // existing, path, precondition → opEntry
	OpHash                         // path, algorithm → opOK(hash) + entry
	OpXattrs                       // path → opOK(map)
	OpSetXattrs                    // path, map → opOK
	OpStoreOpen                    // dir, read-only → opOK(found, meta: as OpStoreMeta; absent from an older agent)
	OpStoreMeta                    // → opOK(found, meta)
	OpStoreSetMeta                 // meta → opOK
	OpStoreLoad                    // → opItems(records)... then opOK
	OpStorePut                     // record (one-way; errors at flush)
	OpStoreDelete                  // path (one-way; errors at flush)
	OpStoreFlush                   // → opOK
	OpStoreClose                   // → opOK
	OpSnapshot                     // action, dir, dir → opOK(bool)
	OpCreateSync                   // handle, path, create options → opOK(offset, resumable): a create that must answer (resume)
	OpWatch                        // → opItems(changed paths)... until CANCEL, then opOK
	OpDataOpen                     // streams, port, congestion control → opOK(port, key, streams): the data path
	OpDataCreate                   // handle, path, create options → opOK: a file whose content comes on the data path
	OpDataCommit                   // handle, bytes sent → opEntry, once that many bytes arrived
	OpJournal                      // recorded token, fingerprint → opOK(why, next token, paths): the server's change journal
	OpLoadPaths                    // paths, dirs → opItems(records)... then opOK: the snapshot's records of those paths and below those dirs
	OpCredit                       // id of a running stream, frames (one-way): opItems frames it may send beyond its window
)

// StreamWindow is how many opItems frames the agent may send on a stream
// (scan, store-load, store-loadpaths, watch) before the client credits
// them back (opCredit, as it consumes them). The client's queue for a
// stream holds that many, so a stream whose reader is slow stops the
// agent's producer, never the connection: two streams the client merges
// (a scan and the snapshot's records) flow side by side on one connection.
const StreamWindow = 16

// Replies, in a block of their own so that every op stays below
// compressedOp.
const (
	OpOK    byte = 100 + iota // reply: fields depend on the request
	OpEntry                   // reply: an entry
	OpData                    // reply: data
	OpItems                   // reply: part of a stream
	OpError                   // reply: code, message
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
	codeNoSpace   // added later: older peers read it as codeOther
	codeTransient // added later: older peers read it as codeOther
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
	errcode.NoSpace:      codeNoSpace,
	errcode.Transient:    codeTransient,
}

// agentErrs are the errors only this protocol carries. None of them is
// ever wrapped together with one of the shared kinds' sentinels.
var agentErrs = []struct {
	code byte
	err  error
}{
	{codeCanceled, ErrCanceled},
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

// ErrCanceled: the request was canceled (CANCEL, or the agent's end).
var ErrCanceled = errors.New("canceled")

// RemoteError is an error the agent reported. It unwraps to the matching
// core sentinel (fs.ErrNotExist, core.ErrPrecondition, ...).
type RemoteError struct {
	Code byte
	Msg  string
}

// Error returns the agent's message.
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

// Frame is one message: an operation, the request id it belongs to, and
// its payload.
type Frame struct {
	Op      byte
	ID      uint64
	Payload []byte
}

// Conn frames messages over a byte stream. Sends are safe for concurrent
// use and coalesced: they fill a buffer that a flusher goroutine writes out
// as soon as it gets to run, so that many small messages share one SSH
// packet and one system call.
type Conn struct {
	r *bufio.Reader

	mu   sync.Mutex
	w    *bufio.Writer
	err  error
	kick chan struct{} // wakes the flusher
	done chan struct{} // stops it
	once sync.Once

	// Codec compresses what this side sends, once both agreed on it
	// (nil: nothing); peer decodes what arrives compressed.
	Codec atomic.Pointer[CodecBox]
	Peer  atomic.Pointer[CodecBox]
}

// CodecBox holds a codec for an atomic pointer.
type CodecBox struct{ C Codec }

// NewConn frames messages over r and w, and starts the flusher (Stop
// ends it).
func NewConn(r io.Reader, w io.Writer) *Conn {
	c := &Conn{r: bufio.NewReaderSize(r, 256<<10), w: bufio.NewWriterSize(w, 256<<10),
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	go c.flusher()
	return c
}

func (c *Conn) flusher() {
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

// Stop ends the flusher after writing out what is buffered.
func (c *Conn) Stop() {
	c.once.Do(func() {
		close(c.done)
		c.mu.Lock()
		if c.err == nil {
			c.err = c.w.Flush()
		}
		c.mu.Unlock()
	})
}

// Send queues one frame: length (4 bytes, big endian, of what follows),
// op (1 byte), id (uvarint), payload.
func (c *Conn) Send(op byte, id uint64, payload []byte) error {
	if box := c.Codec.Load(); box != nil && len(payload) >= minCompress {
		if z := box.C.compress(nil, payload); len(z) < len(payload) {
			op, payload = op|CompressedOp, z
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

// Recv reads one frame. It is called from one goroutine only.
func (c *Conn) Recv() (Frame, error) {
	var l [4]byte
	if _, err := io.ReadFull(c.r, l[:]); err != nil {
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(l[:])
	if n < 2 || n > MaxFrame {
		return Frame{}, fmt.Errorf("agent protocol: bad frame length %d", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r, b); err != nil {
		return Frame{}, fmt.Errorf("agent protocol: %w", noEOF(err))
	}
	id, payload, ok := varint.Uvarint(b[1:])
	if !ok {
		return Frame{}, errors.New("agent protocol: bad request id")
	}
	f := Frame{Op: b[0], ID: id, Payload: payload}
	if f.Op&CompressedOp != 0 {
		box := c.Peer.Load()
		if box == nil {
			return Frame{}, errors.New("agent protocol: a compressed frame, but no compression was agreed")
		}
		p, err := box.C.decompress(f.Payload)
		if err != nil {
			return Frame{}, fmt.Errorf("agent protocol: decompress: %w", err)
		}
		f.Op, f.Payload = f.Op&^CompressedOp, p
	}
	return f, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Enc builds a payload. Integers are varints, strings and byte slices are
// a uvarint length and the bytes, times are Unix nanoseconds.
type Enc struct{ B []byte }

// Uint appends an unsigned integer.
func (e *Enc) Uint(v uint64) { e.B = varint.AppendUvarint(e.B, v) }

// Int appends a signed integer.
func (e *Enc) Int(v int64) { e.B = varint.AppendVarint(e.B, v) }

// Str appends a string.
func (e *Enc) Str(v string) { e.B = varint.AppendPrefixed(e.B, v) }

// Bytes appends a byte string.
func (e *Enc) Bytes(v []byte) { e.B = varint.AppendPrefixed(e.B, v) }

// Bool appends a boolean.
func (e *Enc) Bool(v bool) {
	if v {
		e.B = append(e.B, 1)
	} else {
		e.B = append(e.B, 0)
	}
}
func (e *Enc) time(t time.Time) {
	if t.IsZero() {
		e.Int(math.MinInt64)
		return
	}
	e.Int(t.UnixNano())
}

// Entry appends an entry, every field.
func (e *Enc) Entry(en *core.Entry) {
	e.Str(en.Path)
	e.Uint(uint64(en.Type))
	e.Int(en.Size)
	e.time(en.MTime)
	e.time(en.ATime)
	e.Uint(uint64(en.Mode))
	e.Int(int64(en.UID))
	e.Int(int64(en.GID))
	e.Str(en.Target)
	e.Str(en.Hash)
	e.Str(en.Token)
	e.Str(en.FileID)
}

// Precondition appends a precondition.
func (e *Enc) Precondition(p core.Precondition) {
	switch {
	case p.Any:
		e.Uint(1)
	case p.Expect == nil:
		e.Uint(0)
	default:
		e.Uint(2)
		e.Entry(p.Expect)
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

// Attrs appends attributes: the bit set of those present, then them.
func (e *Enc) Attrs(a core.Attrs) {
	var bits uint64
	for i, set := range []bool{a.MTime != nil, a.ATime != nil, a.Mode != nil, a.UID != nil, a.GID != nil} {
		if set {
			bits |= 1 << i
		}
	}
	e.Uint(bits)
	if a.MTime != nil {
		e.time(*a.MTime)
	}
	if a.ATime != nil {
		e.time(*a.ATime)
	}
	if a.Mode != nil {
		e.Uint(uint64(*a.Mode))
	}
	if a.UID != nil {
		e.Int(int64(*a.UID))
	}
	if a.GID != nil {
		e.Int(int64(*a.GID))
	}
}

// CreateOptions appends the options of a create.
func (e *Enc) CreateOptions(o core.CreateOptions) {
	e.Int(o.Size)
	e.Attrs(o.Attrs)
	e.Precondition(o.Replace)
	e.Str(o.Partial)
	e.Str(o.TempToken)
}

// Strings appends a count and the strings (Dec.Strings reads them).
func (e *Enc) Strings(v []string) {
	e.Uint(uint64(len(v)))
	for _, s := range v {
		e.Str(s)
	}
}

// Xattrs appends extended attributes.
func (e *Enc) Xattrs(m map[string][]byte) {
	e.Uint(uint64(len(m)))
	for k, v := range m {
		e.Str(k)
		e.Bytes(v)
	}
}

// ScanOptions appends the options of a scan.
func (e *Enc) ScanOptions(o core.ScanOptions) {
	e.Uint(uint64(len(o.Prune.Filter)))
	for _, r := range o.Prune.Filter {
		e.Bool(r.Include)
		e.Str(r.Pattern)
	}
	e.Strings(o.Prune.Subtrees)
	e.Bool(o.Prune.Settled != nil)
	e.Uint(uint64(len(o.Prune.Settled)))
	for p, t := range o.Prune.Settled {
		e.Str(p)
		e.time(t)
	}
	e.Bool(o.Prune.Shallow)
	e.Bool(o.FollowLinks)
	e.Int(int64(o.Threads))
	e.Int(int64(o.PartialMaxAge))
	e.Int(int64(o.Pause))
	e.Int(int64(o.PauseEvery))
	e.Str(o.TempToken)
	e.Bool(o.Ordered)
}

// Meta appends a snapshot's meta.
func (e *Enc) Meta(m core.Meta) {
	for _, s := range []string{m.Session, m.Local, m.Remote, m.Direction, m.Checksum, m.Side} {
		e.Str(s)
	}
	e.Strings(m.Filters)
	e.time(m.Started)
	e.time(m.Stopped)
	e.Str(m.TempToken)
	// Added later: a decoder that does not know them ignores them.
	e.Strings(m.KeepDirs)
	e.Str(m.LocalDevice)
	e.Str(m.RemoteDevice)
	e.Str(m.Journal)
}

// Record appends a snapshot record.
func (e *Enc) Record(r *core.Record) {
	e.Entry(&r.Entry)
	e.Uint(uint64(r.Status))
	e.Str(r.Note)
}

// Dec reads a payload written by enc. The first error sticks; reads after
// it return zero values.
type Dec struct {
	B   []byte
	Err error
}

var errShort = errors.New("agent protocol: truncated message")

func (d *Dec) fail(err error) {
	if d.Err == nil {
		d.Err = err
	}
}

// Uint reads an unsigned integer.
func (d *Dec) Uint() uint64 {
	if d.Err != nil {
		return 0
	}
	v, rest, ok := varint.Uvarint(d.B)
	if !ok {
		d.fail(errShort)
		return 0
	}
	d.B = rest
	return v
}

// Int reads a signed integer.
func (d *Dec) Int() int64 {
	if d.Err != nil {
		return 0
	}
	v, rest, ok := varint.Varint(d.B)
	if !ok {
		d.fail(errShort)
		return 0
	}
	d.B = rest
	return v
}

// Bytes reads a byte string (it aliases the payload).
func (d *Dec) Bytes() []byte {
	if d.Err != nil {
		return nil
	}
	v, rest, ok := varint.Prefixed(d.B)
	if !ok {
		d.fail(errShort)
		return nil
	}
	d.B = rest
	return v
}

// Str reads a string.
func (d *Dec) Str() string { return string(d.Bytes()) }

// Bool reads a boolean.
func (d *Dec) Bool() bool { return d.Uint() != 0 }

func (d *Dec) time() time.Time {
	v := d.Int()
	if v == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, v)
}

// Entry reads an entry.
func (d *Dec) Entry() core.Entry { return d.EntryOf("") }

// EntryOf reads an entry that is expected to be path's, as the answer
// to a write of path: its path, when it is that one, shares path's
// string instead of a copy of its own.
func (d *Dec) EntryOf(path string) core.Entry {
	var e core.Entry
	if b := d.Bytes(); string(b) == path {
		e.Path = path
	} else {
		e.Path = string(b)
	}
	e.Type = core.Type(d.Uint())
	e.Size = d.Int()
	e.MTime = d.time()
	e.ATime = d.time()
	e.Mode = fs.FileMode(d.Uint())
	e.UID = int(d.Int())
	e.GID = int(d.Int())
	e.Target = d.Str()
	e.Hash = d.Str()
	e.Token = d.Str()
	e.FileID = d.Str()
	return e
}

// Precondition reads a precondition.
func (d *Dec) Precondition() core.Precondition {
	switch d.Uint() {
	case 1:
		return core.Precondition{Any: true}
	case 2:
		e := d.Entry()
		return core.Precondition{Expect: &e}
	}
	return core.MustNotExist
}

// Attrs reads attributes.
func (d *Dec) Attrs() core.Attrs {
	var a core.Attrs
	bits := d.Uint()
	if bits&attrMTime != 0 {
		t := d.time()
		a.MTime = &t
	}
	if bits&attrATime != 0 {
		t := d.time()
		a.ATime = &t
	}
	if bits&attrMode != 0 {
		m := fs.FileMode(d.Uint())
		a.Mode = &m
	}
	if bits&attrUID != 0 {
		v := int(d.Int())
		a.UID = &v
	}
	if bits&attrGID != 0 {
		v := int(d.Int())
		a.GID = &v
	}
	return a
}

// CreateOptions reads the options of a create.
func (d *Dec) CreateOptions() core.CreateOptions {
	var o core.CreateOptions
	o.Size = d.Int()
	o.Attrs = d.Attrs()
	o.Replace = d.Precondition()
	o.Partial = d.Str()
	o.TempToken = d.Str()
	return o
}

// count reads a collection length, refusing one the payload cannot hold
// (each element takes at least one byte).
func (d *Dec) count() int {
	n := d.Uint()
	if n > uint64(len(d.B)) {
		d.fail(errShort)
		return 0
	}
	return int(n)
}

// Strings reads a list of strings.
func (d *Dec) Strings() []string {
	n := d.count()
	var out []string
	for range n {
		out = append(out, d.Str())
	}
	return out
}

// Xattrs reads extended attributes.
func (d *Dec) Xattrs() map[string][]byte {
	n := d.count()
	m := make(map[string][]byte, n)
	for range n {
		k := d.Str()
		m[k] = append([]byte(nil), d.Bytes()...)
	}
	return m
}

// ScanOptions reads the options of a scan.
func (d *Dec) ScanOptions() core.ScanOptions {
	var o core.ScanOptions
	for range d.count() {
		r := filter.Rule{Include: d.Bool()}
		r.Pattern = d.Str()
		o.Prune.Filter = append(o.Prune.Filter, r)
	}
	o.Prune.Subtrees = d.Strings()
	hasSettled := d.Bool()
	n := d.count()
	if hasSettled {
		o.Prune.Settled = make(map[string]time.Time, n)
	}
	for range n {
		p := d.Str()
		if o.Prune.Settled != nil {
			o.Prune.Settled[p] = d.time()
		}
	}
	o.Prune.Shallow = d.Bool()
	o.FollowLinks = d.Bool()
	o.Threads = int(d.Int())
	o.PartialMaxAge = time.Duration(d.Int())
	o.Pause = time.Duration(d.Int())
	o.PauseEvery = int(d.Int())
	o.TempToken = d.Str()
	o.Ordered = d.Bool()
	return o
}

// Meta reads a snapshot's meta (an older encoder's, without the
// later fields, too).
func (d *Dec) Meta() core.Meta {
	var m core.Meta
	for _, p := range []*string{&m.Session, &m.Local, &m.Remote, &m.Direction, &m.Checksum, &m.Side} {
		*p = d.Str()
	}
	m.Filters = d.Strings()
	m.Started = d.time()
	m.Stopped = d.time()
	m.TempToken = d.Str()
	if len(d.B) > 0 { // an encoder that knows the later fields
		m.KeepDirs = d.Strings()
		m.LocalDevice = d.Str()
		m.RemoteDevice = d.Str()
	}
	if len(d.B) > 0 { // an encoder that knows the change journal's token
		m.Journal = d.Str()
	}
	return m
}

// Record reads a snapshot record.
func (d *Dec) Record() core.Record {
	var r core.Record
	r.Entry = d.Entry()
	r.Status = core.Status(d.Uint())
	r.Note = d.Str()
	return r
}

// ErrPayload encodes an error reply.
func ErrPayload(err error) []byte {
	var e Enc
	e.Uint(uint64(errorCode(err)))
	e.Str(err.Error())
	return e.B
}

// DecodeError decodes an error reply.
func DecodeError(p []byte) error {
	d := Dec{B: p}
	code := byte(d.Uint())
	msg := d.Str()
	if d.Err != nil {
		return d.Err
	}
	return &RemoteError{Code: code, Msg: msg}
}

// TypeUnreadable marks a scan item that is not an entry but one the
// agent's scan could not read (core.ScanOptions.Unreadable): Target holds
// the reason, Hash "loop" for a symbolic link loop.
const TypeUnreadable core.Type = 255

// UnreadableEntry is the scan item that reports p unreadable.
func UnreadableEntry(p string, err error) core.Entry {
	en := core.Entry{Path: p, Type: TypeUnreadable, Target: err.Error()}
	if errors.Is(err, core.ErrSymlinkLoop) {
		en.Hash = "loop"
	}
	return en
}

// UnreadableErr is the reason an unreadable scan item gives.
func UnreadableErr(en *core.Entry) error {
	if en.Hash == "loop" {
		return core.ErrSymlinkLoop
	}
	return errors.New(en.Target)
}
