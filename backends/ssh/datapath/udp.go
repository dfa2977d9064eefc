//go:build !lean

package datapath

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"net"
	"time"

	kcp "github.com/xtaci/kcp-go/v5"
)

// The UDP transport: every stream is a KCP session (selective
// retransmission over UDP) run as a rate-based transport, as FASP does:
// no congestion window (KCP's "nc"), a send window sized to the target
// rate, and every datagram of a side, retransmissions included, paced to
// the session's target rate (-l). Each datagram is sealed with
// AES-256-GCM under a key derived from the session key (a changed or
// forged datagram is dropped and sent again); the frames inside are
// sealed as on TCP.

// packetLabel keys the datagrams of the UDP transport (both ways: the
// frames inside carry the direction).
const packetLabel = "async datapath v1 udp packets"

// udpMTU is the size of a datagram's KCP payload.
const udpMTU = 1400

// udpWindowTime is how much of the target rate one side keeps in flight:
// the send window covers a round trip (and its retransmissions) up to
// this long [decision].
const udpWindowTime = 500 * time.Millisecond

// udpWindow is the window of one stream, in datagrams.
func udpWindow(rate int64, streams int) int {
	w := int(float64(rate) / 8 * udpWindowTime.Seconds() / udpMTU / float64(max(streams, 1)))
	return min(max(w, 128), 16384)
}

// tuneKCP makes a KCP session a rate-based stream.
func tuneKCP(s *kcp.UDPSession, rate int64, streams int) {
	s.SetStreamMode(true)
	s.SetWriteDelay(false)
	s.SetMtu(udpMTU)
	s.SetNoDelay(1, 10, 2, 1) // no delayed acks, 10 ms clock, fast resend after 2, no congestion window
	w := udpWindow(rate, streams)
	s.SetWindowSize(w, w)
}

func packetCrypt(k Key) (kcp.BlockCrypt, error) {
	a, err := aead(k, packetLabel)
	if err != nil {
		return nil, err
	}
	return kcp.NewAEADCrypt(a), nil
}

// ListenUDP is Listen for the UDP transport: one UDP socket carries the
// n streams, paced at rate (bit/s) for this side's sends.
func ListenUDP(host string, port int, ports PortRange, key Key, rate int64, n int) (*Listener, error) {
	if rate <= 0 {
		return nil, ErrNoRate
	}
	block, err := packetCrypt(key)
	if err != nil {
		return nil, err
	}
	uc, err := listenUDP(host, port, ports)
	if err != nil {
		return nil, err
	}
	kl, err := kcp.ServeConn(block, 0, 0, pacedConn{uc, newPacer(rate)})
	if err != nil {
		uc.Close()
		return nil, err
	}
	sl := &sharedListener{
		accept: func() (net.Conn, error) {
			s, err := kl.AcceptKCP()
			if err != nil {
				return nil, err
			}
			tuneKCP(s, rate, n)
			return s, nil
		},
		addr:     uc.LocalAddr(),
		deadline: kl.SetDeadline,
		release:  func() { kl.Close(); uc.Close() },
	}
	return &Listener{ln: sl, key: key, label: string(UDP)}, nil
}

// udpDialer dials KCP sessions, each on its own UDP socket, all paced
// together at rate.
func udpDialer(key Key, rate int64, n int) (func(context.Context, string, string) (net.Conn, error), error) {
	if rate <= 0 {
		return nil, ErrNoRate
	}
	block, err := packetCrypt(key)
	if err != nil {
		return nil, err
	}
	p := newPacer(rate)
	return func(_ context.Context, _, addr string) (net.Conn, error) {
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return nil, err
		}
		uc, err := net.ListenUDP("udp", nil)
		if err != nil {
			return nil, err
		}
		uc.SetReadBuffer(udpSocketBuffer)
		uc.SetWriteBuffer(udpSocketBuffer)
		var conv [4]byte
		rand.Read(conv[:])
		s, err := kcp.NewConn4(binary.LittleEndian.Uint32(conv[:]), ua, block, 0, 0, true, pacedConn{uc, p})
		if err != nil {
			uc.Close()
			return nil, err
		}
		tuneKCP(s, rate, n)
		return s, nil
	}, nil
}
