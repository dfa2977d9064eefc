package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/async-sync/async/backends/local"
	"github.com/async-sync/async/backends/ssh/agent"
	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/backendtest"
)

// pipeClient runs an agent in process over pipes: the fast unit test of
// the protocol. The real proof runs over sshd (ssh_test.go).
func pipeClient(t *testing.T, home, root string) (*Client, error) {
	return pipeClientWith(t, home, protocol.Hello{Root: root, Session: "t"})
}

// pipeClientWith is pipeClient with the whole hello.
// rootedPipeClient starts an agent over pipes serving a new directory
// (root, inside its home) and returns its client, closed when the test ends.
func rootedPipeClient(t *testing.T) (c *Client, root string) {
	t.Helper()
	home := t.TempDir()
	root = filepath.Join(home, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := pipeClient(t, home, root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, root
}

func pipeClientWith(t *testing.T, home string, h protocol.Hello) (*Client, error) {
	return pipeClientStall(t, home, h, 0)
}

// pipeClientStall is pipeClientWith with the agent's silence bounded by
// stall.
func pipeClientStall(t *testing.T, home string, h protocol.Hello, stall time.Duration) (*Client, error) {
	return pipeClientOf(agentOptions(home), h, stall)
}

// pipeClientOf runs an agent with the options o over pipes.
func pipeClientOf(o agent.Options, h protocol.Hello, stall time.Duration) (*Client, error) {
	cr, cw, end := pipeAgent(o)
	return New(context.Background(), cr, cw, end, h, stall)
}

// pipeAgent serves an agent with the options o over pipes
// (agent.ServePipes), its end as a closer.
func pipeAgent(o agent.Options) (io.Reader, io.Writer, closerFunc) {
	r, w, end := agent.ServePipes(o)
	return r, w, end
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func TestConformanceOverPipes(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, func(t *testing.T) core.Backend {
		home := t.TempDir()
		os.Mkdir(filepath.Join(home, "root"), 0o755)
		c, err := pipeClient(t, home, filepath.Join(home, "root"))
		if err != nil {
			t.Fatal(err)
		}
		return c.Backend()
	})
}

// TestConformanceWithDataPaths runs the suite with file content spread
// over two more agents, as --transfer-threads does.
func TestConformanceWithDataPaths(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, func(t *testing.T) core.Backend {
		home := t.TempDir()
		root := filepath.Join(home, "root")
		os.Mkdir(root, 0o755)
		c, err := pipeClient(t, home, root)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			d, err := pipeClient(t, home, root)
			if err != nil {
				t.Fatal(err)
			}
			c.AddDataPath(d)
		}
		return c.Backend()
	})
}

func TestWatchOverPipes(t *testing.T) {
	t.Parallel()
	c, root := rootedPipeClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 100)
	done := make(chan error, 1)
	go func() {
		done <- c.Watch(ctx, func(paths []string) {
			for _, p := range paths {
				got <- p
			}
		})
	}()
	time.Sleep(200 * time.Millisecond) // the agent's watches are in place
	os.WriteFile(filepath.Join(root, "new"), []byte("x"), 0o644)
	select {
	case p := <-got:
		if p != "new" {
			t.Errorf("event for %q, want new", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("watch ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not stop")
	}
	// The connection still serves requests.
	if _, err := c.Stat(context.Background(), "new"); err != nil {
		t.Errorf("after the watch: %v", err)
	}
}

func TestAgentRefusesBadSessionNames(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	for _, name := range []string{"../../etc", "a/b", "x y"} {
		cr, aw := io.Pipe()
		ar, cw := io.Pipe()
		go func() {
			agent.Serve(context.Background(), ar, aw, agentOptions(home))
			aw.Close()
		}()
		_, err := New(context.Background(), cr, cw, closerFunc(func() error { return cw.Close() }), protocol.Hello{Root: home, Session: name}, 0)
		if err == nil || !strings.Contains(err.Error(), "invalid session name") {
			t.Errorf("session %q: err = %v", name, err)
		}
		cw.Close()
	}
}

func TestConformanceCompressed(t *testing.T) {
	t.Parallel()
	for _, algo := range []string{"zstd", "zlib"} {
		t.Run(algo, func(t *testing.T) {
			backendtest.Run(t, func(t *testing.T) core.Backend {
				home := t.TempDir()
				root := filepath.Join(home, "root")
				os.Mkdir(root, 0o755)
				c, err := pipeClientWith(t, home, protocol.Hello{Root: root, Session: "t", Compression: algo})
				if err != nil {
					t.Fatal(err)
				}
				return c.Backend()
			})
		})
	}
	home := t.TempDir()
	if _, err := pipeClientWith(t, home, protocol.Hello{Root: home, Compression: "lz77"}); err == nil {
		t.Error("an unknown compression was accepted")
	}
}

func TestCompressedFramesShrink(t *testing.T) {
	t.Parallel()
	cc, err := protocol.NewCodec("zstd")
	if err != nil {
		t.Fatal(err)
	}
	var wire bytes.Buffer
	sender := protocol.NewConn(strings.NewReader(""), &wire)
	sender.Codec.Store(&protocol.CodecBox{C: cc})
	payload := bytes.Repeat([]byte("async "), 10000)
	if err := sender.Send(protocol.OpWrite, 7, payload); err != nil {
		t.Fatal(err)
	}
	sender.Stop()
	if wire.Len() > len(payload)/10 {
		t.Errorf("%d bytes on the wire for %d compressible bytes", wire.Len(), len(payload))
	}
	receiver := protocol.NewConn(&wire, io.Discard)
	receiver.Peer.Store(&protocol.CodecBox{C: cc})
	f, err := receiver.Recv()
	if err != nil || f.Op != protocol.OpWrite || f.ID != 7 || !bytes.Equal(f.Payload, payload) {
		t.Fatalf("recv = op %d id %d %d bytes, %v", f.Op, f.ID, len(f.Payload), err)
	}
}

func TestOpsLeaveTheCompressedBit(t *testing.T) {
	t.Parallel()
	for _, op := range []byte{protocol.OpHello, protocol.OpWatch, protocol.OpOK, protocol.OpEntry, protocol.OpData, protocol.OpItems, protocol.OpError} {
		if op&protocol.CompressedOp != 0 {
			t.Errorf("op %d collides with the compressed flag", op)
		}
	}
}

// TestScanReportsUnreadableOverPipes: what the agent's scan cannot read
// (here a link loop) reaches ScanOptions.Unreadable at the client, and is
// skipped as before when nobody listens.
func TestScanReportsUnreadableOverPipes(t *testing.T) {
	home := t.TempDir()
	root := filepath.Join(home, "root")
	os.MkdirAll(filepath.Join(root, "sub"), 0o755)
	os.WriteFile(filepath.Join(root, "sub/f"), []byte("f"), 0o644)
	os.Symlink("..", filepath.Join(root, "sub/up"))
	c, err := pipeClientWith(t, home, protocol.Hello{Root: root, Session: "t", FollowLinks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, listen := range []bool{true, false} {
		var bad, got []string
		opts := core.ScanOptions{Threads: 1}
		if listen {
			opts.Unreadable = func(p string, err error) error {
				if !errors.Is(err, core.ErrSymlinkLoop) {
					t.Errorf("%s: %v, want a loop", p, err)
				}
				bad = append(bad, p)
				return nil
			}
		}
		err := c.Scan(context.Background(), opts, func(e core.Entry) error {
			got = append(got, e.Path)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"sub/up"}; listen && !slices.Equal(bad, want) {
			t.Errorf("unreadable = %v, want %v", bad, want)
		}
		slices.Sort(got)
		if want := []string{"sub", "sub/f"}; !slices.Equal(got, want) {
			t.Errorf("listening %v: scan = %v, want %v", listen, got, want)
		}
	}
}

// TestReadOfAFileChangedMidwayFails: a file written to while the agent
// reads it fails the read with core.ErrChangedWhileReading.
func TestReadOfAFileChangedMidwayFails(t *testing.T) {
	c, root := rootedPipeClient(t)
	p := filepath.Join(root, "f")
	size := 16 * protocol.ChunkSize
	if err := os.WriteFile(p, bytes.Repeat([]byte{'a'}, size), 0o644); err != nil {
		t.Fatal(err)
	}
	rc, _, err := c.Open(context.Background(), "f", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := rc.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a later mtime, whatever the clock's grain
	f, _ := os.OpenFile(p, os.O_WRONLY, 0)
	f.WriteAt(bytes.Repeat([]byte{'b'}, size), 0)
	f.Close()
	_, err = io.Copy(io.Discard, rc)
	if !errors.Is(err, core.ErrChangedWhileReading) {
		t.Errorf("read to the end: %v, want %v", err, core.ErrChangedWhileReading)
	}
}

// agentOptions are the options of an agent serving home through the
// local backend, as the command wires it.
func agentOptions(home string) agent.Options {
	return agent.Options{Home: home, StateDir: filepath.Join(home, ".state"),
		Open: func(dir string, fo agent.FSOptions) (core.Backend, error) {
			fs, err := local.Open(dir, local.Options{FollowLinks: fo.FollowLinks, Confined: fo.Confined})
			if err != nil {
				return nil, err
			}
			return fs, nil
		}}
}

// TestPutSizes: a small file's PUT, built in place for the size its
// create declared, carries exactly what was written, whatever that size
// turned out to be (over SSH; TestDataPathPutSizes checks the data path).
func TestPutSizes(t *testing.T) {
	t.Parallel()
	c, root := rootedPipeClient(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name              string
		declared, content int64
	}{
		{"as declared", 3000, 3000},
		{"empty", 0, 0},
		{"shorter", 3000, 1000},
		{"longer", 1000, 3000},
		{"longer than a chunk", 1000, smallFile + 5},
		{"undeclared", -1, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Repeat([]byte("0123456789abcdef"), int(tc.content)/16+1)[:tc.content]
			w, err := c.Create(ctx, tc.name, core.CreateOptions{Size: tc.declared, Replace: core.MustNotExist})
			if err != nil {
				t.Fatal(err)
			}
			for rest := b; len(rest) > 0; rest = rest[min(len(rest), 777):] {
				if _, err := w.Write(rest[:min(len(rest), 777)]); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := w.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if got, err := os.ReadFile(filepath.Join(root, tc.name)); err != nil || !bytes.Equal(got, b) {
				t.Fatalf("on the server: %d bytes, want %d: %v", len(got), len(b), err)
			}
		})
	}
}
