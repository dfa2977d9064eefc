package datapath

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"
)

func newKey(t *testing.T) Key {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// connect opens a data path of n streams on 127.0.0.1.
func connect(t *testing.T, n int) (client, agent []*Stream) {
	t.Helper()
	k := newKey(t)
	l, err := Listen("127.0.0.1", 0, PortRange{}, k, DefaultCC)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		var err error
		agent, err = l.Accept(context.Background(), n, 5*time.Second)
		done <- err
	}()
	client, _, err = Dial(context.Background(), net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Port())), k, n, DialOptions{})
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

func TestStreamsCarryFramesBothWays(t *testing.T) {
	client, agent := connect(t, 3)
	ctx := context.Background()
	for i, s := range client {
		body := bytes.Repeat([]byte{byte(i)}, 200<<10)
		if err := s.Send(ctx, 7, body); err != nil {
			t.Fatal(err)
		}
		f, err := agent[i].Recv()
		if err != nil || f.Type != 7 || !bytes.Equal(f.Body, body) {
			t.Fatalf("stream %d: frame %d, %d bytes, err %v", i, f.Type, len(f.Body), err)
		}
		if err := agent[i].Send(ctx, 9, []byte("back")); err != nil {
			t.Fatal(err)
		}
		if f, err := s.Recv(); err != nil || string(f.Body) != "back" {
			t.Fatalf("stream %d: answer %q, %v", i, f.Body, err)
		}
	}
	if client[0].CC == "" || agent[0].CC == "" {
		t.Errorf("congestion control not reported: client %q, agent %q", client[0].CC, agent[0].CC)
	}
}

// TestStrangerDoesNotCount: a connection without the key fails its
// handshake and is dropped; the real client still gets every stream.
func TestStrangerDoesNotCount(t *testing.T) {
	k := newKey(t)
	l, err := Listen("127.0.0.1", 0, PortRange{}, k, "")
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Port()))
	done := make(chan error, 1)
	go func() {
		s, err := l.Accept(context.Background(), 1, 5*time.Second)
		if err == nil {
			s[0].Close()
		}
		done <- err
	}()
	if _, _, err := Dial(context.Background(), addr, newKey(t), 1, DialOptions{Timeout: time.Second}); err == nil {
		t.Fatal("a client with another key connected")
	}
	s, _, err := Dial(context.Background(), addr, k, 1, DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s[0].Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestDialTimesOut: a port that accepts and never answers ends the dial
// within its timeout.
func TestDialTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	_, _, err = Dial(context.Background(), ln.Addr().String(), newKey(t), 2, DialOptions{Timeout: 300 * time.Millisecond})
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("dial: %v after %v", err, time.Since(start))
	}
}

// pair returns a sender and a receiver stream of one direction over a
// buffer, for tampering with the bytes in between.
func pair(t *testing.T, k Key, label string) (*Stream, *bytes.Buffer, func([]byte) *Stream) {
	out, err := aead(k, label)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	snd := &Stream{ID: 1, out: out, w: bufio.NewWriter(&buf)}
	recv := func(b []byte) *Stream {
		in, _ := aead(k, label)
		return &Stream{ID: 1, in: in, r: bufio.NewReader(bytes.NewReader(b))}
	}
	return snd, &buf, recv
}

func TestTamperingIsDetected(t *testing.T) {
	k := newKey(t)
	frames := func() ([]byte, []int) {
		snd, buf, _ := pair(t, k, toAgent)
		var ends []int
		for i := range 3 {
			snd.writeFrame(Frame{Type: 1, Body: bytes.Repeat([]byte{byte('a' + i)}, 100)})
			snd.w.Flush()
			ends = append(ends, buf.Len())
		}
		return buf.Bytes(), ends
	}
	wire, ends := frames()
	f0, f1 := wire[:ends[0]], wire[ends[0]:ends[1]]
	cases := []struct {
		name string
		b    []byte
		id   uint32
		key  Key
		lbl  string
	}{
		{"a flipped bit", func() []byte { b := bytes.Clone(wire); b[ends[0]+20] ^= 1; return b }(), 1, k, toAgent},
		{"a flipped length", func() []byte { b := bytes.Clone(wire); b[ends[0]+3]--; return b }(), 1, k, toAgent},
		{"a replayed frame", append(append(bytes.Clone(f0), f0...), f1...), 1, k, toAgent},
		{"reordered frames", append(bytes.Clone(f1), f0...), 1, k, toAgent},
		{"a dropped frame", wire[ends[0]:], 1, k, toAgent},
		{"another stream", wire, 2, k, toAgent},
		{"reflected", wire, 1, k, toClient},
		{"another key", wire, 1, newKey(t), toAgent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, _ := aead(c.key, c.lbl)
			r := &Stream{ID: c.id, in: in, r: bufio.NewReader(bytes.NewReader(c.b))}
			var err error
			for range 3 {
				if _, err = r.readFrame(); err != nil {
					break
				}
			}
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("err = %v, want ErrTampered", err)
			}
		})
	}
	// The untouched bytes open.
	in, _ := aead(k, toAgent)
	r := &Stream{ID: 1, in: in, r: bufio.NewReader(bytes.NewReader(wire))}
	for i := range 3 {
		f, err := r.readFrame()
		if err != nil || f.Body[0] != byte('a'+i) {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
}

// TestCiphertextHidesContent: what crosses the wire never holds the
// plain content.
func TestCiphertextHidesContent(t *testing.T) {
	snd, buf, _ := pair(t, newKey(t), toAgent)
	secret := []byte("the plain content of a file, which no one on the path may read")
	snd.writeFrame(Frame{Type: 1, Body: secret})
	snd.w.Flush()
	if bytes.Contains(buf.Bytes(), secret[:16]) {
		t.Fatal("the wire holds the plain text")
	}
}

func TestListenPorts(t *testing.T) {
	k := newKey(t)
	if _, err := Listen("127.0.0.1", 9, PortRange{33001, 33100}, k, ""); err == nil {
		t.Error("a port outside data_ports was taken")
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	p := busy.Addr().(*net.TCPAddr).Port
	if _, err := Listen("127.0.0.1", p, PortRange{}, k, ""); err == nil {
		t.Error("a busy port was taken")
	}
	r, err := ParsePortRange("40100-40199")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Listen("127.0.0.1", 0, r, k, "")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !r.Contains(l.Port()) {
		t.Errorf("port %d outside %s", l.Port(), r)
	}
	for _, bad := range []string{"", "0-10", "10-5", "1-70000", "x"} {
		if _, err := ParsePortRange(bad); err == nil {
			t.Errorf("ParsePortRange(%q) accepted", bad)
		}
	}
}

// TestRecvScratch: frames of any size, smaller and larger than the ones
// before, open in the reused buffer as they were sent; the buffer is
// grown once for the largest and then reused; a tampered frame still
// ends the stream.
func TestRecvScratch(t *testing.T) {
	k := newKey(t)
	sizes := []int{0, 1, 4 << 10, MaxBody, 10, 256 << 10, 3}
	snd, buf, recv := pair(t, k, toAgent)
	for i, n := range sizes {
		if err := snd.writeFrame(Frame{Type: byte(i + 1), Body: bytes.Repeat([]byte{byte('a' + i)}, n)}); err != nil {
			t.Fatal(err)
		}
	}
	snd.w.Flush()
	wire := bytes.Clone(buf.Bytes())
	r := recv(wire)
	r.done = make(chan struct{})
	r.c = nopConn{}
	var grownTo int
	for i, n := range sizes {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			f, err := r.RecvScratch()
			if err != nil {
				t.Fatal(err)
			}
			if f.Type != byte(i+1) || !bytes.Equal(f.Body, bytes.Repeat([]byte{byte('a' + i)}, n)) {
				t.Fatalf("frame %d: type %d, %d bytes, want type %d, %d bytes of %c", i, f.Type, len(f.Body), i+1, n, 'a'+i)
			}
			if i > 0 && n+1+tagSize <= grownTo && cap(r.scratch) != grownTo {
				t.Fatalf("the buffer of %d bytes was replaced for a frame of %d", grownTo, n)
			}
			grownTo = max(grownTo, cap(r.scratch))
		})
	}
	if _, err := r.RecvScratch(); err == nil {
		t.Fatal("a frame past the end")
	}
	bad := bytes.Clone(wire)
	bad[len(bad)-1] ^= 1
	r = recv(bad)
	r.done = make(chan struct{})
	r.c = nopConn{}
	var err error
	for range sizes {
		if _, err = r.RecvScratch(); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrTampered) {
		t.Fatalf("err = %v, want ErrTampered", err)
	}
}

// nopConn is the connection of a stream read from a buffer: Close does
// nothing.
type nopConn struct{ net.Conn }

func (nopConn) Close() error { return nil }

// scribbler is a Recycler that overwrites each buffer it takes back, so
// that a frame whose buffer came back before it was written arrives
// damaged.
type scribbler chan []byte

func (s scribbler) Recycle(b []byte) {
	for i := range b[:cap(b)] {
		b[:cap(b)][i] = 0xee
	}
	s <- b
}

// TestSendAnyRecycled: a frame sent with a recycler arrives whole, of any
// size (within the writer's buffer or beyond it), and its buffer comes
// back, once, only after it was written.
func TestSendAnyRecycled(t *testing.T) {
	client, agent := connect(t, 1)
	ctx := context.Background()
	for _, n := range []int{0, 100, 4 << 10, 64 << 10, MaxBody} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			buf := make([]byte, 16+n)
			body := buf[16:]
			for i := range body {
				body[i] = byte(i)
			}
			want := bytes.Clone(body)
			back := make(scribbler, 2)
			if err := client[0].SendAnyRecycled(ctx, 9, body, buf, back); err != nil {
				t.Fatal(err)
			}
			f, err := agent[0].Recv()
			if err != nil {
				t.Fatal(err)
			}
			if f.Type != 9 || !bytes.Equal(f.Body, want) {
				t.Fatalf("frame type %d, %d bytes; want 9, %d bytes as sent", f.Type, len(f.Body), n)
			}
			select {
			case b := <-back:
				if &b[:1][0] != &buf[0] || cap(b) != cap(buf) {
					t.Fatal("another buffer came back")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the buffer did not come back")
			}
			if len(back) != 0 {
				t.Fatal("the buffer came back twice")
			}
		})
	}
}
