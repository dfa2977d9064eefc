package datapath

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Transport is what carries a data path's streams: TCP sockets (the
// default), KCP sessions over UDP sent at the session's target rate, or
// QUIC connections. Every transport carries the same sealed frames.
type Transport string

// The transports.
const (
	TCP  Transport = "tcp"
	UDP  Transport = "udp"
	QUIC Transport = "quic"
)

// ParseTransport checks a transport's name ("" is TCP).
func ParseTransport(s string) (Transport, error) {
	switch t := Transport(s); t {
	case "":
		return TCP, nil
	case TCP, UDP, QUIC:
		return t, nil
	}
	return "", fmt.Errorf("data path transport %q (want tcp, udp or quic)", s)
}

// pacer spaces the datagrams of one side at a rate: every byte on the
// wire, retransmissions included, is counted, as in a rate-based
// transport. A pacer is shared by the sockets of one side.
type pacer struct {
	mu   sync.Mutex
	per  float64 // nanoseconds per byte
	next time.Time
}

// pacerBurst is how far behind its schedule a pacer lets a sender fall
// and catch up at once: sleeps are coarser than one datagram, and on a
// busy host a sender wakes late; without the catch-up it would lose that
// time from its rate [decision: 10 ms, 125 KB at 100 Mbit/s, well within
// a router's queue].
const pacerBurst = 10 * time.Millisecond

// newPacer paces at bits per second; nil (no pacing) for 0.
func newPacer(bits int64) *pacer {
	if bits <= 0 {
		return nil
	}
	return &pacer{per: 8e9 / float64(bits)}
}

func (p *pacer) wait(n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now.Add(-pacerBurst)) {
		p.next = now.Add(-pacerBurst)
	}
	at := p.next
	p.next = p.next.Add(time.Duration(float64(n) * p.per))
	p.mu.Unlock()
	if d := at.Sub(now); d > 0 {
		time.Sleep(d)
	}
}

// pacedConn is a packet socket whose writes wait for their pacer.
type pacedConn struct {
	net.PacketConn
	p *pacer
}

func (c pacedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.p.wait(len(b) + 28) // IP and UDP headers
	return c.PacketConn.WriteTo(b, addr)
}

// sharedListener lets Listener.Accept close a listener whose accepted
// connections depend on it (one UDP socket carries them all): Close
// stops accepting, and the socket closes with the last connection.
type sharedListener struct {
	accept   func() (net.Conn, error)
	addr     net.Addr
	deadline func(time.Time) error
	release  func() // closes the socket and what serves it

	mu     sync.Mutex
	open   int
	closed bool
	done   bool
}

func (l *sharedListener) Accept() (net.Conn, error) {
	c, err := l.accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.open++
	l.mu.Unlock()
	return &sharedConn{Conn: c, l: l}, nil
}

func (l *sharedListener) Addr() net.Addr { return l.addr }

func (l *sharedListener) SetDeadline(t time.Time) error { return l.deadline(t) }

// Close stops accepting; the socket stays while connections use it.
func (l *sharedListener) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.deadline(time.Now()) // wakes a waiting Accept
	l.maybeRelease()
	return nil
}

func (l *sharedListener) maybeRelease() {
	l.mu.Lock()
	last := l.closed && l.open == 0 && !l.done
	if last {
		l.done = true
	}
	l.mu.Unlock()
	if last {
		l.release()
	}
}

// sharedConn is an accepted connection of a sharedListener.
type sharedConn struct {
	net.Conn
	l    *sharedListener
	once sync.Once
}

func (c *sharedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		c.l.mu.Unlock()
		c.l.maybeRelease()
	})
	return err
}

// Fingerprint is the SHA-256 of the QUIC listener's certificate, which
// the client pins (nil for the other transports).
func (l *Listener) Fingerprint() []byte { return l.fp }

// ErrNoRate: the UDP transport sends at a target rate, and none was set.
var ErrNoRate = errors.New("the udp data path sends at the target rate: set one with -l")

// udpSocketBuffer is the kernel buffer asked for each UDP socket.
const udpSocketBuffer = 4 << 20

// listenUDP opens the UDP socket of the UDP and QUIC transports on a
// port Listen would take, with large socket buffers.
func listenUDP(host string, port int, ports PortRange) (*net.UDPConn, error) {
	var uc *net.UDPConn
	err := listenPort(port, ports, func(p int) error {
		var err error
		uc, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(host), Port: p})
		return err
	})
	if err != nil {
		return nil, err
	}
	uc.SetReadBuffer(udpSocketBuffer)
	uc.SetWriteBuffer(udpSocketBuffer)
	return uc, nil
}

// listenPort runs listen on the ports Listen would try, in order.
func listenPort(port int, ports PortRange, listen func(port int) error) error {
	var try []int
	switch {
	case port != 0 && ports.Set() && !ports.Contains(port):
		return fmt.Errorf("data port %d is outside the server's data_ports %s", port, ports)
	case port < 0 || port > 65535:
		return fmt.Errorf("data port %d: want 1 to 65535", port)
	case port != 0:
		try = []int{port}
	case ports.Set():
		n := ports.Hi - ports.Lo + 1
		start := rand.IntN(n)
		for i := range min(n, 256) { // bounded: a busy range fails after 256 tries
			try = append(try, ports.Lo+(start+i)%n)
		}
	default:
		try = []int{0}
	}
	var err error
	for _, p := range try {
		if err = listen(p); err == nil {
			return nil
		}
	}
	return fmt.Errorf("data path: listen: %w", err)
}
