package ssh

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/async-sync/async/backends/ssh/client"
	"github.com/async-sync/async/backends/ssh/datapath"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/testnet"
)

// udpTransports are the data path's transports over UDP, each with the
// options it needs.
var udpTransports = []client.DataOptions{
	{Transport: datapath.UDP, Rate: 400e6, Streams: 2},
	{Transport: datapath.QUIC, Streams: 2},
}

// freeUDPPort returns a port free for UDP on 127.0.0.1 and 127.0.0.2.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if c2, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.2", strconv.Itoa(port))); err == nil {
			c2.Close()
			return port
		}
	}
	t.Fatal("no free UDP port")
	return 0
}

// datagramProxy relays UDP from 127.0.0.2:port to 127.0.0.1:port, one
// upstream socket per client socket, passing each datagram from a client
// through change.
func datagramProxy(t *testing.T, port int, change func([]byte)) {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.2", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	target := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	var mu sync.Mutex
	ups := map[string]*net.UDPConn{}
	t.Cleanup(func() {
		pc.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, u := range ups {
			u.Close()
		}
	})
	go func() {
		b := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(b)
			if err != nil {
				return
			}
			mu.Lock()
			up := ups[from.String()]
			if up == nil {
				if up, err = net.DialUDP("udp", nil, target); err != nil {
					mu.Unlock()
					return
				}
				ups[from.String()] = up
				go func() {
					rb := make([]byte, 65536)
					for {
						n, err := up.Read(rb)
						if err != nil {
							return
						}
						pc.WriteTo(rb[:n], from)
					}
				}()
			}
			mu.Unlock()
			change(b[:n])
			up.Write(b[:n])
		}
	}()
}

// TestUDPDataPathCarriesContentBothWays: over the UDP and QUIC
// transports, files small and striped go to the server and come back.
func TestUDPDataPathCarriesContentBothWays(t *testing.T) {
	for _, o := range udpTransports {
		t.Run(string(o.Transport), func(t *testing.T) {
			c, root, info, err := dataClient(t, o)
			if err != nil {
				t.Fatal(err)
			}
			if info.Transport != o.Transport || info.CC != string(o.Transport) || info.Streams != 2 {
				t.Fatalf("data path %+v", info)
			}
			ctx := context.Background()
			files := map[string][]byte{"big.bin": randomBytes(t, 3<<20+17), "small.txt": []byte("small")}
			for p, b := range files {
				if _, err := put(ctx, c, p, b); err != nil {
					t.Fatalf("put %s: %v", p, err)
				}
				if got, err := os.ReadFile(filepath.Join(root, p)); err != nil || !bytes.Equal(got, b) {
					t.Fatalf("%s on the server: %d bytes, %v", p, len(got), err)
				}
				if back, err := get(ctx, c, p); err != nil || !bytes.Equal(back, b) {
					t.Fatalf("%s read back: %d bytes, %v", p, len(back), err)
				}
			}
		})
	}
}

// TestUDPDataPathTamperedDatagrams: a man in the middle flips a bit in
// one datagram of 40 each way; every such datagram fails its seal and is
// sent again, so files go both ways intact (never a corrupt commit) and
// the data path stays up.
func TestUDPDataPathTamperedDatagrams(t *testing.T) {
	for _, o := range udpTransports {
		t.Run(string(o.Transport), func(t *testing.T) {
			port := freeUDPPort(t)
			var n, flipped atomic.Int64
			datagramProxy(t, port, func(b []byte) {
				if n.Add(1)%40 == 0 && len(b) > 64 {
					b[len(b)-20] ^= 0x08
					flipped.Add(1)
				}
			})
			var failed atomic.Value
			o.Port, o.Host = port, "127.0.0.2"
			o.Failed = func(err error) { failed.Store(err) }
			c, root, _, err := dataClient(t, o)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			b := randomBytes(t, 2<<20)
			if _, err := put(ctx, c, "f", b); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(filepath.Join(root, "f")); !bytes.Equal(got, b) {
				t.Fatal("the committed file differs")
			}
			if back, err := get(ctx, c, "f"); err != nil || !bytes.Equal(back, b) {
				t.Fatalf("read back: %d bytes, %v", len(back), err)
			}
			if flipped.Load() == 0 {
				t.Fatal("nothing was tampered with: the test proves nothing")
			}
			if err, _ := failed.Load().(error); err != nil {
				t.Errorf("the data path failed: %v", err)
			}
		})
	}
}

// TestUDPDataPathUnreachableFallsBack: a data port that drops every
// datagram costs the connect timeout, never a hang, and the session
// stays on SSH.
func TestUDPDataPathUnreachableFallsBack(t *testing.T) {
	for _, o := range udpTransports {
		t.Run(string(o.Transport), func(t *testing.T) {
			port := freeUDPPort(t)
			hole, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.2", strconv.Itoa(port)))
			if err != nil {
				t.Fatal(err)
			}
			defer hole.Close() // reads nothing: a firewall that drops
			o.Port, o.Host, o.Timeout = port, "127.0.0.2", 700*time.Millisecond
			mustFallBack(t, o, 1<<20)
		})
	}
}

// TestUDPDataPathAgentKilled: the agent dies while a file streams in
// over UDP or QUIC; nothing is committed and the client is not stuck.
func TestUDPDataPathAgentKilled(t *testing.T) {
	for _, o := range udpTransports {
		t.Run(string(o.Transport), func(t *testing.T) {
			c, root, info, err := dataClient(t, o)
			if err != nil {
				t.Fatal(err)
			}
			_, ps, _ := net.SplitHostPort(info.Addr)
			port, _ := strconv.Atoi(ps)
			pid := testnet.PortHolder(t, port)
			if pid == 0 {
				t.Fatalf("no process holds port %d", port)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			b := randomBytes(t, 8<<20)
			w, err := c.Create(ctx, "f", core.CreateOptions{Size: int64(len(b)), Replace: core.MustNotExist})
			if err != nil {
				t.Fatal(err)
			}
			w.Write(b[:2<<20])
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			w.Write(b[2<<20:])
			if _, err := w.Commit(ctx); err == nil {
				t.Fatal("committed through a killed agent")
			}
			if ctx.Err() != nil {
				t.Fatal("the commit hung after the agent died")
			}
			if _, err := os.Stat(filepath.Join(root, "f")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a file is there after the agent died: %v", err)
			}
		})
	}
}
