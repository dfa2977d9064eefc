package datapath

import (
	"context"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"
)

// PortRange is the ports the agent may listen on (data_ports in the
// server's configuration); the zero value allows any port.
type PortRange struct{ Lo, Hi int }

// Set reports whether the range restricts the ports.
func (r PortRange) Set() bool { return r.Lo != 0 }

// Contains reports whether p is in the range.
func (r PortRange) Contains(p int) bool { return p >= r.Lo && p <= r.Hi }

// String formats the range as LO-HI.
func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.Lo, r.Hi) }

// ParsePortRange parses "LO-HI" or one port.
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, ok := cut(s, '-')
	if !ok {
		hi = lo
	}
	l, err1 := strconv.Atoi(lo)
	h, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || l < 1 || h > 65535 || l > h {
		return PortRange{}, fmt.Errorf("data_ports %q: want LO-HI, ports 1 to 65535", s)
	}
	return PortRange{l, h}, nil
}

func cut(s string, c byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// DefaultCC is the congestion control asked for on every data socket.
const DefaultCC = "bbr"

// Listener is the agent's end: a TCP listener for one session's streams.
type Listener struct {
	ln  net.Listener
	key Key
	cc  string
	// label, when set, names the transport in place of a TCP congestion
	// control (the UDP and QUIC listeners).
	label string
	// fp is the SHA-256 of the QUIC listener's one-time certificate.
	fp []byte
}

// Listen opens a listener on host (empty: every address) at port (0:
// one of ports, or any when ports is unset). A port outside a set range
// is refused.
func Listen(host string, port int, ports PortRange, key Key, cc string) (*Listener, error) {
	var ln net.Listener
	err := listenPort(port, ports, func(p int) error {
		lc := net.ListenConfig{Control: ccControl(cc)}
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Listener{ln: ln, key: key, cc: cc}, nil
}

// NewListener serves the data path on another transport's listener
// (the benchmark's UDP and QUIC prototypes): every connection it accepts
// carries one stream, as a TCP connection does.
func NewListener(ln net.Listener, key Key) *Listener { return &Listener{ln: ln, key: key} }

// Port is the port the listener took.
func (l *Listener) Port() int {
	if a, ok := l.ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	if a, ok := l.ln.Addr().(*net.UDPAddr); ok {
		return a.Port
	}
	return 0
}

// Close stops listening (accepted streams stay).
func (l *Listener) Close() error { return l.ln.Close() }

// maxStrangers bounds the connections that fail the handshake before the
// listener gives up.
const maxStrangers = 64

// Accept takes n streams whose hello opens under the key, then closes
// the listener. Others are dropped and do not count; after timeout, or
// maxStrangers failed handshakes, it gives up and closes the streams it
// has.
func (l *Listener) Accept(ctx context.Context, n int, timeout time.Duration) ([]*Stream, error) {
	defer l.ln.Close()
	out, err := aead(l.key, toClient)
	if err != nil {
		return nil, err
	}
	in, err := aead(l.key, toAgent)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	if tl, ok := l.ln.(interface{ SetDeadline(time.Time) error }); ok {
		tl.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { l.ln.Close() })
	defer stop()
	streams := make([]*Stream, n)
	shared := newSharedQueue()
	got, strangers := 0, 0
	fail := func(err error) ([]*Stream, error) {
		for _, s := range streams {
			if s != nil {
				s.fail(err)
			}
		}
		return nil, err
	}
	for got < n {
		c, err := l.ln.Accept()
		if err != nil {
			return fail(fmt.Errorf("data path: %d of %d streams connected: %w", got, n, err))
		}
		s, err := l.handshake(c, n, streams, out, in, shared, deadline)
		if err != nil {
			c.Close()
			if strangers++; strangers >= maxStrangers {
				return fail(fmt.Errorf("data path: %d connections failed the handshake; last: %w", strangers, err))
			}
			continue
		}
		streams[s.ID] = s
		got++
	}
	for _, s := range streams {
		s.start()
	}
	return streams, nil
}

// handshake reads a stream's preamble and hello, and answers.
func (l *Listener) handshake(c net.Conn, n int, have []*Stream, out, in cipher.AEAD, shared chan Frame, deadline time.Time) (*Stream, error) {
	c.SetDeadline(deadline)
	defer c.SetDeadline(time.Time{})
	pre := make([]byte, len(magic)+4)
	if _, err := io.ReadFull(c, pre); err != nil {
		return nil, err
	}
	if string(pre[:len(magic)]) != magic {
		return nil, errors.New("not an async data stream")
	}
	id := binary.BigEndian.Uint32(pre[len(magic):])
	if int(id) >= n || have[id] != nil {
		return nil, fmt.Errorf("stream id %d", id)
	}
	s := newStream(c, id, out, in, shared)
	f, err := s.readFrame()
	if err != nil {
		return nil, err
	}
	if f.Type != frameHello {
		return nil, errors.New("no hello")
	}
	s.CC = l.label
	if s.CC == "" {
		s.CC = setCC(c, l.cc)
	}
	if err := s.writeFrame(Frame{Type: frameHello, Body: []byte(s.CC)}); err != nil {
		return nil, err
	}
	if err := s.w.Flush(); err != nil {
		return nil, err
	}
	return s, nil
}

// DialOptions configure Dial.
type DialOptions struct {
	// Timeout bounds connecting and the handshake of every stream
	// (default 5 s).
	Timeout time.Duration
	// CC is the congestion control to ask for (default DefaultCC; the
	// system's own when the kernel refuses it).
	CC string
	// Dial replaces net.Dialer (tests put a proxy in between).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Transport is TCP (the default), UDP or QUIC (see udp.go, quic.go).
	Transport Transport
	// Rate is the target rate of the UDP transport, bit/s.
	Rate int64
	// Fingerprint pins the QUIC listener's certificate (SHA-256).
	Fingerprint []byte
}

// Dial connects n streams to addr and completes their handshakes. The
// agent's congestion control is returned beside the streams.
func Dial(ctx context.Context, addr string, key Key, n int, o DialOptions) ([]*Stream, string, error) {
	if n < 1 || n > MaxStreams {
		return nil, "", fmt.Errorf("data path: %d streams (want 1 to %d)", n, MaxStreams)
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.CC == "" {
		o.CC = DefaultCC
	}
	out, err := aead(key, toAgent)
	if err != nil {
		return nil, "", err
	}
	in, err := aead(key, toClient)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	dial := o.Dial
	label := ""
	switch o.Transport {
	case TCP, "":
	case UDP:
		if dial == nil {
			if dial, err = udpDialer(key, o.Rate, n); err != nil {
				return nil, "", err
			}
		}
		label = string(UDP)
	case QUIC:
		if dial == nil {
			dial = quicDialer(o.Fingerprint)
		}
		label = string(QUIC)
	default:
		return nil, "", fmt.Errorf("data path: transport %q", o.Transport)
	}
	if dial == nil {
		d := &net.Dialer{Control: ccControl(o.CC)}
		dial = d.DialContext
	}
	type res struct {
		s   *Stream
		cc  string
		err error
	}
	ch := make(chan res, n)
	shared := newSharedQueue()
	for i := range n {
		go func() {
			s, cc, err := dialOne(ctx, dial, addr, uint32(i), out, in, shared, o.CC)
			ch <- res{s, cc, err}
		}()
	}
	streams := make([]*Stream, n)
	var first error
	var agentCC string
	for range n {
		r := <-ch
		if r.err != nil {
			if first == nil {
				first = r.err
			}
			continue
		}
		if label != "" {
			r.s.CC = label
		}
		streams[r.s.ID], agentCC = r.s, r.cc
	}
	if first != nil {
		for _, s := range streams {
			if s != nil {
				s.fail(first)
			}
		}
		return nil, "", fmt.Errorf("data path %s: %w", addr, first)
	}
	for _, s := range streams {
		s.start()
	}
	return streams, agentCC, nil
}

func dialOne(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), addr string, id uint32, out, in cipher.AEAD, shared chan Frame, cc string) (*Stream, string, error) {
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, "", err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() }) // the timeout also bounds the handshake
	defer stop()
	s := newStream(c, id, out, in, shared)
	s.CC = setCC(c, cc)
	s.w.Write(preamble(id))
	if err := s.writeFrame(Frame{Type: frameHello}); err != nil {
		c.Close()
		return nil, "", err
	}
	if err := s.w.Flush(); err != nil {
		c.Close()
		return nil, "", err
	}
	f, err := s.readFrame()
	if err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, "", fmt.Errorf("no answer: %w", ctx.Err())
		}
		return nil, "", err
	}
	if f.Type != frameHello {
		c.Close()
		return nil, "", errors.New("no hello from the agent")
	}
	return s, string(f.Body), nil
}

// ccControl sets the congestion control and the bound on unsent bytes
// of a socket before it connects or listens; a refusal is not an error
// (the system's own stays).
func ccControl(cc string) func(string, string, syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		rc.Control(func(fd uintptr) {
			setsockoptCC(int(fd), cc)
			setNotsentLowat(int(fd))
		})
		return nil
	}
}

// notsentLowat bounds the bytes a data socket holds that it has not
// sent yet (TCP_NOTSENT_LOWAT): beyond it a write waits, so the frames
// stay in the shared queue for whichever stream has room instead of
// piling up behind a slow one (up to its whole send buffer, megabytes,
// which the last stream to finish then sends alone: at 150 ms and 2 %
// loss the push's last 5-6 s, with 1 MiB still 5 s). 256 KiB keeps a
// 250 Mbit/s stream busy for 8 ms between wake-ups [decision].
const notsentLowat = 256 << 10

// setCC asks for cc on an open connection and reports the congestion
// control the socket runs.
func setCC(c net.Conn, cc string) string {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return ""
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return ""
	}
	var got string
	rc.Control(func(fd uintptr) {
		if cc != "" {
			setsockoptCC(int(fd), cc)
		}
		setNotsentLowat(int(fd))
		got = getsockoptCC(int(fd))
	})
	return got
}

// QueueDelay is how much longer the streams' round trips are than the
// shortest the kernel saw on them (TCP_INFO: smoothed RTT minus minimum
// RTT, averaged over the streams), and that minimum: the time packets
// wait in a queue on the path. A data path alone on a link, under BBR,
// keeps it small; a loss-based flow beside it fills the bottleneck's
// queue. ok is false where the kernel does not say.
func QueueDelay(streams []*Stream) (delay, base time.Duration, ok bool) {
	p := Estimate(streams)
	return max(p.RTT-p.MinRTT, 0), p.MinRTT, p.OK
}

// Path is what the kernel knows of a data path's streams.
type Path struct {
	RTT, MinRTT time.Duration // smoothed and smallest round trip, averaged over the streams
	Rate        float64       // the streams' delivery rates added up, bytes/s
	OK          bool          // false: the kernel does not say
}

// BDP is the path's bandwidth × delay in bytes.
func (p Path) BDP() float64 { return p.Rate * p.MinRTT.Seconds() }

// Estimate reads TCP_INFO of every stream.
func Estimate(streams []*Stream) Path {
	var p Path
	n := 0
	for _, s := range streams {
		sc, isSC := s.c.(syscall.Conn)
		if !isSC {
			continue
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			continue
		}
		rc.Control(func(fd uintptr) {
			if rtt, m, rate, got := tcpRTT(int(fd)); got {
				p.RTT += time.Duration(rtt) * time.Microsecond
				p.MinRTT += time.Duration(m) * time.Microsecond
				p.Rate += float64(rate)
				n++
			}
		})
	}
	if n == 0 {
		return Path{}
	}
	p.RTT /= time.Duration(n)
	p.MinRTT /= time.Duration(n)
	p.OK = true
	return p
}
