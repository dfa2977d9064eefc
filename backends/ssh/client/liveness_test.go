package client

// A stalled or misbehaving agent ends the connection with a clear error
// within a bound, never a hang.

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
)

// scriptedAgent says hello, then answers every request with what reply
// returns (frames sent in order); reply nil: no answer at all.
func scriptedAgent(r io.Reader, w io.Writer, reply func(f protocol.Frame, c *protocol.Conn)) {
	c := protocol.NewConn(r, w)
	defer c.Stop()
	for {
		f, err := c.Recv()
		if err != nil {
			return
		}
		if f.Op == protocol.OpHello {
			var e protocol.Enc
			e.Uint(protocol.ProtocolVersion)
			e.Uint(protocol.CapsBits(core.Caps{Dirs: true, Filesystem: true}))
			e.Entry(&core.Entry{Type: core.TypeDir, Mode: 0o755})
			c.Send(protocol.OpOK, f.ID, e.B)
			continue
		}
		if reply != nil {
			reply(f, c)
		}
	}
}

// scriptedClient connects a client to scriptedAgent over pipes.
func scriptedClient(t *testing.T, stall time.Duration, reply func(f protocol.Frame, c *protocol.Conn)) *Client {
	t.Helper()
	cr, aw := io.Pipe()
	ar, cw := io.Pipe()
	go func() { scriptedAgent(ar, aw, reply); aw.Close() }()
	cl, err := New(context.Background(), cr, cw, closerFunc(func() error {
		cw.Close()
		aw.Close()
		return nil
	}), protocol.Hello{Root: "/", Session: "s"}, stall)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// within runs fn and fails the test when it takes longer than d.
func within(t *testing.T, d time.Duration, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("still waiting after %s", d)
		return nil
	}
}

func entryPayload() []byte {
	var e protocol.Enc
	e.Entry(&core.Entry{Path: "x", Type: core.TypeFile, Mode: 0o644})
	return e.B
}

func TestUnexpectedRepliesFailTheConnection(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		reply func(f protocol.Frame, c *protocol.Conn)
		want  string
	}{
		{"items to a one-reply request", func(f protocol.Frame, c *protocol.Conn) {
			for range 8 { // more than the reply channel holds
				c.Send(protocol.OpItems, f.ID, []byte{0})
			}
			c.Send(protocol.OpEntry, f.ID, entryPayload())
		}, "items in reply to request"},
		{"reply to an unknown id", func(f protocol.Frame, c *protocol.Conn) {
			c.Send(protocol.OpEntry, f.ID+1000, entryPayload())
		}, "which awaits none"},
		{"two final replies", func(f protocol.Frame, c *protocol.Conn) {
			c.Send(protocol.OpEntry, f.ID, entryPayload())
			c.Send(protocol.OpEntry, f.ID, entryPayload())
		}, "which awaits none"},
		{"items after a stream ended", func(f protocol.Frame, c *protocol.Conn) {
			c.Send(protocol.OpOK, f.ID, nil)
			for range 32 {
				c.Send(protocol.OpItems, f.ID, []byte{0})
			}
		}, "which awaits none"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cl := scriptedClient(t, 0, c.reply)
			err := within(t, 5*time.Second, func() error {
				// The first request may or may not see the error: the
				// connection fails right after; the next ones must.
				for range 3 {
					if strings.HasPrefix(c.name, "items after") {
						cl.Scan(context.Background(), core.ScanOptions{}, func(core.Entry) error { return nil })
					} else {
						cl.Stat(context.Background(), "x")
					}
					time.Sleep(50 * time.Millisecond)
				}
				_, err := cl.Stat(context.Background(), "x")
				return err
			})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error saying %q", err, c.want)
			}
			if err := within(t, 8*time.Second, cl.Close); err != nil {
				t.Log(err)
			}
		})
	}
}

// TestLateReplyToAForgottenRequestIsDropped: a reply to a request the
// client gave up on (its context ended) is not a protocol error.
func TestLateReplyToAForgottenRequestIsDropped(t *testing.T) {
	t.Parallel()
	first := true
	cl := scriptedClient(t, 0, func(f protocol.Frame, c *protocol.Conn) {
		if first {
			first = false
			time.Sleep(300 * time.Millisecond)
		}
		c.Send(protocol.OpEntry, f.ID, entryPayload())
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := cl.Stat(ctx, "x"); err == nil {
		t.Fatal("the stat outlived its context")
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := cl.Stat(context.Background(), "x"); err != nil {
		t.Fatalf("the late reply broke the connection: %v", err)
	}
}

func TestSilentAgentFailsTheConnection(t *testing.T) {
	t.Parallel()
	const stall = 400 * time.Millisecond
	cl := scriptedClient(t, stall, nil) // answers nothing after hello
	start := time.Now()
	err := within(t, 5*time.Second, func() error {
		_, err := cl.Stat(context.Background(), "x")
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "the agent stopped answering (no reply in 400ms)") {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d < stall || d > 4*stall {
		t.Errorf("failed after %s, want about %s", d, stall)
	}
	if err := within(t, 8*time.Second, cl.Close); err != nil {
		t.Log(err)
	}
}

// TestSlowRequestOfALiveAgentDoesNotTrip: a request that takes several
// times the bound (a hash of a large file) is fine while the agent
// answers the probes.
func TestSlowRequestOfALiveAgentDoesNotTrip(t *testing.T) {
	t.Parallel()
	const stall = 300 * time.Millisecond
	cl := scriptedClient(t, stall, func(f protocol.Frame, c *protocol.Conn) {
		if f.Op == protocol.OpHash {
			go func() {
				time.Sleep(4 * stall)
				var e protocol.Enc
				e.Str("abcd")
				e.Entry(&core.Entry{Path: "x", Type: core.TypeFile, Mode: 0o644})
				c.Send(protocol.OpOK, f.ID, e.B)
			}()
			return
		}
		c.Send(protocol.OpEntry, f.ID, entryPayload()) // the probes
	})
	sum, _, err := cl.Hash(context.Background(), "x", core.Checksum("sha256"))
	if err != nil || sum != "abcd" {
		t.Fatalf("hash: %q %v", sum, err)
	}
}

// TestCloseOfAFrozenAgentIsBounded: Close returns although the agent
// takes nothing (its input is never read).
func TestCloseOfAFrozenAgentIsBounded(t *testing.T) {
	t.Parallel()
	cr, aw := io.Pipe()
	ar, cw := io.Pipe()
	helloDone := make(chan struct{})
	go func() {
		c := protocol.NewConn(ar, aw)
		f, err := c.Recv()
		if err != nil {
			return
		}
		var e protocol.Enc
		e.Uint(protocol.ProtocolVersion)
		e.Uint(protocol.CapsBits(core.Caps{Dirs: true, Filesystem: true}))
		e.Entry(&core.Entry{Type: core.TypeDir, Mode: 0o755})
		c.Send(protocol.OpOK, f.ID, e.B)
		c.Stop()
		close(helloDone)
		// frozen: never reads again
	}()
	cl, err := New(context.Background(), cr, cw, &abortPipe{w: cw}, protocol.Hello{Root: "/", Session: "s"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	<-helloDone
	go cl.oneWay(protocol.OpWrite, make([]byte, 1<<20)) // fills the pipe: blocks
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	within(t, 3*CloseWait, cl.Close)
	if d := time.Since(start); d > CloseWait+2*time.Second {
		t.Errorf("Close took %s", d)
	}
	aw.Close()
}

// TestAgentOverPipesStaysUpWhenIdle: an idle client with a short bound
// is not failed (nothing waits), and works after the silence.
func TestAgentOverPipesStaysUpWhenIdle(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	os.Mkdir(filepath.Join(home, "root"), 0o755)
	// The bound is short against the silences below, yet long enough that
	// a probe's answer on a loaded test machine arrives within it.
	cl, err := pipeClientStall(t, home, protocol.Hello{Root: filepath.Join(home, "root"), Session: "t"}, 600*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	time.Sleep(2 * time.Second)
	if _, err := cl.Stat(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	// A watch waits on the agent for as long as it runs, sending nothing
	// while nothing changes: the probes keep it up.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := cl.Watch(ctx, func([]string) {}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a quiet watch ended with %v", err)
	}
	if _, err := cl.Stat(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
}

// abortPipe closes like an SSH session, waiting on the agent, and aborts
// like a cut connection.
type abortPipe struct{ w *io.PipeWriter }

func (p *abortPipe) Close() error {
	p.w.Write([]byte{0}) // waits for a reader that never comes
	return p.w.Close()
}

func (p *abortPipe) Abort() { p.w.CloseWithError(io.ErrClosedPipe) }
