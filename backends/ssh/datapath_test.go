package ssh

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/async-sync/async/backends/ssh/agent"
	"github.com/async-sync/async/backends/ssh/client"
	"github.com/async-sync/async/backends/ssh/datapath"
	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/backendtest"
	"github.com/async-sync/async/internal/testnet"
)

// tapConn is a data stream seen from the middle: it counts and keeps
// what passes each way, and may flip one byte at an offset of a
// direction (after the handshake).
type tapConn struct {
	net.Conn
	mu       sync.Mutex
	out, in  int64 // bytes client → agent, agent → client
	flipOut  int64 // flip the byte at this offset of the outgoing bytes (0: none)
	flipIn   int64
	captured *bytes.Buffer
}

func (c *tapConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	q := p
	if c.flipOut > 0 && c.out <= c.flipOut && c.flipOut < c.out+int64(len(p)) {
		q = bytes.Clone(p)
		q[c.flipOut-c.out] ^= 0x40
	}
	c.out += int64(len(p))
	if c.captured != nil {
		c.captured.Write(p)
	}
	c.mu.Unlock()
	return c.Conn.Write(q)
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if c.flipIn > 0 && c.in <= c.flipIn && c.flipIn < c.in+int64(n) {
		p[c.flipIn-c.in] ^= 0x40
	}
	c.in += int64(n)
	c.mu.Unlock()
	return n, err
}

// tap returns a dialer that wraps every stream it connects with setup.
func tap(conns *[]*tapConn, setup func(i int, c *tapConn)) func(context.Context, string, string) (net.Conn, error) {
	var mu sync.Mutex
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		c := &tapConn{Conn: nc}
		if setup != nil {
			setup(len(*conns), c)
		}
		*conns = append(*conns, c)
		return c, nil
	}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// dataClient starts an agent on a fresh directory of the test server
// and opens a data path with o.
func dataClient(t *testing.T, o client.DataOptions) (*client.Client, string, client.DataInfo, error) {
	t.Helper()
	c, root, o := agentClient(t, o)
	info, err := c.OpenDataPath(context.Background(), o)
	return c, root, info, err
}

// agentClient starts an agent on a fresh directory of the test server,
// and fills in o's host.
func agentClient(t *testing.T, o client.DataOptions) (*client.Client, string, client.DataOptions) {
	t.Helper()
	s := server(t)
	conn := dial(t, s)
	t.Cleanup(func() { conn.Close() })
	root := s.TempDir(t)
	bin := agentBinary(t)
	if o.Transport == datapath.UDP || o.Transport == datapath.QUIC {
		bin = testnet.FullBeside(bin) // a lean agent has neither
	}
	c, err := conn.StartAgent(context.Background(), StartOptions{Binary: bin, Root: root, Session: "dp"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if o.Host == "" {
		o.Host = conn.RemoteIP()
	}
	return c, root, o
}

// TestDataPathOpensLater: a data path asked for later opens on the first
// request carrying content, once however many ask at once, and not at
// all for a session that moves none; one that cannot open is reported
// once and the content goes over SSH.
func TestDataPathOpensLater(t *testing.T) {
	hole := swallowingListener(t)
	tests := []struct {
		name    string
		files   int  // written at once, then read back
		blocked bool // the data port is a black hole
		dials   int  // data streams connected
		opened  int  // outcomes reported
	}{
		{"nothing moves", 0, false, 0, 0},
		{"many writers at once", 12, false, 2, 1},
		{"blocked", 6, true, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dials atomic.Int32
			o := client.DataOptions{Streams: 2, Timeout: 500 * time.Millisecond,
				Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
					if tt.blocked {
						addr = hole.Addr().String()
					} else {
						dials.Add(1)
					}
					var d net.Dialer
					return d.DialContext(ctx, network, addr)
				}}
			c, root, o := agentClient(t, o)
			var mu sync.Mutex
			var outcomes []error
			c.OpenDataPathLater(o, func(_ client.DataInfo, err error) {
				mu.Lock()
				outcomes = append(outcomes, err)
				mu.Unlock()
			})
			ctx := context.Background()
			if _, err := c.Stat(ctx, ""); err != nil {
				t.Fatal(err)
			}
			if err := c.Scan(ctx, core.ScanOptions{}, func(core.Entry) error { return nil }); err != nil {
				t.Fatal(err)
			}
			files := map[string][]byte{}
			for i := range tt.files {
				n := 100 + i
				if i%3 == 0 {
					n = protocol.ChunkSize + i
				}
				files[fmt.Sprintf("f%d", i)] = randomBytes(t, n)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 2*len(files))
			for p, b := range files {
				wg.Go(func() {
					if _, err := put(ctx, c, p, b); err != nil {
						errs <- fmt.Errorf("put %s: %w", p, err)
						return
					}
					if got, err := get(ctx, c, p); err != nil || !bytes.Equal(got, b) {
						errs <- fmt.Errorf("get %s: %d bytes, %v", p, len(got), err)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			for p, b := range files {
				if got, err := os.ReadFile(filepath.Join(root, p)); err != nil || !bytes.Equal(got, b) {
					t.Errorf("%s on the server: %d bytes, %v", p, len(got), err)
				}
			}
			if n := int(dials.Load()); n != tt.dials {
				t.Errorf("%d data streams connected, want %d", n, tt.dials)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(outcomes) != tt.opened {
				t.Fatalf("%d outcomes reported (%v), want %d", len(outcomes), outcomes, tt.opened)
			}
			for _, err := range outcomes {
				if (err != nil) != tt.blocked {
					t.Errorf("outcome %v, blocked %v", err, tt.blocked)
				}
			}
		})
	}
}

func put(ctx context.Context, c *client.Client, p string, b []byte) (core.Entry, error) {
	w, err := c.Create(ctx, p, core.CreateOptions{Size: int64(len(b)), Replace: core.MustNotExist})
	if err != nil {
		return core.Entry{}, err
	}
	if _, err := w.Write(b); err != nil {
		w.Abort()
		return core.Entry{}, err
	}
	return w.Commit(ctx)
}

func get(ctx context.Context, c *client.Client, p string) ([]byte, error) {
	r, _, err := c.Open(ctx, p, 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// TestDataPathCarriesContentBothWays: files, small and striped, go to
// the server and come back over the data path's streams, never in the
// clear.
func TestDataPathCarriesContentBothWays(t *testing.T) {
	var conns []*tapConn
	var captured bytes.Buffer
	c, root, info, err := dataClient(t, client.DataOptions{Streams: 3, Dial: tap(&conns, func(_ int, c *tapConn) { c.captured = &captured })})
	if err != nil {
		t.Fatal(err)
	}
	if info.Streams != 3 || len(conns) != 3 || info.AgentCC == "" {
		t.Fatalf("data path %+v over %d connections", info, len(conns))
	}
	ctx := context.Background()
	files := map[string][]byte{"big.bin": randomBytes(t, 3<<20+17), "mid.bin": randomBytes(t, protocol.ChunkSize+1), "small.txt": []byte("small")}
	for p, b := range files {
		if _, err := put(ctx, c, p, b); err != nil {
			t.Fatalf("put %s: %v", p, err)
		}
	}
	for p, b := range files {
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("%s on the server: %d bytes, %v", p, len(got), err)
		}
		back, err := get(ctx, c, p)
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("%s read back: %d bytes, %v", p, len(back), err)
		}
	}
	var out, in int64
	for _, tc := range conns {
		out += tc.out
		in += tc.in
	}
	// Every file's content, both ways.
	if want := int64(3<<20 + protocol.ChunkSize + 18 + 5); out < want {
		t.Errorf("%d bytes went over the data path, want at least %d", out, want)
	}
	if want := int64(3<<20 + protocol.ChunkSize + 18 + 5); in < want {
		t.Errorf("%d bytes came back over the data path, want at least %d", in, want)
	}
	if bytes.Contains(captured.Bytes(), files["big.bin"][1000:1032]) {
		t.Error("the file's content crossed the data path in the clear")
	}
}

// TestDataPathTamperingFailsTheFile: a byte changed on the way, either
// way, ends the data path; a pushed file fails (never a corrupt commit),
// a read fails or is served again over SSH (never corrupt content);
// later files go over SSH.
func TestDataPathTamperingFailsTheFile(t *testing.T) {
	for _, dir := range []string{"push", "pull"} {
		t.Run(dir, func(t *testing.T) {
			var conns []*tapConn
			var failed atomic.Value
			o := client.DataOptions{Streams: 2, Failed: func(err error) { failed.Store(err) }}
			o.Dial = tap(&conns, func(i int, c *tapConn) {
				if i == 1 && dir == "push" {
					c.flipOut = 200 << 10 // inside the first data frame on stream 1
				}
				if i == 1 && dir == "pull" {
					c.flipIn = 100 << 10
				}
			})
			c, root, _, err := dataClient(t, o)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			b := randomBytes(t, 4<<20)
			if dir == "pull" {
				if err := os.WriteFile(filepath.Join(root, "f"), b, 0o644); err != nil {
					t.Fatal(err)
				}
				// The read either fails or, asked again over SSH, returns
				// the true content: never what the tampering made of it.
				got, err := get(ctx, c, "f")
				if err == nil && !bytes.Equal(got, b) {
					t.Fatalf("tampered read returned %d wrong bytes without an error", len(got))
				}
			} else {
				if _, err := put(ctx, c, "f", b); err == nil {
					t.Fatal("a tampered file committed")
				}
				if _, err := os.Stat(filepath.Join(root, "f")); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("the tampered file is there: %v", err)
				}
			}
			// The client learns of the failure when its stream reader
			// sees the agent close the streams: soon, not necessarily
			// before the tampered request returned.
			for deadline := time.Now().Add(5 * time.Second); failed.Load() == nil && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			if err, _ := failed.Load().(error); err == nil {
				t.Error("the data path's failure was not reported")
			}
			// The session goes on over SSH.
			if _, err := put(ctx, c, "after", b); err != nil {
				t.Fatalf("after the failure: %v", err)
			}
			if got, err := get(ctx, c, "after"); err != nil || !bytes.Equal(got, b) {
				t.Fatalf("read after the failure: %v", err)
			}
		})
	}
}

// TestDataPathUnreachableFallsBack: a port that swallows connections
// costs the connect timeout, never a hang, and the session stays on SSH.
func TestDataPathUnreachableFallsBack(t *testing.T) {
	hole := swallowingListener(t)
	o := client.DataOptions{Timeout: 500 * time.Millisecond, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, hole.Addr().String())
	}}
	mustFallBack(t, o, 2<<20)
}

// mustFallBack opens a data path with o through a black hole: it must
// give up within 5 s, and a file of n bytes then goes over SSH alone.
func mustFallBack(t *testing.T, o client.DataOptions, n int) {
	t.Helper()
	start := time.Now()
	c, _, _, err := dataClient(t, o)
	if err == nil {
		t.Fatal("a data path through a black hole opened")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("giving up took %v", d)
	}
	b := randomBytes(t, n)
	if _, err := put(context.Background(), c, "f", b); err != nil {
		t.Fatalf("over SSH: %v", err)
	}
}

// TestDataPathStrangerFirst: someone without the key who reaches the
// port first gets nothing and does not take a stream's place.
func TestDataPathStrangerFirst(t *testing.T) {
	var stranger []byte
	o := client.DataOptions{Streams: 1}
	var once sync.Once
	o.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		once.Do(func() {
			sc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return
			}
			defer sc.Close()
			// A well-formed preamble, then a hello sealed with nothing.
			sc.Write(append([]byte("ASYNCDP1\x00\x00\x00\x00\x00\x00\x00\x21"), randomBytes(t, 33)...))
			sc.SetReadDeadline(time.Now().Add(time.Second))
			stranger, _ = io.ReadAll(bufio.NewReader(sc))
		})
		return d.DialContext(ctx, network, addr)
	}
	c, root, _, err := dataClient(t, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(stranger) != 0 {
		t.Errorf("the stranger got %d bytes", len(stranger))
	}
	b := randomBytes(t, 1<<20)
	if _, err := put(context.Background(), c, "f", b); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "f")); !bytes.Equal(got, b) {
		t.Error("content differs")
	}
}

// TestDataPathAgentKilled: the agent dies while a file streams in; the
// file is not committed, and a new session writes it whole.
func TestDataPathAgentKilled(t *testing.T) {
	c, root, info, err := dataClient(t, client.DataOptions{Streams: 2})
	if err != nil {
		t.Fatal(err)
	}
	_, ps, _ := net.SplitHostPort(info.Addr)
	port, _ := strconv.Atoi(ps)
	pid := testnet.PortHolder(t, port)
	if pid == 0 {
		t.Fatalf("no process holds port %d", port)
	}
	ctx := context.Background()
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
	if _, err := os.Stat(filepath.Join(root, "f")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a file is there after the agent died: %v", err)
	}
	s := server(t)
	conn := dial(t, s)
	defer conn.Close()
	c2, err := conn.StartAgent(ctx, StartOptions{Binary: agentBinary(t), Root: root, Session: "dp"})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.OpenDataPath(ctx, client.DataOptions{Host: conn.RemoteIP()}); err != nil {
		t.Fatal(err)
	}
	if _, err := put(ctx, c2, "f", b); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "f")); !bytes.Equal(got, b) {
		t.Error("the rerun's file differs")
	}
}

// TestDataPortsFromServerConfig: data_ports in the agent's configuration
// chooses the port; a -O outside it is refused, and bad ranges do not
// parse.
func TestDataPortsFromServerConfig(t *testing.T) {
	s := server(t)
	conf := filepath.Join(s.Dir, "dataports-server.conf") // readable by the test user
	if err := os.WriteFile(conf, []byte("# ports a firewall opens\ndata_ports = 40300-40309\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conn := dial(t, s)
	defer conn.Close()
	ctx := context.Background()
	start := func() *client.Client {
		c, err := conn.StartAgent(ctx, StartOptions{Binary: agentBinary(t), Root: s.TempDir(t), Session: "dp", Config: conf})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	info, err := start().OpenDataPath(ctx, client.DataOptions{Host: conn.RemoteIP()})
	if err != nil {
		t.Fatal(err)
	}
	_, ps, _ := net.SplitHostPort(info.Addr)
	if p, _ := strconv.Atoi(ps); p < 40300 || p > 40309 {
		t.Errorf("port %d outside data_ports", p)
	}
	if _, err := start().OpenDataPath(ctx, client.DataOptions{Host: conn.RemoteIP(), Port: 40400}); err == nil || !strings.Contains(err.Error(), "data_ports") {
		t.Errorf("-O outside data_ports: %v", err)
	}
	for _, bad := range []string{"data_ports = 9-1\n", "data_ports = x\n", "[user x]\ndata_ports = 1-2\n"} {
		if _, err := agent.ParseServerConfig(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestDataHost(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.5 51234 10.0.0.9 22": "10.0.0.9",
		"::1 40000 ::1 2222":         "::1",
		"":                           "",
		"a b c":                      "",
		"1.2.3.4 1 not-an-ip 22":     "",
	} {
		if got := agent.DataHost(in); got != want {
			t.Errorf("DataHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConformanceOverDataPath runs the backend conformance suite with
// file content on the data path.
func TestConformanceOverDataPath(t *testing.T) {
	s := server(t)
	conn := dial(t, s)
	t.Cleanup(func() { conn.Close() })
	backendtest.Run(t, func(t *testing.T) core.Backend {
		c, err := conn.StartAgent(context.Background(), StartOptions{Binary: agentBinary(t), Root: s.TempDir(t), Session: "conf"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.OpenDataPath(context.Background(), client.DataOptions{Host: conn.RemoteIP(), Streams: 2}); err != nil {
			t.Fatal(err)
		}
		return c.Backend()
	})
}

// putSizes are files whose content is or is not the size their create
// declared (a PUT is built for the declared size), written in pieces.
var putSizes = []struct {
	name     string
	declared int64
	content  int
	pieces   int
}{
	{"as declared", 3000, 3000, 1},
	{"as declared, in pieces", 3000, 3000, 7},
	{"empty", 0, 0, 1},
	{"shorter", 3000, 1000, 2},
	{"longer", 1000, 3000, 3},
	{"longer than a chunk", 1000, protocol.ChunkSize + 5, 2},
	{"exactly a chunk", protocol.ChunkSize, protocol.ChunkSize, 1},
	{"undeclared", -1, 500, 1},
}

// putAs creates p declaring size, writes b in pieces and commits.
func putAs(ctx context.Context, c *client.Client, p string, size int64, b []byte, pieces int) (core.Entry, error) {
	w, err := c.Create(ctx, p, core.CreateOptions{Size: size, Replace: core.MustNotExist})
	if err != nil {
		return core.Entry{}, err
	}
	step := max(len(b)/pieces, 1)
	for rest := b; len(rest) > 0; {
		n := min(step, len(rest))
		if _, err := w.Write(rest[:n]); err != nil {
			w.Abort()
			return core.Entry{}, err
		}
		rest = rest[n:]
	}
	return w.Commit(ctx)
}

// TestDataPathPutSizes: a small file's PUT, built in place for the size
// its create declared, carries exactly what was written, whatever that
// size turned out to be.
func TestDataPathPutSizes(t *testing.T) {
	c, root, _, err := dataClient(t, client.DataOptions{Streams: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, tc := range putSizes {
		t.Run(tc.name, func(t *testing.T) {
			p := fmt.Sprintf("f%d", i)
			b := randomBytes(t, tc.content)
			en, err := putAs(ctx, c, p, tc.declared, b, tc.pieces)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(root, p))
			if err != nil || !bytes.Equal(got, b) || en.Size != int64(len(b)) {
				t.Fatalf("on the server: %d bytes (entry %d), want %d: %v", len(got), en.Size, len(b), err)
			}
		})
	}
}

// swallowingListener listens on a loopback port that accepts connections
// and never answers them, until the test ends.
func swallowingListener(t *testing.T) net.Listener {
	t.Helper()
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hole.Close() })
	go func() {
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accepted, never answered
		}
	}()
	return hole
}
