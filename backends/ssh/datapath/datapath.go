// Package datapath is the transport of async's WAN data path: file
// content moves on N parallel TCP streams beside the SSH connection, each
// frame sealed with AES-256-GCM under a one-time key that only ever
// travels inside the SSH connection. See docs/datapath.md.
//
// The agent listens (Listen) and accepts exactly the streams it offered
// (Listener.Accept); the client dials them (Dial). Every stream starts
// with a clear preamble (magic and stream id) and a sealed hello each
// way; a connection whose hello does not open under the key is dropped
// and does not count. A frame on the wire is
//
//	length  uint32, big endian: the size of the sealed body
//	sealed  AES-256-GCM(type byte ‖ body), the length as additional data
//
// Each direction has its own key (HKDF-SHA256 of the session key), and
// the nonce is the stream id (4 bytes) and the frame's counter on that
// stream (8 bytes), which the receiver counts itself: a frame replayed,
// dropped, reordered, moved to another stream, reflected back, or changed
// in any bit fails to open, and the stream ends with ErrTampered.
//
// The same streams may run over UDP instead (ListenUDP; DialOptions
// Transport UDP): KCP sessions paced to a target rate, every datagram
// sealed too; or over QUIC (ListenQUIC), one connection per stream, the
// agent's one-time certificate pinned by the client. See transport.go.
package datapath

import (
	"bufio"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
)

// KeySize is the size of the session key.
const KeySize = 32

// Key is the one-time session key; its bytes never reach a log.
type Key [KeySize]byte

// String hides the key.
func (Key) String() string { return "[datapath key]" }

// NewKey draws a session key from crypto/rand.
func NewKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return k, fmt.Errorf("data path key: %w", err)
	}
	return k, nil
}

// MaxBody bounds the body of one frame: a 256 KiB data chunk and its
// header (a small file's path and create options, an entry).
const MaxBody = 256<<10 + 64<<10

// MaxStreams bounds the streams of one data path.
const MaxStreams = 32

// magic opens every stream, so that a wrong peer reads as a clear error.
const magic = "ASYNCDP1"

// tagSize is AES-GCM's authentication tag.
const tagSize = 16

// frameHello is the type of the first sealed frame each way.
const frameHello byte = 0

// ErrTampered: a frame failed authentication (changed, replayed,
// reordered, or sealed with another key).
var ErrTampered = errors.New("data path: a frame failed authentication (tampered, replayed or not ours)")

// Direction labels, bound into the keys.
const (
	toAgent  = "async datapath v1 client->agent"
	toClient = "async datapath v1 agent->client"
)

// aead derives the key of one direction and returns its AES-256-GCM.
func aead(k Key, label string) (cipher.AEAD, error) {
	dk, err := hkdf.Key(sha256.New, k[:], nil, label, 32)
	if err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(dk)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Frame is one message on a stream: a type and a body.
type Frame struct {
	Type byte
	Body []byte
	// rec takes whole, the buffer Body lies in, back once the frame is
	// written (SendAnyRecycled).
	rec   Recycler
	whole []byte
}

// Recycler takes back the buffer of a frame sent with SendAnyRecycled
// once the frame is written, for the next one.
type Recycler interface{ Recycle(buf []byte) }

// Stream is one authenticated TCP stream. Send is safe for concurrent
// use: frames are queued and written in order by a writer goroutine;
// Recv is called from one goroutine.
type Stream struct {
	ID  uint32
	CC  string // the congestion control of this side's socket
	c   net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	out cipher.AEAD
	in  cipher.AEAD

	sendN, recvN uint64 // frame counters (the nonces)
	scratch      []byte // RecvScratch's buffer, kept at its largest

	q      chan Frame
	shared chan Frame // the data path's queue, which every stream's writer takes from
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	err    error
}

// maxYields bounds how many times a writer lets ready senders run before
// it writes what it holds (Stream.writer).
const maxYields = 4

// queueDepth is how many frames wait to be written per stream, and on
// the queue the streams of a data path share.
const queueDepth = 8

// newSharedQueue is the queue the streams of one data path take frames
// from (SendAny).
func newSharedQueue() chan Frame { return make(chan Frame, queueDepth) }

func newStream(c net.Conn, id uint32, out, in cipher.AEAD, shared chan Frame) *Stream {
	return &Stream{ID: id, c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10),
		out: out, in: in, q: make(chan Frame, queueDepth), shared: shared, done: make(chan struct{})}
}

func nonce(id uint32, n uint64) []byte {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], id)
	binary.BigEndian.PutUint64(b[4:], n)
	return b[:]
}

// writeFrame seals and writes one frame (not yet flushed).
func (s *Stream) writeFrame(f Frame) error {
	if len(f.Body) > MaxBody {
		return fmt.Errorf("data path: a frame of %d bytes", len(f.Body))
	}
	// The frame is built where it is written, sealed in place: in the
	// writer's buffer when it fits there, else in one buffer of its own.
	n := 1 + len(f.Body) + tagSize
	if s.w.Available() < 4+n && s.w.Buffered() > 0 && 4+n <= s.w.Size() {
		if err := s.w.Flush(); err != nil {
			return err
		}
	}
	var buf []byte
	if s.w.Available() >= 4+n {
		buf = s.w.AvailableBuffer()
	} else {
		buf = make([]byte, 0, 4+n)
	}
	buf = binary.BigEndian.AppendUint32(buf, uint32(n))
	buf = append(append(buf, f.Type), f.Body...)
	s.out.Seal(buf[4:4], nonce(s.ID, s.sendN), buf[4:], buf[:4])
	s.sendN++
	_, err := s.w.Write(buf[:4+n])
	return err
}

// readFrame reads and opens one frame, in a buffer of its own.
func (s *Stream) readFrame() (Frame, error) { return s.readFrameIn(nil) }

// readFrameIn reads and opens one frame: in *scratch, grown to fit, when
// scratch is not nil, else in a buffer of its own.
func (s *Stream) readFrameIn(scratch *[]byte) (Frame, error) {
	var l [4]byte
	if _, err := io.ReadFull(s.r, l[:]); err != nil {
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(l[:])
	if n < 1+tagSize || n > 1+MaxBody+tagSize {
		return Frame{}, fmt.Errorf("%w: bad frame length %d", ErrTampered, n)
	}
	var b []byte
	switch {
	case scratch == nil:
		b = make([]byte, n)
	case cap(*scratch) >= int(n):
		b = (*scratch)[:n]
	default:
		*scratch = make([]byte, n)
		b = *scratch
	}
	if _, err := io.ReadFull(s.r, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, err
	}
	p, err := s.in.Open(b[:0], nonce(s.ID, s.recvN), b, l[:])
	if err != nil {
		return Frame{}, ErrTampered
	}
	s.recvN++
	return Frame{Type: p[0], Body: p[1:]}, nil
}

// start runs the writer goroutine.
func (s *Stream) start() { go s.writer() }

func (s *Stream) writer() {
	for {
		var f Frame
		select {
		case f = <-s.q:
		case f = <-s.shared:
		case <-s.done:
			return
		}
		err := s.writeSent(f)
		// Take what else is queued into the same write. A write blocks
		// while the socket holds enough unsent bytes (notsentLowat), so
		// a stream slowed by a loss takes no more from the shared queue
		// until it caught up, and the others carry its share. Before the
		// write, the senders that are ready run first (a few times, while
		// they keep adding): many small frames (small files, their
		// answers) then share one system call instead of one each.
		for yields := 0; err == nil; {
			select {
			case f = <-s.q:
				err = s.writeSent(f)
				continue
			case f = <-s.shared:
				err = s.writeSent(f)
				continue
			default:
			}
			if yields == maxYields || s.w.Buffered() >= s.w.Size()/2 {
				break
			}
			yields++
			runtime.Gosched()
			if len(s.q) == 0 && (s.shared == nil || len(s.shared) == 0) {
				break
			}
		}
		if err == nil {
			err = s.w.Flush()
		}
		if err != nil {
			s.fail(err)
			return
		}
	}
}

// writeSent is writeFrame for a frame that was queued: its buffer goes
// back to its recycler once written (sealed into the stream's buffer).
func (s *Stream) writeSent(f Frame) error {
	err := s.writeFrame(f)
	if f.rec != nil {
		f.rec.Recycle(f.whole)
	}
	return err
}

// Send queues a frame, waiting while the queue is full. The body is not
// kept: it may be reused once Send returns.
func (s *Stream) Send(ctx context.Context, typ byte, body []byte) error {
	f := Frame{Type: typ, Body: append([]byte(nil), body...)}
	select {
	case s.q <- f:
		return nil
	case <-s.done:
		return s.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SendAny queues a frame on the data path's shared queue, waiting while
// it is full: the first stream whose socket has room sends it. Frames
// sent this way may arrive in any order, on any stream of the data path
// (a stream made without a shared queue sends them itself).
func (s *Stream) SendAny(ctx context.Context, typ byte, body []byte) error {
	return s.SendAnyOwned(ctx, typ, append([]byte(nil), body...))
}

// SendAnyOwned is SendAny for a body the caller gives up: it is not
// copied, and must not be changed or reused once SendAnyOwned is called.
func (s *Stream) SendAnyOwned(ctx context.Context, typ byte, body []byte) error {
	return s.sendAny(ctx, Frame{Type: typ, Body: body})
}

// SendAnyRecycled is SendAnyOwned for a body that lies in buf, which r
// takes back once the frame is written; neither may be changed or used
// once SendAnyRecycled is called. A frame dropped because the stream
// ended is not given back.
func (s *Stream) SendAnyRecycled(ctx context.Context, typ byte, body, buf []byte, r Recycler) error {
	return s.sendAny(ctx, Frame{Type: typ, Body: body, rec: r, whole: buf})
}

func (s *Stream) sendAny(ctx context.Context, f Frame) error {
	q := s.shared
	if q == nil {
		q = s.q
	}
	select {
	case q <- f:
		return nil
	case <-s.done:
		return s.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TrySend queues a frame if there is room now.
func (s *Stream) TrySend(typ byte, body []byte) bool {
	select {
	case <-s.done:
		return false
	default:
	}
	select {
	case s.q <- Frame{Type: typ, Body: append([]byte(nil), body...)}:
		return true
	default:
		return false
	}
}

// Recv reads the next frame. Any error ends the stream.
func (s *Stream) Recv() (Frame, error) {
	f, err := s.readFrame()
	if err != nil {
		s.fail(err)
		return Frame{}, s.Err()
	}
	return f, nil
}

// RecvScratch is Recv for a receiver that is done with each frame before
// it asks for the next: the body is read into a buffer the stream keeps
// and reuses, valid only until the next RecvScratch, so that neither a
// large file's chunks nor small files' calls cost an allocation each (a
// 256 KiB chunk, zeroed, per frame). A body kept longer must be copied.
// Any error ends the stream.
func (s *Stream) RecvScratch() (Frame, error) {
	f, err := s.readFrameIn(&s.scratch)
	if err != nil {
		s.fail(err)
		return Frame{}, s.Err()
	}
	return f, nil
}

// fail ends the stream with err (the first error sticks).
func (s *Stream) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.once.Do(func() {
		close(s.done)
		s.c.Close()
	})
}

// Err is why the stream ended (nil while it runs).
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		select {
		case <-s.done:
			return net.ErrClosed
		default:
		}
	}
	return s.err
}

// Done is closed when the stream ends.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Close ends the stream at once; frames still queued are dropped (the
// agent protocol only closes a data path when nothing it needs is in
// flight, or when it failed).
func (s *Stream) Close() error {
	s.fail(net.ErrClosed)
	return nil
}

// preamble is the clear start of a stream: magic and stream id.
func preamble(id uint32) []byte {
	b := append([]byte(magic), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(b[len(magic):], id)
	return b
}
