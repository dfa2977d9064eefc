package datapath

import (
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

const testRate = 400e6 // bit/s: loopback tests are not about the rate

// listenOn opens the agent's end of a transport on 127.0.0.1.
func listenOn(t *testing.T, tr Transport, k Key, n int) *Listener {
	t.Helper()
	var l *Listener
	var err error
	switch tr {
	case UDP:
		l, err = ListenUDP("127.0.0.1", 0, PortRange{}, k, testRate, n)
	case QUIC:
		l, err = ListenQUIC("127.0.0.1", 0, PortRange{}, k)
	default:
		l, err = Listen("127.0.0.1", 0, PortRange{}, k, DefaultCC)
	}
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// connectVia opens a data path of n streams over a transport; proxy,
// when set, stands between the ends (it gets the agent's address and
// returns the one to dial).
func connectVia(t *testing.T, tr Transport, n int, proxy func(string) string) (client, agent []*Stream) {
	t.Helper()
	k := newKey(t)
	l := listenOn(t, tr, k, n)
	done := make(chan error, 1)
	go func() {
		var err error
		agent, err = l.Accept(context.Background(), n, 5*time.Second)
		done <- err
	}()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Port()))
	if proxy != nil {
		addr = proxy(addr)
	}
	client, _, err := Dial(context.Background(), addr, k, n, DialOptions{Transport: tr, Rate: testRate, Fingerprint: l.Fingerprint()})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range append(client, agent...) {
			s.Close()
		}
	})
	return client, agent
}

// exchange sends a large frame each way on every stream and checks it.
func exchange(t *testing.T, client, agent []*Stream) {
	t.Helper()
	ctx := context.Background()
	for i, s := range client {
		body := make([]byte, 256<<10)
		rand.Read(body)
		for range 4 {
			if err := s.Send(ctx, 7, body); err != nil {
				t.Fatal(err)
			}
			f, err := agent[i].Recv()
			if err != nil || f.Type != 7 || !bytes.Equal(f.Body, body) {
				t.Fatalf("stream %d: frame %d, %d bytes, err %v", i, f.Type, len(f.Body), err)
			}
			if err := agent[i].Send(ctx, 9, body); err != nil {
				t.Fatal(err)
			}
			if f, err := s.Recv(); err != nil || !bytes.Equal(f.Body, body) {
				t.Fatalf("stream %d: answer of %d bytes, %v", i, len(f.Body), err)
			}
		}
	}
}

func TestUDPAndQUICCarryFramesBothWays(t *testing.T) {
	for _, tr := range []Transport{UDP, QUIC} {
		t.Run(string(tr), func(t *testing.T) {
			client, agent := connectVia(t, tr, 3, nil)
			exchange(t, client, agent)
			if client[0].CC != string(tr) || agent[0].CC != string(tr) {
				t.Errorf("transport reported as %q and %q", client[0].CC, agent[0].CC)
			}
		})
	}
}

// udpProxy relays datagrams between one client and target, passing
// every datagram from the client through change.
func udpProxy(t *testing.T, target string, change func([]byte)) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ta, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		t.Fatal(err)
	}
	up, err := net.DialUDP("udp", nil, ta)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close(); up.Close() })
	var client atomic.Pointer[net.Addr]
	go func() {
		b := make([]byte, 65536)
		for {
			n, a, err := pc.ReadFrom(b)
			if err != nil {
				return
			}
			client.Store(&a)
			change(b[:n])
			up.Write(b[:n])
		}
	}()
	go func() {
		b := make([]byte, 65536)
		for {
			n, err := up.Read(b)
			if err != nil {
				return
			}
			if a := client.Load(); a != nil {
				pc.WriteTo(b[:n], *a)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// TestUDPTamperedDatagramIsDroppedAndResent: one bit flipped in every
// 50th datagram; the datagram fails its seal, is dropped and sent again,
// and every frame arrives intact.
func TestUDPTamperedDatagramIsDroppedAndResent(t *testing.T) {
	var n, flipped atomic.Int64
	client, agent := connectVia(t, UDP, 1, func(target string) string { // one stream: the proxy relays one client socket
		return udpProxy(t, target, func(b []byte) {
			if n.Add(1)%50 == 0 && len(b) > 40 {
				b[len(b)/2] ^= 0x10
				flipped.Add(1)
			}
		})
	})
	exchange(t, client, agent)
	if flipped.Load() == 0 {
		t.Fatal("the proxy changed nothing: the test proves nothing")
	}
}

// TestQUICPinsTheCertificate: a client that expects another certificate
// does not connect.
func TestQUICPinsTheCertificate(t *testing.T) {
	k := newKey(t)
	l := listenOn(t, QUIC, k, 1)
	go l.Accept(context.Background(), 1, 3*time.Second)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Port()))
	wrong := bytes.Clone(l.Fingerprint())
	wrong[0] ^= 1
	if _, _, err := Dial(context.Background(), addr, k, 1, DialOptions{Transport: QUIC, Fingerprint: wrong, Timeout: 2 * time.Second}); err == nil {
		t.Fatal("connected to a certificate that was not pinned")
	}
}

// TestUDPAndQUICRefuseAnotherKey: a client with another session's key
// gets no stream, within its timeout.
func TestUDPAndQUICRefuseAnotherKey(t *testing.T) {
	for _, tr := range []Transport{UDP, QUIC} {
		t.Run(string(tr), func(t *testing.T) {
			l := listenOn(t, tr, newKey(t), 1)
			go l.Accept(context.Background(), 1, 3*time.Second)
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Port()))
			start := time.Now()
			if _, _, err := Dial(context.Background(), addr, newKey(t), 1, DialOptions{Transport: tr, Rate: testRate, Fingerprint: l.Fingerprint(), Timeout: time.Second}); err == nil {
				t.Fatal("a client with another key connected")
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("the refusal took %v", d)
			}
		})
	}
}

// TestUDPNeedsARate: the rate-based transport refuses to run without a
// target rate.
func TestUDPNeedsARate(t *testing.T) {
	if _, err := ListenUDP("127.0.0.1", 0, PortRange{}, newKey(t), 0, 1); err != ErrNoRate {
		t.Errorf("listen without a rate: %v", err)
	}
	if _, _, err := Dial(context.Background(), "127.0.0.1:9", newKey(t), 1, DialOptions{Transport: UDP}); err != ErrNoRate {
		t.Errorf("dial without a rate: %v", err)
	}
}

func TestPacerHoldsTheRate(t *testing.T) {
	p := newPacer(80e6) // 10 MB/s
	start := time.Now()
	for range 1000 {
		p.wait(2000) // 2 MB in all: 200 ms
	}
	// The first send may be pacerBurst early, and the last returns as its
	// own slot starts: 200 ms less both is the least it may take.
	least := 200*time.Millisecond - pacerBurst - time.Duration(2000*p.per)
	if d := time.Since(start); d < least || d > 400*time.Millisecond {
		t.Errorf("2 MB at 10 MB/s took %v", d)
	}
}
